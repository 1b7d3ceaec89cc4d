"""Helpers shared by every report writer: ordering, summary, control metadata, safe text."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterable
from typing import Any

from drguard import __version__
from drguard.findings import STATUSES, Finding, at_or_above, exit_code, summarize
from drguard.registry import BY_ID, SEVERITY_ORDER

SCHEMA_ID = "dr-audit/1"
TOOL_NAME = "dr-audit"
SEVERITIES_DESC: tuple[str, ...] = tuple(sorted(SEVERITY_ORDER, key=lambda s: -SEVERITY_ORDER[s]))

# Characters XML 1.0 cannot carry (and lone surrogates, which no UTF-8 file can).
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_SURROGATES = re.compile("[\ud800-\udfff]")


def _default(o: Any) -> Any:
    if isinstance(o, dt.datetime | dt.date | dt.time):
        return o.isoformat()
    if isinstance(o, set | frozenset):
        return sorted(o, key=str)
    if isinstance(o, bytes):
        return o.decode("utf-8", "replace")
    return str(o)


def jsonable(value: Any) -> Any:
    """`value` as plain JSON data (datetimes, sets, paths... become strings or lists)."""
    return json.loads(json.dumps(value, default=_default))


def dumps(value: Any, indent: int | None = 2) -> str:
    """JSON text for files: UTF-8 friendly, falling back to ASCII escapes for lone surrogates."""
    text = json.dumps(value, indent=indent, ensure_ascii=False, default=_default)
    if _SURROGATES.search(text):
        text = json.dumps(value, indent=indent, ensure_ascii=True, default=_default)
    return text


def pretty(value: Any) -> str:
    """Indented JSON for people (evidence, events)."""
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True, default=_default)


def clean_text(text: str) -> str:
    """`text` without lone surrogates (they cannot be written as UTF-8)."""
    return _SURROGATES.sub("\ufffd", text)


def xml_text(value: Any) -> str:
    """`value` as a string XML 1.0 can carry (illegal characters become U+FFFD)."""
    return _NOT_XML.sub("\ufffd", str(value))


def severity_rank(severity: str) -> int:
    return SEVERITY_ORDER.get(severity, -1)


def sort_key(f: Finding) -> tuple[Any, ...]:
    """Severity descending, then control, resource, and the rest for a total order."""
    return (-severity_rank(f.severity), f.control, f.resource, f.source, f.status,
            f.account or "", f.region or "", f.message)


def sorted_findings(findings: Iterable[Finding]) -> list[Finding]:
    return sorted(findings, key=sort_key)


def control_info(control_id: str, severity: str = "") -> dict[str, Any]:
    """Title, severity, description, remediation and mapping of a control (unknown ids too)."""
    c = BY_ID.get(control_id)
    if c is None:
        return {"id": control_id, "title": control_id, "severity": severity or "medium",
                "tier": None, "description": "", "remediation": "", "mapping": "",
                "aws_config": [], "security_hub": [], "known": False}
    return {"id": c.id, "title": c.title, "severity": c.severity, "tier": c.tier,
            "description": c.description, "remediation": c.remediation,
            "mapping": c.mapping.reference(), "aws_config": list(c.mapping.aws_config),
            "security_hub": list(c.mapping.security_hub), "known": True}


def normalize_run(run: dict[str, Any] | None) -> dict[str, Any]:
    """The caller's run metadata as JSON data, with the tool version filled in if absent."""
    out = jsonable(dict(run or {}))
    if not isinstance(out, dict):
        out = {}
    out["tool_version"] = str(out.get("tool_version") or __version__)
    return out


def waiver_expired(f: Finding) -> bool:
    return bool(f.waiver and f.waiver.get("expired"))


def build_summary(findings: list[Finding], diff: dict[str, Any] | None = None,
                  fail_on: str | None = None) -> dict[str, Any]:
    """drguard.findings.summarize plus exit-related counts and, when given, the baseline diff."""
    s = summarize(findings)
    by_source: dict[str, dict[str, int]] = {}
    for f in findings:
        row = by_source.setdefault(f.source, {st: 0 for st in STATUSES})
        row[f.status] += 1
    s["by_source"] = dict(sorted(by_source.items()))
    s["gaps"] = sum(1 for f in findings if f.is_gap)
    s["gaps_at_or_above"] = {
        sev: sum(1 for f in findings if f.is_gap and f.severity in SEVERITY_ORDER
                 and at_or_above(f.severity, sev))
        for sev in SEVERITIES_DESC}
    s["errors"] = s["by_status"]["error"]
    s["attempts"] = s["by_status"]["attempt"]
    s["waived"] = s["by_status"]["waived"]
    s["expired_waivers"] = sum(1 for f in findings if waiver_expired(f))
    s["exit_codes"] = {sev: exit_code(findings, sev) for sev in SEVERITIES_DESC}
    if fail_on in SEVERITY_ORDER:
        s["fail_on"] = fail_on
        s["exit_code"] = s["exit_codes"][fail_on]
    if diff is not None:
        s["diff"] = diff
    return s


# Logs events: the labels people read, and the key spellings the logs side may use.
EVENT_FIELDS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("event_name", "event", ("event_name", "eventName", "name")),
    ("time", "when", ("time", "event_time", "eventTime")),
    ("principal", "who", ("principal", "principal_arn", "user", "userIdentity")),
    ("source_ip", "from", ("sourceIp", "source_ip", "sourceIPAddress", "source_ip_address", "ip")),
    ("region", "region", ("region", "aws_region", "awsRegion")),
    ("event_id", "event id", ("event_id", "eventID", "eventId", "id")),
    ("error_code", "error", ("error_code", "errorCode")),
)


def event_fields(event: dict[str, Any] | None) -> list[tuple[str, Any]]:
    """(label, value) pairs of a logs event: the well-known fields first, then the rest."""
    if not event:
        return []
    out: list[tuple[str, Any]] = []
    used: set[str] = set()
    for _key, label, aliases in EVENT_FIELDS:
        for a in aliases:
            if a in event and a not in used:
                used.add(a)
                if event[a] not in (None, ""):
                    out.append((label, event[a]))
                break
    out += [(k, v) for k, v in event.items() if k not in used and v not in (None, "")]
    return out


def event_value(event: dict[str, Any] | None, key: str) -> Any:
    """A well-known event field (EVENT_FIELDS key) under any of its spellings, or None."""
    for k, _label, aliases in EVENT_FIELDS:
        if k == key:
            return next((event[a] for a in aliases if event and event.get(a)), None)
    raise KeyError(key)
