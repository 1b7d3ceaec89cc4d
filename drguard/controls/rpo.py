"""Achieved recovery point objective: how old the newest recovery point of each database,
backup bucket and the Pulumi state backend is, in its own region and in another one.

Live only: the auditor gathers the recovery points (snapshots, automated backups, point-in-time
windows, AWS Backup recovery points, object versions) as `RecoveryPoints` facts; the rule
judges the newest one against the target RPO: the `targetRpoHours` parameter, or the resource's
`dr:rpo` tag (`90m`, `4h`, `2d`, `1w`).
"""

from __future__ import annotations

import re
from dataclasses import field
from typing import Any

from ..control import SINGLE_REGION, Control, flag, hours
from ..facts import Resource
from ..records import record
from ..verdict import Remediation, Verdict

CONTROL_ID = "recovery-point-objective"
RPO_TAG = "dr:rpo"
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(m|min|h|d|w)\s*$", re.IGNORECASE)
_UNIT_HOURS = {"m": 1 / 60, "min": 1 / 60, "h": 1.0, "d": 24.0, "w": 168.0}


def parse_rpo(value: str) -> float:
    """Hours of a `dr:rpo` tag value (`90m`, `4h`, `2d`, `1w`); ValueError when malformed."""
    m = _DURATION.match(value or "")
    if m is None or float(m.group(1)) <= 0:
        raise ValueError(value)
    return float(m.group(1)) * _UNIT_HOURS[m.group(2).lower()]


@record
class RecoveryPoints(Resource):
    """A resource that can be restored, and its newest recovery points.

    `points`: {"kind", "region", "time" (ISO), "age_hours", "source"}; `home`: where the
    resource lives (its region); `unread`: sources that could not be read (a newer recovery
    point might be there); `label`: how a message names the kind ("RDS DB instance").
    """

    label: str = ""
    points: list[dict[str, Any]] = field(default_factory=list)
    unread: list[str] = field(default_factory=list)
    fix: Remediation | None = None


def _newest(points: list[dict[str, Any]]) -> dict[str, Any] | None:
    aged = [p for p in points if isinstance(p.get("age_hours"), int | float)]
    return min(aged, key=lambda p: p["age_hours"], default=None)


def _hours(h: float) -> str:
    if h < 1:
        return f"{round(h * 60)} min"
    if h < 72:
        return f"{h:.1f} h".replace(".0 h", " h")
    return f"{h / 24:.1f} days".replace(".0 days", " days")


def rpo(r: RecoveryPoints, params: dict[str, Any]) -> Verdict:
    """Pass when the newest recovery point (any region) is younger than the target."""
    what = f"{r.label} {r.name!r}"
    tag = r.tags.get(RPO_TAG)
    if tag is not None:
        try:
            target, source = parse_rpo(tag), f"tag {RPO_TAG}"
        except ValueError:
            return Verdict("error", f"The tag {RPO_TAG}={tag!r} on {what} is not a duration "
                           "(write it like 30m, 4h, 2d or 1w), so its target RPO is unknown.",
                           {"tag": RPO_TAG, "value": tag})
    elif params.get("tierUndefined"):
        why = params["tierUndefined"]
        ev0: dict[str, Any] = {"targetFrom": params.get("targetFrom"),
                               "recoveryPoints": len(r.points)}
        if not r.points and not r.unread:  # a gap no target could close stays a gap
            return Verdict("fail", f"{what} has no recovery point at all: nothing to restore "
                           f"from, whatever its target RPO ({why}).", ev0, r.fix)
        return Verdict("error", f"The target RPO of {what} is unknown: {why} (tag it with "
                       f"one of them, or with {RPO_TAG}, or define the tier).", ev0)
    else:
        # the tier's objective when the resource's tier sets one (drguard.applications)
        target = float(params["targetRpoHours"])
        source = str(params.get("targetFrom") or "targetRpoHours")
    home = [p for p in r.points if p.get("region") == r.region]
    away = [p for p in r.points if p.get("region") != r.region]
    local, other = _newest(home), _newest(away)
    newest = _newest([p for p in (local, other) if p])
    ev: dict[str, Any] = {
        "targetRpoHours": round(target, 3), "targetFrom": source,
        "achievedRpoHours": newest["age_hours"] if newest else None,
        "inRegion": local, "otherRegion": other, "recoveryPoints": len(r.points),
    }
    if r.unread:
        ev["unread"] = list(r.unread)
    fix = r.fix
    if newest is not None and newest["age_hours"] <= target:
        where = ("" if other else "; none in another region")
        return Verdict("pass", f"The newest recovery point of {what} is "
                       f"{_hours(newest['age_hours'])} old ({newest['kind']} in "
                       f"{newest['region']}), within the target RPO of {_hours(target)} "
                       f"({source}){where}.", ev)
    if r.unread:
        found = (f"the newest found is {_hours(newest['age_hours'])} old" if newest
                 else "none was found")
        return Verdict("error", f"Cannot tell whether {what} has a recovery point within the "
                       f"target RPO of {_hours(target)}: {found}, and "
                       f"{'; '.join(r.unread)} could not be read.", ev)
    if newest is None:
        why = ("has no recovery point at all" if not r.points else
               "has recovery points of unknown age")
        return Verdict("fail", f"{what} {why}: nothing to restore from within the target "
                       f"RPO of {_hours(target)} ({source}).", ev, fix)
    return Verdict("fail", f"The newest recovery point of {what} is "
                   f"{_hours(newest['age_hours'])} old ({newest['kind']} in "
                   f"{newest['region']}), older than the target RPO of {_hours(target)} "
                   f"({source}): data written since would be lost.", ev, fix)


CONTROLS: tuple[Control, ...] = (
    Control(
        id=CONTROL_ID,
        gap=(
            "Newest recovery point {achievedRpoHours} h old; target {targetRpoHours} h",
            "No recovery point; target {targetRpoHours} h",
            "Recovery point older than the target",
        ),
        why=("The newest recovery point is older than the objective: a failure now loses more data "
            "than the business agreed to."),
        console=(
            "Back up more often than the target RPO: automated backups, an AWS Backup plan with a "
            "shorter schedule, or continuous replication.",
            "Or set the dr:rpo tag to the objective the business agreed to.",
        ),
        title="Recovery points are within the target RPO",
        severity="high",
        exposure=SINGLE_REGION,
        tier=2,
        description="The newest recovery point (snapshot, automated backup, point-in-time "
                    "window, AWS Backup recovery point, object version) of every database "
                    "(RDS, Aurora, DocumentDB, Neptune, Redshift, DynamoDB), backup bucket "
                    "and the Pulumi state backend is younger than its target RPO: the "
                    "parameter targetRpoHours, or the resource's dr:rpo tag (4h, 2d). The "
                    "report shows the achieved RPO in the resource's region and in another "
                    "region.",
        remediation="Back up more often than the target RPO (automated backups, an AWS "
                    "Backup plan, continuous replication), or set the dr:rpo tag to the "
                    "objective the business agreed to.",
        params=(hours("targetRpoHours", 24, "Target recovery point objective in hours, unless "
                      "the resource's dr:rpo tag says otherwise"),
                flag("awsBackupRecoveryPoints", True, "Also count AWS Backup recovery points "
                     "(backup:ListRecoveryPointsByBackupVault on every vault); turn off only "
                     "where that API is not available (the embedded emulator)")),
        sources=frozenset({"live"}),
    ),
)
