"""One redaction step for every finding before any output.

Every reader that meets a secret (a stack export's secret values, a preview's secret envelopes,
a repository's plaintext credentials) `remember`s its plaintext; `auditor.reports` calls
`redact_known` on the findings before any format is rendered, so a secret that reached a
message, an evidence value, a resource name or an identifier is replaced by `[secret]`
wherever it sits. Readers may also redact their own findings at once (`redact`).
"""

from __future__ import annotations

import dataclasses
import json
import re
import shlex
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from .verdict import NOT_NAME, logical_name

if TYPE_CHECKING:
    from .findings import Finding

REDACTED = "[secret]"
MIN_REDACTED_LEN = 3  # shorter secrets are redacted where they are a whole value only
MAX_DEPTH = 72

_KNOWN: set[str] = set()


def remember(*values: Any) -> None:
    """Secret plaintexts met by a reader in this process (strings; numbers as text)."""
    for v in values:
        if isinstance(v, str) and v and v != REDACTED:
            _KNOWN.add(v)
        elif isinstance(v, int | float) and not isinstance(v, bool):
            _KNOWN.add(str(v))


def known() -> set[str]:
    return set(_KNOWN)


def forget() -> None:
    _KNOWN.clear()


_PLAIN_TEXT = re.compile(r"[ !#-&(-\[\]-~]*")  # printable ASCII but quotes and backslash


def _spellings(secret: str) -> tuple[str, ...]:
    """The secret, and the other ways a finding spells it: where it holds a quote, a
    backslash or a character outside printable ASCII, as Python writes it in a message
    (`{name!r}`) or a snippet, as JSON (both ways), as a shell word (a remediation's CLI);
    where it holds a character a Pulumi logical name does not, as the logical name a
    remediation snippet makes of it (`drguard.verdict.logical_name`)."""
    if NOT_NAME.search(secret) is None:  # only characters a logical name keeps
        return (secret,)
    forms = {secret}
    logical = logical_name(secret)
    if len(logical) >= MIN_REDACTED_LEN:
        forms.add(logical)
    if not _PLAIN_TEXT.fullmatch(secret):
        forms.update((repr(secret)[1:-1], json.dumps(secret)[1:-1],
                      json.dumps(secret, ensure_ascii=False)[1:-1], shlex.quote(secret)))
    return tuple(f for f in forms if f)


class Redactor:
    """Replaces secret plaintexts: whole values of any length, and inside text those of at
    least MIN_REDACTED_LEN characters (one RE2 pass over each string, linear)."""

    def __init__(self, secrets: set[str]) -> None:
        self.secrets = secrets
        long = sorted({f for s in secrets if len(s) >= MIN_REDACTED_LEN
                       for f in _spellings(s)}, key=len, reverse=True)
        self.pattern: Any = None
        self.fallback: list[str] = []
        self.long = long
        if long:
            import re2

            options = re2.Options()
            options.log_errors = False
            options.max_mem = 256 << 20
            try:
                self.pattern = re2.compile("|".join(re2.escape(s) for s in long),
                                           options=options)
            except Exception:  # noqa: BLE001 - too many secrets for one program
                self.fallback = long

    def text(self, value: str) -> str:
        if value in self.secrets:
            return REDACTED
        if self.pattern is not None:
            try:
                return str(self.pattern.sub(REDACTED, value))
            except UnicodeEncodeError:  # lone surrogates (e.g. a file name): keep them
                pass
        for s in self.long if self.pattern is not None else self.fallback:
            value = value.replace(s, REDACTED)
        return value


def scrub(value: Any, r: Redactor, depth: int = 0) -> Any:
    if isinstance(value, str):
        return r.text(value)
    if depth > MAX_DEPTH:
        return "unknown"
    if isinstance(value, dict):
        return {(scrub(k, r, depth) if isinstance(k, str) else k): scrub(v, r, depth + 1)
                for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [scrub(v, r, depth + 1) for v in value]
    if isinstance(value, (int, float)) and not isinstance(value, bool) \
            and str(value) in r.secrets:
        return REDACTED
    return value


# Finding fields that hold our own words (ids, enums), never input values.
_OWN_FIELDS = frozenset({"control", "status", "source", "severity", "sources"})


def redact(findings: Iterable[Finding], secrets: set[str]) -> None:
    """Remove every secret plaintext from the findings, in place (names and identifiers
    included)."""
    if not secrets:
        return
    redact_with(findings, Redactor(secrets))


def redact_with(findings: Iterable[Finding], r: Redactor) -> None:
    """redact with a Redactor built once (a caller redacting findings one at a time)."""
    for f in findings:
        for fld in dataclasses.fields(f):
            if fld.name not in _OWN_FIELDS:
                setattr(f, fld.name, scrub(getattr(f, fld.name), r))



