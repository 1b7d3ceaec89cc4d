"""Pulumi itself at deploy time: stateful-resource-protect over every stateful fact (the kinds
services list in `stateful`: databases, backup buckets, tables, vaults, ...)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from drguard.controls import pulumi as ctl

from ..binding import Judged, StackCheck
from ..fixers import Fixer, Target, backup_bucket, true, untouchable
from ..service import DeployService

if TYPE_CHECKING:
    from ..stack import StackModel


def _protect(model: StackModel, _params: dict) -> Iterable[Judged]:
    for kind in model.catalog.stateful_kinds:
        for fact in model.facts.get(kind, ()):
            yield fact, ctl.protect(fact)


# ---- remediation (fixes built from policypack/fixers.py, served by policypack/remediate.py)


def fix_force_destroy(t: Target, _params: Mapping[str, Any]) -> None:
    if t.type.startswith("aws-native:") or not backup_bucket(t):
        return
    v = t.value("forceDestroy")
    if not untouchable(v) and true(v):
        t.set("forceDestroy", False, "deleting a backup bucket must not empty it")


SERVICE = DeployService(
    checks=(StackCheck("stateful-resource-protect", _protect),),
    remediations=(Fixer("stateful-resource-protect",
                        frozenset({"aws:s3/bucket:Bucket", "aws:s3/bucketV2:BucketV2"}),
                        fix_force_destroy),),
    cannot_remediate={
        "stateful-resource-protect": "only forceDestroy is fixed; `protect` is a resource option, "
                                     "not an input, so it stays a violation until the program "
                                     "sets opts=pulumi.ResourceOptions(protect=True).",
    },
)
