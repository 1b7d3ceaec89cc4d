"""report.html: one self-contained page rendered from auditor/templates/ (autoescape on).

Top down: the verdict (reports/words.py: distinct gaps, critical count, complete or not), the
applications, "Fix first" (each titled by its gap), the changes since the baseline, the summary
with charts drawn in HTML so they keep their text size on a phone (gaps by control and by
account, stacked by severity; the trend over runs from --history), the findings (all but pass
until the status filter says otherwise), the attempts on their own, and the run metadata,
collapsed, at the bottom. Wide tables scroll inside their own box.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from drguard.control import EXPOSURES
from drguard.findings import STATUSES, Finding
from drguard.frameworks import DISCLAIMER as FRAMEWORKS_NOTE
from drguard.registry import BY_ID

from . import rpo
from ._common import (
    SEVERITIES_DESC,
    clean_text,
    control_info,
    event_fields,
    failed_reads,
    headline,
    incomplete_text,
    plural,
    pretty,
    severity_rank,
    waiver_expired,
)
from .templates import environment, when
from .words import STATUS_MEANING

__all__ = ["environment", "render", "when"]

# The statuses of the findings table; attempts (refused calls, nothing changed) have their own
# section and are never listed under a control.
TABLE_STATUSES = tuple(s for s in STATUSES if s != "attempt")
FIX_FIRST = 10
PER_CONTROL = 3

SEVERITY_COLORS = {"critical": "#8b0000", "high": "#cf222e", "medium": "#bc4c00",
                   "low": "#0969da"}


def exposure(control_id: str) -> tuple[int, str]:
    """(rank, label) of what a gap on this control exposes (Control.exposure, ranked as
    drguard.control.EXPOSURES: backup data that can be destroyed first, hygiene last);
    controls without one rank after them, by tier."""
    c = BY_ID.get(control_id)
    label = c.exposure if c is not None else None
    if label in EXPOSURES:
        return EXPOSURES.index(label), label
    return len(EXPOSURES) + (c.tier if c else 9), "other"


def _words(key: str) -> str:
    text = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", str(key)).replace("_", " ").strip()
    return text[:1].upper() + text[1:].lower()


def _flat(value: Any) -> str:
    """A nested run value as one readable line (no Python reprs, no braces)."""
    if isinstance(value, dict):
        parts = [f"{_words(k).lower()} {_flat(v)}" for k, v in value.items()
                 if v not in (None, "", [], {}, 0)]
        return "; ".join(parts) if parts else "none"
    if isinstance(value, list | tuple):
        return ", ".join(_flat(v) for v in value) if value else "none"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, str) and re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d", value):
        return when(value)
    return str(value)


def _duration(run: dict[str, Any]) -> str | None:
    try:
        a = dt.datetime.fromisoformat(str(run["started"]).replace("Z", "+00:00"))
        b = dt.datetime.fromisoformat(str(run["finished"]).replace("Z", "+00:00"))
    except (KeyError, ValueError, TypeError):
        return None
    secs = max(0, round((b - a).total_seconds()))
    return f"{secs // 60} min {secs % 60} s" if secs >= 60 else f"{secs} s"


def account_label(account: str | None, names: dict[str, str]) -> str:
    if not account:
        return "-"
    return f"{names[account]} ({account})" if names.get(account) else account


_RUN_SKIP = {"tool_version", "started", "finished", "accounts", "account_status",
             "account_names", "regions", "command", "fail_on", "skipped", "skipped_detail",
             "sarif_artifact", "endpoint_url", "mode", "principal_account",
             "drill"}  # "drill": its own section (templates/_drill.html.j2)


def run_rows(run: dict[str, Any], summary: dict[str, Any]) -> list[tuple[str, str]]:
    """(label, text) rows of the run metadata, readable: dates without microseconds, labels
    in words, nested values flattened."""
    names = run.get("account_names") or {}
    rows: list[tuple[str, str]] = []
    if run.get("command"):
        rows.append(("Command", f"dr-audit {run['command']}"))
    rows.append(("Tool version", str(run.get("tool_version", ""))))
    if run.get("started"):
        rows.append(("Started", when(run["started"])))
    if _duration(run):
        rows.append(("Duration", _duration(run) or ""))
    if run.get("mode"):
        rows.append(("Mode", {"org": "whole organization", "account": "one account"}.get(
            run["mode"], str(run["mode"]))))
    if run.get("principal_account"):
        rows.append(("Scanned from", account_label(str(run["principal_account"]), names)))
    accounts = run.get("accounts")
    if isinstance(accounts, list) and accounts:
        rows.append(("Accounts", ", ".join(account_label(str(a), names) for a in accounts)))
    bad = [a for a in run.get("account_status") or () if isinstance(a, dict)
           and a.get("status") not in (None, "scanned")]
    for a in bad:
        rows.append(("Account not scanned",
                     f"{account_label(str(a.get('id')), names)}: {a.get('error', '')}"))
    if isinstance(run.get("regions"), list) and run["regions"]:
        rows.append(("Regions", ", ".join(map(str, run["regions"]))))
    if run.get("endpoint_url"):
        rows.append(("Endpoint", str(run["endpoint_url"])))
    if run.get("fail_on"):
        rows.append(("Fails on", f"{run['fail_on']} and above"))
    if "exit_code" in summary:
        rows.append(("Exit code", str(summary["exit_code"])))
    if summary.get("incomplete"):
        rows.append(("Not read", "; ".join(summary.get("incomplete_parts") or [])))
        rows += [(f"Failed read {op}", text) for op, text in failed_reads(run)]
    skipped: dict[str, Any] = run["skipped"] if isinstance(run.get("skipped"), dict) else {}
    notes: list[Any] = skipped["notes"] if isinstance(skipped.get("notes"), list) else []
    for note in notes:
        rows.append(("Note", str(note)))
    if skipped.get("bucketsOutsideRegions"):
        rows.append(("Outside the regions", plural(int(skipped["bucketsOutsideRegions"]),
                                                    "backup bucket") + " not judged"))
    for d in (run.get("skipped_detail") or [])[:20]:
        if isinstance(d, dict):
            rows.append(("Not read", f"{d.get('path', '')}: {d.get('reason', '')}"))
    for k, v in run.items():
        if k in _RUN_SKIP or v in (None, "", [], {}):
            continue
        if isinstance(v, dict) and v.get("command") == "logs":
            rows.append(("CloudTrail logs", _logs_line(v)))
            continue
        rows.append((_words(k), _flat(v)))
    return rows


def _logs_line(meta: dict[str, Any]) -> str:
    bits = [", ".join(map(str, meta.get("sources") or []))]
    if meta.get("since") or meta.get("until"):
        bits.append(f"from {meta.get('since') or 'the start'} to {meta.get('until') or 'now'}")
    if isinstance(meta.get("files"), int):
        bits.append(plural(meta["files"], "file") + " read")
    if isinstance(meta.get("events"), int):
        bits.append(plural(meta["events"], "change") + " that broke a control")
    if meta.get("attempts"):
        bits.append(plural(int(meta["attempts"]), "attempt") + " (refused calls)")
    return "; ".join(b for b in bits if b)


def _search_text(f: Finding, names: dict[str, str]) -> str:
    parts = [f.id, f.control, f.resource, f.message, account_label(f.account, names),
             f.region or "", f.source, f.status, f.severity,
             f"app:{f.application}" if f.application else "", f.owner or ""]
    for e in [*f.events, *([f.event] if f.event and not f.events else [])]:
        parts += [str(v) for _, v in event_fields(e)]
    if f.remediation:
        parts.append(str(f.remediation.get("summary") or ""))
    if f.waiver:
        parts += [str(f.waiver.get(k, "")) for k in ("owner", "reason")]
    return " ".join(parts).lower()


def _short(resource: str) -> str:
    return re.split(r"::|[:/]", resource)[-1] or resource if resource else resource


def _events(f: Finding) -> list[dict[str, Any]]:
    events = f.events or ([f.event] if f.event else [])
    out = []
    for e in events:
        items = event_fields(e)
        get = dict(items)
        out.append({"when": when(get.get("when")), "who": get.get("who", ""),
                    "what": get.get("event", ""), "from": get.get("from", ""),
                    "error": get.get("error", ""),
                    "rest": [(k, v) for k, v in items
                             if k not in ("when", "who", "event", "from", "error")]})
    return out


def _view(f: Finding, names: dict[str, str]) -> dict[str, Any]:
    info = control_info(f.control, f.severity)
    return {"f": f, "info": info, "rank": severity_rank(f.severity),
            "search": _search_text(f, names), "expired": waiver_expired(f),
            "events": _events(f), "evidence": pretty(f.evidence),
            "account": account_label(f.account, names), "short": _short(f.resource),
            "fix": f.remediation or {}, "general_fix": info["remediation"]}


def gap_title(f: Finding) -> str:
    """The gap of a finding in a few words, from its evidence (Control.gap_title): "Backups
    kept 1 day; needs 7", never the passing condition."""
    c = BY_ID.get(f.control)
    return c.gap_title(f.evidence) if c is not None else f"Not met: {f.control}"


def fix_first(findings: list[Finding], names: dict[str, str], limit: int = FIX_FIRST,
              per_control: int = PER_CONTROL) -> list[dict[str, Any]]:
    """The gaps to fix first: severity, then what they expose; at most `per_control` of one
    control (the last of them says how many more there are), so the list stays varied."""
    gaps = [f for f in findings if f.status == "fail"]
    gaps.sort(key=lambda f: (-severity_rank(f.severity), exposure(f.control)[0], f.control,
                             f.account or "", f.resource))
    total: dict[str, int] = {}
    for f in gaps:
        total[f.control] = total.get(f.control, 0) + 1
    shown: dict[str, int] = {}
    out: list[Any] = []
    for f in gaps:
        if len(out) >= limit:
            break
        if shown.get(f.control, 0) >= per_control:
            continue
        shown[f.control] = shown.get(f.control, 0) + 1
        info = control_info(f.control, f.severity)
        out.append({"f": f, "title": gap_title(f), "control_title": info["title"],
                    "exposes": exposure(f.control)[1],
                    "short": _short(f.resource), "account": account_label(f.account, names),
                    "fix": (f.remediation or {}).get("summary") or info["remediation"],
                    "more": 0})
    for x in out:
        c = x["f"].control
        last = [y for y in out if y["f"].control == c][-1]
        last["more"] = total[c] - shown[c]
    return out


def _bar_chart(rows: list[tuple[str, dict[str, int]]]) -> dict[str, Any]:
    """A horizontal bar chart stacked by severity, drawn in HTML (templates/_macros): each bar's
    length is its share of the longest, so it reads at any width, text at the page's size."""
    top = max([sum(c.values()) for _, c in rows] + [1])
    bars = []
    for label, counts in rows:
        total = sum(counts.values())
        segs = [{"n": counts[s], "severity": s, "color": SEVERITY_COLORS[s]}
                for s in SEVERITIES_DESC if counts.get(s)]
        bars.append({"label": label, "segs": segs, "total": total,
                     "pct": round(100 * total / top, 1)})
    return {"bars": bars}


def _trend(points: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The gaps-over-runs chart (stacked columns drawn in HTML), or None with < 2 runs."""
    if len(points) < 2:
        return None
    top = max([int(p.get("gaps", 0)) for p in points] + [1])
    cols = []
    for p in points:
        by = p.get("by_severity") or {}
        segs = [{"n": int(by.get(s, 0) or 0), "severity": s, "color": SEVERITY_COLORS[s]}
                for s in SEVERITIES_DESC if int(by.get(s, 0) or 0)]
        gaps = int(p.get("gaps", 0))
        cols.append({"segs": segs, "gaps": gaps, "when": when(p.get("started")),
                     "incomplete": bool(p.get("incomplete")),
                     "pct": round(100 * gaps / top, 1)})
    return {"cols": cols, "first": cols[0]["when"], "last": cols[-1]["when"]}


def render(run: dict[str, Any], summary: dict[str, Any], findings: list[Finding],
           trend: list[dict[str, Any]] | None = None,
           applications: list[dict[str, Any]] | None = None,
           frameworks: list[dict[str, Any]] | None = None) -> str:
    """The HTML page for sorted, merged `findings`; `trend` = run summaries, oldest first
    (the last is this run)."""
    names: dict[str, str] = run.get("account_names") or {}
    control_rows = []
    by_control_sev: list[tuple[str, dict[str, int]]] = []
    for cid, counts in summary["by_control"].items():
        if not any(counts[st] for st in TABLE_STATUSES):
            continue  # only attempts: they are listed on their own, not under a control
        sev = next((f.severity for f in findings if f.control == cid), "")
        info = control_info(cid, sev)
        control_rows.append({"id": cid, "title": info["title"], "severity": info["severity"],
                             "counts": counts})
    control_rows.sort(key=lambda r: (-severity_rank(r["severity"]), -r["counts"]["fail"],
                                     r["id"]))
    for r in control_rows:
        if r["counts"]["fail"]:
            by_control_sev.append((r["id"], {r["severity"]: r["counts"]["fail"]}))
    by_account_sev: dict[str, dict[str, int]] = {}
    for f in findings:
        if f.status == "fail":
            row = by_account_sev.setdefault(account_label(f.account, names), {})
            row[f.severity] = row.get(f.severity, 0) + 1
    account_rows = [{"id": a, "label": account_label(a if a != "-" else None, names),
                     "counts": c} for a, c in summary["by_account"].items()
                    if any(c[st] for st in TABLE_STATUSES)]
    critical = summary["by_severity"].get("critical", {}).get("fail", 0)
    views = [_view(f, names) for f in findings]
    table = [v for v in views if v["f"].status != "attempt"]
    table_counts = {st: summary["by_status"][st] for st in TABLE_STATUSES}
    ctx = {
        "run": run, "summary": summary, "diff": summary.get("diff"),
        "statuses": STATUSES, "table_statuses": TABLE_STATUSES,
        "status_meaning": STATUS_MEANING, "table_counts": table_counts,
        "severities": SEVERITIES_DESC,
        "severity_colors": SEVERITY_COLORS, "control_rows": control_rows,
        "account_rows": account_rows, "critical": critical,
        "headline": headline(summary),
        "incomplete": incomplete_text(summary), "run_rows": run_rows(run, summary),
        "fix_first": fix_first(findings, names),
        "chart_controls": _bar_chart(by_control_sev) if by_control_sev else None,
        "chart_accounts": (_bar_chart(sorted(by_account_sev.items()))
                           if len(by_account_sev) > 1 else None),
        "trend": _trend(trend or []),
        "filter_controls": sorted({v["f"].control for v in table}),
        "filter_accounts": sorted({v["f"].account or "-" for v in table}),
        "names": names,
        "findings": table,
        "attempts": [v for v in views if v["f"].status == "attempt"],
        "rpo_rows": rpo.html_rows(views),
        "new_ids": {d.get("id") for d in (summary.get("diff") or {}).get("new", [])},
        "applications": applications or [], "frameworks": frameworks or [],
        "frameworks_note": FRAMEWORKS_NOTE,
    }
    return clean_text(environment().get_template("report.html.j2").render(ctx))
