"""The jinja2 environment of every report template (auditor/templates/) and its filters."""

from __future__ import annotations

import datetime as dt
import functools
from typing import Any

import jinja2

from . import escape
from ._common import plural


@functools.cache
def environment() -> jinja2.Environment:
    """The template environment: package templates, autoescape on, strict undefined."""
    env = jinja2.Environment(loader=jinja2.PackageLoader("auditor", "templates"),
                             autoescape=True, undefined=jinja2.StrictUndefined,
                             trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    env.filters["when"] = when
    env.filters["plural"] = plural
    # inert Markdown for the .md.j2 templates: identifiers as code spans, prose escaped and
    # defanged, short table cells escaped and cut (auditor.reports.escape)
    env.filters["md_code"] = escape.code
    env.filters["md_text"] = escape.md
    env.filters["md"] = escape.md
    return env


def when(value: Any) -> str:
    """An ISO timestamp for people: `2026-12-01 04:10:33 UTC` (no microseconds)."""
    if not isinstance(value, str) or not value:
        return "" if value is None else str(value)
    try:
        t = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return value
    if t.tzinfo is None:
        return t.strftime("%Y-%m-%d %H:%M:%S")
    return t.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
