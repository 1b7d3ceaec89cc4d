"""report.md: short, link-free, for PR comments and CI job summaries."""

from __future__ import annotations

import html
import re
from typing import Any

from drguard.findings import Finding

from ._common import SEVERITIES_DESC, clean_text, event_value

MAX_ROWS = 50
MAX_ATTEMPT_ROWS = 20
_SPECIAL = re.compile(r"([\\`*_\[\]|~!#])")


def md(value: Any, limit: int = 160, keep_tail: int = 0) -> str:
    """One line of inert Markdown: whitespace folded, truncated, HTML and Markdown escaped."""
    text = " ".join(clean_text(str(value if value is not None else "")).split())
    if len(text) > limit:
        tail = text[len(text) - keep_tail:] if keep_tail else ""
        text = text[: limit - len(tail) - 1] + "\u2026" + tail
    text = html.escape(text, quote=False)
    return _SPECIAL.sub(r"\\\1", text)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _header(run: dict[str, Any]) -> str:
    bits = []
    if run.get("command"):
        bits.append(f"`{md(run['command'], 40).replace('`', '')}`")
    bits.append(f"dr-audit {md(run.get('tool_version', ''), 40)}")
    if run.get("started"):
        when = md(run["started"], 40)
        if run.get("finished"):
            when += f" \u2192 {md(run['finished'], 40)}"
        bits.append(when)
    for key in ("accounts", "regions"):
        v = run.get(key)
        if isinstance(v, list) and v:
            bits.append(f"{key}: {md(', '.join(map(str, v)), 200)}")
    return " \u00b7 ".join(bits)


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def render(run: dict[str, Any], summary: dict[str, Any], findings: list[Finding]) -> str:
    """The Markdown report for sorted `findings`."""
    st = summary["by_status"]
    gaps = summary["gaps"]
    title = f"{_plural(gaps, 'gap')}" if gaps else "no gaps"
    lines = [f"## DR Guard audit: {title}", "", _header(run), ""]
    lines.append(" \u00b7 ".join([
        f"**{st['fail']} fail**", f"{st['pass']} pass", f"{st['waived']} waived",
        f"{_plural(st['error'], 'error')}", f"{_plural(st['attempt'], 'attempt')}",
        f"{summary['total']} findings"]))
    by_sev = [f"{summary['by_severity'][s]['fail']} {s}" for s in SEVERITIES_DESC
              if summary["by_severity"][s]["fail"]]
    if by_sev:
        lines.append("")
        lines.append("Gaps by severity: " + ", ".join(by_sev))
    if "exit_code" in summary:
        lines += ["", f"Exit code {summary['exit_code']} (fail on {summary['fail_on']})."]
    if st["error"]:
        lines += ["", f"**Scan incomplete:** {_plural(st['error'], 'check')} could not be made "
                      "(status `error`)."]

    d = summary.get("diff")
    if d is not None:
        c = d["counts"]
        new_sev = ", ".join(f"{n} {s}" for s, n in d["new_by_severity"].items() if n)
        lines += ["", "### Changes since the previous report", "",
                  f"{_plural(c['new'], 'new gap')}{f' ({new_sev})' if new_sev else ''} \u00b7 "
                  f"{c['resolved']} resolved \u00b7 {c['still_failing']} still failing"]

    rows = [f for f in findings if f.status in ("fail", "error")]
    lines.append("")
    if not rows:
        lines.append("No gaps: every checked resource passed or is waived.")
    else:
        lines += ["### Gaps" + (" and errors" if st["error"] else ""), "",
                  _row(["severity", "status", "control", "resource", "account", "message"]),
                  _row(["---"] * 6)]
        for f in rows[:MAX_ROWS]:
            lines.append(_row([f.severity, f.status, md(f.control, 60),
                               md(f.resource, 100, keep_tail=50), md(f.account or "-", 40),
                               md(f.message, 160)]))
        if len(rows) > MAX_ROWS:
            lines += ["", f"\u2026 and {len(rows) - MAX_ROWS} more in the full report."]

    if st["waived"] or summary.get("expired_waivers"):
        lines.append("")
        text = f"{st['waived']} waived"
        if summary.get("expired_waivers"):
            text += (f"; {_plural(summary['expired_waivers'], 'waiver')} expired "
                     "(those findings count as gaps again)")
        lines.append(text + ".")

    attempts = [f for f in findings if f.status == "attempt"]
    if attempts:
        lines += ["", f"### Attempts from the logs ({len(attempts)})", "",
                  "Failed calls that would have broken a control (nothing changed).", "",
                  _row(["control", "resource", "principal", "event", "time"]),
                  _row(["---"] * 5)]
        for f in attempts[:MAX_ATTEMPT_ROWS]:
            ev = f.event
            lines.append(_row([md(f.control, 60), md(f.resource, 80, keep_tail=40),
                               md(event_value(ev, "principal") or "-", 80, keep_tail=40),
                               md(event_value(ev, "event_name") or "-", 60),
                               md(event_value(ev, "time") or "-", 40)]))
        if len(attempts) > MAX_ATTEMPT_ROWS:
            lines += ["", f"\u2026 and {len(attempts) - MAX_ATTEMPT_ROWS} more in the full "
                          "report."]
    return "\n".join(lines) + "\n"
