"""Backup-bucket rules: versioning, Object Lock, public access block, replication, alerts."""

from __future__ import annotations

from typing import Any

from ..facts import UNKNOWN, Bucket
from . import Verdict, show

FLAGS = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")


def _label(b: Bucket) -> str:
    name = b.name if b.name is not UNKNOWN else "(name not known yet)"
    return f"backup bucket {name!r}"


def _scope(b: Bucket) -> dict[str, Any]:
    return {"inScopeBecause": list(b.scope_reasons)}


def versioning(b: Bucket) -> Verdict | None:
    if not b.scope_reasons:
        return None
    prop = b.prop("versioning", "aws.s3.BucketVersioning versioningConfiguration.status")
    ev = {**_scope(b), "versioning": b.versioning, "objectLockEnabled": b.object_lock_enabled}
    if b.versioning == "Suspended":
        # Also with Object Lock: the program asks for something S3 refuses.
        return Verdict.fail(f"{_label(b)} has versioning Suspended: overwritten and deleted "
                            f"objects are gone for good. Fix: set {prop} to \"Enabled\".", **ev)
    if b.versioning == "Enabled":
        return Verdict.ok(f"{_label(b)} is versioned.", **ev)
    if b.object_lock_enabled is True:
        return Verdict.ok(f"{_label(b)} is versioned (Object Lock turns versioning on and it "
                          "cannot be suspended).", **ev)
    if b.versioning is UNKNOWN or b.object_lock_enabled is UNKNOWN:
        return Verdict.unknown(f"Versioning of {_label(b)}", **ev)
    return Verdict.fail(f"{_label(b)} is not versioned ({show(b.versioning)}): overwritten and "
                        f"deleted objects cannot be recovered. Fix: set {prop} to \"Enabled\".",
                        **ev)


def object_lock(b: Bucket, params: dict[str, Any]) -> Verdict | None:
    if not b.scope_reasons:
        return None
    modes = list(params["allowedLockModes"])
    min_days = params["minLockDays"]
    enable_p = b.prop("object_lock_enabled", "objectLockEnabled")
    rule_p = b.prop("lock_rule", "aws.s3.BucketObjectLockConfiguration rule.defaultRetention")
    ev = {**_scope(b), "objectLockEnabled": b.object_lock_enabled, "mode": b.lock_mode,
          "days": b.lock_days, "allowedLockModes": modes, "minLockDays": min_days}
    if b.object_lock_enabled is UNKNOWN:
        return Verdict.unknown(f"{enable_p} of {_label(b)}", **ev)
    if b.object_lock_enabled is not True:
        return Verdict.fail(f"{_label(b)} has no Object Lock: anyone with delete rights can "
                            f"erase its backups. Fix: set {enable_p} = true (at creation) and a "
                            f"default retention with {rule_p} mode {' or '.join(modes)} for "
                            f">= {min_days} days.", **ev)
    if b.lock_mode is UNKNOWN or b.lock_days is UNKNOWN:
        return Verdict.unknown(f"The default retention of {_label(b)}", **ev)
    if b.lock_mode is None or b.lock_days is None:
        return Verdict.fail(f"{_label(b)} has Object Lock on but no default retention rule, so "
                            f"new objects are not locked. Fix: set {rule_p} with mode "
                            f"{' or '.join(modes)} and days >= {min_days}.", **ev)
    problems = []
    if b.lock_mode not in modes:
        problems.append(f"mode is {b.lock_mode}, allowed: {', '.join(modes)}")
    if b.lock_days < min_days:
        problems.append(f"retention is {b.lock_days} days, below {min_days}")
    if problems:
        return Verdict.fail(f"{_label(b)} default retention is too weak: {'; '.join(problems)}. "
                            f"Fix: set {rule_p} to mode {modes[0]} with days >= {min_days}.",
                            **ev)
    return Verdict.ok(f"{_label(b)} locks objects in {b.lock_mode} mode for {b.lock_days} "
                      "days.", **ev)


def public_access_block(b: Bucket) -> Verdict | None:
    if not b.scope_reasons:
        return None
    pab = b.public_access_block
    ev = {**_scope(b), "publicAccessBlock": pab}
    if pab is UNKNOWN:
        return Verdict.unknown(f"The public access block of {_label(b)}", **ev)
    if not pab:
        return Verdict.fail(f"{_label(b)} has no public access block. Fix: add an "
                            "aws.s3.BucketPublicAccessBlock with all four flags true.", **ev)
    unknown = [f for f in FLAGS if pab.get(f) is UNKNOWN]
    off = [f for f in FLAGS if pab.get(f) is not True and pab.get(f) is not UNKNOWN]
    if off:
        return Verdict.fail(f"{_label(b)} public access block leaves {', '.join(off)} off. "
                            f"Fix: set {', '.join(off)} to true.", **ev)
    if unknown:
        return Verdict.unknown(f"{', '.join(unknown)} of {_label(b)}", **ev)
    return Verdict.ok(f"{_label(b)} blocks all public access.", **ev)


def replication(b: Bucket) -> Verdict | None:
    """Enabled replication to a bucket in another region; a bucket that is itself the
    cross-region copy of a backup bucket (`replica_of`) needs none of its own."""
    if not b.scope_reasons:
        return None
    ev = {**_scope(b), "region": b.region, "replication": b.replication}
    if b.replica_of:
        ev["replicaOf"] = b.replica_of
    if b.replication is UNKNOWN:
        return Verdict.unknown(f"The replication of {_label(b)}", **ev)
    all_rules = list(b.replication or [])
    rules = [r for r in all_rules if r.get("status", "Enabled") == "Enabled"]
    pending = [r for r in all_rules if r.get("status") is UNKNOWN]
    if any(r.get("region") is UNKNOWN for r in rules) or (rules and b.region is UNKNOWN):
        return Verdict.unknown(f"The destination region of {_label(b)}", **ev)
    other = [r for r in rules if r.get("region") and r["region"] != b.region]
    if other:
        return Verdict.ok(f"{_label(b)} replicates to {other[0]['bucket']} in "
                          f"{other[0]['region']}.", **ev)
    sources = [s for s in b.replica_of
               if s.get("region") and b.region and s["region"] != b.region]
    if sources:
        return Verdict.ok(f"{_label(b)} is the cross-region copy of {sources[0]['bucket']} "
                          f"({sources[0]['region']}).", **ev)
    if pending:
        return Verdict.unknown(f"The status of the replication rules of {_label(b)}", **ev)
    if not rules:
        return Verdict.fail(f"{_label(b)} is not replicated: a regional outage takes its only "
                            "copy. Fix: add an aws.s3.BucketReplicationConfig to a bucket in "
                            "another region.", **ev)
    unplaced = [r for r in rules if not r.get("region")]
    if unplaced:
        names = ", ".join(str(r.get("bucket")) for r in unplaced)
        return Verdict.fail(f"{_label(b)} replicates to {names}, whose region is not known "
                            "(the bucket is not declared alongside it), so a copy in another "
                            "region cannot be confirmed. Fix: declare the destination bucket "
                            "with its regional provider in this stack, or waive this check "
                            "for the bucket.", **ev)
    dest = ", ".join(f"{r.get('bucket')} ({r.get('region')})" for r in rules)
    return Verdict.fail(f"{_label(b)} replicates only within {b.region} ({dest}); that does not "
                        "survive a regional outage. Fix: replicate to a bucket in another "
                        "region.", **ev)


def deletion_alerts(b: Bucket) -> Verdict | None:
    if not b.scope_reasons:
        return None
    ev = {**_scope(b), "alerts": b.deletion_alerts}
    if b.deletion_alerts is UNKNOWN:
        return Verdict.unknown(f"The deletion alerts of {_label(b)}", **ev)
    if b.deletion_alerts:
        kinds = ", ".join(a["kind"] for a in b.deletion_alerts)
        return Verdict.ok(f"Deletions on {_label(b)} raise alerts ({kinds}).", **ev)
    notes = b.evidence.get("alertNotes") or []
    why = f" ({'; '.join(notes)})" if notes else ""
    return Verdict.fail(f"Deletions on {_label(b)} notify no one{why}. Fix: add an "
                        "EventBridge rule matching DeleteObject/DeleteObjects/DeleteBucket on it "
                        "with an enabled target plus CloudTrail S3 data events for it, or an S3 "
                        "event notification for s3:ObjectRemoved:*.", **ev)
