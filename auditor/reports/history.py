"""`--history DIR`: one small JSON summary per run, so the HTML report can show the trend.

Each file is `<started, UTC, compact>-<command>.json` holding `entry()`; `load()` reads the
newest `LIMIT` of them (oldest first), skipping any file that is not such a summary.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
from pathlib import Path
from typing import Any

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


def record(folder: Path, item: dict[str, Any]) -> Path:
    """Write `item` (an `entry`) into `folder` (created); returns the file."""
    folder.mkdir(parents=True, exist_ok=True)
    name = f"{_stamp(item.get('started'))}-{_UNSAFE.sub('_', str(item.get('command') or 'run'))}"
    path = folder / f"{name}.json"
    path.write_text(dumps(item) + "\n", encoding="utf-8")
    return path


def _valid(doc: Any) -> bool:
    return (isinstance(doc, dict) and doc.get("schema") == SCHEMA
            and isinstance(doc.get("gaps"), int) and not isinstance(doc.get("gaps"), bool)
            and isinstance(doc.get("by_severity"), dict))


def load(folder: Path, limit: int = LIMIT) -> list[dict[str, Any]]:
    """The newest `limit` run summaries in `folder`, oldest first ([] when there is none)."""
    if not folder.is_dir():
        return []
    out: list[dict[str, Any]] = []
    skipped = 0
    for path in sorted(folder.glob("*.json"))[-limit * 2:]:
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            doc = None
        if _valid(doc):
            out.append(doc)
        else:
            skipped += 1
    if skipped:
        log.warning("--history %s: %d file(s) are not run summaries; ignored", folder, skipped)
    out.sort(key=lambda d: str(d.get("started") or ""))
    return out[-limit:]
