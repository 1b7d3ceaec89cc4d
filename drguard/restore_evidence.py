"""Restore evidence per resource: when was it last restored, how long did it take, and how do
we know? The one model behind `restore-time-objective` (scan) and `dr-audit drill next`.

Pure (no I/O): callers read the drill history and AWS Backup's restore jobs, this module
matches them to resources and says, per resource, the newest successful restore and where the
evidence came from. A source that could not be read is *unknown* evidence, kept apart from
"no evidence": a resource without known evidence but with an unread source may have been
restored, and every consumer must say so rather than call it never restored.

Evidence sources:
- a drill (`dr-audit drill ...`, its history entry, schema DRILL_HISTORY_SCHEMA): `kind`,
  `target` (as the drill names it), `region`, `started`, `rto_seconds`, `outcome`
  ("verified" counts; a failed or interrupted drill is no evidence of a restore);
- an AWS Backup restore job: `SourceResourceArn`, `Status` ("COMPLETED" counts, unless its
  restore-testing `ValidationStatus` is "FAILED"), `CreationDate`, `CompletionDate`.

A resource is matched by (family, name): `rds` instances, `cluster`s (Aurora, DocumentDB,
Neptune), `dynamodb` tables, `efs` file systems, and buckets (an `s3` drill of a backup
bucket and a `state` drill of a Pulumi state backend both restore objects of that bucket).

`pick` chooses the resource whose evidence is missing, else oldest: what to drill next.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Mapping
from dataclasses import field
from typing import Any

from .records import record

DRILL = "drill"
BACKUP_RESTORE_JOB = "aws-backup-restore-job"
DRILL_HISTORY_SCHEMA = "dr-audit-drill-history/1"
# Lower is chosen first among resources with equally old (or no) evidence.
TIER_ORDER = {"critical": 0, "high": 1, "medium": 2, "low": 3}
# the drill kinds whose restores are evidence for a bucket
BUCKET_KINDS = frozenset({"s3", "state"})
# a drill that finished later than this after "now" is no evidence: a wrong clock or a forged
# entry would otherwise be a fresh restore for years
CLOCK_SKEW = dt.timedelta(hours=1)


def family(kind: str) -> str:
    """What a drill kind restores, as evidence is matched: buckets are one family."""
    return "bucket" if kind in BUCKET_KINDS else kind


@record(frozen=True)
class Resource:
    """A stateful resource that can be restored (and, for most kinds, drilled)."""

    kind: str  # the drill that restores it: rds, cluster, dynamodb, state, s3; efs (no drill)
    name: str  # what the drill takes (identifier, table name, bucket, ...)
    region: str | None
    arn: str = ""
    tier: str | None = None
    account: str | None = None
    # what `drill next` passes to the drill besides the name (the state backend's stack)
    detail: str = ""

    @property
    def key(self) -> tuple[str, str]:
        return (family(self.kind), self.name)


def from_arn(arn: str, region: str | None = None, account: str | None = None,
             tier: str | None = None) -> Resource | None:
    """The restorable resource an ARN names (RDS instance or cluster, DynamoDB table, EFS file
    system, S3 bucket); None for anything else."""
    parts = arn.split(":", 5)
    if len(parts) < 6 or parts[0] != "arn":
        return None
    service, rest = parts[2], parts[5]
    for svc, prefix, kind in (("rds", "db:", "rds"), ("rds", "cluster:", "cluster"),
                              ("dynamodb", "table/", "dynamodb"),
                              ("elasticfilesystem", "file-system/", "efs"), ("s3", "", "s3")):
        name = rest[len(prefix):] if service == svc and rest.startswith(prefix) else ""
        if name and "/" not in name and ":" not in name:
            return Resource(kind, name, parts[3] or region, arn, tier, parts[4] or account)
    return None


@record(frozen=True)
class Restore:
    """One successful restore of a resource."""

    at: dt.datetime  # when it finished (a drill: started + its RTO)
    source: str  # DRILL | BACKUP_RESTORE_JOB
    detail: str = ""  # "dr-audit drill <run id>", "AWS Backup restore job <id>"
    seconds: float | None = None  # how long the restore took, when known


@record
class Evidence:
    """A resource's restores: the newest proof, the newest failed try, what was unread."""

    resource: Resource
    last: Restore | None = None
    unknown: list[str] = field(default_factory=list)  # sources that could not be read
    # the newest drill that could not run (outcome "not-run": no recovery point, access
    # denied, a restore AWS refused), when newer than `last`: no evidence, but a try, so `pick`
    # rotates past a resource whose drill cannot run until someone fixes it
    failed: Restore | None = None

    @property
    def missing(self) -> bool:
        return self.last is None

    @property
    def tried(self) -> dt.datetime | None:
        """When a restore of it was last made or tried (a drill that could not run)."""
        return max((r.at for r in (self.last, self.failed) if r is not None), default=None)

    def describe(self, now: dt.datetime) -> str:
        if self.last is None:
            text = "no restore evidence"
        else:
            text = (f"last restored {age(now - self.last.at)} ago "
                    f"({self.last.at:%Y-%m-%d %H:%M} UTC, {self.last.source})")
        if self.failed is not None:
            text += (f"; a drill {age(now - self.failed.at)} ago could not run "
                     f"({self.failed.detail})")
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
    try:
        return (t if t.tzinfo else t.replace(tzinfo=dt.UTC)).astimezone(dt.UTC)
    except OverflowError:  # year 1 with a positive offset, year 9999 with a negative one
        return None


def _seconds(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    v = float(value)
    return v if math.isfinite(v) and 0 <= v < 1e9 else None


def drill_finished(doc: Mapping[str, Any]) -> dt.datetime | None:
    """When a drill entry's restore finished (started + its RTO); None when that is not a
    time (unparsable, or beyond the calendar)."""
    started = parse_time(doc.get("started"))
    if started is None:
        return None
    try:
        return started + dt.timedelta(seconds=_seconds(doc.get("rto_seconds")) or 0)
    except OverflowError:
        return None


def valid_drill_entry(doc: Any, now: dt.datetime | None = None) -> bool:
    """A drill history entry this version understands (schema, a `started` time, kind,
    target, and an RTO that is absent or a finite number of seconds); given `now`, one that
    did not finish in the future either."""
    if not isinstance(doc, dict) or doc.get("schema") != DRILL_HISTORY_SCHEMA:
        return False
    rto = doc.get("rto_seconds")
    if not (isinstance(doc.get("started"), str) and isinstance(doc.get("kind"), str)
            and isinstance(doc.get("target"), str)
            and (rto is None or _seconds(rto) is not None)):
        return False
    finished = drill_finished(doc)
    return finished is not None and (now is None or finished <= now + CLOCK_SKEW)


def drill_subject(kind: str, target: str) -> str:
    """The name of what a drill restored, from its target as the drill names it: the bucket of
    `s3://BUCKET[/KEY]` and of a state drill's `s3://BUCKET[/PREFIX] STACK`, else the last part
    of an identifier or ARN."""
    if kind in BUCKET_KINDS:
        return target.split(" ", 1)[0].removeprefix("s3://").split("/", 1)[0]
    return target.rsplit(":", 1)[-1].rsplit("/", 1)[-1]


def from_drills(entries: Iterable[Mapping[str, Any]], now: dt.datetime | None = None,
                outcome: str = "verified"
                ) -> dict[tuple[str, str], list[tuple[Restore, str | None, str | None]]]:
    """The drills of that outcome (verified: restores; "not-run": tries) by (family, name):
    (restore, region, account) each, region and account None when the entry does not say (it
    then matches any). Given `now`, a drill that finished after it is left out."""
    out: dict[tuple[str, str], list[tuple[Restore, str | None, str | None]]] = {}
    for e in entries:
        if not valid_drill_entry(e, now) or e.get("outcome") != outcome:
            continue
        at = drill_finished(e)
        if at is None:
            continue
        seconds = _seconds(e.get("rto_seconds"))
        r = Restore(at, DRILL, f"dr-audit drill {e.get('run_id') or ''}".strip(), seconds)
        region = e.get("source_region") or e.get("region")
        account = e.get("account")
        key = (family(e["kind"]), drill_subject(e["kind"], e["target"]))
        out.setdefault(key, []).append((r, region if isinstance(region, str) else None,
                                        account if isinstance(account, str) else None))
    return out


def from_restore_jobs(jobs: Iterable[Mapping[str, Any]]) -> dict[str, list[Restore]]:
    """Successful AWS Backup restore jobs per source resource ARN: COMPLETED, and not FAILED
    by restore-testing validation."""
    out: dict[str, list[Restore]] = {}
    for j in jobs:
        if j.get("Status") != "COMPLETED" or j.get("ValidationStatus") == "FAILED" \
                or not isinstance(j.get("SourceResourceArn"), str):
            continue
        created, done = parse_time(j.get("CreationDate")), parse_time(j.get("CompletionDate"))
        at = done or created
        if at is None:
            continue
        out.setdefault(j["SourceResourceArn"], []).append(Restore(
            at, BACKUP_RESTORE_JOB, f"AWS Backup restore job {j.get('RestoreJobId') or ''}"
            .strip(), (done - created).total_seconds() if created and done else None))
    return out


def gather(resources: Iterable[Resource], drills: Iterable[Mapping[str, Any]],
           restore_jobs: Iterable[Mapping[str, Any]],
           unknown: Mapping[str, str] | None = None,
           now: dt.datetime | None = None) -> list[Evidence]:
    """Evidence per resource: its newest successful restore. `unknown` maps a region (a key
    starting with "*": every region) to why a source could not be read there (e.g. AWS
    Backup's restore jobs); given `now`, a drill that finished after it is no evidence."""
    drills = list(drills)
    by_drill = from_drills(drills, now)
    tries = from_drills(drills, now, outcome="not-run")
    by_arn = from_restore_jobs(restore_jobs)
    unknown = unknown or {}
    out = []
    for r in resources:
        # bucket names are global: a bucket's drill names where the bucket is, nothing more
        anywhere = r.region is None or r.key[0] == "bucket"

        def mine(table: dict[tuple[str, str], list[tuple[Restore, str | None, str | None]]],
                 r: Resource = r, anywhere: bool = anywhere) -> list[Restore]:
            return [x for x, region, account in table.get(r.key, ())
                    if (anywhere or region is None or region == r.region)
                    and (account is None or r.account is None or account == r.account)]
        found = mine(by_drill) + (by_arn.get(r.arn, []) if r.arn else [])
        ev = Evidence(r, max(found, key=lambda x: x.at, default=None))
        failed = max(mine(tries), key=lambda x: x.at, default=None)
        if failed is not None and (ev.last is None or failed.at > ev.last.at):
            ev.failed = failed
        ev.unknown = [why for region, why in unknown.items()
                      if region.startswith("*") or region == r.region]
        out.append(ev)
    return out


def pick(evidence: Iterable[Evidence], tier: str | None = None) -> Evidence | None:
    """What to drill next: never tried first, then the one tried longest ago (its last
    restore, or a later drill that could not run: a resource whose drill cannot run must not
    keep every other one from being drilled night after night); ties by tier, then name.
    `tier` keeps only the resources of that tier."""
    pool = [e for e in evidence if tier is None or e.resource.tier == tier]
    if not pool:
        return None

    def order(e: Evidence) -> tuple[int, float, int, str, str]:
        tried = e.tried
        return (0 if tried is None else 1, tried.timestamp() if tried else 0.0,
                TIER_ORDER.get(e.resource.tier or "", 9), e.resource.kind, e.resource.name)
    return min(pool, key=order)
