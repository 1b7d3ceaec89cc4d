"""Deletion alerts of a bucket, live: feeds what was read to drguard.rules.alerts (shared with
the policy pack) and keeps the read errors that make an answer unknown."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from drguard.facts import UNKNOWN
from drguard.rules import alerts as shared

from .collectors import ReadError
from .collectors.cloudtrail import TrailRead
from .collectors.s3 import BucketRead

# (region, rule name) -> (targets or UNKNOWN, the error when UNKNOWN); cached by the caller
TargetLookup = Callable[[str, str], tuple[Any, ReadError | None]]


@dataclass
class AlertCheck:
    alerts: Any = field(default_factory=list)  # list of {"kind", "detail"} or UNKNOWN
    notes: list[str] = field(default_factory=list)
    errors: list[ReadError] = field(default_factory=list)


class _LiveRule(shared.Rule):
    """A rule whose targets are only listed (ListTargetsByRule) if its pattern matches."""

    def __init__(self, raw: dict[str, Any], region: str, lookup: TargetLookup,
                 errors: list[ReadError]) -> None:
        self.name = raw["Name"]
        self.pattern = raw.get("EventPattern")
        self.enabled = raw.get("State") == "ENABLED"
        self._fetch = lambda: lookup(region, self.name)
        self._errors = errors

    @property  # type: ignore[override]
    def targets(self) -> Any:
        found, err = self._fetch()
        if err is not None and err not in self._errors:
            self._errors.append(err)
        return found


def _trails(trails: list[TrailRead], bucket: str, region: str | None,
            unreadable: list[ReadError], errors: list[ReadError]) -> list[shared.Trail]:
    out = []
    for t in trails:
        if not (t.fact.multi_region or t.fact.region == region):
            continue  # a single-region trail elsewhere never sees this bucket's calls
        logs = t.logs_writes_of(bucket)
        if t.fact.logging is False or logs is False:
            out.append(shared.Trail(t.fact.ref, False))
        elif t.fact.logging is UNKNOWN or logs is UNKNOWN:
            out.append(shared.Trail(t.fact.ref, UNKNOWN))
            errors += list(t.errors.values())
        else:
            out.append(shared.Trail(t.fact.ref, True))
    if unreadable:  # trails of some region could not be listed: one of them might log it
        out.append(shared.Trail("(unlisted trails)", UNKNOWN))
        errors += unreadable
    return out


def check(read: BucketRead, rules: Any, rules_error: ReadError | None,
          trails: list[TrailRead], trails_unreadable: list[ReadError],
          targets: TargetLookup) -> AlertCheck:
    """Set `read.fact.deletion_alerts` from notifications, rules and trails."""
    b = read.fact
    result = shared.Alerts()
    errors: list[ReadError] = []
    n = read.notifications
    if n is UNKNOWN:
        result.unknown = True
        if "notifications" in read.errors:
            errors.append(read.errors["notifications"])
    else:
        shared.notification_alerts(n, result)
    if rules is UNKNOWN:
        result.unknown = True
        if rules_error:
            errors.append(rules_error)
    else:
        s3_eventbridge = UNKNOWN if n is UNKNOWN else "EventBridgeConfiguration" in n
        live = [_LiveRule(r, b.region or "", targets, errors) for r in rules]
        shared.eventbridge_alerts(b.name, b.region or "", b.account, live,
                                  _trails(trails, b.name, b.region, trails_unreadable, errors),
                                  s3_eventbridge, result)
    b.deletion_alerts = result.value()
    return AlertCheck(b.deletion_alerts, result.notes,
                      errors if b.deletion_alerts is UNKNOWN else [])
