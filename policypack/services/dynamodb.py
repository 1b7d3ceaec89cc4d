"""DynamoDB at deploy time: tables (pulumi-aws, aws-native, global tables), dynamodb-recovery."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from drguard.controls import dynamodb as ctl
from drguard.controls.dynamodb import Table
from drguard.facts import UNKNOWN

from ..adapters import Res, base, items
from ..binding import ResourceCheck
from ..fixers import Fixer, Target, block_true, untouchable
from ..service import DeployService
from ..wire import boolean, get, tags

if TYPE_CHECKING:
    from ..stack import StackModel


TABLE_TYPES = frozenset({"aws:dynamodb/table:Table", "aws-native:dynamodb:Table",
                         "aws-native:dynamodb:GlobalTable"})


def table(r: Res) -> Table | None:
    t = r.type
    if t == "aws:dynamodb/table:Table":
        return Table(**base(r, r.get("name")),
                     pitr=boolean(r.get("pointInTimeRecovery", "enabled")),
                     deletion_protection=boolean(r.get("deletionProtectionEnabled")))
    if t == "aws-native:dynamodb:Table":
        return Table(**base(r, r.get("tableName")),
                     pitr=boolean(r.get("pointInTimeRecoverySpecification",
                                        "pointInTimeRecoveryEnabled")),
                     deletion_protection=boolean(r.get("deletionProtectionEnabled")),
                     props={"pitr": "pointInTimeRecoverySpecification."
                                    "pointInTimeRecoveryEnabled"})
    if t == "aws-native:dynamodb:GlobalTable":
        replicas = items(r.get("replicas"))
        pitr: Any
        dp: Any
        if replicas is UNKNOWN:
            pitr = dp = UNKNOWN
        else:
            pitr = _all(boolean(get(x, "pointInTimeRecoverySpecification",
                                    "pointInTimeRecoveryEnabled")) for x in replicas)
            dp = _all(boolean(get(x, "deletionProtectionEnabled")) for x in replicas)
        return Table(**{**base(r, r.get("tableName"), None), "tags": _replica_tags(r, replicas)},
                     pitr=pitr, deletion_protection=dp,
                     props={"pitr": "replicas[].pointInTimeRecoverySpecification."
                                    "pointInTimeRecoveryEnabled",
                            "deletion_protection": "replicas[].deletionProtectionEnabled"})
    return None


def _replica_tags(r: Res, replicas: Any) -> dict[str, str]:
    """A global table's tags: aws-native has none on the table, only on each replica; the
    replica in the resource's own region wins a key several replicas set."""
    if replicas is UNKNOWN:
        return {}
    region = r.region
    out: dict[str, str] = {}
    for x in sorted(replicas, key=lambda x: get(x, "region") == region):  # own region last
        out.update(tags(x))
    return out


def _all(values: Any) -> Any:
    """True when every value is True; the first non-True value otherwise (None if empty)."""
    seen = False
    for v in values:
        seen = True
        if v is not True:
            return v
    return True if seen else None


def _arn(m: StackModel, t: Table, r: Res | None, region: str, acct: str) -> str:
    return f"arn:aws:dynamodb:{region}:{acct}:table/{t.name}"


# ---- remediation (fixes built from policypack/fixers.py, served by policypack/remediate.py)


DYNAMO_TABLE = "aws:dynamodb/table:Table"
NATIVE_TABLE = "aws-native:dynamodb:Table"
NATIVE_GLOBAL_TABLE = "aws-native:dynamodb:GlobalTable"


def fix_dynamodb(t: Target, _params: Mapping[str, Any]) -> None:
    if t.type == DYNAMO_TABLE:
        block_true(t, "pointInTimeRecovery", "enabled")
        t.make_true("deletionProtectionEnabled", "deletes must be deliberate")
    elif t.type == NATIVE_TABLE:
        block_true(t, "pointInTimeRecoverySpecification", "pointInTimeRecoveryEnabled")
        t.make_true("deletionProtectionEnabled", "deletes must be deliberate")
    elif t.type == NATIVE_GLOBAL_TABLE:
        replicas = t.value("replicas")
        if not isinstance(replicas, list):
            return
        new = copy.deepcopy(replicas)
        for r in new:
            if not isinstance(r, dict):
                continue
            spec = r.get("pointInTimeRecoverySpecification")
            if spec is None:
                r["pointInTimeRecoverySpecification"] = {"pointInTimeRecoveryEnabled": True}
            elif isinstance(spec, dict) and not untouchable(
                    spec.get("pointInTimeRecoveryEnabled")):
                spec["pointInTimeRecoveryEnabled"] = True
            if not untouchable(r.get("deletionProtectionEnabled")):
                r["deletionProtectionEnabled"] = True
        if new != replicas:
            t.set("replicas", new, "every replica: point-in-time recovery and deletion "
                                   "protection")
            t.changes[-1] = "replicas[]: pointInTimeRecoveryEnabled and " \
                            "deletionProtectionEnabled -> true"


SERVICE = DeployService(
    facts={t: ("tables", table) for t in TABLE_TYPES},
    arns={Table: _arn},
    stateful=("tables",),
    checks=(ResourceCheck("dynamodb-recovery", TABLE_TYPES, table,
                          lambda t, _p: ctl.dynamodb(t)),),
    remediations=(Fixer("dynamodb-recovery",
                        frozenset({DYNAMO_TABLE, NATIVE_TABLE, NATIVE_GLOBAL_TABLE}),
                        fix_dynamodb),),
)
