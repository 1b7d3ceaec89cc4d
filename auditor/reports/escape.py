"""Inert Markdown: the one escaper of every Markdown output (reports, drills, templates)."""

from __future__ import annotations

import re
from typing import Any

from ._common import clean_text

_SPECIAL = re.compile(r"([\\`*_\[\]|~<>&$])")
_SCHEME = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*):(?=//)")
_WWW = re.compile(r"(?i)\bwww\.")
_REF = re.compile(r"#(?=\d)")


def _fold(value: Any) -> str:
    return " ".join(clean_text(str(value if value is not None else "")).split())


def md(value: Any, limit: int | None = None) -> str:
    """Free text as one line of inert Markdown: whitespace folded, cut to `limit` characters
    (when given), Markdown and HTML metacharacters backslash-escaped, URLs, www. names,
    @mentions and #refs defanged. The one Markdown escaper of every report (drills too)."""
    text = _fold(value)
    if limit is not None and len(text) > limit:
        text = text[:limit - 1] + "\u2026"
    text = _SCHEME.sub(r"\1[:]", text)
    text = _WWW.sub("www[.]", text)
    text = text.replace("@", "[@]")
    text = _REF.sub("[#]", text)
    # escape everything Markdown or HTML could act on; the defanging brackets too
    return _SPECIAL.sub(r"\\\1", text)


def code(value: Any) -> str:
    """An identifier as an inline code span (nothing inside links, mentions or renders);
    pipes escaped for table cells."""
    text = _fold(value)
    if not text:
        return "-"
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") or longest else ""
    return f"{fence}{pad}{text}{pad}{fence}".replace("|", "\\|")
