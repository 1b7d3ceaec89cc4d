"""Which buckets are backup buckets, and why (controls.md, "Scope")."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .errors import ConfigError
from .params import resolve_settings


@dataclass(frozen=True)
class Scope:
    tag_key: str = "dr:backup"
    tag_value: str = "true"
    patterns: tuple[re.Pattern[str], ...] = field(
        default_factory=lambda: (re.compile("(?i)backup"),))
    state_bucket: str | None = None

    @classmethod
    def from_settings(cls, values: Mapping[str, Any] | None, owner: str = "dr-guard-settings",
                      extra: Iterable[str] = ()) -> Scope:
        s = resolve_settings(dict(values or {}), owner=owner, extra=extra)
        compiled = []
        for p in s["backupBucketPatterns"]:
            try:
                compiled.append(re.compile(p))
            except re.error as e:
                raise ConfigError(f"policy {owner!r}: parameter 'backupBucketPatterns': "
                                  f"invalid regular expression {p!r}: {e}") from None
        return cls(s["backupTagKey"], s["backupTagValue"], tuple(compiled), s["stateBucket"])

    def reasons(self, name: str | None, tags: Mapping[str, Any] | None,
                auto: Iterable[str] = ()) -> list[str]:
        """Why a bucket is a backup bucket; empty when it is not in scope.

        `auto` carries reasons found from relations (trail destination, replication
        destination, snapshot export target) that only the caller can see.
        """
        out: list[str] = []
        tags = tags or {}
        value = tags.get(self.tag_key)
        if isinstance(value, str) and value.lower() == self.tag_value.lower():
            out.append(f"tag {self.tag_key}={value}")
        if isinstance(name, str):
            for p in self.patterns:
                if p.search(name):
                    out.append(f"name matches {p.pattern!r}")
                    break
            if self.state_bucket and name == self.state_bucket:
                out.append("Pulumi state bucket")
        out.extend(a for a in auto if a not in out)
        return out
