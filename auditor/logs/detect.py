"""Apply the registry's detections to records: hits, then findings with `source: logs`."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import field
from typing import Any, Literal

from drguard import registry
from drguard.detections import (
    BucketScope,
    Context,
    Detection,
    account_of,
    bucket_name,
    index,
    short_name,
)
from drguard.evaluate import apply_waiver
from drguard.findings import Finding
from drguard.records import record
from drguard.settings import Settings

from .window import parse_time

HISTORY = 10  # earlier events kept in a finding's evidence


# why a bucket the logs are read from is a backup bucket (files and Athena alike)
TRAIL_BUCKET = "CloudTrail log bucket (read as a logs source)"

@record
class Hit:
    """One record that breaks (status fail) or tried to break (status attempt) a control."""

    control: str
    detection: Detection
    status: Literal["fail", "attempt"]
    resource: str
    account: str
    region: str
    time: dt.datetime
    message: str
    event: dict[str, Any]
    evidence: dict[str, Any] = field(default_factory=dict)


def principal(record: Mapping[str, Any]) -> str:
    """userIdentity.arn, else `type:principalId` (or the invoking service), with the calling
    account when it is not part of that (a cross-account caller, type AWSAccount, has no
    ARN: its account is who acted)."""
    ui = record.get("userIdentity")
    ui = ui if isinstance(ui, dict) else {}
    if ui.get("arn"):
        return str(ui["arn"])
    who = ui.get("principalId") or ui.get("invokedBy") or ui.get("accountId") or "?"
    acct = ui.get("accountId")
    where = f" (account {acct})" if acct and str(acct) not in str(who) else ""
    return f"{ui.get('type') or 'Unknown'}:{who}{where}"


def refusal(record: Mapping[str, Any]) -> str | None:
    """Why the call was refused (its errorCode), or None when it went through: no errorCode,
    an empty one, or "Success" (what log pipelines that normalise records write for a call
    that worked: such a call changed the resource, it is no attempt)."""
    code = record.get("errorCode")
    if not isinstance(code, str) or not code.strip() or code.strip().lower() == "success":
        return None
    return code


def event_of(record: Mapping[str, Any]) -> dict[str, Any]:
    return {"time": record.get("eventTime"), "principal": principal(record),
            "sourceIp": record.get("sourceIPAddress"), "eventName": record.get("eventName"),
            "eventId": record.get("eventID"), "eventSource": record.get("eventSource"),
            "userAgent": record.get("userAgent"), "errorCode": record.get("errorCode")}


def redact(value: Any) -> Any:
    """Drop keys that name a password or secret, at any depth."""
    if isinstance(value, dict):
        return {k: redact(v) for k, v in value.items()
                if not any(w in str(k).lower() for w in ("password", "secret"))}
    if isinstance(value, list):
        return [redact(v) for v in value]
    return value


class _RememberedScope:
    """The backup-bucket scope, its answer for a bucket named in a record remembered (the same
    few buckets come back in every file; the scope's patterns run in RE2 through Python)."""

    LIMIT = 4096  # names remembered at most (a hostile log may name millions)
    LONGEST = 255  # characters of a name remembered (S3's own limit is 63; a record may hold
    # a name of megabytes, and 4,096 of those would be gigabytes)

    def __init__(self, scope: BucketScope) -> None:
        self.scope = scope
        self.known: dict[tuple[str, tuple[str, ...]], list[str]] = {}

    def reasons(self, name: str | None, tags: Mapping[str, Any] | None,
                auto: Iterable[str] = ()) -> list[str]:
        if tags is not None or not isinstance(name, str) or len(name) > self.LONGEST:
            return self.scope.reasons(name, tags, auto)
        key = (name, tuple(auto))
        got = self.known.get(key)
        if got is None:
            got = self.scope.reasons(name, None, key[1])
            if len(self.known) < self.LIMIT:
                self.known[key] = got
        return list(got)


class Detector:
    """The enabled controls' detections, indexed by (eventSource, eventName)."""

    def __init__(self, settings: Settings, extra_buckets: Mapping[str, str] | None = None,
                 controls: Iterable[registry.Control] = registry.CONTROLS) -> None:
        self.settings = settings
        self.context = Context(_RememberedScope(settings.scope), dict(extra_buckets or {}))
        self.index = index(c for c in controls if c.id in settings.enabled)
        self.names = frozenset(name for _, name in self.index)

    def hits(self, record: dict[str, Any]) -> list[Hit]:
        """The hits of one validated record: at most one per control."""
        return self.build(record, self.matching(record))

    def matching(self, record: dict[str, Any]) -> tuple[int, ...]:
        """Which detections of the record's (eventSource, eventName) it breaks, as indexes
        into that list (at most one per control); a predicate may raise on a strange record,
        the caller counts that record as skipped."""
        source, name = record.get("eventSource"), record.get("eventName")
        if not isinstance(source, str) or not isinstance(name, str):
            return ()
        todo = self.index.get((source, name))
        ui = record.get("userIdentity")
        if not todo or (isinstance(ui, dict) and ui.get("type") == "AWSService"):
            return ()
        out: list[int] = []
        seen: set[str] = set()
        for i, (control_id, det) in enumerate(todo):
            if control_id in seen or not det.matches(record, self.settings.of(control_id),
                                                     self.context):
                continue
            seen.add(control_id)
            out.append(i)
        return tuple(out)

    def build(self, record: dict[str, Any], matched: tuple[int, ...]) -> list[Hit]:
        """The hits for the detections `matching` found (by index)."""
        if not matched:
            return []
        todo = self.index[(record["eventSource"], record["eventName"])]
        return [self._hit(todo[i][0], todo[i][1], record, self.settings.of(todo[i][0]))
                for i in matched]

    def _hit(self, control_id: str, det: Detection, record: dict[str, Any],
             params: Mapping[str, Any]) -> Hit:
        resource = det.resource(record)
        who = principal(record)
        error = refusal(record)
        text = det.render(record, params, who, short_name(resource))
        if error:  # the fix is the finding's remediation, not part of the message
            # the template says what the call would have done; say first that it did not
            text = (f"Refused ({error}), nothing changed: {who} called "
                    f"{record.get('eventName')} on {short_name(resource)}. Had it succeeded: "
                    f"{text} Find out why {who} tried.")
        evidence: dict[str, Any] = {
            "requestParameters": redact(record.get("requestParameters") or {})}
        if error:
            evidence["errorMessage"] = record.get("errorMessage")
        if det.backup_scoped:
            evidence["inScopeBecause"] = self.context.bucket_reasons(bucket_name(record))
        return Hit(control=control_id, detection=det, status="attempt" if error else "fail",
                   resource=resource, account=account_of(record),
                   region=str(record.get("awsRegion")), time=parse_time(record["eventTime"]),
                   message=text, event=event_of(record), evidence=evidence)


def call_key(h: Hit) -> str:
    """What tells one call from another: its CloudTrail event id, or (for a record without
    one) its time, caller, name and resource."""
    e = h.event
    return str(e.get("eventId") or "\x1f".join(str(x) for x in (
        e.get("time"), e.get("principal"), e.get("eventName"), h.resource)))


def _same_event(h: Hit) -> tuple[str, str, str]:
    """What makes two hits one: the control, the resource and every field of the event
    (a delivery repeated word for word, never two calls that merely share an id)."""
    return h.control, h.resource, repr(sorted((k, str(v)) for k, v in h.event.items()))


def distinct(hits: Iterable[Hit]) -> list[Hit]:
    """`hits` without repeats: the same event read twice (an organization trail and the
    account's own trail both deliver it, word for word, same eventID) is one change, or one
    refused call."""
    seen: set[tuple[str, str, str]] = set()
    out = []
    for h in hits:
        key = _same_event(h)
        if key not in seen:
            seen.add(key)
            out.append(h)
    return out


def changes(hits: Iterable[Hit]) -> int:
    """The changes among `hits` that broke a control (a repeated delivery counted once)."""
    return len({_same_event(h) for h in hits if h.status == "fail"})


def refused_calls(hits: Iterable[Hit]) -> int:
    """The refused calls among `hits` (one call may have matched several controls): the
    number of attempt findings they make."""
    return len({call_key(h) for h in hits if h.status == "attempt"})


def findings(hits: Iterable[Hit], settings: Settings,
             today: dt.date | None = None) -> list[Finding]:
    """One finding per (control, resource) a change broke: the most recent event, with the
    number of occurrences and the earlier ones in evidence; waivers applied. One finding per
    refused call (an attempt), whatever else happened to the resource, also when the call
    matched several controls. Events in one total order: time, then event id."""
    groups: dict[tuple[str, str, Literal["fail", "attempt"], str], list[Hit]] = {}
    refused: dict[str, list[Hit]] = {}
    for h in distinct(hits):
        if h.status == "attempt":
            refused.setdefault(call_key(h), []).append(h)
        else:
            groups.setdefault((h.control, h.resource, h.status, ""), []).append(h)
    for call, same in refused.items():
        # one refused call, one attempt: the first control it would have broken speaks for it
        # (the most severe, then by id), the others are named in its evidence
        same.sort(key=lambda h: (-registry.SEVERITY_ORDER.get(
            registry.BY_ID[h.control].severity, 0), h.control))
        head = same[0]
        if len(same) > 1:
            head.evidence = {**head.evidence,
                             "wouldAlsoBreak": sorted({h.control for h in same[1:]})}
        groups[(head.control, head.resource, "attempt", call)] = [head]
    out: list[Finding] = []
    for (control, resource, status, _call), group in sorted(groups.items()):
        group.sort(key=lambda h: (h.time, str(h.event.get("eventId") or "")))
        last = group[-1]
        evidence = {**last.evidence, "occurrences": len(group),
                    "firstSeen": group[0].event["time"]}
        if len(group) > 1:
            evidence["earlierEvents"] = [
                {k: h.event[k] for k in ("time", "eventName", "principal", "sourceIp",
                                         "eventId")} for h in reversed(group[-1 - HISTORY:-1])]
        f = Finding(control=control, status=status, source="logs", resource=resource,
                    message=last.message, account=last.account, region=last.region,
                    evidence=evidence, event=dict(last.event))
        if status == "fail":
            apply_waiver(f, settings, refs=[resource, short_name(resource)], tags=None,
                         today=today)
        out.append(f)
    return out
