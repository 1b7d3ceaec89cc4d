"""One module per service: its facts, its `Control` declarations (with their log detections
and remediation) and its rules, ending with `CONTROLS: tuple[Control, ...]`.
`drguard.registry` collects the `CONTROLS` of every module in `MODULES`.

A new service is a new module here that defines `CONTROLS`, plus one entry in `MODULES` below
(tests/test_layout.py fails when a module of this package is not listed).
"""

from __future__ import annotations

from types import ModuleType

from . import (
    atlas,
    backup,
    cloudtrail,
    dynamodb,
    ec2,
    efs,
    elasticache,
    iam,
    kms,
    objectives,
    organizations,
    plan,
    pulumi,
    rds,
    recovery,
    redshift,
    repo,
    rpo,
    s3,
    snapshots,
)

# Every control module, by name.
MODULES: tuple[ModuleType, ...] = (atlas, backup, cloudtrail, dynamodb, ec2, efs, elasticache,
                                   iam, kms, objectives, organizations, plan, pulumi, rds,
                                   recovery, redshift, repo, rpo, s3, snapshots)


def modules() -> tuple[ModuleType, ...]:
    """Every service module of this package, by name."""
    return MODULES
