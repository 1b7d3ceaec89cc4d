"""backup-kms-key-usable, every side: the rule, the pack over gRPC (programs captured from
pulumi-aws, preview and update), the live scan against the moto server (KMS, RDS, DynamoDB,
EFS, AWS Backup and S3 default encryption are all served), CloudTrail, and `dr-audit plan`.
"""

from __future__ import annotations

from typing import Any

import pytest

from auditor.aws import CallCounter, observe
from auditor.logs.samples import record
from drguard.controls.kms import KEY_USABLE, Key, key_usable
from drguard.facts import UNKNOWN
from tests.faulty_proxy import Fault, FaultyProxy
from tests.harness.analyzer import run_stack
from tests.live_support import ACCOUNT, bucket, one, pick, run_scan

KMS = "kms.amazonaws.com"


# ---- the rule ----------------------------------------------------------------------------------

def _key(state: Any, encrypts: list[str] | None = None) -> Key:
    return Key(ref="arn:aws:kms:us-east-1:1:key/k-1", name="k-1", key_state=state,
               encrypts=["DBInstance 'orders'"] if encrypts is None else encrypts)


def test_rule() -> None:
    assert key_usable(_key("Enabled")).status == "pass"
    v = key_usable(_key("PendingDeletion"))
    assert v is not None and v.status == "fail" and "scheduled for deletion" in v.message
    assert v.remediation is not None and "cancel-key-deletion" in (v.remediation.cli or "")
    v = key_usable(_key("Disabled"))
    assert v is not None and v.status == "fail" and "disabled" in v.message
    assert "enable-key" in (v.remediation.cli or "") and "cancel" not in (v.remediation.cli or "")
    assert key_usable(_key("NotFound")).status == "fail"
    assert key_usable(_key("Unavailable")).status == "fail"
    assert key_usable(_key(UNKNOWN)).status == "unknown"
    assert key_usable(_key("Disabled", encrypts=[])) is None  # encrypts no recovery data
    assert "orders" in key_usable(_key("Disabled")).message


# ---- deploy side: programs captured from pulumi-aws ----------------------------------------

def kms_keys_usable() -> None:
    """An enabled key encrypting a database, a table and a vault; a disabled key nothing
    uses (not judged: it encrypts no recovery data)."""
    import pulumi
    import pulumi_aws as aws

    key = aws.kms.Key("backups", description="recovery data", deletion_window_in_days=30,
                      opts=pulumi.ResourceOptions(protect=True))
    aws.kms.Key("spare", is_enabled=False)
    aws.rds.Instance("orders", instance_class="db.t3.micro", engine="postgres",
                     allocated_storage=20, username="admin", password="password-123",
                     storage_encrypted=True, kms_key_id=key.arn, backup_retention_period=7,
                     deletion_protection=True, skip_final_snapshot=False,
                     final_snapshot_identifier="orders-final",
                     opts=pulumi.ResourceOptions(protect=True))
    aws.dynamodb.Table("carts", hash_key="k", attributes=[{"name": "k", "type": "S"}],
                       billing_mode="PAY_PER_REQUEST",
                       server_side_encryption={"enabled": True, "kms_key_arn": key.arn},
                       opts=pulumi.ResourceOptions(protect=True))
    aws.backup.Vault("main", kms_key_arn=key.arn, opts=pulumi.ResourceOptions(protect=True))


def kms_keys_disabled() -> None:
    """A disabled key encrypting a database; a disabled replica key encrypting a vault; the
    SSE-KMS key of a backup bucket disabled."""
    import pulumi_aws as aws

    key = aws.kms.Key("db-key", is_enabled=False)
    aws.rds.Instance("ledger", instance_class="db.t3.micro", engine="postgres",
                     allocated_storage=20, username="admin", password="password-123",
                     storage_encrypted=True, kms_key_id=key.arn)
    primary = aws.kms.Key("primary", multi_region=True)
    replica = aws.kms.ReplicaKey("replica", primary_key_arn=primary.arn, enabled=False)
    aws.backup.Vault("dr", kms_key_arn=replica.arn)
    bucket_key = aws.kms.Key("bucket-key", is_enabled=False)
    b = aws.s3.Bucket("acme-backups", bucket="acme-backups")
    aws.s3.BucketServerSideEncryptionConfiguration(
        "acme-backups-sse", bucket=b.id, rules=[{"apply_server_side_encryption_by_default": {
            "sse_algorithm": "aws:kms", "kms_master_key_id": bucket_key.arn}}])


@pytest.fixture(scope="module", params=[True, False], ids=["preview", "update"])
def mode(request: pytest.FixtureRequest) -> bool:
    return request.param


def test_pack_passes_enabled_key(analyzer, capture, mode) -> None:  # noqa: ANN001
    cap = capture(kms_keys_usable, preview=mode)
    run = run_stack(analyzer, cap)
    assert run.by_policy(KEY_USABLE) == [], [d.message for d in run.by_policy(KEY_USABLE)]
    assert KEY_USABLE in analyzer.get_analyzer_info().names


def test_pack_fails_disabled_key_of_recovery_data(analyzer, capture, mode) -> None:  # noqa: ANN001
    cap = capture(kms_keys_disabled, preview=mode)
    run = run_stack(analyzer, cap)
    by_urn = {d.urn: d for d in run.by_policy(KEY_USABLE)}
    assert set(by_urn) == {cap.get(n)["urn"] for n in ("db-key", "replica", "bucket-key")}
    d = by_urn[cap.get("db-key")["urn"]]
    assert "is disabled (isEnabled is false)" in d.message and "aws.rds.Instance 'ledger" \
        in d.message and d.enforcement_level == "mandatory"
    d = by_urn[cap.get("replica")["urn"]]
    assert "(enabled is false)" in d.message and "aws.backup.Vault" in d.message
    assert "acme-backups" in by_urn[cap.get("bucket-key")["urn"]].message


def kms_key_reference_unknown() -> None:
    """A disabled key, and a database whose key comes from elsewhere (unknown in preview)."""
    import pulumi_aws as aws

    aws.kms.Key("maybe-used", is_enabled=False)
    param = aws.ssm.Parameter("db-key", type="String", value="x")
    aws.rds.Instance("reports", instance_class="db.t3.micro", engine="postgres",
                     allocated_storage=20, username="admin", password="password-123",
                     storage_encrypted=True, kms_key_id=param.arn.apply(
                         lambda _: "arn:aws:kms:us-east-1:123456789012:key/other"))


def test_pack_unknown_key_reference_is_not_skipped_in_preview(analyzer, capture,
                                                              mode) -> None:  # noqa: ANN001
    cap = capture(kms_key_reference_unknown, preview=mode)
    found = run_stack(analyzer, cap).by_policy(KEY_USABLE)
    if mode:  # the database may use the disabled key: one advisory note, no failure
        (d,) = found
        assert d.enforcement_level == "advisory" and "maybe-used" in d.message
    else:  # its key is known now, and it is another one: the disabled key encrypts nothing
        assert found == []


# ---- live side: the moto server ----------------------------------------------------------------

def _kms_key(aws: Any, region: str = "us-east-1", state: str = "Enabled") -> str:
    kms = aws.client("kms", region)
    meta = kms.create_key(Description=f"test {state}")["KeyMetadata"]
    if state == "Disabled":
        kms.disable_key(KeyId=meta["KeyId"])
    elif state == "PendingDeletion":
        kms.schedule_key_deletion(KeyId=meta["KeyId"], PendingWindowInDays=7)
    return meta["Arn"]


def _encrypted_everything(aws: Any) -> dict[str, str]:
    """A key per kind of recovery data: RDS instance (and its manual snapshot), DynamoDB
    table, EFS file system, backup vault, backup bucket; good and bad keys."""
    keys = {"db": _kms_key(aws, state="PendingDeletion"), "table": _kms_key(aws),
            "efs": _kms_key(aws, state="Disabled"), "vault": _kms_key(aws),
            "bucket": _kms_key(aws, state="PendingDeletion"), "unused": _kms_key(aws,
                                                                                  state="Disabled")}
    rds = aws.client("rds")
    rds.create_db_instance(DBInstanceIdentifier="orders", DBInstanceClass="db.t3.micro",
                           Engine="postgres", MasterUsername="admin",
                           MasterUserPassword="password-123", AllocatedStorage=20,
                           StorageEncrypted=True, KmsKeyId=keys["db"], DeletionProtection=True,
                           BackupRetentionPeriod=7)
    rds.create_db_snapshot(DBInstanceIdentifier="orders", DBSnapshotIdentifier="orders-manual")
    aws.client("dynamodb").create_table(
        TableName="carts", KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        SSESpecification={"Enabled": True, "SSEType": "KMS", "KMSMasterKeyId": keys["table"]})
    aws.client("redshift").create_cluster(  # shares the table's key
        ClusterIdentifier="analytics", NodeType="ra3.xlplus", ClusterType="single-node",
        MasterUsername="admin", MasterUserPassword="Password-123", Encrypted=True,
        KmsKeyId=keys["table"])
    aws.client("efs").create_file_system(CreationToken="shared", Encrypted=True,
                                         KmsKeyId=keys["efs"])
    aws.client("backup").create_backup_vault(BackupVaultName="main",
                                             EncryptionKeyArn=keys["vault"])
    s3 = bucket(aws, "acme-backups")
    s3.put_bucket_encryption(Bucket="acme-backups", ServerSideEncryptionConfiguration={
        "Rules": [{"ApplyServerSideEncryptionByDefault": {
            "SSEAlgorithm": "aws:kms", "KMSMasterKeyID": keys["bucket"]}}]})
    s3 = bucket(aws, "acme-website")  # not a backup bucket: its key is not asked about
    s3.put_bucket_encryption(Bucket="acme-website", ServerSideEncryptionConfiguration={
        "Rules": [{"ApplyServerSideEncryptionByDefault": {
            "SSEAlgorithm": "aws:kms", "KMSMasterKeyID": keys["unused"]}}]})
    return keys


def test_live_each_key_of_recovery_data_judged_and_described_once(aws) -> None:  # noqa: ANN001
    keys = _encrypted_everything(aws)
    counter = CallCounter()
    with observe(counter):
        findings = run_scan(aws, regions=["us-east-1"]).findings
    got = {f.resource: f for f in pick(findings, KEY_USABLE)}
    assert set(got) == {keys[k] for k in ("db", "table", "efs", "vault", "bucket")}, got
    db = got[keys["db"]]
    assert db.status == "fail" and db.severity == "critical"
    assert "scheduled for deletion" in db.message and "'orders'" in db.message
    assert "orders-manual" in db.message  # the manual snapshot uses it too
    assert db.evidence["keyId"] == keys["db"] and db.evidence["keyState"] == "PendingDeletion"
    assert db.remediation and "cancel-key-deletion" in db.remediation["cli"]
    assert got[keys["efs"]].status == "fail" and "disabled" in got[keys["efs"]].message
    assert got[keys["bucket"]].status == "fail" and "acme-backups" in got[keys["bucket"]].message
    assert got[keys["table"]].status == "pass" and "carts" in got[keys["table"]].message
    assert "'analytics'" in got[keys["table"]].message
    assert got[keys["vault"]].status == "pass" and "main" in got[keys["vault"]].message
    # the DB key is used by the instance, its automated snapshot and its manual snapshot:
    # described once, like every other key
    assert counter.calls[("kms", "DescribeKey")] == 5
    assert counter.calls[("s3", "GetBucketEncryption")] == 1  # the one backup bucket
    assert not [c for c in counter.calls if c[1].startswith(("Create", "Put", "Delete",
                                                            "Disable", "Schedule"))]


def test_live_describe_key_refused_is_error_naming_the_call(aws, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    key = _kms_key(aws)
    aws.client("backup").create_backup_vault(BackupVaultName="main", EncryptionKeyArn=key)
    with FaultyProxy(aws.url, [Fault("denied", "kms", "DescribeKey")]) as proxy:
        findings = run_scan(aws, regions=["us-east-1"], endpoint=proxy.url).findings
    f = one(findings, KEY_USABLE, key)
    assert f.status == "error" and "kms:DescribeKey" in f.message
    assert f.evidence["readErrors"][0]["code"].startswith("AccessDenied")


def test_live_unreadable_sources_are_errors_not_silence(aws, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    bucket(aws, "acme-backups")
    faults = [Fault("denied", "rds", "DescribeDBInstances"),
              Fault("denied", "s3", "GetBucketEncryption")]
    with FaultyProxy(aws.url, faults) as proxy:
        findings = run_scan(aws, regions=["us-east-1"], endpoint=proxy.url).findings
    errs = pick(findings, KEY_USABLE)
    assert errs and all(f.status == "error" for f in errs)
    text = " ".join(f.message for f in errs)
    assert "rds:DescribeDBInstances" in text and "s3:GetBucketEncryption" in text
    assert "acme-backups" in text


def test_live_key_used_in_two_regions_and_by_alias(aws) -> None:  # noqa: ANN001
    key = _kms_key(aws, state="Disabled")
    kms = aws.client("kms")
    kms.create_alias(AliasName="alias/backups", TargetKeyId=key)
    aws.client("backup").create_backup_vault(BackupVaultName="a", EncryptionKeyArn=key)
    s3 = bucket(aws, "acme-backups")
    s3.put_bucket_encryption(Bucket="acme-backups", ServerSideEncryptionConfiguration={
        "Rules": [{"ApplyServerSideEncryptionByDefault": {
            "SSEAlgorithm": "aws:kms", "KMSMasterKeyID": "alias/backups"}}]})
    counter = CallCounter()
    with observe(counter):
        findings = run_scan(aws, regions=["us-east-1"]).findings
    f = one(findings, KEY_USABLE, key)  # one finding for the key, both users named
    assert f.status == "fail" and "'a'" in f.message and "acme-backups" in f.message
    assert counter.calls[("kms", "DescribeKey")] == 2  # the ARN and the alias: two names


# ---- logs side ---------------------------------------------------------------------------------

KEY_ARN = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"

LOG_CASES: list[tuple[str, dict[str, Any], set[tuple[str, str]]]] = [
    ("kms key deletion scheduled", record("ScheduleKeyDeletion", KMS, {
        "keyId": "1234abcd-12ab-34cd-56ef-1234567890ab", "pendingWindowInDays": 7},
        response={"keyId": KEY_ARN, "deletionDate": "May 9, 2024, 12:00:00 PM",
                  "keyState": "PendingDeletion", "pendingWindowInDays": 7}),
     {(KEY_USABLE, "fail")}),
    ("kms key deletion refused", record("ScheduleKeyDeletion", KMS, {
        "keyId": KEY_ARN, "pendingWindowInDays": 7}, error_code="AccessDenied"),
     {(KEY_USABLE, "attempt")}),
    ("kms key disabled", record("DisableKey", KMS, {"keyId": KEY_ARN}),
     {(KEY_USABLE, "fail")}),
    ("kms key deletion cancelled (near miss)", record("CancelKeyDeletion", KMS, {
        "keyId": KEY_ARN}, response={"keyId": KEY_ARN}), set()),
    ("kms key enabled (near miss)", record("EnableKey", KMS, {"keyId": KEY_ARN}), set()),
]


@pytest.mark.parametrize("rec,expected", [(r, e) for _, r, e in LOG_CASES],
                         ids=[c[0] for c in LOG_CASES])
def test_logs(rec: dict[str, Any], expected: set[tuple[str, str]]) -> None:
    from auditor.logs import reader
    from auditor.logs.detect import Detector
    from drguard.settings import Settings

    assert reader.check(rec) is None
    hits = list(Detector(Settings()).hits(rec))
    assert {(h.control, h.status) for h in hits} == expected
    for h in hits:
        assert h.resource == KEY_ARN
        assert "1234abcd-12ab-34cd-56ef-1234567890ab" in h.message


def test_logs_alias_names_the_alias() -> None:
    from auditor.logs.detect import Detector
    from drguard.settings import Settings

    (h,) = Detector(Settings()).hits(record("DisableKey", KMS, {"keyId": "alias/backups"}))
    assert h.resource == "arn:aws:kms:us-east-1:111122223333:alias/backups"




# ---- dr-audit plan -----------------------------------------------------------------------------

def keyed_orders() -> None:
    """A database encrypted with a key and a spare key; variant "drop-keys" deletes both keys
    while the database keeps naming the first one by its ARN (config keyArn)."""
    import pulumi
    import pulumi_aws as aws

    cfg = pulumi.Config()
    drop = cfg.get("variant") == "drop-keys"
    key_arn: Any = cfg.get("keyArn")
    if not drop:
        key = aws.kms.Key("orders-key", deletion_window_in_days=7)
        aws.kms.Key("spare-key")
        key_arn = key.arn
    aws.rds.Instance("orders-db", identifier="orders-db", instance_class="db.t3.micro",
                     engine="postgres", allocated_storage=20, username="admin",
                     password="password-123", storage_encrypted=True, kms_key_id=key_arn,
                     backup_retention_period=7, deletion_protection=True,
                     skip_final_snapshot=False, final_snapshot_identifier="orders-db-final",
                     delete_automated_backups=False, opts=pulumi.ResourceOptions(protect=True))


@pytest.mark.parametrize("show_sames", [True, False], ids=["show-sames", "sames-missing"])
def test_plan_deleting_a_key_of_recovery_data_destroys_data(capture, tmp_path,
                                                            show_sames) -> None:  # noqa: ANN001
    from tests.test_plan import _one, _run, preview_doc

    before = capture(keyed_orders, preview=False)
    arn = before.get("orders-key")["outputs"]["arn"]
    after = capture(keyed_orders, preview=True,
                    config={"variant": "drop-keys", "keyArn": arn})
    code, report = _run(tmp_path, preview_doc(before, after, show_sames=show_sames))
    assert code == 1
    f = _one(report, "plan-destroys-data", "orders-key")
    assert f["status"] == "fail" and "deletes KMS key 'orders-key'" in f["message"]
    assert "KMS waits 7 days" in f["message"]
    spare = _one(report, "plan-destroys-data", "spare-key")
    if show_sames:  # the whole stack is in the document: who uses each key is known
        assert "aws.rds.Instance 'orders-db'" in f["message"]
        assert f["evidence"]["encrypts"] == ["aws.rds.Instance 'orders-db'"]
        assert spare["status"] == "pass" and "no resource of this stack" in spare["message"]
    else:  # the database is left out: neither key's users can be determined
        assert "cannot be determined" in f["message"] and "--show-sames" in f["message"]
        assert spare["status"] == "fail" and "cannot be determined" in spare["message"]


def test_live_org_key_of_another_account_described_once_by_its_owner(aws) -> None:  # noqa: ANN001
    """A member's vault encrypted with a key of the management account (a copy destination
    pattern): one finding for the key, described once through its owner's session."""
    from tests.test_live_org import ROLE, make_org, member_client

    ids = make_org(aws)
    key = _kms_key(aws, state="PendingDeletion")
    aws.client("backup").create_backup_vault(BackupVaultName="mgmt-vault", EncryptionKeyArn=key)
    member_client(aws, ids["prod"], "backup").create_backup_vault(
        BackupVaultName="prod-copies", EncryptionKeyArn=key)
    counter = CallCounter()
    with observe(counter):
        findings = run_scan(aws, regions=["us-east-1"], org=True, role_name=ROLE).findings
    f = one(findings, KEY_USABLE, key)
    assert f.status == "fail" and f.account == ACCOUNT
    assert "'mgmt-vault'" in f.message and "'prod-copies'" in f.message
    assert sorted(f.evidence["foundIn"]) == sorted([ACCOUNT, ids["prod"]])
    assert counter.calls[("kms", "DescribeKey")] == 1


def test_live_deleted_key_fails(aws) -> None:  # noqa: ANN001
    gone = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"
    aws.client("backup").create_backup_vault(BackupVaultName="orphaned", EncryptionKeyArn=gone)
    f = one(run_scan(aws, regions=["us-east-1"]).findings, KEY_USABLE, gone)
    assert f.status == "fail" and "no longer exists" in f.message and "'orphaned'" in f.message
