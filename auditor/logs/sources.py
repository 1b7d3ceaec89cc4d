"""Where CloudTrail log files come from: local files and folders, and S3 trail buckets.

S3 listing walks the trail layout with delimiter listings and only descends into the date
folders of the window, both layouts:
    [prefix/]AWSLogs/<account>/CloudTrail/<region>/YYYY/MM/DD/<file>.json.gz
    [prefix/]AWSLogs/<org-id>/<account>/CloudTrail/<region>/YYYY/MM/DD/<file>.json.gz
Digest files (`CloudTrail-Digest/`) and other services' folders are never listed. Nothing here
downloads: each `LogObject.fetch` does, when the pipeline asks for it, streaming the body to a
temporary file beyond `IN_MEMORY` bytes. Read-only calls only (ListObjectsV2, GetObject,
HeadBucket). A file name whose time does not parse is just a file of unknown time (read).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
import stat
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from drguard.errors import ConfigError
from drguard.records import record

from .window import Window

log = logging.getLogger(__name__)

# What reading an s3:// source sends: list the log files, then fetch each one.
CALLS = ("s3:ListObjectsV2", "s3:GetObject")

SUFFIXES = (".json.gz", ".json")
_ACCOUNT = re.compile(r"^\d{12}$")
_ORG = re.compile(r"^o-[a-z0-9]{10,32}$")
_DAY_PATH = re.compile(r"CloudTrail/[^/]+/(\d{4})/(\d{2})/(\d{2})/[^/]*$")
_WHERE = re.compile(r"AWSLogs/(?:o-[a-z0-9]+/)?(\d{12})/CloudTrail/([a-z0-9-]+)/")
_LEVELS = ("regions", "years", "months", "days", "files")
IN_MEMORY = 1 << 20  # a downloaded object larger than this is spooled to a temporary file
DOWNLOAD_CHUNK = 1 << 20

Blob = bytes | Path  # a file's bytes, or the path of a file holding them


class SourceError(Exception):
    """A source that cannot be listed (missing bucket, access denied, ...)."""


@record(frozen=True)
class LogObject:
    """One log file: a display name (path or s3:// URI) and how to get it: `fetch(spool)`
    gives its bytes, or a path (the local file itself, or a download spooled under `spool`).
    `error` names a file listed but not readable (e.g. not a regular file)."""

    name: str
    fetch: Callable[[Path], Blob]
    local: bool = False
    error: str | None = None


def where(name: str) -> tuple[str, str] | None:
    """(account, region) from a CloudTrail key or path, when it follows the layout."""
    m = _WHERE.search(name.replace(os.sep, "/"))
    return (m.group(1), m.group(2)) if m else None


def is_log_name(name: str) -> bool:
    return name.endswith(SUFFIXES) and "CloudTrail-Digest" not in name


# ---- local --------------------------------------------------------------------------------

@record(frozen=True)
class LocalSource:
    """CloudTrail log files in a local folder."""

    path: Path

    def __str__(self) -> str:
        return str(self.path)

    def objects(self, window: Window,
                on_error: Callable[[str, str], None] | None = None) -> Iterator[LogObject]:
        """The log files of the window; folders that cannot be listed go to `on_error`."""
        if self.path.is_file():  # named explicitly: always read
            yield _local(self.path)
            return

        def failed(e: OSError) -> None:
            if on_error:
                on_error(str(e.filename or self.path), f"cannot list: {e.strerror or e}")

        # linked folders are followed (a trail synced elsewhere and linked in is part of the
        # source; not following it would leave it unread without a word), each real folder
        # walked once, so links that make a loop end
        seen: set[str] = set()
        for root, dirs, files in os.walk(self.path, onerror=failed, followlinks=True):
            real = os.path.realpath(root)
            if real in seen:
                dirs[:] = []
                continue
            seen.add(real)
            dirs[:] = sorted(d for d in dirs if d != "CloudTrail-Digest")
            for f in sorted(files):
                p = Path(root, f)
                if is_log_name(f) and _local_in_window(p, window):
                    yield _local(p)


def _local(path: Path) -> LogObject:
    try:
        mode = path.stat().st_mode
    except OSError as e:
        return LogObject(str(path), lambda _: path, True, f"cannot read: {e.strerror or e}")
    if not stat.S_ISREG(mode):  # a FIFO or a device would block or never end
        return LogObject(str(path), lambda _: path, True, "not a regular file")
    return LogObject(str(path), lambda _: path, True)


def _local_in_window(path: Path, window: Window) -> bool:
    m = _DAY_PATH.search(path.as_posix())
    if m:
        try:
            if not window.wants_day(dt.date(*map(int, m.groups()))):
                return False
        except ValueError:
            pass
    return window.wants_file(path.name)


# ---- S3 -----------------------------------------------------------------------------------

@record(frozen=True)
class S3Source:
    """CloudTrail log files under an S3 prefix."""

    bucket: str
    prefix: str = ""

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"

    def objects(self, window: Window, client: Any,
                on_error: Callable[[str, str], None] | None = None) -> Iterator[LogObject]:
        """The log files of the window, listed lazily (one page at a time). A folder that
        cannot be listed (or whose listing ends cut short) goes to `on_error` and the walk
        goes on with the others; without `on_error`, SourceError stops it."""
        if self.prefix.endswith(SUFFIXES):
            yield _s3(client, self.bucket, self.prefix)
            return
        prefix = self.prefix.rstrip("/") + "/" if self.prefix.strip("/") else ""
        walker = _Walker(client, self.bucket, window, on_error)
        yield from walker.walk(prefix, _level(prefix), 0)


def _level(prefix: str) -> str:
    """Where in the trail layout a user-given prefix points."""
    parts = [p for p in prefix.split("/") if p]
    if "CloudTrail" in parts:
        after = len(parts) - parts.index("CloudTrail") - 1
        return _LEVELS[min(after, len(_LEVELS) - 1)]
    if parts and parts[-1] == "AWSLogs":
        return "awslogs"
    if len(parts) >= 2 and parts[-2] == "AWSLogs" and _ORG.match(parts[-1]):
        return "org"
    if len(parts) >= 2 and _ACCOUNT.match(parts[-1]) and (
            parts[-2] == "AWSLogs" or _ORG.match(parts[-2])):
        return "account"
    return "top"


def _s3(client: Any, bucket: str, key: str) -> LogObject:
    def fetch(spool: Path) -> Blob:
        body = client.get_object(Bucket=bucket, Key=key)["Body"]
        try:
            return download(body, spool)
        finally:
            body.close()
    return LogObject(f"s3://{bucket}/{key}", fetch)


def download(body: Any, spool: Path) -> Blob:
    """A streaming body's bytes, or a temporary file under `spool` beyond IN_MEMORY bytes."""
    head = body.read(IN_MEMORY + 1)
    if len(head) <= IN_MEMORY:
        return bytes(head)
    fd, name = tempfile.mkstemp(dir=spool, suffix=".log")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(head)
            del head
            while chunk := body.read(DOWNLOAD_CHUNK):
                out.write(chunk)
    except BaseException:
        os.unlink(name)
        raise
    return Path(name)


class _Walker:
    MAX_TOP_DEPTH = 3  # custom trail prefixes above AWSLogs/

    def __init__(self, client: Any, bucket: str, window: Window,
                 on_error: Callable[[str, str], None] | None = None) -> None:
        self.client = client
        self.bucket = bucket
        self.window = window
        self.open = window.since is None and window.until is None
        self.on_error = on_error

    def _pages(self, **kw: Any) -> Iterator[dict[str, Any]]:
        from botocore.exceptions import BotoCoreError, ClientError

        where = f"s3://{self.bucket}/{kw.get('Prefix', '')}"
        last: dict[str, Any] = {}
        try:
            paginator = self.client.get_paginator("list_objects_v2")
            for last in paginator.paginate(Bucket=self.bucket, **kw):
                yield last
        except (ClientError, BotoCoreError) as e:
            raise SourceError(f"{where}: cannot list: {e}") from None
        # the paginator stops quietly on a truncated page without a token to go on
        if last.get("IsTruncated"):
            raise SourceError(f"{where}: listing truncated (no continuation token): the "
                              "rest of it is not read")

    def _guarded(self, prefix: str, listing: Iterator[LogObject]) -> Iterator[LogObject]:
        """`listing`, a SourceError handed to `on_error` (the rest of the walk goes on)."""
        try:
            yield from listing
        except SourceError as e:
            if self.on_error is None:
                raise
            self.on_error(f"s3://{self.bucket}/{prefix}", str(e))

    def children(self, prefix: str) -> Iterator[str]:
        for page in self._pages(Prefix=prefix, Delimiter="/"):
            for cp in page.get("CommonPrefixes", ()):
                yield cp["Prefix"][len(prefix):].rstrip("/")

    def files(self, prefix: str) -> Iterator[LogObject]:
        for page in self._pages(Prefix=prefix):
            for obj in page.get("Contents", ()):
                key = obj["Key"]
                if is_log_name(key) and self.window.wants_file(key.rsplit("/", 1)[-1]):
                    yield _s3(self.client, self.bucket, key)

    def walk(self, prefix: str, level: str, depth: int,
             date: tuple[int, ...] = ()) -> Iterator[LogObject]:
        if level == "files" or (self.open and level == "regions"):
            yield from self._guarded(prefix, self.files(prefix))
            return
        if self.open and level == "account":
            yield from self._guarded(prefix, self.files(prefix + "CloudTrail/"))
            return
        names: list[str] = []
        try:
            for name in self.children(prefix):
                names.append(name)
        except SourceError as e:
            if self.on_error is None:
                raise
            self.on_error(f"s3://{self.bucket}/{prefix}", str(e))  # the names listed: walked
        for name in names:
            nxt = self._next(level, name, depth, date)
            if nxt is not None:
                lvl, d = nxt
                yield from self.walk(f"{prefix}{name}/", lvl, depth + 1, d)

    def _next(self, level: str, name: str, depth: int,
              date: tuple[int, ...]) -> tuple[str, tuple[int, ...]] | None:
        """The level of child `name` under `level`, or None to skip it."""
        w = self.window
        if level == "top":
            if name == "AWSLogs":
                return "awslogs", ()
            return ("top", ()) if depth < self.MAX_TOP_DEPTH else None
        if level == "awslogs":
            if _ACCOUNT.match(name):
                return "account", ()
            return ("org", ()) if _ORG.match(name) else None
        if level == "org":
            return ("account", ()) if _ACCOUNT.match(name) else None
        if level == "account":
            return ("regions", ()) if name == "CloudTrail" else None
        if level == "regions":
            return "years", ()
        if not name.isdigit():
            return None
        n = int(name)
        try:
            if level == "years" and w.wants_year(n):
                return "months", (n,)
            if level == "months" and 1 <= n <= 12 and (not date or w.wants_month(date[0], n)):
                return "days", (*date, n)
            if level == "days" and (len(date) < 2 or w.wants_day(dt.date(date[0], date[1], n))):
                return "files", (*date, n)
        except ValueError:
            return None
        return None


# ---- parsing SOURCE arguments -------------------------------------------------------------

Source = LocalSource | S3Source


def parse_source(spec: str) -> Source:
    """`s3://bucket[/prefix]` or a local file or folder (which must exist)."""
    if spec.startswith("s3://"):
        bucket, _, prefix = spec[5:].partition("/")
        if not bucket:
            raise ConfigError(f"{spec}: expected s3://bucket[/prefix]")
        return S3Source(bucket, prefix)
    if "://" in spec:
        raise ConfigError(f"{spec}: only s3:// URIs and local paths are supported")
    path = Path(spec)
    if not path.exists():
        raise ConfigError(f"{spec}: no such file or folder")
    return LocalSource(path)
