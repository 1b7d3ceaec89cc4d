"""The control registry: every DR control declared once.

The policy pack and the auditor both read this module; neither re-types an id, a severity, a
parameter name or a default. `../shared/spec/controls.md` is the contract this mirrors.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from . import detections as d
from .detections import BACKUP, CLOUDTRAIL, EVENTS, IAM, ORGANIZATIONS, RDS, S3, Detection, on

Severity = Literal["low", "medium", "high", "critical"]
Source = Literal["deploy", "state", "live", "logs"]

SEVERITY_ORDER: dict[str, int] = {"low": 0, "medium": 1, "high": 2, "critical": 3}

DEPLOY: frozenset[str] = frozenset({"deploy", "state"})
ALL_SOURCES: frozenset[str] = frozenset({"deploy", "state", "live", "logs"})


@dataclass(frozen=True)
class Param:
    """A control parameter: its name (camelCase, as users write it), default and JSON schema."""

    name: str
    default: Any
    schema: dict[str, Any]
    description: str

    def json_schema(self) -> dict[str, Any]:
        return {**self.schema, "description": self.description, "default": self.default}


@dataclass(frozen=True)
class Mapping:
    """The AWS Config managed rule / Security Hub controls a control lines up with."""

    aws_config: tuple[str, ...] = ()
    security_hub: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.aws_config or self.security_hub)

    def reference(self) -> str:
        return ", ".join(self.aws_config + self.security_hub)


@dataclass(frozen=True)
class Control:
    id: str
    title: str
    severity: Severity
    tier: int
    description: str
    remediation: str
    params: tuple[Param, ...] = ()
    mapping: Mapping = field(default_factory=Mapping)
    sources: frozenset[str] = ALL_SOURCES
    # Whether the control applies only to buckets in backup scope (see drguard.scope).
    backup_scoped: bool = False
    # Logs side: the CloudTrail events that break this control (drguard.detections).
    detections: tuple[Detection, ...] = ()

    def defaults(self) -> dict[str, Any]:
        return {p.name: p.default for p in self.params}

    def param(self, name: str) -> Param:
        for p in self.params:
            if p.name == name:
                return p
        raise KeyError(f"{self.id} has no parameter {name!r}")

    def config_schema(self) -> dict[str, dict[str, Any]]:
        """JSON-schema properties of this control's parameters (pack `config_schema`)."""
        return {p.name: p.json_schema() for p in self.params}


def _days(name: str, default: int, description: str, maximum: int | None = None) -> Param:
    schema: dict[str, Any] = {"type": "integer", "minimum": 1}
    if maximum is not None:
        schema["maximum"] = maximum
    return Param(name, default, schema, description)


def _flag(name: str, default: bool, description: str) -> Param:
    return Param(name, default, {"type": "boolean"}, description)


def _strings(name: str, default: list[str], description: str, enum: list[str] | None = None,
             min_items: int = 0) -> Param:
    items: dict[str, Any] = {"type": "string", "minLength": 1}
    if enum:
        items["enum"] = enum
    return Param(name, default, {"type": "array", "items": items, "minItems": min_items,
                                 "uniqueItems": True}, description)


# Destructive actions an SCP must deny (controls.md, scp-deny-backup-deletion).
BACKUP_DELETION_ACTIONS: list[str] = [
    "s3:DeleteBucket",
    "s3:PutBucketVersioning",
    "s3:PutBucketObjectLockConfiguration",
    "s3:BypassGovernanceRetention",
    "s3:DeleteObjectVersion",
    "rds:DeleteDBSnapshot",
    "rds:DeleteDBClusterSnapshot",
    "backup:DeleteRecoveryPoint",
    "backup:DeleteBackupVault",
    "cloudtrail:StopLogging",
    "cloudtrail:DeleteTrail",
]

# Settings shared by every backup-scoped control and by waivers. In the policy pack they are
# the config of the `dr-guard-settings` policy; in the auditor's config file, top-level keys.
SCOPE_PARAMS: tuple[Param, ...] = (
    Param("backupTagKey", "dr:backup", {"type": "string", "minLength": 1},
          "Tag key that marks a bucket as a backup bucket."),
    Param("backupTagValue", "true", {"type": "string"},
          "Tag value that marks a bucket as a backup bucket (compared case-insensitively)."),
    _strings("backupBucketPatterns", ["(?i)backup"],
             "Regular expressions; a bucket whose name matches one is a backup bucket."),
    Param("stateBucket", None, {"type": ["string", "null"]},
          "Name of the S3 bucket that holds Pulumi state (auto-scoped as a backup bucket)."),
)

CONTROLS: tuple[Control, ...] = (
    # ---- Tier 1 -------------------------------------------------------------------------
    Control(
        id="rds-backup-retention",
        title="RDS automated backups are kept long enough",
        severity="high",
        tier=1,
        description="RDS instances and clusters keep automated backups for at least "
                    "minRetentionDays days (AWS maximum 35).",
        remediation="Set backupRetentionPeriod to at least minRetentionDays (max 35) on the "
                    "DB instance or Aurora cluster.",
        params=(
            _days("minRetentionDays", 7, "Minimum automated backup retention, in days.",
                  maximum=35),
            _flag("checkReadReplicas", False,
                  "Also require retention on read replicas (replicateSourceDb set)."),
        ),
        mapping=Mapping(("DB_INSTANCE_BACKUP_ENABLED",), ("RDS.11",)),
        detections=(
            on(RDS, "ModifyDBInstance", "ModifyDBCluster", when=d.retention_below_minimum,
               resource=d.rds_database,
               message="{principal} set backupRetentionPeriod of {name} to "
                       "{rp[backupRetentionPeriod]} days ({event}), below minRetentionDays "
                       "({params[minRetentionDays]}): older restore points are dropped."),
        ),
    ),
    Control(
        id="rds-deletion-protection",
        title="RDS deletion protection is on",
        severity="high",
        tier=1,
        description="Every RDS instance and Aurora cluster has deletion protection enabled.",
        remediation="Set deletionProtection to true on the DB instance or Aurora cluster.",
        mapping=Mapping(("RDS_INSTANCE_DELETION_PROTECTION_ENABLED",), ("RDS.7", "RDS.8")),
        detections=(
            on(RDS, "ModifyDBInstance", "ModifyDBCluster", when=d.deletion_protection_off,
               resource=d.rds_database,
               message="{principal} turned deletionProtection off on {name} ({event}): the "
                       "database can now be deleted by one API call."),
            on(RDS, "DeleteDBInstance", "DeleteDBCluster", resource=d.rds_database,
               message="{principal} deleted the database {name} ({event})."),
        ),
    ),
    Control(
        id="rds-final-snapshot",
        title="Deleting a database leaves a final snapshot",
        severity="high",
        tier=1,
        description="Deleting an RDS instance or cluster takes a final snapshot and keeps its "
                    "automated backups.",
        remediation="Set skipFinalSnapshot to false with a finalSnapshotIdentifier, and leave "
                    "deleteAutomatedBackups false.",
        sources=frozenset({"deploy", "state", "logs"}),
        detections=(
            on(RDS, "DeleteDBInstance", "DeleteDBCluster", when=d.skips_final_snapshot,
               resource=d.rds_database,
               message="{principal} deleted {name} ({event}) with skipFinalSnapshot="
                       "{rp[skipFinalSnapshot]} and deleteAutomatedBackups="
                       "{rp[deleteAutomatedBackups]} (unset: AWS default true): no final "
                       "snapshot, or its automated backups deleted with it."),
            on(RDS, "DeleteDBSnapshot", "DeleteDBClusterSnapshot",
               "DeleteDBInstanceAutomatedBackup", "DeleteDBClusterAutomatedBackup",
               resource=d.rds_recovery_point,
               message="{principal} deleted the database recovery point {name} ({event})."),
        ),
    ),
    Control(
        id="backup-bucket-versioning",
        title="Backup buckets are versioned",
        severity="critical",
        tier=1,
        description="Backup buckets have S3 versioning Enabled (not absent, not Suspended).",
        remediation="Enable versioning: an aws.s3.BucketVersioning with "
                    "versioningConfiguration.status = \"Enabled\" (or Object Lock at creation).",
        mapping=Mapping(("S3_BUCKET_VERSIONING_ENABLED",), ("S3.14",)),
        backup_scoped=True,
        detections=(
            on(S3, "PutBucketVersioning", when=d.versioning_not_enabled, backup_scoped=True,
               resource=d.s3_bucket,
               message="{principal} set versioning of backup bucket {name} to "
                       "{rp[VersioningConfiguration][Status]} ({event}): overwrites and "
                       "deletes are now permanent."),
            on(S3, "DeleteObject", when=d.deletes_current, backup_scoped=True,
               resource=d.s3_bucket,
               message="{principal} deleted {rp[key]} from backup bucket {name} ({event}): "
                       "recoverable only while the bucket is versioned."),
            on(S3, "DeleteObjects", backup_scoped=True, resource=d.s3_bucket,
               message="{principal} bulk-deleted objects from backup bucket {name} ({event}): "
                       "recoverable only while the bucket is versioned."),
            on(S3, "PutBucketLifecycle", when=d.lifecycle_expires, backup_scoped=True,
               resource=d.s3_bucket,
               message="{principal} added a lifecycle expiration to backup bucket {name} "
                       "({event}): objects or their old versions will be deleted "
                       "automatically."),
        ),
    ),
    Control(
        id="backup-bucket-object-lock",
        title="Backup buckets are locked with S3 Object Lock",
        severity="critical",
        tier=1,
        description="Backup buckets have Object Lock on with a default retention rule in an "
                    "allowed mode for at least minLockDays days.",
        remediation="Create the bucket with objectLockEnabled = true and add an "
                    "aws.s3.BucketObjectLockConfiguration whose rule.defaultRetention has "
                    "mode COMPLIANCE and days >= minLockDays.",
        params=(
            _strings("allowedLockModes", ["COMPLIANCE"],
                     "Default retention modes accepted.", enum=["COMPLIANCE", "GOVERNANCE"],
                     min_items=1),
            _days("minLockDays", 30,
                  "Minimum default retention in days (years count as 365 days)."),
        ),
        mapping=Mapping(("S3_BUCKET_DEFAULT_LOCK_ENABLED",), ("S3.15",)),
        backup_scoped=True,
        detections=(
            on(S3, "PutObjectLockConfiguration", when=d.lock_weakened, backup_scoped=True,
               resource=d.s3_bucket,
               message="{principal} set the default Object Lock retention of backup bucket "
                       "{name} to mode {rp[ObjectLockConfiguration][Rule][DefaultRetention]"
                       "[Mode]}, days {rp[ObjectLockConfiguration][Rule][DefaultRetention]"
                       "[Days]}, years {rp[ObjectLockConfiguration][Rule][DefaultRetention]"
                       "[Years]} ({event}); required: mode in {params[allowedLockModes]} for "
                       ">= {params[minLockDays]} days."),
            on(S3, "DeleteObject", "DeleteObjects", when=d.bypasses_governance,
               backup_scoped=True, resource=d.s3_bucket,
               message="{principal} deleted from backup bucket {name} bypassing GOVERNANCE "
                       "retention ({event} with x-amz-bypass-governance-retention): locked "
                       "backups were destroyed."),
            on(S3, "DeleteObject", when=d.deletes_version, backup_scoped=True,
               resource=d.s3_bucket,
               message="{principal} permanently deleted version {rp[versionId]} of {rp[key]} "
                       "in backup bucket {name} ({event}): the version was not protected by "
                       "Object Lock retention."),
        ),
    ),
    Control(
        id="stateful-resource-protect",
        title="Stateful resources are protected from pulumi destroy",
        severity="high",
        tier=1,
        description="RDS instances and clusters, backup buckets, DynamoDB tables and backup "
                    "vaults carry the Pulumi protect option; backup buckets do not set "
                    "forceDestroy.",
        remediation="Pass opts=pulumi.ResourceOptions(protect=True) and leave forceDestroy "
                    "unset or false on backup buckets.",
        sources=DEPLOY,
    ),
    Control(
        id="cloudtrail-enabled",
        title="A multi-region CloudTrail trail is logging",
        severity="high",
        tier=1,
        description="At least one multi-region trail is logging, with log file validation.",
        remediation="Create an aws.cloudtrail.Trail with isMultiRegionTrail = true, "
                    "enableLogFileValidation = true and enableLogging = true.",
        mapping=Mapping((), ("CloudTrail.1", "CloudTrail.4")),
        detections=(
            on(CLOUDTRAIL, "StopLogging", "DeleteTrail", resource=d.cloudtrail_trail,
               links_by="account",
               message="{principal} stopped the trail {name} ({event}): API activity is no "
                       "longer recorded."),
            on(CLOUDTRAIL, "UpdateTrail", when=d.trail_weakened, resource=d.cloudtrail_trail,
               links_by="account",
               message="{principal} updated the trail {name} with isMultiRegionTrail="
                       "{rp[isMultiRegionTrail]}, enableLogFileValidation="
                       "{rp[enableLogFileValidation]} ({event}): regions go unrecorded or log "
                       "files can be altered undetected."),
        ),
    ),
    # ---- Tier 2 -------------------------------------------------------------------------
    Control(
        id="backup-bucket-replication",
        title="Backup buckets replicate to another region",
        severity="high",
        tier=2,
        description="Backup buckets replicate to a bucket in a different region.",
        remediation="Add an aws.s3.BucketReplicationConfig whose rule destination bucket lives "
                    "in another region (a provider with another region).",
        mapping=Mapping(("S3_BUCKET_CROSS_REGION_REPLICATION_ENABLED",), ("S3.7",)),
        backup_scoped=True,
        detections=(
            on(S3, "DeleteBucketReplication", backup_scoped=True, resource=d.s3_bucket,
               message="{principal} removed the replication of backup bucket {name} "
                       "({event}): no copy in another region any more."),
        ),
    ),
    Control(
        id="rds-cross-region-backup",
        title="Databases have recovery points in a second region",
        severity="high",
        tier=2,
        description="Each DB has recovery points in another region: automated backup "
                    "replication, an AWS Backup copy action, or recent snapshots there.",
        remediation="Add an aws.rds.InstanceAutomatedBackupsReplication in the DR region, or "
                    "an AWS Backup plan rule with a copyAction to a vault in another region.",
        params=(
            Param("maxSnapshotAgeHours", 26, {"type": "integer", "minimum": 1},
                  "Newest cross-region snapshot must be younger than this (achieved RPO)."),
        ),
    ),
    Control(
        id="backup-bucket-deletion-alerts",
        title="Deletions on backup buckets raise an alert",
        severity="high",
        tier=2,
        description="An EventBridge rule with an enabled target matches deletions on the "
                    "bucket and a trail logs its S3 write data events, or S3 event "
                    "notifications for s3:ObjectRemoved:* are configured.",
        remediation="Add an aws.cloudwatch.EventRule matching DeleteObject/DeleteObjects/"
                    "DeleteBucket for the bucket with an EventTarget, plus trail data events "
                    "for it; or an aws.s3.BucketNotification for s3:ObjectRemoved:*.",
        params=(
            _strings("alertRuleNames", [],
                     "Logs side: globs naming the EventBridge rules that alert on backup "
                     "deletions; empty means any rule change is reported."),
        ),
        backup_scoped=True,
        detections=(
            on(EVENTS, "DeleteRule", "DisableRule", "RemoveTargets", when=d.alert_rule,
               resource=d.events_rule, links_by="account",
               message="{principal} changed the EventBridge rule {name} ({event}): deletions "
                       "on backup buckets may no longer raise an alert."),
            on(CLOUDTRAIL, "PutEventSelectors", when=d.drops_data_events,
               resource=d.cloudtrail_trail, links_by="account",
               message="{principal} set event selectors on trail {name} that log no S3 write "
                       "data events for backup buckets ({event}): object deletions are no "
                       "longer seen."),
        ),
    ),
    Control(
        id="scp-deny-backup-deletion",
        title="An attached SCP denies destroying backups",
        severity="high",
        tier=2,
        description="An attached Organizations SCP covering every member account denies the "
                    "destructive actions on backup data.",
        remediation="Attach an SCP (root, OU or account) whose Deny statement lists every "
                    "action of requiredDenyActions.",
        params=(
            _strings("requiredDenyActions", BACKUP_DELETION_ACTIONS,
                     "Actions the SCP must deny.", min_items=1),
            _strings("backupPolicyIds", [],
                     "Logs side: ids (p-...) of the SCPs that protect backups; empty means "
                     "any SCP change is reported."),
        ),
        detections=(
            on(ORGANIZATIONS, "DetachPolicy", "DeletePolicy", "UpdatePolicy",
               when=d.backup_scp, resource=d.organizations_policy, links_by="account",
               message="{principal} changed the SCP {rp[policyId]} ({event}): the guard "
                       "against destroying backups may be gone."),
        ),
    ),
    Control(
        id="backup-bucket-public-access-block",
        title="Backup buckets block public access",
        severity="high",
        tier=2,
        description="All four S3 public-access-block flags are on for backup buckets.",
        remediation="Add an aws.s3.BucketPublicAccessBlock with blockPublicAcls, "
                    "blockPublicPolicy, ignorePublicAcls and restrictPublicBuckets true.",
        mapping=Mapping((), ("S3.8",)),
        backup_scoped=True,
        detections=(
            on(S3, "DeleteBucketPublicAccessBlock", backup_scoped=True, resource=d.s3_bucket,
               message="{principal} removed the public access block of backup bucket {name} "
                       "({event})."),
            on(S3, "PutBucketPublicAccessBlock", when=d.public_access_flag_off,
               backup_scoped=True, resource=d.s3_bucket,
               message="{principal} turned a public access block flag off on backup bucket "
                       "{name} ({event}): {rp[PublicAccessBlockConfiguration]}."),
        ),
    ),
    Control(
        id="iam-access-key-rotation",
        title="Access keys are rotated",
        severity="medium",
        tier=2,
        description="No active access key is older than maxKeyAgeDays; the root user has no "
                    "access keys. Long-lived keys in a stack are discouraged.",
        remediation="Rotate or delete old keys; prefer IAM roles over aws.iam.AccessKey.",
        params=(_days("maxKeyAgeDays", 90, "Maximum age of an active access key, in days."),),
        mapping=Mapping(("ACCESS_KEYS_ROTATED",), ("IAM.3", "IAM.4")),
        detections=(
            on(IAM, "CreateAccessKey", when=d.root_access_key, resource=d.iam_root,
               links_by="account",
               message="{principal} created an access key for the root user ({event}): a "
                       "long-lived key with unlimited rights."),
        ),
    ),
    Control(
        id="pulumi-state-backend",
        title="The Pulumi state backend can be recovered",
        severity="critical",
        tier=2,
        description="The Pulumi state bucket is versioned, not public, and keeps more than one "
                    "version of each stack checkpoint.",
        remediation="Enable versioning and the public access block on the state bucket.",
        sources=frozenset({"live", "logs"}),
    ),
    Control(
        id="cloudtrail-bucket-protected",
        title="The trail's bucket is itself protected",
        severity="high",
        tier=2,
        description="The trail's S3 bucket is versioned and locked with Object Lock.",
        remediation="Treat the trail bucket as a backup bucket: versioning and Object Lock.",
    ),
    # ---- Tier 3 -------------------------------------------------------------------------
    Control(
        id="ebs-snapshot-coverage",
        title="EBS volumes are backed up",
        severity="medium",
        tier=3,
        description="EBS volumes are covered by a DLM policy or AWS Backup selection, or have "
                    "a recent snapshot.",
        remediation="Cover the volume with an aws.dlm.LifecyclePolicy or an AWS Backup "
                    "selection.",
        params=(
            Param("maxSnapshotAgeHours", 26, {"type": "integer", "minimum": 1},
                  "A snapshot younger than this counts as coverage."),
        ),
        sources=frozenset({"deploy", "state", "live"}),
    ),
    Control(
        id="dynamodb-recovery",
        title="DynamoDB tables can be recovered",
        severity="high",
        tier=3,
        description="DynamoDB tables have point-in-time recovery and deletion protection.",
        remediation="Set pointInTimeRecovery.enabled and deletionProtectionEnabled to true.",
        sources=frozenset({"deploy", "state", "live"}),
    ),
    Control(
        id="backup-vault-lock",
        title="AWS Backup vaults are locked",
        severity="high",
        tier=3,
        description="AWS Backup vaults have vault lock with a minimum retention of at least "
                    "minRetentionDays.",
        remediation="Add an aws.backup.VaultLockConfiguration with minRetentionDays >= the "
                    "parameter.",
        params=(_days("minRetentionDays", 7, "Minimum vault lock retention, in days."),),
        detections=(
            on(BACKUP, "DeleteBackupVault", "DeleteBackupVaultLockConfiguration",
               "DeleteRecoveryPoint", "DeleteBackupPlan", resource=d.backup_resource,
               message="{principal} called {event} on {name}: AWS Backup recovery points or "
                       "their lock are gone."),
        ),
    ),
    Control(
        id="mongodb-atlas-backup",
        title="MongoDB Atlas clusters are backed up",
        severity="high",
        tier=3,
        description="MongoDB Atlas clusters have cloud backup enabled.",
        remediation="Set cloudBackup (backupEnabled for advanced clusters) to true.",
        sources=DEPLOY,
    ),
    Control(
        id="resource-drift-deleted",
        title="Resources in Pulumi state still exist",
        severity="critical",
        tier=3,
        description="A stateful resource recorded in Pulumi state no longer exists in the "
                    "account (accidental deletion).",
        remediation="Restore the resource from its backups, then `pulumi refresh`.",
        sources=frozenset({"live", "logs"}),
        detections=(
            on(S3, "DeleteBucket", backup_scoped=True, resource=d.s3_bucket,
               message="{principal} deleted the backup bucket {name} ({event})."),
            on(d.DYNAMODB, "DeleteTable", resource=d.dynamodb_table,
               message="{principal} deleted the DynamoDB table {name} ({event}); with "
                       "point-in-time recovery on, AWS keeps a system backup for 35 days."),
        ),
    ),
)

BY_ID: dict[str, Control] = {c.id: c for c in CONTROLS}

# Name of the settings-only policy that carries SCOPE_PARAMS and waivers in the policy pack.
SETTINGS_POLICY = "dr-guard-settings"


def get(control_id: str) -> Control:
    try:
        return BY_ID[control_id]
    except KeyError:
        raise KeyError(f"unknown control {control_id!r}") from None


def for_source(source: str) -> list[Control]:
    return [c for c in CONTROLS if source in c.sources]
