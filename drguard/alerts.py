"""backup-bucket-deletion-alerts: which alert paths cover deletions on one bucket.

Pure functions on AWS API shapes (S3 NotificationConfiguration, EventBridge rules, trails
reduced to "logs this bucket's write data events or not"), so that any side can derive
`Bucket.deletion_alerts` the same way; the deploy side converts Pulumi properties to these
shapes (policypack.stack). Event patterns are evaluated with drguard.eventpattern, never by
substring: a rule that matches `PutObject` only does not count.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import field
from typing import Any

from . import eventpattern
from .facts import UNKNOWN
from .records import record

ALL_REMOVALS = frozenset({"s3:ObjectRemoved:*", "s3:*"})
EACH_REMOVAL = frozenset({"s3:ObjectRemoved:Delete", "s3:ObjectRemoved:DeleteMarkerCreated"})
# S3 calls that are not deletions: a rule matching only these watches the wrong thing.
_OTHER_S3_CALLS = ("PutObject", "CopyObject", "GetObject", "PutBucketPolicy")
NOTIFY = (("sns", "TopicConfigurations", "TopicArn"),
          ("sqs", "QueueConfigurations", "QueueArn"),
          ("lambda", "LambdaFunctionConfigurations", "LambdaFunctionArn"))


@record
class Rule:
    """An EventBridge rule on the bucket's region's default bus."""

    name: str
    pattern: Any  # JSON text or mapping; UNKNOWN during preview
    enabled: Any  # bool or UNKNOWN
    targets: Any  # list of target ARNs/ids (any non-empty list counts), or UNKNOWN
    # Per-rule memo when one rule is judged against many buckets (see _matches).
    memo: dict[Any, Any] = field(default_factory=dict, repr=False, compare=False)


@record
class Trail:
    """A trail reduced to what the alert path needs: does it log the bucket's write data
    events (True/False/UNKNOWN) while logging."""

    name: str
    logs_writes: Any


@record
class Alerts:
    """The deletion alerts found for one bucket, with notes and whether any is unknown."""

    alerts: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    unknown: bool = False

    def value(self) -> Any:
        """What `Bucket.deletion_alerts` should hold: the alerts, UNKNOWN, or [] (none)."""
        if self.alerts:
            return self.alerts
        return UNKNOWN if self.unknown else []


def notification_alerts(config: Mapping[str, Any] | None, out: Alerts) -> None:
    """S3 event notifications (API shape) that fire on every object removal."""
    for kind, key, arn_key in NOTIFY:
        for c in (config or {}).get(key) or ():
            events = set(c.get("Events") or ())
            if UNKNOWN in events or c.get("Filter") is UNKNOWN:
                out.unknown = True
                continue
            removal = [e for e in events if e in ALL_REMOVALS or e.startswith("s3:ObjectRemoved:")]
            if not removal:
                continue
            filtered = bool((c.get("Filter") or {}).get("Key", {}).get("FilterRules"))
            if (events & ALL_REMOVALS or EACH_REMOVAL <= events) and not filtered:
                out.alerts.append({"kind": f"s3-notification ({kind})",
                                   "detail": {"target": c.get(arn_key),
                                              "events": sorted(events)}})
            else:
                out.notes.append(f"S3 notification to {c.get(arn_key)} covers only "
                                 f"{', '.join(sorted(removal))}"
                                 + (" for a key filter" if filtered else ""))


def _without_account(pattern: Any) -> dict[str, Any]:
    """The pattern minus account filters, for when the stack's account is not known."""
    p = dict(eventpattern.parse(pattern))
    p.pop("account", None)
    if isinstance(p.get("detail"), dict):
        p["detail"] = {k: v for k, v in p["detail"].items() if k != "recipientAccountId"}
    return p


def eventbridge_alerts(bucket: str, region: str, account: str | None, rules: Iterable[Rule],
                       trails: Iterable[Trail], s3_eventbridge: Any, out: Alerts) -> None:
    """EventBridge rules with a target that match DeleteObject, DeleteObjects and DeleteBucket
    on `bucket` (CloudTrail events, which need a trail logging the bucket's write data
    events), or S3's own "Object Deleted" events when the bucket sends them to EventBridge."""
    covered: dict[str, list[str]] = {}
    native: list[str] = []
    for r in rules:
        if r.enabled is UNKNOWN or r.pattern is UNKNOWN:
            out.unknown = True
            continue
        if r.enabled is not True or r.pattern is None:
            continue
        try:
            hits, from_s3, other = _matches(r, bucket, region, account)
        except ValueError:  # json.JSONDecodeError is a ValueError
            out.notes.append(f"rule {r.name} has an event pattern that is not valid JSON")
            continue
        if from_s3 and s3_eventbridge is UNKNOWN:
            out.unknown = True
        from_s3 = from_s3 and s3_eventbridge is True
        if not hits and not from_s3:
            if other:
                out.notes.append(f"rule {r.name} matches {', '.join(other)} on the bucket but "
                                 f"none of {', '.join(eventpattern.DELETE_EVENTS)}")
            continue
        if r.targets is UNKNOWN:
            out.unknown = True
            continue
        if not r.targets:
            out.notes.append(f"rule {r.name} matches deletions on the bucket but has no target")
            continue
        for h in hits:
            covered.setdefault(h, []).append(r.name)
        if from_s3:
            native.append(r.name)
    if native:
        out.alerts.append({"kind": "eventbridge (S3 notifications)", "detail": {"rules": native}})
    missing = [e for e in eventpattern.DELETE_EVENTS if e not in covered]
    if covered and missing:
        out.notes.append(f"EventBridge rules {sorted({n for v in covered.values() for n in v})} "
                         f"match {', '.join(sorted(covered))} but not {', '.join(missing)}")
    if not covered or missing:
        return
    names = sorted({n for e in eventpattern.DELETE_EVENTS for n in covered[e]})
    logging = [t for t in trails if t.logs_writes is True]
    if logging:
        out.alerts.append({"kind": "eventbridge+cloudtrail", "detail": {
            "rules": names, "trail": logging[0].name,
            "alsoMatches": [e for e in eventpattern.WEAKENING_EVENTS if e in covered]}})
    elif any(t.logs_writes is UNKNOWN for t in trails):
        out.unknown = True
    else:
        out.notes.append(f"EventBridge rule(s) {', '.join(names)} match deletions, but no "
                         "logging trail records S3 write data events for this bucket, so "
                         "object deletions never reach EventBridge")


_PROBE = "dr-guard-probe-bucket-not-named-anywhere"


def _mentions(pattern: dict[str, Any]) -> set[str] | None:
    """The bucket names an exact-values-only pattern can tell apart (every literal, and the
    bucket inside literal ARNs `arn:aws:s3:::name[/...]` and hosts `name.s3.<region>...`);
    None when the pattern uses an operator (prefix, wildcard, anything-but, exists...), whose
    answer may differ for any name."""
    names: set[str] = set()

    def walk(node: Any) -> bool:
        for key, sub in node.items():
            if key == "$or":
                if not isinstance(sub, list) or not all(
                        isinstance(x, dict) and walk(x) for x in sub):
                    return False
            elif isinstance(sub, dict):
                if not walk(sub):
                    return False
            elif isinstance(sub, list):
                for v in sub:
                    if isinstance(v, (dict, list)):
                        return False
                    if isinstance(v, str):
                        names.add(v)
                        if ":::" in v:
                            names.add(v.split(":::", 1)[1].split("/", 1)[0])
                        if ".s3." in v:
                            names.add(v.split(".s3.", 1)[0])
            else:
                return False
        return True

    return names if walk(pattern) else None


def _matches(r: Rule, bucket: str, region: str,
             account: str | None) -> tuple[list[str], bool, list[str]]:
    """(deletion calls matched, S3 "Object Deleted" matched, other S3 calls matched) of rule
    `r` for `bucket`. An exact-values-only pattern answers the same for every bucket it does
    not name, so that answer is computed once per rule: judging B buckets against R rules
    costs about R + B evaluations instead of B x R."""
    acct = account or "000000000000"
    memo = getattr(r, "memo", None)  # a Rule-like object without one is not memoised
    if memo is None:
        pattern = eventpattern.parse(r.pattern) if account else _without_account(r.pattern)
        return _evaluate(pattern, bucket, region, acct)
    key = ("plan", account is None)
    if key not in memo:
        pattern = eventpattern.parse(r.pattern) if account else _without_account(r.pattern)
        memo[key] = (pattern, _mentions(pattern))
    pattern, mentions = memo[key]
    if mentions is not None and bucket not in mentions:
        probe = ("probe", region, account is None)
        if probe not in memo:
            memo[probe] = _evaluate(pattern, _PROBE, region, acct)
        probed: tuple[list[str], bool, list[str]] = memo[probe]
        return probed
    return _evaluate(pattern, bucket, region, acct)


def _evaluate(pattern: dict[str, Any], bucket: str, region: str,
              acct: str) -> tuple[list[str], bool, list[str]]:
    hits = eventpattern.deletion_coverage(pattern, bucket, region, acct)
    from_s3 = eventpattern.matches(pattern,
                                   eventpattern.s3_object_deleted_event(bucket, region, acct))
    other = [] if hits or from_s3 else [
        e for e in _OTHER_S3_CALLS
        if eventpattern.matches(pattern, eventpattern.s3_api_event(e, bucket, region, acct))]
    return hits, from_s3, other


class RuleIndex:
    """The rules of one region, indexed so that each bucket is judged only against the rules
    that can matter to it: those naming it, and those whose answer does not depend on the
    name (operators, unknown or invalid patterns, rules matching any bucket). Same result as
    passing every rule to `eventbridge_alerts`, in time linear in rules + buckets."""

    def __init__(self, rules: Iterable[Rule], region: str, account: str | None) -> None:
        self.always: list[Rule] = []
        self.by_name: dict[str, list[Rule]] = {}
        for r in rules:
            if r.enabled is UNKNOWN or r.pattern is UNKNOWN:
                self.always.append(r)
                continue
            if r.enabled is not True or r.pattern is None:
                continue
            try:
                probe = _matches(r, _PROBE, region, account)
            except ValueError:
                self.always.append(r)  # reported as invalid for every bucket
                continue
            plan = getattr(r, "memo", {}).get(("plan", account is None))
            mentions = plan[1] if plan else None
            if mentions is None or probe != ([], False, []):
                self.always.append(r)
                continue
            for name in mentions:
                self.by_name.setdefault(name, []).append(r)

    def for_bucket(self, name: str) -> list[Rule]:
        return self.always + self.by_name.get(name, [])
