"""Link live failures to the CloudTrail events that explain them (`dr-audit scan --logs`)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from drguard.detections import short_name
from drguard.findings import Finding, absorb

from .detect import Hit


def _event_id(event: dict[str, Any] | None) -> str | None:
    if not event:
        return None
    v = event.get("eventId") or event.get("event_id")
    return str(v) if v else None


def _region(arn: str) -> str:
    """The region field of an ARN ("" for a global resource, or for what is not an ARN)."""
    parts = arn.split(":", 5)
    return parts[3] if arn.startswith("arn:") and len(parts) == 6 else ""


def _same_place(f: Finding, h: Hit) -> bool:
    """Whether a hit linked by resource name may be about the finding's resource: a name is
    unique only within a region (`orders` in two regions is two databases)."""
    here, there = _region(f.resource) or (f.region or ""), _region(h.resource)
    return not here or not there or here == there


def explain(findings: list[Finding], events: Iterable[Hit]) -> dict[str, Finding]:
    """Attach to each `fail` finding the changes that explain it: `events` (newest first) and
    `event` (the newest). Returns {event id: the finding it explains}.

    A hit explains a finding when both name the same control and, in this order:
    - the same resource (same ARN, or same account, region and resource name), or
    - the same account, for detections of account-wide settings (`links_by="account"`:
      trails, SCPs, alert rules, root keys); those events also name their `resource`.
    Only changes count (hit status `fail`), never failed attempts. Findings without such an
    event are left as they are; `events` is any iterable of hits (e.g. from `collect`).
    """
    by_arn: dict[tuple[str, str], list[Hit]] = {}
    by_name: dict[tuple[str, str, str], list[Hit]] = {}
    by_account: dict[tuple[str, str], list[Hit]] = {}
    for h in events:
        if h.status != "fail":
            continue
        by_arn.setdefault((h.control, h.resource), []).append(h)
        by_name.setdefault((h.control, h.account, short_name(h.resource)), []).append(h)
        if h.detection.links_by == "account":
            by_account.setdefault((h.control, h.account), []).append(h)
    used: dict[str, Finding] = {}
    for f in findings:
        if f.status != "fail":
            continue
        hits = (by_arn.get((f.control, f.resource))
                or [h for h in by_name.get((f.control, f.account or "", short_name(f.resource)),
                                           ()) if _same_place(f, h)])
        by_acct = False
        if not hits:
            hits = by_account.get((f.control, f.account or ""), [])
            by_acct = True
        if not hits:
            continue
        found = [{**h.event, "resource": h.resource} if by_acct else dict(h.event)
                 for h in sorted(hits, key=lambda h: h.time, reverse=True)]
        known = {_event_id(e) for e in f.events}
        f.events = [*f.events, *(e for e in found if _event_id(e) not in known or not
                                 _event_id(e))]
        f.events.sort(key=lambda e: str(e.get("time") or ""), reverse=True)
        f.event = f.events[0]
        for e in found:
            eid = _event_id(e)
            if eid:
                used.setdefault(eid, f)
    return used


def fold(findings: list[Finding], logs_findings: Iterable[Finding],
         used: dict[str, Finding]) -> list[Finding]:
    """The logs findings that stay rows of their own; the others are merged into the finding
    whose gap their event explains (`used`, from `explain`), so one gap is counted once.

    A logs finding stays its own row when none of its events explains a finding, e.g. a change
    to a resource the scan did not read."""
    rest: list[Finding] = []
    for lf in logs_findings:
        ids = [_event_id(e) for e in [*([lf.event] if lf.event else []), *lf.events]]
        target = next((used[i] for i in ids if i and i in used), None)
        if target is None or target.control != lf.control:
            rest.append(lf)
            continue
        absorb(target, lf)
    return rest
