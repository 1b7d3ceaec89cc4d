"""Application objectives: restore evidence within the target RTO (restore-time-objective),
and which controls speak for an application's isolation (the applications rows of every
report read these)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from .. import frameworks as fw
from ..control import SINGLE_REGION, Control, Mapping, Param, days
from ..facts import Resource
from ..verdict import Remediation, Verdict
from .recovery import AIR_GAPPED, CROSS_ACCOUNT
from .rpo import parse_rpo

# Controls whose verdicts say an application's copies are isolated (declared with AWS Backup's).
RESTORE = "restore-time-objective"
# What a tier's `crossRegion: false` / `crossAccount: false` makes not apply to its resources.
CROSS_REGION_CONTROLS = frozenset({"rds-cross-region-backup", "backup-bucket-replication"})
CROSS_ACCOUNT_CONTROLS = frozenset({CROSS_ACCOUNT, AIR_GAPPED})
RTO_TAG = "dr:rto"


@dataclass(frozen=True)
class Restore:
    """One successful restore of a resource: when it finished, how long it took, what says so."""

    at: dt.datetime
    minutes: float
    evidence: str  # "dr-audit drill <run id>" or "AWS Backup restore job <id>"


def target_rto(tags: dict[str, Any] | None, tier: str | None,
               tier_objectives: dict[str, Any] | None, default: float
               ) -> tuple[float, str]:
    """(target minutes, where it came from): the resource's dr:rto tag, else its tier's
    targetRtoMinutes, else the control's parameter."""
    tag = (tags or {}).get(RTO_TAG)
    if isinstance(tag, str):
        try:
            return parse_rpo(tag) * 60, f"tag {RTO_TAG}={tag}"
        except ValueError:
            pass
    minutes = (tier_objectives or {}).get("targetRtoMinutes")
    if isinstance(minutes, (int, float)) and not isinstance(minutes, bool) and tier:
        return float(minutes), f"tier {tier}"
    return float(default), "control default (targetRtoMinutes)"


def restore_objective(r: Resource, restores: list[Restore], target: float, target_from: str,
                      max_age_days: float, now: dt.datetime) -> Verdict:
    """The newest successful restore took <= target minutes and is younger than max_age_days."""
    ev: dict[str, Any] = {"targetRtoMinutes": target, "targetFrom": target_from,
                          "maxEvidenceAgeDays": max_age_days}
    fix = Remediation(f"Restore {r.name} and time it: `dr-audit drill` (kept with --history) "
                      "or an AWS Backup restore test, within the target RTO.", "", None)
    if not restores:
        return Verdict("fail", f"{r.name} was never restored: no drill in the history and no "
                               "completed AWS Backup restore job; its RTO "
                               f"({target:g} min, {target_from}) is unproven.", ev, fix)
    last = max(restores, key=lambda x: x.at)
    age = (now - last.at).total_seconds() / 86400
    ev.update(restoredAt=last.at.isoformat().replace("+00:00", "Z"),
              restoreMinutes=round(last.minutes, 1), restoreEvidence=last.evidence,
              evidenceAgeDays=round(age, 1))
    if age > max_age_days:
        return Verdict("fail", f"The last restore of {r.name} ({last.evidence}) is "
                               f"{age:.0f} days old, over {max_age_days:g}.", ev, fix)
    if last.minutes > target:
        return Verdict("fail", f"The last restore of {r.name} took {last.minutes:.0f} min, "
                               f"slower than its target RTO of {target:g} min ({target_from}).",
                       ev, fix)
    return Verdict.ok(f"{r.name} was restored in {last.minutes:.0f} min ({last.evidence}), "
                      f"within {target:g} min ({target_from}).", **ev)


CONTROLS: tuple[Control, ...] = (
    Control(
        id=RESTORE,
        gap=("No restore proven within {targetRtoMinutes} min", "No restore proven"),
        why=("A backup nobody has restored is a hope, not a recovery plan: restores fail on "
             "missing permissions, keys, parameter groups or sheer size, and only a timed "
             "restore shows whether the target RTO can be met."),
        console=(
            "Run `dr-audit drill` (rds, cluster, dynamodb, s3, state) with `--history` so the "
            "restore is kept as evidence, or create an AWS Backup restore testing plan for the "
            "resource (AWS Backup console, Restore testing).",
        ),
        title="Restores are proven within the target RTO",
        severity="high",
        exposure=SINGLE_REGION,
        tier=2,
        description="Each database, DynamoDB table, EFS file system, backup bucket and the "
                    "state backend has restore evidence (a `dr-audit drill` kept in the "
                    "history, or a completed AWS Backup restore job whose validation did not "
                    "fail) no older than maxEvidenceAgeDays and no slower than the target RTO "
                    "(the dr:rto tag, else the tier's targetRtoMinutes, else the parameter).",
        remediation="Run `dr-audit drill` (with --history) or an AWS Backup restore test.",
        # integers, like every other duration parameter: the engine sends numbers as floats,
        # and an integral default is then recognised without loading the schema validator
        params=(Param("targetRtoMinutes", 240, {"type": "integer", "minimum": 1},
                      "Target restore time in minutes (a tier or the dr:rto tag overrides)."),
                days("maxEvidenceAgeDays", 35,
                     "Restore evidence older than this many days does not count.")),
        sources=frozenset({"live"}),
        mapping=Mapping(frameworks=((fw.NIST, "CP-4"), (fw.NIST, "CP-10"),
                                    (fw.ISO, "A.5.30"), (fw.SOC2, "A1.3"),
                                    (fw.DORA, "Art. 11"), (fw.DORA, "Art. 12"),
                                    (fw.WAF, "REL13"))),
    ),
)
