"""The recoverability controls: their rules on facts, and their CloudTrail detections with real
record shapes (succeeded and refused). Deploy side: test_backup_recovery_pack.py; live side:
test_backup_recovery_live.py."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest

from auditor.logs.samples import ACCOUNT as LOG_ACCOUNT
from auditor.logs.samples import record
from drguard.controls import recovery as ctl
from drguard.controls.recovery import (
    AIR_GAPPED,
    CROSS_ACCOUNT,
    DENY_DELETE,
    FREQUENCY,
    JOBS,
    BackupPlan,
    CopyAction,
    CopyVault,
    Job,
    JobHistory,
    Link,
    PlanRule,
    Protected,
    VaultPolicy,
)
from drguard.facts import UNKNOWN
from drguard.registry import BY_ID
from tests.controls.recovery_programs import DENY

OWN, OTHER = "123456789012", "210987654321"
NOW = dt.datetime(2026, 12, 5, 12, tzinfo=dt.UTC)
VAULT = f"arn:aws:backup:us-east-1:{OTHER}:backup-vault:record"


def test_declarations() -> None:
    for cid, sev, tier in ((CROSS_ACCOUNT, "high", 2), (AIR_GAPPED, "high", 3),
                           (DENY_DELETE, "high", 2), (FREQUENCY, "high", 2), (JOBS, "high", 2)):
        c = BY_ID[cid]
        assert (c.severity, c.tier) == (sev, tier)
    assert BY_ID[JOBS].sources == frozenset({"live"}) and not BY_ID[JOBS].detections
    assert BY_ID[CROSS_ACCOUNT].defaults() == {"maxCopyAgeHours": 26, "destinationAccounts": []}
    assert BY_ID[AIR_GAPPED].defaults() == {"minRetentionDays": 7}
    assert BY_ID[DENY_DELETE].defaults() == {"allowedPrincipals": []}
    assert BY_ID[FREQUENCY].defaults() == {"maxIntervalHours": 24, "minRetentionDays": 35}
    assert BY_ID[JOBS].defaults() == {"windowHours": 26}


# ---- cross-account copy -----------------------------------------------------------------------

def _db(**kw: Any) -> Protected:
    return Protected(ref="arn:aws:rds:us-east-1:123456789012:db:orders", name="orders",
                     account=OWN, kind="database", as_of=NOW, **kw)


P = {"maxCopyAgeHours": 26}


def test_cross_account_links_not_counts() -> None:
    link = Link("daily", "by-tag", "r1", CopyAction(VAULT, 35))
    same = Link("daily", "by-tag", "r1", CopyAction(
        "arn:aws:backup:us-west-2:123456789012:backup-vault:dr", 35))
    v = ctl.cross_account_copy(_db(links=[link]), P)
    assert v.status == "pass" and "selection 'by-tag'" in v.message and OTHER in v.message
    v = ctl.cross_account_copy(_db(links=[same]), P)
    assert v.status == "fail" and "only within its own account" in v.message
    v = ctl.cross_account_copy(_db(links=[], selected_by=["daily/all"]), P)
    assert v.status == "fail" and "daily/all" in v.message and "no copy action" in v.message
    v = ctl.cross_account_copy(_db(), P)
    assert v.status == "fail" and "no AWS Backup selection" in v.message
    assert v.remediation and "destination_vault_arn" in v.remediation.pulumi
    assert ctl.cross_account_copy(_db(links=UNKNOWN), P).status == "unknown"
    assert ctl.cross_account_copy(_db(links=[Link("p", "s", "r", CopyAction(UNKNOWN))]),
                                  P).status == "unknown"
    nobody = _db(links=[link])
    nobody.account = None
    assert ctl.cross_account_copy(nobody, P).status == "unknown"


def test_cross_account_live_evidence() -> None:
    link = Link("daily", "by-arn", "r1", CopyAction(VAULT, 35))
    fresh = {OTHER: {"when": NOW - dt.timedelta(hours=3), "kind": "recovery point",
                     "destination": VAULT}}
    v = ctl.cross_account_copy(_db(links=[link], copied=fresh), P)
    assert v.status == "pass" and "recovery point" in v.message
    stale = {OTHER: {**fresh[OTHER], "when": NOW - dt.timedelta(hours=27)}}
    v = ctl.cross_account_copy(_db(links=[link], copied=stale), P)
    assert v.status == "fail" and "27.0 h old" in v.message
    assert ctl.cross_account_copy(_db(links=[link], copied={}), P).status == "fail"
    assert ctl.cross_account_copy(_db(links=[link], copied=UNKNOWN), P).status == "unknown"


def _bucket(rules: Any, account: str | None = OWN) -> Protected:
    return Protected(ref="arn:aws:s3:::acme-backups", name="acme-backups", account=account,
                     kind="backup bucket", replication=rules)


def test_cross_account_bucket_replication() -> None:
    good = {"bucket": "vault", "account": OTHER, "owner": "Destination", "status": "Enabled"}
    assert ctl.cross_account_copy(_bucket([good]), P).status == "pass"
    v = ctl.cross_account_copy(_bucket([{**good, "owner": None}]), P)
    assert v.status == "fail" and "owned by this account" in v.message
    v = ctl.cross_account_copy(_bucket([{**good, "account": OWN}]), P)
    assert v.status == "fail" and "no replication rule writes to another account" in v.message
    assert ctl.cross_account_copy(_bucket([{**good, "status": "Disabled"}]), P).status == "fail"
    assert ctl.cross_account_copy(_bucket([]), P).status == "fail"
    assert ctl.cross_account_copy(_bucket(UNKNOWN), P).status == "unknown"
    assert ctl.cross_account_copy(_bucket([good], account=None), P).status == "unknown"
    assert ctl.cross_account_copy(_bucket([{**good, "account": UNKNOWN}]), P).status == "unknown"
    copy = _bucket([])
    copy.replica_of = [{"bucket": "acme-backups-prod", "region": "us-east-1"}]
    assert ctl.cross_account_copy(copy, P) is None  # the source is judged, not its copy


# ---- air-gapped -------------------------------------------------------------------------------

def _vault(**kw: Any) -> CopyVault:
    return CopyVault(ref=VAULT, name="record", why="copy destination", as_of=NOW, **kw)


def test_air_gapped() -> None:
    p = {"minRetentionDays": 7}
    assert ctl.air_gapped(_vault(vault_type=ctl.AIR_GAPPED_TYPE), p).status == "pass"
    assert ctl.air_gapped(_vault(), p).status == "fail"
    v = ctl.air_gapped(_vault(lock_mode="governance", min_retention_days=30), p)
    assert v.status == "fail" and "governance" in v.message
    past = NOW - dt.timedelta(days=1)
    v = ctl.air_gapped(_vault(lock_mode="compliance", locked=True, lock_date=past,
                              min_retention_days=30), p)
    assert v.status == "pass" and past.isoformat() in v.message
    v = ctl.air_gapped(_vault(lock_mode="compliance", locked=True,
                              lock_date=NOW + dt.timedelta(days=2), min_retention_days=30), p)
    assert v.status == "fail" and "grace time" in v.message
    v = ctl.air_gapped(_vault(lock_mode="compliance", locked=True, lock_date=past,
                              min_retention_days=3), p)
    assert v.status == "fail" and "3 days" in v.message
    # deploy: a compliance lock is configured (no live Locked)
    v = ctl.air_gapped(_vault(lock_mode="compliance", changeable_for_days=3,
                              min_retention_days=7), p)
    assert v.status == "pass" and "immutable 3 days after" in v.message
    assert ctl.air_gapped(_vault(vault_type=UNKNOWN), p).status == "unknown"
    assert ctl.air_gapped(_vault(lock_mode=UNKNOWN), p).status == "unknown"


@pytest.mark.parametrize("principal,accepts", [
    ({"AWS": f"arn:aws:iam::{OTHER}:root"}, True),
    ({"AWS": OTHER}, True),
    ("*", True),
    ({"AWS": f"arn:aws:iam::{OWN}:root"}, False),
    ({"Service": "backup.amazonaws.com"}, False),
])
def test_vaults_that_receive_cross_account_copies(principal: Any, accepts: bool) -> None:
    doc = {"Statement": [{"Effect": "Allow", "Principal": principal,
                          "Action": "backup:CopyIntoBackupVault", "Resource": "*"}]}
    assert ctl.accepts_cross_account_copies(json.dumps(doc), OWN) is accepts
    deny = {"Statement": [{**doc["Statement"][0], "Effect": "Deny"}]}
    assert ctl.accepts_cross_account_copies(deny, OWN) is False
    assert ctl.accepts_cross_account_copies("{broken", OWN) is False


# ---- deny delete ------------------------------------------------------------------------------

def _deny(stmt: dict[str, Any] | None = None, **extra: Any) -> str:
    s = {**DENY["Statement"][0], **(stmt or {}), **extra}
    return json.dumps({"Version": "2012-10-17", "Statement": [s]})


@pytest.mark.parametrize("policy,allowed,status,why", [
    (_deny(), [], "pass", "DenyDelete"),
    (None, [], "fail", "no access policy"),
    (_deny(Action="backup:Delete*"), [], "fail", "UpdateRecoveryPointLifecycle"),
    # vault access policies do not support wildcards in Action: only named actions count
    (_deny(Action="backup:*"), [], "fail", "do not support"),
    (_deny(Principal={"AWS": "arn:aws:iam::123456789012:root"}), [], "fail", "DeleteRecovery"),
    (_deny(Condition={"ArnNotLike": {"aws:PrincipalArn": "arn:aws:iam::*:role/breakglass"}}),
     [], "fail", "exempts"),
    (_deny(Condition={"ArnNotLike": {"aws:PrincipalArn": "arn:aws:iam::*:role/breakglass"}}),
     ["arn:aws:iam::*:role/breakglass"], "pass", ""),
    (_deny(Condition={"StringEquals": {"aws:RequestedRegion": "us-east-1"}}), [], "fail",
     "condition"),
    (_deny(Resource="arn:aws:backup:us-east-1:123456789012:recovery-point:abc"), [], "fail",
     "Resource"),
    (_deny(Effect="Allow"), [], "fail", "does not deny"),
    (_deny(NotAction="backup:List*"), [], "fail", "do not support"),
    (_deny(NotAction="backup:ListRecoveryPointsByBackupVault"), [], "pass", ""),
    ("{not json", [], "error", "cannot be read"),
])
def test_deny_delete(policy: Any, allowed: list[str], status: str, why: str) -> None:
    v = ctl.deny_delete(VaultPolicy(ref="v", name="v", policy=policy),
                        {"allowedPrincipals": allowed})
    assert v.status == status, v.message
    assert why in v.message or why in json.dumps(v.evidence)


# ---- plan frequency and retention -------------------------------------------------------------

F = {"maxIntervalHours": 24, "minRetentionDays": 35}


def _plan(*rules: PlanRule) -> BackupPlan:
    return BackupPlan(ref="p", name="daily", rules=list(rules), as_of=NOW.date())


def test_frequency_retention() -> None:
    ok = PlanRule("r", "cron(0 5 ? * * *)", 35, [CopyAction(VAULT, 35)])
    assert ctl.frequency_retention(_plan(ok), F).status == "pass"
    assert ctl.frequency_retention(_plan(PlanRule("r", None, None)), F).status == "pass"
    v = ctl.frequency_retention(_plan(PlanRule("r", "cron(0 5 ? * MON-FRI *)", 35)), F)
    assert v.status == "fail" and "72 hours" in v.message
    v = ctl.frequency_retention(_plan(PlanRule("r", "rate(12 hours)", 14)), F)
    assert v.status == "fail" and "14 days" in v.message
    v = ctl.frequency_retention(_plan(PlanRule("r", "rate(1 day)", 35,
                                               [CopyAction(VAULT, 7)])), F)
    assert v.status == "fail" and "copy to" in v.message and "7 days" in v.message
    v = ctl.frequency_retention(_plan(PlanRule("r", "cron(0 5 * * * *)", 35)), F)
    assert v.status == "error" and "cannot be judged" in v.message
    v = ctl.frequency_retention(_plan(PlanRule("r", "cron(0 5 1 * ? 2026)", 35)), F)
    assert v.status == "fail" and "forever" in v.message
    assert ctl.frequency_retention(_plan(PlanRule("r", UNKNOWN, 35)), F).status == "unknown"
    assert ctl.frequency_retention(BackupPlan(ref="p", name="x", rules=UNKNOWN),
                                   F).status == "unknown"
    assert ctl.frequency_retention(_plan(), F).status == "fail"
    # hostile values never pass and never crash
    v = ctl.frequency_retention(_plan(PlanRule("r", "rate(1 day)", "forever")), F)
    assert v.status == "fail" and "unreadable lifecycle" in v.message
    assert ctl.frequency_retention(_plan(PlanRule("r", "rate(1 day)", "40")), F).status == "pass"
    v = ctl.frequency_retention(_plan(PlanRule("r", 42, 35)), F)
    assert v.status == "error"


# ---- jobs -------------------------------------------------------------------------------------

def test_jobs_healthy() -> None:
    p = {"windowHours": 26}
    t = lambda h: NOW - dt.timedelta(hours=h)  # noqa: E731
    h = JobHistory(ref="arn", name="orders", jobs=[Job("backup", "FAILED", t(10), "j1"),
                                                   Job("backup", "COMPLETED", t(5), "j2")])
    assert ctl.jobs_healthy(h, p).status == "pass"
    for state in ("FAILED", "ABORTED", "EXPIRED", "PARTIAL"):
        h = JobHistory(ref="arn", name="orders", jobs=[Job("backup", "COMPLETED", t(10), "j1"),
                                                       Job("copy", state, t(5), "c1", "denied")])
        v = ctl.jobs_healthy(h, p)
        assert v.status == "fail" and "copy job c1" in v.message and state in v.message
    # a later COMPLETED backup does not excuse a failed copy
    h = JobHistory(ref="arn", name="orders", jobs=[Job("copy", "FAILED", t(5), "c1"),
                                                   Job("backup", "COMPLETED", t(1), "j1")])
    assert ctl.jobs_healthy(h, p).status == "fail"
    assert ctl.jobs_healthy(JobHistory(ref="a", name="a"), p).status == "pass"
    assert ctl.jobs_healthy(JobHistory(ref="a", name="a", jobs=UNKNOWN), p).status == "unknown"


# ---- logs side: CloudTrail record shapes ------------------------------------------------------

BK, S3 = "backup.amazonaws.com", "s3.amazonaws.com"


def _plan_rp(copy_to: str | None, schedule: str = "cron(0 5 ? * * *)", keep: int = 35,
             plan_id: bool = True) -> dict[str, Any]:
    rule: dict[str, Any] = {"ruleName": "daily", "targetBackupVaultName": "local",
                            "scheduleExpression": schedule,
                            "lifecycle": {"deleteAfterDays": keep}}
    if copy_to:
        rule["copyActions"] = [{"destinationBackupVaultArn": copy_to,
                                "lifecycle": {"deleteAfterDays": 35}}]
    rp: dict[str, Any] = {"backupPlan": {"backupPlanName": "daily", "rules": [rule]}}
    if plan_id:
        rp["backupPlanId"] = "8f4e5a2b-1c3d-4e5f-a6b7-c8d9e0f1a2b3"
    return rp


def _repl(account: str, owner: str | None) -> dict[str, Any]:
    dest: dict[str, Any] = {"Bucket": "arn:aws:s3:::vault-of-record", "Account": account}
    if owner:
        dest["AccessControlTranslation"] = {"Owner": owner}
    return {"bucketName": "acme-backups", "Host": "acme-backups.s3.amazonaws.com",
            "replication": "", "ReplicationConfiguration": {
                "xmlns": "http://s3.amazonaws.com/doc/2006-03-01/",
                "Role": f"arn:aws:iam::{LOG_ACCOUNT}:role/replication",
                "Rule": {"ID": "to-vault", "Status": "Enabled", "Priority": 1,
                         "DeleteMarkerReplication": {"Status": "Disabled"},
                         "Filter": {"Prefix": ""}, "Destination": dest}}}


LOG_CASES: list[tuple[str, dict[str, Any], set[tuple[str, str]]]] = [
    ("plan update drops the cross-account copy",
     record("UpdateBackupPlan", BK, _plan_rp(None)), {(CROSS_ACCOUNT, "fail")}),
    ("plan update copies within the account",
     record("UpdateBackupPlan", BK, _plan_rp(
         f"arn:aws:backup:us-west-2:{LOG_ACCOUNT}:backup-vault:dr")), {(CROSS_ACCOUNT, "fail")}),
    ("plan update keeps a cross-account copy (near miss)",
     record("UpdateBackupPlan", BK, _plan_rp(VAULT)), set()),
    ("plan update refused",
     record("UpdateBackupPlan", BK, _plan_rp(None), error_code="AccessDenied"),
     {(CROSS_ACCOUNT, "attempt")}),
    ("plan deleted", record("DeleteBackupPlan", BK, {"backupPlanId": "8f4e5a2b"}),
     {(CROSS_ACCOUNT, "fail"), ("backup-vault-lock", "fail")}),
    ("plan weekened to weekly",
     record("UpdateBackupPlan", BK, _plan_rp(VAULT, "cron(0 5 ? * SUN *)")),
     {(FREQUENCY, "fail")}),
    ("plan created keeping 7 days",
     record("CreateBackupPlan", BK, _plan_rp(VAULT, keep=7, plan_id=False),
            response={"backupPlanId": "p-1", "backupPlanArn":
                      f"arn:aws:backup:us-east-1:{LOG_ACCOUNT}:backup-plan:p-1"}),
     {(FREQUENCY, "fail")}),
    ("plan created with an unreadable schedule",
     record("CreateBackupPlan", BK, _plan_rp(VAULT, "cron(0 5 * * * *)", plan_id=False)),
     {(FREQUENCY, "fail")}),
    ("plan created daily 35 days (near miss)",
     record("CreateBackupPlan", BK, _plan_rp(VAULT, plan_id=False)), set()),
    ("replication deleted", record("DeleteBucketReplication", S3, {
        "bucketName": "acme-backups", "Host": "acme-backups.s3.amazonaws.com",
        "replication": ""}), {(CROSS_ACCOUNT, "fail"), ("backup-bucket-replication", "fail")}),
    ("replication to another account, replicas owned here",
     record("PutBucketReplication", S3, _repl(OTHER, None)), {(CROSS_ACCOUNT, "fail")}),
    ("replication to another account it owns (near miss)",
     record("PutBucketReplication", S3, _repl(OTHER, "Destination")), set()),
    ("vault lock removed", record("DeleteBackupVaultLockConfiguration", BK, {
        "backupVaultName": "record"}), {(AIR_GAPPED, "fail"), ("backup-vault-lock", "fail")}),
    ("vault lock removal refused", record("DeleteBackupVaultLockConfiguration", BK, {
        "backupVaultName": "record"}, error_code="InvalidRequestException"),
     {(AIR_GAPPED, "attempt"), ("backup-vault-lock", "attempt")}),
    ("vault policy without the deny", record("PutBackupVaultAccessPolicy", BK, {
        "backupVaultName": "local", "policy": json.dumps({"Version": "2012-10-17",
                                                           "Statement": []})}),
     {(DENY_DELETE, "fail")}),
    ("vault policy with the deny (near miss)", record("PutBackupVaultAccessPolicy", BK, {
        "backupVaultName": "local", "policy": json.dumps(DENY)}), set()),
    ("vault policy deleted", record("DeleteBackupVaultAccessPolicy", BK, {
        "backupVaultName": "local"}), {(DENY_DELETE, "fail")}),
    ("vault policy deletion refused", record("DeleteBackupVaultAccessPolicy", BK, {
        "backupVaultName": "local"}, error_code="AccessDeniedException"),
     {(DENY_DELETE, "attempt")}),
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
        assert h.resource.startswith("arn:aws:")
        if h.status == "attempt":
            assert h.message.startswith("Refused")


@pytest.mark.parametrize("allowed", [[], ["arn:aws:iam::111122223333:role/backup-admin"]])
def test_the_fixed_policy_passes_and_cannot_be_deleted_either(allowed: list[str]) -> None:
    """The policy the remediation writes passes the control, and also denies deleting the
    policy itself: else an admin deletes the policy, then the recovery points."""
    v = VaultPolicy(ref="v", name="v", policy=None)
    fix = ctl.deny_delete(v, {"allowedPrincipals": allowed}).remediation
    assert fix is not None and fix.cli is not None
    doc = json.loads(fix.cli.split("--policy ", 1)[1].strip("'"))
    assert ctl.deny_delete(VaultPolicy(ref="v", name="v", policy=doc),
                           {"allowedPrincipals": allowed}).status == "pass"
    assert "backup:DeleteBackupVaultAccessPolicy" in doc["Statement"][0]["Action"]
    assert "deleting the policy" in fix.summary
