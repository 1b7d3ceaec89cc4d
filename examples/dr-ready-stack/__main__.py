"""A DR-ready stack: passes every deploy-side DR Guard control (Tier 1, 2 and 3).

- RDS instance and Aurora cluster: 14 days of automated backups, deletion protection, a final
  snapshot on delete, automated backups kept, `protect=True`; the master password is a secret.
- Backup buckets (tagged `dr:backup=true`): created with Object Lock, versioning Enabled, a
  COMPLIANCE default retention of 35 days, public access blocked, `protect=True`, no
  `forceDestroy`. The CloudTrail bucket and the replica are backup buckets too (DR Guard scopes
  them automatically), so they get the same treatment.
- A multi-region CloudTrail trail with log file validation, logging S3 write data events on the
  backup buckets, and an EventBridge rule that sends deletions on them to an SNS topic.
- Cross-region copies: S3 replication to us-west-2, RDS automated-backup replication, and an AWS
  Backup plan copying the Aurora cluster to a locked vault in us-west-2.
- The same settings through aws-native (CloudFormation-shaped properties).
- Recoverable after a hostile admin: AWS Backup copies every database, the DynamoDB table and
  the EFS file system to a vault in a separate backup account (`backupVaultArn`), the backup
  buckets also replicate there with the replicas owned by that account, and each vault's access
  policy denies deleting recovery points to everyone.
- Tier 3: a DynamoDB table with point-in-time recovery and deletion protection, an EBS volume
  snapshotted daily by a DLM policy, an EFS file system with automatic backups (its separate
  `BackupPolicy` resource), locked AWS Backup vaults, and (when `atlasProjectId` is set) a
  MongoDB Atlas cluster with cloud backup.

Organization-wide guardrails (the SCP that denies destroying backups) live in the management
account's own stack: see examples/org-guardrails.

Config: `pulumi config set --secret dbPassword <value>`; optional `alertEmail`,
`atlasProjectId` (needs the mongodbatlas provider's API keys).
"""

import json

import pulumi
import pulumi_aws as aws
import pulumi_aws_native as aws_native
import pulumi_mongodbatlas as mongodbatlas

config = pulumi.Config()
db_password = config.require_secret("dbPassword")
alert_email = config.get("alertEmail")
atlas_project = config.get("atlasProjectId")

DR_REGION = "us-west-2"
RETENTION_DAYS = 14
LOCK_DAYS = 35
BACKUP_TAGS = {"dr:backup": "true", "owner": "platform"}
STATEFUL = pulumi.ResourceOptions(protect=True)
# The separate backup account's vault (and bucket) that receive the copies: an admin of this
# account cannot delete them.
BACKUP_VAULT_ARN = config.get("backupVaultArn") or \
    "arn:aws:backup:us-west-2:111122223333:backup-vault:vault-of-record"
BACKUP_ACCOUNT = BACKUP_VAULT_ARN.split(":")[4]
BACKUP_ACCOUNT_BUCKET = config.get("backupAccountBucketArn") or \
    "arn:aws:s3:::backups-of-record-111122223333"
# Nobody deletes recovery points, shortens their lifecycle, or changes or deletes this policy.
DENY_RECOVERY_POINT_DELETION = json.dumps({
    "Version": "2012-10-17",
    "Statement": [{"Sid": "DenyRecoveryPointDeletion", "Effect": "Deny",
                   "Principal": {"AWS": "*"},
                   "Action": ["backup:DeleteRecoveryPoint",
                              "backup:UpdateRecoveryPointLifecycle",
                              "backup:PutBackupVaultAccessPolicy",
                              "backup:DeleteBackupVaultAccessPolicy"],
                   "Resource": "*"}],
})

caller = aws.get_caller_identity()
dr = aws.Provider("dr", region=DR_REGION)


def locked_bucket(name: str, opts: pulumi.ResourceOptions | None = None) -> aws.s3.Bucket:
    """A backup bucket: Object Lock at creation, versioning, COMPLIANCE retention, no public
    access, protected from `pulumi destroy`."""
    opts = pulumi.ResourceOptions.merge(STATEFUL, opts)
    child = pulumi.ResourceOptions(provider=opts.provider) if opts.provider else None
    bucket = aws.s3.Bucket(name, object_lock_enabled=True, tags=BACKUP_TAGS, opts=opts)
    aws.s3.BucketVersioning(
        f"{name}-versioning",
        bucket=bucket.id,
        versioning_configuration={"status": "Enabled"},
        opts=child,
    )
    aws.s3.BucketObjectLockConfiguration(
        f"{name}-object-lock",
        bucket=bucket.id,
        rule={"default_retention": {"mode": "COMPLIANCE", "days": LOCK_DAYS}},
        opts=child,
    )
    aws.s3.BucketPublicAccessBlock(
        f"{name}-public-access-block",
        bucket=bucket.id,
        block_public_acls=True,
        block_public_policy=True,
        ignore_public_acls=True,
        restrict_public_buckets=True,
        opts=child,
    )
    return bucket


# ---- Databases -----------------------------------------------------------------------------

db = aws.rds.Instance(
    "orders-db",
    engine="postgres",
    engine_version="16.4",
    instance_class="db.t4g.medium",
    allocated_storage=20,
    storage_encrypted=True,
    username="app",
    password=db_password,
    backup_retention_period=RETENTION_DAYS,
    backup_window="03:00-04:00",
    copy_tags_to_snapshot=True,
    deletion_protection=True,
    skip_final_snapshot=False,
    final_snapshot_identifier="orders-db-final",
    delete_automated_backups=False,
    opts=STATEFUL,
)

cluster = aws.rds.Cluster(
    "ledger",
    engine="aurora-postgresql",
    engine_version="16.4",
    master_username="app",
    master_password=db_password,
    storage_encrypted=True,
    backup_retention_period=RETENTION_DAYS,
    preferred_backup_window="03:00-04:00",
    copy_tags_to_snapshot=True,
    deletion_protection=True,
    skip_final_snapshot=False,
    final_snapshot_identifier="ledger-final",
    delete_automated_backups=False,
    opts=STATEFUL,
)

for i in range(2):
    aws.rds.ClusterInstance(
        f"ledger-{i}",
        cluster_identifier=cluster.id,
        instance_class="db.r6g.large",
        engine=cluster.engine,
        engine_version=cluster.engine_version,
        opts=STATEFUL,
    )

# DocumentDB and Neptune: clusters on the RDS API, held to the same database controls.
docs_cluster = aws.docdb.Cluster(
    "catalog-docs",
    master_username="app",
    master_password=db_password,
    storage_encrypted=True,
    backup_retention_period=RETENTION_DAYS,
    preferred_backup_window="03:00-04:00",
    deletion_protection=True,
    skip_final_snapshot=False,
    final_snapshot_identifier="catalog-docs-final",
    opts=STATEFUL,
)
graph_cluster = aws.neptune.Cluster(
    "social-graph",
    storage_encrypted=True,
    iam_database_authentication_enabled=True,
    backup_retention_period=RETENTION_DAYS,
    preferred_backup_window="03:00-04:00",
    deletion_protection=True,
    skip_final_snapshot=False,
    final_snapshot_identifier="social-graph-final",
    opts=STATEFUL,
)

# Redshift: two weeks of automated snapshots and a final snapshot on delete.
warehouse = aws.redshift.Cluster(
    "warehouse",
    cluster_identifier="warehouse",
    node_type="ra3.xlplus",
    master_username="admin",
    manage_master_password=True,
    encrypted=True,
    automated_snapshot_retention_period=RETENTION_DAYS,
    skip_final_snapshot=False,
    final_snapshot_identifier="warehouse-final",
    opts=STATEFUL,
)

# ElastiCache (Valkey): daily automatic snapshots, kept a week, and a final one on delete.
aws.elasticache.ReplicationGroup(
    "sessions",
    description="user sessions",
    engine="valkey",
    node_type="cache.t4g.small",
    num_cache_clusters=2,
    automatic_failover_enabled=True,
    at_rest_encryption_enabled=True,
    transit_encryption_enabled=True,
    snapshot_retention_limit=7,
    snapshot_window="03:00-04:00",
    final_snapshot_identifier="sessions-final",
    opts=STATEFUL,
)

# Automated backups of the instance, replicated to the DR region.
aws.rds.InstanceAutomatedBackupsReplication(
    "orders-db-backups-dr",
    source_db_instance_arn=db.arn,
    retention_period=RETENTION_DAYS,
    opts=pulumi.ResourceOptions(provider=dr),
)

# AWS Backup: daily recovery points of both databases, copied to a locked vault in the DR region.
vault = aws.backup.Vault("primary-vault", opts=STATEFUL)
dr_vault = aws.backup.Vault("dr-vault", opts=pulumi.ResourceOptions(protect=True, provider=dr))
aws.backup.VaultLockConfiguration(
    "primary-vault-lock",
    backup_vault_name=vault.name,
    min_retention_days=7,
    max_retention_days=365,
    changeable_for_days=3,
)
aws.backup.VaultLockConfiguration(
    "dr-vault-lock",
    backup_vault_name=dr_vault.name,
    min_retention_days=7,
    max_retention_days=365,
    changeable_for_days=3,
    opts=pulumi.ResourceOptions(provider=dr),
)
backup_role = aws.iam.Role(
    "backup-role",
    assume_role_policy=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                       "Principal": {"Service": "backup.amazonaws.com"}}],
    }),
)
aws.iam.RolePolicyAttachment(
    "backup-role-policy",
    role=backup_role.name,
    policy_arn="arn:aws:iam::aws:policy/service-role/AWSBackupServiceRolePolicyForBackup",
)
plan = aws.backup.Plan(
    "daily",
    rules=[{
        "rule_name": "daily",
        "target_vault_name": vault.name,
        "schedule": "cron(0 3 * * ? *)",
        "lifecycle": {"delete_after": LOCK_DAYS},
        "copy_actions": [{"destination_vault_arn": dr_vault.arn,
                          "lifecycle": {"delete_after": LOCK_DAYS}},
                         {"destination_vault_arn": BACKUP_VAULT_ARN,
                          "lifecycle": {"delete_after": LOCK_DAYS}}],
    }],
)
aws.backup.Selection(
    "databases",
    iam_role_arn=backup_role.arn,
    plan_id=plan.id,
    resources=[cluster.arn, db.arn, docs_cluster.arn, graph_cluster.arn, warehouse.arn],
)
for name, v, opts in (("primary-vault", vault, None),
                      ("dr-vault", dr_vault, pulumi.ResourceOptions(provider=dr))):
    aws.backup.VaultPolicy(f"{name}-deny-deletion", backup_vault_name=v.name,
                           policy=DENY_RECOVERY_POINT_DELETION, opts=opts)

# ---- Backup buckets ------------------------------------------------------------------------

backup_bucket = locked_bucket("db-backups")
replica_bucket = locked_bucket("db-backups-replica", pulumi.ResourceOptions(provider=dr))
trail_bucket = locked_bucket("audit-trail-logs")

# S3 replication assumes this role (its permissions follow the buckets below).
replication_role = aws.iam.Role(
    "backup-replication",
    assume_role_policy=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                       "Principal": {"Service": "s3.amazonaws.com"}}],
    }),
)

# ---- aws-native: the same settings, CloudFormation-shaped ----------------------------------

native_bucket = aws_native.s3.Bucket(
    "native-backups",
    versioning_configuration={"status": "Enabled"},
    object_lock_enabled=True,
    object_lock_configuration={
        "object_lock_enabled": "Enabled",
        "rule": {"default_retention": {"mode": "COMPLIANCE", "days": LOCK_DAYS}},
    },
    public_access_block_configuration={
        "block_public_acls": True,
        "block_public_policy": True,
        "ignore_public_acls": True,
        "restrict_public_buckets": True,
    },
    replication_configuration={
        "role": replication_role.arn,
        "rules": [{
            "id": "to-dr-region",
            "status": "Enabled",
            "priority": 1,
            "filter": {"prefix": ""},
            "delete_marker_replication": {"status": "Disabled"},
            "destination": {"bucket": replica_bucket.arn, "storage_class": "STANDARD"},
        }, {
            "id": "to-backup-account",
            "status": "Enabled",
            "priority": 2,
            "filter": {"prefix": ""},
            "delete_marker_replication": {"status": "Disabled"},
            "destination": {"bucket": BACKUP_ACCOUNT_BUCKET, "account": BACKUP_ACCOUNT,
                            "access_control_translation": {"owner": "Destination"}},
        }],
    },
    tags=[{"key": k, "value": v} for k, v in BACKUP_TAGS.items()],
    opts=STATEFUL,
)

native_db = aws_native.rds.DbInstance(
    "native-db",
    engine="postgres",
    engine_version="16.4",
    db_instance_class="db.t4g.medium",
    allocated_storage="20",
    storage_encrypted=True,
    master_username="app",
    master_user_password=db_password,
    backup_retention_period=RETENTION_DAYS,
    deletion_protection=True,
    delete_automated_backups=False,
    automatic_backup_replication_region=DR_REGION,
    automatic_backup_replication_retention_period=RETENTION_DAYS,
    opts=STATEFUL,
)

# ---- Cross-region replication of the backup buckets ----------------------------------------

aws.iam.RolePolicy(
    "backup-replication",
    role=replication_role.id,
    policy=pulumi.Output.json_dumps({
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow",
             "Action": ["s3:GetReplicationConfiguration", "s3:ListBucket"],
             "Resource": [backup_bucket.arn, trail_bucket.arn, native_bucket.arn]},
            {"Effect": "Allow",
             "Action": ["s3:GetObjectVersionForReplication", "s3:GetObjectVersionAcl",
                        "s3:GetObjectVersionTagging", "s3:GetObjectRetention",
                        "s3:GetObjectLegalHold"],
             "Resource": [pulumi.Output.concat(backup_bucket.arn, "/*"),
                          pulumi.Output.concat(trail_bucket.arn, "/*"),
                          pulumi.Output.concat(native_bucket.arn, "/*")]},
            {"Effect": "Allow",
             "Action": ["s3:ReplicateObject", "s3:ReplicateDelete", "s3:ReplicateTags"],
             "Resource": pulumi.Output.concat(replica_bucket.arn, "/*")},
        ],
    }),
)
for name, source in (("db-backups", backup_bucket), ("audit-trail-logs", trail_bucket)):
    # The destination is named by ARN; its provider's region (us-west-2) is what makes the
    # copy cross-region.
    aws.s3.BucketReplicationConfig(
        f"{name}-replication",
        bucket=source.id,
        role=replication_role.arn,
        rules=[{
            "id": "to-dr-region",
            "status": "Enabled",
            "priority": 1,
            "filter": {"prefix": ""},
            "delete_marker_replication": {"status": "Disabled"},
            "destination": {"bucket": replica_bucket.arn, "storage_class": "STANDARD"},
        }, {
            # the copy an admin of this account cannot delete: replicas owned by the backup
            # account
            "id": "to-backup-account",
            "status": "Enabled",
            "priority": 2,
            "filter": {"prefix": ""},
            "delete_marker_replication": {"status": "Disabled"},
            "destination": {"bucket": BACKUP_ACCOUNT_BUCKET, "account": BACKUP_ACCOUNT,
                            "access_control_translation": {"owner": "Destination"}},
        }],
    )
# ---- CloudTrail: multi-region, validated, with S3 write data events on the backup buckets ---

trail_policy = aws.s3.BucketPolicy(
    "audit-trail-logs-policy",
    bucket=trail_bucket.id,
    policy=pulumi.Output.json_dumps({
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "AWSCloudTrailAclCheck", "Effect": "Allow",
             "Principal": {"Service": "cloudtrail.amazonaws.com"},
             "Action": "s3:GetBucketAcl", "Resource": trail_bucket.arn,
             "Condition": {"StringEquals": {"aws:SourceAccount": caller.account_id}}},
            {"Sid": "AWSCloudTrailWrite", "Effect": "Allow",
             "Principal": {"Service": "cloudtrail.amazonaws.com"},
             "Action": "s3:PutObject",
             "Resource": pulumi.Output.concat(trail_bucket.arn, "/AWSLogs/",
                                              caller.account_id, "/*"),
             "Condition": {"StringEquals": {"s3:x-amz-acl": "bucket-owner-full-control",
                                            "aws:SourceAccount": caller.account_id}}},
        ],
    }),
)

backup_bucket_arns = [backup_bucket.arn, replica_bucket.arn, trail_bucket.arn, native_bucket.arn]

trail = aws.cloudtrail.Trail(
    "org-audit",
    s3_bucket_name=trail_bucket.id,
    is_multi_region_trail=True,
    include_global_service_events=True,
    enable_log_file_validation=True,
    enable_logging=True,
    event_selectors=[
        {"read_write_type": "All", "include_management_events": True},
        {
            "read_write_type": "WriteOnly",
            "include_management_events": False,
            "data_resources": [{
                "type": "AWS::S3::Object",
                "values": [pulumi.Output.concat(arn, "/") for arn in backup_bucket_arns],
            }],
        },
    ],
    opts=pulumi.ResourceOptions(depends_on=[trail_policy]),
)

# ---- Deletion alerts: EventBridge rule -> SNS ----------------------------------------------

DELETE_EVENTS = ["DeleteObject", "DeleteObjects", "DeleteBucket", "PutBucketVersioning",
                 "PutBucketLifecycle", "DeleteBucketLifecycle"]


def deletion_alerts(name: str, bucket_names: list, provider: aws.Provider | None = None) -> None:
    """An enabled EventBridge rule matching deletions on the buckets, sending to SNS."""
    opts = pulumi.ResourceOptions(provider=provider) if provider else None
    topic = aws.sns.Topic(f"{name}-alerts", opts=opts)
    rule = aws.cloudwatch.EventRule(
        f"{name}-deletions",
        description="Deletions and protection changes on backup buckets",
        state="ENABLED",
        event_pattern=pulumi.Output.json_dumps({
            "source": ["aws.s3"],
            "detail-type": ["AWS API Call via CloudTrail"],
            "detail": {
                "eventSource": ["s3.amazonaws.com"],
                "eventName": DELETE_EVENTS,
                "requestParameters": {"bucketName": bucket_names},
            },
        }),
        opts=opts,
    )
    aws.sns.TopicPolicy(
        f"{name}-alerts",
        arn=topic.arn,
        policy=pulumi.Output.json_dumps({
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "sns:Publish",
                           "Principal": {"Service": "events.amazonaws.com"},
                           "Resource": topic.arn}],
        }),
        opts=opts,
    )
    aws.cloudwatch.EventTarget(f"{name}-deletions", rule=rule.name, arn=topic.arn, opts=opts)
    if alert_email:
        aws.sns.TopicSubscription(f"{name}-alerts-email", topic=topic.arn, protocol="email",
                                  endpoint=alert_email, opts=opts)


# EventBridge is regional: one rule per region that holds backup buckets.
deletion_alerts("backup-buckets", [backup_bucket.bucket, trail_bucket.bucket,
                                   native_bucket.bucket_name])
deletion_alerts("backup-buckets-dr", [replica_bucket.bucket], provider=dr)

# ---- Tier 3: DynamoDB, EBS, MongoDB Atlas --------------------------------------------------

ledger = aws.dynamodb.Table(
    "orders-ledger",
    billing_mode="PAY_PER_REQUEST",
    hash_key="id",
    attributes=[{"name": "id", "type": "S"}],
    point_in_time_recovery={"enabled": True},
    deletion_protection_enabled=True,
    opts=STATEFUL,
)

# Volumes tagged backup=daily are snapshotted every 24 h by Data Lifecycle Manager.
dlm_role = aws.iam.Role(
    "dlm-role",
    assume_role_policy=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                       "Principal": {"Service": "dlm.amazonaws.com"}}],
    }),
)
aws.iam.RolePolicyAttachment(
    "dlm-role-policy",
    role=dlm_role.name,
    policy_arn="arn:aws:iam::aws:policy/service-role/AWSDataLifecycleManagerServiceRole",
)
aws.dlm.LifecyclePolicy(
    "daily-volume-snapshots",
    description="Daily EBS snapshots, kept 14 days",
    execution_role_arn=dlm_role.arn,
    state="ENABLED",
    policy_details={
        "resource_types": ["VOLUME"],
        "target_tags": {"backup": "daily"},
        "schedules": [{
            "name": "daily",
            "create_rule": {"interval": 24, "interval_unit": "HOURS", "times": "03:00"},
            "retain_rule": {"count": RETENTION_DAYS},
            "copy_tags": True,
        }],
    },
)
aws.ebs.Volume(
    "app-data",
    availability_zone="us-east-1a",
    size=50,
    type="gp3",
    encrypted=True,
    tags={"backup": "daily", "owner": "platform"},
)
# EFS keeps automatic backups in a resource of its own, linked by fileSystemId.
shared_files = aws.efs.FileSystem("shared-files", encrypted=True, opts=STATEFUL)
aws.efs.BackupPolicy(
    "shared-files-backups",
    file_system_id=shared_files.id,
    backup_policy={"status": "ENABLED"},
)
# The table and the file system join the daily plan (and its copy to the backup account).
aws.backup.Selection(
    "tier3-data",
    iam_role_arn=backup_role.arn,
    plan_id=plan.id,
    resources=[ledger.arn, shared_files.arn, native_db.db_instance_arn],
)

if atlas_project:
    mongodbatlas.AdvancedCluster(
        "orders-mongo",
        project_id=atlas_project,
        cluster_type="REPLICASET",
        backup_enabled=True,
        replication_specs=[{"region_configs": [{
            "provider_name": "AWS", "region_name": "US_EAST_1", "priority": 7,
            "electable_specs": {"instance_size": "M10", "node_count": 3}}]}],
        opts=STATEFUL,
    )

pulumi.export("backupBucket", backup_bucket.bucket)
pulumi.export("replicaBucket", replica_bucket.bucket)
pulumi.export("trailArn", trail.arn)
pulumi.export("dbEndpoint", db.endpoint)
