"""Restore evidence, live: completed AWS Backup restore jobs (read-only) and the drills kept
in a `--history` folder; the binding of restore-time-objective, which `scan` judges after the
live scan (auditor.restore)."""

from __future__ import annotations

import datetime as dt
import json
import logging
from pathlib import Path
from typing import Any

from drguard.controls import objectives as ctl
from drguard.controls.objectives import Restore

from ..aws import paginate
from ..live import Live, LiveService

log = logging.getLogger(__name__)

RESTORE_CONTROL = ctl.RESTORE
DRILL_HISTORY_SCHEMA = "dr-audit-drill-history/1"


def _utc(t: Any) -> dt.datetime | None:
    if isinstance(t, dt.datetime):
        return t if t.tzinfo else t.replace(tzinfo=dt.UTC)
    if isinstance(t, str):
        try:
            return _utc(dt.datetime.fromisoformat(t.replace("Z", "+00:00")))
        except ValueError:
            return None
    return None


def restore_jobs(backup: Any, since: dt.datetime) -> dict[str, list[Restore]]:
    """Source resource ARN -> successful restores (COMPLETED, validation not FAILED) created
    after `since`; raises ClientError/BotoCoreError on a read error."""
    out: dict[str, list[Restore]] = {}
    for j in paginate(backup, "list_restore_jobs", "RestoreJobs", ByStatus="COMPLETED",
                      ByCreatedAfter=since):
        if j.get("ValidationStatus") == "FAILED" or not j.get("SourceResourceArn"):
            continue
        start, end = _utc(j.get("CreationDate")), _utc(j.get("CompletionDate"))
        if start is None or end is None:
            continue
        out.setdefault(j["SourceResourceArn"], []).append(
            Restore(end, (end - start).total_seconds() / 60,
                    f"AWS Backup restore job {j.get('RestoreJobId')}"))
    return out


def drill_restores(folder: Path) -> tuple[dict[str, list[Restore]], int]:
    """Drill target (as given to `dr-audit drill`) -> verified restores; (.., files skipped)."""
    out: dict[str, list[Restore]] = {}
    skipped = 0
    for f in sorted(folder.glob("drill-*.json")) if folder.is_dir() else ():
        try:
            doc = json.loads(f.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            skipped += 1
            continue
        if not isinstance(doc, dict) or doc.get("schema") != DRILL_HISTORY_SCHEMA:
            skipped += 1
            continue
        at, rto = _utc(doc.get("started")), doc.get("rto_seconds")
        if doc.get("verified") is not True or at is None or not isinstance(rto, (int, float)) \
                or isinstance(rto, bool) or not isinstance(doc.get("target"), str):
            continue
        out.setdefault(doc["target"], []).append(
            Restore(at + dt.timedelta(seconds=rto), rto / 60,
                    f"dr-audit drill {doc.get('run_id')}"))
    return out, skipped


SERVICE = LiveService(
    calls=("backup:ListRestoreJobs",),
    live=(Live((RESTORE_CONTROL,), None),),
)
