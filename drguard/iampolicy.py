"""Which actions an IAM policy document (an Organizations SCP) denies, for every principal.

Pure functions, shared by the auditor (live SCPs) and the policy pack (SCPs declared in a
stack). A statement counts when it is `Effect: Deny`, covers every resource of the action's
service, and its conditions at most exempt a break-glass principal (negated conditions on the
principal's identity). Anything narrower is reported as ignored, with the reason.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import field
from typing import Any

from . import patterns
from .records import record

# Condition keys naming the calling principal: a negated condition on one of them exempts that
# principal (break-glass) and still denies everyone else.
PRINCIPAL_KEYS = ("aws:principalarn", "aws:principaltag/", "aws:userid", "aws:username",
                  "aws:principaltype", "aws:principalaccount", "aws:sourceidentity")
NEGATED_OPERATORS = ("arnnotlike", "arnnotequals", "stringnotlike", "stringnotequals",
                     "stringnotequalsignorecase")


@record
class PolicyAnalysis:
    """What a document denies among `required`, and why other statements did not count."""

    denied: set[str] = field(default_factory=set)
    ignored: list[dict[str, str]] = field(default_factory=list)


def action_matches(pattern: str, action: str) -> bool:
    """IAM wildcards (`*`, `?`, case-insensitive), matched by RE2: a hostile pattern in a
    policy document cannot make the match take more than linear time."""
    glob = patterns.iam_wildcard(pattern.strip())
    return glob is not None and glob.match(action.strip())


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
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    return [str(v) for v in value]


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


def _condition_problem(condition: Any) -> str | None:
    """None when the condition only exempts principals; otherwise why it narrows the deny."""
    if not condition:
        return None
    if not isinstance(condition, dict):
        return "malformed Condition"
    for operator, clauses in condition.items():
        op = operator.lower()
        op_base = op[:-len("ifexists")] if op.endswith("ifexists") else op
        if not isinstance(clauses, dict):
            return f"malformed condition {operator}"
        for key in clauses:
            k = key.lower()
            principal_key = any(k == p or (p.endswith("/") and k.startswith(p))
                                for p in PRINCIPAL_KEYS)
            if principal_key and op_base in NEGATED_OPERATORS:
                continue
            if k == "aws:principalisawsservice" and op == "bool" \
                    and [str(v).lower() for v in _as_list(clauses[key])] == ["false"]:
                continue
            return f"condition {operator} on {key} limits when the deny applies"
    return None


def _statement_scope(stmt: dict[str, Any]) -> str | None:
    """None when the Deny statement applies to every resource and (almost) every principal."""
    if "NotResource" in stmt:
        return "NotResource exempts resources"
    resources = _as_list(stmt.get("Resource"))
    if not resources:
        return "no Resource"
    return _condition_problem(stmt.get("Condition"))


def _denies(stmt: dict[str, Any], action: str) -> bool:
    service = action.split(":", 1)[0]
    if not any(_covers_every_resource(r, service) for r in _as_list(stmt.get("Resource"))):
        return False
    if "NotAction" in stmt:
        return not any(action_matches(p, action) for p in _as_list(stmt["NotAction"]))
    return any(action_matches(p, action) for p in _as_list(stmt.get("Action")))


def analyze(document: Any, required: Iterable[str]) -> PolicyAnalysis:
    """The subset of `required` that `document` denies, and the Deny statements that do not
    count (with their reason)."""
    required = list(required)
    out = PolicyAnalysis()
    for i, stmt in enumerate(statements(document)):
        if stmt.get("Effect") != "Deny":
            continue
        sid = str(stmt.get("Sid") or f"#{i + 1}")
        problem = _statement_scope(stmt)
        if problem:
            out.ignored.append({"statement": sid, "reason": problem})
            continue
        hits = {a for a in required if _denies(stmt, a)}
        if not hits and any(action_matches(p, a) for a in required
                            for p in _as_list(stmt.get("Action"))):
            out.ignored.append({"statement": sid,
                                "reason": "Resource does not cover every resource"})
        out.denied |= hits
    return out


def denied_actions(document: Any, required: Iterable[str]) -> set[str]:
    """The actions of `required` that `document` denies for every resource and principal
    (a break-glass exemption on the principal is allowed)."""
    return analyze(document, required).denied
