"""Restore evidence per resource: when was it last restored, and how do we know?

Pure (no I/O): callers read the drill history and AWS Backup's restore jobs, this module
matches them to resources and says, per resource, the newest successful restore and where the
evidence came from. A source that could not be read is *unknown* evidence, kept apart from
"no evidence": a resource without known evidence but with an unread source may have been
restored, and every consumer must say so rather than call it never restored.

Evidence sources:
- a drill (`dr-audit drill ...`, its history entry): `kind`, `target`, `region`, `started`,
  `outcome` ("verified" counts; a failed or interrupted drill is no evidence of a restore);
- an AWS Backup restore job: `SourceResourceArn`, `Status` ("COMPLETED" counts),
  `CompletionDate` (else `CreationDate`).

`pick` chooses the resource whose evidence is missing, else oldest: what to drill next.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

DRILL = "drill"
BACKUP_RESTORE_JOB = "aws-backup-restore-job"
# Lower is chosen first among resources with equally old (or no) evidence.
TIER_ORDER = {"critical": 0, "high": 1, "medium": 2, "low": 3}


@dataclass(frozen=True)
class Resource:
    """A stateful resource that can be restored (and drilled)."""

    kind: str  # the drill kind that restores it: rds, cluster, dynamodb, state, s3
    name: str  # what the drill takes (identifier, table name, ...)
    region: str
    arn: str = ""
    tier: str | None = None

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.kind, self.name, self.region)


@dataclass(frozen=True)
class Restore:
    """One successful restore of a resource."""

    at: dt.datetime
    source: str  # DRILL | BACKUP_RESTORE_JOB
    detail: str = ""
    seconds: float | None = None  # how long the restore took, when known


@dataclass
class Evidence:
    resource: Resource
    last: Restore | None = None
    unknown: list[str] = field(default_factory=list)  # sources that could not be read

    @property
    def missing(self) -> bool:
        return self.last is None

    def describe(self, now: dt.datetime) -> str:
        if self.last is None:
            text = "no restore evidence"
        else:
            text = (f"last restored {age(now - self.last.at)} ago "
                    f"({self.last.at:%Y-%m-%d %H:%M} UTC, {self.last.source})")
        if self.unknown:
            text += "; unknown: " + "; ".join(self.unknown)
        return text


def age(delta: dt.timedelta) -> str:
    hours = delta.total_seconds() / 3600
    if hours < 48:
        return f"{max(hours, 0):.0f} h"
    return f"{hours / 24:.0f} days"


def parse_time(value: Any) -> dt.datetime | None:
    """An aware UTC datetime from a datetime or an ISO-8601 string; None otherwise."""
    if isinstance(value, dt.datetime):
        t = value
    elif isinstance(value, str):
        try:
            t = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    else:
        return None
    return (t if t.tzinfo else t.replace(tzinfo=dt.UTC)).astimezone(dt.UTC)


def from_drills(entries: Iterable[Mapping[str, Any]]) -> dict[tuple[str, str, str], Restore]:
    """The newest verified drill per (kind, target, region) (a missing region matches any)."""
    out: dict[tuple[str, str, str], Restore] = {}
    for e in entries:
        if e.get("outcome") != "verified":
            continue
        at = parse_time(e.get("started"))
        if at is None or not isinstance(e.get("kind"), str) or not isinstance(
                e.get("target"), str):
            continue
        rto = e.get("rto_seconds")
        key = (e["kind"], e["target"], str(e.get("region") or "*"))
        r = Restore(at, DRILL, f"drill {e.get('run_id') or ''}".strip(),
                    float(rto) if isinstance(rto, int | float) and not isinstance(rto, bool)
                    else None)
        if key not in out or out[key].at < at:
            out[key] = r
    return out


def from_restore_jobs(jobs: Iterable[Mapping[str, Any]]) -> dict[str, Restore]:
    """The newest completed AWS Backup restore job per source resource ARN."""
    out: dict[str, Restore] = {}
    for j in jobs:
        if j.get("Status") != "COMPLETED" or not isinstance(j.get("SourceResourceArn"), str):
            continue
        at = parse_time(j.get("CompletionDate") or j.get("CreationDate"))
        if at is None:
            continue
        arn = j["SourceResourceArn"]
        created, done = parse_time(j.get("CreationDate")), parse_time(j.get("CompletionDate"))
        r = Restore(at, BACKUP_RESTORE_JOB, f"restore job {j.get('RestoreJobId') or ''}".strip(),
                    (done - created).total_seconds() if created and done else None)
        if arn not in out or out[arn].at < at:
            out[arn] = r
    return out


def gather(resources: Iterable[Resource], drills: Iterable[Mapping[str, Any]],
           restore_jobs: Iterable[Mapping[str, Any]],
           unknown: Mapping[str, str] | None = None) -> list[Evidence]:
    """Evidence per resource. `unknown` maps a region ("*" for every one) to why a source
    could not be read there (e.g. AWS Backup's restore jobs)."""
    by_drill = from_drills(drills)
    by_arn = from_restore_jobs(restore_jobs)
    unknown = unknown or {}
    out = []
    for r in resources:
        found = [x for x in (by_drill.get(r.key), by_drill.get((r.kind, r.name, "*")),
                             by_arn.get(r.arn) if r.arn else None) if x is not None]
        ev = Evidence(r, max(found, key=lambda x: x.at, default=None))
        ev.unknown = [why for region, why in unknown.items() if region in (r.region, "*")]
        out.append(ev)
    return out


def pick(evidence: Iterable[Evidence], tier: str | None = None) -> Evidence | None:
    """What to drill next: missing evidence first, then the oldest; ties by tier, then name.
    `tier` keeps only the resources of that tier."""
    pool = [e for e in evidence if tier is None or e.resource.tier == tier]
    if not pool:
        return None

    def order(e: Evidence) -> tuple[int, float, int, str, str]:
        when = e.last.at.timestamp() if e.last else 0.0
        return (0 if e.missing else 1, when, TIER_ORDER.get(e.resource.tier or "", 9),
                e.resource.kind, e.resource.name)
    return min(pool, key=order)
