"""Deploy-side checks: which rule runs on which resources, per control.

The policy pack turns each check into one CrossGuard policy; `dr-audit state` runs the same
checks on a stack export with `evaluate`. Resource checks judge one resource alone; stack
checks need relations between resources (split S3 resources, trail destinations, ...).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from drguard.facts import UNKNOWN, Resource
from drguard.rules import Verdict, cloudtrail, protection, rds, s3, scp
from drguard.settings import Settings

from . import adapters
from .adapters import Res
from .stack import StackModel

Judged = tuple[Resource, Verdict | None]


@dataclass(frozen=True)
class ResourceCheck:
    control: str
    types: frozenset[str]
    adapter: Callable[[Res], Any]
    rule: Callable[[Any, dict[str, Any]], Verdict | None]

    def run(self, res: Res, params: dict[str, Any]) -> Judged | None:
        if res.type not in self.types:
            return None
        fact = self.adapter(res)
        if fact is None:
            return None
        return fact, self.rule(fact, params)


@dataclass(frozen=True)
class StackCheck:
    control: str
    rule: Callable[[StackModel, dict[str, Any]], Iterable[Judged]]


def _unlinked_guard(model: StackModel, kind: str | tuple[str, ...],
                    verdict: Verdict | None) -> Verdict | None:
    """A fact that seems to lack a setting while a resource of that kind could not be linked
    to its target (the target unknown in preview) cannot be judged yet."""
    kinds = (kind,) if isinstance(kind, str) else kind
    orphans = [k for k in kinds if model.unlinked.get(k)]
    if verdict is not None and verdict.status == "fail" and orphans:
        return Verdict("unknown", f"{verdict.message.split('.')[0]}, but a {orphans[0]} "
                                  "resource whose target is not known yet may configure it; "
                                  "cannot be checked during preview.", verdict.evidence)
    return verdict


def _versioning(model: StackModel, _params: dict) -> Iterable[tuple[Resource, Verdict | None]]:
    for b in model.buckets:
        yield b, _unlinked_guard(model, "versioning", s3.versioning(b))


def _object_lock(model: StackModel, params: dict) -> Iterable[tuple[Resource, Verdict | None]]:
    for b in model.buckets:
        yield b, _unlinked_guard(model, "lock", s3.object_lock(b, params))


def _protect(model: StackModel, _params: dict) -> Iterable[tuple[Resource, Verdict | None]]:
    for fact in (*model.databases, *model.buckets, *model.tables, *model.vaults):
        yield fact, protection.protect(fact)


# ---- Tier 2/3 -------------------------------------------------------------------------------

def _replication(model: StackModel, _params: dict) -> Iterable[Judged]:
    for b in model.buckets:
        yield b, _unlinked_guard(model, "replication", s3.replication(b))


def _public_access_block(model: StackModel, _params: dict) -> Iterable[Judged]:
    for b in model.buckets:
        yield b, _unlinked_guard(model, "pab", s3.public_access_block(b))


def _deletion_alerts(model: StackModel, _params: dict) -> Iterable[Judged]:
    for b in model.buckets:
        yield b, _unlinked_guard(model, ("notification", "event-target"),
                                 s3.deletion_alerts(b))


def _cross_region(model: StackModel, params: dict) -> Iterable[Judged]:
    for db in model.databases:
        yield db, _unlinked_guard(model, ("rds-backup-replication", "backup-selection"),
                                  rds.cross_region_backup(db, params))


def _vault_lock(model: StackModel, params: dict) -> Iterable[Judged]:
    for v in model.vaults:
        yield v, _unlinked_guard(model, "vault-lock", protection.vault_lock(v, params))


def _ebs(model: StackModel, params: dict) -> Iterable[Judged]:
    for v in model.volumes:
        yield v, _unlinked_guard(model, "backup-selection", protection.ebs(v, params))


def _trail_bucket(model: StackModel, _params: dict) -> Iterable[Judged]:
    """cloudtrail-bucket-protected for trails whose bucket the stack declares; a bucket
    managed elsewhere is judged by the live scan."""
    for t in model.trails:
        bucket = model.bucket_for(model.res_of[id(t)], "s3BucketName")
        if bucket is None and t.s3_bucket is not UNKNOWN:
            continue
        yield t, _unlinked_guard(model, ("versioning", "lock"),
                                 cloudtrail.bucket_protected(t, bucket))


def _scp(model: StackModel, params: dict) -> Iterable[Judged]:
    judged = scp.declared(model.scps, params)
    if judged is not None:
        yield judged[0], _unlinked_guard(model, "scp-attachment", judged[1])


CHECKS: tuple[ResourceCheck | StackCheck, ...] = (
    ResourceCheck("rds-backup-retention", adapters.DATABASE_TYPES, adapters.database,
                  rds.backup_retention),
    ResourceCheck("rds-deletion-protection", adapters.DATABASE_TYPES, adapters.database,
                  lambda db, _p: rds.deletion_protection(db)),
    ResourceCheck("rds-final-snapshot", adapters.DATABASE_TYPES, adapters.database,
                  lambda db, _p: rds.final_snapshot(db)),
    StackCheck("backup-bucket-versioning", _versioning),
    StackCheck("backup-bucket-object-lock", _object_lock),
    StackCheck("stateful-resource-protect", _protect),
    ResourceCheck("cloudtrail-enabled", adapters.TRAIL_TYPES, adapters.trail,
                  lambda t, _p: cloudtrail.trail(t)),
    # Tier 2
    StackCheck("backup-bucket-replication", _replication),
    StackCheck("rds-cross-region-backup", _cross_region),
    StackCheck("backup-bucket-deletion-alerts", _deletion_alerts),
    StackCheck("scp-deny-backup-deletion", _scp),
    StackCheck("backup-bucket-public-access-block", _public_access_block),
    StackCheck("cloudtrail-bucket-protected", _trail_bucket),
    ResourceCheck("iam-access-key-rotation", adapters.ACCESS_KEY_TYPES, adapters.access_key,
                  protection.access_key),
    # Tier 3
    StackCheck("ebs-snapshot-coverage", _ebs),
    ResourceCheck("dynamodb-recovery", adapters.TABLE_TYPES, adapters.table,
                  lambda t, _p: protection.dynamodb(t)),
    StackCheck("backup-vault-lock", _vault_lock),
    ResourceCheck("mongodb-atlas-backup", adapters.ATLAS_TYPES, adapters.atlas_cluster,
                  lambda c, _p: protection.atlas(c)),
)


def evaluate(resources: Iterable[Res], settings: Settings,
             model: StackModel | None = None) -> Iterator[tuple[str, Resource, Verdict]]:
    """Every enabled check on a whole stack: (control id, fact, verdict) for each judgement."""
    model = model or StackModel.build(resources, settings.scope)
    for check in CHECKS:
        if check.control not in settings.enabled:
            continue
        params = settings.of(check.control)
        if isinstance(check, ResourceCheck):
            judged: Iterable[Judged | None] = (check.run(r, params) for r in model.resources)
        else:
            judged = check.rule(model, params)
        for item in judged:
            if item is not None and item[1] is not None:
                yield check.control, item[0], item[1]
