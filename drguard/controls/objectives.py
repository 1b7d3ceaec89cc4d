"""Application objectives: restore evidence within the target RTO (restore-time-objective),
and which controls speak for an application's isolation (the applications rows of every
report read these)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from .. import frameworks as fw
from .. import restore_evidence as rev
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


class UndefinedTier(ValueError):
    """The resource's tier is not one the config defines: its target is unknown."""


def target_rto(tags: dict[str, Any] | None, tier: str | None,
               tier_objectives: dict[str, Any] | None, default: float,
               undefined: str | None = None) -> tuple[float, str, str]:
    """(target minutes, where it came from, "tag" | "tier" | "default"): the resource's dr:rto
    tag, else its tier's targetRtoMinutes, else the control's parameter. A dr:rto tag that is
    not a duration raises ValueError, and a tier the config does not define (`undefined`
    says why) UndefinedTier: the target is then unknown, not the default."""
    tag = (tags or {}).get(RTO_TAG)
    if isinstance(tag, str) and tag:
        return parse_rpo(tag) * 60, f"tag {RTO_TAG}={tag}", "tag"
    if undefined:
        raise UndefinedTier(undefined)
    minutes = (tier_objectives or {}).get("targetRtoMinutes")
    if isinstance(minutes, (int, float)) and not isinstance(minutes, bool) and tier:
        return float(minutes), f"tier {tier}", "tier"
    return float(default), "control default (targetRtoMinutes)", "default"


def bad_rto_tag(r: Resource, tag: str) -> Verdict:
    return Verdict("error", f"The tag {RTO_TAG}={tag!r} on {r.name} is not a duration (write it "
                            "like 90m, 4h or 1d), so its target RTO is unknown.",
                   {"tag": RTO_TAG, "value": tag})


def undefined_tier(r: Resource, tier: str | None, why: str,
                   ev: rev.Evidence | None = None, now: dt.datetime | None = None,
                   max_age_days: float | None = None, drills_read: bool = True) -> Verdict:
    """Its target is unknown: `error`, the last restore `ev` knows still recorded (the reports
    say how long it took); but a gap no target could close (never restored, or the last
    restore too old to count), every source read, stays a gap: a tag naming a tier nobody
    defined must not turn a gap into "could not be checked"."""
    evidence: dict[str, Any] = {"targetFrom": f"tier {tier}"}
    if ev is not None and now is not None:
        if ev.last is not None:
            evidence.update(_last_restore(ev.last, now))
        if not ev.unknown:
            fix = Remediation(restore_fix(r), "", None)
            if ev.last is None:
                sources = ("no drill in the history and no completed AWS Backup restore job"
                           if drills_read else "no completed AWS Backup restore job (drills "
                           "not read: give --history where `dr-audit drill` keeps them)")
                return Verdict("fail", f"{r.name} was never restored: {sources}; whatever its "
                                       f"target RTO ({why}), it is unproven.", evidence, fix)
            age_days = evidence["evidenceAgeDays"]
            if max_age_days is not None and age_days > max_age_days:
                return Verdict("fail", f"The last restore of {r.name} ({ev.last.detail}) is "
                                       f"{age_days:.0f} days old: older than the "
                                       f"{max_age_days:g} days a restore counts for "
                                       f"(maxEvidenceAgeDays), whatever its target RTO "
                                       f"({why}).", evidence, fix)
    return Verdict("error", f"The target RTO of {r.name} is unknown: {why} (tag it with one of "
                            f"them, or with {RTO_TAG}, or define the tier).", evidence)


def _last_restore(last: rev.Restore, now: dt.datetime) -> dict[str, Any]:
    """The evidence fields of the restore `last`."""
    minutes = last.seconds / 60 if last.seconds is not None else None
    return {"restoredAt": last.at.isoformat().replace("+00:00", "Z"),
            "restoreMinutes": round(minutes, 1) if minutes is not None else None,
            "restoreEvidence": last.detail or last.source,
            "evidenceAgeDays": round((now - last.at).total_seconds() / 86400, 1)}


# the drill that restores each kind, and the option naming the resource
_DRILLS = {"AWS::RDS::DBInstance": "rds --db", "AWS::RDS::DBCluster": "cluster --cluster",
           "AWS::DynamoDB::Table": "dynamodb --table", "AWS::S3::Bucket": "s3 --bucket"}


def restore_fix(r: Resource) -> str:
    """How to give a resource restore evidence: the drill that restores its kind, else (EFS)
    an AWS Backup restore test."""
    drill = _DRILLS.get(r.type)
    if drill is None:
        return (f"Restore {r.name} with an AWS Backup restore testing plan that selects it "
                "(`dr-audit drill` does not restore this kind), within the target RTO.")
    where = f" --region {r.region}" if r.region and r.type != "AWS::S3::Bucket" else ""
    return (f"Restore {r.name} and time it: `dr-audit drill {drill} {r.name}{where} --history "
            "DIR|s3://BUCKET/PREFIX` (the history the scan reads, with credentials of its "
            "account) or an AWS Backup restore test, within the target RTO.")


def restore_objective(r: Resource, ev: rev.Evidence, target: float, target_from: str,
                      max_age_days: float, now: dt.datetime, drills_read: bool = True,
                      target_source: str = "") -> Verdict:
    """The newest successful restore took <= target minutes and is younger than max_age_days.

    Known evidence that meets the objective passes even when another source was unread (a
    proven restore stays proven); anything short of that with an unread source is `error`,
    since the unread source may hold a newer restore."""
    evidence: dict[str, Any] = {"targetRtoMinutes": target, "targetFrom": target_from,
                                "maxEvidenceAgeDays": max_age_days}
    if target_source:
        evidence["targetSource"] = target_source
    if ev.unknown:
        evidence["unknownSources"] = list(ev.unknown)
    fix = Remediation(restore_fix(r), "", None)
    unread = "; ".join(ev.unknown)
    last = ev.last
    if last is None:
        if ev.unknown:
            return Verdict("error", f"The restore evidence of {r.name} is unknown: {unread}; "
                                    "it may have been restored.", evidence, fix)
        sources = ("no drill in the history and no completed AWS Backup restore job"
                   if drills_read else "no completed AWS Backup restore job (drills not read: "
                   "give --history where `dr-audit drill` keeps them)")
        return Verdict("fail", f"{r.name} was never restored: {sources}; its RTO "
                               f"({target:g} min, {target_from}) is unproven.", evidence, fix)
    age_days = (now - last.at).total_seconds() / 86400
    minutes = last.seconds / 60 if last.seconds is not None else None
    evidence.update(_last_restore(last, now))
    if age_days > max_age_days:
        gap = (f"The last restore of {r.name} ({last.detail}) is {age_days:.0f} days old: "
               f"older than the {max_age_days:g} days a restore counts for "
               "(maxEvidenceAgeDays).")
    elif minutes is None:
        gap = f"The last restore of {r.name} ({last.detail}) did not record how long it took."
    elif minutes > target:
        gap = (f"The last restore of {r.name} took {minutes:.0f} min, slower than its target "
               f"RTO of {target:g} min ({target_from}).")
        how = restore_fix(r)
        fix = Remediation(f"Make the restore of {r.name} faster (a larger instance class or "
                          "throughput, a recovery point already in the region) or agree a "
                          f"target it can meet ({RTO_TAG} tag or the tier's targetRtoMinutes), "
                          f"then {how[0].lower()}{how[1:]}", "", None)
    else:
        return Verdict.ok(f"{r.name} was restored in {minutes:.0f} min ({last.detail}), "
                          f"within {target:g} min ({target_from}).", **evidence)
    if ev.unknown:
        return Verdict("error", f"{gap} A newer restore may exist: {unread}.", evidence, fix)
    return Verdict("fail", gap, evidence, fix)


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
