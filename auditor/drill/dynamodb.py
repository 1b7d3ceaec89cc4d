"""`dr-audit drill dynamodb`: point-in-time restore of a table into a scratch table.

The table must have point-in-time recovery on (otherwise there is nothing to restore and the
drill cannot run). The latest restorable time is restored into `drguard-drill-<run id>-table`;
the achieved RTO is the time from the restore call until the scratch table is `ACTIVE`.
Verification compares the number of items (a full `Scan` with `Select=COUNT` of both tables,
read capacity the drill spends on purpose) and a sample of the original's items, fetched by
key from the scratch table, attribute for attribute. A table written to while the drill runs
can legitimately differ; the report shows which item differed. The scratch table is deleted
on every path (a table still `CREATING` is waited for first: DynamoDB refuses to delete it).
"""

from __future__ import annotations

import logging
from typing import Any

from botocore.exceptions import ClientError

from drguard.records import record

from .guard import scratch_prefix
from .plan import CannotRun, Context, Plan, VerificationFailed, error_code

log = logging.getLogger(__name__)

NOT_FOUND = "ResourceNotFoundException"


def _arn_parts(table: str) -> tuple[str | None, str]:
    """(region, name) of `arn:aws:dynamodb:R:A:table/NAME`, or (None, table)."""
    if table.startswith("arn:"):
        parts = table.split(":", 5)
        if len(parts) == 6 and parts[2] == "dynamodb" and parts[5].startswith("table/"):
            return parts[3] or None, parts[5].split("/")[1]
        raise CannotRun(f"{table} is not the ARN of a DynamoDB table "
                        "(arn:aws:dynamodb:REGION:ACCOUNT:table/NAME)")
    return None, table


def _describe(ddb: Any, name: str) -> dict[str, Any] | None:
    try:
        return ddb.describe_table(TableName=name)["Table"]
    except ClientError as e:
        if error_code(e) == NOT_FOUND:
            return None
        raise


def count_items(ddb: Any, name: str) -> int:
    total = 0
    for page in ddb.get_paginator("scan").paginate(TableName=name, Select="COUNT"):
        total += int(page.get("Count") or 0)
    return total


@record
class DynamoDrill:
    """A restore drill of a DynamoDB table, checked on a sample of items."""

    table: str
    region: str
    sample: int = 20
    run_id: str = ""
    kind: str = "dynamodb"

    # ---- prepare (reads only) ---------------------------------------------------------------

    def prepare(self, account: Any) -> Plan:
        arn_region, name = _arn_parts(self.table)
        region = arn_region or self.region
        plan = Plan(self.kind, name, region)
        ddb = account.client("dynamodb", region)
        table = _describe(ddb, name)
        if table is None:
            raise CannotRun(f"no DynamoDB table {name} in {region}")
        pitr = (ddb.describe_continuous_backups(TableName=name).get(
            "ContinuousBackupsDescription") or {}).get("PointInTimeRecoveryDescription") or {}
        if pitr.get("PointInTimeRecoveryStatus") != "ENABLED":
            raise CannotRun(f"{name} has point-in-time recovery off: no point in time to "
                            "restore (turn it on: update-continuous-backups)")
        keys = [k["AttributeName"] for k in table.get("KeySchema") or ()]
        scratch = f"{scratch_prefix(self.run_id)}-table"
        plan.found["table"] = {"arn": table.get("TableArn"), "status": table.get("TableStatus"),
                               "key": keys, "item_count_estimate": table.get("ItemCount"),
                               "latest_restorable_time": pitr.get("LatestRestorableDateTime")}
        params = {"SourceTableName": name, "TargetTableName": scratch,
                  "UseLatestRestorableTime": True}
        plan.data.update(name=name, region=region, scratch=scratch, keys=keys, restore=params)
        plan.call("dynamodb", region, "RestoreTableToPointInTime",
                  "restore the latest restorable time into the scratch table", **params)
        plan.call("dynamodb", region, "DeleteTable", "cleanup of the scratch table",
                  TableName=scratch)
        return plan

    # ---- execute ----------------------------------------------------------------------------

    def execute(self, ctx: Context) -> None:
        data = ctx.plan.data
        ddb = ctx.account.client("dynamodb", data["region"])
        scratch = data["scratch"]
        ctx.mark("start")
        with ctx.step("restore"):
            ctx.cleanup.add(f"delete scratch table {scratch}",
                            lambda: self._delete(ctx, ddb, scratch))
            ddb.restore_table_to_point_in_time(**data["restore"])
        with ctx.step("wait until active"):
            ctx.wait(f"scratch table {scratch}", lambda: self._state(ddb, scratch))
            ctx.mark("available")
        with ctx.step("verify"):
            checks = self.verify(ddb, data["name"], scratch, data["keys"])
            ctx.result["checks"] = checks
            bad = [c for c in checks if not c["ok"]]
            if bad:
                raise VerificationFailed("; ".join(
                    f"{c['check']}: expected {c['expected']!r}, found {c['actual']!r}"
                    for c in bad))

    def rto_seconds(self, ctx: Context) -> float | None:
        if "available" not in ctx.marks:
            return None
        return ctx.marks["available"] - ctx.marks["start"]

    def verify(self, ddb: Any, name: str, scratch: str, keys: list[str]) -> list[dict[str, Any]]:
        checks: list[dict[str, Any]] = []
        want, got = count_items(ddb, name), count_items(ddb, scratch)
        checks.append({"check": "item count", "expected": want, "actual": got,
                       "ok": want == got})
        items = ddb.scan(TableName=name, Limit=self.sample).get("Items") or []
        same = 0
        for item in items:
            key = {k: item[k] for k in keys if k in item}
            copy = ddb.get_item(TableName=scratch, Key=key, ConsistentRead=True).get("Item")
            if copy == item:
                same += 1
            else:
                label = ", ".join(f"{k}={next(iter(v.values()))}" for k, v in key.items())
                checks.append({"check": f"item {label}", "expected": "same attributes",
                               "actual": "missing" if copy is None else "different",
                               "ok": False})
        checks.append({"check": "sample of items equal by key", "expected": len(items),
                       "actual": same, "ok": same == len(items)})
        return checks

    # ---- helpers ----------------------------------------------------------------------------

    @staticmethod
    def _state(ddb: Any, name: str) -> tuple[bool, str]:
        table = _describe(ddb, name)
        if table is None:
            raise CannotRun(f"scratch table {name} disappeared while restoring")
        state = str(table.get("TableStatus") or "")
        if state in ("INACCESSIBLE_ENCRYPTION_CREDENTIALS", "ARCHIVED", "DELETING"):
            raise CannotRun(f"restore of {name} ended in state {state!r}")
        return state == "ACTIVE", state

    @staticmethod
    def _delete(ctx: Context, ddb: Any, name: str) -> None:
        table = _describe(ddb, name)
        if table is None:
            return  # never created
        if table.get("TableStatus") in ("CREATING", "UPDATING"):
            ctx.wait(f"scratch table {name} (before deleting it)", lambda: (
                (t := _describe(ddb, name)) is None or t.get("TableStatus") not in (
                    "CREATING", "UPDATING"), str((t or {}).get("TableStatus") or "gone")))
        try:
            ddb.delete_table(TableName=name)
        except ClientError as e:
            if error_code(e) != NOT_FOUND:
                raise
        ctx.wait(f"deletion of scratch table {name}", lambda: (
            (t := _describe(ddb, name)) is None, str((t or {}).get("TableStatus") or "gone")))
