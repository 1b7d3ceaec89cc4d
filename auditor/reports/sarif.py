"""report.sarif: SARIF 2.1.0 for GitHub code scanning.

Rules: one per control of the registry (in registry order, so rule ids and indexes are stable
across runs whatever was found), plus any control id a finding names that the registry lacks.
Results: `fail` (level by severity), `waived` (same level, with an external suppression),
`attempt` (level note), `error` (kind `open`, level `none`: the check could not be made).
`pass` findings are not results: they are counted in the run's properties.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any
from urllib.parse import quote

from drguard.findings import Finding
from drguard.registry import CONTROLS

from ._common import TOOL_NAME, control_info, incomplete_text

SARIF_SCHEMA_URI = "https://json.schemastore.org/sarif-2.1.0.json"
SARIF_VERSION = "2.1.0"
FINGERPRINT = "drGuardFindingId/v1"

SECURITY_SEVERITY: dict[str, str] = {"critical": "9.5", "high": "8.0", "medium": "5.5",
                                     "low": "3.0"}
LEVEL: dict[str, str] = {"critical": "error", "high": "error", "medium": "warning",
                         "low": "note"}


def _rule_name(control_id: str) -> str:
    """PascalCase identifier for reportingDescriptor.name, e.g. RdsBackupRetention."""
    return "".join(p[:1].upper() + p[1:] for p in re.split(r"[^0-9A-Za-z]+", control_id) if p)


def _rule(control_id: str, severity: str) -> dict[str, Any]:
    info = control_info(control_id, severity)
    sev = info["severity"]
    tags = ["security", "reliability", "disaster-recovery", f"severity/{sev}"]
    if info["tier"] is not None:
        tags.append(f"tier-{info['tier']}")
    tags += [f"aws-config/{r}" for r in info["aws_config"]]
    tags += [f"security-hub/{r}" for r in info["security_hub"]]
    remediation = info["remedy_text"] or "See the control's documentation."
    general = info["remedy"] or {}
    steps = "".join(f"\n{i}. {x}" for i, x in enumerate(general.get("console") or (), 1))
    help_md = (f"**Fix:** {general.get('summary') or remediation}"
               + (f"\n\n**Why:** {general['why']}" if general.get("why") else "")
               + (f"\n\n**Console:**\n{steps}" if steps else ""))
    props: dict[str, Any] = {"severity": sev, "tags": tags,
                             "security-severity": SECURITY_SEVERITY.get(sev, "5.5"),
                             "precision": "high"}
    if info["mapping"]:
        props["mapping"] = info["mapping"]
    return {
        "id": control_id,
        "name": _rule_name(control_id) or control_id,
        "shortDescription": {"text": info["title"]},
        "fullDescription": {"text": info["description"] or info["title"]},
        "help": {"text": remediation, "markdown": help_md},
        "defaultConfiguration": {"level": LEVEL.get(sev, "warning")},
        "properties": props,
    }


def fingerprint(f: Finding) -> str:
    """The finding's stable id (control, resource, account, region): the same gap keeps its
    alert across runs, and matches report.json, JUnit and the HTML anchor."""
    return f.id


def _artifact_uri(f: Finding) -> str | None:
    for key in ("file", "path"):
        v = f.evidence.get(key) if isinstance(f.evidence, dict) else None
        if isinstance(v, str) and v.strip():
            path = v.strip().replace("\\", "/")
            return quote(path.encode("utf-8", "surrogatepass"), safe="/:@!$&'()*+,;=-._~")
    return None


def _location(f: Finding, fallback: str | None = None) -> dict[str, Any]:
    """Logical location = the resource; physical location = the finding's file, else the
    run's `sarif_artifact` (GitHub code scanning rejects results without a file)."""
    short = re.split(r"::|[:/]", f.resource)[-1] if f.resource else f.resource
    loc: dict[str, Any] = {"logicalLocations": [
        {"fullyQualifiedName": f.resource, "name": short or f.resource, "kind": "resource"}]}
    uri = _artifact_uri(f) or (quote(fallback) if fallback else None)
    if uri:
        phys: dict[str, Any] = {"artifactLocation": {"uri": uri}}
        line = f.evidence.get("line")
        if isinstance(line, int) and not isinstance(line, bool) and line >= 1:
            phys["region"] = {"startLine": line}
        loc["physicalLocation"] = phys
    return loc


def _message(f: Finding) -> str:
    where = " ".join(x for x in (f.account, f.region) if x)
    prefix = {"attempt": "attempt (refused call, nothing changed): ",
              "error": "error (could not be checked): "}.get(f.status, "")
    text = f"{prefix}{f.message or f.control}"
    fix = (f.remediation or {}).get("summary") if f.status in ("fail", "error") else None
    if fix:
        text = f"{text.rstrip()} Fix: {fix}"
    return f"{text} [{f.resource}{' in ' + where if where else ''}]"


def _result(f: Finding, index: int, artifact: str | None = None) -> dict[str, Any]:
    r: dict[str, Any] = {"ruleId": f.control, "ruleIndex": index}
    if f.status == "error":
        r["kind"] = "open"
        r["level"] = "none"
    elif f.status == "attempt":
        r["level"] = "note"
    else:
        r["level"] = LEVEL.get(f.severity, "warning")
    r["message"] = {"text": _message(f)}
    r["locations"] = [_location(f, artifact)]
    r["partialFingerprints"] = {FINGERPRINT: fingerprint(f)}
    props: dict[str, Any] = {"id": f.id, "severity": f.severity, "status": f.status,
                             "source": f.source, "account": f.account, "region": f.region,
                             "resource": f.resource, "evidence": f.evidence}
    if f.remediation:
        props["remediation"] = f.remediation
    if len(f.sources) > 1:
        props["sources"] = f.sources
    if f.events:
        props["events"] = f.events
    if f.event is not None:
        props["event"] = f.event
    if f.waiver is not None:
        props["waiver"] = f.waiver
    r["properties"] = props
    if f.status == "waived":
        w = f.waiver or {}
        sup: dict[str, Any] = {"kind": "external", "status": "accepted",
                               "justification": str(w.get("reason") or "waived")}
        extra = {k: w[k] for k in ("owner", "expires") if w.get(k) is not None}
        if extra:
            sup["properties"] = extra
        r["suppressions"] = [sup]
    return r


def _utc(value: Any) -> str | None:
    """An RFC 3339 UTC timestamp for SARIF's date-time fields, or None if unparseable."""
    if not isinstance(value, str) or not value:
        return None
    try:
        t = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if t.tzinfo is None:
        t = t.replace(tzinfo=dt.UTC)
    return t.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def build(run: dict[str, Any], summary: dict[str, Any], findings: list[Finding]) -> dict[str, Any]:
    """The SARIF log for sorted `findings`."""
    seen: dict[str, str] = {}
    for f in findings:
        seen.setdefault(f.control, f.severity)
    ids = [c.id for c in CONTROLS] + sorted(set(seen) - {c.id for c in CONTROLS})
    rules = [_rule(cid, seen.get(cid, "")) for cid in ids]
    index = {cid: i for i, cid in enumerate(ids)}
    artifact = run.get("sarif_artifact")
    results = [_result(f, index[f.control], artifact) for f in findings if f.status != "pass"]
    invocation: dict[str, Any] = {
        "executionSuccessful": not summary.get("incomplete", summary["errors"] > 0),
        "properties": {"run": run, "counts": summary["by_status"]},
    }
    if summary.get("incomplete"):
        invocation["toolExecutionNotifications"] = [
            {"level": "warning", "message": {"text": incomplete_text(summary)}}]
    if "exit_code" in summary:
        invocation["exitCode"] = summary["exit_code"]
    for key, field in (("started", "startTimeUtc"), ("finished", "endTimeUtc")):
        ts = _utc(run.get(key))
        if ts:
            invocation[field] = ts
    driver: dict[str, Any] = {"name": TOOL_NAME, "fullName": "DR Guard auditor (dr-audit)",
                              "version": str(run.get("tool_version", "")), "rules": rules}
    command = run.get("command")
    sarif_run: dict[str, Any] = {
        "tool": {"driver": driver},
        "automationDetails": {"id": f"{TOOL_NAME}/{command or 'run'}/"},
        "invocations": [invocation],
        "results": results,
        "properties": {"summary": {k: summary[k] for k in ("verdict", "total", "by_status", "gaps",
                                                           "errors", "attempts", "waived",
                                                           "incomplete", "not_read")
                                   if k in summary}},
    }
    return {"$schema": SARIF_SCHEMA_URI, "version": SARIF_VERSION, "runs": [sarif_run]}
