"""report.md: for PR comments and CI job summaries; inert, link-free, under GitHub's limit.

Every value we did not write is made inert for GitHub's renderer: identifiers (resources,
accounts, principals) go in code spans, where nothing links or mentions; free text (messages)
is backslash-escaped and defanged (`https[:]//`, `www[.]`, `[@]`, `[#]1`), so a CloudTrail key
like https://evil.example/phish never becomes a live link, an @mention or an HTML tag. No HTML
entities are written. When the full table would pass `LIMIT` characters (GitHub comments stop
at 65,536), failing rows are grouped by control, and the report says what it collapsed.
"""

from __future__ import annotations

import re
from typing import Any

from drguard.findings import Finding
from drguard.frameworks import DISCLAIMER

from ._common import (
    SEVERITIES_DESC,
    event_value,
    failed_reads,
    headline,
    incomplete_text,
    plural,
)
from .escape import code, md
from .templates import text_environment
from .words import STATUS_MEANING, severity_counts, status_counts

LIMIT = 60_000  # GitHub comments and job summaries stop at 65,536 characters
GROUP_EXAMPLES = 3
MAX_ATTEMPT_ROWS = 20
def _account(a: str | None, names: dict[str, str]) -> str:
    if not a:
        return "-"
    return f"{code(a)} ({md(names[a])})" if names.get(a) else code(a)


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _fix(f: Finding) -> str:
    r = f.remediation or {}
    if not r.get("summary"):
        return "see the full report"
    return md(r["summary"]) + (f" _Why:_ {md(r['why'])}" if r.get("why") else "")


def _header(run: dict[str, Any], names: dict[str, str]) -> str:
    bits = []
    if run.get("command"):
        bits.append(code(f"dr-audit {run['command']}"))
    bits.append(f"version {md(run.get('tool_version', ''))}")
    if run.get("started"):
        bits.append(md(_when(run["started"])))
    accounts = run.get("accounts")
    if isinstance(accounts, list) and accounts:
        bits.append(plural(len(accounts), "account") + ": "
                    + ", ".join(_account(str(a), names) for a in accounts[:20])
                    + (f" and {len(accounts) - 20} more" if len(accounts) > 20 else ""))
    regions = run.get("regions")
    if isinstance(regions, list) and regions:
        bits.append("regions: " + ", ".join(code(r) for r in regions))
    return " \u00b7 ".join(bits)


def _when(value: Any) -> str:
    """An ISO time without microseconds, e.g. 2026-12-01 04:10 UTC."""
    text = str(value)
    m = re.match(r"^(\d{4}-\d\d-\d\d)T(\d\d:\d\d)(?::\d\d(?:\.\d+)?)?(Z|[+-]00:?00)?", text)
    if not m:
        return text
    return f"{m.group(1)} {m.group(2)}" + (" UTC" if m.group(3) else "")


def _gap_rows(rows: list[Finding], names: dict[str, str]) -> list[str]:
    out = [_row(["severity", "status", "control", "resource", "account", "region",
                 "what is wrong", "fix"]), _row(["---"] * 8)]
    for f in rows:
        out.append(_row([f.severity, f.status, code(f.control), code(f.resource),
                         _account(f.account, names), code(f.region or "-"), md(f.message),
                         _fix(f) if f.status == "fail" else "-"]))
    return out


def _grouped_rows(rows: list[Finding], budget: int) -> tuple[list[str], int]:
    """One row per (control, status): count, examples; (lines, groups left out)."""
    groups: dict[tuple[str, str], list[Finding]] = {}
    for f in rows:
        groups.setdefault((f.control, f.status), []).append(f)
    out = [_row(["severity", "status", "control", "count", "examples", "accounts"]),
           _row(["---"] * 6)]
    used = sum(len(line) + 1 for line in out)
    left = 0
    for (control, status), group in groups.items():
        examples = ", ".join(code(f.resource) for f in group[:GROUP_EXAMPLES])
        if len(group) > GROUP_EXAMPLES:
            examples += f" and {len(group) - GROUP_EXAMPLES} more"
        accounts = sorted({f.account or "-" for f in group})
        line = _row([group[0].severity, status, code(control), str(len(group)), examples,
                     ", ".join(code(a) for a in accounts[:5])
                     + (f" and {len(accounts) - 5} more" if len(accounts) > 5 else "")])
        if used + len(line) + 1 > budget:
            left += 1
            continue
        out.append(line)
        used += len(line) + 1
    return out, left


def _partial(name: str, **ctx: Any) -> list[str]:
    """Lines of a Markdown partial (templates/_<name>.md.j2); values arrive escaped."""
    text = text_environment().get_template(f"_{name}.md.j2").render(ctx)
    return text.strip("\n").split("\n") if text.strip() else []


def _applications(apps: list[dict[str, Any]], frameworks: list[dict[str, Any]]
                  ) -> tuple[list[str], list[str]]:
    rows = [{**a, "name_md": code(a["name"]), "tier_md": code(a["tier"] or "-"),
             "owner_md": code(a["owner"] or "-")} for a in apps]
    fw = [{**r, "name": md(r["name"]), "requirement": md(r["requirement"])} for r in frameworks]
    return (_partial("applications", applications=rows),
            _partial("frameworks", frameworks=fw, note=DISCLAIMER))


def render(run: dict[str, Any], summary: dict[str, Any], findings: list[Finding],
           sections: str = "", applications: list[dict[str, Any]] | None = None,
           frameworks: list[dict[str, Any]] | None = None) -> str:
    """The Markdown report for sorted, merged `findings`; `sections`: Markdown of the
    sections rendered elsewhere (the achieved-RPO table), placed after the gaps;
    `applications` and `frameworks` as report.json has them."""
    apps_lines, fw_lines = _applications(applications or [], frameworks or [])
    names: dict[str, str] = run.get("account_names") or {}
    st = summary["by_status"]
    lines = [f"## DR Guard audit \u00b7 {md(headline(summary))}", ""]
    if summary.get("incomplete"):
        lines += [f"**{md(incomplete_text(summary))}** The counts below cover only what was "
                  "read.", ""]
        reads = failed_reads(run)
        if reads:
            lines += [*(f"- {code(op)} {md(text)}" for op, text in reads), ""]
    lines += [_header(run, names), ""]
    by_sev = severity_counts(summary["by_severity"], SEVERITIES_DESC)
    lines.append(f"**{st['fail']} fail**" + (f" ({by_sev})" if by_sev else "") + " \u00b7 "
                 + status_counts({k: v for k, v in st.items() if k != "fail"}, " \u00b7 ")
                 .removeprefix("0 fail \u00b7 "))
    if "exit_code" in summary:
        lines += ["", f"Exit code {summary['exit_code']} (fail on {summary['fail_on']})."]
    if apps_lines:
        lines += ["", *apps_lines]

    d = summary.get("diff")
    if d is not None:
        c = d["counts"]
        new_sev = ", ".join(f"{n} {s}" for s, n in d["new_by_severity"].items() if n)
        lines += ["", "### Changes since the previous report", "",
                  f"{plural(c['new'], 'new gap')}{f' ({new_sev})' if new_sev else ''} \u00b7 "
                  f"{c['resolved']} fixed \u00b7 {c['still_failing']} still open"]

    rows = [f for f in findings if f.status in ("fail", "error")]
    lines.append("")
    if not rows and summary.get("incomplete"):
        # never a clean bill of health when something was not read
        lines.append("Nothing could be judged: the run read nothing it could check."
                     if not findings else "No gaps among what was read; the run is incomplete.")
    elif not rows:
        lines.append("No gaps: every checked resource passed or is waived.")
    else:
        head = "### Gaps" + (" and errors (checks not made)" if st["error"] else "")
        full = _gap_rows(rows, names)
        size = sum(len(x) + 1 for x in lines) + sum(len(x) + 1 for x in full)
        if size <= LIMIT:
            lines += [head, "", *full]
        else:
            budget = LIMIT - sum(len(x) + 1 for x in lines) - 2_000
            grouped, left = _grouped_rows(rows, budget)
            lines += [head, "", f"_{plural(len(rows), 'row')} grouped by control and status to "
                      "stay under GitHub's 65,536-character limit; every finding, with its "
                      "fix, is in report.html and report.json._", "", *grouped]
            if left:
                lines += ["", f"_{plural(left, 'more group')} left out for size._"]
    if st["pass"]:
        lines += ["", f"_{st['pass']} pass not listed (see report.html)._"]
    if st["waived"] or summary.get("expired_waivers"):
        text = f"{st['waived']} waived"
        if summary.get("expired_waivers"):
            text += (f"; {plural(summary['expired_waivers'], 'waiver')} expired "
                     "(those findings count as gaps again)")
        lines += ["", text + "."]
    lines += sections.rstrip("\n").split("\n")
    if fw_lines:
        lines += ["", *fw_lines]
    attempts = [f for f in findings if f.status == "attempt"]
    if attempts:
        lines += ["", f"### Attempts ({len(attempts)})", "",
                  f"One per refused call read in CloudTrail: {md(STATUS_MEANING['attempt'])}.",
                  "", _row(["event", "resource", "principal", "time", "would have broken"]),
                  _row(["---"] * 5)]
        for f in attempts[:MAX_ATTEMPT_ROWS]:
            ev = f.event
            lines.append(_row([code(event_value(ev, "event_name") or "-"), code(f.resource),
                               code(event_value(ev, "principal") or "-"),
                               md(_when(event_value(ev, "time") or "-")), code(f.control)]))
        if len(attempts) > MAX_ATTEMPT_ROWS:
            lines += ["", f"_{plural(len(attempts) - MAX_ATTEMPT_ROWS, 'more attempt')} in the "
                          "full report._"]
    text = "\n".join(lines) + "\n"
    if len(text) > LIMIT:  # pathological (e.g. thousands of attempts or accounts): hard cap
        cut = text[:LIMIT - 200].rsplit("\n", 1)[0]
        text = cut + "\n\n_Report cut at GitHub's size limit; see report.html._\n"
    return text
