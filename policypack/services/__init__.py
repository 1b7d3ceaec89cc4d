"""One module per service: Pulumi type tokens, adapters (resource -> fact), split-resource
links, the deploy binding of each control and its fix, declared as `SERVICE =
DeployService(...)` (see `policypack.service` for the fields).

A new service is a new module here that ends with its `SERVICE`, plus one entry in `MODULES`
below (tests/test_layout.py fails when a module of this package is not listed).
"""

from __future__ import annotations

from types import ModuleType

from ..service import Catalog, DeployService
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
    organizations,
    pulumi,
    rds,
    recovery,
    redshift,
    s3,
    snapshots,
)

# Every deploy service module, by name.
MODULES: tuple[ModuleType, ...] = (atlas, backup, cloudtrail, dynamodb, ec2, efs, elasticache,
                                   iam, kms, organizations, pulumi, rds, recovery, redshift, s3,
                                   snapshots)
SERVICES: tuple[DeployService, ...] = tuple(m.SERVICE for m in MODULES)
CATALOG = Catalog(SERVICES)


def modules() -> tuple[ModuleType, ...]:
    return MODULES


def all_types() -> frozenset[str]:
    """Every Pulumi type token a service reads."""
    return CATALOG.all_types
