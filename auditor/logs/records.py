"""What the detector sees of a CloudTrail record, decided in one place for files and Athena.

A record read from a file (`reader`) and a row of the Athena query (`athena.record_of`) both
go through `admit` before any detection looks at them, in this order:

1. made by an AWS service itself (`userIdentity.type` AWSService): not ours, dropped uncounted
   (the query leaves these rows out the same way);
2. placed in time by its own `eventTime`: no readable time, skipped and counted; outside the
   window, dropped uncounted, whenever it was delivered (files and partitions are read with
   the window's delivery slack, so which ones were read never decides);
3. the record check (`reader.check`: the fields the detections read, with the right types),
   a failure skipped and counted.

`after_match` is the last check, on the records that matched a detection (too deep, or a
number out of range inside). A record's shape in the Athena table is a projection of the
file's: every scalar a STRING, the JSON documents (`requestParameters`, ...) as text; the
column maps below are that table, and `document` decodes its text the way the file reader
decodes a file (numbers out of range marked, text that is not JSON kept as text, for the
record check to judge as it judges the same value in a file).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import reader
from .window import Window, parse_time

if TYPE_CHECKING:
    from .detect import Detector

# Top-level scalar columns of the standard CloudTrail table (lower-case, as Athena names them)
# -> the record key the detections read.
SCALARS: dict[str, str] = {
    "eventversion": "eventVersion", "eventtime": "eventTime", "eventsource": "eventSource",
    "eventname": "eventName", "awsregion": "awsRegion", "sourceipaddress": "sourceIPAddress",
    "useragent": "userAgent", "errorcode": "errorCode", "errormessage": "errorMessage",
    "requestid": "requestID", "eventid": "eventID", "eventtype": "eventType",
    "recipientaccountid": "recipientAccountId",
}
# JSON documents the table keeps as strings.
DOCUMENTS: dict[str, str] = {
    "requestparameters": "requestParameters", "responseelements": "responseElements",
    "additionaleventdata": "additionalEventData",
}
# userIdentity struct fields -> record keys.
IDENTITY: dict[str, str] = {
    "type": "type", "principalid": "principalId", "arn": "arn", "accountid": "accountId",
    "invokedby": "invokedBy", "username": "userName", "accesskeyid": "accessKeyId",
}

AWS_SERVICE = "AWSService"


def document(text: str) -> tuple[Any, str | None]:
    """A JSON document column's value as the file reader would have decoded it, and the text
    of a number out of range in it (or None). Text that is not JSON is the value itself: the
    table hands a JSON string over unquoted, so `"abc"` in the file is `abc` here."""
    body = text.strip()
    try:
        value, end = reader._decode(body, 0)  # the file reader's decoder: same numbers refused
    except (ValueError, RecursionError):
        return text, None
    if end != len(body):
        return text, None
    overflow = reader._SEEN[0].text if reader._SEEN else None
    if isinstance(value, dict):
        value.pop(reader.OVERFLOW_KEY, None)
    return value, overflow


def admit(rec: dict[str, Any], window: Window) -> tuple[bool, str | None]:
    """(True, None): the detections judge the record. (False, None): not ours (an AWS service's
    own event, or outside the window by eventTime), dropped uncounted. (False, why): skipped
    and counted."""
    ui = rec.get("userIdentity")
    if isinstance(ui, dict) and ui.get("type") == AWS_SERVICE:
        return False, None
    when = rec.get("eventTime")
    if not isinstance(when, str) or not when:
        return False, f"{reader.event_ref(rec)}missing eventTime"
    try:
        t = parse_time(when)
    except (ValueError, OverflowError):
        return False, f"{reader.event_ref(rec)}bad eventTime {when[:60]!r}"
    if not window.contains(t):
        return False, None
    problem = reader.judge(rec, timed=True)
    if problem:
        return False, f"{reader.event_ref(rec)}{problem}"
    return True, None


def after_match(rec: dict[str, Any]) -> str | None:
    """Why a record that matched a detection still cannot be reported, or None."""
    problem = reader.shape(rec)
    return f"{reader.event_ref(rec)}{problem}" if problem else None


def examine(rec: dict[str, Any], window: Window, detector: Detector,
            shallow: bool = False) -> tuple[tuple[int, ...], str | None]:
    """(the detections the record breaks, as `Detector.matching` gives them; why it is skipped
    and counted, or None). Both empty: not ours, or nothing broken. A predicate may raise on a
    strange record: the caller skips and counts that record. `shallow`: the reader knows
    `after_match` has nothing to find (`FileResult.shallow`)."""
    ok, problem = admit(rec, window)
    if not ok:
        return (), problem
    matched = detector.matching(rec)
    if matched and not shallow:  # too deep to report or to send back: cannot be judged
        problem = after_match(rec)
        if problem:
            return (), problem
    return matched, None
