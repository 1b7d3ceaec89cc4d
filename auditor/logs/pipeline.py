"""Sources -> files (fetched in parallel, bounded) -> candidate records -> hits -> findings."""

from __future__ import annotations

import datetime as dt
import logging
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from drguard.findings import Finding
from drguard.settings import Settings

from . import detect, reader
from .detect import Detector, Hit
from .sources import LocalSource, LogObject, S3Source, Source, SourceError, parse_source, where
from .window import Window

log = logging.getLogger(__name__)

WORKERS = 8
TRAIL_BUCKET = "CloudTrail log bucket (read as a logs source)"


def s3_client(session: Any, bucket: str, endpoint_url: str | None, workers: int) -> Any:
    """A read-only S3 client in the bucket's own region, with the auditor's retry settings;
    log files are large, hence the longer read timeout and a connection per download."""
    from ..aws import AwsOptions

    cfg = AwsOptions(connect_timeout=10, read_timeout=60,
                     max_pool_connections=max(10, workers + 2)).config()
    region = session.region_name or "us-east-1"
    client = session.client("s3", region_name=region, endpoint_url=endpoint_url, config=cfg)
    if endpoint_url:
        return client
    found = _bucket_region(client, bucket)
    if found and found != region:
        client = session.client("s3", region_name=found, config=cfg)
    return client


def _bucket_region(client: Any, bucket: str) -> str | None:
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        meta = client.head_bucket(Bucket=bucket)["ResponseMetadata"]
    except ClientError as e:
        meta = e.response.get("ResponseMetadata", {})
    except BotoCoreError:
        return None
    return (meta.get("HTTPHeaders") or {}).get("x-amz-bucket-region")


def _process(obj: LogObject, matcher: reader.Matcher) -> reader.FileResult:
    try:
        raw = obj.fetch()
    except Exception as e:  # noqa: BLE001 - any read failure skips the file, the run goes on
        return reader.FileResult(obj.name, error=f"cannot read: {e}")
    return reader.read(obj.name, raw, matcher)


def results(objects: Iterable[LogObject], matcher: reader.Matcher,
            workers: int = WORKERS) -> Iterator[reader.FileResult]:
    """Fetch and parse files, at most 2 x `workers` in flight, yielded in listing order."""
    if workers <= 1:
        for obj in objects:
            yield _process(obj, matcher)
        return
    with ThreadPoolExecutor(workers, thread_name_prefix="dr-audit-logs") as pool:
        pending: deque[Future[reader.FileResult]] = deque()
        for obj in objects:
            pending.append(pool.submit(_process, obj, matcher))
            if len(pending) >= 2 * workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


class _Run:
    """Counters for the run metadata."""

    def __init__(self, sources: list[Source], window: Window) -> None:
        self.meta: dict[str, Any] = {
            "command": "logs", "sources": [str(s) for s in sources], **window.describe(),
            "files": 0, "records_decoded": 0, "fallback_full_parse": 0, "events": 0,
            "attempts": 0, "skipped": {"sources": 0, "files": 0, "records": 0},
            "skipped_detail": []}
        self.accounts: set[str] = set()
        self.regions: set[str] = set()

    def skip(self, kind: str, name: str, reason: str) -> None:
        self.meta["skipped"][kind] += 1
        log.warning("%s: skipped: %s", name, reason)
        if len(self.meta["skipped_detail"]) < 50:
            self.meta["skipped_detail"].append({"path": name, "reason": reason})

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
    """
    parsed = [parse_source(s) for s in sources]
    extra = {s.bucket: TRAIL_BUCKET for s in parsed if isinstance(s, S3Source)}
    detector = Detector(settings, extra)
    matcher = reader.Matcher(detector.names)
    run = _Run(parsed, window)
    hits: list[Hit] = []
    for res in results(_objects(parsed, window, endpoint_url, workers, session, run), matcher,
                       workers):
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
        if res.bad_records:
            run.meta["skipped"]["records"] += res.bad_records
            log.warning("%s: skipped %d record(s): %s", res.name, res.bad_records,
                        "; ".join(res.bad_detail))
        run.meta["records_decoded"] += len(res.records)
        for rec in res.records:
            if not window.contains(reader.parse_time(rec["eventTime"])):
                continue
            for h in detector.hits(rec):
                hits.append(h)
                run.accounts.add(h.account)
                run.regions.add(h.region)
    run.meta["events"] = sum(h.status == "fail" for h in hits)
    run.meta["attempts"] = sum(h.status == "attempt" for h in hits)
    return hits, run.done()


def _objects(sources: list[Source], window: Window, endpoint_url: str | None, workers: int,
             session: Any, run: _Run) -> Iterator[LogObject]:
    for src in sources:
        try:
            if isinstance(src, LocalSource):
                yield from src.objects(window)
                continue
            if session is None:
                import boto3

                session = boto3.session.Session()
            yield from src.objects(window, s3_client(session, src.bucket, endpoint_url,
                                                     workers))
        except (SourceError, OSError) as e:
            run.skip("sources", str(src), str(e))
        except Exception as e:  # noqa: BLE001 - e.g. no credentials: report, go on
            run.skip("sources", str(src), f"{type(e).__name__}: {e}")


def run_logs(sources: Iterable[str], since: dt.datetime | None, until: dt.datetime | None,
             settings: Settings, endpoint_url: str | None = None, workers: int = WORKERS,
             session: Any = None) -> tuple[list[Finding], dict[str, Any]]:
    """`dr-audit logs` without the report writing: (findings, run metadata)."""
    hits, meta = collect(sources, Window(since, until), settings, endpoint_url, workers,
                         session)
    return detect.findings(hits, settings), meta
