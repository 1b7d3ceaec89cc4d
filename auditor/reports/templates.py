"""The jinja2 environment of every report template (auditor/templates/) and its filters."""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import logging
from typing import Any

import jinja2
import jinja2.bccache

from drguard import __version__

from .. import usercache
from . import escape
from ._common import plural

log = logging.getLogger(__name__)


class _SafeCache(jinja2.FileSystemBytecodeCache):
    """jinja2's file cache of compiled templates, never fatal: an entry that cannot be read is
    compiled again, one that cannot be written is not kept."""

    def load_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        try:
            super().load_bytecode(bucket)
        except (OSError, ValueError, EOFError, TypeError) as e:
            log.debug("template cache entry %s unreadable (%s): compiled again", bucket.key, e)
            bucket.reset()

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        try:
            super().dump_bytecode(bucket)
        except OSError as e:
            log.debug("template cache entry %s not written (%s)", bucket.key, e)


_OPTIONS: dict[str, Any] = {"undefined": jinja2.StrictUndefined, "trim_blocks": True,
                            "lstrip_blocks": True, "keep_trailing_newline": True}


def _cache(kind: str) -> jinja2.BytecodeCache | None:
    """Where compiled templates are kept between runs (compiling them is most of the cost of
    writing a small HTML or Markdown report): `$XDG_CACHE_HOME/dr-guard` or `~/.cache/dr-guard`,
    one folder per escaping mode and jinja2 version, since both change the compiled code.
    Only a folder no other user can write or swap is used (its entries are code:
    `auditor.usercache`); without one, templates are compiled each run."""
    # jinja2 keys an entry by template name and checks its source only: whatever else changes
    # the compiled code (the options, jinja2, this package) names the folder
    stamp = hashlib.sha256(repr((sorted((k, str(v)) for k, v in _OPTIONS.items()),
                                 __version__)).encode()).hexdigest()[:12]
    folder = usercache.private_folder(f"templates-{kind}-jinja2-{jinja2.__version__}-{stamp}")
    if folder is None:
        return None
    return _SafeCache(str(folder))


@functools.cache
def environment() -> jinja2.Environment:
    """The template environment: package templates, autoescape on, strict undefined."""
    env = jinja2.Environment(loader=jinja2.PackageLoader("auditor", "templates"),
                             autoescape=True, bytecode_cache=_cache("html"), **_OPTIONS)
    env.filters["when"] = when
    env.filters["plural"] = plural
    # inert Markdown for the .md.j2 templates: identifiers as code spans, prose escaped and
    # defanged, short table cells escaped and cut (auditor.reports.escape)
    env.filters["md_code"] = escape.code
    env.filters["md_text"] = escape.md
    env.filters["md"] = escape.md
    return env


@functools.cache
def text_environment() -> jinja2.Environment:
    """The same templates and filters without HTML escaping (Markdown, plain text), with a
    cache of its own: the same template compiles differently with escaping off."""
    return environment().overlay(autoescape=False, bytecode_cache=_cache("text"))


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
