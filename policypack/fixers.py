"""The building blocks of a deploy-time fix: the `Fixer` a service declares (`remediations`
of its `DeployService`), the `Target` its fix edits (a resource's wire-form inputs) and helpers
that never touch an unknown or secret value. `policypack.remediate` serves the fixes.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from drguard.records import record

from . import config
from .wire import SECRET_SIG, SENTINELS, SIG_KEY


class Skip(Exception):
    """Nothing may be changed on this resource (a deciding value is unknown or secret)."""


def is_secret(v: Any) -> bool:
    return isinstance(v, Mapping) and v.get(SIG_KEY) == SECRET_SIG


def untouchable(v: Any) -> bool:
    """An unknown (preview) or a secret: never changed, never decided on."""
    return (isinstance(v, str) and v in SENTINELS) or is_secret(v)


def _num(v: Any) -> float | None:
    if isinstance(v, bool):
        return None
    if isinstance(v, (int, float)):
        return float(v)
    if isinstance(v, str):
        try:
            return float(v)
        except ValueError:
            return None
    return None


def true(v: Any) -> bool:
    return v is True or (isinstance(v, str) and v.lower() == "true")


def false(v: Any) -> bool:
    return v is False or (isinstance(v, str) and v.lower() == "false")


@record
class Target:
    """One resource being remediated: its wire-form inputs, edited in place."""

    type: str
    urn: str
    name: str
    props: dict[str, Any]
    changes: list[str]

    def value(self, key: str) -> Any:
        return self.props.get(key)

    def set(self, key: str, new: Any, why: str) -> None:
        old = self.props.get(key)
        self.props[key] = new
        self.changes.append(f"{key}: {show_value(old)} -> {show_value(new)} ({why})")

    def raise_to(self, key: str, minimum: int, why: str) -> None:
        v = self.value(key)
        if untouchable(v):
            return
        n = _num(v)
        if v is None or (n is not None and n < minimum):
            self.set(key, minimum, why)

    def make_true(self, key: str, why: str) -> None:
        v = self.value(key)
        if not untouchable(v) and not true(v):
            self.set(key, True, why)

    def make_false(self, key: str, why: str) -> None:
        v = self.value(key)
        if not untouchable(v) and not false(v):
            self.set(key, False, why)


def show_value(v: Any) -> str:
    if v is None:
        return "unset"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def snapshot_identifier(base: str) -> str:
    """A final-snapshot identifier from a DB or cluster name: letters, digits and single
    hyphens, starting with a letter, ending "-final" (RDS/Redshift naming rules)."""
    ident = re.sub(r"[^a-z0-9-]+", "-", base.lower())
    ident = re.sub(r"-{2,}", "-", ident).strip("-")
    if not ident or not ident[0].isalpha():
        ident = f"db-{ident}".rstrip("-")
    return f"{ident[:240]}-final"


def identifier(t: Target, prop: str) -> str:
    v = t.value(prop)
    return v if isinstance(v, str) and not untouchable(v) and v else t.name


# ---- helpers for the per-control fixes (policypack/services/<service>.py) ----------------------

Fix = Callable[[Target, Mapping[str, Any]], None]


@record(frozen=True)
class Fixer:
    """A control's remediation, declared beside its deploy binding: the resource types whose
    own inputs it rewrites, and the fix (which edits a Target, or raises Skip)."""

    control: str
    types: frozenset[str]
    fix: Fix


def block_true(t: Target, block: str, key: str) -> None:
    cur = t.value(block)
    if untouchable(cur):
        return
    if cur is None:
        t.set(block, {key: True}, "point-in-time recovery")
        t.changes[-1] = f"{block}.{key}: unset -> true (point-in-time recovery)"
        return
    if isinstance(cur, dict) and not untouchable(cur.get(key)) and not true(cur.get(key)):
        old = cur.get(key)
        t.props[block] = {**cur, key: True}
        t.changes.append(f"{block}.{key}: {show_value(old)} -> true (point-in-time recovery)")


def backup_bucket(t: Target, name_prop: str = "bucket") -> bool:
    """Whether the bucket is in backup scope from its own inputs (tag, name, logical name);
    a bucket scoped only through a relation (trail or replication destination) is not
    visible to a one-resource remediation. Unknown/secret name or tags: not decided."""
    scope, _ = config.settings()
    name = t.value(name_prop)
    if is_secret(name):
        raise Skip
    tags = tags_of(t.value("tags"))
    known_name = name if isinstance(name, str) and name not in SENTINELS else None
    if scope.reasons(known_name, tags):
        return True
    return any(p.search(t.name) for p in scope.patterns)


def tags_of(raw: Any) -> dict[str, str]:
    if untouchable(raw):
        raise Skip
    out: dict[str, str] = {}
    if isinstance(raw, Mapping):
        for k, v in raw.items():
            if untouchable(v):
                raise Skip  # the scope tag might be this one
            out[str(k)] = str(v)
    elif isinstance(raw, list):
        for item in raw:
            if isinstance(item, Mapping) and isinstance(item.get("key"), str):
                v = item.get("value")
                if untouchable(v):
                    raise Skip
                out[item["key"]] = "" if v is None else str(v)
    return out
