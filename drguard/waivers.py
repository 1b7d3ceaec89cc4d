"""Waivers: time-boxed, owned exceptions (outputs.md, "Waivers")."""

from __future__ import annotations

import datetime as dt
import fnmatch
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .errors import ConfigError
from .registry import BY_ID

REQUIRED = ("control", "reason", "owner", "expires")


@dataclass(frozen=True)
class Waiver:
    control: str
    reason: str
    owner: str
    expires: dt.date
    resource: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)

    def expired(self, today: dt.date) -> bool:
        return today > self.expires

    def matches(self, control: str, refs: Iterable[str | None],
                tags: Mapping[str, Any] | None) -> bool:
        if self.control not in (control, "*"):
            return False
        if self.resource is not None:
            if not any(r and fnmatch.fnmatchcase(r, self.resource) for r in refs):
                return False
        if self.tags:
            have = tags or {}
            if any(str(have.get(k)) != str(v) for k, v in self.tags.items()):
                return False
        return True

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"control": self.control, "reason": self.reason,
                             "owner": self.owner, "expires": self.expires.isoformat()}
        if self.resource is not None:
            d["resource"] = self.resource
        if self.tags:
            d["tags"] = dict(self.tags)
        return d


def _date(value: Any, where: str) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value[:10])
        except ValueError:
            pass
    raise ConfigError(f"{where}: 'expires' must be a date (YYYY-MM-DD), got {value!r}")


def parse(entries: Any, where: str = "waivers") -> list[Waiver]:
    """Parse a list of waiver mappings; the first bad entry raises ConfigError naming it."""
    if entries is None:
        return []
    if not isinstance(entries, list):
        raise ConfigError(f"{where}: 'waivers' must be a list")
    out = []
    for i, e in enumerate(entries):
        here = f"{where}: waiver #{i + 1}"
        if not isinstance(e, dict):
            raise ConfigError(f"{here}: must be a mapping")
        missing = [k for k in REQUIRED if not e.get(k)]
        if missing:
            raise ConfigError(f"{here}: missing {', '.join(missing)}")
        unknown = set(e) - {*REQUIRED, "resource", "tags"}
        if unknown:
            raise ConfigError(f"{here}: unknown field(s) {', '.join(sorted(unknown))}")
        if e["control"] != "*" and e["control"] not in BY_ID:
            raise ConfigError(f"{here}: unknown control {e['control']!r}")
        if "resource" not in e and "tags" not in e:
            raise ConfigError(f"{here}: needs 'resource' (a glob) or 'tags'")
        tags = e.get("tags") or {}
        if not isinstance(tags, dict):
            raise ConfigError(f"{here}: 'tags' must be a mapping")
        out.append(Waiver(control=e["control"], reason=str(e["reason"]), owner=str(e["owner"]),
                          expires=_date(e["expires"], here),
                          resource=str(e["resource"]) if e.get("resource") else None,
                          tags={str(k): str(v) for k, v in tags.items()}))
    return out


def load_file(path: str | Path) -> list[Waiver]:
    p = Path(path)
    try:
        data = yaml.safe_load(p.read_text())
    except OSError as e:
        raise ConfigError(f"{p}: cannot read waiver file: {e.strerror}") from None
    except yaml.YAMLError as e:
        raise ConfigError(f"{p}: not valid YAML: {str(e).splitlines()[0]}") from None
    if data is None:
        return []
    if not isinstance(data, dict) or "waivers" not in data:
        raise ConfigError(f"{p}: expected a mapping with a 'waivers' list")
    return parse(data["waivers"], where=str(p))


@dataclass(frozen=True)
class WaiverMatch:
    waiver: Waiver
    expired: bool

    def expiry_note(self) -> str:
        """What a finding's message says when the waiver that would cover it has expired."""
        return f" (waiver by {self.waiver.owner} expired on {self.waiver.expires})"


def find(waivers: Iterable[Waiver], control: str, refs: Iterable[str | None],
         tags: Mapping[str, Any] | None, today: dt.date | None = None) -> WaiverMatch | None:
    """The applicable waiver; failing that, the expired one that would have applied."""
    today = today or dt.date.today()
    refs = list(refs)
    expired: Waiver | None = None
    for w in waivers:
        if w.matches(control, refs, tags):
            if not w.expired(today):
                return WaiverMatch(w, False)
            expired = expired or w
    return WaiverMatch(expired, True) if expired else None
