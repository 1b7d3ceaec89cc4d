"""The pack's entry point: the only place a PolicyPack (a blocking gRPC server) is built."""

from __future__ import annotations

from pulumi_policy import EnforcementLevel, PolicyPack

from drguard import __version__

from . import PACK_NAME, engine_hooks, remediate
from .policies import build


def main() -> None:
    engine_hooks.install(check_levels=remediate.check_levels)
    remediate.install()
    PolicyPack(
        name=PACK_NAME,
        policies=build(),
        enforcement_level=EnforcementLevel.ADVISORY,
        description=f"DR Guard {__version__}: disaster-recovery controls for AWS stacks "
                    "(RDS backups and deletion protection, locked backup buckets, CloudTrail, "
                    "protect).",
        display_name="DR Guard",
        provider="aws",
        tags=["disaster-recovery", "aws", "backup"],
    )
