"""report.html: one self-contained page rendered from auditor/templates/ (autoescape on)."""

from __future__ import annotations

import functools
from typing import Any

import jinja2

from drguard.findings import STATUSES, Finding

from ._common import (
    SEVERITIES_DESC,
    clean_text,
    control_info,
    event_fields,
    pretty,
    severity_rank,
    waiver_expired,
)

STATUS_LABELS = {"fail": "failing (gaps)", "pass": "passing", "waived": "waived",
                 "error": "could not check", "attempt": "attempts (logs)"}

# Run keys shown first in the header, with their labels; any other key follows as-is.
RUN_LABELS: tuple[tuple[str, str], ...] = (
    ("command", "command"), ("tool_version", "tool version"), ("started", "started"),
    ("finished", "finished"), ("accounts", "accounts"), ("regions", "regions"),
    ("sources", "sources"), ("endpoint_url", "endpoint"), ("fail_on", "fail on"),
    ("skipped", "skipped"),
)


@functools.cache
def environment() -> jinja2.Environment:
    """The template environment: package templates, autoescape on, strict undefined."""
    return jinja2.Environment(loader=jinja2.PackageLoader("auditor", "templates"),
                              autoescape=True, undefined=jinja2.StrictUndefined,
                              trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)


def _run_items(run: dict[str, Any]) -> list[tuple[str, Any]]:
    known = dict(RUN_LABELS)
    items = [(known[k], run[k]) for k, _ in RUN_LABELS
             if k in run and run[k] not in (None, "", [], {})]
    items += [(k.replace("_", " "), v) for k, v in run.items()
              if k not in known and v not in (None, "", [], {})]
    return items


def _search_text(f: Finding) -> str:
    parts = [f.control, f.resource, f.message, f.account or "", f.region or "", f.source,
             f.status, f.severity]
    parts += [str(v) for _, v in event_fields(f.event)]
    if f.waiver:
        parts += [str(f.waiver.get(k, "")) for k in ("owner", "reason")]
    return " ".join(parts).lower()


def _view(f: Finding) -> dict[str, Any]:
    return {"f": f, "info": control_info(f.control, f.severity), "rank": severity_rank(f.severity),
            "search": _search_text(f), "expired": waiver_expired(f),
            "event_items": event_fields(f.event), "evidence": pretty(f.evidence)}


def render(run: dict[str, Any], summary: dict[str, Any], findings: list[Finding]) -> str:
    """The HTML page for sorted `findings`."""
    control_rows = []
    for cid, counts in summary["by_control"].items():
        sev = next((f.severity for f in findings if f.control == cid), "")
        info = control_info(cid, sev)
        control_rows.append({"id": cid, "title": info["title"], "severity": info["severity"],
                             "counts": counts})
    control_rows.sort(key=lambda r: (-severity_rank(r["severity"]), r["id"]))
    ctx = {
        "run": run, "run_items": _run_items(run), "summary": summary,
        "diff": summary.get("diff"), "statuses": STATUSES, "status_labels": STATUS_LABELS,
        "severities": SEVERITIES_DESC, "control_rows": control_rows,
        "filter_controls": sorted({f.control for f in findings}),
        "filter_accounts": sorted({f.account or "-" for f in findings}),
        "findings": [_view(f) for f in findings],
    }
    return clean_text(environment().get_template("report.html.j2").render(ctx))
