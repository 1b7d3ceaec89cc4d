"""DynamoDB tables can be recovered (PITR, deletion protection)."""

from __future__ import annotations

import json
import shlex
from typing import Any

from ..control import DESTROYABLE, Control
from ..facts import UNKNOWN, OnDelete, Resource, unknown_or_off
from ..records import record
from ..verdict import Remediation, Verdict, show


@record
class Table(Resource):
    """A DynamoDB table."""

    pitr: Any = None
    deletion_protection: Any = None

    def stateful(self) -> bool:
        return True

    def on_delete(self, replace: bool) -> OnDelete:
        """Deletion protection refuses the delete; with PITR on, AWS keeps a system backup."""
        d = OnDelete("DynamoDB table", evidence={"deletionProtection": self.deletion_protection,
                                                 "pointInTimeRecovery": self.pitr})
        if self.deletion_protection is True:
            d.saves.append("deletion protection is on: DynamoDB refuses the delete, so the "
                           "update fails at that step")
        else:
            d.lost.append(unknown_or_off(self.deletion_protection, "deletion protection"))
        if self.pitr is True:
            d.saves.append("point-in-time recovery is on: AWS keeps a system backup for 35 "
                           "days after the delete")
            d.kept.append("the system backup of point-in-time recovery (35 days)")
        else:
            d.lost.append(unknown_or_off(self.pitr, "point-in-time recovery"))
        return d


# ---- remediation: the fix for one table -----------------------------------------------------

def fix_table(t: Table) -> Remediation:
    """Point-in-time recovery and deletion protection, whichever of them is off."""
    name = t.name if isinstance(t.name, str) else "my-table"
    args, cli, what = [], [], []
    if t.pitr is not True:
        what.append("point-in-time recovery")
        args.append("point_in_time_recovery={\"enabled\": True}")
        cli.append(f"aws dynamodb update-continuous-backups --table-name {shlex.quote(name)} "
                   "--point-in-time-recovery-specification PointInTimeRecoveryEnabled=true")
    if t.deletion_protection is not True:
        what.append("deletion protection")
        args.append("deletion_protection_enabled=True")
        cli.append(f"aws dynamodb update-table --table-name {shlex.quote(name)} "
                   "--deletion-protection-enabled")
    return Remediation(f"Turn on {' and '.join(what)} for table {name}.",
                       f"aws.dynamodb.Table({json.dumps(name)}, ...,\n    "
                       + ", ".join(args) + ")",
                       " && \\\n".join(cli) or None)


# ---- rules --------------------------------------------------------------------------------

def dynamodb(t: Table) -> Verdict:
    ev = {"pointInTimeRecovery": t.pitr, "deletionProtection": t.deletion_protection}
    problems = []
    pitr_p = t.prop("pitr", "pointInTimeRecovery.enabled")
    dp_p = t.prop("deletion_protection", "deletionProtectionEnabled")
    for value, prop in ((t.pitr, pitr_p), (t.deletion_protection, dp_p)):
        if value is not True and value is not UNKNOWN:
            problems.append(f"{prop} is {show(value)}")
    if problems:
        return Verdict("fail", f"DynamoDB table {t.name!r} cannot be recovered reliably: "
                               f"{'; '.join(problems)}.", ev, fix_table(t))
    if UNKNOWN in (t.pitr, t.deletion_protection):
        return Verdict.unknown(f"The recovery settings of table {t.name!r}", **ev)
    return Verdict.ok(f"DynamoDB table {t.name!r} has PITR and deletion protection.", **ev)


CONTROLS: tuple[Control, ...] = (
    Control(
        id="dynamodb-recovery",
        gap=(
            "Table not recoverable: point-in-time recovery {pointInTimeRecoveryStatus}",
            "Table not recoverable",
        ),
        why=("Without point-in-time recovery a bad write or a delete cannot be undone; without "
            "deletion protection one call drops the table."),
        console=(
            "DynamoDB console: Tables, select the table, Backups, Point-in-time recovery, Edit, "
            "Turn on, Save.",
            "Additional settings, Deletion protection, Turn on.",
        ),
        title="DynamoDB tables can be recovered",
        severity="high",
        exposure=DESTROYABLE,
        tier=3,
        description="DynamoDB tables have point-in-time recovery and deletion protection.",
        remediation="Set pointInTimeRecovery.enabled and deletionProtectionEnabled to true.",
        sources=frozenset({"deploy", "state", "live"}),
    ),
)
