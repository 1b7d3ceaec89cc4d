"""Where `--history` keeps one small JSON document per run: a folder, or `s3://BUCKET/PREFIX`.

A nightly CI runner keeps nothing between runs, so the history may live in S3. Both stores
only ever *add* a document (a new name per run; S3 with `If-None-Match: *`, so an existing
object is never rewritten) and read documents back through the hardened reader
(drguard.inputs: size, depth and integer bounds, NaN and infinities refused). A document that
cannot be read or parsed is skipped with a warning naming it, never fatal.

The S3 store has its own session, separate from the scan's and the drill's: its guard lets
reads through and one write, `PutObject` of a key under the store's prefix, nothing else
(`auditor.aws.MutatingCallError` before the request is built).
"""

from __future__ import annotations

import argparse
import logging
import re
from collections.abc import Callable
from dataclasses import field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from drguard import inputs
from drguard.errors import ConfigError
from drguard.records import record

if TYPE_CHECKING:
    from .aws import AwsOptions

log = logging.getLogger(__name__)

LIMITS = inputs.Limits(max_bytes=1 << 20, max_depth=16)
MAX_OBJECTS = 2000  # newest first; a history is a summary per run, not an archive


Accept = Callable[[str], bool]


def accept_all(_name: str) -> bool:
    return True


class HistoryStore(Protocol):
    """What a history is to its users: named JSON documents, appended, read back."""

    @property
    def where(self) -> str: ...

    def read(self, accept: Accept = accept_all, limit: int = MAX_OBJECTS) -> tuple[
        list[tuple[str, Any]], int]: ...

    def append(self, name: str, doc_text: str) -> str: ...


@record
class DirStore:
    """--history DIR: one file per run."""

    path: Path

    @property
    def where(self) -> str:
        return str(self.path)

    def read(self, accept: Accept = accept_all, limit: int = MAX_OBJECTS) -> tuple[
            list[tuple[str, Any]], int]:
        """(name, document) of the last `limit` *.json files by name that `accept`, sorted by
        name; and how many were skipped."""
        if not self.path.is_dir():
            return [], 0
        out, skipped = [], 0
        for f in sorted(f for f in self.path.glob("*.json") if accept(f.name))[-limit:]:
            try:
                out.append((f.name, inputs.load(f, "history entry", "json", LIMITS)))
            except inputs.FileRefused as e:
                log.warning("--history: %s; skipped", e)
                skipped += 1
        return out, skipped

    def append(self, name: str, doc_text: str) -> str:
        self.path.mkdir(parents=True, exist_ok=True)
        for candidate in candidate_names(name):
            out = self.path / candidate
            try:
                with out.open("x", encoding="utf-8") as fh:  # never rewrite another run's file
                    fh.write(doc_text)
                return str(out)
            except FileExistsError:
                continue
        raise ConfigError(f"--history {self.path}: {name} and its variants already exist")


def candidate_names(name: str, tries: int = 5) -> list[str]:
    """`name`, then `stem-2.json`, ...: two runs in the same instant both keep their entry."""
    stem, dot, ext = name.rpartition(".")
    return [name, *(f"{stem}-{i}{dot}{ext}" for i in range(2, tries + 1))]


def parse_s3(url: str) -> tuple[str, str]:
    """(bucket, prefix ending in '/' or empty) of s3://BUCKET[/PREFIX]; ValueError if not."""
    if not url.startswith("s3://"):
        raise ValueError(f"{url!r} is not s3://BUCKET[/PREFIX]")
    bucket, _, prefix = url[5:].partition("/")
    if not bucket or "/" in bucket:
        raise ValueError(f"{url!r}: no bucket name (s3://BUCKET[/PREFIX])")
    prefix = prefix.strip("/")
    return bucket, f"{prefix}/" if prefix else ""


@record
class AppendGuard:
    """Reads, and `s3:PutObject` of a new key under `bucket/prefix`; anything else refused."""

    bucket: str
    prefix: str
    refused: list[str] = field(default_factory=list)

    def check(self, service: str, operation: str, params: dict[str, Any]) -> None:
        from .aws import MutatingCallError, is_read_only

        if is_read_only(operation):
            return
        key = str(params.get("Key") or "")
        why = ""
        if (service, operation) != ("s3", "PutObject"):
            why = "the history store only adds objects"
        elif params.get("Bucket") != self.bucket or not key.startswith(self.prefix):
            why = f"s3://{params.get('Bucket')}/{key} is outside s3://{self.bucket}/{self.prefix}"
        elif params.get("IfNoneMatch") != "*":
            why = "a history object is only written when no object has its key"
        if why:
            self.refused.append(f"{service}:{operation}")
            raise MutatingCallError(f"refusing to call {service}:{operation}: {why}")

    def _before_parameter_build(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        self.check(model.service_model.service_name, model.name, params)

    def install(self, session: Any) -> None:
        session.register("before-parameter-build", self._before_parameter_build,
                         unique_id="dr-history-guard")


class S3Store:
    """--history s3://BUCKET/PREFIX, through a session of its own guarded by AppendGuard."""

    def __init__(self, url: str, options: AwsOptions) -> None:
        self.bucket, self.prefix = parse_s3(url)
        self.where = f"s3://{self.bucket}/{self.prefix}"
        self.guard = AppendGuard(self.bucket, self.prefix)
        import boto3  # only when the history is in S3
        import botocore.session

        from .aws import DEFAULT_REGION, observed_client

        core = botocore.session.Session(profile=options.profile)
        self.guard.install(core)
        session = boto3.Session(botocore_session=core, region_name=options.region
                                or core.get_config_variable("region") or DEFAULT_REGION)
        self.client = observed_client(session.client("s3", endpoint_url=options.endpoint_url,
                                                     config=options.config()))

    def read(self, accept: Accept = accept_all, limit: int = MAX_OBJECTS) -> tuple[
            list[tuple[str, Any]], int]:
        from botocore.exceptions import BotoCoreError, ClientError

        keys: list[str] = []
        try:
            for page in self.client.get_paginator("list_objects_v2").paginate(
                    Bucket=self.bucket, Prefix=self.prefix):
                keys += [k for o in page.get("Contents") or () if (k := str(o["Key"])).endswith(
                    ".json") and "/" not in k[len(self.prefix):] and accept(k[len(self.prefix):])]
        except (ClientError, BotoCoreError) as e:
            raise ConfigError(f"--history {self.where}: cannot list it ({e})") from None
        out, skipped = [], 0
        for key in sorted(keys)[-limit:]:
            where = f"s3://{self.bucket}/{key}"
            try:
                body = self.client.get_object(Bucket=self.bucket, Key=key)["Body"]
                data = body.read(LIMITS.max_bytes + 1)
                if len(data) > LIMITS.max_bytes:
                    raise inputs.FileRefused(f"{where}: history entry larger than "
                                             f"{LIMITS.max_bytes} bytes")
                text = inputs.decode(data, where, "history entry")
                doc = inputs.parse_json(text, where, "history entry", LIMITS)
            except (ConfigError, ClientError, BotoCoreError) as e:
                text = inputs.one_line(str(e))
                log.warning("--history: %s; skipped", text if where in text
                            else f"{where}: {text}")
                skipped += 1
                continue
            out.append((key[len(self.prefix):], doc))
        return out, skipped

    def append(self, name: str, doc_text: str) -> str:
        from botocore.exceptions import BotoCoreError, ClientError

        for candidate in candidate_names(name):
            key = self.prefix + candidate
            try:
                self.client.put_object(Bucket=self.bucket, Key=key, Body=doc_text.encode(),
                                       ContentType="application/json", IfNoneMatch="*")
                return f"s3://{self.bucket}/{key}"
            except ClientError as e:
                if e.response.get("Error", {}).get("Code") == "PreconditionFailed":
                    continue  # another run has that key: never rewritten, try the next name
                raise ConfigError(f"--history {self.where}: cannot add {key} ({e})") from None
            except BotoCoreError as e:
                raise ConfigError(f"--history {self.where}: cannot add {key} ({e})") from None
        raise ConfigError(f"--history {self.where}: {name} and its variants already exist")


# `scheme:/...`, two letters or more (a Windows drive, `C:/x`, is a folder)
_URL_LIKE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]+:/")


def history_arg(value: str) -> Path | str:
    """argparse type of --history: a folder (Path) or an s3:// URL (str, checked). Any other
    URL (`s3:/b`, `https://...`, `gs://...`) is refused: taken as a folder, it would keep the
    history in a local directory named `s3:` that a CI runner throws away."""
    if value.startswith("s3://"):
        try:
            parse_s3(value)
        except ValueError as e:
            raise argparse.ArgumentTypeError(str(e)) from None
        return value
    if _URL_LIKE.match(value):
        raise argparse.ArgumentTypeError(f"{value!r} is neither a folder nor "
                                         "s3://BUCKET[/PREFIX] (the only URL a history takes)")
    return Path(value)


def open_store(location: Path | str | HistoryStore, options: AwsOptions | None = None
               ) -> HistoryStore:
    """The store of a --history value (a folder, s3://..., or a store already open)."""
    if isinstance(location, str) and location.startswith("s3://"):
        from .aws import AwsOptions

        return S3Store(location, options or AwsOptions())
    if isinstance(location, str | Path):
        return DirStore(Path(location))
    return location

