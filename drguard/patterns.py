"""User-supplied patterns (scope regexes, waiver and parameter globs) on a linear-time engine.

Every regular expression or glob a user writes is compiled with RE2 (google-re2), whose
matching time is linear in the text whatever the pattern, so no pattern can hang a scan or
the policy pack. Python syntax RE2 does not have (look-around, back-references, possessive
repeats) and repeat counts over RE2's limit (1000) are refused at load time with a message
that says why. Inline flags such as `(?i)` keep working.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

import re2

from .records import record

# Bytes of compiled program one pattern may use (RE2's default is 8 MiB).
MAX_MEM = 8 << 20
MAX_PATTERN_CHARS = 4096


class PatternError(ValueError):
    """A pattern RE2 cannot compile; the message says why in one line."""


def _options() -> Any:
    o = re2.Options()
    o.log_errors = False  # the error is raised (and reported once) instead of logged
    o.max_mem = MAX_MEM
    return o


def _reason(e: BaseException) -> str:
    arg = e.args[0] if e.args else e
    text = arg.decode("utf-8", "replace") if isinstance(arg, bytes) else str(arg)
    return text.splitlines()[0] if text else type(e).__name__


def _text(value: str) -> str:
    """RE2 matches UTF-8; a lone surrogate (possible in JSON text) becomes U+FFFD."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return value.encode("utf-8", "replace").decode("utf-8")
    return value


MAX_REPEAT = 1000  # RE2's limit on a counted repetition
_COUNT = re.compile(r"\{(\d+)(?:,(\d*))?\}")


def _too_many(source: str) -> str | None:
    """A counted repetition over RE2's limit, which RE2 would silently read as literal text
    when the count does not fit its integer (`z{5000000000}`); linear scan, escapes and
    character classes skipped."""
    i, n, in_class = 0, len(source), False
    while i < n:
        c = source[i]
        if c == "\\":
            i += 2
            continue
        if in_class:
            in_class = c != "]"
        elif c == "[":
            in_class = True
            if source[i + 1:i + 2] == "]" or source[i + 1:i + 3] == "^]":
                i += 2 if source[i + 1] == "]" else 3  # a leading ] is a member
                continue
        elif c == "{":
            m = _COUNT.match(source, i)
            if m:
                for part in m.groups():
                    if part and (len(part) > 6 or int(part) > MAX_REPEAT):
                        return m.group()
                i = m.end()
                continue
        i += 1
    return None


def _compile(source: str, shown: str) -> Any:
    if not isinstance(source, str):
        raise PatternError(f"expected a string, found {type(source).__name__}")
    if len(shown) > MAX_PATTERN_CHARS:
        raise PatternError(f"pattern longer than {MAX_PATTERN_CHARS} characters")
    try:
        shown.encode("utf-8")
    except UnicodeEncodeError:
        raise PatternError("pattern is not valid Unicode text (lone surrogate)") from None
    big = _too_many(source)
    if big is not None:
        raise PatternError(f"invalid repetition size {big[:40]}: over the limit of the "
                           f"linear-time engine (RE2 allows at most {MAX_REPEAT})")
    try:
        return re2.compile(source, options=_options())
    except re2.error as e:
        raise PatternError(f"not a pattern the linear-time engine (RE2) accepts: "
                           f"{_reason(e)}") from None
    except (ValueError, TypeError, MemoryError) as e:
        raise PatternError(f"cannot compile: {_reason(e)}") from None


@record(frozen=True)
class Regex:
    """A user regular expression (RE2 syntax), searched anywhere in the text."""

    pattern: str
    _compiled: Any

    def search(self, text: str) -> bool:
        return self._compiled.search(_text(text)) is not None


@record(frozen=True)
class Glob:
    """A user glob: `*` any run of characters (`/` included), `?` one character, `[seq]`,
    `[!seq]`; everything else literal; case-sensitive (fnmatch.fnmatchcase's rules)."""

    pattern: str
    _compiled: Any

    def match(self, text: str) -> bool:
        return self._compiled.fullmatch(_text(text)) is not None


def regex(pattern: str) -> Regex:
    """Compile a user regex under RE2 (PatternError when RE2 refuses it)."""
    if not isinstance(pattern, str):
        raise PatternError(f"expected a string, found {type(pattern).__name__}")
    return _regex(pattern)


@lru_cache(maxsize=1024)
def _regex(pattern: str) -> Regex:
    return Regex(pattern, _compile(pattern, pattern))


def _char(c: str) -> str:
    return f"\\x{{{ord(c):x}}}"


def _char_class(body: str) -> str:
    """fnmatch's `[...]` body (after `[`, before `]`) as an RE2 class; ranges whose ends are
    reversed match nothing, as in fnmatch."""
    negate = body.startswith("!")
    if negate:
        body = body[1:]
    items: list[str] = []
    i = 0
    while i < len(body):
        if i + 2 < len(body) and body[i + 1] == "-":
            lo, hi = body[i], body[i + 2]
            if lo <= hi:
                items.append(f"{_char(lo)}-{_char(hi)}")
            i += 3
        else:
            items.append(_char(body[i]))
            i += 1
    if not items:  # nothing can match (or, negated, anything can)
        return "(?s:.)" if negate else "[^\\x00-\\x{10ffff}]"
    return f"[{'^' if negate else ''}{''.join(items)}]"


def glob_source(pattern: str) -> str:
    """The RE2 source of a glob, anchored at both ends."""
    out: list[str] = []
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        i += 1
        if c == "*":
            if not out or out[-1] != ".*":
                out.append(".*")
        elif c == "?":
            out.append(".")
        elif c == "[":
            j = i
            if j < n and pattern[j] == "!":
                j += 1
            if j < n and pattern[j] == "]":
                j += 1
            j = pattern.find("]", j)
            if j < 0:
                out.append(_char("["))
            else:
                out.append(_char_class(pattern[i:j]))
                i = j + 1
        else:
            out.append(_char(c) if not (c.isascii() and c.isalnum()) else c)
    return "(?s)\\A(?:" + "".join(out) + ")\\z"


def glob(pattern: str) -> Glob:
    """Compile a user glob under RE2 (PatternError when it is unusable)."""
    if not isinstance(pattern, str):
        raise PatternError(f"expected a string, found {type(pattern).__name__}")
    return _glob(pattern)


@lru_cache(maxsize=4096)
def _glob(pattern: str) -> Glob:
    return Glob(pattern, _compile(glob_source(pattern), pattern))


def _literal(c: str) -> str:
    return c if c.isascii() and c.isalnum() else _char(c)


@lru_cache(maxsize=4096)
def iam_wildcard(pattern: str) -> Glob | None:
    """An IAM action wildcard (`*` any run, `?` one character, case-insensitive) from a
    policy document, under RE2; None when RE2 cannot compile it (it then matches nothing)."""
    body = "".join(".*" if c == "*" else "." if c == "?" else _literal(c) for c in pattern)
    try:
        return Glob(pattern, _compile(f"(?is)\\A(?:{body})\\z", pattern))
    except PatternError:
        return None


@lru_cache(maxsize=4096)
def iam_wildcard_within(outer: str) -> Glob | None:
    """A test whether an IAM wildcard (`*`, `?`, case-insensitive) covers every text another
    IAM wildcard matches: match the inner one as text. Literals of `outer` match only
    themselves, its `*` anything (an inner `*` or `?` included), its `?` one character but
    never an inner `*` (which stands for any run). Sound, not complete: "not within" may be
    said of a pattern that is. None when RE2 cannot compile it (it then covers nothing)."""
    body = "".join(".*" if c == "*" else "[^*]" if c == "?" else _literal(c) for c in outer)
    try:
        return Glob(outer, _compile(f"(?is)\\A(?:{body})\\z", outer))
    except PatternError:
        return None


@lru_cache(maxsize=4096)
def value_wildcard(pattern: str) -> Glob | None:
    """A wildcard of a value AWS compares case-sensitively (`*` any run, `?` one character):
    an AWS Backup selection's resource ARNs and StringLike tag conditions; under RE2, None
    when RE2 cannot compile it (it then matches nothing)."""
    body = "".join(".*" if c == "*" else "." if c == "?" else _literal(c) for c in pattern)
    try:
        return Glob(pattern, _compile(f"(?s)\\A(?:{body})\\z", pattern))
    except PatternError:
        return None


@lru_cache(maxsize=4096)
def event_wildcard(pattern: str) -> Glob | None:
    """An EventBridge `wildcard` (`*` any run, `\\` escapes the next character) under RE2;
    None when RE2 cannot compile it (it then matches nothing)."""
    out, i = [], 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\" and i + 1 < len(pattern):
            out.append(_literal(pattern[i + 1]))
            i += 2
            continue
        out.append(".*" if c == "*" else _literal(c))
        i += 1
    try:
        return Glob(pattern, _compile(f"(?s)\\A(?:{''.join(out)})\\z", pattern))
    except PatternError:
        return None
