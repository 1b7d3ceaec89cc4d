"""S3: buckets, their region and tags, and the settings backup-bucket controls judge."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from drguard.facts import UNKNOWN, Bucket, retention_days

from ..aws import Account, paginate
from . import Errors, ReadError, guarded, tag_dict

_PAB_KEYS = {"BlockPublicAcls": "blockPublicAcls", "BlockPublicPolicy": "blockPublicPolicy",
             "IgnorePublicAcls": "ignorePublicAcls",
             "RestrictPublicBuckets": "restrictPublicBuckets"}


@dataclass
class BucketRead:
    """One bucket as read: the fact plus raw settings other controls look at."""

    fact: Bucket
    errors: Errors = field(default_factory=dict)
    notifications: Any = UNKNOWN  # GetBucketNotificationConfiguration, or UNKNOWN
    policy_public: Any = None  # GetBucketPolicyStatus IsPublic (state bucket only)
    checkpoints: Any = None  # {key: versions} (state bucket only)
    detailed: bool = False

    @property
    def name(self) -> str:
        return self.fact.name


def bucket_arn(name: str) -> str:
    return f"arn:aws:s3:::{name}"


def normalize_region(constraint: str | None) -> str:
    if not constraint:
        return "us-east-1"
    return "eu-west-1" if constraint == "EU" else constraint


def list_buckets(account: Account) -> list[dict[str, Any]]:
    """ListBuckets (paginated); raises on AWS errors (the caller records them)."""
    return list(paginate(account.client("s3"), "list_buckets", "Buckets"))


def region_of(account: Account, name: str) -> tuple[str | None, ReadError | None]:
    s3 = account.client("s3")
    errors: Errors = {}
    loc = guarded(errors, "location", "s3:GetBucketLocation",
                  lambda: s3.get_bucket_location(Bucket=name))
    if loc is UNKNOWN:
        return None, errors["location"]
    return normalize_region(loc.get("LocationConstraint")), None


def discover(account: Account, listed: dict[str, Any]) -> BucketRead:
    """Region (from ListBuckets' BucketRegion, else GetBucketLocation) and tags."""
    name = listed["Name"]
    b = Bucket(ref=bucket_arn(name), name=name, type="AWS::S3::Bucket", account=account.id)
    read = BucketRead(b)
    region = listed.get("BucketRegion")
    if not region:
        region, err = region_of(account, name)
        if err:
            read.errors["location"] = err
    b.region = region
    s3 = account.client("s3", region)
    tags = guarded(read.errors, "tags", "s3:GetBucketTagging",
                   lambda: s3.get_bucket_tagging(Bucket=name).get("TagSet"),
                   absent={"NoSuchTagSet": []})
    b.tags = tag_dict(tags) if tags is not UNKNOWN else {}
    b.evidence["region"] = region
    return read


def _lock(resp: Any) -> tuple[Any, Any, Any]:
    """(enabled, mode, days) from GetObjectLockConfiguration."""
    if resp is UNKNOWN:
        return UNKNOWN, UNKNOWN, UNKNOWN
    if resp is None:
        return False, None, None
    cfg = resp.get("ObjectLockConfiguration") or {}
    enabled = cfg.get("ObjectLockEnabled") == "Enabled"
    ret = (cfg.get("Rule") or {}).get("DefaultRetention") or {}
    return enabled, ret.get("Mode"), retention_days(ret.get("Days"), ret.get("Years"))


def _replication(resp: Any) -> Any:
    if resp is UNKNOWN:
        return UNKNOWN
    rules: list[dict[str, Any]] = []
    if resp is None:
        return rules
    for r in (resp.get("ReplicationConfiguration") or {}).get("Rules") or ():
        dest = r.get("Destination") or {}
        arn = dest.get("Bucket", "")
        rules.append({"id": r.get("ID"), "status": r.get("Status"),
                      "bucket": arn.split(":::", 1)[-1], "account": dest.get("Account"),
                      "region": None})
    return rules


def _pab(resp: Any) -> Any:
    if resp is UNKNOWN or resp is None:
        return resp
    cfg = resp.get("PublicAccessBlockConfiguration") or {}
    return {camel: cfg.get(key) is True for key, camel in _PAB_KEYS.items()}


def read_details(account: Account, read: BucketRead, state_prefix: str | None = None) -> None:
    """The settings of a backup bucket; with `state_prefix` also the Pulumi state checks."""
    b, errors, name = read.fact, read.errors, read.name
    s3 = account.client("s3", b.region)
    ver = guarded(errors, "versioning", "s3:GetBucketVersioning",
                  lambda: s3.get_bucket_versioning(Bucket=name))
    b.versioning = UNKNOWN if ver is UNKNOWN else ver.get("Status")
    if ver is not UNKNOWN and ver.get("MFADelete"):
        b.evidence["mfaDelete"] = ver["MFADelete"]
    lock = guarded(errors, "objectLock", "s3:GetObjectLockConfiguration",
                   lambda: s3.get_object_lock_configuration(Bucket=name),
                   absent={"ObjectLockConfigurationNotFoundError": None})
    b.object_lock_enabled, b.lock_mode, b.lock_days = _lock(lock)
    b.public_access_block = _pab(guarded(
        errors, "publicAccessBlock", "s3:GetPublicAccessBlock",
        lambda: s3.get_public_access_block(Bucket=name),
        absent={"NoSuchPublicAccessBlockConfiguration": None}))
    b.replication = _replication(guarded(
        errors, "replication", "s3:GetBucketReplication",
        lambda: s3.get_bucket_replication(Bucket=name),
        absent={"ReplicationConfigurationNotFoundError": None}))
    notif = guarded(errors, "notifications", "s3:GetBucketNotificationConfiguration",
                    lambda: s3.get_bucket_notification_configuration(Bucket=name))
    if isinstance(notif, dict):
        notif.pop("ResponseMetadata", None)
    read.notifications = notif
    if state_prefix is not None:
        read_state(account, read, state_prefix)
    read.detailed = True


def read_state(account: Account, read: BucketRead, prefix: str) -> None:
    """Bucket policy status and the versions of each stack checkpoint under `prefix`."""
    s3 = account.client("s3", read.fact.region)
    name = read.name
    status = guarded(read.errors, "policyStatus", "s3:GetBucketPolicyStatus",
                     lambda: s3.get_bucket_policy_status(Bucket=name),
                     absent={"NoSuchBucketPolicy": None})
    read.policy_public = (False if status is None else UNKNOWN if status is UNKNOWN
                          else (status.get("PolicyStatus") or {}).get("IsPublic") is True)
    read.checkpoints = guarded(read.errors, "checkpoints", "s3:ListObjectVersions",
                               lambda: checkpoint_versions(s3, name, prefix))


def checkpoint_versions(s3: Any, bucket: str, prefix: str) -> dict[str, int]:
    """{checkpoint key: number of versions} for stack checkpoints (not .bak files) that are
    not currently deleted."""
    root = f"{prefix.strip('/')}/.pulumi/stacks/" if prefix.strip("/") else ".pulumi/stacks/"
    counts: dict[str, int] = {}
    deleted: set[str] = set()
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=root):
        for v in page.get("Versions") or ():
            key = v["Key"]
            if key.endswith((".json", ".json.gz")):
                counts[key] = counts.get(key, 0) + 1
        for m in page.get("DeleteMarkers") or ():
            if m.get("IsLatest"):
                deleted.add(m["Key"])
    return {k: n for k, n in sorted(counts.items()) if k not in deleted}
