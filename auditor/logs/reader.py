"""Reading CloudTrail log files fast: decode only the records that can match.

A CloudTrail file is `{"Records":[{...},{...}]}`, usually a few thousand records of which
almost none interest us. Instead of `json.loads` on the whole file we:
1. search the text with one compiled regex for `"eventName": "<a watched name>"` (any JSON
   whitespace around the colon); a file without hits costs a gunzip and a regex scan;
2. for each hit, walk back to the `{` that opens the enclosing record (an object that follows
   `[` or `,`) and `raw_decode` just that record.
A record can only match if its top-level eventName is a watched name, and a raw `"` cannot
occur inside a JSON string, so the regex never misses a candidate; extra hits (a nested
`eventName` key) are decoded and then dropped. Whenever the layout is not what this expects
(no `{"Records":[` ... `]}` envelope, a record that does not decode, a hit outside any record)
the file falls back to a full `json.loads`, which also yields the exact error for bad files.

Validation is of what is decoded: a damaged record that cannot match (no watched eventName)
is not noticed on the fast path, and cannot change the findings either.
"""

from __future__ import annotations

import gzip
import json
import re
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from .window import parse_time

REQUIRED = ("eventTime", "eventSource", "eventName", "eventID", "awsRegion")
_WS = r"[ \t\n\r]*"
_HEAD = re.compile(rf"{_WS}\{{{_WS}\"Records\"{_WS}:{_WS}\[")
_TAIL = re.compile(rf"\]{_WS}\}}{_WS}\Z")
_decode = json.JSONDecoder().raw_decode


@dataclass
class FileResult:
    """What one file gave: candidate records (watched eventName, fields checked), or why the
    whole file was skipped; `bad_records` counts records skipped for missing fields."""

    name: str
    records: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None
    bad_records: int = 0
    bad_detail: list[str] = field(default_factory=list)
    full_parse: bool = False


class Matcher:
    """The set of watched event names, compiled once."""

    def __init__(self, names: Iterable[str]) -> None:
        self.names = frozenset(names)
        alt = "|".join(re.escape(n) for n in sorted(self.names, key=lambda n: (-len(n), n)))
        self.pattern = re.compile(rf"\"eventName\"{_WS}:{_WS}\"(?:{alt})\"")


def decompress(name: str, raw: bytes) -> bytes:
    """gunzip `.gz` content (by name or magic bytes); raises ValueError on a bad archive."""
    if name.endswith(".gz") or raw[:2] == b"\x1f\x8b":
        try:
            return gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as e:
            raise ValueError(f"not a valid gzip file ({e})") from None
    return raw


def read(name: str, raw: bytes, matcher: Matcher) -> FileResult:
    """Parse one file's bytes (gzipped or not) into its candidate records. Never raises for
    bad content: the result's `error` says why the file was skipped."""
    res = FileResult(name)
    try:
        data = decompress(name, raw)
        if len(data) < 64 and not data.strip():
            raise ValueError("empty file")
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as e:
            raise ValueError(f"not UTF-8 text ({e.reason} at byte {e.start})") from None
        del data
        records = _fast(text, matcher)
        if records is None:
            res.full_parse = True
            records = _full(text, matcher, res)
    except ValueError as e:
        res.error = str(e)
        return res
    for rec in records:
        problem = check(rec)
        if problem:
            res.bad_records += 1
            if len(res.bad_detail) < 5:
                res.bad_detail.append(f"{rec.get('eventID', '?')}: {problem}")
        else:
            res.records.append(rec)
    return res


def check(rec: dict[str, Any]) -> str | None:
    """Why a record cannot be used, or None."""
    missing = [k for k in REQUIRED if not isinstance(rec.get(k), str) or not rec[k]]
    ui = rec.get("userIdentity")
    if not isinstance(ui, dict):
        missing.append("userIdentity")
    if not (rec.get("recipientAccountId") or (isinstance(ui, dict) and ui.get("accountId"))):
        missing.append("recipientAccountId")
    if missing:
        return "missing " + ", ".join(missing)
    try:
        parse_time(rec["eventTime"])
    except ValueError:
        return f"bad eventTime {rec['eventTime']!r}"
    rp = rec.get("requestParameters")
    if rp is not None and not isinstance(rp, dict):
        return "requestParameters is not an object"
    return None


def _fast(text: str, matcher: Matcher) -> list[dict[str, Any]] | None:
    """Candidate records via regex + raw_decode, or None to ask for a full parse."""
    head = _HEAD.match(text)
    if head is None or _TAIL.search(text, max(head.end(), len(text) - 64)) is None:
        return None
    out: list[dict[str, Any]] = []
    lo = head.end() - 1  # the '[' of the Records array
    for hit in matcher.pattern.finditer(text, head.end()):
        if hit.start() < lo:
            continue  # inside the record decoded last
        found = _record_at(text, hit.start(), lo)
        if found is None:
            return None
        rec, lo = found
        if rec.get("eventName") in matcher.names:
            out.append(rec)
    return out


def _record_like(obj: Any) -> bool:
    return isinstance(obj, dict) and "eventName" in obj and (
        "eventVersion" in obj or ("eventID" in obj and "eventTime" in obj))


def _record_at(text: str, pos: int, lo: int) -> tuple[dict[str, Any], int] | None:
    """The record object enclosing `pos` and its end, searching back no further than `lo`."""
    c = pos
    while True:
        c = text.rfind("{", lo, c)
        if c < 0:
            return None
        j = c - 1
        while j > lo and text[j] in " \t\n\r":
            j -= 1
        if text[j] not in "[,":
            continue  # an object value (`"key": {`), or a brace inside a string
        try:
            obj, end = _decode(text, c)
        except ValueError:
            continue  # a brace inside a string, or damage: the full parse will tell
        if _record_like(obj):
            return (obj, end) if end > pos else None
        # a nested object in an array (or a string's brace): keep walking out


def _full(text: str, matcher: Matcher, res: FileResult) -> list[dict[str, Any]]:
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(f"invalid JSON ({e})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("Records"), list):
        raise ValueError("not a CloudTrail log file (no \"Records\" list)")
    out = []
    for rec in doc["Records"]:
        if not isinstance(rec, dict):
            res.bad_records += 1
            if len(res.bad_detail) < 5:
                res.bad_detail.append(f"record is a {type(rec).__name__}, not an object")
        elif rec.get("eventName") in matcher.names:
            out.append(rec)
    return out
