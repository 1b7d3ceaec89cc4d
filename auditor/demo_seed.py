"""A small, realistic organization seeded into the emulator for `dr-audit demo`.

Two accounts (management + a workloads member in an OU), two regions (us-east-1 primary,
us-west-2 DR), compliant and non-compliant databases, backup buckets, a trail, an SCP, an
EventBridge alert rule and a Pulumi state bucket with several checkpoint versions, plus three
days of CloudTrail log files in the trail bucket: background traffic, the changes that made the
planted gaps (who, when, from where: `_planted`), near misses, one failed attempt, and digest
files. These calls change the emulator: they go through their own boto3 clients, never the
auditor's session.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import secrets
from collections.abc import Callable
from typing import Any

import boto3

from drguard.records import record

from .logs import samples

PRIMARY, DR = "us-east-1", "us-west-2"
ROLE_NAME = "OrganizationAccountAccessRole"
STATE_BUCKET = "acme-pulumi-state"
TRAIL_BUCKET = "acme-cloudtrail-logs"
LOG_DAYS = 3
_PAB = {"BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True,
        "RestrictPublicBuckets": True}


@record
class DemoOrg:
    """The demo's seeded organization: accounts, regions, role and state bucket."""

    management: str
    member: str
    regions: tuple[str, str]
    role_name: str
    state_bucket: str
    trail_bucket: str = TRAIL_BUCKET
    log_files: int = 0  # CloudTrail log files written (digest files not counted)
    digest_files: int = 0
    log_records: int = 0


class _Seeder:
    def __init__(self, endpoint_url: str, credentials: dict[str, str] | None = None) -> None:
        self.url = endpoint_url
        self.creds = credentials or {}

    def client(self, service: str, region: str = PRIMARY) -> Any:
        return boto3.client(service, region_name=region, endpoint_url=self.url, **self.creds)

    def bucket(self, name: str, region: str, lock: bool = False,
               tags: dict[str, str] | None = None) -> Any:
        return create_bucket(self.client("s3", region), name, region, lock, tags)

    def db(self, name: str, region: str, engine: str, retention: int, protect: bool,
           **kw: Any) -> None:
        self.client("rds", region).create_db_instance(
            DBInstanceIdentifier=name, DBInstanceClass="db.t3.micro", Engine=engine,
            MasterUsername="admin", MasterUserPassword="demo-password-1", AllocatedStorage=20,
            BackupRetentionPeriod=retention, DeletionProtection=protect, **kw)


def create_bucket(s3: Any, name: str, region: str, lock: bool = False,
                  tags: dict[str, str] | None = None) -> Any:
    """Create a bucket in `region` (Object Lock at creation, tags); returns the client."""
    kw: dict[str, Any] = {"Bucket": name, "ObjectLockEnabledForBucket": lock}
    if region != "us-east-1":
        kw["CreateBucketConfiguration"] = {"LocationConstraint": region}
    s3.create_bucket(**kw)
    if tags:
        s3.put_bucket_tagging(Bucket=name, Tagging={"TagSet": [
            {"Key": k, "Value": v} for k, v in tags.items()]})
    return s3


def _lock(s3: Any, bucket: str, mode: str, days: int) -> None:
    s3.put_object_lock_configuration(Bucket=bucket, ObjectLockConfiguration={
        "ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": {"Mode": mode,
                                                                      "Days": days}}})


def _organization(s: _Seeder) -> tuple[str, str, str]:
    org = s.client("organizations")
    org.create_organization(FeatureSet="ALL")
    root = org.list_roots()["Roots"][0]["Id"]
    org.enable_policy_type(RootId=root, PolicyType="SERVICE_CONTROL_POLICY")
    workloads_ou = org.create_organizational_unit(ParentId=root, Name="workloads")
    ou = workloads_ou["OrganizationalUnit"]["Id"]
    member = org.create_account(AccountName="workloads-prod",
                                Email="aws+workloads@acme.example")["CreateAccountStatus"]
    member_id = member["AccountId"]
    org.move_account(AccountId=member_id, SourceParentId=root, DestinationParentId=ou)
    # A planted gap: besides leaving CloudTrail out, the break-glass exemption is not guarded
    # (nothing denies iam:CreateRole on it), so an admin of the member account can create a
    # role named break-glass and act as it: scp-deny-backup-deletion counts none of it.
    policy = {"Version": "2012-10-17", "Statement": [{
        "Sid": "ProtectBackups", "Effect": "Deny",
        "Action": ["s3:DeleteBucket", "s3:PutBucketVersioning",
                   "s3:PutBucketObjectLockConfiguration", "s3:BypassGovernanceRetention",
                   "s3:DeleteObjectVersion", "rds:DeleteDB*Snapshot",
                   "backup:DeleteRecoveryPoint", "backup:DeleteBackupVault"],
        "Resource": "*",
        "Condition": {"ArnNotLike": {"aws:PrincipalArn": "arn:aws:iam::*:role/break-glass"}}}]}
    scp = org.create_policy(Name="deny-backup-destruction", Type="SERVICE_CONTROL_POLICY",
                            Description="Nobody but break-glass destroys backups",
                            Content=json.dumps(policy))["Policy"]["PolicySummary"]["Id"]
    org.attach_policy(PolicyId=scp, TargetId=ou)
    mgmt = s.client("sts").get_caller_identity()["Account"]
    return mgmt, member_id, ou


def _management(s: _Seeder, mgmt: str) -> None:
    topic = s.client("sns").create_topic(Name="dr-alerts")["TopicArn"]
    topic_dr = s.client("sns", DR).create_topic(Name="dr-alerts")["TopicArn"]
    # Backup buckets: a compliant primary, its DR copy, an untidy export bucket.
    s3 = s.bucket("acme-backups-prod", PRIMARY, lock=True, tags={"dr:backup": "true"})
    _lock(s3, "acme-backups-prod", "COMPLIANCE", 30)
    s3.put_public_access_block(Bucket="acme-backups-prod", PublicAccessBlockConfiguration=_PAB)
    s3dr = s.bucket("acme-backups-dr", DR, lock=True)
    _lock(s3dr, "acme-backups-dr", "GOVERNANCE", 7)
    s3dr.put_public_access_block(Bucket="acme-backups-dr", PublicAccessBlockConfiguration=_PAB)
    s3dr.put_bucket_notification_configuration(Bucket="acme-backups-dr", NotificationConfiguration={
        "TopicConfigurations": [{"TopicArn": topic_dr, "Events": ["s3:ObjectRemoved:*"]}]})
    s3.put_bucket_replication(Bucket="acme-backups-prod", ReplicationConfiguration={
        "Role": f"arn:aws:iam::{mgmt}:role/s3-replication",
        "Rules": [{"ID": "to-dr", "Status": "Enabled", "Priority": 1, "Filter": {},
                   "DeleteMarkerReplication": {"Status": "Disabled"},
                   "Destination": {"Bucket": "arn:aws:s3:::acme-backups-dr"}}]})
    s.bucket("acme-db-exports", PRIMARY, tags={"dr:backup": "true", "team": "data"})
    s.bucket("acme-website-assets", PRIMARY, tags={"team": "web"})
    # The trail and its bucket (versioned, not locked).
    logs = s.bucket(TRAIL_BUCKET, PRIMARY)
    logs.put_bucket_versioning(Bucket=TRAIL_BUCKET,
                               VersioningConfiguration={"Status": "Enabled"})
    logs.put_public_access_block(Bucket=TRAIL_BUCKET, PublicAccessBlockConfiguration=_PAB)
    ct = s.client("cloudtrail")
    ct.create_trail(Name="org-audit", S3BucketName=TRAIL_BUCKET,
                    IsMultiRegionTrail=True, EnableLogFileValidation=True)
    ct.start_logging(Name="org-audit")
    ct.put_event_selectors(TrailName="org-audit", EventSelectors=[{
        "ReadWriteType": "WriteOnly", "IncludeManagementEvents": True,
        "DataResources": [{"Type": "AWS::S3::Object",
                           "Values": ["arn:aws:s3:::acme-backups-prod/"]}]}])
    events = s.client("events")
    events.put_rule(Name="backup-deletions", State="ENABLED", EventPattern=json.dumps({
        "source": ["aws.s3"], "detail-type": ["AWS API Call via CloudTrail"],
        "detail": {"eventSource": ["s3.amazonaws.com"],
                   "eventName": ["DeleteObject", "DeleteObjects", "DeleteBucket",
                                 "PutBucketVersioning", "PutBucketLifecycle"],
                   "requestParameters": {"bucketName": [{"prefix": "acme-backups"}]}}}))
    events.put_targets(Rule="backup-deletions", Targets=[{"Id": "sns", "Arn": topic}])
    # Pulumi state: versioned, private, several versions of each checkpoint.
    state = s.bucket(STATE_BUCKET, PRIMARY)
    state.put_bucket_versioning(Bucket=STATE_BUCKET, VersioningConfiguration={"Status": "Enabled"})
    state.put_public_access_block(Bucket=STATE_BUCKET, PublicAccessBlockConfiguration=_PAB)
    # Databases: compliant with a DR copy, a neglected one, and an Aurora cluster.
    s.db("orders-db", PRIMARY, "postgres", 14, True)
    s.db("legacy-reporting", PRIMARY, "mysql", 1, False)
    # made by hand for the platform team: in no stack (resource-managed-by-code fails)
    s.client("rds").add_tags_to_resource(
        ResourceName=f"arn:aws:rds:{PRIMARY}:{mgmt}:db:legacy-reporting",
        Tags=[{"Key": "dr:app", "Value": "acme-platform/prod"}])
    rds, rds_dr = s.client("rds"), s.client("rds", DR)
    rds.create_db_snapshot(DBInstanceIdentifier="orders-db", DBSnapshotIdentifier="orders-nightly")
    rds_dr.copy_db_snapshot(
        SourceDBSnapshotIdentifier=f"arn:aws:rds:{PRIMARY}:{mgmt}:snapshot:orders-nightly",
        TargetDBSnapshotIdentifier="orders-nightly-dr", SourceRegion=PRIMARY)
    rds.create_db_cluster(DBClusterIdentifier="payments", Engine="aurora-postgresql",
                          MasterUsername="admin", MasterUserPassword="demo-password-1",
                          BackupRetentionPeriod=7, DeletionProtection=True)
    rds.create_db_instance(DBInstanceIdentifier="payments-1", DBInstanceClass="db.r6g.large",
                           Engine="aurora-postgresql", DBClusterIdentifier="payments")
    rds.create_db_cluster_snapshot(DBClusterIdentifier="payments",
                                   DBClusterSnapshotIdentifier="payments-nightly")
    rds_dr.copy_db_cluster_snapshot(
        SourceDBClusterSnapshotIdentifier=(f"arn:aws:rds:{PRIMARY}:{mgmt}:cluster-snapshot:"
                                           "payments-nightly"),
        TargetDBClusterSnapshotIdentifier="payments-nightly-dr", SourceRegion=PRIMARY)
    # Identity, tables, vaults.
    iam = s.client("iam")
    iam.create_user(UserName="ci-deployer")
    iam.create_access_key(UserName="ci-deployer")
    ddb = s.client("dynamodb")
    for name, protected in (("sessions", True), ("feature-flags", False)):
        ddb.create_table(TableName=name, BillingMode="PAY_PER_REQUEST",
                         KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                         AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                         DeletionProtectionEnabled=protected)
        if protected:
            ddb.update_continuous_backups(TableName=name, PointInTimeRecoverySpecification={
                "PointInTimeRecoveryEnabled": True})
    # Recovery points for the achieved-RPO table: last night's dumps (primary and DR copy),
    # and a warehouse held to a 4-hour RPO by its dr:rpo tag; acme-db-exports stays empty.
    for bucket, region in (("acme-backups-prod", PRIMARY), ("acme-backups-dr", DR)):
        s.client("s3", region).put_object(Bucket=bucket, Key="orders-db/nightly.dump",
                                          Body=b"-- pg_dump")
    s.client("redshift").create_cluster(
        ClusterIdentifier="analytics", NodeType="ra3.xlplus", ClusterType="single-node",
        MasterUsername="admin", MasterUserPassword="Demo-password-1",
        Tags=[{"Key": "dr:rpo", "Value": "4h"}])
    # KMS: the central vault's key is enabled; the scratch vault's key is scheduled for
    # deletion (backup-kms-key-usable: one pass, one gap).
    kms = s.client("kms")
    central_key = kms.create_key(Description="acme backups")["KeyMetadata"]["Arn"]
    scratch = kms.create_key(Description="acme scratch backups")["KeyMetadata"]
    scratch_key = scratch["Arn"]
    kms.schedule_key_deletion(KeyId=scratch["KeyId"], PendingWindowInDays=7)
    backup = s.client("backup")
    backup.create_backup_vault(BackupVaultName="central", EncryptionKeyArn=central_key)
    backup.put_backup_vault_lock_configuration(BackupVaultName="central", MinRetentionDays=30)
    backup.create_backup_vault(BackupVaultName="scratch", EncryptionKeyArn=scratch_key)
    # Snapshots: orders-nightly stays private; a reporting extract was made public
    # (snapshot-not-public: one pass, one gap).
    rds.create_db_snapshot(DBInstanceIdentifier="legacy-reporting",
                           DBSnapshotIdentifier="legacy-reporting-extract")
    rds.modify_db_snapshot_attribute(DBSnapshotIdentifier="legacy-reporting-extract",
                                     AttributeName="restore", ValuesToAdd=["all"])
    # EFS: shared home directories with automatic backups; a build cache nobody backs up.
    efs = s.client("efs")
    efs.create_file_system(CreationToken="acme-shared-home", Backup=True, Encrypted=True,
                           Tags=[{"Key": "Name", "Value": "acme-shared-home"}])
    efs.create_file_system(CreationToken="acme-build-cache",
                           Tags=[{"Key": "Name", "Value": "acme-build-cache"}])
    # Neptune (RDS API; the emulator has no DocumentDB engine): a graph left at the defaults.
    rds.create_db_cluster(DBClusterIdentifier="acme-graph", Engine="neptune")
    # ElastiCache: sessions keep daily snapshots; a rate-limit cache keeps none.
    ec = s.client("elasticache")
    ec.create_replication_group(ReplicationGroupId="acme-sessions", Engine="valkey",
                                ReplicationGroupDescription="sessions", NumCacheClusters=1,
                                CacheNodeType="cache.t4g.small", SnapshotRetentionLimit=3)
    ec.create_cache_cluster(CacheClusterId="acme-rate-limits", Engine="redis",
                            CacheNodeType="cache.t4g.small", NumCacheNodes=1)
    _state_checkpoints(s, {"efs": [f["FileSystemId"] for f in
                                   efs.describe_file_systems()["FileSystems"]]})


# What each demo stack manages (Pulumi type token, physical name); legacy-reporting, the
# hand-made database, is in no stack: resource-managed-by-code fails on it.
_STACKS: dict[str, list[tuple[str, str]]] = {
    "prod": [("aws:rds/instance:Instance", "orders-db"),
             ("aws:rds/cluster:Cluster", "payments"),
             ("aws:rds/clusterInstance:ClusterInstance", "payments-1"),
             ("aws:dynamodb/table:Table", "sessions"),
             ("aws:s3/bucket:Bucket", "acme-backups-prod"),
             ("aws:s3/bucket:Bucket", "acme-backups-dr"),
             ("aws:s3/bucket:Bucket", TRAIL_BUCKET),
             ("aws:backup/vault:Vault", "central"),
             # receives the member account's copies: the critical tier's isolation depends on it
             ("aws:backup/vault:Vault", "scratch"),
             ("aws:elasticache/replicationGroup:ReplicationGroup", "acme-sessions"),
             ("aws:rds/instance:Instance", "inventory-db"),
             ("aws:s3/bucket:Bucket", "workloads-backup-archive")],
    "staging": [("aws:dynamodb/table:Table", "feature-flags"),
                ("aws:s3/bucket:Bucket", "acme-db-exports"),
                ("aws:s3/bucket:Bucket", "acme-website-assets"),
                ("aws:redshift/cluster:Cluster", "analytics"),
                ("aws:rds/cluster:Cluster", "acme-graph"),
                ("aws:elasticache/cluster:Cluster", "acme-rate-limits")],
}


def _state_checkpoints(s: _Seeder, ids: dict[str, list[str]]) -> None:
    """The state bucket in the layout Pulumi writes: each stack's checkpoint in several
    versions (the last one current), a `.bak` beside it, and the staging stack gzipped."""
    import gzip

    state = s.client("s3")
    stacks = {k: list(v) for k, v in _STACKS.items()}
    stacks["prod"] += [("aws:efs/fileSystem:FileSystem", i) for i in ids["efs"]]
    for stack, versions in (("prod", 3), ("staging", 2)):
        prefix = f"urn:pulumi:{stack}::acme-platform"
        resources: list[dict[str, Any]] = [
            {"urn": f"{prefix}::pulumi:pulumi:Stack::acme-platform-{stack}",
             "type": "pulumi:pulumi:Stack", "custom": False}]
        resources += [{"urn": f"{prefix}::{token}::{name}", "type": token, "custom": True,
                       "id": name, "outputs": {"name": name}} for token, name in stacks[stack]]
        key = f".pulumi/stacks/acme-platform/{stack}.json"
        gz = stack == "staging"
        for i in range(versions):
            doc = {"version": 3, "checkpoint": {
                "stack": f"organization/acme-platform/{stack}",
                "latest": {"manifest": {"serial": i},
                           "resources": resources if i == versions - 1 else resources[:1]}}}
            body = json.dumps(doc).encode()
            state.put_object(Bucket=STATE_BUCKET, Key=key + (".gz" if gz else ""),
                             Body=gzip.compress(body) if gz else body)
        state.put_object(Bucket=STATE_BUCKET, Key=key + ".bak", Body=b"{}")


def _member(s: _Seeder, member: str) -> None:
    # CreateAccount made the member's OrganizationAccountAccessRole, as AWS does.
    creds = s.client("sts").assume_role(RoleArn=f"arn:aws:iam::{member}:role/{ROLE_NAME}",
                                        RoleSessionName="demo-seed")["Credentials"]
    m = _Seeder(s.url, {"aws_access_key_id": creds["AccessKeyId"],
                        "aws_secret_access_key": creds["SecretAccessKey"],
                        "aws_session_token": creds["SessionToken"]})
    m.db("inventory-db", DR, "postgres", 3, True)
    archive = m.bucket("workloads-backup-archive", DR)
    for status in ("Enabled", "Suspended"):  # versioned once; suspended (see _PLANTED)
        archive.put_bucket_versioning(Bucket="workloads-backup-archive",
                                      VersioningConfiguration={"Status": status})


def _recovery(s: _Seeder, mgmt: str, member: str) -> None:
    """Copies in another account and the plans that make them. acme-backups-prod also
    replicates to the member's archive, replicas owned there; the databases, tables and file
    systems have no plan copying them to another account. The management account's nightly
    plan (us-west-2) copies to the member's vault-of-record, whose compliance lock is still in
    its grace time (the emulator cannot backdate it); the member's weekly plan keeps 7 days
    and copies to the management account's scratch vault, which has no lock."""
    creds = s.client("sts").assume_role(RoleArn=f"arn:aws:iam::{member}:role/{ROLE_NAME}",
                                        RoleSessionName="demo-seed-backup")["Credentials"]
    m = _Seeder(s.url, {"aws_access_key_id": creds["AccessKeyId"],
                        "aws_secret_access_key": creds["SecretAccessKey"],
                        "aws_session_token": creds["SessionToken"]})
    s.client("s3").put_bucket_replication(Bucket="acme-backups-prod", ReplicationConfiguration={
        "Role": f"arn:aws:iam::{mgmt}:role/s3-replication",
        "Rules": [{"ID": "to-dr", "Status": "Enabled", "Priority": 1, "Filter": {},
                   "DeleteMarkerReplication": {"Status": "Disabled"},
                   "Destination": {"Bucket": "arn:aws:s3:::acme-backups-dr"}},
                  {"ID": "to-workloads-archive", "Status": "Enabled", "Priority": 2,
                   "Filter": {}, "DeleteMarkerReplication": {"Status": "Disabled"},
                   "Destination": {"Bucket": "arn:aws:s3:::workloads-backup-archive",
                                   "Account": member,
                                   "AccessControlTranslation": {"Owner": "Destination"}}}]})
    record = m.client("backup", DR)
    record.create_backup_vault(BackupVaultName="vault-of-record")
    record.put_backup_vault_lock_configuration(BackupVaultName="vault-of-record",
                                               MinRetentionDays=35, ChangeableForDays=3)
    local = s.client("backup", DR)
    local.create_backup_vault(BackupVaultName="acme-dr")
    local.put_backup_vault_lock_configuration(BackupVaultName="acme-dr", MinRetentionDays=35)
    local.create_backup_plan(BackupPlan={"BackupPlanName": "acme-nightly", "Rules": [{
        "RuleName": "nightly", "TargetBackupVaultName": "acme-dr",
        "ScheduleExpression": "cron(0 5 ? * * *)", "Lifecycle": {"DeleteAfterDays": 35},
        "CopyActions": [{
            "DestinationBackupVaultArn": f"arn:aws:backup:{DR}:{member}:backup-vault:"
                                         "vault-of-record",
            "Lifecycle": {"DeleteAfterDays": 35}}]}]})
    m.client("backup").create_backup_plan(BackupPlan={"BackupPlanName": "workloads-weekly",
                                                      "Rules": [{
        "RuleName": "sundays", "TargetBackupVaultName": "Default",
        "ScheduleExpression": "cron(0 3 ? * SUN *)", "Lifecycle": {"DeleteAfterDays": 7},
        "CopyActions": [{
            "DestinationBackupVaultArn": f"arn:aws:backup:{PRIMARY}:{mgmt}:backup-vault:scratch",
            "Lifecycle": {"DeleteAfterDays": 7}}]}]})


# ---- CloudTrail logs -----------------------------------------------------------------------

_CLI = ("aws-cli/2.15.30 Python/3.11.8 Darwin/23.4.0 exe/x86_64 prompt/off "
        "command/{command}")
_BOTO3 = samples.AGENTS[1]
_PULUMI = samples.AGENTS[2]
_OLD_CLI = "aws-cli/1.16.312 Python/2.7.18 Linux/4.14.355-275.570.amzn2.x86_64 botocore/1.13.48"
_XMLNS = "http://s3.amazonaws.com/doc/2006-03-01/"
_S3, _RDS = "s3.amazonaws.com", "rds.amazonaws.com"


@record(frozen=True)
class _Actor:
    """Who called: an assumed role session (role set) or an IAM user, from where, with what."""

    role: str | None
    name: str
    ip: str
    agent: str

    def identity(self, account: str, rng: random.Random) -> dict[str, Any]:
        if self.role is None:
            return samples.identity(account, "IAMUser", session=self.name, rng=rng)
        return samples.identity(account, role=self.role, session=self.name, rng=rng)


BOB = _Actor("Admin", "bob", "203.0.113.42", _CLI.format(command="rds.modify-db-instance"))
CAROL = _Actor("DataEngineer", "carol", "198.51.100.23", _BOTO3)
DEPLOYER = _Actor("pulumi-deploy", "pulumi-ci", "198.51.100.7", _PULUMI)
ERIN = _Actor("BackupOperator", "erin", "203.0.113.15", "AWS Internal")
DAVE = _Actor("break-glass", "dave", "203.0.113.77",
              _CLI.format(command="s3api.put-bucket-versioning"))
LEGACY_CI = _Actor(None, "legacy-ci", "198.51.100.200", _OLD_CLI)


@record(frozen=True)
class _Planted:
    """One event of the story, `hours_ago` before the seed's `now`."""

    hours_ago: float
    member: bool  # in the member account (else management)
    region: str
    actor: _Actor
    source: str
    name: str
    params: Callable[[str], dict[str, Any]]  # account id -> requestParameters
    error: str | None = None


def _s3_params(bucket: str, region: str, **rp: Any) -> dict[str, Any]:
    host = f"{bucket}.s3.{region}.amazonaws.com" if region != PRIMARY else \
        f"{bucket}.s3.amazonaws.com"
    return {"bucketName": bucket, "Host": host, **rp}


def _lock_params(bucket: str, region: str, mode: str, days: int) -> dict[str, Any]:
    return _s3_params(bucket, region, **{"object-lock": ""}, ObjectLockConfiguration={
        "xmlns": _XMLNS, "ObjectLockEnabled": "Enabled",
        "Rule": {"DefaultRetention": {"Mode": mode, "Days": days}}})


_ARCHIVE = "workloads-backup-archive"
_DELETED_TRAIL_HOURS = 6 - 5 / 60  # the member's trail is deleted then: its logs stop

# The changes behind the planted gaps (and near misses that must not be reported), in the
# shapes CloudTrail records them. In the member account the backup SCP applies: only the
# break-glass role may change versioning, and legacy-ci's DeleteBucket is denied (an attempt).
_PLANTED: tuple[_Planted, ...] = (
    # near misses: the setup done right
    _Planted(70, True, DR, DAVE, _S3, "PutBucketVersioning", lambda a: _s3_params(
        _ARCHIVE, DR, versioning="", VersioningConfiguration={"Status": "Enabled",
                                                               "xmlns": _XMLNS})),
    _Planted(66, False, PRIMARY, DEPLOYER, _S3, "PutObjectLockConfiguration",
             lambda a: _lock_params("acme-backups-prod", PRIMARY, "COMPLIANCE", 30)),
    _Planted(65.9, False, PRIMARY, DEPLOYER, _S3, "PutBucketPublicAccessBlock",
             lambda a: _s3_params("acme-backups-prod", PRIMARY, publicAccessBlock="",
                                  PublicAccessBlockConfiguration={"xmlns": _XMLNS, **_PAB})),
    _Planted(60, False, PRIMARY, DEPLOYER, _RDS, "ModifyDBInstance", lambda a: {
        "dBInstanceIdentifier": "orders-db", "backupRetentionPeriod": 14,
        "applyImmediately": True}),
    # the gaps
    _Planted(52, False, PRIMARY, BOB, _RDS, "ModifyDBInstance", lambda a: {
        "dBInstanceIdentifier": "legacy-reporting", "backupRetentionPeriod": 1,
        "applyImmediately": True}),
    _Planted(52 - 4 / 60, False, PRIMARY, BOB, _RDS, "ModifyDBInstance", lambda a: {
        "dBInstanceIdentifier": "legacy-reporting", "deletionProtection": False,
        "applyImmediately": True}),
    _Planted(40, False, DR, DEPLOYER, _S3, "PutObjectLockConfiguration",
             lambda a: _lock_params("acme-backups-dr", DR, "GOVERNANCE", 7)),
    _Planted(30, True, DR, CAROL, _RDS, "ModifyDBInstance", lambda a: {
        "dBInstanceIdentifier": "inventory-db", "backupRetentionPeriod": 3,
        "applyImmediately": False}),
    _Planted(26, False, PRIMARY, ERIN, "backup.amazonaws.com",
             "DeleteBackupVaultLockConfiguration", lambda a: {"backupVaultName": "scratch"}),
    _Planted(20, True, DR, DAVE, _S3, "PutBucketVersioning", lambda a: _s3_params(
        _ARCHIVE, DR, versioning="", VersioningConfiguration={"Status": "Suspended",
                                                               "xmlns": _XMLNS})),
    _Planted(20 - 6 / 60, True, DR, DAVE, _S3, "DeleteBucketPublicAccessBlock",
             lambda a: _s3_params(_ARCHIVE, DR, publicAccessBlock="")),
    _Planted(6, True, DR, LEGACY_CI, "events.amazonaws.com", "DeleteRule", lambda a: {
        "name": "archive-deletions", "force": False}),
    _Planted(6 - 3 / 60, True, DR, LEGACY_CI, _S3, "DeleteBucket",
             lambda a: _s3_params(_ARCHIVE, DR), error="AccessDenied"),
    _Planted(_DELETED_TRAIL_HOURS, True, DR, LEGACY_CI, "cloudtrail.amazonaws.com",
             "DeleteTrail", lambda a: {
                 "name": f"arn:aws:cloudtrail:{DR}:{a}:trail/workloads-audit"}),
)


def _planted(p: _Planted, account: str, now: dt.datetime, rng: random.Random
             ) -> tuple[dt.datetime, dict[str, Any]]:
    """(eventTime, record) of one planted event."""
    t = now - dt.timedelta(hours=p.hours_ago)
    rp = p.params(account)
    rec = samples.record(p.name, p.source, rp, time=t, account=account, region=p.region,
                         user=p.actor.identity(account, rng), error_code=p.error, rng=rng)
    rec["sourceIPAddress"], rec["userAgent"] = p.actor.ip, p.actor.agent
    if p.error and p.source == _S3:
        rec["errorMessage"] = (f"User: {rec['userIdentity']['arn']} is not authorized to "
                               f"perform: s3:{p.name} on resource: \"arn:aws:s3:::"
                               f"{rp['bucketName']}\" with an explicit deny in a service "
                               "control policy")
    return t, rec


def _trail_logs(s: _Seeder, mgmt: str, member: str,
                now: dt.datetime | None = None) -> tuple[int, int, int]:
    """Write LOG_DAYS of CloudTrail files for both accounts and regions into the trail bucket,
    a file every 2-4 hours, and one digest file per account, region and day; (log files,
    digest files, records)."""
    now = (now or dt.datetime.now(dt.UTC)).replace(second=0, microsecond=0)
    rng = random.Random(20240502)
    planted: dict[tuple[str, str], list[tuple[dt.datetime, dict[str, Any]]]] = {}
    for p in _PLANTED:
        acct = member if p.member else mgmt
        planted.setdefault((acct, p.region), []).append(_planted(p, acct, now, rng))
    s3 = s.client("s3")
    files = digests = records = 0
    start = now - dt.timedelta(days=LOG_DAYS)
    for acct in (mgmt, member):
        end = now - dt.timedelta(minutes=10)
        if acct == member:  # its trail was deleted: nothing logged after that
            end = now - dt.timedelta(hours=_DELETED_TRAIL_HOURS, minutes=-1)
        trail = "org-audit" if acct == mgmt else "workloads-audit"
        for region in (PRIMARY, DR):
            events = planted.get((acct, region), [])
            by_day: dict[dt.date, list[tuple[dt.datetime, str, bytes]]] = {}
            lo = start
            while lo < end:
                hi = min(lo + dt.timedelta(minutes=rng.randrange(120, 240)), end)
                timed = [(t, r) for t, r in events if lo <= t < hi] + [
                    (t, samples.noise(rng, t, acct, region))
                    for t in (lo + (hi - lo) * rng.random()
                              for _ in range(rng.randrange(25, 60)))]
                timed.sort(key=lambda tr: tr[0])
                delivered = hi + dt.timedelta(minutes=rng.randrange(3, 8))
                key = samples.key(delivered, acct, region, suffix=secrets.token_hex(8).upper())
                body = samples.log_file([r for _, r in timed])
                s3.put_object(Bucket=TRAIL_BUCKET, Key=key, Body=body,
                              ContentType="application/json")
                by_day.setdefault(delivered.date(), []).append((delivered, key, body))
                files += 1
                records += len(timed)
                lo = hi
            for day in by_day.values():
                t = day[-1][0] + dt.timedelta(minutes=1)
                key = samples.digest_key(t, trail, acct, region)
                body = samples.digest_file(day[0][0], t, TRAIL_BUCKET, key,
                                           [(k, b) for _, k, b in day], acct)
                s3.put_object(Bucket=TRAIL_BUCKET, Key=key, Body=body, Metadata={
                    "signature": secrets.token_hex(256), "signature-algorithm": "SHA256withRSA"})
                digests += 1
    return files, digests, records


def seed(endpoint_url: str, now: dt.datetime | None = None) -> DemoOrg:
    """Seed the emulator at `endpoint_url` (credentials from the environment); CloudTrail
    logs cover the LOG_DAYS days before `now` (default: the current time)."""
    s = _Seeder(endpoint_url)
    mgmt, member, _ = _organization(s)
    _management(s, mgmt)
    _member(s, member)
    _recovery(s, mgmt, member)
    files, digests, records = _trail_logs(s, mgmt, member, now)
    return DemoOrg(mgmt, member, (PRIMARY, DR), ROLE_NAME, STATE_BUCKET, TRAIL_BUCKET, files,
                   digests, records)
