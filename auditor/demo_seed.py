"""A small, realistic organization seeded into the emulator for `dr-audit demo`.

Two accounts (management + a workloads member in an OU), two regions (us-east-1 primary,
us-west-2 DR), compliant and non-compliant databases, backup buckets, a trail, an SCP, an
EventBridge alert rule and a Pulumi state bucket with several checkpoint versions. These calls
change the emulator: they go through their own boto3 clients, never the auditor's session.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import boto3

PRIMARY, DR = "us-east-1", "us-west-2"
ROLE_NAME = "OrganizationAccountAccessRole"
STATE_BUCKET = "acme-pulumi-state"
_PAB = {"BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True,
        "RestrictPublicBuckets": True}


@dataclass
class DemoOrg:
    management: str
    member: str
    regions: tuple[str, str]
    role_name: str
    state_bucket: str


class _Seeder:
    def __init__(self, endpoint_url: str, credentials: dict[str, str] | None = None) -> None:
        self.url = endpoint_url
        self.creds = credentials or {}

    def client(self, service: str, region: str = PRIMARY) -> Any:
        return boto3.client(service, region_name=region, endpoint_url=self.url, **self.creds)

    def bucket(self, name: str, region: str, lock: bool = False,
               tags: dict[str, str] | None = None) -> Any:
        s3 = self.client("s3", region)
        kw: dict[str, Any] = {"Bucket": name, "ObjectLockEnabledForBucket": lock}
        if region != "us-east-1":
            kw["CreateBucketConfiguration"] = {"LocationConstraint": region}
        s3.create_bucket(**kw)
        if tags:
            s3.put_bucket_tagging(Bucket=name, Tagging={"TagSet": [
                {"Key": k, "Value": v} for k, v in tags.items()]})
        return s3

    def db(self, name: str, region: str, engine: str, retention: int, protect: bool,
           **kw: Any) -> None:
        self.client("rds", region).create_db_instance(
            DBInstanceIdentifier=name, DBInstanceClass="db.t3.micro", Engine=engine,
            MasterUsername="admin", MasterUserPassword="demo-password-1", AllocatedStorage=20,
            BackupRetentionPeriod=retention, DeletionProtection=protect, **kw)


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
    logs = s.bucket("acme-cloudtrail-logs", PRIMARY)
    logs.put_bucket_versioning(Bucket="acme-cloudtrail-logs",
                               VersioningConfiguration={"Status": "Enabled"})
    logs.put_public_access_block(Bucket="acme-cloudtrail-logs",
                                 PublicAccessBlockConfiguration=_PAB)
    ct = s.client("cloudtrail")
    ct.create_trail(Name="org-audit", S3BucketName="acme-cloudtrail-logs",
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
    for stack, versions in (("prod", 3), ("staging", 2)):
        key = f".pulumi/stacks/acme-platform/{stack}.json"
        for i in range(versions):
            state.put_object(Bucket=STATE_BUCKET, Key=key,
                             Body=json.dumps({"version": 3, "checkpoint": {"serial": i}}))
        state.put_object(Bucket=STATE_BUCKET, Key=key + ".bak", Body=b"{}")
    # Databases: compliant with a DR copy, a neglected one, and an Aurora cluster.
    s.db("orders-db", PRIMARY, "postgres", 14, True)
    s.db("legacy-reporting", PRIMARY, "mysql", 1, False)
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
    backup = s.client("backup")
    backup.create_backup_vault(BackupVaultName="central")
    backup.put_backup_vault_lock_configuration(BackupVaultName="central", MinRetentionDays=30)
    backup.create_backup_vault(BackupVaultName="scratch")


def _member(s: _Seeder, member: str) -> None:
    # CreateAccount made the member's OrganizationAccountAccessRole, as AWS does.
    creds = s.client("sts").assume_role(RoleArn=f"arn:aws:iam::{member}:role/{ROLE_NAME}",
                                        RoleSessionName="demo-seed")["Credentials"]
    m = _Seeder(s.url, {"aws_access_key_id": creds["AccessKeyId"],
                        "aws_secret_access_key": creds["SecretAccessKey"],
                        "aws_session_token": creds["SessionToken"]})
    m.db("inventory-db", DR, "postgres", 3, True)
    archive = m.bucket("workloads-backup-archive", DR)
    archive.put_bucket_versioning(Bucket="workloads-backup-archive",
                                  VersioningConfiguration={"Status": "Enabled"})


def seed(endpoint_url: str) -> DemoOrg:
    """Seed the emulator at `endpoint_url` (credentials from the environment)."""
    s = _Seeder(endpoint_url)
    mgmt, member, _ = _organization(s)
    _management(s, mgmt)
    _member(s, member)
    return DemoOrg(mgmt, member, (PRIMARY, DR), ROLE_NAME, STATE_BUCKET)
