"""EventBridge event patterns and CloudTrail data-event selectors, for deletion alerts.

Pure functions shared by the auditor and the policy pack:
- `matches(pattern, event)`: EventBridge content filtering (exact values, prefix, suffix,
  anything-but, exists, wildcard, equals-ignore-case, numeric, cidr, `$or`, nested keys);
- `s3_api_event(...)` / `s3_object_deleted_event(...)`: the events EventBridge sees when
  someone deletes from a bucket (CloudTrail API calls, or S3's own EventBridge notifications);
- `selectors_log_writes(...)`: whether a trail's event selectors record the S3 write data
  events of a bucket (without them EventBridge never sees object deletions).
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Callable, Iterable
from typing import Any

from . import patterns

_MISSING = object()

# S3 calls whose alert the deletion-alerts control requires, and the ones it also reports.
DELETE_EVENTS = ("DeleteObject", "DeleteObjects", "DeleteBucket")
WEAKENING_EVENTS = ("PutBucketVersioning", "PutBucketLifecycle")
_DATA_EVENTS = {"DeleteObject", "DeleteObjects"}


# ---- EventBridge pattern matching -------------------------------------------------------

def parse(pattern: Any) -> dict[str, Any]:
    if isinstance(pattern, str):
        pattern = json.loads(pattern)
    if not isinstance(pattern, dict):
        raise ValueError("an event pattern must be a JSON object")
    return pattern


def matches(pattern: Any, event: dict[str, Any]) -> bool:
    """Whether EventBridge would deliver `event` to a rule with `pattern`."""
    return _match_object(parse(pattern), event)


def _match_object(pattern: dict[str, Any], event: Any) -> bool:
    obj = event if isinstance(event, dict) else {}
    for key, sub in pattern.items():
        if key == "$or":
            if not isinstance(sub, list) or not any(
                    isinstance(p, dict) and _match_object(p, obj) for p in sub):
                return False
            continue
        value = obj.get(key, _MISSING)
        if isinstance(sub, dict):
            if isinstance(value, list):  # an array of objects: some element must match
                if not any(isinstance(v, dict) and _match_object(sub, v) for v in value):
                    return False
                continue
            if value is not _MISSING and not isinstance(value, dict):
                return False
            if not _match_object(sub, value if value is not _MISSING else {}):
                return False
        elif isinstance(sub, list):
            if not _match_field(sub, value):
                return False
        else:
            return False  # not a valid pattern leaf
    return True


def _match_field(matchers: list[Any], value: Any) -> bool:
    if not matchers:
        return False
    if value is _MISSING:
        return any(isinstance(m, dict) and m.get("exists") is False for m in matchers)
    values = value if isinstance(value, list) else [value]
    for m in matchers:
        if isinstance(m, dict) and "exists" in m:
            if m["exists"] is True and (not isinstance(value, list) or value):
                return True
            continue
        if any(_match_value(m, v) for v in values):
            return True
    return False


def _equal(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return float(a) == float(b)
    return bool(a == b)


def _wildcard(pattern: str, value: str) -> bool:
    """EventBridge `wildcard` (RE2: linear time whatever the pattern in the stack says)."""
    glob = patterns.event_wildcard(pattern)
    return glob is not None and bool(glob.match(value))


def _string_op(op: str, arg: Any, value: object) -> bool:
    if not isinstance(value, str):
        return False
    ignore_case = isinstance(arg, dict) and "equals-ignore-case" in arg
    text = arg["equals-ignore-case"] if ignore_case else arg
    if not isinstance(text, str):
        return False
    if ignore_case:
        value, text = value.lower(), text.lower()
    if op == "prefix":
        return value.startswith(text)
    if op == "suffix":
        return value.endswith(text)
    if op == "equals-ignore-case":
        return value.lower() == text.lower()
    if op == "wildcard":
        return _wildcard(text, value)
    return False


_NUMERIC = {"=": lambda a, b: a == b, "<": lambda a, b: a < b, "<=": lambda a, b: a <= b,
            ">": lambda a, b: a > b, ">=": lambda a, b: a >= b}


def _numeric(spec: Any, value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, (int, float)) \
            or not isinstance(spec, list) or len(spec) % 2:
        return False
    for op, bound in zip(spec[::2], spec[1::2], strict=True):
        test = _NUMERIC.get(op)
        if test is None or not isinstance(bound, (int, float)) or not test(value, bound):
            return False
    return True


def _cidr(spec: Any, value: Any) -> bool:
    try:
        return ipaddress.ip_address(value) in ipaddress.ip_network(spec, strict=False)
    except (TypeError, ValueError):
        return False


def _match_value(m: Any, value: Any) -> bool:
    if not isinstance(m, dict):
        return _equal(m, value)
    if len(m) != 1:
        return False
    (op, arg), = m.items()
    if op in ("prefix", "suffix", "equals-ignore-case", "wildcard"):
        return _string_op(op, arg, value)
    if op == "anything-but":
        if isinstance(arg, dict):
            return not _match_value(arg, value)
        excluded = arg if isinstance(arg, list) else [arg]
        return not any(_equal(x, value) for x in excluded)
    if op == "numeric":
        return _numeric(arg, value)
    if op == "cidr":
        return _cidr(arg, value)
    return False


# ---- The events a deletion produces ----------------------------------------------------

def s3_api_event(event_name: str, bucket: str, region: str, account: str) -> dict[str, Any]:
    """The 'AWS API Call via CloudTrail' event for an S3 call on `bucket` (any object key)."""
    data = event_name in _DATA_EVENTS
    resources = [{"type": "AWS::S3::Bucket", "ARN": f"arn:aws:s3:::{bucket}",
                  "accountId": account}]
    if data:
        resources.insert(0, {"type": "AWS::S3::Object", "ARN": f"arn:aws:s3:::{bucket}/"})
    return {
        "version": "0", "id": "00000000-0000-0000-0000-000000000000",
        "detail-type": "AWS API Call via CloudTrail", "source": "aws.s3",
        "account": account, "time": "2024-01-01T00:00:00Z", "region": region,
        "resources": [],
        "detail": {
            "eventVersion": "1.09", "eventSource": "s3.amazonaws.com",
            "eventName": event_name, "awsRegion": region, "eventType": "AwsApiCall",
            "eventCategory": "Data" if data else "Management", "managementEvent": not data,
            "readOnly": False, "recipientAccountId": account,
            "requestParameters": {"bucketName": bucket,
                                  "Host": f"{bucket}.s3.{region}.amazonaws.com"},
            "resources": resources,
        },
    }


def s3_object_deleted_event(bucket: str, region: str, account: str) -> dict[str, Any]:
    """The 'Object Deleted' event S3 sends itself when EventBridge notifications are on."""
    return {
        "version": "0", "id": "00000000-0000-0000-0000-000000000000",
        "detail-type": "Object Deleted", "source": "aws.s3", "account": account,
        "time": "2024-01-01T00:00:00Z", "region": region,
        "resources": [f"arn:aws:s3:::{bucket}"],
        "detail": {"version": "0", "bucket": {"name": bucket}, "reason": "DeleteObject",
                   "deletion-type": "Permanently Deleted"},
    }


def deletion_coverage(pattern: Any, bucket: str, region: str, account: str) -> list[str]:
    """The S3 API calls on `bucket` (DELETE_EVENTS + WEAKENING_EVENTS) that `pattern` matches."""
    p = parse(pattern)
    return [name for name in (*DELETE_EVENTS, *WEAKENING_EVENTS)
            if _match_object(p, s3_api_event(name, bucket, region, account))]


# ---- CloudTrail data-event selectors ----------------------------------------------------

_ALL_S3 = re.compile(r"^arn:[a-z-]+:s3(:::)?$")


def _whole_bucket(value: str, bucket: str) -> bool:
    """`arn:aws:s3:::bucket/` (or without the slash): every object of the bucket."""
    if not value.startswith("arn:") or ":::" not in value:
        return False
    rest = value.split(":::", 1)[1]
    return rest in (bucket, f"{bucket}/")


def _basic_covers(selectors: Iterable[dict[str, Any]], bucket: str) -> bool:
    for sel in selectors or ():
        if sel.get("ReadWriteType", "All") not in ("All", "WriteOnly"):
            continue
        for res in sel.get("DataResources") or ():
            if res.get("Type") != "AWS::S3::Object":
                continue
            for v in res.get("Values") or ():
                if _ALL_S3.match(v) or _whole_bucket(v, bucket):
                    return True
    return False


def _field_admits(fs: dict[str, Any], values: dict[str, str], arn_prefix: str) -> bool:
    name = fs.get("Field", "")
    ops = {k: [str(x) for x in v] for k, v in fs.items() if k != "Field" and v}
    if name == "resources.ARN":
        for op, items in ops.items():
            if op == "StartsWith" and not any(arn_prefix.startswith(s) for s in items):
                return False
            if op == "NotStartsWith" and any(arn_prefix.startswith(s) or s.startswith(arn_prefix)
                                             for s in items):
                return False
            if op in ("Equals", "EndsWith", "NotEndsWith"):
                return False  # selects or excludes objects by name: only some are logged
            if op == "NotEquals" and any(s.startswith(arn_prefix) for s in items):
                return False
        return True
    if name not in values:
        # A field we do not model: exclusions (Not*) keep most events, filters do not.
        return all(op.startswith("Not") for op in ops)
    v = values[name]
    tests: dict[str, Callable[[str], bool]] = {
        "Equals": lambda s: bool(v == s), "StartsWith": v.startswith, "EndsWith": v.endswith}
    for op, items in ops.items():
        positive = op.removeprefix("Not")
        test = tests.get(positive)
        if test is None:
            return False
        hit = any(test(s) for s in items)
        if hit == op.startswith("Not"):
            return False
    return True


def _advanced_covers(selectors: Iterable[dict[str, Any]], bucket: str) -> bool:
    arn_prefix = f"arn:aws:s3:::{bucket}/"
    for event_name in _DATA_EVENTS:
        values = {"eventCategory": "Data", "resources.type": "AWS::S3::Object",
                  "readOnly": "false", "eventName": event_name,
                  "eventSource": "s3.amazonaws.com", "eventType": "AwsApiCall"}
        if not any(
                any(f.get("Field") == "resources.type" for f in sel.get("FieldSelectors", ()))
                and all(_field_admits(f, values, arn_prefix) for f in sel.get("FieldSelectors", ()))
                for sel in selectors or ()):
            return False
    return True


def selectors_log_writes(event_selectors: Iterable[dict[str, Any]] | None,
                         advanced_selectors: Iterable[dict[str, Any]] | None,
                         bucket: str) -> bool:
    """Whether a trail with these selectors logs the object deletions on `bucket`."""
    if advanced_selectors:
        return _advanced_covers(advanced_selectors, bucket)
    return _basic_covers(event_selectors or (), bucket)
