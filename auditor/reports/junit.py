"""report.junit.xml: one <testsuite> per control, one <testcase> per finding.

A testcase is named by the resource (classname = control id). When one control reports the
same resource more than once (e.g. from `live` and `logs`), the name gets ` [source]` and, if
still not unique, ` #n`, so CI tools that key on classname + name keep every case.
`fail` -> <failure type=severity>, `error` -> <error>, `waived` -> <skipped>,
`attempt` -> passing case with <system-out> (informational), `pass` -> plain case.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections import Counter
from typing import Any

from drguard.findings import Finding

from ._common import TOOL_NAME, control_info, pretty, xml_text


def _el(parent: ET.Element, tag: str, text: str | None = None, **attrs: Any) -> ET.Element:
    e = ET.SubElement(parent, tag, {k: xml_text(v) for k, v in attrs.items() if v is not None})
    if text is not None:
        e.text = xml_text(text)
    return e


def _details(f: Finding, remediation: str) -> str:
    lines = [f.message]
    if remediation and f.status in ("fail", "error"):
        lines.append(f"Fix: {remediation}")
    lines.append(f"Resource: {f.resource}")
    where = ", ".join(f"{k}={v}" for k, v in (("account", f.account), ("region", f.region),
                                              ("source", f.source)) if v)
    lines.append(f"Where: {where}")
    if f.event:
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


def _names(findings: list[Finding]) -> list[str]:
    """Unique testcase names within one suite."""
    per_resource = Counter(f.resource for f in findings)
    names = [f"{f.resource} [{f.source}]" if per_resource[f.resource] > 1 else f.resource
             for f in findings]
    seen: Counter[str] = Counter()
    out = []
    for n in names:
        seen[n] += 1
        out.append(n if seen[n] == 1 else f"{n} #{seen[n]}")
    return out


def build(run: dict[str, Any], findings: list[Finding]) -> ET.Element:
    """The <testsuites> element for sorted `findings` (suites sorted by control id)."""
    suites: dict[str, list[Finding]] = {}
    for f in findings:
        suites.setdefault(f.control, []).append(f)
    root = ET.Element("testsuites", {"name": TOOL_NAME})
    totals = Counter[str]()
    stamp = run.get("started")
    for control_id in sorted(suites):
        group = suites[control_id]
        info = control_info(control_id, group[0].severity)
        counts = Counter(f.status for f in group)
        attrs = {"name": control_id, "tests": len(group), "failures": counts["fail"],
                 "errors": counts["error"], "skipped": counts["waived"], "time": "0"}
        if isinstance(stamp, str) and stamp:
            attrs["timestamp"] = stamp
        suite = _el(root, "testsuite", **attrs)
        props = _el(suite, "properties")
        for k in ("title", "severity", "mapping"):
            if info[k]:
                _el(props, "property", name=k, value=info[k])
        for f, name in zip(group, _names(group), strict=True):
            case = _el(suite, "testcase", classname=control_id, name=name, time="0")
            details = _details(f, info["remediation"])
            if f.status == "fail":
                _el(case, "failure", details, message=f.message, type=f.severity)
            elif f.status == "error":
                _el(case, "error", details, message=f.message, type="error")
            elif f.status == "waived":
                _el(case, "skipped", message=_waiver_text(f))
                _el(case, "system-out", details)
            elif f.status == "attempt":
                _el(case, "system-out", "attempt (failed call, nothing changed): " + details)
        for k in ("tests", "failures", "errors", "skipped"):
            totals[k] += int(attrs[k])
    for k in ("tests", "failures", "errors", "skipped"):
        root.set(k, str(totals[k]))
    root.set("time", "0")
    return root


def render(run: dict[str, Any], findings: list[Finding]) -> str:
    root = build(run, findings)
    ET.indent(root)
    body = ET.tostring(root, encoding="unicode")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + body + "\n"
