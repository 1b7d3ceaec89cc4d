"""Normalised facts: the small records both sides reduce their input to.

This module holds what every fact shares (`Resource`, `UNKNOWN`); each service's facts
(`Bucket`, `Database`, ...) are declared beside its controls in `drguard.controls.<service>`.
Deploy-side adapters build them from Pulumi resource properties, live collectors from AWS API
responses, the state reader from a stack export. Rules only ever see facts.

A value is either known, `None` (unset: the AWS/provider default applies, and the adapter has
already resolved that default where it matters) or `UNKNOWN` (not yet known during preview).
"""

from __future__ import annotations

from dataclasses import field
from typing import Any, Final, TypeGuard

from .records import record


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
    def whole(v: Any) -> TypeGuard[int]:
        return isinstance(v, int) and not isinstance(v, bool)

    if whole(days) and days > 0:
        return days
    if whole(years):
        return years * 365
    return days if whole(days) else None


@record
class OnDelete:
    """What keeps a stateful resource's data when it is deleted or replaced, as its service
    declares it (`Resource.on_delete`): `noun` names the kind ("Redshift cluster"), `saves`
    and `lost` are the safeguards in place and missing (sentences), `kept` names the copies
    that outlive the resource (a final snapshot by name, retained backups), `evidence` the
    values read. `dr-audit plan` renders it; the service decides it."""

    noun: str
    saves: list[str] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    evidence: dict[str, Any] = field(default_factory=dict)


def unknown_or_off(value: Any, what: str) -> str:
    """"<what> is unknown in this preview" or "<what> is off"."""
    return f"{what} is " + ("unknown in this preview" if value is UNKNOWN else "off")


def final_snapshot_on_delete(d: OnDelete, skip: Any, ident: Any, replace: bool) -> None:
    """skipFinalSnapshot false with a finalSnapshotIdentifier: a final snapshot by that name
    (RDS and Redshift alike)."""
    if skip is False and isinstance(ident, str) and ident:
        note = f"a final snapshot {ident!r} is taken before the delete"
        if replace:
            note += (", but the replacement starts empty: the data must be restored from that "
                     "snapshot by hand, and writes between the snapshot and the cutover are "
                     "lost (still a data-loss risk)")
        d.saves.append(note)
        d.kept.append(f"final snapshot {ident!r}")
    elif skip is True:
        d.lost.append("skipFinalSnapshot is true: no final snapshot is taken")
    elif skip is False and (ident is None or ident == ""):
        d.lost.append("no finalSnapshotIdentifier is set, so no final snapshot can be taken")
    else:
        d.lost.append("whether a final snapshot is taken is unknown in this preview")


@record
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

    def on_delete(self, replace: bool) -> OnDelete:
        """What keeps this resource's data when it is deleted (or, `replace`, replaced by a
        new, empty one). Every fact whose `stateful()` can be true declares its own; this
        default knows of nothing that keeps the data."""
        return OnDelete(self.type.split(":")[-1] or "resource")

