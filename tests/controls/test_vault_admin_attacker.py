"""The controls that keep an admin of the production account from destroying recovery data,
against the policies and locks such an admin would write: each case passed before (a false
pass) and must now fail, with a message that says what is wrong, and the fix must pass.
Rules on facts here; the deploy side through the gRPC pack on real Pulumi programs
(tests/controls/recovery_programs.py); the live side on moto, with the vault access policies
moto does not serve as canned answers (tests/faulty_proxy.py)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from drguard.controls import recovery as ctl
from drguard.controls.recovery import DENY_DELETE, VaultPolicy
from tests.controls.recovery_programs import DENY, vault_policies_hostile
from tests.faulty_proxy import Fault, FaultyProxy
from tests.harness.analyzer import run_stack
from tests.live_support import ACCOUNT, one, run_scan

REGION = "us-east-1"
ARN = f"arn:aws:backup:{REGION}:{ACCOUNT}:backup-vault:vault"
RP_ONLY = f"arn:aws:backup:{REGION}:{ACCOUNT}:recovery-point:*"
FOREIGN_RP = f"arn:aws:backup:{REGION}:999999999999:recovery-point:*"
ALL_THREE = list(ctl.PROTECTED_ACTIONS)


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
                                      "backup:PutBackupVaultAccessPolicy"]), [], "wildcard"),
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
    (_doc(Action=[a.lower() for a in ALL_THREE]), []),
    # the exact principal allowed, and a narrower glob than the one allowed
    (_doc(Condition={"ArnNotLike": {"aws:PrincipalArn": f"arn:aws:iam::{ACCOUNT}:role/bgx"}}),
     [f"arn:aws:iam::{ACCOUNT}:role/bg?"]),
    (_doc(Condition={"ArnNotLike": {"aws:PrincipalArn": f"arn:aws:iam::{ACCOUNT}:role/bg-?"}}),
     [f"arn:aws:iam::{ACCOUNT}:role/bg-*"]),
    # two statements: one for the recovery points (every ARN), one for the vault
    ({"Version": "2012-10-17", "Statement": [
        {**DENY["Statement"][0], "Sid": "Points", "Action": ALL_THREE[:2]},
        {**DENY["Statement"][0], "Sid": "Vault", "Action": ALL_THREE[2], "Resource": ARN}]},
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
