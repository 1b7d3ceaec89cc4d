"""Pulumi state backends as a source: which stack manages each resource.

`--backend` takes what Pulumi itself takes:
- `s3://BUCKET[/PREFIX]`: the self-managed layout, `.pulumi/stacks/<project>/<stack>.json`
  (or `.json.gz`), read through the read-only S3 client. `.bak` files and `.pulumi/history/`
  hold old checkpoints naming resources that may no longer be managed: never read.
- `file://DIR`: the same layout on disk.
- `https://api.pulumi.com` or a self-hosted Pulumi Cloud URL: the REST API lists the
  organization's stacks (paginated by continuationToken) and exports each one; the token comes
  from PULUMI_ACCESS_TOKEN and is only ever put in the Authorization header.

Checkpoints are streamed (ijson): only the few strings each resource is known by are kept
(drguard.stateindex). A checkpoint or stack that cannot be read or parsed is counted in
`skipped.checkpoints` (the run is incomplete), never silently left out.
"""

from __future__ import annotations

import collections
import functools
import gzip
import io
import ipaddress
import json
import logging
import os
import urllib.error
import urllib.parse
import urllib.request
import zlib
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import field
from pathlib import Path
from typing import IO, Any

import ijson
import msgspec
import msgspec.structs
from botocore.exceptions import BotoCoreError, ClientError

from drguard.errors import ConfigError
from drguard.records import record
from drguard.stateindex import (
    ARN_OUTPUTS,
    NAME_OUTPUTS,
    PLACE_OUTPUTS,
    REPLICA_OUTPUTS,
    StateIndex,
)

log = logging.getLogger(__name__)

STACKS_DIR = ".pulumi/stacks/"
# What reading an s3:// backend sends: list the stack checkpoints, then fetch the latest of
# each stack.
S3_CALLS = ("s3:ListObjectsV2", "s3:GetObject")
# where the resources are in a backend checkpoint file, and in a `pulumi stack export`
CHECKPOINT_ITEMS = "checkpoint.latest.resources.item"
EXPORT_ITEMS = "deployment.resources.item"
TOKEN_ENV = "PULUMI_ACCESS_TOKEN"
CLOUD_TIMEOUT = 60.0


@record
class BackendRun:
    """What the backends gave: run-info for the reports (`run["backends"]`)."""

    urls: list[str] = field(default_factory=list)
    stacks: int = 0
    resources: int = 0
    unread: list[str] = field(default_factory=list)  # "<where>: <why>", never a token
    state_buckets: set[str] = field(default_factory=set)

    def public_urls(self) -> list[str]:
        """The backend URLs as a report may name them (no user name or password)."""
        return [_public(u) for u in self.urls]

    def to_run(self) -> dict[str, Any]:
        return {"urls": self.public_urls(), "stacks": self.stacks,
                "resources": self.resources, "unread": list(self.unread),
                "skipped": {"checkpoints": len(self.unread)}}


def check_url(url: str) -> str:
    """A usage error (ConfigError) for a URL no reader takes."""
    try:
        p = urllib.parse.urlparse(url)
    except ValueError as e:  # e.g. an unclosed [ in the host
        raise ConfigError(f"--backend {_public(url)!r}: not a URL ({e})") from None
    if p.scheme == "s3" and p.netloc:
        return url
    if p.scheme == "file" and (p.path or p.netloc):
        return url
    if p.scheme == "https" and p.netloc:
        return url
    if p.scheme == "http" and p.netloc:
        if _loopback(p.hostname):
            return url
        raise ConfigError(f"--backend {_public(url)!r}: plain http would send the Pulumi "
                          "access token unencrypted across the network; use https:// (http "
                          "is taken for a loopback address only)")
    raise ConfigError(f"--backend {_public(url)!r}: expected s3://BUCKET[/PREFIX], file://DIR "
                      "or https://api.pulumi.com (or a self-hosted Pulumi Cloud URL)")


def _public(url: str) -> str:
    """`url` as an error may print it: without a user name or password before the host
    (read as text: the URL may not parse)."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        scheme, rest = "", url
    end = min((i for i in (rest.find(c) for c in "/?#") if i >= 0), default=len(rest))
    authority = rest[:end]
    if "@" not in authority:
        return url
    return f"{scheme}{sep}***@{authority.rsplit('@', 1)[1]}{rest[end:]}"


def _loopback(host: str | None) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host or "").is_loopback
    except ValueError:
        return False


def stack_of(key: str) -> str | None:
    """`<prefix>/.pulumi/stacks/proj/dev.json[.gz]` -> `proj/dev`; None for what is not a
    current checkpoint (`.bak`, history, anything else)."""
    if "/.pulumi/history/" in "/" + key or not ("/" + key).count("/" + STACKS_DIR):
        return None
    rel = ("/" + key).split("/" + STACKS_DIR, 1)[1]
    for ext in (".json.gz", ".json"):
        if rel.endswith(ext):
            return rel[: -len(ext)] or None
    return None


# A checkpoint up to this size (decompressed) is read at once and decoded by msgspec into
# only the fields the index keeps (~10x faster than streaming it through ijson, which builds
# every property of every resource); a larger one, or one msgspec cannot read as a
# checkpoint, is streamed by ijson, so memory stays bounded whatever its size.
WHOLE_LIMIT = 64 << 20
# S3 objects up to this size are fetched ahead, PREFETCH at a time (see read_s3).
PREFETCH = 1
PREFETCH_MAX = 16 << 20
_CHUNK = 1 << 20

_Outputs = msgspec.defstruct("_Outputs", [(k, Any, None) for k in dict.fromkeys(
    (*ARN_OUTPUTS, *NAME_OUTPUTS, *PLACE_OUTPUTS, *REPLICA_OUTPUTS))])
_Inputs = msgspec.defstruct("_Inputs", [(k, Any, None) for k in PLACE_OUTPUTS])


class _Resource(msgspec.Struct):
    urn: Any = None
    type: Any = None
    id: Any = None
    custom: Any = None
    external: Any = None
    delete: Any = None
    provider: Any = None
    outputs: _Outputs | None = None  # type: ignore[valid-type]
    inputs: _Inputs | None = None  # type: ignore[valid-type]


class _Resources(msgspec.Struct):
    resources: list[_Resource] | None = None


class _Checkpoint(msgspec.Struct):
    latest: _Resources | None = None


class _CheckpointFile(msgspec.Struct):
    checkpoint: _Checkpoint | None = None


class _ExportFile(msgspec.Struct):
    deployment: _Resources | None = None


_DECODERS: dict[str, msgspec.json.Decoder[Any]] = {
    CHECKPOINT_ITEMS: msgspec.json.Decoder(_CheckpointFile),
    EXPORT_ITEMS: msgspec.json.Decoder(_ExportFile)}


class _Replay:
    """A stream that first gives back the chunks already read from `rest`, then the rest."""

    def __init__(self, chunks: list[bytes], rest: IO[bytes]) -> None:
        self._chunks = chunks[::-1]
        self._rest = rest

    def read(self, n: int = -1) -> bytes:
        if not self._chunks:
            return self._rest.read(n)
        if n == 0:
            return b""  # ijson's probe for bytes or text
        chunk = self._chunks.pop()
        if 0 < n < len(chunk):
            self._chunks.append(chunk[n:])
            chunk = chunk[:n]
        return chunk


def _whole(stream: IO[bytes], gz: bool, limit: int) -> tuple[bytes | None, list[bytes]]:
    """(the JSON text, the raw chunks read): the text is None when it is larger than `limit`
    (or its gzip stream is not one complete member), and the stream then continues after the
    chunks."""
    chunks: list[bytes] = []
    parts: list[bytes] = []
    size = 0
    inflate = zlib.decompressobj(31) if gz else None
    while True:
        chunk = stream.read(_CHUNK)
        if not chunk:
            break
        chunks.append(chunk)
        if inflate is not None:
            if inflate.eof:
                return None, chunks  # data after the first member: leave it to GzipFile
            try:
                chunk = inflate.decompress(chunk, limit + 1 - size)
            except zlib.error:
                return None, chunks  # not gzip: GzipFile raises its own error
        parts.append(chunk)
        size += len(chunk)
        if size > limit:
            return None, chunks
    if inflate is not None and (not inflate.eof or inflate.unused_data):
        return None, chunks  # truncated, or several members: GzipFile says which
    chunks.clear()  # the text is all that is needed now (memory)
    text = b"".join(parts)
    parts.clear()
    return text, chunks


def _decoded(text: bytes, prefix: str) -> list[Any] | None:
    """The resources at `prefix`, decoded into the fields the index reads; None when msgspec
    does not read the text as that shape (ijson then reads it as before, errors included)."""
    try:
        doc = _DECODERS[prefix].decode(text)
    except (msgspec.DecodeError, RecursionError):
        return None
    body = doc.checkpoint.latest if isinstance(doc, _CheckpointFile) and doc.checkpoint \
        else doc.deployment if isinstance(doc, _ExportFile) else None
    return (body.resources if body is not None else None) or []


def _items(stream: IO[bytes], gz: bool, prefix: str,
           limit: int | None = None) -> Iterator[dict[str, Any]]:
    # WHOLE_LIMIT read now, not when defined: a test sets it to take the streaming path
    text, chunks = _whole(stream, gz, WHOLE_LIMIT if limit is None else limit)
    if text is not None:
        resources = _decoded(text, prefix)
        if resources is None:  # the whole text, already inflated: ijson reads it as it was
            yield from ijson.items(io.BytesIO(text), prefix, use_float=True)
            return
        del text
        for r in resources:
            o, i = r.outputs, r.inputs
            yield {"urn": r.urn, "type": r.type, "id": r.id, "custom": r.custom,
                   "external": r.external, "delete": r.delete, "provider": r.provider,
                   # every field the index reads, the absent ones None
                   "outputs": msgspec.structs.asdict(o) if o is not None else None,
                   "inputs": msgspec.structs.asdict(i) if i is not None else None}
        return
    body: Any = _Replay(chunks, stream)
    if gz:
        body = gzip.GzipFile(fileobj=body, mode="rb")
    yield from ijson.items(body, prefix, use_float=True)


def _index(index: StateIndex, run: BackendRun, stack: str, where: str,
           open_stream: Callable[[], Any], gz: bool, prefix: str) -> None:
    """Stream one checkpoint into the index; a failure is counted, and the resources it had
    yielded so far still name their stack (they are managed, whatever else is unreadable)."""
    try:
        with open_stream() as stream:
            n = index.add_stack(stack, _items(stream, gz, prefix))
    except (OSError, EOFError, ValueError, ijson.JSONError, ClientError, BotoCoreError) as e:
        why = type(e).__name__ if isinstance(e, (ClientError, BotoCoreError)) else str(e)
        if isinstance(e, ClientError):
            why = str(e.response.get("Error", {}).get("Code") or why)
        log.warning("backend %s: cannot read the checkpoint of %s: %s", where, stack, why)
        run.unread.append(f"{where}: {why}"[:300])
        return
    run.stacks += 1
    run.resources += n


def _latest(candidates: dict[str, tuple[Any, str]], stack: str, when: Any, key: str) -> None:
    """Keep one checkpoint per stack (a bucket that moved to gzip may hold both forms)."""
    old = candidates.get(stack)
    if old is None or (when is not None and (old[0] is None or when > old[0])):
        candidates[stack] = (when, key)


def read_s3(url: str, s3: Any, index: StateIndex, run: BackendRun) -> None:
    p = urllib.parse.urlparse(url)
    bucket, prefix = p.netloc, p.path.strip("/")
    root = f"{prefix}/{STACKS_DIR}" if prefix else STACKS_DIR
    run.state_buckets.add(bucket)
    found: dict[str, tuple[Any, str]] = {}
    sizes: dict[str, int] = {}
    try:
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=root):
            for o in page.get("Contents") or ():
                stack = stack_of(o["Key"])
                if stack is not None:
                    _latest(found, stack, o.get("LastModified"), o["Key"])
                    sizes[o["Key"]] = int(o.get("Size") or 0)
    except (ClientError, BotoCoreError) as e:
        code = e.response.get("Error", {}).get("Code") if isinstance(e, ClientError) else None
        run.unread.append(f"{url}: cannot list the stacks: {code or type(e).__name__}")
        return
    if not found:
        run.unread.append(f"{url}: no stack checkpoint under {root}")

    def body(key: str) -> IO[bytes]:
        return s3.get_object(Bucket=bucket, Key=key)["Body"]

    def fetch(key: str) -> bytes:
        with body(key) as stream:
            return stream.read()

    # The next checkpoints are fetched while one is indexed (the download waits on the
    # network, the index on the CPU); only small ones, so memory stays bounded.
    todo = [(stack, key) for stack, (_, key) in sorted(found.items())]
    with ThreadPoolExecutor(PREFETCH, thread_name_prefix="backend-get") as pool:
        ahead: collections.deque[tuple[str, str, Future[bytes] | None]] = collections.deque()
        for stack, key in todo:
            small = sizes.get(key, PREFETCH_MAX + 1) <= PREFETCH_MAX
            ahead.append((stack, key, pool.submit(fetch, key) if small else None))
            if len(ahead) > PREFETCH:
                _index_next(index, run, bucket, ahead.popleft(), body)
        while ahead:
            _index_next(index, run, bucket, ahead.popleft(), body)


def _index_next(index: StateIndex, run: BackendRun, bucket: str,
                item: tuple[str, str, Future[bytes] | None],
                body: Callable[[str], IO[bytes]]) -> None:
    stack, key, fetched = item
    opener: Callable[[], Any] = functools.partial(body, key) if fetched is None else \
        functools.partial(_Fetched, fetched)
    _index(index, run, stack, f"s3://{bucket}/{key}", opener, key.endswith(".gz"),
           CHECKPOINT_ITEMS)


class _Fetched(io.BytesIO):
    """A prefetched object as a stream; a failed fetch raises its error here (in _index)."""

    def __init__(self, fetched: Future[bytes]) -> None:
        super().__init__(fetched.result())


def read_file(url: str, index: StateIndex, run: BackendRun) -> None:
    p = urllib.parse.urlparse(url)
    root = Path(urllib.parse.unquote(p.netloc + p.path)).expanduser() / STACKS_DIR
    if not root.is_dir():
        run.unread.append(f"{url}: no {STACKS_DIR} directory")
        return
    found: dict[str, tuple[Any, str]] = {}
    for f in root.rglob("*"):
        rel = STACKS_DIR + f.relative_to(root).as_posix()
        stack = stack_of(rel) if f.is_file() else None
        if stack is not None:
            _latest(found, stack, f.stat().st_mtime, str(f))
    if not found:
        run.unread.append(f"{url}: no stack checkpoint under {root}")
    for stack, (_, path) in sorted(found.items()):
        _index(index, run, stack, path, functools.partial(open, path, "rb"),
               path.endswith(".gz"), CHECKPOINT_ITEMS)


class _SameOrigin(urllib.request.HTTPRedirectHandler):
    """Follows a redirect only to the same scheme, host and port: urllib would otherwise send
    the Authorization header (the Pulumi token) wherever the answer points."""

    def redirect_request(self, req: urllib.request.Request, fp: IO[bytes], code: int,
                         msg: str, headers: Any, newurl: str) -> urllib.request.Request | None:
        old, new = urllib.parse.urlsplit(req.full_url), urllib.parse.urlsplit(newurl)
        if (old.scheme, old.netloc) != (new.scheme, new.netloc):
            return None  # urllib then raises the 3xx as an HTTPError: the read fails
        return super().redirect_request(req, fp, code, msg, headers, newurl)


_OPENER = urllib.request.build_opener(_SameOrigin)
# Plain http is taken for a loopback address only (check_url): never through a proxy, which
# would carry the token in clear across the network.
_DIRECT = urllib.request.build_opener(_SameOrigin, urllib.request.ProxyHandler({}))


class _Cloud:
    """The Pulumi Cloud REST API, read-only: GET only."""

    def __init__(self, base: str, token: str) -> None:
        self.base = base.rstrip("/")
        self._opener = _DIRECT if base.lower().startswith("http:") else _OPENER
        self._headers = {"Authorization": f"token {token}",
                         "Accept": "application/vnd.pulumi+8",
                         "Content-Type": "application/json"}

    def open(self, path: str, query: dict[str, str] | None = None) -> IO[bytes]:
        url = self.base + path + ("?" + urllib.parse.urlencode(query) if query else "")
        req = urllib.request.Request(url, headers=self._headers, method="GET")
        return self._opener.open(req, timeout=CLOUD_TIMEOUT)  # noqa: S310 (https/http)

    def stacks(self, org: str | None) -> Iterator[tuple[str, str, str]]:
        """(org, project, stack) of every stack the token sees, across every page."""
        query: dict[str, str] = {"organization": org} if org else {}
        while True:
            with self.open("/api/user/stacks", query) as r:
                page = json.load(r)
            for s in page.get("stacks") or ():
                yield (str(s.get("orgName")), str(s.get("projectName")),
                       str(s.get("stackName")))
            token = page.get("continuationToken")
            if not token:
                return
            query = {**query, "continuationToken": str(token)}


def _why(e: BaseException) -> str:
    if isinstance(e, urllib.error.HTTPError):
        return f"HTTP {e.code}"
    return str(getattr(e, "reason", None) or e) or type(e).__name__


def read_cloud(url: str, org: str | None, index: StateIndex, run: BackendRun,
               env: dict[str, str] | None = None) -> None:
    env = dict(os.environ) if env is None else env
    token = env.get(TOKEN_ENV)
    label = _public(url)  # what the report and the log may name
    if not token:
        run.unread.append(f"{label}: {TOKEN_ENV} is not set")
        return
    base = url.rstrip("/")
    if urllib.parse.urlparse(base).netloc == "app.pulumi.com":
        base = "https://api.pulumi.com"
    cloud = _Cloud(base, token)
    try:
        stacks = list(cloud.stacks(org))
    except (OSError, ValueError) as e:
        run.unread.append(f"{label}: cannot list the stacks: {_why(e)}")
        return
    for o, project, stack in stacks:
        path = "/api/stacks/" + "/".join(urllib.parse.quote(x, safe="") for x in
                                          (o, project, stack)) + "/export"
        _index(index, run, f"{project}/{stack}", f"{label} {o}/{project}/{stack}",
               functools.partial(_HttpStream, cloud, path), False, EXPORT_ITEMS)


class _HttpStream:
    """An export response as a context-managed stream; HTTP errors surface as OSError."""

    def __init__(self, cloud: _Cloud, path: str) -> None:
        try:
            self._r = cloud.open(path)
        except urllib.error.HTTPError as e:
            raise OSError(_why(e)) from None

    def read(self, n: int = -1) -> bytes:
        return self._r.read(n)

    def __enter__(self) -> _HttpStream:
        return self

    def __exit__(self, *exc: Any) -> None:
        self._r.close()


def read(urls: list[str], s3_client: Callable[[], Any], org: str | None = None,
         env: dict[str, str] | None = None) -> tuple[StateIndex, BackendRun]:
    """Every backend in `urls` into one index. `s3_client()` gives the read-only S3 client
    (made only when an s3:// backend is given)."""
    index, run = StateIndex(), BackendRun(urls=list(urls))
    client = None
    for url in urls:
        scheme = urllib.parse.urlparse(check_url(url)).scheme
        if scheme == "s3":
            client = client or s3_client()
            read_s3(url, client, index, run)
        elif scheme == "file":
            read_file(url, index, run)
        else:
            read_cloud(url, org, index, run, env)
    return index, run
