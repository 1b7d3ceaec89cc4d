"""restore-time-objective: every database, table, file system, backup bucket and state bucket
the live scan found has a recent restore within its target RTO.

Evidence: drills kept in `--history DIR` (auditor.drill writes them) and completed AWS
Backup restore jobs of the resource's account and region (read through the scan's read-only
session); judged when the scan is given `--history`, else noted as not checked. Restore jobs
that cannot be read make that region's verdicts `error`, never a "never restored" fail.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from drguard.controls.objectives import Restore, restore_objective, target_rto
from drguard.evaluate import finding
from drguard.facts import Resource
from drguard.findings import Finding
from drguard.registry import BY_ID
from drguard.settings import Settings
from drguard.verdict import Verdict

from .collectors import ReadError
from .managed import stateful_type
from .services.pulumi import STATE_BACKEND
from .services.restore import RESTORE_CONTROL, drill_restores, restore_jobs

log = logging.getLogger(__name__)

CONTROL = RESTORE_CONTROL
# what needs restore evidence: data stores, not caches or vaults (a vault is the evidence)
_KINDS = {"AWS::RDS::DBInstance", "AWS::RDS::DBCluster", "AWS::DynamoDB::Table",
          "AWS::EFS::FileSystem", "AWS::S3::Bucket"}


def targets(live: list[Finding]) -> dict[tuple[str, str | None], Finding]:
    """(ARN, account) -> a live finding of it, for each resource that needs evidence. Buckets
    count only when a backup-scoped control (backup bucket, state bucket) judged them."""
    out: dict[tuple[str, str | None], Finding] = {}
    for f in live:
        kind = stateful_type(f.resource) if f.source == "live" else None
        if kind not in _KINDS or (f.resource, f.account) in out:
            continue
        if kind == "AWS::S3::Bucket":
            c = BY_ID.get(f.control)
            if c is None or not (c.backup_scoped or c.id == STATE_BACKEND):
                continue
        out[(f.resource, f.account)] = f
    return out


def judge(live: list[Finding], settings: Settings, jobs_for: Any,
          drills: dict[str, list[Restore]], now: dt.datetime) -> list[Finding]:
    """`jobs_for(account, region)` -> {source ARN: restores}, or a ReadError."""
    if CONTROL not in settings.enabled:
        return []
    params = settings.of(CONTROL)
    read: dict[tuple[str | None, str | None], Any] = {}
    out = []
    for (arn, account), f in targets(live).items():
        name = arn.replace(":", "/").rsplit("/", 1)[-1]
        fact = Resource(ref=arn, name=name, type=stateful_type(arn) or "", account=account,
                        region=f.region)
        target, source = target_rto(None, f.tier, dict(settings.apps.objectives(f.tier)),
                                    params["targetRtoMinutes"])
        key = (account, f.region)
        if key not in read:
            read[key] = jobs_for(account, f.region)
        jobs = read[key]
        if isinstance(jobs, ReadError):
            verdict = Verdict("error", f"Restore jobs of account {account} in {f.region} could "
                                       f"not be read ({jobs}), so the restore evidence of "
                                       f"{name} is unknown.",
                              {"readErrors": [jobs.to_dict()], "targetRtoMinutes": target,
                               "targetFrom": source})
        else:
            found = [*jobs.get(arn, []), *drills.get(arn, []), *drills.get(name, [])]
            verdict = restore_objective(fact, found, target, source,
                                        params["maxEvidenceAgeDays"], now)
        out_f = finding(CONTROL, fact, verdict, "live", settings)
        out_f.application, out_f.owner, out_f.tier = f.application, f.owner, f.tier
        out.append(out_f)
    return out


def scan_hook(args: argparse.Namespace, settings: Settings, result: Any,
              now: dt.datetime | None = None) -> list[Finding]:
    """`dr-audit scan`: restore evidence for what the live scan found."""
    now = now or dt.datetime.now(dt.UTC)
    history = getattr(args, "history", None)
    if not history:
        # without a history folder no drill can be evidence; judging only on restore jobs
        # would call every drilled resource "never restored"
        result.run["skipped"].setdefault("notes", []).append(
            f"{CONTROL}: not checked: give --history DIR (where `dr-audit drill --history` "
            "keeps its drills); AWS Backup restore jobs are read with it")
        return []
    drills, skipped = drill_restores(Path(history)) if history else ({}, 0)
    if skipped:
        result.run["skipped"]["drillHistoryFiles"] = skipped
    session = getattr(result, "session", None)
    principal = result.run.get("principal_account")
    since = now - dt.timedelta(days=float(settings.of(CONTROL)["maxEvidenceAgeDays"]))

    def jobs_for(account: str | None, region: str | None
                 ) -> dict[str, list[Restore]] | ReadError:
        if session is None or account != principal:
            return ReadError("backup:ListRestoreJobs", "NotRead",
                             f"account {account} is not the scan's own account")
        from . import aws

        client = aws.guard_client(session.client(
            "backup", region_name=region, endpoint_url=getattr(args, "endpoint_url", None)))
        try:
            return restore_jobs(client, since)
        except (ClientError, BotoCoreError) as e:
            return ReadError.of("backup:ListRestoreJobs", e)

    return judge(result.findings, settings, jobs_for, drills, now)
