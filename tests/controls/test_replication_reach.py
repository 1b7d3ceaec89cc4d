"""backup-cross-account-copy and what a bucket's replication really copies. A backup bucket
replicated to another account, with the replicas owned there, is still no copy out of the
production account's reach when the replicas are encrypted with a KMS key of the production
account (its admin disables or deletes the key, and every replica is unreadable), and no copy
at all when the bucket encrypts its objects with SSE-KMS by default and the rule does not opt
in to replicating SSE-KMS objects (S3 then replicates none of them). Live (moto), deploy (the
real pack over gRPC) and CloudTrail, one rule."""

from __future__ import annotations

from typing import Any

import pytest

from auditor.logs.samples import ACCOUNT as LOG_ACCOUNT
from auditor.logs.samples import record
from drguard.controls.recovery import CROSS_ACCOUNT
from tests.controls.recovery_programs import OTHER, ROLE
from tests.faulty_proxy import Fault, FaultyProxy
from tests.harness.analyzer import run_stack
from tests.live_support import ACCOUNT, bucket, one, replicate, run_scan

HERE_KEY = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
THERE_KEY = f"arn:aws:kms:us-east-1:{OTHER}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
KEY_ID = "1234abcd-12ab-34cd-56ef-1234567890ab"


def _replicate(s3: Any, name: str, key: str | None = None) -> None:
    dest: dict[str, Any] = {"Bucket": "arn:aws:s3:::backups-of-record", "Account": OTHER,
                            "AccessControlTranslation": {"Owner": "Destination"}}
    if key is not None:
        dest["EncryptionConfiguration"] = {"ReplicaKmsKeyID": key}
    s3.put_bucket_replication(Bucket=name, ReplicationConfiguration={
        "Role": f"arn:aws:iam::{ACCOUNT}:role/replication",
        "Rules": [{"ID": "to-backup-account", "Status": "Enabled", "Priority": 1,
                   "Filter": {}, "DeleteMarkerReplication": {"Status": "Disabled"},
                   "Destination": dest}]})


def test_live_replicas_keyed_in_the_source_account_are_no_copy(aws: Any) -> None:
    cases = {"plain-backup": (None, "pass"), "keyed-there-backup": (THERE_KEY, "pass"),
             "keyed-here-backup": (HERE_KEY, "fail"), "keyed-by-id-backup": (KEY_ID, "fail")}
    for name, (key, _) in cases.items():
        _replicate(bucket(aws, name, versioned=True), name, key)
    findings = run_scan(aws, regions=["us-east-1"]).findings
    for name, (_, status) in cases.items():
        f = one(findings, CROSS_ACCOUNT, name)
        assert f.status == status, (name, f.message)
    f = one(findings, CROSS_ACCOUNT, "keyed-here-backup")
    assert f"encrypts the replicas with KMS key {HERE_KEY} of this account" in f.message
    assert f.evidence["replication"][0]["replicaKey"] == HERE_KEY
    assert f.remediation is not None and "replica_kms_key_id" in f.remediation["pulumi"]
    assert "encrypted with a KMS key of that account" in f.remediation["summary"]
    assert "KMS key 1234abcd" in one(findings, CROSS_ACCOUNT, "keyed-by-id-backup").message


def _replicated(replica_key: Any, sse_key: Any = None, opt_in: bool = False,
                topic: str | None = "new", sse_v2: bool = False) -> Any:
    """A backup bucket replicated to the backup account, replicas owned there and encrypted
    with `replica_key`; with `sse_key`, SSE-KMS by default with that key (the split
    resource, its V2 type with a bucket key when `sse_v2`), the rule opting in to SSE-KMS
    objects or not. `topic`: a topic whose ARN names the stack's account ("new", or
    "existing": known in a preview too). Returns the bucket."""
    import pulumi
    import pulumi_aws as aws

    if topic == "new":
        aws.sns.Topic("alerts")
    elif topic == "existing":
        aws.sns.Topic.get("alerts", "alerts", arn="arn:aws:sns:us-east-1:123456789012:alerts")
    bucket = aws.s3.BucketV2("backups-primary", opts=pulumi.ResourceOptions(protect=True))
    if sse_key is not None:
        sse = aws.s3.BucketServerSideEncryptionConfigurationV2 if sse_v2 else \
            aws.s3.BucketServerSideEncryptionConfiguration
        sse("backups-primary-sse", bucket=bucket.id, rules=[{
            "apply_server_side_encryption_by_default": {
                "sse_algorithm": "aws:kms", "kms_master_key_id": sse_key},
            **({"bucket_key_enabled": True} if sse_v2 else {})}])
    rule: dict[str, Any] = {
        "id": "to-backup-account", "status": "Enabled",
        "destination": {"bucket": "arn:aws:s3:::backups-of-record", "account": OTHER,
                        "access_control_translation": {"owner": "Destination"},
                        "encryption_configuration": {"replica_kms_key_id": replica_key}}}
    if opt_in:
        rule["source_selection_criteria"] = {"sse_kms_encrypted_objects": {"status": "Enabled"}}
    aws.s3.BucketReplicationConfig("backups-primary-replication", bucket=bucket.id, role=ROLE,
                                   rules=[rule])
    return bucket


def keyed_here() -> None:
    """Replicas encrypted with a key of this account."""
    _replicated(HERE_KEY)


def keyed_there() -> None:
    """Replicas encrypted with a key of the backup account."""
    _replicated(THERE_KEY)


def test_pack_replicas_keyed_in_the_source_account_are_no_copy(analyzer, capture) -> None:  # noqa: ANN001
    run = run_stack(analyzer, capture(keyed_here, preview=False))
    (d,) = run.by_policy(CROSS_ACCOUNT)
    assert d.enforcement_level == "mandatory", d.message
    assert f"encrypts the replicas with KMS key {HERE_KEY} of this account" in d.message
    assert run_stack(analyzer, capture(keyed_there, preview=False)).by_policy(
        CROSS_ACCOUNT) == []


def _put(key: str | None) -> dict[str, Any]:
    dest: dict[str, Any] = {"Bucket": "arn:aws:s3:::vault-of-record", "Account": OTHER,
                            "AccessControlTranslation": {"Owner": "Destination"}}
    if key is not None:
        dest["EncryptionConfiguration"] = {"ReplicaKmsKeyID": key}
    return {"bucketName": "acme-backups", "Host": "acme-backups.s3.amazonaws.com",
            "replication": "", "ReplicationConfiguration": {
                "Role": f"arn:aws:iam::{LOG_ACCOUNT}:role/replication",
                "Rule": {"ID": "to-vault", "Status": "Enabled", "Priority": 1,
                         "Filter": {"Prefix": ""}, "Destination": dest}}}


@pytest.mark.parametrize("key, flagged", [
    (None, False), (f"arn:aws:kms:us-east-1:{OTHER}:key/k", False),
    (f"arn:aws:kms:us-east-1:{LOG_ACCOUNT}:key/k", True), ("alias/replicas", True)])
def test_logs_flag_a_replication_rekeyed_into_the_source_account(key: str | None,
                                                                 flagged: bool) -> None:
    from auditor.logs.detect import Detector
    from drguard.settings import Settings

    rec = record("PutBucketReplication", "s3.amazonaws.com", _put(key))
    hits = {(h.control, h.status) for h in Detector(Settings()).hits(rec)}
    assert ((CROSS_ACCOUNT, "fail") in hits) is flagged


def _encrypt(s3: Any, name: str, algorithm: str = "aws:kms") -> None:
    default: dict[str, Any] = {"SSEAlgorithm": algorithm}
    if algorithm != "AES256":
        default["KMSMasterKeyID"] = THERE_KEY
    s3.put_bucket_encryption(Bucket=name, ServerSideEncryptionConfiguration={
        "Rules": [{"ApplyServerSideEncryptionByDefault": default}]})


# What S3 answers for a rule that opts in to SSE-KMS objects (the emulator keeps no
# SourceSelectionCriteria: it is served here as S3 writes it).
OPTED_IN = f"""<?xml version="1.0" encoding="UTF-8"?>
<ReplicationConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
<Role>arn:aws:iam::{ACCOUNT}:role/replication</Role><Rule><ID>to-backup-account</ID>
<Priority>1</Priority><Filter><Prefix></Prefix></Filter><Status>Enabled</Status>
<SourceSelectionCriteria><SseKmsEncryptedObjects><Status>Enabled</Status>
</SseKmsEncryptedObjects></SourceSelectionCriteria>
<Destination><Bucket>arn:aws:s3:::backups-of-record</Bucket><Account>{OTHER}</Account>
<AccessControlTranslation><Owner>Destination</Owner></AccessControlTranslation>
<EncryptionConfiguration><ReplicaKmsKeyID>{THERE_KEY}</ReplicaKmsKeyID>
</EncryptionConfiguration></Destination>
<DeleteMarkerReplication><Status>Disabled</Status></DeleteMarkerReplication></Rule>
</ReplicationConfiguration>"""


def test_live_kms_objects_left_out_of_the_replication_are_no_copy(aws: Any) -> None:
    for name in ("kms-backup", "sse-s3-backup", "opted-in-backup", "unread-backup"):
        s3 = bucket(aws, name, versioned=True)
        _replicate(s3, name, THERE_KEY)
        _encrypt(s3, name, "AES256" if name == "sse-s3-backup" else "aws:kms")
    faults = [Fault("reply", "s3", "GetBucketReplication", body_contains="",
                    reply=OPTED_IN)]
    with FaultyProxy(aws.url, [Fault("denied", "s3", "GetBucketEncryption")]) as proxy:
        denied = run_scan(aws, regions=["us-east-1"], endpoint=proxy.url).findings
    findings = run_scan(aws, regions=["us-east-1"]).findings
    f = one(findings, CROSS_ACCOUNT, "kms-backup")
    assert f.status == "fail", f.message
    assert "leaves out SSE-KMS objects" in f.message and "aws:kms" in f.message
    assert f.evidence["defaultEncryption"] == "aws:kms"
    assert f.remediation is not None and "sse_kms_encrypted_objects" in f.remediation["pulumi"]
    assert one(findings, CROSS_ACCOUNT, "sse-s3-backup").status == "pass"
    # the encryption could not be read: whether the objects are replicated is not known
    f = one(denied, CROSS_ACCOUNT, "unread-backup")
    assert f.status == "error" and "GetBucketEncryption" in f.message, f.message
    # a rule that opts in copies them
    with FaultyProxy(aws.url, faults) as proxy:
        opted = run_scan(aws, regions=["us-east-1"], endpoint=proxy.url).findings
    f = one(opted, CROSS_ACCOUNT, "opted-in-backup")
    assert f.status == "pass", f.message
    # the key check reads the bucket's encryption once, with the bucket's other settings
    assert sum(1 for s in proxy.seen if s == ("s3", "GetBucketEncryption")) == 4


def kms_left_out() -> None:
    """SSE-KMS by default; the rule does not opt in to SSE-KMS objects."""
    _replicated(THERE_KEY, sse_key=THERE_KEY)


def kms_opted_in() -> None:
    _replicated(THERE_KEY, sse_key=THERE_KEY, opt_in=True)


def test_pack_kms_objects_left_out_of_the_replication_are_no_copy(analyzer, capture) -> None:  # noqa: ANN001
    run = run_stack(analyzer, capture(kms_left_out, preview=False))
    (d,) = run.by_policy(CROSS_ACCOUNT)
    assert d.enforcement_level == "mandatory", d.message
    assert "leaves out SSE-KMS objects" in d.message
    assert run_stack(analyzer, capture(kms_opted_in, preview=False)).by_policy(
        CROSS_ACCOUNT) == []


# ---- backup-kms-key-usable: the replica key encrypts a copy destination -------------------

def test_live_a_disabled_replica_key_fails_the_key_check(aws: Any) -> None:
    """The replicas of a backup bucket are recovery data: a disabled key that encrypts them
    makes them unreadable, wherever the key lives."""
    kms = aws.client("kms", "us-east-1")
    meta = kms.create_key(Description="replicas")["KeyMetadata"]
    kms.disable_key(KeyId=meta["KeyId"])
    key = meta["Arn"]
    _replicate(bucket(aws, "replicated-backup", versioned=True), "replicated-backup", key)
    findings = run_scan(aws, regions=["us-east-1"]).findings
    f = one(findings, "backup-kms-key-usable", key)
    assert f.status == "fail" and "disabled" in f.message, f.message
    assert "replicas of backup bucket 'replicated-backup'" in f.message


def test_live_a_replica_key_of_an_account_not_scanned_is_not_judged_here(aws: Any) -> None:
    """The backup account's key is that account's to judge (scan it too): from here its policy
    need not even allow a DescribeKey, and the correct setup must not read as an error."""
    _replicate(bucket(aws, "keyed-there-backup", versioned=True), "keyed-there-backup",
               THERE_KEY)
    findings = run_scan(aws, regions=["us-east-1"]).findings
    assert [f for f in findings if f.control == "backup-kms-key-usable"
            and f.resource == THERE_KEY] == []
    assert one(findings, CROSS_ACCOUNT, "keyed-there-backup").status == "pass"


def disabled_replica_key() -> None:
    """The replicas encrypted by a key of this stack that is disabled."""
    import pulumi_aws as aws

    _replicated(aws.kms.Key("replicas", is_enabled=False).arn, topic=None)


@pytest.mark.parametrize("preview", [True, False], ids=["preview", "update"])
def test_pack_a_disabled_replica_key_fails_the_key_check(analyzer, capture,  # noqa: ANN001
                                                         preview: bool) -> None:
    run = run_stack(analyzer, capture(disabled_replica_key, preview=preview))
    (d,) = run.by_policy("backup-kms-key-usable")
    assert d.enforcement_level == "mandatory", d.message
    assert "BucketReplicationConfig 'backups-primary" in d.message


def kms_left_out_key_of_the_stack() -> None:
    """SSE-KMS by default with a key this stack creates (its ARN unknown in a preview), and a
    cross-account rule that does not opt in to SSE-KMS objects."""
    import pulumi_aws as aws

    _replicated(THERE_KEY, sse_key=aws.kms.Key("backups").arn, topic="existing", sse_v2=True)


@pytest.mark.parametrize("preview", [True, False], ids=["preview", "update"])
def test_pack_kms_by_default_is_known_while_the_key_is_not(analyzer, capture,  # noqa: ANN001
                                                           preview: bool) -> None:
    """The algorithm says SSE-KMS whatever the key turns out to be: a preview fails the rule
    that leaves SSE-KMS objects out as an update does, not "unknown"."""
    run = run_stack(analyzer, capture(kms_left_out_key_of_the_stack, preview=preview))
    (d,) = run.by_policy(CROSS_ACCOUNT)
    assert d.enforcement_level == "mandatory", d.message
    assert "leaves out SSE-KMS objects" in d.message, d.message


def _inline(v6: bool, opt_in: bool) -> None:
    """A backup bucket with inline encryption (SSE-KMS) and inline replication to the backup
    account (replicas owned and keyed there): pulumi-aws Bucket's single blocks, or BucketV2's
    lists of blocks; the destination account is `account_id` in both."""
    import pulumi
    import pulumi_aws as aws

    aws.sns.Topic("alerts")  # an ARN that names the stack's account

    def one(block: dict[str, Any]) -> Any:
        return [block] if v6 else block

    dest = {"bucket": "arn:aws:s3:::backups-of-record", "account_id": OTHER,
            "access_control_translation" + ("s" if v6 else ""): one({"owner": "Destination"}),
            "replica_kms_key_id": THERE_KEY}
    rule: dict[str, Any] = {"id": "to-backup-account", "status": "Enabled"}
    if opt_in:
        rule["source_selection_criteria" + ("s" if v6 else "")] = one(
            {"sse_kms_encrypted_objects": one({"enabled": True})})
    sse = {"apply_server_side_encryption_by_default" + ("s" if v6 else ""): one(
        {"sse_algorithm": "aws:kms", "kms_master_key_id": THERE_KEY})}
    protect = pulumi.ResourceOptions(protect=True)
    if v6:
        rule["destinations"] = [dest]
        aws.s3.BucketV2("backups-primary", opts=protect,
                        server_side_encryption_configurations=[{"rules": [sse]}],
                        replication_configurations=[{"role": ROLE, "rules": [rule]}])
    else:
        rule["destination"] = dest
        aws.s3.Bucket("backups-primary", opts=protect,
                      server_side_encryption_configuration={"rule": sse},
                      replication_configuration={"role": ROLE, "rules": [rule]})


def inline_v7_opted_in() -> None:
    _inline(v6=False, opt_in=True)


def inline_v7_left_out() -> None:
    _inline(v6=False, opt_in=False)


def inline_v6_opted_in() -> None:
    _inline(v6=True, opt_in=True)


def inline_v6_left_out() -> None:
    _inline(v6=True, opt_in=False)


@pytest.mark.parametrize("opted, left_out", [(inline_v7_opted_in, inline_v7_left_out),
                                             (inline_v6_opted_in, inline_v6_left_out)],
                         ids=["Bucket", "BucketV2"])
def test_pack_inline_replication_to_another_account(analyzer, capture,  # noqa: ANN001
                                                    opted: Any, left_out: Any) -> None:
    """Inline rules name the destination account `accountId` and, on BucketV2, the owner
    override in a list: a rule that copies everything, owned and keyed there, is a copy."""
    run = run_stack(analyzer, capture(opted, preview=False))
    assert run.by_policy(CROSS_ACCOUNT) == [], [d.message for d in run.by_policy(CROSS_ACCOUNT)]
    (d,) = run_stack(analyzer, capture(left_out, preview=False)).by_policy(CROSS_ACCOUNT)
    assert "leaves out SSE-KMS objects" in d.message, d.message


def _disabled_inline_replica_key(shape: str) -> None:
    """A backup bucket whose inline replication rule encrypts the replicas with a key of this
    stack that is disabled: pulumi-aws Bucket, BucketV2, aws-native Bucket."""
    import pulumi
    import pulumi_aws as aws
    import pulumi_aws_native as native

    key = aws.kms.Key("replicas", is_enabled=False)
    protect = pulumi.ResourceOptions(protect=True)
    if shape == "native":
        native.s3.Bucket("backups-primary", opts=protect, replication_configuration={
            "role": ROLE, "rules": [{"id": "to-backup-account", "status": "Enabled",
                                     "destination": {
                                         "bucket": "arn:aws:s3:::backups-of-record",
                                         "account": OTHER,
                                         "access_control_translation": {"owner": "Destination"},
                                         "encryption_configuration": {
                                             "replica_kms_key_id": key.arn}}}]})
    elif shape == "v6":
        aws.s3.BucketV2("backups-primary", opts=protect, replication_configurations=[{
            "role": ROLE, "rules": [{"id": "to-backup-account", "status": "Enabled",
                                     "destinations": [{
                                         "bucket": "arn:aws:s3:::backups-of-record",
                                         "account_id": OTHER,
                                         "access_control_translations": [{
                                             "owner": "Destination"}],
                                         "replica_kms_key_id": key.arn}]}]}])
    else:
        aws.s3.Bucket("backups-primary", opts=protect, replication_configuration={
            "role": ROLE, "rules": [{"id": "to-backup-account", "status": "Enabled",
                                     "destination": {
                                         "bucket": "arn:aws:s3:::backups-of-record",
                                         "account_id": OTHER,
                                         "access_control_translation": {"owner": "Destination"},
                                         "replica_kms_key_id": key.arn}}]})


def disabled_inline_replica_key_v7() -> None:
    _disabled_inline_replica_key("v7")


def disabled_inline_replica_key_v6() -> None:
    _disabled_inline_replica_key("v6")


def disabled_inline_replica_key_native() -> None:
    _disabled_inline_replica_key("native")


@pytest.mark.parametrize("program", [disabled_inline_replica_key_v7,
                                     disabled_inline_replica_key_v6,
                                     disabled_inline_replica_key_native],
                         ids=["Bucket", "BucketV2", "aws-native"])
@pytest.mark.parametrize("preview", [True, False], ids=["preview", "update"])
def test_pack_a_disabled_inline_replica_key_fails_the_key_check(
        analyzer, capture, program: Any, preview: bool) -> None:  # noqa: ANN001
    """The replica key named in a bucket's own (inline) replication rules is a key of
    recovery data as much as the one on a BucketReplicationConfig."""
    run = run_stack(analyzer, capture(program, preview=preview))
    (d,) = run.by_policy("backup-kms-key-usable")
    assert d.enforcement_level == "mandatory", d.message
    assert "backups-primary" in d.message, d.message


def no_replication_and_a_foreign_sse() -> None:
    """A backup bucket with no replication at all, and the default encryption of a bucket
    this stack does not hold (named by a literal): the latter cannot change the verdict."""
    import pulumi
    import pulumi_aws as aws

    aws.sns.Topic("alerts")  # an ARN that names the stack's account
    aws.s3.BucketV2("backups-primary", opts=pulumi.ResourceOptions(protect=True))
    aws.s3.BucketServerSideEncryptionConfigurationV2(
        "logs-sse", bucket="another-teams-logs", rules=[{
            "apply_server_side_encryption_by_default": {"sse_algorithm": "AES256"}}])


@pytest.mark.parametrize("preview", [True, False], ids=["preview", "update"])
def test_pack_an_unlinked_encryption_only_defers_the_kms_objects_verdict(  # noqa: ANN001
        analyzer, capture, preview: bool) -> None:
    """An encryption configuration whose bucket is not (yet) known may make a bucket's default
    SSE-KMS or not: only the verdict that rests on it waits. A bucket with no cross-account
    replication at all fails whatever it encrypts with."""
    run = run_stack(analyzer, capture(no_replication_and_a_foreign_sse, preview=preview))
    (d,) = run.by_policy(CROSS_ACCOUNT)
    assert d.enforcement_level == "mandatory", d.message
    assert "no replication rule writes to another account" in d.message, d.message


def no_replication_and_an_unknown_sse() -> None:
    """A backup bucket with no replication at all, and an encryption configuration whose
    bucket is not known in a preview (and is no bucket of the stack's by dependency)."""
    import pulumi
    import pulumi_aws as aws

    # an existing topic: its ARN names the stack's account in a preview too
    aws.sns.Topic.get("alerts", "alerts", arn="arn:aws:sns:us-east-1:123456789012:alerts")
    aws.s3.BucketV2("backups-primary", opts=pulumi.ResourceOptions(protect=True))
    somewhere = aws.sns.Topic("somewhere")
    aws.s3.BucketServerSideEncryptionConfigurationV2(
        "elsewhere-sse", bucket=somewhere.id, rules=[{
            "apply_server_side_encryption_by_default": {"sse_algorithm": "aws:kms"}}])


def test_pack_an_unknown_encryption_target_only_defers_the_kms_objects_verdict(  # noqa: ANN001
        analyzer, capture) -> None:
    run = run_stack(analyzer, capture(no_replication_and_an_unknown_sse, preview=True))
    (d,) = run.by_policy(CROSS_ACCOUNT)
    assert d.enforcement_level == "mandatory", d.message
    assert "no replication rule writes to another account" in d.message, d.message


def disabled_native_sse_key() -> None:
    """An aws-native backup bucket encrypted by default with a key of this stack that is
    disabled."""
    import pulumi
    import pulumi_aws as aws
    import pulumi_aws_native as native

    key = aws.kms.Key("backups", is_enabled=False)
    native.s3.Bucket("backups-primary", opts=pulumi.ResourceOptions(protect=True),
                     bucket_encryption={"server_side_encryption_configuration": [{
                         "server_side_encryption_by_default": {
                             "sse_algorithm": "aws:kms", "kms_master_key_id": key.arn}}]})


@pytest.mark.parametrize("preview", [True, False], ids=["preview", "update"])
def test_pack_a_disabled_key_of_an_aws_native_bucket_fails_the_key_check(  # noqa: ANN001
        analyzer, capture, preview: bool) -> None:
    run = run_stack(analyzer, capture(disabled_native_sse_key, preview=preview))
    (d,) = run.by_policy("backup-kms-key-usable")
    assert d.enforcement_level == "mandatory", d.message
    assert "backups-primary" in d.message, d.message


def split_settings_of_a_bucket_outside_the_stack() -> None:
    """A backup bucket that is not versioned and encrypts with SSE-KMS by default, replicated
    to the backup account without opting in to SSE-KMS objects; and the versioning and
    encryption of another team's bucket, named by a literal: no bucket of this stack."""
    import pulumi_aws as aws

    _replicated(THERE_KEY, sse_key=THERE_KEY, sse_v2=True)
    aws.s3.BucketVersioningV2("logs-versioning", bucket="another-teams-logs",
                              versioning_configuration={"status": "Enabled"})
    aws.s3.BucketServerSideEncryptionConfigurationV2(
        "logs-sse", bucket="another-teams-logs", rules=[{
            "apply_server_side_encryption_by_default": {"sse_algorithm": "AES256"}}])


def test_pack_settings_of_a_bucket_outside_the_stack_change_no_verdict(  # noqa: ANN001
        analyzer, capture) -> None:
    """A split resource that names a bucket outside the stack by a literal configures none of
    the stack's buckets: an update fails the backup bucket's gaps, it does not defer them."""
    run = run_stack(analyzer, capture(split_settings_of_a_bucket_outside_the_stack,
                                      preview=False))
    (d,) = run.by_policy(CROSS_ACCOUNT)
    assert d.enforcement_level == "mandatory", d.message
    assert "leaves out SSE-KMS objects" in d.message, d.message
    (d,) = run.by_policy("backup-bucket-versioning")
    assert d.enforcement_level == "mandatory", d.message


# ---- backup-bucket-replication: the cross-region copy leaves SSE-KMS objects out too ------

def test_live_cross_region_replication_that_leaves_kms_objects_out_is_no_copy(aws: Any) -> None:
    bucket(aws, "dr-copies", region="us-west-2", versioned=True)
    for name, algorithm in (("kms-regional-backup", "aws:kms"), ("s3-regional-backup", "AES256")):
        s3 = bucket(aws, name, versioned=True)
        replicate(s3, name, "dr-copies")
        _encrypt(s3, name, algorithm)
    findings = run_scan(aws, regions=["us-east-1", "us-west-2"]).findings
    f = one(findings, "backup-bucket-replication", "kms-regional-backup")
    assert f.status == "fail", f.message
    assert "leaves out SSE-KMS objects" in f.message and "dr-copies in us-west-2" in f.message
    assert f.remediation is not None and "sse_kms_encrypted_objects" in f.remediation["pulumi"]
    assert one(findings, "backup-bucket-replication", "s3-regional-backup").status == "pass"


def _regional(opt_in: bool) -> None:
    """A backup bucket encrypted with SSE-KMS by default, replicated to a bucket of another
    region declared alongside it, opting in to SSE-KMS objects or not."""
    import pulumi
    import pulumi_aws as aws

    src = aws.s3.BucketV2("ledger-backups", opts=pulumi.ResourceOptions(protect=True))
    dest = aws.s3.BucketV2("ledger-backups-eu", region="eu-west-1")
    aws.s3.BucketServerSideEncryptionConfiguration(
        "ledger-backups-sse", bucket=src.id, rules=[{
            "apply_server_side_encryption_by_default": {
                "sse_algorithm": "aws:kms", "kms_master_key_id": HERE_KEY}}])
    rule: dict[str, Any] = {"id": "eu", "status": "Enabled", "filter": {},
                            "delete_marker_replication": {"status": "Disabled"},
                            "destination": {"bucket": dest.arn}}
    if opt_in:
        rule["source_selection_criteria"] = {"sse_kms_encrypted_objects": {"status": "Enabled"}}
        rule["destination"]["encryption_configuration"] = {"replica_kms_key_id": HERE_KEY}
    aws.s3.BucketReplicationConfig("ledger-backups-replication", bucket=src.id, role=ROLE,
                                   rules=[rule])


def regional_left_out() -> None:
    _regional(opt_in=False)


def regional_opted_in() -> None:
    _regional(opt_in=True)


@pytest.mark.parametrize("preview", [True, False], ids=["preview", "update"])
def test_pack_cross_region_replication_that_leaves_kms_objects_out_is_no_copy(  # noqa: ANN001
        analyzer, capture, preview: bool) -> None:
    cap = capture(regional_left_out, preview=preview)
    found = [d for d in run_stack(analyzer, cap).by_policy("backup-bucket-replication")
             if d.urn == cap.get("ledger-backups")["urn"]]
    assert len(found) == 1 and found[0].enforcement_level == "mandatory", found
    assert "leaves out SSE-KMS objects" in found[0].message
    cap = capture(regional_opted_in, preview=preview)
    assert [d.message for d in run_stack(analyzer, cap).by_policy("backup-bucket-replication")
            if d.urn == cap.get("ledger-backups")["urn"]] == []
