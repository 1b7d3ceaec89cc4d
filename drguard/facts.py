"""Normalised facts: the small records both sides reduce their input to.

Deploy-side adapters build them from Pulumi resource properties, live collectors from AWS API
responses, the state reader from a stack export. Rules (drguard.rules) only ever see facts.

A value is either known, `None` (unset: the AWS/provider default applies, and the adapter has
already resolved that default where it matters) or `UNKNOWN` (not yet known during preview).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final, Literal


class _Unknown:
    """A value that cannot be known until the update runs (Pulumi preview)."""

    _instance: _Unknown | None = None

    def __new__(cls) -> _Unknown:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "<unknown during preview>"

    def __bool__(self) -> bool:
        raise TypeError("UNKNOWN has no truth value; test `is UNKNOWN` first")


UNKNOWN: Final = _Unknown()


def is_unknown(*values: Any) -> bool:
    return any(v is UNKNOWN for v in values)


def retention_days(days: Any, years: Any) -> int | None:
    """An Object Lock default retention in days: `days`, else `years` counted as 365 days
    (controls.md); None when neither is an integer. Some endpoints (moto) answer a rule set
    in years with `Days: 0` beside `Years`, so a zero `days` gives way to `years`."""
    def whole(v: Any) -> bool:
        return isinstance(v, int) and not isinstance(v, bool)

    if whole(days) and days > 0:
        return days
    if whole(years):
        return years * 365
    return days if whole(days) else None


@dataclass
class Resource:
    """What every fact has: where it is and how to name it in a message."""

    ref: str  # URN on the deploy/state side, ARN on the live side
    name: str
    type: str = ""  # Pulumi type token or AWS resource type
    account: str | None = None
    region: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    protect: bool | None = None  # Pulumi `protect` option; None on the live side
    # fact attribute -> the property a user sets to fix it (e.g. "backup_retention" ->
    # "backupRetentionPeriod"); adapters fill this so messages speak the resource's language.
    props: dict[str, str] = field(default_factory=dict)
    evidence: dict[str, Any] = field(default_factory=dict)

    def prop(self, attr: str, default: str) -> str:
        return self.props.get(attr, default)


@dataclass
class Database(Resource):
    """An RDS DB instance or an Aurora/Multi-AZ DB cluster."""

    kind: Literal["instance", "cluster"] = "instance"
    engine: Any = None
    backup_retention: Any = None  # days; None = unset (AWS default 1)
    deletion_protection: Any = None  # None = unset (false)
    skip_final_snapshot: Any = None  # effective value, provider default resolved
    final_snapshot_identifier: Any = None
    delete_automated_backups: Any = None  # effective value, provider default resolved
    read_replica: Any = False
    cluster_member: bool = False  # an instance that belongs to a cluster: judged on the cluster
    final_snapshot_applies: bool = True  # False where the resource kind has no such setting
    # Tier 2: recovery points in other regions; list of dicts
    # {"kind": "automated-backup-replication"|"backup-copy"|"snapshot", "region", "age_hours"}
    cross_region: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Bucket(Resource):
    """An S3 bucket with its split configuration resources folded in."""

    versioning: Any = None  # "Enabled" | "Suspended" | None (never enabled)
    object_lock_enabled: Any = None
    lock_mode: Any = None  # default retention mode
    lock_days: Any = None  # default retention, years already turned into days
    force_destroy: Any = None
    scope_reasons: list[str] = field(default_factory=list)
    # Tier 2
    public_access_block: Any = None  # dict of the four flags, or None when absent
    replication: Any = None  # list of {"bucket", "region", "status"} or None
    deletion_alerts: Any = None  # list of {"kind", "detail"} found, or None when unknown/absent
    is_state_bucket: bool = False
    # Backup buckets that replicate into this one: list of {"bucket", "region"}. A bucket that
    # is itself the cross-region copy of another needs no replication of its own.
    replica_of: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Trail(Resource):
    multi_region: Any = None
    logging: Any = None
    log_validation: Any = None
    s3_bucket: Any = None
    organization: Any = None
    # buckets whose write data events the trail logs: bucket names, or "*" for all buckets
    data_event_buckets: Any = None


@dataclass
class AccessKey(Resource):
    user: Any = None
    active: Any = None
    age_days: Any = None
    root: bool = False


@dataclass
class Table(Resource):
    """A DynamoDB table."""

    pitr: Any = None
    deletion_protection: Any = None


@dataclass
class Vault(Resource):
    """An AWS Backup vault."""

    lock_min_retention_days: Any = None  # None = no vault lock


@dataclass
class Volume(Resource):
    """An EBS volume and how it is backed up."""

    covered_by: Any = None  # list of "dlm:<id>" / "backup:<plan>" or None
    newest_snapshot_age_hours: Any = None


@dataclass
class AtlasCluster(Resource):
    cloud_backup: Any = None


@dataclass
class Scp(Resource):
    """An Organizations service control policy."""

    document: Any = None  # parsed JSON policy document
    targets: Any = None  # list of target ids (root r-..., OU ou-..., account ids)


@dataclass
class StateBackend(Resource):
    """The Pulumi state bucket, as read live."""

    versioning: Any = None
    public_access_block: Any = None
    policy_public: Any = None
    checkpoints: Any = None  # {stack key: number of versions}
