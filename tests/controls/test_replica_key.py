"""backup-cross-account-copy and the key of the replicas: a backup bucket replicated to another
account, with the replicas owned there, is still no copy out of the production account's reach
when they are encrypted with a KMS key of the production account (its admin disables or
deletes the key, and every replica is unreadable). Live (moto), deploy (the real pack over
gRPC) and CloudTrail, one rule."""

from __future__ import annotations

from typing import Any

import pytest

from auditor.logs.samples import ACCOUNT as LOG_ACCOUNT
from auditor.logs.samples import record
from drguard.controls.recovery import CROSS_ACCOUNT
from tests.controls.recovery_programs import OTHER, ROLE
from tests.harness.analyzer import run_stack
from tests.live_support import ACCOUNT, bucket, one, run_scan

HERE_KEY = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
THERE_KEY = f"arn:aws:kms:us-east-1:{OTHER}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
KEY_ID = "1234abcd-12ab-34cd-56ef-1234567890ab"


def _replicate(s3: Any, name: str, key: str | None) -> None:
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


def keyed_here() -> None:
    """A backup bucket replicated to the backup account, replicas owned there, but
    encrypted with a key of this account."""
    import pulumi
    import pulumi_aws as aws

    aws.sns.Topic("alerts")  # an ARN that names the stack's account
    bucket = aws.s3.BucketV2("backups-primary", opts=pulumi.ResourceOptions(protect=True))
    aws.s3.BucketReplicationConfig("backups-primary-replication", bucket=bucket.id, role=ROLE,
                                   rules=[{"id": "to-backup-account", "status": "Enabled",
                                           "destination": {
                                               "bucket": "arn:aws:s3:::backups-of-record",
                                               "account": OTHER,
                                               "access_control_translation": {
                                                   "owner": "Destination"},
                                               "encryption_configuration": {
                                                   "replica_kms_key_id": HERE_KEY}}}])


def keyed_there() -> None:
    """The same, the replicas encrypted with a key of the backup account."""
    import pulumi
    import pulumi_aws as aws

    aws.sns.Topic("alerts")  # an ARN that names the stack's account
    bucket = aws.s3.BucketV2("backups-primary", opts=pulumi.ResourceOptions(protect=True))
    aws.s3.BucketReplicationConfig("backups-primary-replication", bucket=bucket.id, role=ROLE,
                                   rules=[{"id": "to-backup-account", "status": "Enabled",
                                           "destination": {
                                               "bucket": "arn:aws:s3:::backups-of-record",
                                               "account": OTHER,
                                               "access_control_translation": {
                                                   "owner": "Destination"},
                                               "encryption_configuration": {
                                                   "replica_kms_key_id": THERE_KEY}}}])


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
