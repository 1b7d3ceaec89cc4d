"""Pulumi-side protection of stateful resources, and the Tier 3 resource rules."""

from __future__ import annotations

from typing import Any

from ..facts import (
    UNKNOWN,
    AccessKey,
    AtlasCluster,
    Bucket,
    Database,
    Resource,
    Table,
    Vault,
    Volume,
)
from . import Verdict, show


def protect(r: Resource) -> Verdict | None:
    """stateful-resource-protect: `protect: true`; no forceDestroy on backup buckets."""
    if isinstance(r, Database) and r.cluster_member:
        return None
    if isinstance(r, Bucket) and not r.scope_reasons:
        return None
    if not isinstance(r, (Database, Bucket, Table, Vault)):
        return None
    problems = []
    if r.protect is not True:
        problems.append("it is not protected, so `pulumi destroy` or a replacement deletes it "
                        "(fix: opts=pulumi.ResourceOptions(protect=True))")
    ev: dict[str, Any] = {"protect": r.protect}
    if isinstance(r, Bucket):
        ev["forceDestroy"] = r.force_destroy
        ev["inScopeBecause"] = list(r.scope_reasons)
        if r.force_destroy is True:
            prop = r.prop("force_destroy", "forceDestroy")
            problems.append(f"{prop} is true, so deleting it empties it first (fix: remove "
                            f"{prop} or set it to false)")
    if problems:
        return Verdict.fail(f"{r.type.split(':')[-1] or 'Resource'} {r.name!r} holds recovery "
                            f"data but {'; and '.join(problems)}.", **ev)
    if isinstance(r, Bucket) and r.force_destroy is UNKNOWN:
        return Verdict.unknown(f"forceDestroy of {r.name!r}", **ev)
    return Verdict.ok(f"{r.name!r} is protected.", **ev)


def dynamodb(t: Table) -> Verdict:
    ev = {"pointInTimeRecovery": t.pitr, "deletionProtection": t.deletion_protection}
    problems = []
    pitr_p = t.prop("pitr", "pointInTimeRecovery.enabled")
    dp_p = t.prop("deletion_protection", "deletionProtectionEnabled")
    for value, prop in ((t.pitr, pitr_p), (t.deletion_protection, dp_p)):
        if value is not True and value is not UNKNOWN:
            problems.append(f"{prop} is {show(value)}")
    if problems:
        return Verdict.fail(f"DynamoDB table {t.name!r} cannot be recovered reliably: "
                            f"{'; '.join(problems)}. Fix: set {pitr_p} and {dp_p} to true.", **ev)
    if UNKNOWN in (t.pitr, t.deletion_protection):
        return Verdict.unknown(f"The recovery settings of table {t.name!r}", **ev)
    return Verdict.ok(f"DynamoDB table {t.name!r} has PITR and deletion protection.", **ev)


def vault_lock(v: Vault, params: dict[str, Any]) -> Verdict:
    minimum = params["minRetentionDays"]
    ev = {"minRetentionDays": v.lock_min_retention_days, "required": minimum}
    if v.lock_min_retention_days is UNKNOWN:
        return Verdict.unknown(f"The vault lock of {v.name!r}", **ev)
    if v.lock_min_retention_days is None:
        return Verdict.fail(f"Backup vault {v.name!r} has no vault lock: recovery points can be "
                            "deleted. Fix: add an aws.backup.VaultLockConfiguration with "
                            f"minRetentionDays >= {minimum}.", **ev)
    if v.lock_min_retention_days < minimum:
        return Verdict.fail(f"Backup vault {v.name!r} lock keeps recovery points only "
                            f"{v.lock_min_retention_days} days, below {minimum}. Fix: raise "
                            "minRetentionDays.", **ev)
    return Verdict.ok(f"Backup vault {v.name!r} is locked for >= "
                      f"{v.lock_min_retention_days} days.", **ev)


def ebs(v: Volume, params: dict[str, Any]) -> Verdict:
    max_age = params["maxSnapshotAgeHours"]
    ev = {"coveredBy": v.covered_by, "newestSnapshotAgeHours": v.newest_snapshot_age_hours,
          "maxSnapshotAgeHours": max_age}
    if v.covered_by is UNKNOWN:
        return Verdict.unknown(f"The backup coverage of volume {v.name!r}", **ev)
    if v.covered_by:
        return Verdict.ok(f"Volume {v.name!r} is covered by {', '.join(v.covered_by)}.", **ev)
    age = v.newest_snapshot_age_hours
    if age is not None and age is not UNKNOWN and age <= max_age:
        return Verdict.ok(f"Volume {v.name!r} has a snapshot {age:.1f} h old.", **ev)
    return Verdict.fail(f"EBS volume {v.name!r} is not backed up: no DLM policy or AWS Backup "
                        f"selection covers it and no snapshot is younger than {max_age} h. Fix: "
                        "target it with an aws.dlm.LifecyclePolicy or AWS Backup selection.",
                        **ev)


def atlas(c: AtlasCluster) -> Verdict:
    prop = c.prop("cloud_backup", "cloudBackup")
    ev = {prop: c.cloud_backup}
    if c.cloud_backup is UNKNOWN:
        return Verdict.unknown(f"{prop} of Atlas cluster {c.name!r}", **ev)
    if c.cloud_backup is True:
        return Verdict.ok(f"Atlas cluster {c.name!r} has cloud backup.", **ev)
    return Verdict.fail(f"MongoDB Atlas cluster {c.name!r} has no cloud backup ({prop} is "
                        f"{show(c.cloud_backup)}). Fix: set {prop} to true.", **ev)


def access_key(k: AccessKey, params: dict[str, Any]) -> Verdict | None:
    max_age = params["maxKeyAgeDays"]
    ev = {"user": k.user, "active": k.active, "ageDays": k.age_days, "maxKeyAgeDays": max_age}
    if k.root:
        return Verdict.fail("The root user has an access key. Fix: delete it and use IAM roles.",
                            **ev)
    if k.active is False:
        return None
    if k.age_days is None:
        # Deploy side: a long-lived key declared in a stack (advisory by design).
        return Verdict.fail(f"Access key {k.name!r} for user {k.user!r} is a long-lived "
                            "credential in the stack. Fix: prefer an IAM role; if a key is "
                            f"needed, rotate it within {max_age} days.", **ev)
    if k.age_days > max_age:
        return Verdict.fail(f"Access key {k.name!r} of {k.user!r} is {k.age_days} days old "
                            f"(max {max_age}). Fix: rotate it.", **ev)
    return Verdict.ok(f"Access key {k.name!r} is {k.age_days} days old.", **ev)
