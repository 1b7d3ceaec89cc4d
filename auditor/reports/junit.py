"""report.junit.xml: one <testsuite> per control, one <testcase> per finding.

A testcase is named `<resource> [<finding id>]` (classname = control id): findings are merged
per (control, resource, account, region), so the id makes every name unique and stable.
`fail` -> <failure type=severity>, `error` -> <error>, `waived` -> <skipped>,
`attempt` -> a passing case with <system-out> (informational) in the suite
`dr-audit-attempts`, never in a control's suite; `pass` -> plain case.
An incomplete run (something not read) adds a suite `dr-audit-run` with one <error> case
saying what was not read, so CI shows it.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections import Counter
from typing import Any

from drguard.control import remedy_text
from drguard.findings import Finding

from ._common import TOOL_NAME, control_info, incomplete_text, pretty, xml_text
from .words import STATUS_MEANING


def _el(parent: ET.Element, tag: str, text: str | None = None, **attrs: Any) -> ET.Element:
    e = ET.SubElement(parent, tag, {k: xml_text(v) for k, v in attrs.items() if v is not None})
    if text is not None:
        e.text = xml_text(text)
    return e


def fix_lines(f: Finding, general: str = "") -> list[str]:
    """The remediation of a failing/error finding as text lines (shown once per finding)."""
    if f.status not in ("fail", "error"):
        return []
    r = f.remediation or {}
    if not r.get("summary"):
        return [f"How to fix (general): {general}"] if general else []
    return ["Fix: " + remedy_text(r)]


def _details(f: Finding, general: str) -> str:
    lines = [f.message, *fix_lines(f, general)]
    lines.append(f"Resource: {f.resource}")
    where = ", ".join(f"{k}={v}" for k, v in (("account", f.account), ("region", f.region),
                                              ("source", "+".join(f.sources))) if v)
    lines.append(f"Where: {where}")
    lines.append(f"Finding id: {f.id}")
    if f.events:
        lines.append("Events (newest first): " + pretty(f.events))
    elif f.event:
        lines.append("Event: " + pretty(f.event))
    if f.waiver:
        lines.append("Waiver: " + pretty(f.waiver))
    if f.evidence:
        lines.append("Evidence: " + pretty(f.evidence))
    return "\n".join(lines)


def _waiver_text(f: Finding) -> str:
    w = f.waiver or {}
    return (f"waived: {w.get('reason', '')} ({w.get('owner', 'unknown owner')}, "
            f"until {w.get('expires', '?')})")


ATTEMPTS_SUITE = "dr-audit-attempts"


def case_name(f: Finding) -> str:
    """`<resource> [<finding id>]`: readable, unique and stable across runs."""
    return f"{f.resource} [{f.id}]"


def build(run: dict[str, Any], findings: list[Finding],
          summary: dict[str, Any] | None = None) -> ET.Element:
    """The <testsuites> element for sorted `findings` (suites sorted by control id)."""
    suites: dict[str, list[Finding]] = {}
    for f in findings:
        if f.status != "attempt":  # refused calls: their own suite, under no control
            suites.setdefault(f.control, []).append(f)
    attempts = [f for f in findings if f.status == "attempt"]
    root = ET.Element("testsuites", {"name": TOOL_NAME})
    totals = Counter[str]()
    stamp = run.get("started")
    for control_id in sorted(suites):
        group = suites[control_id]
        info = control_info(control_id, group[0].severity)
        counts = Counter(f.status for f in group)
        attrs: dict[str, Any] = {"name": control_id, "tests": len(group),
                                 "failures": counts["fail"], "errors": counts["error"],
                                 "skipped": counts["waived"], "time": "0"}
        if isinstance(stamp, str) and stamp:
            attrs["timestamp"] = stamp
        suite = _el(root, "testsuite", **attrs)
        props = _el(suite, "properties")
        for k in ("title", "severity", "mapping"):
            if info[k]:
                _el(props, "property", name=k, value=info[k])
        for f in group:
            case = _el(suite, "testcase", classname=control_id, name=case_name(f), time="0")
            details = _details(f, info["remediation"])
            if f.status == "fail":
                _el(case, "failure", details, message=f.message, type=f.severity)
            elif f.status == "error":
                _el(case, "error", details, message=f.message, type="error")
            elif f.status == "waived":
                _el(case, "skipped", message=_waiver_text(f))
                _el(case, "system-out", details)
        for k in ("tests", "failures", "errors", "skipped"):
            totals[k] += int(attrs[k])
    if attempts:
        suite = _el(root, "testsuite", name=ATTEMPTS_SUITE, tests=len(attempts), failures=0,
                    errors=0, skipped=0, time="0")
        for f in attempts:
            case = _el(suite, "testcase", classname=ATTEMPTS_SUITE, name=case_name(f),
                       time="0")
            _el(case, "system-out", f"attempt ({STATUS_MEANING['attempt']}); would have "
                                    f"broken {f.control}: {f.message}")
        totals["tests"] += len(attempts)
    if summary and summary.get("incomplete"):
        text = incomplete_text(summary)
        suite = _el(root, "testsuite", name="dr-audit-run", tests=1, failures=0, errors=1,
                    skipped=0, time="0")
        case = _el(suite, "testcase", classname="dr-audit-run", name="run complete", time="0")
        _el(case, "error", text, message=text, type="incomplete")
        for k, n in (("tests", 1), ("errors", 1)):
            totals[k] += n
    for k in ("tests", "failures", "errors", "skipped"):
        root.set(k, str(totals[k]))
    root.set("time", "0")
    return root


def render(run: dict[str, Any], summary: dict[str, Any] | None,
           findings: list[Finding]) -> str:
    root = build(run, findings, summary)
    ET.indent(root)
    body = ET.tostring(root, encoding="unicode")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + body + "\n"
