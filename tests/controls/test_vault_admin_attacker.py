"""The controls that keep an admin of the production account from destroying recovery data,
against the policies and locks such an admin would write: each case passed before (a false
pass) and must now fail, with a message that says what is wrong, and the fix must pass.
Rules on facts here; the deploy side through the gRPC pack on real Pulumi programs
(tests/controls/recovery_programs.py); the live side on moto, with the vault access policies
moto does not serve as canned answers (tests/faulty_proxy.py)."""

from __future__ import annotations

import datetime as dt
import json
import shlex
from typing import Any

import pytest

from drguard.controls import backup as backup_ctl
from drguard.controls import recovery as ctl
from drguard.controls.backup import Vault
from drguard.controls.recovery import DENY_DELETE, VaultPolicy
from tests.controls.recovery_programs import (
    DENY,
    vault_locks_admin,
    vault_policies_hostile,
    vault_written_twice,
)
from tests.faulty_proxy import Fault, FaultyProxy
from tests.harness.analyzer import run_stack
from tests.live_support import ACCOUNT, one, run_scan

REGION = "us-east-1"
ARN = f"arn:aws:backup:{REGION}:{ACCOUNT}:backup-vault:vault"
RP_ONLY = f"arn:aws:backup:{REGION}:{ACCOUNT}:recovery-point:*"
FOREIGN_RP = f"arn:aws:backup:{REGION}:999999999999:recovery-point:*"
REQUIRED = list(ctl.PROTECTED_ACTIONS)
VAULT_LOCK = "backup-vault-lock"
NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)


def _doc(**stmt: Any) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": [{**DENY["Statement"][0], **stmt}]}


def _policy(doc: Any) -> VaultPolicy:
    return VaultPolicy(ref=ARN, name="vault", account=ACCOUNT, region=REGION, policy=doc)


HOSTILE = [
    # the deny names only this account's backup recovery points: EBS/EC2 and RDS recovery
    # points have their own services' ARNs, and PutBackupVaultAccessPolicy acts on the vault
    ("recovery points of AWS Backup only", _doc(Resource=RP_ONLY), [],
     "backup:PutBackupVaultAccessPolicy"),
    ("another account's recovery points", _doc(Resource=[FOREIGN_RP, ARN]), [],
     "backup:DeleteRecoveryPoint"),
    # vault access policies do not support wildcards in Action (AWS Backup developer guide)
    ("wildcard action", _doc(Action="backup:*"), [], "wildcard"),
    ("wildcard actions", _doc(Action=["backup:Delete*", "backup:Update*",
                                      "backup:PutBackupVaultAccessPolicy",
                                      "backup:DeleteBackupVaultAccessPolicy"]), [], "wildcard"),
    # `bg?` allows one character after bg; the policy exempts every role starting bg
    ("exemption wider than allowedPrincipals",
     _doc(Condition={"ArnNotLike": {"aws:PrincipalArn": f"arn:aws:iam::{ACCOUNT}:role/bg*"}}),
     [f"arn:aws:iam::{ACCOUNT}:role/bg?"], "exempts"),
]


@pytest.mark.parametrize("doc,allowed,why", [c[1:] for c in HOSTILE],
                         ids=[c[0] for c in HOSTILE])
def test_hostile_vault_policy_fails(doc: Any, allowed: list[str], why: str) -> None:
    v = ctl.deny_delete(_policy(doc), {"allowedPrincipals": allowed})
    assert v.status == "fail", v.message
    assert why in v.message or why in json.dumps(v.evidence), (v.message, v.evidence)
    # the fix the finding proposes passes the same check
    assert v.remediation is not None and v.remediation.cli is not None
    fixed = json.loads(v.remediation.cli.split("--policy ", 1)[1].strip("'"))
    assert ctl.deny_delete(_policy(fixed), {"allowedPrincipals": allowed}).status == "pass"


@pytest.mark.parametrize("doc,allowed", [
    (_doc(), []),
    (_doc(Resource=["*"]), []),
    (_doc(Resource="arn:aws:*:*:*:*"), []),
    (_doc(Action=[a.lower() for a in REQUIRED]), []),
    # the exact principal allowed, and a narrower glob than the one allowed
    (_doc(Condition={"ArnNotLike": {"aws:PrincipalArn": f"arn:aws:iam::{ACCOUNT}:role/bgx"}}),
     [f"arn:aws:iam::{ACCOUNT}:role/bg?"]),
    (_doc(Condition={"ArnNotLike": {"aws:PrincipalArn": f"arn:aws:iam::{ACCOUNT}:role/bg-?"}}),
     [f"arn:aws:iam::{ACCOUNT}:role/bg-*"]),
    # two statements: one for the recovery points (every ARN), one for the vault
    ({"Version": "2012-10-17", "Statement": [
        {**DENY["Statement"][0], "Sid": "Points", "Action": REQUIRED[:2]},
        {**DENY["Statement"][0], "Sid": "Vault", "Action": REQUIRED[2:], "Resource": ARN}]},
     []),
])
def test_sound_vault_policy_still_passes(doc: Any, allowed: list[str]) -> None:
    v = ctl.deny_delete(_policy(doc), {"allowedPrincipals": allowed})
    assert v.status == "pass", (v.message, v.evidence)


# ---- deploy side -------------------------------------------------------------------------------

@pytest.mark.parametrize("preview", [True, False], ids=["preview", "update"])
def test_pack_hostile_vault_policies_are_violations(analyzer, capture, preview) -> None:  # noqa: ANN001
    cap = capture(vault_policies_hostile, preview=preview)
    run = run_stack(analyzer, cap)
    got = {d.urn: d for d in run.by_policy(DENY_DELETE)}
    for name, why in (("rp-only", "backup:PutBackupVaultAccessPolicy"),
                      ("wildcard", "wildcard")):
        d = got.get(cap.get(name)["urn"])
        assert d is not None and d.enforcement_level == "mandatory", (name, d)
        assert why in d.message, d.message
    assert cap.get("sound")["urn"] not in got, got[cap.get("sound")["urn"]].message


# ---- live side ---------------------------------------------------------------------------------

def test_live_hostile_vault_policies_fail(aws) -> None:  # noqa: ANN001
    bk = aws.client("backup", REGION)
    policies = {"sound": _doc(), "rp-only": _doc(Resource=RP_ONLY),
                "wildcard": _doc(Action="backup:*"),
                "wide-exemption": _doc(Condition={"ArnNotLike": {
                    "aws:PrincipalArn": f"arn:aws:iam::{ACCOUNT}:role/bg*"}})}
    faults = []
    for name, doc in policies.items():
        bk.create_backup_vault(BackupVaultName=name)
        faults.append(Fault("reply", "backup", f"GET /backup-vaults/{name}/access-policy",
                            reply={"BackupVaultName": name, "Policy": json.dumps(doc)}))
    config = {"controls": {DENY_DELETE: {
        "allowedPrincipals": [f"arn:aws:iam::{ACCOUNT}:role/bg?"]}}}
    with FaultyProxy(aws.url, faults) as proxy:
        findings = run_scan(aws, config=config, regions=[REGION], endpoint=proxy.url).findings
    assert one(findings, DENY_DELETE, "backup-vault:sound").status == "pass"
    for name, why in (("rp-only", "backup:PutBackupVaultAccessPolicy"),
                      ("wildcard", "wildcard"), ("wide-exemption", "role/bg*")):
        f = one(findings, DENY_DELETE, f"backup-vault:{name}")
        assert f.status == "fail", (name, f.message)
        assert why in f.message or why in json.dumps(f.evidence), (name, f.message)


# ---- backup-vault-lock: a lock an admin can remove does not protect --------------------------

LOCK = {"minRetentionDays": 7}


@pytest.mark.parametrize("vault,why", [
    # governance mode: DeleteBackupVaultLockConfiguration, then DeleteRecoveryPoint
    (Vault(ref="v", name="v", lock_min_retention_days=35, lock_mode="governance"),
     "governance mode"),
    # compliance mode, still in its grace time (live: the lock date is ahead)
    (Vault(ref="v", name="v", lock_min_retention_days=35, lock_mode="compliance",
           lock_date=NOW + dt.timedelta(days=2), as_of=NOW), "grace time"),
], ids=["governance", "grace time"])
def test_removable_vault_lock_fails(vault: Vault, why: str) -> None:
    v = backup_ctl.vault_lock(vault, LOCK)
    assert v.status == "fail", v.message
    assert why in v.message
    assert v.remediation is not None
    if vault.lock_mode == "governance":  # put it again, in compliance mode
        assert "--changeable-for-days 3" in str(v.remediation.cli)
        assert "--min-retention-days 35" in str(v.remediation.cli)
    else:  # putting it again would restart the grace time: wait
        assert v.remediation.cli is None and "Nothing to change" in v.remediation.summary


def test_short_lock_in_grace_time_is_raised_not_waited_for() -> None:
    vault = Vault(ref="v", name="v", lock_min_retention_days=1, lock_mode="compliance",
                  lock_date=NOW + dt.timedelta(days=2), as_of=NOW)
    v = backup_ctl.vault_lock(vault, LOCK)
    assert v.status == "fail" and "only 1 day, below 7" in v.message and "grace" in v.message
    assert v.remediation is not None and "--min-retention-days 7" in str(v.remediation.cli)


def test_permanent_vault_lock_passes() -> None:
    past = Vault(ref="v", name="v", lock_min_retention_days=35, lock_mode="compliance",
                 lock_date=NOW - dt.timedelta(days=2), as_of=NOW)
    assert backup_ctl.vault_lock(past, LOCK).status == "pass"
    deploy = Vault(ref="v", name="v", lock_min_retention_days=35, lock_mode="compliance",
                   changeable_for_days=3)
    v = backup_ctl.vault_lock(deploy, LOCK)
    assert v.status == "pass" and "immutable 3 days after" in v.message


@pytest.mark.parametrize("preview", [True, False], ids=["preview", "update"])
def test_pack_governance_vault_lock_is_a_violation(analyzer, capture, preview) -> None:  # noqa: ANN001
    cap = capture(vault_locks_admin, preview=preview)
    run = run_stack(analyzer, cap)
    got = {d.urn: d for d in run.by_policy(VAULT_LOCK)}
    for name in ("governance-vault", "native-governance"):
        d = got.get(cap.get(name)["urn"])
        assert d is not None and d.enforcement_level == "mandatory", (name, d)
        assert "governance mode" in d.message, d.message
    for name in ("compliance-vault", "native-compliance"):
        assert cap.get(name)["urn"] not in got, got[cap.get(name)["urn"]].message


def test_live_removable_vault_locks_fail_and_the_fix_passes(aws) -> None:  # noqa: ANN001
    """moto's own ListBackupVaults: a governance lock and a compliance lock in its grace time
    fail; the CLI fix applied to the governance vault passes once its grace time is over."""
    bk = aws.client("backup", REGION)
    bk.create_backup_vault(BackupVaultName="governance")
    bk.put_backup_vault_lock_configuration(BackupVaultName="governance", MinRetentionDays=35)
    bk.create_backup_vault(BackupVaultName="compliance")
    bk.put_backup_vault_lock_configuration(BackupVaultName="compliance", MinRetentionDays=35,
                                           ChangeableForDays=3)
    findings = run_scan(aws, regions=[REGION], now=NOW).findings
    f = one(findings, VAULT_LOCK, "backup-vault:governance")
    assert f.status == "fail" and "governance mode" in f.message, f.message
    f = one(findings, VAULT_LOCK, "backup-vault:compliance")
    assert f.status == "fail" and "grace time" in f.message, f.message
    # the fix, as its CLI line says, on the governance vault
    gov = one(findings, VAULT_LOCK, "backup-vault:governance").remediation
    assert gov is not None
    argv = shlex.split(gov["cli"])
    assert argv[:3] == ["aws", "backup", "put-backup-vault-lock-configuration"]
    opts = dict(zip(argv[3::2], argv[4::2], strict=True))
    bk.put_backup_vault_lock_configuration(
        BackupVaultName=opts["--backup-vault-name"],
        MinRetentionDays=int(opts["--min-retention-days"]),
        ChangeableForDays=int(opts["--changeable-for-days"]))
    later = run_scan(aws, regions=[REGION], now=NOW + dt.timedelta(days=4)).findings
    for name in ("governance", "compliance"):
        f = one(later, VAULT_LOCK, f"backup-vault:{name}")
        assert f.status == "pass" and "compliance mode" in f.message, f.message


# ---- one vault written twice: AWS keeps whichever is applied last -----------------------------

@pytest.mark.parametrize("preview", [True, False], ids=["preview", "update"])
def test_pack_weakest_of_two_policies_or_locks_is_judged(analyzer, capture, preview) -> None:  # noqa: ANN001
    cap = capture(vault_written_twice, preview=preview)
    run = run_stack(analyzer, cap)
    urn = cap.get("twice")["urn"]
    for control, why in ((DENY_DELETE, "wildcard"), (VAULT_LOCK, "governance mode")):
        got = [d for d in run.by_policy(control) if d.urn == urn]
        assert got and got[0].enforcement_level == "mandatory", (control, got)
        assert why in got[0].message and "twice-weak-" in got[0].message, got[0].message


# ---- what already failed, and must keep failing ------------------------------------------------

ROLE = f"arn:aws:iam::{ACCOUNT}:role/ops-admin"


@pytest.mark.parametrize("doc", [
    _doc(Principal={"AWS": ROLE}),
    {"Version": "2012-10-17", "Statement": [{k: v for k, v in {
        **DENY["Statement"][0], "NotPrincipal": {"AWS": ROLE}}.items() if k != "Principal"}]},
    _doc(Condition={"StringNotEquals": {"aws:PrincipalTag/team": "platform"}}),
    _doc(Condition={"ArnNotLike": {"aws:PrincipalArn": f"arn:aws:iam::{ACCOUNT}:role/*"}}),
    _doc(Condition={"StringNotEquals": {"aws:PrincipalAccount": ACCOUNT}}),
    _doc(Condition={"NotIpAddress": {"aws:SourceIp": "203.0.113.0/24"}}),
    _doc(Condition={"Bool": {"aws:ViaAWSService": "false"}}),
    _doc(Condition={"ArnNotLike": {"aws:PrincipalArn": [ROLE, 5]}}),
    _doc(NotResource=RP_ONLY),
    _doc(NotAction=REQUIRED[0]),
    _doc(Resource=5),
], ids=["one role", "NotPrincipal", "PrincipalTag", "every role of the account",
        "PrincipalAccount", "SourceIp", "ViaAWSService", "exemption not a string",
        "NotResource", "NotAction", "Resource not a string"])
def test_narrowed_deny_keeps_failing(doc: Any) -> None:
    v = ctl.deny_delete(_policy(doc), {"allowedPrincipals": []})
    assert v.status == "fail", v.message
    assert "statement DenyDelete:" in v.message, v.message


def test_live_refused_vault_policy_read_is_an_error(aws) -> None:  # noqa: ANN001
    aws.client("backup", REGION).create_backup_vault(BackupVaultName="guarded")
    faults = [Fault("denied", "backup", "GET /backup-vaults/guarded/access-policy")]
    with FaultyProxy(aws.url, faults) as proxy:
        findings = run_scan(aws, config={}, regions=[REGION], endpoint=proxy.url).findings
    f = one(findings, DENY_DELETE, "backup-vault:guarded")
    assert f.status == "error" and "backup:GetBackupVaultAccessPolicy" in f.message, f.message


# ---- the policy itself: an admin who may delete it deletes it, then the recovery points --------

THREE = ["backup:DeleteRecoveryPoint", "backup:UpdateRecoveryPointLifecycle",
         "backup:PutBackupVaultAccessPolicy"]


def test_policy_that_can_be_deleted_fails() -> None:
    v = ctl.deny_delete(_policy(_doc(Action=THREE)), {"allowedPrincipals": []})
    assert v.status == "fail", v.message
    assert "backup:DeleteBackupVaultAccessPolicy" in v.message
    assert v.remediation is not None and v.remediation.cli is not None
    fixed = json.loads(v.remediation.cli.split("--policy ", 1)[1].strip("'"))
    assert ctl.deny_delete(_policy(fixed), {"allowedPrincipals": []}).status == "pass"


def test_live_policy_that_can_be_deleted_fails(aws) -> None:  # noqa: ANN001
    aws.client("backup", REGION).create_backup_vault(BackupVaultName="three")
    faults = [Fault("reply", "backup", "GET /backup-vaults/three/access-policy", reply={
        "BackupVaultName": "three", "Policy": json.dumps(_doc(Action=THREE))})]
    with FaultyProxy(aws.url, faults) as proxy:
        findings = run_scan(aws, config={}, regions=[REGION], endpoint=proxy.url).findings
    f = one(findings, DENY_DELETE, "backup-vault:three")
    assert f.status == "fail" and "backup:DeleteBackupVaultAccessPolicy" in f.message, f.message
