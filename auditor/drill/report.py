"""The drill's report section, its history, and its report files.

drill.json carries the spec's `"drill": {"kind", "target", "steps": [{"name", "seconds",
"status"}], "rto_seconds", "rto_target_seconds", "verified", "cleaned_up"}` plus what explains
them (outcome, exit code, error, what was found, the checks, the mutating calls the guard let
through, the history). The HTML page is the auditor's report page with the drill section
(templates/_drill.html.j2); Markdown is templates/_drill.md.j2.

`--history DIR|s3://BUCKET/PREFIX` keeps one small JSON summary per drill
(`drill-<run id>.json`, auditor.history_store); the report shows the RTO of the last runs of
the same kind and target, and `drill next` reads them as restore evidence. A history entry that
cannot be read is skipped and counted, never fatal.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from drguard.errors import ConfigError

from .. import history_key
from ..history_store import HistoryStore
from ..reports import render_reports
from ..reports._common import dumps, jsonable
from ..reports.templates import text_environment
from ..services.restore import DRILL_HISTORY_SCHEMA, drill_entries
from .plan import EXIT_FAILED, EXIT_NOT_RUN, EXIT_OK

log = logging.getLogger(__name__)

HISTORY_SCHEMA = DRILL_HISTORY_SCHEMA
HISTORY_LIMIT = 30
# The report formats a drill writes (a subset of the auditor's). Its own file names, so a scan
# and a drill writing into the same --output-dir keep both reports.
FORMATS = ("json", "html", "md")
FILENAMES = {"json": "drill.json", "html": "drill.html", "md": "drill.md"}


def exit_code(verified: bool, status: str, rto: float | None, target: float | None,
              cleaned_up: bool) -> int:
    """0 restored, verified and within target; 1 slower, unverified or not cleaned up;
    3 could not run (or was interrupted)."""
    if status in ("not-run", "interrupted"):
        return EXIT_NOT_RUN
    if not verified or not cleaned_up:
        return EXIT_FAILED
    if target is not None and (rto is None or rto > target):
        return EXIT_FAILED
    return EXIT_OK


def outcome_text(section: dict[str, Any]) -> str:
    """One line for people: what happened."""
    rto, target = section.get("rto_seconds"), section.get("rto_target_seconds")
    status = section["outcome"]
    step = section.get("failed_step")
    if status == "not-run":
        text = (f"could not run{f' (step {step!r} failed)' if step else ''}: "
                f"{section.get('error') or 'unknown reason'}")
    elif status == "interrupted":
        text = f"interrupted ({section.get('error') or 'signal'})"
    elif status == "failed":
        text = f"restored but verification failed: {section.get('error') or ''}".rstrip(": ")
    elif target is not None and rto is not None and rto > target:
        text = f"restored and verified in {fmt_seconds(rto)}, slower than the target " \
               f"{fmt_seconds(target)}"
    else:
        text = f"restored and verified in {fmt_seconds(rto)}" + (
            f" (target {fmt_seconds(target)})" if target is not None else "")
    if not section.get("cleaned_up"):
        text += "; CLEANUP FAILED, left behind: " + ", ".join(section.get("left_behind") or [])
    return text


def fmt_seconds(value: float | None) -> str:
    if value is None:
        return "-"
    if value < 90:
        return f"{value:.1f} s"
    if value < 5400:
        return f"{value / 60:.1f} min"
    return f"{value / 3600:.1f} h"


# ---- history ----------------------------------------------------------------------------------

def check_history_dir(path: Path) -> None:
    """--history DIR must be a writable directory (created); ConfigError otherwise."""
    if path.exists() and not path.is_dir():
        raise ConfigError(f"--history {path}: not a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / ".dr-audit-write-test"
        probe.write_text("", encoding="utf-8")
        probe.unlink()
    except OSError as e:
        raise ConfigError(f"{path}: --history directory is not writable "
                          f"({e.strerror or e})") from None


def history_entry(section: dict[str, Any], started: str) -> dict[str, Any]:
    keys = ("run_id", "kind", "target", "region", "source_region", "account", "rto_seconds",
            "rto_target_seconds", "verified", "cleaned_up", "outcome", "exit_code")
    return {"schema": HISTORY_SCHEMA, "started": started, **{k: section.get(k) for k in keys}}


def load_history(store: HistoryStore, kind: str, target: str, key: bytes | None = None
                 ) -> tuple[list[dict[str, Any]], int]:
    """(entries of this kind and target, oldest first, at most HISTORY_LIMIT; files skipped;
    given `key`, only the entries it signed)."""
    entries, skipped = drill_entries(store, key=key)
    mine = [e for e in entries if e["kind"] == kind and e["target"] == target]
    return mine[-HISTORY_LIMIT:], skipped


def save_history(store: HistoryStore, entry: dict[str, Any], key: bytes | None = None) -> str:
    """Keep `entry` in the history, signed when a `--history-key` key is given."""
    if key is not None:
        entry = history_key.sign(entry, key)
    return store.append(f"drill-{entry['run_id']}.json", dumps(entry) + "\n")


def chart(entries: list[dict[str, Any]], target: float | None) -> dict[str, Any]:
    """Bar geometry (SVG units) of RTO over runs; a failed run is a short grey bar."""
    width, height, gap = 600, 140, 4
    values = [e["rto_seconds"] for e in entries if isinstance(e.get("rto_seconds"), int | float)]
    top = max([*values, target or 0, 1.0])
    n = max(len(entries), 1)
    bar = min(40.0, max(4.0, (width - gap * (n - 1)) / n))
    bars = []
    for i, e in enumerate(entries):
        rto = e.get("rto_seconds")
        ok = e.get("exit_code") == EXIT_OK
        h = max(3.0, (height - 4) * (rto / top)) if isinstance(rto, int | float) else 6
        bars.append({"x": round(i * (bar + gap), 1), "y": round(height - h, 1),
                     "w": round(bar, 1), "h": round(h, 1),
                     "cls": "ok" if ok else "bad" if rto is not None else "none",
                     "label": f"{e['started']}: {fmt_seconds(rto)} ({e.get('outcome')})"})
    target_y = round(height - (height - 4) * (target / top), 1) if target else None
    return {"width": width, "height": height, "bars": bars, "target_y": target_y,
            "top": fmt_seconds(top)}


# ---- writing ----------------------------------------------------------------------------------

def render_markdown(run: dict[str, Any]) -> str:
    env = text_environment()
    env.globals = {**env.globals, "fmt_seconds": fmt_seconds}
    return env.get_template("_drill.md.j2").render(run=run, drill=run["drill"])


def write(run: dict[str, Any], out_dir: Path, formats: list[str]) -> dict[str, Path]:
    """Write the drill's report files; `run["drill"]` is the drill section."""
    paths: dict[str, Path] = {}
    out_dir.mkdir(parents=True, exist_ok=True)
    if "html" in formats:
        p = out_dir / FILENAMES["html"]
        p.write_text(render_reports([], run, ["html"])["html"], encoding="utf-8",
                     errors="replace")
        paths["html"] = p
    doc_run = jsonable({k: v for k, v in run.items() if k != "drill"})
    if "json" in formats:
        doc = json.loads(render_reports([], doc_run, ["json"])["json"])
        doc["drill"] = jsonable(run["drill"])
        p = out_dir / FILENAMES["json"]
        p.write_text(dumps(doc) + "\n", encoding="utf-8")
        paths["json"] = p
    if "md" in formats:
        p = out_dir / FILENAMES["md"]
        p.write_text(render_markdown(jsonable(run)), encoding="utf-8")
        paths["md"] = p
    return paths
