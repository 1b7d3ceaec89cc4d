"""Live collectors: one module per AWS service, each turning API responses into drguard facts.

Collectors never raise on an AWS error: they record a `ReadError` under a key and return
`UNKNOWN` for what they could not read, so rules can still decide what does not depend on it
and the scan reports the rest as `error` (fail closed).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from typing import Any, TypeVar
from xml.etree.ElementTree import ParseError

from botocore.exceptions import BotoCoreError, ClientError
from botocore.parsers import ResponseParserError

from drguard.arns import partition_of
from drguard.facts import UNKNOWN
from drguard.records import record

log = logging.getLogger(__name__)

# Failures of a unit of work are not expected beyond AWS errors, but a malformed response
# (KeyError/TypeError/ValueError) must still end as `error`, never as a crash or a pass. An
# empty or cut-off body botocore's own handlers parse (e.g. a 503 without a body to
# GetBucketLocation) raises the XML parser's ParseError.
UNIT_ERRORS = (ClientError, BotoCoreError, ResponseParserError, ParseError, KeyError, TypeError,
               ValueError, AttributeError)

T = TypeVar("T")


@record(frozen=True)
class ReadError:
    """An AWS call that failed: what was asked, the error code and message."""

    operation: str
    code: str
    message: str

    def __str__(self) -> str:
        return f"{self.operation}: {self.code}: {self.message}"

    def to_dict(self) -> dict[str, str]:
        return {"operation": self.operation, "code": self.code, "message": self.message}

    @classmethod
    def of(cls, operation: str, exc: BaseException) -> ReadError:
        if isinstance(exc, ClientError):
            err = exc.response.get("Error", {})
            code = str(err.get("Code") or exc.response.get("ResponseMetadata", {})
                       .get("HTTPStatusCode") or "ClientError")
            return cls(operation, code, str(err.get("Message") or exc)[:300])
        return cls(operation, type(exc).__name__, str(exc)[:300])


def error_code(exc: BaseException) -> str | None:
    return exc.response.get("Error", {}).get("Code") if isinstance(exc, ClientError) else None


Errors = dict[str, ReadError]


def guarded(errors: Errors, key: str, operation: str, fn: Callable[..., Any],
            absent: dict[str, Any] | None = None) -> Any:
    """fn(); an error code listed in `absent` means "not configured" and returns its value;
    any other AWS error is recorded under `key` and gives UNKNOWN."""
    try:
        return fn()
    except (ClientError, BotoCoreError, ResponseParserError, ParseError) as e:  # unparseable too
        code = error_code(e)
        if absent and code in absent:
            return absent[code]
        errors[key] = ReadError.of(operation, e)
        log.info("could not read %s: %s", key, errors[key])
        return UNKNOWN


def age_hours(when: Any, now: dt.datetime) -> float | None:
    if not isinstance(when, dt.datetime):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return round(max(0.0, (now - when).total_seconds() / 3600), 1)


def tag_dict(items: Any, key: str = "Key", value: str = "Value") -> dict[str, str]:
    return {str(t[key]): str(t.get(value, "")) for t in items or () if key in t}


def root_arn(account: str, region: str | None = None) -> str:
    """An account's root ARN (what account-wide findings name), in `region`'s partition."""
    return f"arn:{partition_of(region)}:iam::{account}:root"


def bucket_arn(name: str, region: str | None = None) -> str:
    """A bucket's ARN, in the partition of `region` (any region of its account's)."""
    return f"arn:{partition_of(region)}:s3:::{name}"


def arn_region(arn: str) -> str | None:
    parts = arn.split(":")
    return parts[3] or None if len(parts) > 3 else None


def arn_account(arn: str) -> str | None:
    parts = arn.split(":")
    return parts[4] or None if len(parts) > 4 else None
