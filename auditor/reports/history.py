"""`--history DIR`: one small JSON summary per run, so the HTML report can show the trend.

Each file is `<started, UTC, compact>-<command>.json` holding `entry()`; `load()` reads the
newest `LIMIT` of them (oldest first), skipping any file that is not such a summary.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from pathlib import Path
from typing import Any

from ..history_store import HistoryStore, open_store
from ._common import SEVERITIES_DESC, dumps

log = logging.getLogger(__name__)

SCHEMA = "dr-audit-history/1"
LIMIT = 30
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def entry(run: dict[str, Any], summary: dict[str, Any]) -> dict[str, Any]:
    """The summary of one run kept in the history folder."""
    by_sev = summary.get("by_severity") or {}
    return {
        "schema": SCHEMA,
        "started": run.get("started"),
        "command": run.get("command"),
        "gaps": int(summary.get("gaps", 0)),
        "by_severity": {s: int((by_sev.get(s) or {}).get("fail", 0)) for s in SEVERITIES_DESC},
        "errors": int(summary.get("errors", 0)),
        "total": int(summary.get("total", 0)),
        "incomplete": bool(summary.get("incomplete")),
        "exit_code": summary.get("exit_code"),
    }


def _stamp(started: Any) -> str:
    try:
        t = dt.datetime.fromisoformat(str(started).replace("Z", "+00:00"))
        if t.tzinfo is None:
            t = t.replace(tzinfo=dt.UTC)
        return t.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%S%fZ")
    except ValueError:
        return dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%fZ")


def record(store: Path | str | HistoryStore, item: dict[str, Any]) -> str:
    """Add `item` (an `entry`) to the history (a folder, created, or s3://...); where it went."""
    name = f"{_stamp(item.get('started'))}-{_UNSAFE.sub('_', str(item.get('command') or 'run'))}"
    return open_store(store).append(f"{name}.json", dumps(item) + "\n")


def _count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _valid(doc: Any) -> bool:
    """An entry as `entry()` writes it: every count a non-negative integer (the trend chart
    does arithmetic on them)."""
    if not (isinstance(doc, dict) and doc.get("schema") == SCHEMA):
        return False
    by_sev = doc.get("by_severity")
    return (_count(doc.get("gaps")) and isinstance(by_sev, dict)
            and all(_count(v) for v in by_sev.values())
            and all(doc.get(k) is None or _count(doc.get(k)) for k in ("errors", "total"))
            and isinstance(doc.get("started"), str | type(None)))


def load(location: Path | str | HistoryStore, limit: int = LIMIT) -> list[dict[str, Any]]:
    """The newest `limit` run summaries of the history, oldest first ([] when there is none).
    Drill entries (`drill-*.json`) share the store and are not read here."""
    store = open_store(location)
    docs, skipped = store.read(lambda name: not name.startswith("drill-"), limit * 2)
    out: list[dict[str, Any]] = []
    for name, doc in docs:
        if _valid(doc):
            out.append(doc)
        else:
            log.warning("--history: %s/%s: not a run summary of %s; skipped",
                        store.where.rstrip("/"), name, SCHEMA)
            skipped += 1
    if skipped:
        log.warning("--history %s: %d file(s) are not run summaries; ignored", store.where,
                    skipped)
    out.sort(key=lambda d: str(d.get("started") or ""))
    return out[-limit:]
