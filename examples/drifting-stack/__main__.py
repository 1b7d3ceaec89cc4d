"""A stack that drifts from every DR Guard deploy-side control: what DR Guard is there to catch.

Each resource has the same shape as in `dr-ready-stack`, with the setting that breaks a control:

- `orders-db` (RDS instance): 1 day of backups, no deletion protection, no final snapshot,
  automated backups deleted with the instance, not protected;
- `ledger` (Aurora cluster): retention and deletion protection unset (AWS defaults: 1 day, off),
  no final snapshot, not protected;
- `db-backups` (backup bucket): `forceDestroy`, versioning Suspended, no Object Lock, not
  protected; `archive-backups`: Object Lock in GOVERNANCE mode for 1 day;
- `audit-trail-logs` + `org-audit`: a single-region trail without log file validation, writing to
  an unversioned, unlocked bucket;
- aws-native: a backup bucket with versioning Suspended and no Object Lock, and a DB instance
  with 1 day of backups and no deletion protection.

Tier 2/3, with the traps a substring check falls into:
- `db-backups` replicates to `db-backups-copy`, a bucket in the *same* region; no backup bucket
  blocks public access; no database has a copy in another region;
- `db-backups-deletions`: an EventBridge rule (with an SNS target) that matches `PutObject`
  only, so deletions raise nothing;
- a DynamoDB table without point-in-time recovery or deletion protection, an AWS Backup vault
  without vault lock, an EBS volume no DLM policy or backup plan covers, an IAM access key
  for a CI user, and an EFS file system whose separate `BackupPolicy` turns automatic backups
  off (and which is not protected).

Config: `pulumi config set --secret dbPassword <value>`.
"""

import json

import pulumi
import pulumi_aws as aws
import pulumi_aws_native as aws_native

config = pulumi.Config()
db_password = config.require_secret("dbPassword")
BACKUP_TAGS = {"dr:backup": "true", "owner": "platform"}

# ---- Databases -----------------------------------------------------------------------------

aws.rds.Instance(
    "orders-db",
    engine="postgres",
    engine_version="16.4",
    instance_class="db.t4g.medium",
    allocated_storage=20,
    username="app",
    password=db_password,
    backup_retention_period=1,
    deletion_protection=False,
    skip_final_snapshot=True,
    delete_automated_backups=True,
)

cluster = aws.rds.Cluster(
    "ledger",
    engine="aurora-postgresql",
    engine_version="16.4",
    master_username="app",
    master_password=db_password,
    skip_final_snapshot=True,
)

for i in range(2):
    aws.rds.ClusterInstance(
        f"ledger-{i}",
        cluster_identifier=cluster.id,
        instance_class="db.r6g.large",
        engine=cluster.engine,
        engine_version=cluster.engine_version,
    )

# DocumentDB and Neptune clusters left at the defaults: 1-day backups, no deletion protection.
aws.docdb.Cluster(
    "catalog-docs",
    master_username="app",
    master_password=db_password,
    skip_final_snapshot=True,
)
aws.neptune.Cluster("social-graph")

# Redshift: the 1-day default snapshot retention, and no final snapshot on delete.
aws.redshift.Cluster(
    "warehouse",
    cluster_identifier="warehouse",
    node_type="ra3.xlplus",
    master_username="admin",
    manage_master_password=True,
    skip_final_snapshot=True,
)

# ElastiCache: automatic snapshots off, no final snapshot.
aws.elasticache.ReplicationGroup(
    "sessions",
    description="user sessions",
    node_type="cache.t4g.small",
    num_cache_clusters=2,
    snapshot_retention_limit=0,
)

# ---- Backup buckets ------------------------------------------------------------------------

backup_bucket = aws.s3.Bucket("db-backups", force_destroy=True, tags=BACKUP_TAGS)
aws.s3.BucketVersioning(
    "db-backups-versioning",
    bucket=backup_bucket.id,
    versioning_configuration={"status": "Suspended"},
)

archive_bucket = aws.s3.Bucket(
    "archive-backups",
    object_lock_enabled=True,
    tags=BACKUP_TAGS,
    opts=pulumi.ResourceOptions(protect=True),
)
aws.s3.BucketVersioning(
    "archive-backups-versioning",
    bucket=archive_bucket.id,
    versioning_configuration={"status": "Enabled"},
)
aws.s3.BucketObjectLockConfiguration(
    "archive-backups-object-lock",
    bucket=archive_bucket.id,
    rule={"default_retention": {"mode": "GOVERNANCE", "days": 1}},
)

# ---- CloudTrail: single-region, no validation, unprotected bucket -------------------------

trail_bucket = aws.s3.Bucket("audit-trail-logs", force_destroy=True)
aws.cloudtrail.Trail(
    "org-audit",
    s3_bucket_name=trail_bucket.id,
    is_multi_region_trail=False,
    enable_log_file_validation=False,
)

# ---- aws-native ----------------------------------------------------------------------------

aws_native.s3.Bucket(
    "native-backups",
    versioning_configuration={"status": "Suspended"},
    tags=[{"key": k, "value": v} for k, v in BACKUP_TAGS.items()],
)

aws_native.rds.DbInstance(
    "native-db",
    engine="postgres",
    engine_version="16.4",
    db_instance_class="db.t4g.medium",
    allocated_storage="20",
    master_username="app",
    master_user_password=db_password,
    backup_retention_period=1,
    deletion_protection=False,
)

# ---- Tier 2: replication that stays in the region, an alert that never fires --------------

copy_bucket = aws.s3.Bucket("db-backups-copy", tags=BACKUP_TAGS)
replication_role = aws.iam.Role(
    "backup-replication",
    assume_role_policy=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                       "Principal": {"Service": "s3.amazonaws.com"}}],
    }),
)
aws.s3.BucketReplicationConfig(
    "db-backups-replication",
    bucket=backup_bucket.id,
    role=replication_role.arn,
    rules=[{
        "id": "copy",
        "status": "Enabled",
        "filter": {"prefix": ""},
        "delete_marker_replication": {"status": "Disabled"},
        "destination": {"bucket": copy_bucket.arn},
    }],
)

topic = aws.sns.Topic("backup-alerts")
rule = aws.cloudwatch.EventRule(
    "db-backups-deletions",
    state="ENABLED",
    event_pattern=pulumi.Output.json_dumps({
        "source": ["aws.s3"],
        "detail-type": ["AWS API Call via CloudTrail"],
        "detail": {"eventSource": ["s3.amazonaws.com"], "eventName": ["PutObject"],
                   "requestParameters": {"bucketName": [backup_bucket.bucket]}},
    }),
)
aws.cloudwatch.EventTarget("db-backups-deletions", rule=rule.name, arn=topic.arn)

# ---- Tier 3 ----------------------------------------------------------------------------------

aws.dynamodb.Table(
    "orders-ledger",
    billing_mode="PAY_PER_REQUEST",
    hash_key="id",
    attributes=[{"name": "id", "type": "S"}],
)
aws.backup.Vault("primary-vault")
aws.ebs.Volume("app-data", availability_zone="us-east-1a", size=50, type="gp3")
shared_files = aws.efs.FileSystem("shared-files")
aws.efs.BackupPolicy("shared-files-backups", file_system_id=shared_files.id,
                     backup_policy={"status": "DISABLED"})
ci = aws.iam.User("ci-deployer")
aws.iam.AccessKey("ci-deployer-key", user=ci.name)

pulumi.export("backupBucket", backup_bucket.bucket)
