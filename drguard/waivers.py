"""Waivers: time-boxed, owned exceptions to one control, matched by resource and/or tags."""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import field
from typing import Any

from . import patterns
from .errors import Loc, type_name
from .records import record
from .registry import BY_ID

log = logging.getLogger(__name__)

REQUIRED = ("control", "reason", "owner", "expires")
OPTIONAL = ("resource", "tags")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


@record(frozen=True)
class Waiver:
    """An accepted exception: a control, what it covers, why, who, until when."""

    control: str
    reason: str
    owner: str
    expires: dt.date
    resource: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    # where it was declared (`dr.yaml: waivers: waiver #2`): named in warnings, not in reports
    where: str = field(default="", compare=False)

    def expired(self, today: dt.date) -> bool:
        return today > self.expires

    def describe(self) -> str:
        """One line naming the waiver: where it was declared, then what it covers."""
        covers = [f"control {self.control}"]
        if self.resource is not None:
            covers.append(f"resource {self.resource!r}")
        if self.tags:
            covers.append("tags " + ", ".join(f"{k}={v}" for k, v in self.tags.items()))
        text = f"{', '.join(covers)}, owner {self.owner}, expires {self.expires}"
        return f"{self.where} ({text})" if self.where else f"waiver ({text})"

    def matches(self, control: str, refs: Iterable[str | None],
                tags: Mapping[str, Any] | None) -> bool:
        if self.control not in (control, "*"):
            return False
        if self.resource is not None:
            glob = patterns.glob(self.resource)  # compiled (and cached) at load time
            if not any(isinstance(r, str) and r and glob.match(r) for r in refs):
                return False
        if self.tags:
            have = tags if isinstance(tags, Mapping) else {}
            if any(not isinstance(have.get(k), (str, int, float, bool))
                   or str(have.get(k)) != v for k, v in self.tags.items()):
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


def parse_date(value: Any, loc: Loc) -> dt.date:
    """A real calendar date, written YYYY-MM-DD (a YAML/Python date object is accepted)."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str) and _ISO_DATE.fullmatch(value):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            pass
    raise loc.error("'expires' must be a date in ISO format YYYY-MM-DD (a real calendar "
                    f"day), found {value!r}" if isinstance(value, str)
                    else f"'expires' must be a date in ISO format YYYY-MM-DD, found "
                         f"{type_name(value)}")


def _text(e: Mapping[str, Any], key: str, loc: Loc) -> str:
    value = e[key]
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise (loc / key).expected("a string", value)
    text = str(value).strip()
    if not text:
        raise (loc / key).error("must not be empty")
    return text


def _one(e: Any, loc: Loc) -> Waiver:
    if not isinstance(e, dict):
        raise loc.expected("a waiver mapping (control, resource or tags, reason, owner, "
                           "expires)", e)
    bad_keys = [k for k in e if not isinstance(k, str)]
    if bad_keys:
        raise loc.error(f"field names must be strings, found {type_name(bad_keys[0])}")
    missing = [k for k in REQUIRED if e.get(k) in (None, "")]
    if missing:
        raise loc.error(f"missing {', '.join(missing)}")
    unknown = set(e) - {*REQUIRED, *OPTIONAL}
    if unknown:
        raise loc.error(f"unknown field(s) {', '.join(sorted(unknown))} (expected "
                        f"{', '.join((*REQUIRED, *OPTIONAL))})")
    control = e["control"]
    if not isinstance(control, str):
        raise (loc / "control").expected("a control id (a string, or '*')", control)
    if control != "*" and control not in BY_ID:
        import difflib

        near = difflib.get_close_matches(control[:200], list(BY_ID), n=1)
        hint = f"did you mean {near[0]!r}?" if near else "docs/controls.md lists them, or '*'"
        raise (loc / "control").error(f"unknown control {control[:80]!r} ({hint})")
    resource = e.get("resource")
    if resource in (None, ""):
        resource = None
    elif not isinstance(resource, str):
        raise (loc / "resource").expected("a glob string (ARN, URN or name)", resource)
    else:
        try:
            patterns.glob(resource)
        except patterns.PatternError as err:
            raise (loc / "resource").error(f"unusable glob: {err}") from None
    tags = e.get("tags")
    if tags is None:
        tags = {}
    if not isinstance(tags, dict):
        raise (loc / "tags").expected("a mapping of tag key to value", tags)
    clean_tags: dict[str, str] = {}
    for k, v in tags.items():
        if not isinstance(k, str) or isinstance(v, (dict, list)) or v is None:
            raise (loc / "tags" / str(k)).expected("a tag value (a string)", v)
        clean_tags[k] = str(v).lower() if isinstance(v, bool) else str(v)
    if resource is None and not clean_tags:
        raise loc.error("needs 'resource' (a glob) or 'tags'")
    return Waiver(control=control, reason=_text(e, "reason", loc),
                  owner=_text(e, "owner", loc), expires=parse_date(e["expires"], loc),
                  resource=resource, tags=clean_tags, where=str(loc))


def parse(entries: Any, where: str | Loc = "waivers") -> list[Waiver]:
    """Parse a list of waiver mappings; the first bad entry raises ConfigError naming its
    file or policy, the path to it and what was expected."""
    loc = where if isinstance(where, Loc) else Loc(where)
    if entries is None:
        return []
    if not isinstance(entries, list):
        raise loc.expected("a list of waivers", entries)
    return [_one(e, Loc(f"{loc}: waiver #{i + 1}")) for i, e in enumerate(entries)]


@record(frozen=True)
class WaiverMatch:
    """The waiver that covers a finding, and whether it has expired."""

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


class Usage:
    """What the waivers of one run met, recorded where each finding is judged
    (drguard.evaluate), so the run can name the stale ones when it ends without matching
    anything again: the controls judged (a pass or a fail found), the waivers that waived a
    finding, and the expired ones a finding named as expired."""

    __slots__ = ("errored", "expired", "judged", "waived")

    def __init__(self) -> None:
        # (set.add is atomic: the scan's threads record into one Usage)
        self.judged: set[str] = set()
        self.errored: set[str] = set()  # controls with a resource that could not be read
        self.waived: set[int] = set()
        self.expired: set[int] = set()

    def record(self, match: WaiverMatch) -> None:
        (self.expired if match.expired else self.waived).add(id(match.waiver))

    def unused(self, waivers: Iterable[Waiver], today: dt.date | None = None,
               accounts: Iterable[str] | None = None,
               regions: Iterable[str] | None = None) -> list[str]:
        """One line per waiver of a control this run judged that waived none of its findings
        (the gap fixed, the resource renamed or gone). An expired waiver a finding already
        named as expired is left out (the report says so); one that met nothing is named,
        with its expiry. A waiver of a control the run did not judge (another command's, or
        no resource of its kind), or of one with a resource it could not read (the waived
        one, maybe), says nothing about itself: left out. So is a waiver whose resource is an
        ARN naming an account or region outside the ones the run read (`accounts`, `regions`;
        None: not narrowed), whose resource the run could not meet."""
        today = today or dt.date.today()
        out = []
        scope = (None if accounts is None else set(accounts),
                 None if regions is None else set(regions))
        for w in waivers:
            if id(w) in self.waived or id(w) in self.expired or not _within(w, *scope):
                continue
            if w.control == "*":
                judged = bool(self.judged) and not self.errored
            else:
                judged = w.control in self.judged and w.control not in self.errored
            if not judged:
                continue
            note = f" (expired on {w.expires})" if w.expired(today) else ""
            out.append(f"{w.describe()} waived no finding in this run{note}: if the gap it "
                       "covered is gone, remove it")
        return out


def _within(w: Waiver, accounts: set[str] | None, regions: set[str] | None) -> bool:
    """Whether the resource of `w` can be in the accounts and regions read: an ARN glob whose
    account or region part is spelt out (no wildcard) names where its resource is."""
    if w.resource is None or not w.resource.startswith("arn:"):
        return True
    parts = w.resource.split(":", 5)
    if len(parts) < 6:
        return True
    for part, read in ((parts[4], accounts), (parts[3], regions)):
        if read is not None and part and not any(c in part for c in "*?[") \
                and part not in read:
            return False
    return True


def warn_unused(waivers: Iterable[Waiver], use: Usage, today: dt.date | None = None,
                accounts: Iterable[str] | None = None,
                regions: Iterable[str] | None = None) -> None:
    """One warning (stderr, through logging) per waiver Usage.unused names."""
    for line in use.unused(waivers, today, accounts, regions):
        log.warning("%s", line)
