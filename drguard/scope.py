"""Which buckets are backup buckets, and why: the `dr:backup` tag, a name pattern, the Pulumi
state bucket, or a relation only the caller sees (a trail or replication destination)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import field
from typing import Any

from . import patterns
from .errors import Loc
from .params import policy_loc, resolve_settings
from .records import record


@record(frozen=True)
class Scope:
    """Which buckets hold backups: a tag, name patterns, the Pulumi state bucket."""

    tag_key: str = "dr:backup"
    tag_value: str = "true"
    # User regular expressions, matched by RE2 (drguard.patterns): linear time, always.
    patterns: tuple[patterns.Regex, ...] = field(
        default_factory=lambda: (patterns.regex("(?i)backup"),))
    state_bucket: str | None = None

    @classmethod
    def from_settings(cls, values: Mapping[str, Any] | None, owner: str = "dr-guard-settings",
                      extra: Iterable[str] = (), loc: Loc | None = None) -> Scope:
        loc = loc or policy_loc(owner)
        s = resolve_settings(dict(values or {}), owner=owner, extra=extra, loc=loc)
        compiled = []
        for i, p in enumerate(s["backupBucketPatterns"]):
            try:
                compiled.append(patterns.regex(p))
            except patterns.PatternError as e:
                raise (loc / "backupBucketPatterns" / i).error(
                    f"invalid regular expression {p!r}: {e}") from None
        return cls(s["backupTagKey"], s["backupTagValue"], tuple(compiled), s["stateBucket"])

    def matching_pattern(self, name: Any) -> str | None:
        """The first scope pattern a name matches (None for a name that is not a string)."""
        if not isinstance(name, str):
            return None
        for p in self.patterns:
            if p.search(name):
                return p.pattern
        return None

    def reasons(self, name: str | None, tags: Mapping[str, Any] | None,
                auto: Iterable[str] = ()) -> list[str]:
        """Why a bucket is a backup bucket; empty when it is not in scope.

        `auto` carries reasons found from relations (trail destination, replication
        destination, snapshot export target) that only the caller can see.
        """
        out: list[str] = []
        tags = tags if isinstance(tags, Mapping) else {}
        value = tags.get(self.tag_key)
        if isinstance(value, str) and value.lower() == self.tag_value.lower():
            out.append(f"tag {self.tag_key}={value}")
        if isinstance(name, str):
            matched = self.matching_pattern(name)
            if matched is not None:
                out.append(f"name matches {matched!r}")
            if self.state_bucket and name == self.state_bucket:
                out.append("Pulumi state bucket")
        out.extend(a for a in auto if a not in out)
        return out
