"""One module per AWS service: its boto3 collectors (read-only, paginated, never raising on an
AWS error) and the live binding of each of its controls, declared as `SERVICE =
LiveService(...)` (see `auditor.live`).

A new service is a new module here that ends with its `SERVICE`, plus one entry in `MODULES`
below (tests/test_layout.py fails when a module of this package is not listed).
"""

from __future__ import annotations

from functools import cache
from types import ModuleType

from drguard.registry import CONTROLS

from ..live import DriftKind, Live, LiveService, Phase, Step
from . import (
    backup,
    cloudtrail,
    dynamodb,
    ec2,
    efs,
    elasticache,
    iam,
    kms,
    organizations,
    pulumi,
    rds,
    recovery,
    redshift,
    restore,
    rpo,
    s3,
    snapshots,
)

# Every live service module, by name.
MODULES: tuple[ModuleType, ...] = (backup, cloudtrail, dynamodb, ec2, efs, elasticache, iam, kms,
                                   organizations, pulumi, rds, recovery, redshift, restore, rpo,
                                   s3, snapshots)
SERVICES: tuple[LiveService, ...] = tuple(m.SERVICE for m in MODULES)


def modules() -> tuple[ModuleType, ...]:
    return MODULES


def global_steps() -> list[Step]:
    return [s for svc in SERVICES for s in svc.global_steps]


def regional_steps() -> list[Step]:
    return [s for svc in SERVICES for s in svc.regional_steps]


def phases() -> list[Phase]:
    """The services' later collection phases, in order."""
    return sorted((svc.phase for svc in SERVICES if svc.phase is not None),
                  key=lambda p: p.order)


@cache
def bindings() -> tuple[Live, ...]:
    """Every live binding, in registry order of its first control."""
    order = {c.id: i for i, c in enumerate(CONTROLS)}
    found = [b for svc in SERVICES for b in svc.live]
    return tuple(sorted(found, key=lambda b: min(order.get(c, len(order)) for c in b.controls)))


@cache
def drift_kinds() -> dict[str, DriftKind]:
    return {t: k for svc in SERVICES for t, k in svc.drift.items()}
