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

from drguard import inputs

from ._common import SEVERITIES_DESC, dumps

log = logging.getLogger(__name__)

SCHEMA = "dr-audit-history/1"
LIMIT = 30
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")
_LIMITS = inputs.Limits(max_bytes=64 << 10, max_depth=8)


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


def record(folder: Path, item: dict[str, Any]) -> Path:
    """Write `item` (an `entry`) into `folder` (created); returns the file."""
    folder.mkdir(parents=True, exist_ok=True)
    name = f"{_stamp(item.get('started'))}-{_UNSAFE.sub('_', str(item.get('command') or 'run'))}"
    path = folder / f"{name}.json"
    path.write_text(dumps(item) + "\n", encoding="utf-8")
    return path


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


def load(folder: Path, limit: int = LIMIT) -> list[dict[str, Any]]:
    """The newest `limit` run summaries in `folder`, oldest first ([] when there is none)."""
    if not folder.is_dir():
        return []
    out: list[dict[str, Any]] = []
    skipped = 0
    for path in sorted(folder.glob("*.json"))[-limit * 2:]:
        try:
            doc = inputs.load(path, "history entry", "json", _LIMITS)
        except inputs.FileRefused as e:
            log.warning("--history: %s; skipped", e)
            skipped += 1
            continue
        if _valid(doc):
            out.append(doc)
        else:
            log.warning("--history: %s: not a run summary of %s; skipped", path, SCHEMA)
            skipped += 1
    if skipped:
        log.warning("--history %s: %d file(s) are not run summaries; ignored", folder, skipped)
    out.sort(key=lambda d: str(d.get("started") or ""))
    return out[-limit:]
