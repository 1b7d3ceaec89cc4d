"""Which actions an IAM policy document (an Organizations SCP) denies, for every principal.

Pure functions, shared by the auditor (live SCPs) and the policy pack (SCPs declared in a
stack). A statement counts when it is `Effect: Deny`, covers every resource of the action's
service, and its conditions at most exempt a break-glass principal that an administrator of a
covered account cannot become. Anything narrower is reported as ignored, with the reason.

The threat is an administrator of a member account (or whoever holds such a role). An SCP
applies to the principals of the accounts it covers, so an exemption matters only where it can
match one of their principals, and there it counts only when it names specific IAM roles or
users (no wildcard in the name) and the SCPs over that account also deny, to every other
principal, the actions that would let that admin become one of them: create it, rewrite its
trust policy, give it credentials (`TAKEOVER_ACTIONS`). Exemptions by account, principal type,
tag, source identity, user id or user name never count where they can match: that admin can
make a principal of the type, tag it, choose the source identity of a session, or take over the
principal with that name.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import field
from typing import Any

from . import patterns
from .records import record

# Condition keys naming the calling principal: a negated condition on one of them exempts
# principals, which is what a break-glass looks like; every other condition narrows the deny.
PRINCIPAL_KEYS = ("aws:principalarn", "aws:principaltag/", "aws:userid", "aws:username",
                  "aws:principaltype", "aws:principalaccount", "aws:sourceidentity")
NEGATED_OPERATORS = ("arnnotlike", "arnnotequals", "stringnotlike", "stringnotequals",
                     "stringnotequalsignorecase")

# What lets an administrator of the account become (or decide what may do) an exempted role or
# user; the default of scp-deny-backup-deletion's `breakGlassGuardActions`. Actions whose name
# says Role are required on role ARNs, the others on user ARNs. CreateRole/CreateUser make the
# principal where it does not exist (or after deleting it); UpdateAssumeRolePolicy,
# CreateAccessKey, CreateLoginProfile and UpdateLoginProfile let that admin in as the existing
# one; the policy actions decide what the break-glass can do, which belongs to its owner.
TAKEOVER_ACTIONS: tuple[str, ...] = (
    "iam:CreateRole", "iam:UpdateAssumeRolePolicy", "iam:AttachRolePolicy", "iam:PutRolePolicy",
    "iam:CreateUser", "iam:CreateAccessKey", "iam:CreateLoginProfile", "iam:UpdateLoginProfile",
    "iam:AttachUserPolicy", "iam:PutUserPolicy")

# Why an exemption on these keys never counts where it can match a covered account's principal.
_UNGUARDABLE = {
    "aws:principaltype": "an admin of {who} can make a principal of that type",
    "aws:sourceidentity": "whoever assumes a role chooses its source identity "
                          "(sts:SetSourceIdentity)",
    "aws:principaltag/": "an admin of {who} can tag a role or user of their own (iam:TagRole, "
                         "iam:TagUser) or a session (sts:TagSession), or take over one "
                         "already tagged",
    "aws:userid": "an admin of {who} can take over that principal (its trust policy or "
                  "credentials); name the break-glass by aws:PrincipalArn",
    "aws:username": "an admin of {who} can create or take over a user of that name; name "
                    "the break-glass by aws:PrincipalArn",
}


@record
class Principals:
    """Whose principals the document governs, and what keeps a break-glass out of reach.

    `account`: the member account judged; None when unknown (a stack's SCP on a root or OU
    covers accounts the stack does not name). `management`: the organization's management
    account when known (no SCP ever applies to it). `guards`: the statements of every SCP that
    applies with this document (a guard may live in another one). `takeover_actions`: what
    must be denied on an exempted role or user ARN to every other principal."""

    account: str | None = None
    management: str | None = None
    guards: list[dict[str, Any]] = field(default_factory=list)
    takeover_actions: Sequence[str] = TAKEOVER_ACTIONS


@record
class Takeover:
    """An exemption a covered account's admin can use. `guardable`: it names a specific IAM
    role or user, which a guard statement can keep out of that admin's reach."""

    statement: str
    value: str
    reason: str
    guardable: bool = False
    key: str = "aws:PrincipalArn"  # the condition key, as written


@record
class PolicyAnalysis:
    """What a document denies among `required`, and why other statements did not count."""

    denied: set[str] = field(default_factory=set)
    ignored: list[dict[str, str]] = field(default_factory=list)
    takeovers: list[Takeover] = field(default_factory=list)
    # the exactly named roles and users the counted statements exempt (a fix keeps them)
    break_glass: set[str] = field(default_factory=set)


def action_matches(pattern: str, action: str) -> bool:
    """IAM wildcards (`*`, `?`, case-insensitive), matched by RE2: a hostile pattern in a
    policy document cannot make the match take more than linear time."""
    glob = patterns.iam_wildcard(pattern.strip())
    return glob is not None and glob.match(action.strip())


def _value_matches(pattern: str, value: str) -> bool:
    """A case-sensitive IAM wildcard (ARN parts, account ids)."""
    glob = patterns.value_wildcard(pattern)
    return glob is not None and glob.match(value)


def parse(document: Any) -> dict[str, Any]:
    """A policy document from its JSON text or an already parsed mapping."""
    if isinstance(document, str):
        document = json.loads(document)
    if not isinstance(document, dict):
        raise ValueError("a policy document must be a JSON object")
    return document


def statements(document: Any) -> list[dict[str, Any]]:
    stmts = parse(document).get("Statement", [])
    if isinstance(stmts, dict):
        stmts = [stmts]
    return [s for s in stmts if isinstance(s, dict)]


def _as_list(value: Any) -> list[str]:
    """A policy element that is one value or a list of them, as strings (a hostile document's
    number or object is one value that matches nothing, not an error)."""
    if value is None:
        return []
    if isinstance(value, list | tuple):
        return [str(v) for v in value]
    return [str(value)]


def _covers_every_resource(pattern: str, service: str) -> bool:
    """`*`, or an ARN pattern matching every resource of `service` (e.g. arn:aws:s3:::*)."""
    if pattern.strip() == "*":
        return True
    parts = pattern.split(":", 5)
    if len(parts) < 6 or parts[0] != "arn":
        return False
    _, partition, svc, region, account, rest = parts
    return (action_matches(partition, "aws") and action_matches(svc, service)
            and region in ("", "*") and account in ("", "*")
            and re.fullmatch(r"[*/:]*\*", rest) is not None)


# ---- exemptions --------------------------------------------------------------------------

def _wild(text: str) -> bool:
    return "*" in text or "?" in text


def _iam_arn(value: str) -> tuple[str, str, str] | None:
    """(partition, account, resource) of an IAM role or user ARN (pattern), else None."""
    parts = value.split(":", 5)
    if len(parts) < 6 or parts[0] != "arn" or parts[2] != "iam" or parts[3] != "":
        return None
    resource = parts[5]
    if not resource.startswith(("role/", "user/")):
        return None
    return parts[1], parts[4], resource


def _reaches(account_pattern: str, p: Principals) -> bool:
    """Whether a principal of an account matching `account_pattern` can be governed here."""
    if p.account is not None:
        return _value_matches(account_pattern, p.account)
    # a root or OU: every account but the management account may be under it
    return _wild(account_pattern) or account_pattern != p.management


def _who(p: Principals, account_pattern: str) -> str:
    if p.account is not None:
        return f"account {p.account}"
    if not _wild(account_pattern) and account_pattern:
        return f"account {account_pattern}" + (
            "" if p.management else " (unless it is the management account)")
    return "a covered account"


def _part_covered(guard: str, value: str) -> bool:
    """A guard's ARN part covers every value of an exemption's part: a literal part by
    matching it, a wildcard one only by `*` or the same pattern."""
    if _wild(value):
        return guard == "*" or guard == value
    return _value_matches(guard, value)


def _resource_covered(pattern: str, partition: str, account: str, resource: str) -> bool:
    if pattern.strip() == "*":
        return True
    parts = pattern.strip().split(":", 5)
    if len(parts) < 6 or parts[0] != "arn" or not action_matches(parts[2], "iam"):
        return False
    return (_part_covered(parts[1], partition) and _part_covered(parts[4], account)
            and _value_matches(parts[5], resource))


def _exempts_only(stmt: dict[str, Any], allowed: set[str], p: Principals) -> bool:
    """Whether a guard statement's conditions exempt nobody a covered admin can become but the
    break-glass principals `allowed` (its values as written)."""
    condition = stmt.get("Condition")
    if not condition:
        return True
    if not isinstance(condition, dict):
        return False
    for operator, clauses in condition.items():
        op = operator.lower()
        op_base = op.removesuffix("ifexists")
        if not isinstance(clauses, dict):
            return False
        for key, values in clauses.items():
            k = key.lower()
            if _aws_service_clause(op, k, values):
                continue
            if k != "aws:principalarn" or op_base not in NEGATED_OPERATORS:
                return False
            if not all(_same_principals_here(v, allowed, p) for v in _as_list(values)):
                return False
    return True


def _same_principals_here(value: str, allowed: set[str], p: Principals) -> bool:
    """Whether a guard's exempted ARN exempts, among the principals governed here, only
    break-glass principals (`allowed`) or nobody."""
    if value in allowed:
        return True
    arn = _iam_arn(value)
    if arn is None or _wild(arn[2]):
        return False
    if not _reaches(arn[1], p):
        return True
    if p.account is None:
        return False
    # within the judged account, both ARNs name the same role or user
    return any(a is not None and a[2] == arn[2] and _value_matches(a[1], p.account)
               and _part_covered(a[0], arn[0])
               for a in map(_iam_arn, allowed))


def _guard_missing(value: str, arn: tuple[str, str, str], allowed: set[str],
                   p: Principals) -> list[str]:
    """The takeover actions no guard statement denies on the exempted ARN to every other
    principal."""
    partition, account, resource = arn
    if p.account is not None:
        account = p.account
    kind = resource.split("/", 1)[0]
    needed = [a for a in p.takeover_actions
              if ("role" in a.split(":", 1)[-1].lower()) == (kind == "role")]
    guards = [s for s in p.guards if s.get("Effect") == "Deny" and "NotResource" not in s
              and any(_resource_covered(r, partition, account, resource)
                      for r in _as_list(s.get("Resource")))
              and _exempts_only(s, allowed, p)]

    return [a for a in needed if not any(_names_action(s, a) for s in guards)]


def _arn_takeover(value: str, allowed: set[str], p: Principals) -> tuple[str, bool] | None:
    """Why a covered account's admin can become the principal an aws:PrincipalArn exemption
    names (and whether a guard could prevent it), or None when they cannot."""
    arn = _iam_arn(value)
    if arn is None:
        parts = value.split(":", 5)
        if len(parts) == 6 and parts[0] == "arn" and not _wild(parts[4]) \
                and not _reaches(parts[4], p):
            return None
        return (f"exempts {value}, which is not an IAM role or user ARN DR Guard can judge "
                "(a covered account's admin may be able to act as it)", False)
    partition, account, resource = arn
    if not _reaches(account, p):
        return None
    who = _who(p, account)
    if _wild(resource):
        return (f"exempts {value}, a wildcard that an admin of {who} can match with a role "
                "or user of their own: name the break-glass principals exactly", False)
    missing = _guard_missing(value, arn, allowed, p)
    if not missing:
        return None
    return (f"exempts {value}, which an admin of {who} can create or take over: also deny "
            f"{', '.join(missing)} on it to every other principal", True)


def _ignoring_case(value: str, p: Principals) -> tuple[str, bool] | None:
    """An ARN exempted ignoring case: a guard names one spelling, and a member admin can create
    the role or user under another where it does not exist yet."""
    arn = _iam_arn(value)
    if arn is not None and not _reaches(arn[1], p):
        return None
    account = arn[1] if arn is not None else "*"
    return (f"exempts {value} ignoring case: an admin of {_who(p, account)} can create a role "
            "or user whose name differs only in case, which no guard on one spelling stops; "
            "use ArnNotLike", False)


def _aws_service_clause(op: str, key: str, values: Any) -> bool:
    """`Bool aws:PrincipalIsAWSService false`: the deny spares AWS services acting for you."""
    return key == "aws:principalisawsservice" and op == "bool" \
        and [str(v).lower() for v in _as_list(values)] == ["false"]


def _condition_problems(condition: Any, p: Principals) -> tuple[str | None, list[Takeover]]:
    """(why the condition narrows the deny, or None; the exemptions a covered account's admin
    can use). The deny counts only when both are empty."""
    if not condition:
        return None, []
    if not isinstance(condition, dict):
        return "malformed Condition", []
    clauses_of = []
    for operator, clauses in condition.items():
        if not isinstance(clauses, dict):
            return f"malformed condition {operator}", []
        clauses_of.append((operator, clauses))
    # the principals exempted by aws:PrincipalArn: a guard may exempt them too
    allowed = {v for operator, clauses in clauses_of for k, vs in clauses.items()
               if k.lower() == "aws:principalarn" for v in _as_list(vs)}
    takeovers: list[Takeover] = []
    for operator, clauses in clauses_of:
        op = operator.lower()
        op_base = op.removesuffix("ifexists")
        for key, values in clauses.items():
            k = key.lower()
            principal_key = next((pk for pk in PRINCIPAL_KEYS
                                  if k == pk or (pk.endswith("/") and k.startswith(pk))), None)
            if principal_key is None or op_base not in NEGATED_OPERATORS:
                if _aws_service_clause(op, k, values):
                    continue
                return f"condition {operator} on {key} limits when the deny applies", []
            for v in _as_list(values):
                found = (_ignoring_case(v, p) if op_base == "stringnotequalsignorecase"
                         and principal_key == "aws:principalarn"
                         else _exemption(principal_key, key, v, allowed, p))
                if found is not None:
                    takeovers.append(Takeover("", v, found[0], found[1], key))
    return None, takeovers


def _exemption(principal_key: str, key: str, value: str, allowed: set[str],
               p: Principals) -> tuple[str, bool] | None:
    """Why one exempted value is usable by a covered account's admin (and whether a guard can
    fix it), or None when it exempts nobody they can become."""
    if principal_key == "aws:principalarn":
        return _arn_takeover(value, allowed, p)
    if principal_key == "aws:principalaccount":
        if not _reaches(value, p):
            return None
        return (f"exempts every principal of {_who(p, value)} ({key} {value})", False)
    return (f"exempts {key} {value}: " + _UNGUARDABLE[principal_key].format(
        who=_who(p, "*")), False)


def _statement_scope(stmt: dict[str, Any], p: Principals) -> tuple[str | None, list[Takeover]]:
    """(None when the Deny statement applies to every resource and every principal a covered
    admin can become, else why not; the exemptions such an admin can use)."""
    if "NotResource" in stmt:
        return "NotResource exempts resources", []
    resources = _as_list(stmt.get("Resource"))
    if not resources:
        return "no Resource", []
    return _condition_problems(stmt.get("Condition"), p)


def _names_action(stmt: dict[str, Any], action: str) -> bool:
    """Whether a statement's Action (or NotAction) element takes in `action`."""
    if "NotAction" in stmt:
        return not any(action_matches(pat, action) for pat in _as_list(stmt["NotAction"]))
    return any(action_matches(pat, action) for pat in _as_list(stmt.get("Action")))


def _denies(stmt: dict[str, Any], action: str) -> bool:
    service = action.split(":", 1)[0]
    if not any(_covers_every_resource(r, service) for r in _as_list(stmt.get("Resource"))):
        return False
    return _names_action(stmt, action)


def analyze(document: Any, required: Iterable[str],
            principals: Principals | None = None) -> PolicyAnalysis:
    """The subset of `required` that `document` denies, and the Deny statements that do not
    count (with their reason). `principals` says whose principals it governs; without it, any
    account but one the document does not name, guarded by this document alone."""
    required = list(required)
    stmts = statements(document)
    p = principals if principals is not None else Principals(guards=stmts)
    out = PolicyAnalysis()
    for i, stmt in enumerate(stmts):
        if stmt.get("Effect") != "Deny":
            continue
        sid = str(stmt.get("Sid") or f"#{i + 1}")
        problem, takeovers = _statement_scope(stmt, p)
        if problem:
            out.ignored.append({"statement": sid, "reason": problem})
            continue
        hits = {a for a in required if _denies(stmt, a)}
        if takeovers:
            if hits:
                out.takeovers += [Takeover(sid, t.value, t.reason, t.guardable, t.key)
                                  for t in takeovers]
                out.ignored.append({"statement": sid,
                                    "reason": "; ".join(t.reason for t in takeovers)})
            continue
        if not hits and any(action_matches(pat, a) for a in required
                            for pat in _as_list(stmt.get("Action"))):
            out.ignored.append({"statement": sid,
                                "reason": "Resource does not cover every resource"})
        out.denied |= hits
        if hits:
            out.break_glass |= _named_exemptions(stmt)
    return out


def _named_exemptions(stmt: dict[str, Any]) -> set[str]:
    """The role and user ARNs, without wildcards, a statement's aws:PrincipalArn exempts."""
    condition = stmt.get("Condition")
    if not isinstance(condition, dict):
        return set()
    return {v for clauses in condition.values() if isinstance(clauses, dict)
            for k, vs in clauses.items() if k.lower() == "aws:principalarn"
            for v in _as_list(vs)
            if (arn := _iam_arn(v)) is not None and not _wild(arn[2])}


def denied_actions(document: Any, required: Iterable[str]) -> set[str]:
    """The actions of `required` that `document` denies for every resource and every
    principal a covered account's admin can become."""
    return analyze(document, required).denied
