"""The finding: one (control, resource) judgement, the same shape from every source."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import field
from typing import Any, Literal

from .records import record
from .registry import BY_ID, SEVERITY_ORDER

Status = Literal["fail", "pass", "waived", "error", "attempt"]
STATUSES: tuple[str, ...] = ("fail", "pass", "waived", "error", "attempt")
SOURCES: tuple[str, ...] = ("deploy", "state", "live", "logs", "repo")

SECRET_MARK = "[secret]"
APP_FIELDS: tuple[str, ...] = ("application", "stack", "urn", "owner", "tier")
ID_PREFIX = "drg-"
REMEDIATION_KEYS: tuple[str, ...] = ("summary", "pulumi", "cli")


def finding_id(control: str, resource: str, account: str | None, region: str | None,
               attempt: str | None = None) -> str:
    """The stable id of a gap: `drg-` + the first 20 hex digits of SHA-256 over
    `control`, `resource` (ARN or URN), `account` and `region` ("" when absent), joined by
    U+001F. Nothing else (status, source, message, time) goes in, so the same gap keeps its id
    across runs and formats. A failed attempt is a finding of its own, one per refused call:
    `attempt` (the call's CloudTrail event id) goes in too, so it never shares an id with the
    gap of the same resource nor with another refused call."""
    parts: tuple[str, ...] = (control, resource, account or "", region or "")
    if attempt is not None:
        parts += ("attempt", attempt)
    text = "\x1f".join(parts)
    if "\x1e" in text or text.count("\x1f") != len(parts) - 1:
        # a name holding the separator (hostile input) could make two gaps' joins equal:
        # those parts are written unambiguously instead (U+001E, then JSON, which writes
        # both characters escaped); every other gap keeps the id it always had
        text = "\x1e" + json.dumps(parts, ensure_ascii=False)
    data = text.encode("utf-8", "surrogatepass")
    return ID_PREFIX + hashlib.sha256(data).hexdigest()[:20]


@record
class Finding:
    """One (control, resource) judgement, the same shape from every source."""

    control: str
    status: Status
    source: str
    resource: str
    message: str
    account: str | None = None
    region: str | None = None
    evidence: dict[str, Any] = field(default_factory=dict)
    event: dict[str, Any] | None = None
    waiver: dict[str, Any] | None = None
    severity: str = ""
    # {"summary": one sentence, "pulumi": Python snippet (pulumi-aws v7), "cli": str | None}
    remediation: dict[str, Any] | None = None
    # CloudTrail events that explain this gap, newest first (merged from the logs source)
    events: list[dict[str, Any]] = field(default_factory=list)
    # every source that saw this (control, resource); `source` is the primary one
    sources: list[str] = field(default_factory=list)
    # the application the resource belongs to (drguard.applications says how each is known)
    application: str | None = None
    stack: str | None = None
    urn: str | None = None
    owner: str | None = None
    tier: str | None = None
    # the resource's `dr:rto` tag as its fact was read (restore-time-objective's target);
    # not part of the finding's JSON
    rto_tag: str | None = field(default=None, repr=False, compare=False)
    # what the resource's own tags said of its owner and tier (a checkpoint's application
    # replaces only what the config said), and the fact a verdict judged against the tier's
    # objectives is judged again from once the tier is known; neither in the JSON
    tag_owner: str | None = field(default=None, repr=False, compare=False)
    tag_tier: str | None = field(default=None, repr=False, compare=False)
    fact: Any = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.severity:
            self.severity = BY_ID[self.control].severity
        if not self.sources:
            self.sources = [self.source]

    @property
    def id(self) -> str:
        """Stable id of this (control, resource, account, region), and of the refused call for
        an attempt; see finding_id."""
        if self.status == "attempt":
            event = self.event or {}
            call = (event.get("eventId") or event.get("eventID") or event.get("event_id")
                    or event.get("time") or "")
            return finding_id(self.control, self.resource, self.account, self.region, str(call))
        # Cached on the instance with the fields it hashes (a report asks several times;
        # a changed field computes it again).
        key = (self.control, self.resource, self.account, self.region)
        cached = self.__dict__.get("_id")
        if cached is not None and cached[0] == key:
            return str(cached[1])
        value = finding_id(*key)
        self.__dict__["_id"] = (key, value)
        return value

    @property
    def is_gap(self) -> bool:
        """An unwaived failure (what --fail-on counts)."""
        return self.status == "fail"

    def key(self) -> str:
        """Identity used to compare reports across runs (the stable id)."""
        return self.id

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "id": self.id,
            "control": self.control,
            "severity": self.severity,
            "status": self.status,
            "source": self.source,
            "account": self.account,
            "region": self.region,
            "resource": self.resource,
            "message": self.message,
            "evidence": self.evidence,
            "remediation": self.remediation,
            "application": self.application,
            "stack": self.stack,
            "urn": self.urn,
            "owner": self.owner,
            "tier": self.tier,
        }
        if len(self.sources) > 1:
            d["sources"] = list(self.sources)
        if self.event is not None:
            d["event"] = self.event
        if self.events:
            d["events"] = self.events
        if self.waiver is not None:
            d["waiver"] = self.waiver
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Finding:
        return cls(control=d["control"], status=d["status"], source=d["source"],
                   resource=d["resource"], message=d.get("message", ""),
                   account=d.get("account"), region=d.get("region"),
                   evidence=d.get("evidence") or {}, event=d.get("event"),
                   waiver=d.get("waiver"), severity=d.get("severity", ""),
                   remediation=d.get("remediation"), events=list(d.get("events") or []),
                   sources=list(d.get("sources") or []),
                   **{k: d.get(k) for k in APP_FIELDS})


def at_or_above(severity: str, threshold: str) -> bool:
    return SEVERITY_ORDER[severity] >= SEVERITY_ORDER[threshold]


def exit_code(findings: Iterable[Finding], fail_on: str = "high",
              incomplete: bool = False) -> int:
    """The exit code: 0 clean, 1 gaps at/above fail_on, 3 incomplete (errors, or anything the run
    could not read: `incomplete`) without such gaps."""
    findings = list(findings)
    if any(f.is_gap and at_or_above(f.severity, fail_on) for f in findings):
        return 1
    if incomplete or any(f.status == "error" for f in findings):
        return 3
    return 0


# Which finding of a (control, resource) group speaks for it: the source that sees the
# resource as it is now first, then the worst status.
_SOURCE_RANK = {"live": 0, "state": 1, "deploy": 2, "logs": 3}
_STATUS_RANK = {"fail": 0, "error": 1, "waived": 2, "pass": 3, "attempt": 4}


def _event_key(e: dict[str, Any]) -> str:
    return str(e.get("eventId") or e.get("event_id") or sorted(e.items()))


def _newest_first(events: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    seen: dict[str, dict[str, Any]] = {}
    for e in events:
        if isinstance(e, dict):
            seen.setdefault(_event_key(e), e)
    return sorted(seen.values(), key=lambda e: str(e.get("time") or ""), reverse=True)


def absorb(into: Finding, other: Finding) -> None:
    """Merge what `other` knows about the same gap into `into`: its events (newest first,
    each once), its source, and its view of the resource (evidence.otherSources)."""
    extra = [*other.events, *([other.event] if other.event else [])]
    into.events = _newest_first([*into.events, *([into.event] if into.event else []), *extra])
    if into.events:
        into.event = into.events[0]
    for s in other.sources:
        if s not in into.sources:
            into.sources.append(s)
    if other.source != into.source and other.source != "logs":
        views = into.evidence.setdefault("otherSources", {})
        views[other.source] = {"status": other.status, "resource": other.resource,
                               "message": other.message, "evidence": other.evidence}
    if into.remediation is None and other.remediation is not None:
        into.remediation = other.remediation


def merge(findings: Iterable[Finding]) -> list[Finding]:
    """One finding per id (control, resource, account, region), in first-seen order.

    The finding that speaks for a group comes from the source that sees the resource now
    (live, then state, deploy, logs), then the worst status; an `error` (a read that failed
    sees nothing) gives way to a `fail` of another source. The others' events and views are
    merged into it (see `absorb`). Inputs are not modified.
    """
    groups: dict[str, list[Finding]] = {}
    for f in findings:
        groups.setdefault(f.id, []).append(f)
    out: list[Finding] = []
    for group in groups.values():
        if len(group) == 1:
            out.append(group[0])
            continue
        group = sorted(group, key=lambda f: (_SOURCE_RANK.get(f.source, 9),
                                             _STATUS_RANK.get(f.status, 9)))
        head = group[0]
        if head.status == "error":
            # a read that failed does not see the resource now: a gap another source found
            # (e.g. the logs show who broke it) speaks for it, never "could not be checked"
            head = next((f for f in group if f.status == "fail"), head)
        merged = Finding.from_dict(head.to_dict())
        merged.evidence, merged.rto_tag = dict(head.evidence), head.rto_tag
        merged.tag_owner, merged.tag_tier = head.tag_owner, head.tag_tier
        for other in group:
            if other is not head:
                absorb(merged, other)
        out.append(merged)
    return out


def summarize(findings: Iterable[Finding]) -> dict[str, Any]:
    findings = list(findings)
    by_status = {s: 0 for s in STATUSES}
    by_severity: dict[str, dict[str, int]] = {s: {"fail": 0, "total": 0} for s in SEVERITY_ORDER}
    by_control: dict[str, dict[str, int]] = {}
    by_account: dict[str, dict[str, int]] = {}
    for f in findings:
        by_status[f.status] += 1
        by_severity[f.severity]["total"] += 1
        for bucket, key in ((by_control, f.control), (by_account, f.account or "-")):
            row = bucket.setdefault(key, {s: 0 for s in STATUSES})
            row[f.status] += 1
        if f.status == "fail":
            by_severity[f.severity]["fail"] += 1
    return {"total": len(findings), "by_status": by_status, "by_severity": by_severity,
            "by_control": dict(sorted(by_control.items())),
            "by_account": dict(sorted(by_account.items()))}
