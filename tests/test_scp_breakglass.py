"""Break-glass exemptions in SCPs, judged against a hostile admin of a covered (member) account:
an exemption counts only when that admin cannot become the exempted principal."""

from __future__ import annotations

import json
import shlex

import pytest

from drguard import iampolicy
from drguard.controls import organizations as scp_rule
from drguard.controls.organizations import Scp
from drguard.registry import BACKUP_DELETION_ACTIONS, BY_ID

REQ = BACKUP_DELETION_ACTIONS
MEMBER = "111111111111"
OTHER = "222222222222"
MGMT = "999999999999"
BG = "arn:aws:iam::*:role/BreakGlass"
ROLE_GUARD = ["iam:CreateRole", "iam:UpdateAssumeRolePolicy", "iam:AttachRolePolicy",
              "iam:PutRolePolicy"]


def doc(*statements):
    return {"Version": "2012-10-17", "Statement": list(statements)}


def deny(condition=None, sid="ProtectBackups", actions=None):
    s = {"Sid": sid, "Effect": "Deny", "Action": actions or REQ, "Resource": "*"}
    if condition is not None:
        s["Condition"] = condition
    return s


def guard(arns, actions=ROLE_GUARD, exempt=None, sid="ProtectBreakGlass"):
    return {"Sid": sid, "Effect": "Deny", "Action": actions, "Resource": arns,
            "Condition": {"ArnNotLike": {"aws:PrincipalArn": exempt or arns}}}


def judged(document, account=MEMBER, management=None, guards=None):
    p = iampolicy.Principals(account=account, management=management,
                             guards=guards if guards is not None
                             else iampolicy.statements(document))
    return iampolicy.analyze(document, REQ, p)


def counts(a):
    return a.denied == set(REQ)


# ---- exemptions that a member-account admin can use --------------------------------------

@pytest.mark.parametrize("condition, why", [
    ({"StringNotEquals": {"aws:PrincipalAccount": [MEMBER]}},
     f"every principal of account {MEMBER}"),
    ({"StringNotEquals": {"aws:PrincipalType": "AssumedRole"}}, "aws:PrincipalType"),
    ({"ArnNotLike": {"aws:PrincipalArn": "arn:aws:iam::*:role/*"}}, "wildcard"),
    ({"ArnNotLike": {"aws:PrincipalArn": "arn:aws:iam::*:role/ops/*"}}, "wildcard"),
    ({"ArnNotLike": {"aws:PrincipalArn": "arn:aws:iam::*:role/break-*"}}, "wildcard"),
    ({"StringNotEquals": {"aws:PrincipalTag/team": "ops"}}, "iam:TagRole"),
    ({"StringNotEqualsIfExists": {"aws:PrincipalTag/role": "break-glass"}}, "iam:TagRole"),
    ({"StringNotEquals": {"aws:SourceIdentity": "alice"}}, "source identity"),
    ({"StringNotLike": {"aws:userid": "AROAEXAMPLE:*"}}, "aws:PrincipalArn"),
    ({"StringNotEquals": {"aws:username": "breakglass"}}, "aws:PrincipalArn"),
    ({"ArnNotLike": {"aws:PrincipalArn": f"arn:aws:sts::{MEMBER}:federated-user/bg"}},
     "not an IAM role or user"),
    ({"ArnNotLike": {"aws:PrincipalArn": BG}}, "iam:CreateRole"),
    ({"StringNotEqualsIgnoreCase": {"aws:PrincipalArn": BG}}, "differs only in case"),
    ({"ArnNotEquals": {"aws:PrincipalArn": f"arn:aws:iam::{MEMBER}:role/BreakGlass"}},
     "iam:CreateRole"),
    ({"ArnNotLike": {"aws:PrincipalArn": f"arn:aws:iam::{MEMBER}:user/bg"}},
     "iam:CreateAccessKey"),
])
def test_takeoverable_exemptions_do_not_count(condition, why):
    a = judged(doc(deny(condition)))
    assert a.denied == set()
    (ignored,) = a.ignored
    assert ignored["statement"] == "ProtectBackups" and why in ignored["reason"], ignored


def test_takeover_reason_names_the_arn_the_account_and_the_fix():
    a = judged(doc(deny({"ArnNotLike": {"aws:PrincipalArn": BG}})))
    assert a.ignored[0]["reason"] == (
        f"exempts {BG}, which an admin of account {MEMBER} can create or take over: "
        f"also deny iam:CreateRole, iam:UpdateAssumeRolePolicy, iam:AttachRolePolicy, "
        f"iam:PutRolePolicy on it to every other principal")
    (e,) = a.takeovers
    assert (e.statement, e.value, e.guardable) == ("ProtectBackups", BG, True)


def test_account_exemption_of_another_account_exempts_nobody_here():
    """An SCP applies to the principals of the accounts it covers: an exemption that can only
    match principals of another account exempts nobody in this one."""
    cond = {"StringNotEquals": {"aws:PrincipalAccount": [OTHER]}}
    assert counts(judged(doc(deny(cond))))
    assert not counts(judged(doc(deny(cond)), account=OTHER))
    role = {"ArnNotLike": {"aws:PrincipalArn": f"arn:aws:iam::{OTHER}:role/BreakGlass"}}
    assert counts(judged(doc(deny(role))))


def test_unknown_account_exemptions_count_only_for_the_management_account():
    """Deploy side, an SCP on the root or an OU: which accounts it covers is unknown, but it
    never covers the management account."""
    role = {"ArnNotLike": {"aws:PrincipalArn": f"arn:aws:iam::{MGMT}:role/BreakGlass"}}
    assert counts(judged(doc(deny(role)), account=None, management=MGMT))
    assert not counts(judged(doc(deny(role)), account=None, management=None))
    acct = {"StringNotEquals": {"aws:PrincipalAccount": MGMT}}
    assert counts(judged(doc(deny(acct)), account=None, management=MGMT))
    assert not counts(judged(doc(deny(acct)), account=None, management=OTHER))


# ---- the guard that makes a break-glass real ---------------------------------------------

def test_guarded_break_glass_counts():
    cond = {"ArnNotLike": {"aws:PrincipalArn": BG}}
    assert counts(judged(doc(deny(cond), guard(BG))))
    ignoring_case = {"StringNotEqualsIgnoreCase": {"aws:PrincipalArn": BG}}
    assert not counts(judged(doc(deny(ignoring_case), guard(BG))))
    assert counts(judged(doc(deny(cond), guard(BG)), account=None))
    # the guard may live in another SCP attached over the account
    assert counts(judged(doc(deny(cond)), guards=[guard(BG)]))
    # a guard on every role of the account covers it too
    assert counts(judged(doc(deny(cond), guard("arn:aws:iam::*:role/*", exempt=BG))))
    # two break-glass roles, one guard naming both
    two = [BG, "arn:aws:iam::*:role/BreakGlass2"]
    assert counts(judged(doc(deny({"ArnNotLike": {"aws:PrincipalArn": two}}), guard(two))))


@pytest.mark.parametrize("bad_guard, why", [
    (guard(BG, actions=["iam:CreateRole"]), "iam:UpdateAssumeRolePolicy"),
    (guard(BG, exempt=[BG, "arn:aws:iam::*:role/Admin"]), "iam:CreateRole"),
    (guard(f"arn:aws:iam::{OTHER}:role/BreakGlass"), "iam:CreateRole"),
    ({**guard(BG), "Condition": {"StringEquals": {"aws:RequestedRegion": "eu-west-1"}}},
     "iam:CreateRole"),
    ({**guard(BG), "Effect": "Allow"}, "iam:CreateRole"),
])
def test_a_guard_must_deny_every_takeover_action_to_everyone_else(bad_guard, why):
    a = judged(doc(deny({"ArnNotLike": {"aws:PrincipalArn": BG}}), bad_guard))
    assert a.denied == set() and why in a.ignored[0]["reason"], a.ignored


def test_a_guard_may_exempt_the_same_role_written_for_any_account():
    member_bg = f"arn:aws:iam::{MEMBER}:role/BreakGlass"
    d = doc(deny({"ArnNotLike": {"aws:PrincipalArn": member_bg}}), guard(BG))
    assert counts(judged(d))
    other_role = guard(BG, exempt=[member_bg, "arn:aws:iam::*:role/Admin"])
    assert not counts(judged(doc(deny({"ArnNotLike": {"aws:PrincipalArn": member_bg}}),
                                 other_role)))


def test_a_guard_on_one_account_protects_that_account_only():
    member_bg = f"arn:aws:iam::{MEMBER}:role/BreakGlass"
    d = doc(deny({"ArnNotLike": {"aws:PrincipalArn": BG}}), guard(member_bg, exempt=BG))
    assert counts(judged(d))
    assert not counts(judged(d, account=OTHER))
    assert not counts(judged(d, account=None))


def test_guard_actions_are_configurable():
    cond = {"ArnNotLike": {"aws:PrincipalArn": BG}}
    d = doc(deny(cond), guard(BG))
    p = iampolicy.Principals(account=MEMBER, guards=iampolicy.statements(d),
                             takeover_actions=[*ROLE_GUARD, "sts:AssumeRole"])
    a = iampolicy.analyze(d, REQ, p)
    assert a.denied == set() and "sts:AssumeRole" in a.ignored[0]["reason"]
    assert counts(judged(doc(deny(cond), guard(BG, actions=["iam:*"]))))


def test_default_guard_actions_are_the_control_parameter():
    default = BY_ID["scp-deny-backup-deletion"].defaults()["breakGlassGuardActions"]
    assert default == list(iampolicy.TAKEOVER_ACTIONS)
    assert {"iam:CreateRole", "iam:UpdateAssumeRolePolicy", "iam:CreateAccessKey"} <= set(default)


# ---- the SCP coverage rule: message and remediation --------------------------------------

def _params(**extra):
    return {**BY_ID["scp-deny-backup-deletion"].defaults(), **extra}


def test_coverage_fails_and_says_which_exemption_and_how_to_fix():
    scp = Scp(ref="arn:aws:organizations::999999999999:policy/o-1/service_control_policy/p-1",
              name="protect", document=doc(deny({"ArnNotLike": {"aws:PrincipalArn": BG}})),
              targets=["r-root"])
    v = scp_rule.coverage(MEMBER, [MEMBER, "r-root"], [scp], _params())
    assert v.status == "fail"
    assert (f"Statement ProtectBackups of SCP protect exempts {BG}, which an admin of account "
            f"{MEMBER} can create or take over: also deny iam:CreateRole, "
            "iam:UpdateAssumeRolePolicy, iam:AttachRolePolicy, iam:PutRolePolicy on it to "
            "every other principal.") in v.message
    assert "keeping the break-glass exemption of " + BG in v.remediation.summary
    tag = Scp(ref="p", name="tagged", targets=["r-root"], document=doc(
        deny({"StringNotEquals": {"aws:PrincipalTag/team": "ops"}})))
    v = scp_rule.coverage(MEMBER, [MEMBER, "r-root"], [tag], _params())
    assert "exempts aws:PrincipalTag/team ops: an admin of account 111111111111 can tag" in \
        v.message
    assert ("without the exemption of aws:PrincipalTag/team ops (an admin of a member account "
            "could use it)") in v.remediation.summary


def _fixed_document(remediation):
    """The SCP content the remediation's CLI script writes."""
    words = shlex.split(remediation.cli.replace("\\\n", " "))
    return json.loads(words[words.index("--content") + 1])


@pytest.mark.parametrize("condition", [
    None,
    {"ArnNotLike": {"aws:PrincipalArn": BG}},
    {"ArnNotLike": {"aws:PrincipalArn": [BG, f"arn:aws:iam::{MEMBER}:user/bg"]}},
    {"ArnNotLike": {"aws:PrincipalArn": "arn:aws:iam::*:role/*"}},
    {"StringNotEquals": {"aws:PrincipalTag/team": "ops"}},
    {"StringNotEquals": {"aws:PrincipalAccount": MEMBER}},
])
@pytest.mark.parametrize("account", [MEMBER, OTHER])
def test_the_remediation_passes_its_own_rule(condition, account):
    """The SCP the fix writes, fed back through the rule, covers the account: it keeps a
    break-glass that can be guarded and guards it, and drops an exemption that cannot be."""
    actions = [a for a in REQ if a != "cloudtrail:DeleteTrail"] if condition is None else REQ
    scp = Scp(ref="p", name="protect", document=doc(deny(condition, actions=actions)),
              targets=["r-root"])
    v = scp_rule.coverage(account, [account, "r-root"], [scp], _params())
    if v.status == "pass":
        assert condition is not None and account == OTHER
        return
    fixed = _fixed_document(v.remediation)
    assert json.loads(v.remediation.pulumi.split("content=json.dumps(", 1)[1]
                      .rsplit("))", 1)[0]) == fixed
    again = Scp(ref="p", name=scp_rule.SCP_NAME, document=fixed, targets=["r-root"])
    for acct in (MEMBER, OTHER):
        ok = scp_rule.coverage(acct, [acct, "r-root"], [again], _params())
        assert ok.status == "pass", ok.message
    # and on the deploy side, where the covered accounts are unknown
    declared = scp_rule.declared([again], _params())
    assert declared is not None and declared[1].status == "pass", declared[1].message
    kept = [s for s in fixed["Statement"] if "Condition" in s]
    if condition is not None and BG in json.dumps(condition):
        assert kept and all(BG in json.dumps(s["Condition"]) for s in kept)
    else:
        assert not kept


def test_declared_side_uses_the_policy_arn_for_the_management_account():
    """Deploy side: the SCP's ARN names the management account, whose roles no SCP covers."""
    role = {"ArnNotLike": {"aws:PrincipalArn": f"arn:aws:iam::{MGMT}:role/BreakGlass"}}
    arn = f"arn:aws:organizations::{MGMT}:policy/o-1/service_control_policy/p-1"
    known = Scp(ref="urn:x", name="p", document=doc(deny(role)), targets=["r-root"], arn=arn)
    res = scp_rule.declared([known], _params())
    assert res is not None and res[1].status == "pass", res[1].message
    unknown = Scp(ref="urn:x", name="p", document=doc(deny(role)), targets=["r-root"])
    res = scp_rule.declared([unknown], _params())
    assert res is not None and res[1].status == "fail"
    assert f"arn:aws:iam::{MGMT}:role/BreakGlass" in res[1].message


@pytest.mark.parametrize("statement", [
    {"Effect": "Deny", "Action": "*", "Resource": 5},
    {"Effect": "Deny", "Action": 5, "Resource": "*"},
    deny({"ArnNotLike": {"aws:PrincipalArn": 5}}),
    deny({"ArnNotLike": {"aws:PrincipalArn": {"a": BG}}}),
    deny({"Bool": {"aws:PrincipalIsAWSService": False}}),
])
def test_odd_values_in_a_policy_are_judged_not_raised(statement):
    """A document with a number or object where IAM expects strings is judged (such values
    match nothing), never an exception out of the rule."""
    d = doc(statement, {**guard(BG), "Resource": 7})
    a = judged(d)
    assert a.denied <= set(REQ)
    v = scp_rule.coverage(MEMBER, [MEMBER, "r-root"],
                          [Scp(ref="p", name="p", document=d, targets=["r-root"])], _params())
    assert v.status in ("pass", "fail")
