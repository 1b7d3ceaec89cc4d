"""Normalised facts: the small records both sides reduce their input to.

This module holds what every fact shares (`Resource`, `UNKNOWN`); each service's facts
(`Bucket`, `Database`, ...) are declared beside its controls in `drguard.controls.<service>`.
Deploy-side adapters build them from Pulumi resource properties, live collectors from AWS API
responses, the state reader from a stack export. Rules only ever see facts.

A value is either known, `None` (unset: the AWS/provider default applies, and the adapter has
already resolved that default where it matters) or `UNKNOWN` (not yet known during preview).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final


class _Unknown:
    """A value that cannot be known until the update runs (Pulumi preview)."""

    _instance: _Unknown | None = None

    def __new__(cls) -> _Unknown:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "<unknown during preview>"

    def __bool__(self) -> bool:
        raise TypeError("UNKNOWN has no truth value; test `is UNKNOWN` first")


UNKNOWN: Final = _Unknown()


def is_unknown(*values: Any) -> bool:
    return any(v is UNKNOWN for v in values)


def retention_days(days: Any, years: Any) -> int | None:
    """An Object Lock default retention in days: `days`, else `years` counted as 365 days
    (as AWS counts them); None when neither is an integer. Some endpoints (moto) answer a rule set
    in years with `Days: 0` beside `Years`, so a zero `days` gives way to `years`."""
    def whole(v: Any) -> bool:
        return isinstance(v, int) and not isinstance(v, bool)

    if whole(days) and days > 0:
        return days
    if whole(years):
        return years * 365
    return days if whole(days) else None


@dataclass
class Resource:
    """What every fact has: where it is and how to name it in a message."""

    ref: str  # URN on the deploy/state side, ARN on the live side
    name: str
    type: str = ""  # Pulumi type token or AWS resource type
    account: str | None = None
    region: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    protect: bool | None = None  # Pulumi `protect` option; None on the live side
    # fact attribute -> the property a user sets to fix it (e.g. "backup_retention" ->
    # "backupRetentionPeriod"); adapters fill this so messages speak the resource's language.
    props: dict[str, str] = field(default_factory=dict)
    evidence: dict[str, Any] = field(default_factory=dict)

    def prop(self, attr: str, default: str) -> str:
        return self.props.get(attr, default)

    def stateful(self) -> bool:
        """Whether this fact holds data that `stateful-resource-protect` guards (a service's
        fact says so; e.g. a bucket only when it is in backup scope)."""
        return False
