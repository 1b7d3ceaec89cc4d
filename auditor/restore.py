"""restore-time-objective: every database, table, file system, backup bucket and state bucket
the live scan found has a recent restore within its target RTO.

Evidence (drguard.restore_evidence, the model `dr-audit drill next` uses too): the drills
kept in the `--history` store (a folder or s3://BUCKET/PREFIX; `dr-audit drill --history`
appends them) and AWS Backup's completed restore jobs of the resource's account and region
(read through the scan's read-only session). Without `--history` the restore jobs alone are
judged, and the run says so. Restore jobs (or a history) that cannot be read are unknown
evidence: the verdict is then `error`, never "never restored", unless a known restore already
meets the objective.

The target RTO in force: the resource's `dr:rto` tag, else its tier's `targetRtoMinutes`,
else the control's parameter; the evidence names it and where it came from.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
from collections.abc import Callable
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from drguard import applications as apps_mod
from drguard import restore_evidence as rev
from drguard.controls.objectives import (
    RTO_TAG,
    UndefinedTier,
    bad_rto_tag,
    restore_objective,
    target_rto,
    undefined_tier,
)
from drguard.errors import ConfigError
from drguard.evaluate import finding
from drguard.facts import Resource
from drguard.findings import Finding
from drguard.registry import BY_ID
from drguard.settings import Settings

from . import history_key
from .collectors import ReadError
from .history_store import open_store
from .managed import stateful_type
from .services.pulumi import STATE_BACKEND
from .services.restore import RESTORE_CONTROL, jobs_unread, read_drills, restore_jobs

log = logging.getLogger(__name__)

CONTROL = RESTORE_CONTROL
# what needs restore evidence: data stores, not caches or vaults (a vault is the evidence)
_KINDS = {"AWS::RDS::DBInstance", "AWS::RDS::DBCluster", "AWS::DynamoDB::Table",
          "AWS::EFS::FileSystem", "AWS::S3::Bucket"}

JobsFor = Callable[[str | None, str | None], "list[dict[str, Any]] | ReadError"]


def _told(f: Finding) -> tuple[bool, bool]:
    """How much a finding knows of its resource's objectives: prefer one whose fact read the
    dr:rto tag, then one that knows the tier."""
    return (f.rto_tag is not None, f.tier is not None)


def targets(live: list[Finding]) -> dict[tuple[str, str | None], Finding]:
    """(ARN, account) -> a live finding of it, for each resource that needs evidence. Buckets
    count only when a backup-scoped control (backup bucket, state bucket) judged them."""
    out: dict[tuple[str, str | None], Finding] = {}
    for f in live:
        kind = stateful_type(f.resource) if f.source == "live" else None
        if kind not in _KINDS:
            continue
        if kind == "AWS::S3::Bucket":
            c = BY_ID.get(f.control)
            if c is None or not (c.backup_scoped or c.id == STATE_BACKEND):
                continue
        key = (f.resource, f.account)
        if key not in out or _told(f) > _told(out[key]):
            out[key] = f
    return out


def judge(live: list[Finding], settings: Settings, jobs_for: JobsFor,
          drills: list[dict[str, Any]], now: dt.datetime, drills_unknown: str = "",
          drills_read: bool = True) -> list[Finding]:
    """One finding per resource of `live` that needs restore evidence.

    `jobs_for(account, region)` -> that region's completed restore jobs, or a ReadError;
    `drills`: the history's drill entries; `drills_unknown`: why the history could not be
    read (empty when it was, or when none was given: `drills_read` False)."""
    if CONTROL not in settings.enabled:
        return []
    params = settings.of(CONTROL)
    by_account: dict[str | None, list[tuple[rev.Resource, Finding]]] = {}
    for (arn, account), f in targets(live).items():
        r = rev.from_arn(arn, f.region, account, f.tier)
        if r is not None:
            by_account.setdefault(account, []).append((r, f))
    # a restore test may run in another region (the DR region's copy): every region the scan
    # saw in an account counts, and one that cannot be read leaves each resource there
    # without a proven restore unknown
    # (an account-wide finding, such as the root user's keys, has no region: none to read)
    seen: dict[str | None, set[str]] = {}
    for f in live:
        if f.region:
            seen.setdefault(f.account, set()).add(f.region)
    out = []
    for account, group in by_account.items():
        regions = sorted(seen.get(account, set()) | {r.region for r, _ in group if r.region})
        jobs: list[dict[str, Any]] = []
        unknown: dict[str, str] = {"*": drills_unknown} if drills_unknown else {}
        if not regions:
            unknown["*?"] = "the region of its AWS Backup restore jobs is unknown"
        error: ReadError | None = None
        for region in regions:
            read = jobs_for(account, region)
            if isinstance(read, ReadError):
                error = error or read
                unknown[f"*{region}"] = jobs_unread(region, read, account)
            else:
                jobs += read
        resources = [r for r, _ in group]
        evidence = rev.gather(resources, drills, jobs, unknown, now)
        for ev, (_, f) in zip(evidence, group, strict=True):
            out.append(_finding(ev, f, settings, params, now, drills_read, error))
    return out


def _finding(ev: rev.Evidence, f: Finding, settings: Settings, params: dict[str, Any],
             now: dt.datetime, drills_read: bool, jobs_error: ReadError | None) -> Finding:
    r = ev.resource
    fact = Resource(ref=f.resource, name=r.name, type=stateful_type(f.resource) or "",
                    account=f.account, region=f.region,
                    tags={RTO_TAG: f.rto_tag} if f.rto_tag else {})
    undefined = apps_mod.undefined_tier(f.tier, settings.apps)
    try:
        target, source, kind = target_rto(fact.tags, f.tier,
                                          dict(settings.apps.objectives(f.tier)),
                                          params["targetRtoMinutes"], undefined)
    except UndefinedTier:
        verdict = undefined_tier(fact, f.tier, undefined or "", ev, now,
                                 params["maxEvidenceAgeDays"], drills_read)
    except ValueError:
        verdict = bad_rto_tag(fact, f.rto_tag or "")
    else:
        verdict = restore_objective(fact, ev, target, source, params["maxEvidenceAgeDays"],
                                    now, drills_read, kind)
        if jobs_error is not None and verdict.status != "pass":
            verdict.evidence["readErrors"] = [jobs_error.to_dict()]
    out = finding(CONTROL, fact, verdict, "live", settings, now.date())
    out.application, out.stack, out.urn = f.application, f.stack, f.urn
    out.owner, out.tier = f.owner, f.tier
    return out


def scan_hook(args: argparse.Namespace, settings: Settings, result: Any,
              now: dt.datetime | None = None) -> list[Finding]:
    """`dr-audit scan`: restore evidence for what the live scan found."""
    if CONTROL not in settings.enabled:
        return []
    now = now or dt.datetime.now(dt.UTC)
    notes = result.run["skipped"].setdefault("notes", [])
    history = getattr(args, "history", None)
    drills: list[dict[str, Any]] = []
    drills_unknown = ""
    if not history:
        notes.append(f"{CONTROL}: judged on AWS Backup restore jobs alone: no --history was "
                     "given, so no `dr-audit drill` counts as evidence")
    else:
        from .aws import AwsOptions

        store = open_store(history, AwsOptions(profile=getattr(args, "profile", None),
                                               endpoint_url=getattr(args, "endpoint_url", None)))
        try:
            history_read = read_drills(store, now,
                                       history_key.from_arg(getattr(args, "history_key", None)))
        except ConfigError as e:
            drills_unknown = f"the drill history could not be read ({e})"
            log.warning("%s: %s", CONTROL, drills_unknown)
        else:
            drills = history_read.entries
            if history_read.not_read:
                result.run["skipped"]["drillHistoryFiles"] = history_read.not_read
            notes.extend(f"{CONTROL}: {n}" for n in history_read.notes(store.where))
    session = getattr(result, "session", None)
    principal = result.run.get("principal_account")
    read: dict[tuple[str | None, str | None], list[dict[str, Any]] | ReadError] = {}
    sessions: dict[str | None, Any] = {principal: session}

    def session_of(account: str | None) -> Any:
        """The account's read-only session: the scan's own, or (--org) the role assumed in a
        member account, as the scan opened it; a ReadError when there is none."""
        if account not in sessions:
            role = getattr(args, "role_name", None)
            if session is None or not getattr(args, "org", False) or not role or not account:
                sessions[account] = ReadError("backup:ListRestoreJobs", "NotRead",
                                              f"account {account} is not the scan's own "
                                              "account")
            else:
                from . import aws, org

                options = aws.AwsOptions(profile=getattr(args, "profile", None),
                                         endpoint_url=getattr(args, "endpoint_url", None))
                target = org.open_account(aws.Account(session, str(principal), options),
                                          account, None, role,
                                          getattr(args, "external_id", None))
                sessions[account] = target.error or (
                    target.account.session if target.account is not None else None)
        return sessions[account]

    def jobs_for(account: str | None, region: str | None) -> list[dict[str, Any]] | ReadError:
        if (account, region) not in read:
            where = session_of(account)
            if isinstance(where, ReadError) or where is None:
                read[(account, region)] = where or ReadError(
                    "backup:ListRestoreJobs", "NotRead", "no session")
            else:
                from . import aws

                client = aws.guard_client(where.client(
                    "backup", region_name=region,
                    endpoint_url=getattr(args, "endpoint_url", None)))
                try:
                    read[(account, region)] = restore_jobs(client)
                except (ClientError, BotoCoreError) as e:
                    read[(account, region)] = ReadError.of("backup:ListRestoreJobs", e)
        return read[(account, region)]

    return judge(result.findings, settings, jobs_for, drills, now, drills_unknown,
                 drills_read=bool(history))
