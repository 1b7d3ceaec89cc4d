"""Sources -> files (fetched by threads, parsed and matched by processes, bounded) -> hits ->
findings.

Listing and downloads run in the parent (threads: they wait on the network), through one
read-only-guarded S3 client. Parsing and matching run in `min(workers, CPUs)` forked worker
processes, started before the listing, each reading one file at a time in bounded memory
(`reader`), and returning only the records that matched a detection. Consecutive small files
go to a process together (up to `BATCH_FILES` files and `BATCH_BYTES` bytes), so that many
small files do not pay one hand-over each; results come back in listing order. At most
max(2 x workers, `BATCH_FILES`) files are being fetched and 2 x processes batches parsed; a
download larger than `sources.IN_MEMORY` waits on disk, not in memory. Every record is
judged on its own: one that cannot be read or judged is skipped and counted (file and index)
in `skipped_detail`.
"""

from __future__ import annotations

import datetime as dt
import logging
import multiprocessing
import os
import sys
import tempfile
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from drguard.findings import Finding
from drguard.settings import Settings

from . import detect, reader, records
from .detect import TRAIL_BUCKET, Detector, Hit, changes, refused_calls
from .sources import LocalSource, LogObject, S3Source, Source, SourceError, parse_source, where
from .window import Window

log = logging.getLogger(__name__)

WORKERS = 8
# Beside the source's own reads (sources.CALLS): the trail bucket's region.
CALLS = ("s3:HeadBucket",)
DETAIL_CAP = 50  # skipped_detail entries kept (the counts are always complete)
BATCH_FILES = 16  # files handed to a parse process at once, at most
BATCH_BYTES = 1 << 20  # (gzipped) bytes handed to a parse process at once, beyond one file


def s3_client(session: Any, bucket: str, endpoint_url: str | None, workers: int) -> Any:
    """A read-only S3 client in the bucket's own region, with the auditor's retry settings;
    log files are large, hence the longer read timeout and a connection per download. The
    read-only guard is put on the client itself, whatever session it came from."""
    from ..aws import AwsOptions, guard_client

    cfg = AwsOptions(connect_timeout=10, read_timeout=60,
                     max_pool_connections=max(10, workers + 2)).config()
    region = session.region_name or "us-east-1"
    client = guard_client(session.client("s3", region_name=region, endpoint_url=endpoint_url,
                                         config=cfg))
    if endpoint_url:
        return client
    found = _bucket_region(client, bucket)
    if found and found != region:
        client = guard_client(session.client("s3", region_name=found, config=cfg))
    return client


def logs_session(endpoint_url: str | None = None) -> Any:
    """The boto3 session of `dr-audit logs`: the standard chain, read-only guarded."""
    from ..aws import AwsOptions, base_session

    return base_session(AwsOptions(endpoint_url=endpoint_url))


def _bucket_region(client: Any, bucket: str) -> str | None:
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        meta = client.head_bucket(Bucket=bucket)["ResponseMetadata"]
    except ClientError as e:
        meta = e.response.get("ResponseMetadata", {})
    except BotoCoreError:
        return None
    return (meta.get("HTTPHeaders") or {}).get("x-amz-bucket-region")


# ---- per file: read, then judge each candidate record on its own ---------------------------

_STATE: tuple[reader.Matcher, Detector, Window] | None = None


def _init(matcher: reader.Matcher, detector: Detector, window: Window) -> None:
    global _STATE
    _STATE = (matcher, detector, window)


def _work(name: str, blob: reader.Blob) -> reader.FileResult:
    """Read one file and keep the in-window records that match a detection (in a worker
    process, or inline). A record whose judging raises is skipped and counted."""
    assert _STATE is not None
    matcher, detector, window = _STATE
    res = reader.read(name, blob, matcher)
    for i, (where_, rec) in enumerate(res.records):
        try:
            # what the detector sees: the same admission as an Athena row
            matched, problem = records.examine(rec, window, detector, i in res.shallow)
            if problem:
                res.skipped.append((where_, problem))
                continue
        except Exception as e:  # noqa: BLE001 - one strange record never stops the file
            res.skipped.append((where_, f"{reader.event_ref(rec)}cannot be judged: "
                                        f"{type(e).__name__}: {str(e)[:200]}"))
            continue
        if matched:
            res.hits.append((where_, rec, matched))
    res.records = []
    return res


def _work_many(jobs: list[tuple[str, reader.Blob]]) -> list[reader.FileResult]:
    """`_work` for each file of a batch: an unexpected failure costs its own file only (its
    batch-mates are read), inline as in a process."""
    out = []
    for name, blob in jobs:
        try:
            out.append(_work(name, blob))
        except Exception as e:  # noqa: BLE001 - skipped and counted as that file's error
            out.append(reader.FileResult(name, error=f"reader failed: {type(e).__name__}: "
                                                     f"{str(e)[:200]}"))
    return out


def _done(value: Any) -> Future[Any]:
    f: Future[Any] = Future()
    f.set_result(value)
    return f


def _size(blob: reader.Blob) -> int:
    if isinstance(blob, bytes):
        return len(blob)
    try:
        return blob.stat().st_size
    except OSError:
        return BATCH_BYTES  # alone: its reader will say what is wrong


class _Parsers:
    """Runs `_work` in forked processes (`procs` > 1, on Linux), else inline."""

    def __init__(self, procs: int, state: tuple[reader.Matcher, Detector, Window]) -> None:
        _init(*state)
        reader.tune_malloc()  # inherited by the forked processes
        self.pool: Executor | None = None
        if procs > 1 and sys.platform.startswith("linux"):  # fork is safe there, not on macOS
            # compiled once here and inherited, not once per process
            state[0].prepare()
            # fork: the detector is inherited, not pickled; the processes start now (the
            # first submit forks them all), before the listing and the download threads
            self.pool = ProcessPoolExecutor(procs, multiprocessing.get_context("fork"),
                                            initializer=_init, initargs=state)
            self.pool.submit(int)

    def submit(self, jobs: list[tuple[str, reader.Blob]]) -> Future[list[reader.FileResult]]:
        if self.pool is not None:
            try:
                return self.pool.submit(_work_many, jobs)
            except Exception as e:  # noqa: BLE001 - a broken pool: read inline from now on
                log.warning("log reader processes failed (%s); reading in this process", e)
                self.pool = None
        return _done(_work_many(jobs))

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(cancel_futures=True)


def _fetch(obj: LogObject, spool: Path) -> reader.Blob | reader.FileResult:
    if obj.error:
        return reader.FileResult(obj.name, error=obj.error)
    try:
        return obj.fetch(spool)
    except Exception as e:  # noqa: BLE001 - any read failure skips the file, the run goes on
        return reader.FileResult(obj.name, error=f"cannot read: {e}")


def _result(obj: LogObject, fut: Future[list[reader.FileResult]], index: int,
            blob: reader.Blob | None) -> reader.FileResult:
    try:
        return fut.result()[index]
    except Exception as e:  # noqa: BLE001 - e.g. a worker killed: its files are not read
        return reader.FileResult(obj.name, error=f"reader failed: {type(e).__name__}: {e}")
    finally:
        if isinstance(blob, Path) and not obj.local:
            blob.unlink(missing_ok=True)


def results(objects: Iterable[LogObject], matcher: reader.Matcher, detector: Detector,
            window: Window, workers: int = WORKERS) -> Iterator[reader.FileResult]:
    """Fetch (threads) and parse (processes) files, at most 2 x `workers` being fetched and
    2 x processes batches parsed, yielded in listing order."""
    workers = max(1, workers)
    procs = min(workers, os.cpu_count() or 1)
    parsers = _Parsers(procs, (matcher, detector, window))
    limit = max(2 * workers, BATCH_FILES)
    parse_slots = 2 * max(1, procs)
    cap = parse_slots * BATCH_FILES  # files parsed or waiting to be yielded, at most
    it = iter(objects)
    fetching: deque[tuple[LogObject, Future[reader.Blob | reader.FileResult]]] = deque()
    # each file: its object, the future of its batch, its place in the batch, its blob
    parsing: deque[tuple[LogObject, Future[list[reader.FileResult]], int,
                         reader.Blob | None]] = deque()
    batches: list[Future[list[reader.FileResult]]] = []  # submitted, not done
    try:
        with tempfile.TemporaryDirectory(prefix="dr-audit-logs-") as spool, \
                ThreadPoolExecutor(workers, thread_name_prefix="dr-audit-logs") as io:
            exhausted = False
            while True:
                while not exhausted and len(fetching) < limit:
                    obj = next(it, None)
                    if obj is None:
                        exhausted = True
                    elif obj.local or obj.error:  # nothing to download
                        done: Future[Any] = _done(_fetch(obj, Path(spool)))
                        fetching.append((obj, done))
                    else:
                        fetching.append((obj, io.submit(_fetch, obj, Path(spool))))
                # done batches leave the count whatever their place: a process never waits
                # for the oldest batch to be yielded (`cap` bounds what waits)
                batches = [b for b in batches if not b.done()]
                while fetching and len(batches) < parse_slots and len(parsing) < cap and (
                        fetching[0][1].done() or not parsing):
                    jobs: list[tuple[str, reader.Blob]] = []
                    members: list[tuple[LogObject, reader.Blob]] = []
                    size = 0
                    # the files fetched so far, in order, while they fit in one batch (the
                    # first fetch waited for when there is nothing else to do)
                    while fetching and (fetching[0][1].done() or not (jobs or parsing)):
                        obj, fut = fetching[0]
                        got = fut.result()
                        if isinstance(got, reader.FileResult):
                            if jobs:
                                break  # after the batch, in order
                            fetching.popleft()
                            parsing.append((obj, _done([got]), 0, None))
                            continue
                        grown = size + _size(got)
                        if jobs and (grown > BATCH_BYTES or len(jobs) >= BATCH_FILES):
                            break
                        fetching.popleft()
                        jobs.append((obj.name, got))
                        members.append((obj, got))
                        size = grown
                    if jobs:
                        batch = parsers.submit(jobs)
                        batches.append(batch)
                        parsing.extend((obj, batch, i, blob)
                                       for i, (obj, blob) in enumerate(members))
                if parsing:
                    yield _result(*parsing.popleft())
                elif exhausted and not fetching:
                    break
    finally:
        parsers.close()


# ---- the run --------------------------------------------------------------------------------

class _Run:
    """Counters for the run metadata."""

    def __init__(self, sources: list[Source], window: Window) -> None:
        self.meta: dict[str, Any] = {
            "command": "logs", "sources": [str(s) for s in sources], **window.describe(),
            "files": 0, "records_decoded": 0, "fallback_full_parse": 0, "events": 0,
            "attempts": 0, "skipped": {"sources": 0, "files": 0, "records": 0},
            "skipped_detail": [], "utf8_replaced": 0, "inflate": reader.INFLATE}
        self.accounts: set[str] = set()
        self.regions: set[str] = set()
        self.empty: list[str] = []  # sources that listed no log file and failed nowhere

    def skip(self, kind: str, name: str, reason: str, record: str | None = None) -> None:
        self.meta["skipped"][kind] += 1
        if record is None:
            log.warning("%s: skipped: %s", name, reason)
        if len(self.meta["skipped_detail"]) < DETAIL_CAP:
            entry = {"path": name, "reason": f"{record}: {reason}" if record else reason}
            if record is not None:
                entry["record"] = record
            self.meta["skipped_detail"].append(entry)

    def done(self) -> dict[str, Any]:
        self.meta["accounts"] = sorted(self.accounts)
        self.meta["regions"] = sorted(self.regions)
        return self.meta


def collect(sources: Iterable[str], window: Window, settings: Settings,
            endpoint_url: str | None = None, workers: int = WORKERS, session: Any = None,
            progress: Callable[[int], None] | None = None) -> tuple[list[Hit], dict[str, Any]]:
    """Every detection hit in the window, and the run metadata (files, skipped counts...).

    `sources` are `s3://bucket/prefix` URIs or local files/folders (ConfigError if malformed
    or missing). A trail bucket read as a source is itself a backup bucket (trail destination).
    `meta["files"]` counts the files listed (read or skipped): 0 means nothing was read.
    """
    parsed = [parse_source(s) for s in sources]
    extra = {s.bucket: TRAIL_BUCKET for s in parsed if isinstance(s, S3Source)}
    detector = Detector(settings, extra)
    matcher = reader.Matcher(detector.names)
    run = _Run(parsed, window)
    hits: list[Hit] = []
    objects = _objects(parsed, window, endpoint_url, workers, session, run)
    for res in results(objects, matcher, detector, window, workers):
        run.meta["files"] += 1
        if progress:
            progress(run.meta["files"])
        loc = where(res.name)
        if loc:
            run.accounts.add(loc[0])
            run.regions.add(loc[1])
        if res.error:
            run.skip("files", res.name, res.error)
            continue
        run.meta["fallback_full_parse"] += res.full_parse
        run.meta["records_decoded"] += res.candidates
        if res.replaced:
            run.meta["utf8_replaced"] += res.replaced
            log.warning("%s: %d invalid UTF-8 sequence(s) replaced", res.name, res.replaced)
        for where_, rec, matched in res.hits:
            try:
                found = detector.build(rec, matched)
            except Exception as e:  # noqa: BLE001 - one strange record never stops the run
                res.skipped.append((where_, f"{reader.event_ref(rec)}cannot be judged: "
                                            f"{type(e).__name__}: {str(e)[:200]}"))
                continue
            for h in found:
                hits.append(h)
                run.accounts.add(h.account)
                run.regions.add(h.region)
        if res.skipped:
            log.warning("%s: skipped %d record(s): %s", res.name, len(res.skipped),
                        "; ".join(f"{w}: {r}" for w, r in res.skipped[:5]))
            for where_, reason in res.skipped:
                run.skip("records", res.name, reason, record=where_)
    run.meta["events"] = changes(hits)
    run.meta["attempts"] = refused_calls(hits)
    if run.meta["files"] == 0:
        log.warning("no CloudTrail log file found in %s: the run is incomplete",
                    ", ".join(run.meta["sources"]))
    else:
        # a SOURCE that gave nothing (a mistyped prefix, another layout) was not read: the
        # other sources' files never make it look read (no file at all is `noLogFiles`)
        for name in run.empty:
            run.skip("sources", name, "no CloudTrail log file found"
                     + (" in the window" if window.since or window.until else ""))
    return hits, run.done()


def _objects(sources: list[Source], window: Window, endpoint_url: str | None, workers: int,
             session: Any, run: _Run) -> Iterator[LogObject]:
    def folder_error(path: str, reason: str) -> None:
        run.skip("sources", path, reason)

    for src in sources:
        failed, listed = run.meta["skipped"]["sources"], 0
        try:
            if isinstance(src, LocalSource):
                objs = src.objects(window, folder_error)
            else:
                if session is None:
                    session = logs_session(endpoint_url)
                objs = src.objects(window, s3_client(session, src.bucket, endpoint_url,
                                                     workers), folder_error)
            for obj in objs:
                listed += 1
                yield obj
        except (SourceError, OSError) as e:
            run.skip("sources", str(src), str(e))
        except Exception as e:  # noqa: BLE001 - e.g. no credentials: report, go on
            run.skip("sources", str(src), f"{type(e).__name__}: {e}")
        if not listed and run.meta["skipped"]["sources"] == failed:
            run.empty.append(str(src))


def run_logs(sources: Iterable[str], since: dt.datetime | None, until: dt.datetime | None,
             settings: Settings, endpoint_url: str | None = None, workers: int = WORKERS,
             session: Any = None) -> tuple[list[Finding], dict[str, Any]]:
    """`dr-audit logs` without the report writing: (findings, run metadata)."""
    hits, meta = collect(sources, Window(since, until), settings, endpoint_url, workers,
                         session)
    return detect.findings(hits, settings), meta
