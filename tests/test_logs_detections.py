"""Every row of the audit-log table (controls.md), both ways: a match and a near miss."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from auditor.logs import detect, reader
from auditor.logs.detect import Detector
from auditor.logs.samples import identity, record
from drguard import registry
from drguard.findings import Finding, exit_code, merge, summarize
from drguard.settings import Settings, from_mapping

S3, RDS, CT = "s3.amazonaws.com", "rds.amazonaws.com", "cloudtrail.amazonaws.com"
ORG, EV, BK, IAM = ("organizations.amazonaws.com", "events.amazonaws.com",
                    "backup.amazonaws.com", "iam.amazonaws.com")
DDB = "dynamodb.amazonaws.com"
BACKUP = "nightly-backups"  # in scope by the default pattern (?i)backup
OTHER = "web-assets"


def hits(rec: dict[str, Any], settings: Settings | None = None,
         extra: dict[str, str] | None = None) -> set[tuple[str, str]]:
    assert reader.check(rec) is None
    return {(h.control, h.status)
            for h in Detector(settings or Settings(), extra).hits(rec)}


def s3(name: str, bucket: str = BACKUP, **rp: Any) -> dict[str, Any]:
    return record(name, S3, {"bucketName": bucket, "Host": f"{bucket}.s3.amazonaws.com", **rp})


def lock(mode: str | None, days: int | None = None, years: int | None = None) -> dict:
    retention = {k: v for k, v in (("Mode", mode), ("Days", days), ("Years", years)) if v}
    cfg: dict[str, Any] = {"ObjectLockEnabled": "Enabled"}
    if mode:
        cfg["Rule"] = {"DefaultRetention": retention}
    return s3("PutObjectLockConfiguration", ObjectLockConfiguration=cfg, **{"object-lock": ""})


def pab(**flags: bool) -> dict[str, Any]:
    return s3("PutBucketPublicAccessBlock", PublicAccessBlockConfiguration=flags,
              publicAccessBlock="")


ALL_ON = dict(BlockPublicAcls=True, IgnorePublicAcls=True, BlockPublicPolicy=True,
              RestrictPublicBuckets=True)
EXPIRE = {"ID": "old", "Status": "Enabled", "Filter": {"Prefix": ""},
          "Expiration": {"Days": 30}}
TRANSITION = {"ID": "cold", "Status": "Enabled", "Filter": {"Prefix": ""},
              "Transition": {"Days": 30, "StorageClass": "GLACIER"}}
FAIL = "fail"

CASES: list[tuple[str, dict[str, Any], set[tuple[str, str]]]] = [
    # rds-backup-retention
    ("retention below minimum", record("ModifyDBInstance", RDS, {
        "dBInstanceIdentifier": "orders", "backupRetentionPeriod": 3}),
     {("rds-backup-retention", FAIL)}),
    ("cluster retention zero", record("ModifyDBCluster", RDS, {
        "dBClusterIdentifier": "aurora", "backupRetentionPeriod": 0}),
     {("rds-backup-retention", FAIL)}),
    ("retention raised (near miss)", record("ModifyDBInstance", RDS, {
        "dBInstanceIdentifier": "orders", "backupRetentionPeriod": 14}), set()),
    ("retention at minimum (near miss)", record("ModifyDBInstance", RDS, {
        "dBInstanceIdentifier": "orders", "backupRetentionPeriod": 7}), set()),
    # rds-deletion-protection
    ("deletion protection off", record("ModifyDBInstance", RDS, {
        "dBInstanceIdentifier": "orders", "deletionProtection": False}),
     {("rds-deletion-protection", FAIL)}),
    ("cluster deletion protection off", record("ModifyDBCluster", RDS, {
        "dBClusterIdentifier": "aurora", "deletionProtection": False}),
     {("rds-deletion-protection", FAIL)}),
    ("deletion protection on (near miss)", record("ModifyDBInstance", RDS, {
        "dBInstanceIdentifier": "orders", "deletionProtection": True}), set()),
    ("unrelated modify (near miss)", record("ModifyDBInstance", RDS, {
        "dBInstanceIdentifier": "orders", "dBInstanceClass": "db.r6g.large"}), set()),
    # rds-final-snapshot (DeleteDBInstance is also rds-deletion-protection)
    ("delete skipping final snapshot", record("DeleteDBInstance", RDS, {
        "dBInstanceIdentifier": "orders", "skipFinalSnapshot": True,
        "deleteAutomatedBackups": False}),
     {("rds-final-snapshot", FAIL), ("rds-deletion-protection", FAIL)}),
    ("delete dropping automated backups", record("DeleteDBInstance", RDS, {
        "dBInstanceIdentifier": "orders", "skipFinalSnapshot": False,
        "finalDBSnapshotIdentifier": "orders-final", "deleteAutomatedBackups": True}),
     {("rds-final-snapshot", FAIL), ("rds-deletion-protection", FAIL)}),
    ("cluster delete, deleteAutomatedBackups unset = AWS default true",
     record("DeleteDBCluster", RDS, {"dBClusterIdentifier": "aurora",
                                     "skipFinalSnapshot": False,
                                     "finalDBSnapshotIdentifier": "aurora-final"}),
     {("rds-final-snapshot", FAIL), ("rds-deletion-protection", FAIL)}),
    ("delete with final snapshot, backups kept (near miss for final-snapshot)",
     record("DeleteDBInstance", RDS, {"dBInstanceIdentifier": "orders",
                                      "skipFinalSnapshot": False,
                                      "finalDBSnapshotIdentifier": "orders-final",
                                      "deleteAutomatedBackups": False}),
     {("rds-deletion-protection", FAIL)}),
    ("snapshot deleted", record("DeleteDBSnapshot", RDS, {"dBSnapshotIdentifier": "s1"}),
     {("rds-final-snapshot", FAIL)}),
    ("cluster snapshot deleted", record("DeleteDBClusterSnapshot", RDS, {
        "dBClusterSnapshotIdentifier": "cs1"}), {("rds-final-snapshot", FAIL)}),
    ("instance automated backup deleted", record("DeleteDBInstanceAutomatedBackup", RDS, {
        "dbiResourceId": "db-ABC"}), {("rds-final-snapshot", FAIL)}),
    ("cluster automated backup deleted", record("DeleteDBClusterAutomatedBackup", RDS, {
        "dbClusterResourceId": "cluster-ABC"}), {("rds-final-snapshot", FAIL)}),
    ("snapshot created (near miss)", record("CreateDBSnapshot", RDS, {
        "dBSnapshotIdentifier": "s1"}), set()),
    # backup-bucket-versioning
    ("versioning suspended", s3("PutBucketVersioning", VersioningConfiguration={
        "Status": "Suspended", "xmlns": "http://s3.amazonaws.com/doc/2006-03-01/"},
        versioning=""), {("backup-bucket-versioning", FAIL)}),
    ("versioning enabled (near miss)", s3("PutBucketVersioning", VersioningConfiguration={
        "Status": "Enabled"}, versioning=""), set()),
    ("versioning suspended out of scope (near miss)", s3(
        "PutBucketVersioning", OTHER, VersioningConfiguration={"Status": "Suspended"}), set()),
    # backup-bucket-object-lock
    ("lock mode weakened", lock("GOVERNANCE", days=30), {("backup-bucket-object-lock", FAIL)}),
    ("lock days shortened", lock("COMPLIANCE", days=5), {("backup-bucket-object-lock", FAIL)}),
    ("lock without default retention", lock(None), {("backup-bucket-object-lock", FAIL)}),
    ("lock compliance 30 days (near miss)", lock("COMPLIANCE", days=30), set()),
    ("lock compliance 1 year (near miss)", lock("COMPLIANCE", years=1), set()),
    ("bypass governance delete", s3("DeleteObject", key="db/1.dump", versionId="v1",
                                    **{"x-amz-bypass-governance-retention": "true"}),
     {("backup-bucket-object-lock", FAIL)}),
    ("bypass governance bulk delete", s3("DeleteObjects", delete="",
                                         **{"x-amz-bypass-governance-retention": "true"}),
     {("backup-bucket-object-lock", FAIL), ("backup-bucket-versioning", FAIL)}),
    ("version deleted for good", s3("DeleteObject", key="db/1.dump", versionId="v1"),
     {("backup-bucket-object-lock", FAIL)}),
    # data loss on backup buckets
    ("object deleted", s3("DeleteObject", key="db/1.dump"),
     {("backup-bucket-versioning", FAIL)}),
    ("objects bulk-deleted", s3("DeleteObjects", delete=""),
     {("backup-bucket-versioning", FAIL)}),
    ("object deleted out of scope (near miss)", s3("DeleteObject", OTHER, key="x"), set()),
    ("bypass out of scope (near miss)", s3("DeleteObject", OTHER, key="x", versionId="v",
                                           **{"x-amz-bypass-governance-retention": "true"}),
     set()),
    ("bucket deleted", s3("DeleteBucket"), {("resource-drift-deleted", FAIL)}),
    ("bucket deleted out of scope (near miss)", s3("DeleteBucket", OTHER), set()),
    ("lifecycle expiration", s3("PutBucketLifecycle", lifecycle="", LifecycleConfiguration={
        "Rule": EXPIRE}), {("backup-bucket-versioning", FAIL)}),
    ("lifecycle expiring old versions", s3("PutBucketLifecycle", LifecycleConfiguration={
        "Rule": [TRANSITION, {"ID": "nc", "Status": "Enabled",
                              "NoncurrentVersionExpiration": {"NoncurrentDays": 7}}]}),
     {("backup-bucket-versioning", FAIL)}),
    ("lifecycle transition only (near miss)", s3("PutBucketLifecycle", LifecycleConfiguration={
        "Rule": [TRANSITION]}), set()),
    ("lifecycle expiration disabled (near miss)", s3(
        "PutBucketLifecycle", LifecycleConfiguration={"Rule": {**EXPIRE, "Status": "Disabled"}}),
     set()),
    # backup-bucket-replication
    ("replication removed", s3("DeleteBucketReplication", replication=""),
     {("backup-bucket-replication", FAIL), ("backup-cross-account-copy", FAIL)}),
    ("replication removed out of scope (near miss)", s3("DeleteBucketReplication", OTHER),
     set()),
    # backup-bucket-deletion-alerts
    ("alert rule deleted", record("DeleteRule", EV, {"name": "backup-deletes", "force": False}),
     {("backup-bucket-deletion-alerts", FAIL)}),
    ("alert rule disabled", record("DisableRule", EV, {"name": "backup-deletes"}),
     {("backup-bucket-deletion-alerts", FAIL)}),
    ("alert targets removed", record("RemoveTargets", EV, {"rule": "backup-deletes",
                                                           "ids": ["sns"]}),
     {("backup-bucket-deletion-alerts", FAIL)}),
    ("rule enabled (near miss)", record("EnableRule", EV, {"name": "backup-deletes"}), set()),
    ("data events dropped", record("PutEventSelectors", CT, {
        "trailName": "main", "eventSelectors": [{"readWriteType": "All",
                                                 "includeManagementEvents": True,
                                                 "dataResources": []}]}),
     {("backup-bucket-deletion-alerts", FAIL)}),
    ("data events only for other buckets", record("PutEventSelectors", CT, {
        "trailName": "main", "eventSelectors": [{"readWriteType": "All", "dataResources": [
            {"type": "AWS::S3::Object", "values": [f"arn:aws:s3:::{OTHER}/"]}]}]}),
     {("backup-bucket-deletion-alerts", FAIL)}),
    ("data events for all buckets (near miss)", record("PutEventSelectors", CT, {
        "trailName": "main", "eventSelectors": [{"readWriteType": "WriteOnly", "dataResources": [
            {"type": "AWS::S3::Object", "values": ["arn:aws:s3"]}]}]}), set()),
    ("data events for the backup bucket (near miss)", record("PutEventSelectors", CT, {
        "trailName": "main", "eventSelectors": [{"readWriteType": "All", "dataResources": [
            {"type": "AWS::S3::Object", "values": [f"arn:aws:s3:::{BACKUP}/"]}]}]}), set()),
    ("advanced selectors with S3 write data events (near miss)", record(
        "PutEventSelectors", CT, {"trailName": "main", "advancedEventSelectors": [
            {"name": "s3", "fieldSelectors": [
                {"field": "eventCategory", "equals": ["Data"]},
                {"field": "resources.type", "equals": ["AWS::S3::Object"]}]}]}), set()),
    ("advanced selectors read-only data events", record(
        "PutEventSelectors", CT, {"trailName": "main", "advancedEventSelectors": [
            {"name": "s3", "fieldSelectors": [
                {"field": "eventCategory", "equals": ["Data"]},
                {"field": "resources.type", "equals": ["AWS::S3::Object"]},
                {"field": "readOnly", "equals": ["true"]}]}]}),
     {("backup-bucket-deletion-alerts", FAIL)}),
    # scp-deny-backup-deletion
    ("scp detached", record("DetachPolicy", ORG, {"policyId": "p-abcd1234",
                                                  "targetId": "r-ab12"}),
     {("scp-deny-backup-deletion", FAIL)}),
    ("scp deleted", record("DeletePolicy", ORG, {"policyId": "p-abcd1234"}),
     {("scp-deny-backup-deletion", FAIL)}),
    ("scp updated", record("UpdatePolicy", ORG, {"policyId": "p-abcd1234", "content": "{}"}),
     {("scp-deny-backup-deletion", FAIL)}),
    ("FullAWSAccess detached (near miss)", record("DetachPolicy", ORG, {
        "policyId": "p-FullAWSAccess", "targetId": "ou-ab12-cdef3456"}), set()),
    ("tag policy updated (near miss)", record("UpdatePolicy", ORG, {"policyId": "p-tag1"},
                                              response={"policy": {"policySummary": {
                                                  "id": "p-tag1", "type": "TAG_POLICY"}}}),
     set()),
    ("IAM DeletePolicy (near miss: other service)", record("DeletePolicy", IAM, {
        "policyArn": "arn:aws:iam::111122223333:policy/x"}), set()),
    # cloudtrail-enabled
    ("logging stopped", record("StopLogging", CT, {"name": "main"}),
     {("cloudtrail-enabled", FAIL)}),
    ("trail deleted", record("DeleteTrail", CT, {
        "name": "arn:aws:cloudtrail:us-east-1:111122223333:trail/main"}),
     {("cloudtrail-enabled", FAIL)}),
    ("trail single-region", record("UpdateTrail", CT, {"name": "main",
                                                       "isMultiRegionTrail": False}),
     {("cloudtrail-enabled", FAIL)}),
    ("trail validation off", record("UpdateTrail", CT, {"name": "main",
                                                        "enableLogFileValidation": False}),
     {("cloudtrail-enabled", FAIL)}),
    ("trail updated, still multi-region and validated (near miss)", record(
        "UpdateTrail", CT, {"name": "main", "isMultiRegionTrail": True,
                            "enableLogFileValidation": True, "s3BucketName": "t"}), set()),
    ("logging started (near miss)", record("StartLogging", CT, {"name": "main"}), set()),
    # backup-bucket-public-access-block
    ("public access block removed", s3("DeleteBucketPublicAccessBlock", publicAccessBlock=""),
     {("backup-bucket-public-access-block", FAIL)}),
    ("public access flag off", pab(**{**ALL_ON, "RestrictPublicBuckets": False}),
     {("backup-bucket-public-access-block", FAIL)}),
    ("public access flag omitted", pab(BlockPublicAcls=True, IgnorePublicAcls=True,
                                       BlockPublicPolicy=True),
     {("backup-bucket-public-access-block", FAIL)}),
    ("all public access flags on (near miss)", pab(**ALL_ON), set()),
    ("public access block removed out of scope (near miss)", s3(
        "DeleteBucketPublicAccessBlock", OTHER), set()),
    # backup-vault-lock
    ("vault deleted", record("DeleteBackupVault", BK, {"backupVaultName": "prod"}),
     {("backup-vault-lock", FAIL)}),
    ("vault lock removed", record("DeleteBackupVaultLockConfiguration", BK, {
        "backupVaultName": "prod"}), {("backup-vault-lock", FAIL), ("backup-air-gapped", FAIL)}),
    ("recovery point deleted", record("DeleteRecoveryPoint", BK, {
        "backupVaultName": "prod",
        "recoveryPointArn": "arn:aws:backup:us-east-1:111122223333:recovery-point:1"}),
     {("backup-vault-lock", FAIL)}),
    ("backup plan deleted", record("DeleteBackupPlan", BK, {"backupPlanId": "plan-1"}),
     {("backup-vault-lock", FAIL), ("backup-cross-account-copy", FAIL)}),
    ("vault created (near miss)", record("CreateBackupVault", BK, {
        "backupVaultName": "prod"}), set()),
    # resource-drift-deleted: DynamoDB tables
    ("table deleted", record("DeleteTable", DDB, {"tableName": "sessions"}),
     {("resource-drift-deleted", FAIL)}),
    ("table deleted by ARN", record("DeleteTable", DDB, {
        "tableName": "arn:aws:dynamodb:us-east-1:111122223333:table/sessions"}),
     {("resource-drift-deleted", FAIL)}),
    ("table updated (near miss)", record("UpdateTable", DDB, {
        "tableName": "sessions", "deletionProtectionEnabled": True}), set()),
    ("Glue DeleteTable (near miss: other service)", record("DeleteTable", "glue.amazonaws.com", {
        "databaseName": "analytics", "name": "sessions"}), set()),
    # iam-access-key-rotation
    ("root access key", record("CreateAccessKey", IAM, None, user=identity(kind="Root")),
     {("iam-access-key-rotation", FAIL)}),
    ("user access key (near miss)", record("CreateAccessKey", IAM, {"userName": "ci"},
                                           user=identity(kind="IAMUser", session="admin")),
     set()),
    ("root creating a user's key (near miss)", record(
        "CreateAccessKey", IAM, {"userName": "ci"}, user=identity(kind="Root")), set()),
]


@pytest.mark.parametrize("rec,expected", [(r, e) for _, r, e in CASES],
                         ids=[c[0] for c in CASES])
def test_audit_log_table(rec: dict[str, Any], expected: set[tuple[str, str]]) -> None:
    assert hits(rec) == expected


def _control_cases() -> list[tuple[str, dict[str, Any], set[tuple[str, str]]]]:
    """LOG_CASES of the per-control test modules (tests/controls/test_<control>.py)."""
    import importlib
    import pkgutil

    from tests import controls

    return [case for m in pkgutil.iter_modules(controls.__path__)
            for case in getattr(importlib.import_module(f"tests.controls.{m.name}"),
                                "LOG_CASES", ())]


def test_every_row_of_the_table_is_covered() -> None:
    declared = {(c.id, name) for c in registry.CONTROLS for det in c.detections
                for name in det.event_names}
    seen = {(ctrl, rec["eventName"]) for _, rec, exp in [*CASES, *_control_cases()]
            for ctrl, _ in exp}
    assert declared <= seen, declared - seen


def test_controls_with_detections_have_a_logs_source() -> None:
    for c in registry.CONTROLS:
        if c.detections:
            assert "logs" in c.sources, c.id


def test_failed_call_is_an_attempt_not_a_gap() -> None:
    rec = record("PutBucketVersioning", S3, {"bucketName": BACKUP,
                                             "VersioningConfiguration": {"Status": "Suspended"}},
                 error_code="AccessDenied")
    found = Detector(Settings()).hits(rec)
    assert [(h.control, h.status) for h in found] == [("backup-bucket-versioning", "attempt")]
    fs = detect.findings(found, Settings())
    assert fs[0].status == "attempt" and fs[0].event["errorCode"] == "AccessDenied"
    assert "AccessDenied" in fs[0].message
    assert exit_code(fs, "low") == 0


def test_thresholds_come_from_the_control_params() -> None:
    s = from_mapping({"controls": {
        "rds-backup-retention": {"minRetentionDays": 14},
        "backup-bucket-object-lock": {"allowedLockModes": ["COMPLIANCE", "GOVERNANCE"],
                                      "minLockDays": 365}}})
    assert hits(record("ModifyDBInstance", RDS, {"dBInstanceIdentifier": "o",
                                                 "backupRetentionPeriod": 10}), s)
    assert not hits(lock("GOVERNANCE", years=1), s)
    assert hits(lock("COMPLIANCE", days=300), s)


def test_scope_state_bucket_and_trail_bucket() -> None:
    rec = s3("DeleteBucket", "pulumi-state")
    assert not hits(rec)
    assert hits(rec, from_mapping({"scope": {"stateBucket": "pulumi-state"}}))
    assert hits(rec, extra={"pulumi-state": "trail destination"})


def test_configured_scp_and_rule_lists() -> None:
    s = from_mapping({"controls": {"scp-deny-backup-deletion": {"backupPolicyIds": ["p-keep"]},
                                   "backup-bucket-deletion-alerts": {
                                       "alertRuleNames": ["backup-*"]}}})
    assert hits(record("DetachPolicy", ORG, {"policyId": "p-keep"}), s)
    assert not hits(record("DetachPolicy", ORG, {"policyId": "p-other"}), s)
    assert hits(record("DeleteRule", EV, {"name": "backup-deletes"}), s)
    assert not hits(record("DeleteRule", EV, {"name": "nightly-cron"}), s)


def test_disabled_control_and_service_principal_are_not_reported() -> None:
    rec = s3("DeleteBucket")
    off = from_mapping({"controls": {"resource-drift-deleted": {"enabled": False}}})
    assert not hits(rec, off)
    svc = record("DeleteRecoveryPoint", BK, {"backupVaultName": "v", "recoveryPointArn": "x"},
                 user=identity(kind="AWSService"))
    assert not hits(svc)


def test_finding_shape() -> None:
    rec = record("ModifyDBInstance", RDS, {"dBInstanceIdentifier": "orders",
                                           "backupRetentionPeriod": 1,
                                           "masterUserPassword": "hunter2",
                                           "nested": {"clientSecret": "x", "ok": 1}},
                 region="eu-west-1", account="444455556666")
    (f,) = detect.findings(Detector(Settings()).hits(rec), Settings())
    d = f.to_dict()
    assert d["source"] == "logs" and d["status"] == "fail" and d["severity"] == "high"
    assert d["resource"] == "arn:aws:rds:eu-west-1:444455556666:db:orders"
    assert (d["account"], d["region"]) == ("444455556666", "eu-west-1")
    assert "hunter2" not in str(d) and "clientSecret" not in str(d)
    assert d["evidence"]["requestParameters"]["backupRetentionPeriod"] == 1
    ev = d["event"]
    assert ev["principal"].startswith("arn:aws:sts::") and ev["eventId"] == rec["eventID"]
    assert ev["time"] == rec["eventTime"] and ev["sourceIp"] == rec["sourceIPAddress"]
    assert "orders to 1 (ModifyDBInstance)" in f.message and "1 days" not in f.message
    assert "minRetentionDays (7)" in f.message and "Fix:" not in f.message


def test_findings_group_events_per_resource_and_keep_the_latest() -> None:
    t0 = dt.datetime(2024, 5, 2, 10, tzinfo=dt.UTC)
    recs = [s3("DeleteObject", key=f"k{i}") for i in range(3)]
    for i, r in enumerate(recs):
        r["eventTime"] = (t0 + dt.timedelta(minutes=10 - i)).strftime("%Y-%m-%dT%H:%M:%SZ")
    det = Detector(Settings())
    (f,) = detect.findings([h for r in recs for h in det.hits(r)], Settings())
    assert f.evidence["occurrences"] == 3
    assert f.event["eventId"] == recs[0]["eventID"]  # the most recent
    assert [e["eventId"] for e in f.evidence["earlierEvents"]] == [recs[1]["eventID"],
                                                                   recs[2]["eventID"]]


def test_waiver_applies_to_log_findings() -> None:
    waiver = {"control": "resource-drift-deleted", "resource": "arn:aws:s3:::nightly-*",
              "reason": "migration", "owner": "platform", "expires": "2999-01-01"}
    s = from_mapping({"controls": {}, "waivers": [waiver]})
    (f,) = detect.findings(Detector(s).hits(s3("DeleteBucket")), s)
    assert f.status == "waived" and f.waiver["owner"] == "platform"
    assert exit_code([f]) == 0


def test_delete_table_resource_and_attempt() -> None:
    rec = record("DeleteTable", DDB, {"tableName": "sessions"}, region="eu-west-1",
                 account="444455556666")
    (h,) = Detector(Settings()).hits(rec)
    assert h.resource == "arn:aws:dynamodb:eu-west-1:444455556666:table/sessions"
    assert "deleted the DynamoDB table sessions" in h.message
    denied = record("DeleteTable", DDB, {"tableName": "sessions"}, error_code="AccessDenied")
    assert hits(denied) == {("resource-drift-deleted", "attempt")}


def test_drift_links_a_deleted_table_to_its_delete_event() -> None:
    from auditor import drift
    from drguard.findings import Finding

    acct, table = "111122223333", "arn:aws:dynamodb:us-east-1:111122223333:table/"

    def gone(name: str) -> Finding:
        return Finding(control=drift.CONTROL, status="fail", source="live",
                       resource=table + name, message="gone", account=acct,
                       region="us-east-1")

    det = Detector(Settings())
    events = [h for r in (record("DeleteTable", DDB, {"tableName": "sessions"}, account=acct),
                          record("UpdateTable", DDB, {"tableName": "carts"}, account=acct),
                          record("DeleteTable", DDB, {"tableName": "carts"}, account=acct,
                                 error_code="AccessDenied"))
              for h in det.hits(r)]
    sessions, carts = gone("sessions"), gone("carts")
    drift.link_events([sessions, carts], events)
    assert sessions.event is not None and sessions.event["eventName"] == "DeleteTable"
    assert sessions.event["principal"] == events[0].event["principal"]
    assert carts.event is None  # an update and a denied delete explain nothing


def test_every_refused_call_is_its_own_attempt_beside_the_gap() -> None:
    """A refused call is reported as an attempt even when a successful call broke the same
    resource: one fail for the change, one attempt per refused call, each its own id, and
    merging (scan --logs, shards) never folds one into another."""
    t0 = dt.datetime(2024, 5, 2, 10, tzinfo=dt.UTC)
    suspend = {"bucketName": BACKUP, "VersioningConfiguration": {"Status": "Suspended"}}
    recs = [record("PutBucketVersioning", S3, suspend, time=t0, error_code="AccessDenied"),
            record("PutBucketVersioning", S3, suspend, time=t0 + dt.timedelta(minutes=1)),
            record("PutBucketVersioning", S3, suspend, time=t0 + dt.timedelta(minutes=2),
                   error_code="AccessDenied")]
    det = Detector(Settings())
    fs = detect.findings([h for r in recs for h in det.hits(r)], Settings())
    by_status = sorted((f.status, f.event["eventId"]) for f in fs
                       if f.control == "backup-bucket-versioning")
    assert by_status == sorted([("attempt", recs[0]["eventID"]), ("fail", recs[1]["eventID"]),
                                ("attempt", recs[2]["eventID"])])
    assert len({f.id for f in fs}) == len(fs)
    merged = merge(fs + [Finding.from_dict(f.to_dict()) for f in fs])
    assert sorted(f.status for f in merged) == ["attempt", "attempt", "fail"]
    assert summarize(merged)["by_status"]["attempt"] == 2


def test_one_attempt_per_refused_call_and_the_report_counts_them(tmp_path: Any) -> None:
    """Every refused call is one attempt finding of its own, also when it would have broken two
    controls (a vault lock removal) or when a successful call broke the same resource; the
    report's attempt count is the number of refused calls read, and no attempt is folded into
    another control's gap."""
    import json

    from auditor.cli import main
    from auditor.logs import samples

    t0 = dt.datetime(2024, 5, 2, 10, tzinfo=dt.UTC)
    suspend = {"bucketName": BACKUP, "VersioningConfiguration": {"Status": "Suspended"}}
    vault = {"backupVaultName": "vault-of-record"}
    recs = [record("PutBucketVersioning", S3, suspend, time=t0, error_code="AccessDenied"),
            record("PutBucketVersioning", S3, suspend, time=t0 + dt.timedelta(minutes=1)),
            record("DeleteBackupVaultLockConfiguration", BK, vault,
                   time=t0 + dt.timedelta(minutes=2), error_code="AccessDenied"),
            record("DeleteBucket", S3, {"bucketName": BACKUP},
                   time=t0 + dt.timedelta(minutes=3), error_code="AccessDenied")]
    refused = [r["eventID"] for r in recs if r.get("errorCode")]
    det = Detector(Settings())
    all_hits = [h for r in recs for h in det.hits(r)]
    assert detect.refused_calls(all_hits) == 3 < sum(h.status == "attempt" for h in all_hits)
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "a.json.gz").write_bytes(samples.log_file(recs))
    assert main(["logs", str(tmp_path / "logs"), "--output-dir", str(tmp_path / "out"),
                 "--format", "json"]) in (0, 1)
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    attempts = [f for f in report["findings"] if f["status"] == "attempt"]
    assert sorted(f["event"]["eventId"] for f in attempts) == sorted(refused)
    assert report["summary"]["attempts"] == report["summary"]["by_status"]["attempt"] == 3
    assert report["run"]["attempts"] == 3
    lock = next(f for f in attempts if f["event"]["eventName"].startswith("DeleteBackupVault"))
    pair = sorted(["backup-vault-lock", "backup-air-gapped"], key=lambda c: (
        -registry.SEVERITY_ORDER[registry.BY_ID[c].severity], c))  # most severe, then by id
    assert lock["control"] == pair[0]
    assert lock["evidence"]["wouldAlsoBreak"] == [pair[1]]
    gaps = [f for f in report["findings"] if f["status"] == "fail"]
    assert [f["event"]["eventId"] for f in gaps] == [recs[1]["eventID"]]
    assert all(f["status"] == "attempt" for f in report["findings"]
               if f["event"]["eventId"] in refused)


def test_remembered_scope_keeps_no_hostile_long_bucket_names() -> None:
    """The scope's answer per bucket name is remembered, but a log can name huge buckets (a
    record may hold megabytes): those names are not kept, so what the detector holds stays
    small whatever the records, and the answers are the scope's own."""
    import tracemalloc

    det = Detector(Settings())
    first = det.hits(s3("DeleteBucket"))  # remembered: the same answer the second time
    assert det.hits(s3("DeleteBucket")) == first and first
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for i in range(64):
            name = f"{i:04d}-backup-" + "x" * (1 << 18)  # 256 KiB each, 16 MiB in all
            assert {h.control for h in det.hits(s3("DeleteBucket", name))} == \
                {h.control for h in first}
            assert not det.hits(s3("DeleteBucket", f"{i:04d}-" + "y" * (1 << 18)))
        kept = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert kept < 1 << 20, kept


def test_destination_accounts_catch_a_copy_redirected_to_another_account() -> None:
    """An intruder keeps a cross-account copy but points it at an account they control:
    without destinationAccounts any other account counts (no gap); pinned to the backup
    account, the redirect is a gap of backup-cross-account-copy, for plans and replication."""
    vault = "arn:aws:backup:us-west-2:{}:backup-vault:vault-of-record"
    plan = record("UpdateBackupPlan", BK, {"backupPlanId": "plan-1", "backupPlan": {
        "backupPlanName": "nightly", "rules": [{
            "ruleName": "daily", "targetBackupVaultName": "prod",
            "copyActions": [{"destinationBackupVaultArn": vault.format("999988887777")}]}]}})
    replication = s3("PutBucketReplication", ReplicationConfiguration={"Rule": [{
        "Status": "Enabled", "Destination": {
            "Bucket": "arn:aws:s3:::exfil", "Account": "999988887777",
            "AccessControlTranslation": {"Owner": "Destination"}}}]}, replication="")
    pinned = from_mapping({"controls": {"backup-cross-account-copy": {
        "destinationAccounts": ["444455556666"]}}})
    assert ("backup-cross-account-copy", FAIL) not in hits(plan)
    assert ("backup-cross-account-copy", FAIL) not in hits(replication)
    assert ("backup-cross-account-copy", FAIL) in hits(plan, pinned)
    assert ("backup-cross-account-copy", FAIL) in hits(replication, pinned)
    # the pinned account itself: no gap
    to_backup = {**plan, "requestParameters": {**plan["requestParameters"], "backupPlan": {
        "backupPlanName": "nightly", "rules": [{"ruleName": "daily", "copyActions": [
            {"destinationBackupVaultArn": vault.format("444455556666")}]}]}}}
    assert ("backup-cross-account-copy", FAIL) not in hits(to_backup, pinned)

def test_one_event_delivered_twice_is_one_change(tmp_path: Any) -> None:
    """An organization trail and the account's own trail both deliver the same event (same
    eventID): read from both buckets it is still one change, and a refused call one attempt
    that would not 'also break' its own control."""
    from auditor.logs import run_logs, samples

    t0 = dt.datetime(2024, 5, 2, 10, tzinfo=dt.UTC)
    suspend = {"bucketName": BACKUP, "VersioningConfiguration": {"Status": "Suspended"}}
    changed = record("PutBucketVersioning", S3, suspend, time=t0)
    refused = record("DeleteBucket", S3, {"bucketName": BACKUP},
                     time=t0 + dt.timedelta(minutes=1), error_code="AccessDenied")
    for trail in ("org-trail", "account-trail"):
        (tmp_path / trail).mkdir()
        (tmp_path / trail / "a.json.gz").write_bytes(samples.log_file([changed, refused]))
    fs, meta = run_logs([str(tmp_path / "org-trail"), str(tmp_path / "account-trail")],
                        None, None, Settings(), workers=1)
    (gap,) = [f for f in fs if f.status == "fail"]
    assert gap.evidence["occurrences"] == 1 and "earlierEvents" not in gap.evidence
    (attempt,) = [f for f in fs if f.status == "attempt"]
    assert "wouldAlsoBreak" not in attempt.evidence
    assert meta["events"] == 1 and meta["attempts"] == 1


def test_a_caller_from_another_account_is_named_with_its_account() -> None:
    """A cross-account call (userIdentity type AWSAccount, no ARN): the principal names the
    calling account, not only an opaque principal id."""
    caller = {"type": "AWSAccount", "principalId": "AIDAEXAMPLEEXAMPLE:ops",
              "accountId": "999988887777"}
    rec = record("DeleteBackupVault", BK, {"backupVaultName": "vault-of-record"},
                 user=caller, account="111122223333")
    rec["recipientAccountId"] = "111122223333"
    (h, *_) = Detector(Settings()).hits(rec)
    assert "999988887777" in h.event["principal"] and "AIDAEXAMPLEEXAMPLE" in h.event["principal"]
    assert h.account == "111122223333"  # the account the vault is in
    # a principal with an ARN is named by it, as before
    assert detect.principal({"userIdentity": identity()}).startswith("arn:aws:sts::")


@pytest.mark.parametrize("code", ["Success", "success", " ", ""])
def test_an_error_code_that_says_success_is_a_change_not_an_attempt(code: str) -> None:
    """Log pipelines that normalise records (and Sigma's rules after them) write a successful
    call as errorCode "Success"; an empty errorCode is no error either. Such a call changed
    the bucket: a gap (exit 1), never a refused attempt (exit 0)."""
    rec = record("PutBucketVersioning", S3, {"bucketName": BACKUP,
                                             "VersioningConfiguration": {"Status": "Suspended"}})
    rec["errorCode"] = code
    found = Detector(Settings()).hits(rec)
    assert [(h.control, h.status) for h in found] == [("backup-bucket-versioning", "fail")]
    (f,) = detect.findings(found, Settings())
    assert not f.message.startswith("Refused") and exit_code([f]) == 1
