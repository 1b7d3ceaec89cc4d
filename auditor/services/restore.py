"""Restore evidence, live: AWS Backup's completed restore jobs (read-only) and the drills kept
in the `--history` store; the binding of restore-time-objective, which `scan` judges after the
live scan (auditor.restore). `dr-audit drill next` reads the same two sources, and
drguard.restore_evidence matches both to resources for either."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from drguard import restore_evidence as rev
from drguard.controls import objectives as ctl

from .. import history_key
from ..aws import paginate
from ..collectors import ReadError
from ..history_store import HistoryStore
from ..live import Live, LiveService

log = logging.getLogger(__name__)

RESTORE_CONTROL = ctl.RESTORE
DRILL_HISTORY_SCHEMA = rev.DRILL_HISTORY_SCHEMA


def restore_jobs(backup: Any, since: dt.datetime | None = None) -> list[dict[str, Any]]:
    """AWS Backup's COMPLETED restore jobs of a region (created after `since` when given);
    raises ClientError/BotoCoreError when they cannot be read."""
    kwargs: dict[str, Any] = {"ByStatus": "COMPLETED"}
    if since is not None:
        kwargs["ByCreatedAfter"] = since
    return list(paginate(backup, "list_restore_jobs", "RestoreJobs", **kwargs))


def jobs_unread(region: str | None, error: ReadError, account: str | None = None) -> str:
    """Why a region's restore evidence is unknown, in one short line (the error's full text
    goes to the finding's readErrors)."""
    whose = f" of account {account}" if account else ""
    return (f"AWS Backup restore jobs{whose} in {region} could not be read "
            f"({error.operation}: {error.code})")


def drill_entries(store: HistoryStore, now: dt.datetime | None = None,
                  key: bytes | None = None) -> tuple[list[dict[str, Any]], int]:
    """Every drill entry of the history, oldest first, and how many were skipped. An entry
    that cannot be read, is not a drill summary or finished after `now` (default: the clock),
    or (given the `--history-key` key) is not signed by that key, is skipped with a warning
    naming it."""
    now = now or dt.datetime.now(dt.UTC)
    docs, skipped = store.read(lambda name: name.startswith("drill-"))
    entries = []
    for name, doc in docs:
        if key is not None and not history_key.verified(doc, key):
            log.warning("--history: %s/%s: not signed by --history-key (unsigned, altered or "
                        "signed with another key); skipped", store.where.rstrip("/"), name)
            skipped += 1
        elif rev.valid_drill_entry(doc, now):
            entries.append(doc)
        else:
            log.warning("--history: %s/%s: not a drill summary of %s (or it ends in the "
                        "future); skipped", store.where.rstrip("/"), name, DRILL_HISTORY_SCHEMA)
            skipped += 1
    entries.sort(key=lambda d: d["started"])
    return entries, skipped


SERVICE = LiveService(
    calls=("backup:ListRestoreJobs",),
    live=(Live((RESTORE_CONTROL,), None),),
)
