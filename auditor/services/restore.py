"""Restore evidence, live: AWS Backup's completed restore jobs (read-only) and the drills kept
in the `--history` store; the binding of restore-time-objective, which `scan` judges after the
live scan (auditor.restore). `dr-audit drill next` reads the same two sources, and
drguard.restore_evidence matches both to resources for either."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import field
from typing import Any

from drguard import restore_evidence as rev
from drguard.controls import objectives as ctl
from drguard.records import record
from drguard.verdict import plural

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


@record
class DrillHistory:
    """The drill entries of a history store, as evidence: `entries` (oldest first); `skipped`,
    what was not read ((where, why): not a drill summary, ends in the future, a signature that
    does not verify), plus `unreadable` files the store could not read (named in the log);
    given a key, `unsigned` entries, which are not evidence; without one, `signed`: how many
    entries carried a signature nobody checked."""

    entries: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    unreadable: int = 0
    unsigned: list[str] = field(default_factory=list)
    signed: int = 0

    @property
    def not_read(self) -> int:
        """Entries the run could not take, which make it incomplete."""
        return len(self.skipped) + self.unreadable

    def notes(self, where: str) -> list[str]:
        """What a run's notes say of this history."""
        out = []
        if self.not_read:
            parts = []
            if self.skipped:
                whys = "; ".join(f"{name}: {why}" for name, why in self.skipped[:5])
                more = f"; and {len(self.skipped) - 5} more" if len(self.skipped) > 5 else ""
                parts.append(f"{plural(len(self.skipped), 'entry')} skipped ({whys}{more})")
            if self.unreadable:
                parts.append(f"{plural(self.unreadable, 'entry')} could not be read (named in the "
                             "log)")
            out.append(f"drill history {where}: " + "; ".join(parts) + ": not evidence")
        if self.unsigned:
            names = ", ".join(self.unsigned[:5]) + (
                f" and {len(self.unsigned) - 5} more" if len(self.unsigned) > 5 else "")
            out.append(f"drill history {where}: {plural(len(self.unsigned), 'entry')} without a "
                       "signature, not evidence under --history-key (kept before the key was "
                       f"used, or by someone without it): {names}")
        if self.signed:
            out.append(f"drill history {where}: {plural(self.signed, 'entry')} signed, but no "
                       "--history-key was given: every entry, signed or not, counted as "
                       "evidence")
        return out


def read_drills(store: HistoryStore, now: dt.datetime | None = None,
                key: bytes | None = None) -> DrillHistory:
    """Every drill entry of the history as evidence (DrillHistory). An entry that cannot be
    read, is not a drill summary, finished after `now` (default: the clock) or, given the
    `--history-key` key, carries a signature that does not verify, is skipped with a warning
    naming it; one with no signature at all is left out of the evidence (named once)."""
    now = now or dt.datetime.now(dt.UTC)
    docs, unreadable = store.read(lambda name: name.startswith("drill-"))
    out = DrillHistory(unreadable=unreadable)
    where = store.where.rstrip("/")
    for name, doc in docs:
        signed = isinstance(doc, dict) and history_key.FIELD in doc
        if key is not None and not signed:
            out.unsigned.append(name)
        elif key is not None and not history_key.verified(doc, key):
            log.warning("--history: %s/%s: its signature does not verify (altered, or signed "
                        "with another key); skipped", where, name)
            out.skipped.append((name, "signature does not verify"))
        elif rev.valid_drill_entry(doc, now):
            out.entries.append(doc)
            out.signed += key is None and signed
        else:
            log.warning("--history: %s/%s: not a drill summary of %s (or it ends in the "
                        "future); skipped", where, name, DRILL_HISTORY_SCHEMA)
            out.skipped.append((name, "not a drill summary, or ends in the future"))
    if out.signed:
        log.warning("--history: %s holds signed drill entries, but no --history-key was given: "
                    "every entry counts as evidence, signed or not", where)
    out.entries.sort(key=lambda d: d["started"])
    return out


def drill_entries(store: HistoryStore, now: dt.datetime | None = None,
                  key: bytes | None = None) -> tuple[list[dict[str, Any]], int]:
    """(read_drills' entries, how many were not read)."""
    h = read_drills(store, now, key)
    return h.entries, h.not_read


SERVICE = LiveService(
    calls=("backup:ListRestoreJobs",),
    live=(Live((RESTORE_CONTROL,), None),),
)
