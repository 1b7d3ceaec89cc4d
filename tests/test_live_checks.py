"""Every live check, both ways, end to end: seed moto through boto3, scan over HTTP."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from tests.live_support import (
    ACCOUNT,
    PAB,
    bucket,
    copy_snapshot,
    db,
    deletion_rule,
    lock,
    one,
    pick,
    replicate,
    run_scan,
    trail,
)

pytestmark = pytest.mark.slow


# ---- RDS -------------------------------------------------------------------------------

def test_rds_retention_and_deletion_protection(aws):
    db(aws, "orders", retention=14, protect=True)
    db(aws, "legacy", retention=1, protect=False, engine="mysql")
    rds = aws.client("rds")
    rds.create_db_instance_read_replica(DBInstanceIdentifier="orders-rr",
                                        SourceDBInstanceIdentifier="orders")
    rds.create_db_cluster(DBClusterIdentifier="payments", Engine="aurora-postgresql",
                          MasterUsername="admin", MasterUserPassword="password-123",
                          BackupRetentionPeriod=3, DeletionProtection=True)
    rds.create_db_instance(DBInstanceIdentifier="payments-1", DBInstanceClass="db.r6g.large",
                           Engine="aurora-postgresql", DBClusterIdentifier="payments")
    findings = run_scan(aws).findings

    ok = one(findings, "rds-backup-retention", ":db:orders")
    assert ok.status == "pass" and ok.evidence["effectiveDays"] == 14
    bad = one(findings, "rds-backup-retention", ":db:legacy")
    assert bad.status == "fail" and "below the minimum of 7" in bad.message
    assert bad.evidence["backupRetentionPeriod"] == 1
    assert one(findings, "rds-deletion-protection", ":db:orders").status == "pass"
    dp = one(findings, "rds-deletion-protection", ":db:legacy")
    assert dp.status == "fail" and dp.evidence["deletionProtection"] is False
    # Aurora: judged on the cluster, members are not reported again; replicas exempt.
    cluster = one(findings, "rds-backup-retention", ":cluster:payments")
    assert cluster.status == "fail" and cluster.region == "us-east-1"
    assert not pick(findings, "rds-backup-retention", "payments-1")
    assert not pick(findings, "rds-backup-retention", "orders-rr")
    assert one(findings, "rds-deletion-protection", ":cluster:payments").status == "pass"


def test_rds_read_replicas_checked_when_asked(aws):
    db(aws, "orders", retention=14)
    aws.client("rds").create_db_instance_read_replica(DBInstanceIdentifier="orders-rr",
                                                      SourceDBInstanceIdentifier="orders")
    config = {"controls": {"rds-backup-retention": {"checkReadReplicas": True,
                                                    "minRetentionDays": 20}}}
    findings = run_scan(aws, regions=["us-east-1"], config=config).findings
    assert one(findings, "rds-backup-retention", ":db:orders-rr").status == "fail"
    assert one(findings, "rds-backup-retention", ":db:orders").evidence["minRetentionDays"] == 20


def test_rds_cross_region_backup(aws):
    db(aws, "orders")
    db(aws, "legacy")
    copy_snapshot(aws, "orders")
    now = dt.datetime.now(dt.UTC)
    findings = run_scan(aws, now=now).findings
    ok = one(findings, "rds-cross-region-backup", ":db:orders")
    assert ok.status == "pass"
    assert ok.evidence["recoveryPoints"][0]["region"] == "us-west-2"
    assert ok.evidence["achievedRpoHours"] < 1
    bad = one(findings, "rds-cross-region-backup", ":db:legacy")
    assert bad.status == "fail" and bad.evidence["recoveryPoints"] == []
    # 30 hours later the copy is older than maxSnapshotAgeHours (26): the RPO is reported.
    later = run_scan(aws, now=now + dt.timedelta(hours=30)).findings
    stale = one(later, "rds-cross-region-backup", ":db:orders")
    assert stale.status == "fail" and 29.9 <= stale.evidence["achievedRpoHours"] <= 30.1


def test_rds_cross_region_needs_a_second_region(aws):
    db(aws, "orders")
    findings = run_scan(aws, regions=["us-east-1"]).findings
    f = one(findings, "rds-cross-region-backup", ":db:orders")
    assert f.status == "error" and "only us-east-1 was scanned" in f.message


def test_aurora_cluster_snapshot_in_dr_region(aws):
    rds, rds_dr = aws.client("rds"), aws.client("rds", "us-west-2")
    for name in ("payments", "ledger"):
        rds.create_db_cluster(DBClusterIdentifier=name, Engine="aurora-postgresql",
                              MasterUsername="admin", MasterUserPassword="password-123",
                              BackupRetentionPeriod=7, DeletionProtection=True)
    rds.create_db_cluster_snapshot(DBClusterIdentifier="payments",
                                   DBClusterSnapshotIdentifier="payments-s")
    rds_dr.copy_db_cluster_snapshot(
        SourceDBClusterSnapshotIdentifier=f"arn:aws:rds:us-east-1:{ACCOUNT}:cluster-snapshot:"
                                          "payments-s",
        TargetDBClusterSnapshotIdentifier="payments-s-dr", SourceRegion="us-east-1")
    findings = run_scan(aws).findings
    assert one(findings, "rds-cross-region-backup", ":cluster:payments").status == "pass"
    assert one(findings, "rds-cross-region-backup", ":cluster:ledger").status == "fail"


# ---- backup buckets --------------------------------------------------------------------

def test_bucket_scope_reasons(aws):
    bucket(aws, "acme-backups", versioned=True)
    bucket(aws, "exports", tags={"dr:backup": "true"})
    bucket(aws, "website")
    bucket(aws, "trail-logs")
    trail(aws, "main", "trail-logs")
    findings = run_scan(aws, regions=["us-east-1"]).findings
    reasons = {f.resource: f.evidence["inScopeBecause"]
               for f in pick(findings, "backup-bucket-versioning")}
    assert reasons["arn:aws:s3:::acme-backups"] == ["name matches '(?i)backup'"]
    assert reasons["arn:aws:s3:::exports"] == ["tag dr:backup=true"]
    assert reasons["arn:aws:s3:::trail-logs"] == ["CloudTrail destination of trail main"]
    assert "arn:aws:s3:::website" not in reasons


def test_bucket_versioning(aws):
    bucket(aws, "a-backup", versioned=True)
    bucket(aws, "b-backup")
    s3 = bucket(aws, "c-backup", versioned=True)
    s3.put_bucket_versioning(Bucket="c-backup", VersioningConfiguration={"Status": "Suspended"})
    bucket(aws, "d-backup", lock=True)
    findings = run_scan(aws, regions=["us-east-1"]).findings
    assert one(findings, "backup-bucket-versioning", "a-backup").status == "pass"
    b = one(findings, "backup-bucket-versioning", "b-backup")
    assert b.status == "fail" and b.evidence["versioning"] is None
    c = one(findings, "backup-bucket-versioning", "c-backup")
    assert c.status == "fail" and "Suspended" in c.message
    assert one(findings, "backup-bucket-versioning", "d-backup").status == "pass"


def test_bucket_object_lock_mode_and_days(aws):
    for name, mode, days, years in (("ok-backup", "COMPLIANCE", 30, None),
                                    ("gov-backup", "GOVERNANCE", 90, None),
                                    ("short-backup", "COMPLIANCE", 10, None),
                                    ("year-backup", "COMPLIANCE", None, 1)):
        lock(bucket(aws, name, lock=True), name, mode, days, years)
    bucket(aws, "norule-backup", lock=True)
    bucket(aws, "none-backup", versioned=True)
    findings = run_scan(aws, regions=["us-east-1"]).findings
    ok = one(findings, "backup-bucket-object-lock", "ok-backup")
    assert ok.status == "pass" and ok.evidence["mode"] == "COMPLIANCE" and ok.evidence["days"] == 30
    gov = one(findings, "backup-bucket-object-lock", "gov-backup")
    assert gov.status == "fail" and "mode is GOVERNANCE" in gov.message
    short = one(findings, "backup-bucket-object-lock", "short-backup")
    assert short.status == "fail" and "10 days, below 30" in short.message
    year = one(findings, "backup-bucket-object-lock", "year-backup")
    assert year.status == "pass" and year.evidence["days"] == 365
    assert "no default retention" in one(findings, "backup-bucket-object-lock",
                                         "norule-backup").message
    assert one(findings, "backup-bucket-object-lock", "none-backup").status == "fail"
    # GOVERNANCE accepted when configured so
    config = {"controls": {"backup-bucket-object-lock": {
        "allowedLockModes": ["COMPLIANCE", "GOVERNANCE"], "minLockDays": 60}}}
    again = run_scan(aws, regions=["us-east-1"], config=config).findings
    assert one(again, "backup-bucket-object-lock", "gov-backup").status == "pass"
    assert one(again, "backup-bucket-object-lock", "ok-backup").status == "fail"


def test_bucket_public_access_block(aws):
    bucket(aws, "full-backup", pab=PAB)
    bucket(aws, "partial-backup", pab={**PAB, "RestrictPublicBuckets": False})
    bucket(aws, "open-backup")
    findings = run_scan(aws, regions=["us-east-1"]).findings
    assert one(findings, "backup-bucket-public-access-block", "full-backup").status == "pass"
    partial = one(findings, "backup-bucket-public-access-block", "partial-backup")
    assert partial.status == "fail" and "restrictPublicBuckets" in partial.message
    assert partial.evidence["publicAccessBlock"]["blockPublicAcls"] is True
    assert one(findings, "backup-bucket-public-access-block", "open-backup").status == "fail"


def test_bucket_replication_needs_another_region(aws):
    s3 = bucket(aws, "cross-backup", versioned=True)
    bucket(aws, "dr-copy", region="us-west-2", versioned=True)
    replicate(s3, "cross-backup", "dr-copy")
    s3 = bucket(aws, "same-backup", versioned=True)
    bucket(aws, "same-copy", versioned=True)
    replicate(s3, "same-backup", "same-copy")
    bucket(aws, "lonely-backup", versioned=True)
    findings = run_scan(aws).findings
    ok = one(findings, "backup-bucket-replication", "cross-backup")
    assert ok.status == "pass" and ok.evidence["replication"][0]["region"] == "us-west-2"
    same = one(findings, "backup-bucket-replication", "same-backup")
    assert same.status == "fail" and "only within us-east-1" in same.message
    assert one(findings, "backup-bucket-replication", "lonely-backup").status == "fail"
    # The destination of a backup bucket's replication is a backup bucket too.
    dest = one(findings, "backup-bucket-versioning", "dr-copy")
    assert dest.evidence["inScopeBecause"] == [
        "replication destination of backup bucket cross-backup"]
    # ... that needs no replication of its own when it is the copy in another region
    copy = one(findings, "backup-bucket-replication", "dr-copy")
    assert copy.status == "pass" and "cross-region copy of cross-backup" in copy.message
    assert one(findings, "backup-bucket-replication", "same-copy").status == "fail"


def test_deletion_alerts_eventbridge_with_data_events(aws):
    for name in ("watched-backup", "nodata-backup", "notarget-backup", "off-backup"):
        bucket(aws, name, versioned=True)
    bucket(aws, "trail-logs")
    trail(aws, "main", "trail-logs", data_buckets=["watched-backup", "notarget-backup",
                                                   "off-backup"])
    deletion_rule(aws, "watch", ["watched-backup", "nodata-backup"])
    deletion_rule(aws, "no-target", ["notarget-backup"], target=False)
    deletion_rule(aws, "disabled", ["off-backup"], state="DISABLED")
    findings = run_scan(aws, regions=["us-east-1"]).findings
    ok = one(findings, "backup-bucket-deletion-alerts", "watched-backup")
    assert ok.status == "pass"
    assert ok.evidence["alerts"][0]["kind"] == "eventbridge+cloudtrail"
    assert ok.evidence["alerts"][0]["detail"]["trail"].endswith(":trail/main")
    nodata = one(findings, "backup-bucket-deletion-alerts", "nodata-backup")
    assert nodata.status == "fail"
    assert "no logging trail records S3 write data events" in nodata.evidence["alertNotes"][0]
    notarget = one(findings, "backup-bucket-deletion-alerts", "notarget-backup")
    assert notarget.status == "fail" and "has no target" in notarget.evidence["alertNotes"][0]
    assert one(findings, "backup-bucket-deletion-alerts", "off-backup").status == "fail"


def test_deletion_alerts_partial_pattern_and_advanced_selectors(aws):
    bucket(aws, "partial-backup", versioned=True)
    bucket(aws, "adv-backup", versioned=True)
    bucket(aws, "trail-logs")
    ct = trail(aws, "main", "trail-logs")
    ct.put_event_selectors(TrailName="main", AdvancedEventSelectors=[{
        "Name": "s3-writes", "FieldSelectors": [
            {"Field": "eventCategory", "Equals": ["Data"]},
            {"Field": "resources.type", "Equals": ["AWS::S3::Object"]},
            {"Field": "readOnly", "Equals": ["false"]}]}])
    deletion_rule(aws, "objects-only", ["partial-backup"], events=["DeleteObject"])
    events = aws.client("events")
    events.put_rule(Name="wild", State="ENABLED", EventPattern=json.dumps({
        "source": ["aws.s3"], "detail": {"eventName": [{"prefix": "Delete"}],
                                         "requestParameters": {"bucketName": [
                                             {"wildcard": "adv-*"}]}}}))
    topic = aws.client("sns").create_topic(Name="t")["TopicArn"]
    events.put_targets(Rule="wild", Targets=[{"Id": "1", "Arn": topic}])
    findings = run_scan(aws, regions=["us-east-1"]).findings
    partial = one(findings, "backup-bucket-deletion-alerts", "partial-backup")
    assert partial.status == "fail"
    assert "but not DeleteObjects, DeleteBucket" in partial.evidence["alertNotes"][0]
    assert one(findings, "backup-bucket-deletion-alerts", "adv-backup").status == "pass"


def test_deletion_alerts_s3_notifications(aws):
    s3 = bucket(aws, "notified-backup", versioned=True)
    bucket(aws, "created-only-backup", versioned=True)
    queue = aws.client("sqs").create_queue(QueueName="deletes")["QueueUrl"]
    arn = aws.client("sqs").get_queue_attributes(
        QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    s3.put_bucket_notification_configuration(Bucket="notified-backup", NotificationConfiguration={
        "QueueConfigurations": [{"QueueArn": arn, "Events": ["s3:ObjectRemoved:*"]}]})
    s3.put_bucket_notification_configuration(
        Bucket="created-only-backup", NotificationConfiguration={
            "QueueConfigurations": [{"QueueArn": arn, "Events": ["s3:ObjectCreated:*"]}]})
    findings = run_scan(aws, regions=["us-east-1"]).findings
    ok = one(findings, "backup-bucket-deletion-alerts", "notified-backup")
    assert ok.status == "pass" and ok.evidence["alerts"][0]["kind"] == "s3-notification (sqs)"
    assert one(findings, "backup-bucket-deletion-alerts", "created-only-backup").status == "fail"


# ---- CloudTrail ------------------------------------------------------------------------

def test_cloudtrail_enabled(aws):
    bucket(aws, "logs-a")
    trail(aws, "good", "logs-a")
    findings = run_scan(aws).findings
    f = one(findings, "cloudtrail-enabled", f"arn:aws:iam::{ACCOUNT}:root")
    assert f.status == "pass" and f.evidence["trails"][0]["status"] == "pass"


@pytest.mark.parametrize("kw, problem", [
    ({"multi_region": False}, "isMultiRegionTrail is false"),
    ({"validation": False}, "enableLogFileValidation is false"),
    ({"logging": False}, "enableLogging is false"),
])
def test_cloudtrail_enabled_fails(aws, kw, problem):
    bucket(aws, "logs-a")
    trail(aws, "weak", "logs-a", **kw)
    f = one(run_scan(aws).findings, "cloudtrail-enabled", ":root")
    assert f.status == "fail" and problem in f.message


def test_cloudtrail_enabled_without_trail(aws):
    f = one(run_scan(aws, regions=["us-east-1"]).findings, "cloudtrail-enabled", ":root")
    assert f.status == "fail" and "no CloudTrail trail" in f.message


def test_cloudtrail_bucket_protected(aws):
    lock(bucket(aws, "locked-logs", lock=True), "locked-logs")
    bucket(aws, "plain-logs", versioned=True)
    trail(aws, "good", "locked-logs")
    trail(aws, "bad", "plain-logs")
    findings = run_scan(aws, regions=["us-east-1"]).findings
    good = one(findings, "cloudtrail-bucket-protected", "trail/good")
    assert good.status == "pass" and good.evidence["objectLockEnabled"] is True
    bad = one(findings, "cloudtrail-bucket-protected", "trail/bad")
    assert bad.status == "fail" and "lacks Object Lock" in bad.message


# ---- IAM, state, tables, vaults ---------------------------------------------------------

def test_iam_access_key_rotation(aws):
    iam = aws.client("iam")
    iam.create_user(UserName="ci")
    active = iam.create_access_key(UserName="ci")["AccessKey"]["AccessKeyId"]
    iam.create_user(UserName="old")
    idle = iam.create_access_key(UserName="old")["AccessKey"]["AccessKeyId"]
    iam.update_access_key(UserName="old", AccessKeyId=idle, Status="Inactive")
    now = dt.datetime.now(dt.UTC)
    findings = run_scan(aws, regions=["us-east-1"], now=now).findings
    assert one(findings, "iam-access-key-rotation", active).status == "pass"
    assert not pick(findings, "iam-access-key-rotation", idle)  # inactive keys don't count
    root = one(findings, "iam-access-key-rotation", f"arn:aws:iam::{ACCOUNT}:root")
    assert root.status == "pass" and root.evidence["AccountAccessKeysPresent"] == 0
    later = run_scan(aws, regions=["us-east-1"], now=now + dt.timedelta(days=100)).findings
    old = one(later, "iam-access-key-rotation", active)
    assert old.status == "fail" and old.evidence["ageDays"] >= 99


def _state_bucket(aws, name, versions, versioned=True, prefix=""):
    s3 = bucket(aws, name, versioned=versioned, pab=PAB)
    for stack, n in versions.items():
        for i in range(n):
            s3.put_object(Bucket=name, Key=f"{prefix}.pulumi/stacks/proj/{stack}.json",
                          Body=json.dumps({"serial": i}).encode())
        s3.put_object(Bucket=name, Key=f"{prefix}.pulumi/stacks/proj/{stack}.json.bak",
                      Body=b"{}")
    return s3


def test_pulumi_state_backend(aws):
    _state_bucket(aws, "state-ok", {"prod": 3, "dev": 2})
    _state_bucket(aws, "state-once", {"prod": 2, "dev": 1})
    ok = run_scan(aws, regions=["us-east-1"], config={"scope": {"stateBucket": "state-ok"}})
    f = one(ok.findings, "pulumi-state-backend", "state-ok")
    assert f.status == "pass"
    assert f.evidence["checkpointVersions"] == {".pulumi/stacks/proj/dev.json": 2,
                                                ".pulumi/stacks/proj/prod.json": 3}
    bad = run_scan(aws, regions=["us-east-1"], config={"scope": {"stateBucket": "state-once"}})
    f = one(bad.findings, "pulumi-state-backend", "state-once")
    assert f.status == "fail" and ".pulumi/stacks/proj/dev.json" in f.message
    assert "Pulumi state bucket" in one(bad.findings, "backup-bucket-versioning",
                                        "state-once").evidence["inScopeBecause"]


def test_pulumi_state_backend_from_env_with_prefix(aws, monkeypatch):
    _state_bucket(aws, "tf-state", {"prod": 1}, versioned=False, prefix="team-a/")
    monkeypatch.setenv("PULUMI_BACKEND_URL", "s3://tf-state/team-a?region=us-east-1")
    findings = run_scan(aws, regions=["us-east-1"]).findings
    f = one(findings, "pulumi-state-backend", "tf-state")
    assert f.status == "fail" and "versioning is unset" in f.message
    assert list(f.evidence["checkpointVersions"]) == ["team-a/.pulumi/stacks/proj/prod.json"]


def test_pulumi_state_backend_not_configured(aws, monkeypatch):
    monkeypatch.delenv("PULUMI_BACKEND_URL", raising=False)
    result = run_scan(aws, regions=["us-east-1"])
    assert not pick(result.findings, "pulumi-state-backend")
    assert any("pulumi-state-backend" in n for n in result.run["skipped"]["notes"])


def test_dynamodb_recovery(aws):
    ddb = aws.client("dynamodb")
    for name, protect in (("sessions", True), ("flags", False)):
        ddb.create_table(TableName=name, BillingMode="PAY_PER_REQUEST",
                         KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                         AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                         DeletionProtectionEnabled=protect)
    ddb.update_continuous_backups(TableName="sessions", PointInTimeRecoverySpecification={
        "PointInTimeRecoveryEnabled": True})
    findings = run_scan(aws, regions=["us-east-1"]).findings
    assert one(findings, "dynamodb-recovery", "table/sessions").status == "pass"
    flags = one(findings, "dynamodb-recovery", "table/flags")
    assert flags.status == "fail" and flags.evidence["pointInTimeRecovery"] is False


def test_backup_vault_lock(aws):
    backup = aws.client("backup")
    backup.create_backup_vault(BackupVaultName="locked")
    backup.put_backup_vault_lock_configuration(BackupVaultName="locked", MinRetentionDays=30,
                                               ChangeableForDays=3)
    backup.create_backup_vault(BackupVaultName="short")
    backup.put_backup_vault_lock_configuration(BackupVaultName="short", MinRetentionDays=3)
    backup.create_backup_vault(BackupVaultName="open")
    # past the compliance lock's grace time (moto dates it from the wall clock)
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=4)
    findings = run_scan(aws, regions=["us-east-1"], now=later).findings
    assert one(findings, "backup-vault-lock", "vault:locked").status == "pass"
    assert "below 7" in one(findings, "backup-vault-lock", "vault:short").message
    assert one(findings, "backup-vault-lock", "vault:open").status == "fail"


def test_scp_outside_an_organization_fails(aws):
    f = one(run_scan(aws, regions=["us-east-1"]).findings, "scp-deny-backup-deletion", ":root")
    assert f.status == "fail" and "not in an AWS Organization" in f.message


# ---- EBS (DLM is not in moto: the proxy answers for it) -----------------------------------

def _dlm(policies=None):
    from tests.faulty_proxy import Fault

    faults = [Fault("reply", "dlm", "GET /policies", reply={"Policies": [
        {"PolicyId": p, "State": "ENABLED"} for p in (policies or {})]})]
    faults += [Fault("reply", "dlm", f"GET /policies/{p}", reply={"Policy": {
        "PolicyId": p, "PolicyDetails": {"ResourceTypes": ["VOLUME"], "TargetTags": [
            {"Key": k, "Value": v} for k, v in tags.items()]}}})
        for p, tags in (policies or {}).items()]
    return faults


def _volume(aws, tags=None, snapshot=False):
    ec2 = aws.client("ec2")
    kw = {"TagSpecifications": [{"ResourceType": "volume", "Tags": [
        {"Key": k, "Value": v} for k, v in tags.items()]}]} if tags else {}
    vid = ec2.create_volume(Size=10, AvailabilityZone="us-east-1a", **kw)["VolumeId"]
    if snapshot:
        ec2.create_snapshot(VolumeId=vid)
    return vid


def test_ebs_snapshot_coverage_by_recent_snapshot(aws):
    from tests.faulty_proxy import FaultyProxy

    fresh = _volume(aws, snapshot=True)
    with FaultyProxy(aws.url, _dlm()) as proxy:
        now = dt.datetime.now(dt.UTC)
        findings = run_scan(aws, regions=["us-east-1"], endpoint=proxy.url, now=now).findings
        assert not [s for s, _ in proxy.seen if s == "dlm"]  # not needed: snapshot is recent
        later = run_scan(aws, regions=["us-east-1"], endpoint=proxy.url,
                         now=now + dt.timedelta(hours=30)).findings
    f = one(findings, "ebs-snapshot-coverage", fresh)
    assert f.status == "pass" and f.evidence["newestSnapshotAgeHours"] < 1
    stale = one(later, "ebs-snapshot-coverage", fresh)
    assert stale.status == "fail" and stale.evidence["newestSnapshotAgeHours"] >= 29


def test_ebs_snapshot_coverage_by_dlm_and_backup(aws):
    from tests.faulty_proxy import Fault, FaultyProxy

    tagged = _volume(aws, tags={"backup": "daily"})
    bare = _volume(aws)
    selected = _volume(aws, tags={"tier": "gold"})
    # moto has no backup selections either: answer ListBackupPlans/-Selections/GetBackupSelection
    selection = {"SelectionName": "gold-volumes", "IamRoleArn": "arn:aws:iam::1:role/b",
                 "ListOfTags": [{"ConditionType": "STRINGEQUALS", "ConditionKey": "tier",
                                 "ConditionValue": "gold"}]}
    backup = [
        Fault("reply", "backup", "GET /backup/plans/", reply={"BackupPlansList": [
            {"BackupPlanId": "plan-1", "BackupPlanName": "gold"}]}),
        Fault("reply", "backup", "GET /backup/plans/plan-1/selections/", reply={
            "BackupSelectionsList": [{"SelectionId": "sel-1", "BackupPlanId": "plan-1",
                                      "SelectionName": "gold-volumes"}]}),
        Fault("reply", "backup", "GET /backup/plans/plan-1/selections/sel-1", reply={
            "BackupSelection": selection, "SelectionId": "sel-1", "BackupPlanId": "plan-1"}),
    ]
    with FaultyProxy(aws.url, _dlm({"policy-1": {"backup": "daily"}}) + backup) as proxy:
        findings = run_scan(aws, regions=["us-east-1"], endpoint=proxy.url).findings
    assert one(findings, "ebs-snapshot-coverage", tagged).evidence["coveredBy"] == [
        "dlm:policy-1"]
    assert one(findings, "ebs-snapshot-coverage", selected).evidence["coveredBy"] == [
        "backup:gold/gold-volumes"]
    f = one(findings, "ebs-snapshot-coverage", bare)
    assert f.status == "fail" and "not backed up" in f.message


def test_ebs_coverage_unknown_when_dlm_unreadable(aws, monkeypatch):
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")  # moto has no DLM: it answers HTTP 500
    vid = _volume(aws)
    f = one(run_scan(aws, regions=["us-east-1"]).findings, "ebs-snapshot-coverage", vid)
    assert f.status == "error" and "dlm:GetLifecyclePolicies" in f.message
