"""Unit tests of the shared core: registry, parameters, scope, waivers, rules, stack model.

The engine-faithful tests of the pack are in test_pack_*.py; these pin the rule logic."""

from __future__ import annotations

import datetime as dt

import pytest

from drguard import registry, waivers
from drguard.controls import cloudtrail, rds, s3
from drguard.controls import pulumi as protection
from drguard.controls.cloudtrail import Trail
from drguard.controls.rds import Database
from drguard.controls.s3 import Bucket
from drguard.errors import ConfigError
from drguard.facts import UNKNOWN
from drguard.params import resolve
from drguard.scope import Scope
from drguard.settings import from_mapping
from policypack import checks
from policypack.adapters import Res
from policypack.services import CATALOG
from policypack.services import s3 as s3_pack
from policypack.stack import StackModel
from policypack.wire import SENTINELS

UNKNOWN_STRING = next(s for s in SENTINELS if s.startswith("04da"))
DEFAULTS_LOCK = registry.get("backup-bucket-object-lock").defaults()


def test_registry_covers_the_catalogue() -> None:
    ids = {c.id for c in registry.CONTROLS}
    # ids are unique; the first release's 20, then the December additions (controls.md)
    assert len(ids) == len(registry.CONTROLS) >= 20
    assert registry.get("backup-bucket-versioning").severity == "critical"
    assert registry.get("rds-backup-retention").defaults() == {
        "minRetentionDays": 7, "checkReadReplicas": False}
    assert registry.get("backup-bucket-object-lock").defaults() == {
        "allowedLockModes": ["COMPLIANCE"], "minLockDays": 30}
    assert "live" not in registry.get("rds-final-snapshot").sources


@pytest.mark.parametrize("values, fragment", [
    ({"minRetentionDays": -3}, "parameter 'minRetentionDays': -3 is less than the minimum"),
    ({"minRetentionDays": 36}, "parameter 'minRetentionDays': 36 is greater than the maximum"),
    ({"minRetentionDays": "7"}, "parameter 'minRetentionDays': '7' is not of type 'integer'"),
    ({"retentionDays": 7}, "unknown parameter 'retentionDays'"),
    ({"enforcementLevel": "block"}, "parameter 'enforcementLevel'"),
])
def test_bad_parameters_name_policy_and_parameter(values: dict, fragment: str) -> None:
    with pytest.raises(ConfigError) as e:
        resolve("rds-backup-retention", values)
    assert str(e.value).startswith("policy 'rds-backup-retention': ")
    assert fragment in str(e.value)


def test_settings_accepts_pack_and_auditor_shapes() -> None:
    pack = from_mapping({"all": "mandatory", "rds-backup-retention": {"minRetentionDays": 14},
                         "iam-access-key-rotation": "disabled"})
    auditor = from_mapping({"controls": {"rds-backup-retention": {"minRetentionDays": 14},
                                         "iam-access-key-rotation": {"enabled": False}}})
    for s in (pack, auditor):
        assert s.of("rds-backup-retention")["minRetentionDays"] == 14
        assert "iam-access-key-rotation" not in s.enabled
    with pytest.raises(ConfigError, match="unknown control 'rds-backups'"):
        from_mapping({"controls": {"rds-backups": {}}})
    with pytest.raises(ConfigError, match="invalid regular expression"):
        from_mapping({"scope": {"backupBucketPatterns": ["("]}})


def test_scope_reasons() -> None:
    scope = Scope()
    assert scope.reasons("prod-backups", {}) == ["name matches '(?i)backup'"]
    assert scope.reasons("logs", {"dr:backup": "TRUE"}) == ["tag dr:backup=TRUE"]
    assert scope.reasons("logs", {}) == []
    assert scope.reasons("logs", {}, auto=["destination of CloudTrail trail 't'"]) == [
        "destination of CloudTrail trail 't'"]


def test_waiver_expiry_and_matching() -> None:
    ws = waivers.parse([
        {"control": "rds-deletion-protection", "resource": "arn:aws:rds:*:*:db:scratch-*",
         "reason": "rebuilt nightly", "owner": "platform", "expires": "2027-03-31"},
        {"control": "rds-deletion-protection", "tags": {"env": "dev"}, "reason": "dev",
         "owner": "dev-team", "expires": dt.date(2026, 1, 1)},
    ])
    arn = "arn:aws:rds:us-east-1:111111111111:db:scratch-1"
    hit = waivers.find(ws, "rds-deletion-protection", [arn], {}, dt.date(2026, 11, 24))
    assert hit and not hit.expired and hit.waiver.owner == "platform"
    assert waivers.find(ws, "rds-deletion-protection", [arn], {}, dt.date(2027, 4, 1)).expired
    assert waivers.find(ws, "rds-backup-retention", [arn], {}, dt.date(2026, 11, 24)) is None
    dev = waivers.find(ws, "rds-deletion-protection", ["x"], {"env": "dev"}, dt.date(2026, 11, 24))
    assert dev and dev.expired
    with pytest.raises(ConfigError, match="waiver #1: missing owner"):
        waivers.parse([{"control": "rds-deletion-protection", "resource": "*",
                        "reason": "r", "expires": "2027-01-01"}])
    with pytest.raises(ConfigError, match="'expires' must be a date"):
        waivers.parse([{"control": "rds-deletion-protection", "resource": "*", "reason": "r",
                        "owner": "o", "expires": "someday"}])


def _db(**kw: object) -> Database:
    return Database(ref="urn:db", name="db", **kw)


def test_rds_retention_unset_is_one_day_and_replicas_exempt() -> None:
    params = {"minRetentionDays": 7, "checkReadReplicas": False}
    v = rds.backup_retention(_db(), params)
    assert v.status == "fail" and "unset, so AWS keeps backups for 1 day" in v.message
    assert rds.backup_retention(_db(backup_retention=7), params).status == "pass"
    assert rds.backup_retention(_db(backup_retention=1, read_replica=True), params) is None
    strict = {**params, "checkReadReplicas": True}
    assert rds.backup_retention(_db(backup_retention=1, read_replica=True), strict).status == "fail"
    assert rds.backup_retention(_db(backup_retention=UNKNOWN), params).status == "unknown"
    assert rds.backup_retention(_db(cluster_member=True), params) is None


def test_rds_deletion_protection_and_final_snapshot() -> None:
    assert rds.deletion_protection(_db()).status == "fail"
    assert rds.deletion_protection(_db(deletion_protection=True)).status == "pass"
    ok = _db(skip_final_snapshot=False, final_snapshot_identifier="final",
             delete_automated_backups=False)
    assert rds.final_snapshot(ok).status == "pass"
    bad = rds.final_snapshot(_db(skip_final_snapshot=True, delete_automated_backups=True))
    assert bad.status == "fail"
    assert "skipFinalSnapshot is true" in bad.message and "deleteAutomatedBackups" in bad.message


def _bucket(**kw: object) -> Bucket:
    return Bucket(ref="urn:b", name="prod-backups", scope_reasons=["name"], **kw)


def test_versioning_object_lock_implies_versioning_but_suspended_fails() -> None:
    assert s3.versioning(_bucket(object_lock_enabled=True)).status == "pass"
    assert s3.versioning(_bucket(versioning="Suspended", object_lock_enabled=True)).status == "fail"
    assert s3.versioning(_bucket()).status == "fail"
    assert s3.versioning(Bucket(ref="u", name="logs")) is None  # out of scope


def test_replication_names_each_destination_once() -> None:
    # several rules (prefixes) copying to one bucket: the message names it once
    same = [{"status": "Enabled", "bucket": "copy", "region": "us-east-1"}] * 3
    within = s3.replication(_bucket(region="us-east-1", replication=same))
    assert within is not None and within.status == "fail"
    assert "replicates only within us-east-1 (copy (us-east-1)); that" in within.message
    unplaced = [{"status": "Enabled", "bucket": "far"}] * 2 + \
        [{"status": "Enabled", "bucket": "other"}]
    unknown = s3.replication(_bucket(region="us-east-1", replication=unplaced))
    assert unknown is not None and "replicates to far, other, whose region" in unknown.message


def test_object_lock_mode_days_and_missing_rule() -> None:
    no_rule = s3.object_lock(_bucket(object_lock_enabled=True), DEFAULTS_LOCK)
    assert no_rule.status == "fail" and "no default retention" in no_rule.message
    weak = s3.object_lock(_bucket(object_lock_enabled=True, lock_mode="GOVERNANCE", lock_days=1),
                          DEFAULTS_LOCK)
    assert weak.status == "fail" and "mode is GOVERNANCE" in weak.message
    assert "retention is 1 day, below 30" in weak.message and "Fix" not in weak.message
    # the fix is data, for this bucket: raise the retention, never recreate the bucket
    fix = weak.remediation
    assert fix is not None and fix.summary.startswith("Raise the default retention of bucket")
    assert 'rule={"default_retention": {"mode": "COMPLIANCE", "days": 30}}' in fix.pulumi
    assert "object_lock_enabled" not in fix.pulumi and "aws.s3.Bucket(" not in fix.pulumi
    assert fix.cli is not None and fix.cli.startswith("aws s3api put-object-lock-configuration")
    assert no_rule.remediation is not None and "Add a default retention" in \
        no_rule.remediation.summary
    good = _bucket(object_lock_enabled=True, lock_mode="COMPLIANCE", lock_days=365)
    assert s3.object_lock(good, DEFAULTS_LOCK).status == "pass"


def test_trail_rules() -> None:
    good = Trail(ref="t", name="org", multi_region=True, log_validation=True, logging=True)
    bad = Trail(ref="t2", name="local", multi_region=False, log_validation=None, logging=True)
    assert cloudtrail.trail(good).status == "pass"
    v = cloudtrail.trail(bad)
    assert v.status == "fail" and "isMultiRegionTrail is false" in v.message
    assert cloudtrail.account([bad]).status == "fail"
    assert cloudtrail.account([bad, good]).status == "pass"
    assert cloudtrail.account([]).status == "fail"


def test_protect_rule() -> None:
    assert protection.protect(_db(protect=True)).status == "pass"
    assert protection.protect(_db(protect=False)).status == "fail"
    v = protection.protect(_bucket(protect=True, force_destroy=True))
    assert v.status == "fail" and "forceDestroy is true" in v.message


# ---- stack model: split resources joined to their bucket ---------------------------------

def _res(type_: str, name: str, props: dict, deps: dict | None = None) -> Res:
    return Res(type=type_, urn=f"urn:pulumi:dev::p::{type_}::{name}", name=name, props=props,
               protect=False, property_deps=deps or {})


def test_split_resources_link_by_property_dependency_during_preview() -> None:
    bucket = _res("aws:s3/bucket:Bucket", "backups", {"objectLockEnabled": True})
    versioning = _res("aws:s3/bucketVersioning:BucketVersioning", "v",
                      {"bucket": UNKNOWN_STRING,
                       "versioningConfiguration": {"status": "Suspended"}},
                      {"bucket": [bucket.urn]})
    lock = _res("aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration", "l",
                {"bucket": UNKNOWN_STRING,
                 "rule": {"defaultRetention": {"mode": "COMPLIANCE", "years": 1.0}}},
                {"bucket": [bucket.urn]})
    m = StackModel.build([bucket, versioning, lock], Scope(), CATALOG)
    (b,) = m.buckets
    assert b.scope_reasons == ["logical name 'backups' matches '(?i)backup'"]
    assert b.versioning == "Suspended" and b.lock_days == 365 and b.lock_mode == "COMPLIANCE"
    assert s3.versioning(b).status == "fail"
    assert s3.object_lock(b, DEFAULTS_LOCK).status == "pass"


def test_split_resources_link_by_name_and_trail_destination_is_in_scope() -> None:
    bucket = _res("aws:s3/bucket:Bucket", "audit", {"bucket": "audit-logs-1"})
    versioning = _res("aws:s3/bucketVersioning:BucketVersioning", "v",
                      {"bucket": "audit-logs-1", "versioningConfiguration": {"status": "Enabled"}})
    trail = _res("aws:cloudtrail/trail:Trail", "t", {"s3BucketName": "audit-logs-1"})
    m = StackModel.build([bucket, versioning, trail], Scope(), CATALOG)
    (b,) = m.buckets
    assert b.scope_reasons == ["destination of CloudTrail trail 't'"]
    assert b.versioning == "Enabled"


def test_legacy_inline_blocks_and_aws_native_bucket() -> None:
    v6 = _res("aws:s3/bucketV2:BucketV2", "old", {
        "bucket": "old-backups", "versionings": [{"enabled": True}],
        "objectLockConfiguration": {"objectLockEnabled": "Enabled",
                                    "rules": [{"defaultRetentions": [{"mode": "COMPLIANCE",
                                                                      "days": 40.0}]}]}})
    native = _res("aws-native:s3:Bucket", "n", {
        "bucketName": "native-backups", "versioningConfiguration": {"status": "Enabled"},
        "objectLockEnabled": True, "objectLockConfiguration": {
            "rule": {"defaultRetention": {"mode": "GOVERNANCE", "days": 40.0}}}})
    m = StackModel.build([v6, native], Scope(), CATALOG)
    old, nat = m.buckets
    assert (old.versioning, old.object_lock_enabled, old.lock_days) == ("Enabled", True, 40)
    v = s3.object_lock(nat, DEFAULTS_LOCK)
    assert v.status == "fail" and "objectLockConfiguration.rule.defaultRetention" in v.message


def test_unlinked_split_resource_makes_missing_setting_unknown_not_fail() -> None:
    bucket = _res("aws:s3/bucket:Bucket", "backups", {})
    orphan = _res("aws:s3/bucketVersioning:BucketVersioning", "v",
                  {"bucket": UNKNOWN_STRING, "versioningConfiguration": {"status": "Enabled"}})
    m = StackModel.build([bucket, orphan], Scope(), CATALOG)
    assert m.unlinked == {"versioning": 1}
    ((_, verdict),) = list(s3_pack._versioning(m, {}))
    assert verdict.status == "unknown"
    # Without the orphan the same bucket is a plain failure.
    ((_, verdict),) = list(s3_pack._versioning(StackModel.build([bucket], Scope(), CATALOG), {}))
    assert verdict.status == "fail"


def test_every_deploy_control_has_exactly_one_pack_check() -> None:
    controls = [c.control for c in checks.CHECKS]
    assert len(controls) == len(set(controls))
    assert set(controls) == {c.id for c in registry.CONTROLS if "deploy" in c.sources}
