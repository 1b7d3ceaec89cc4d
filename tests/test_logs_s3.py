"""Reading trail buckets over the S3 API (moto server): layouts, window, parallel downloads."""

from __future__ import annotations

import datetime as dt
import json
import random
import re
from pathlib import Path
from typing import Any

import boto3
import pytest

from auditor.cli import main
from auditor.logs import run_logs, samples
from auditor.logs.pipeline import collect
from auditor.logs.window import Window
from drguard.settings import Settings

BUCKET = "org-trail-logs"
A1, A2, ORG = "111122223333", "444455556666", "o-aa11bb22cc"


def at(day: int, hour: int = 12, minute: int = 0) -> dt.datetime:
    return dt.datetime(2024, 5, day, hour, minute, tzinfo=dt.UTC)


def suspend(t: dt.datetime, account: str, region: str) -> dict[str, Any]:
    return samples.record("PutBucketVersioning", "s3.amazonaws.com",
                          {"bucketName": "nightly-backups",
                           "VersioningConfiguration": {"Status": "Suspended"}},
                          time=t, account=account, region=region,
                          event_id=f"evt-{account}-{region}-{t:%d%H%M}")


def put(client: Any, key: str, records: list[dict[str, Any]]) -> None:
    client.put_object(Bucket=BUCKET, Key=key, Body=samples.log_file(records))


@pytest.fixture
def trail_bucket(aws: Any) -> dict[str, Any]:
    """Log files in both layouts, five days, plus a digest and another service's folder."""
    s3 = aws.client("s3")
    s3.create_bucket(Bucket=BUCKET)
    rng = random.Random(7)
    files: dict[str, str] = {}  # key -> event id of its violation
    layout = [(A1, "us-east-1", None), (A1, "eu-west-1", None), (A2, "us-west-2", ORG)]
    for account, region, org in layout:
        for day in range(1, 6):
            t = at(day)
            rec = suspend(t, account, region)
            noise = samples.mixed_records(rng, 20, t, account, region, violation_rate=0)
            key = samples.key(t, account, region, org=org)
            put(s3, key, noise + [rec])
            files[key] = rec["eventID"]
    # delivered 00:30 on day 4 with an event of day 3 23:58: inside the window's slack
    late = suspend(at(3, 23, 58), A1, "us-east-1")
    late_key = samples.key(at(4, 0, 30), A1, "us-east-1", suffix="late")
    put(s3, late_key, [late])
    files[late_key] = late["eventID"]
    s3.put_object(Bucket=BUCKET, Key=f"AWSLogs/{A1}/CloudTrail-Digest/us-east-1/2024/05/02/"
                  f"{A1}_CloudTrail-Digest_us-east-1_main_us-east-1_20240502T120000Z.json.gz",
                  Body=b"\x1f\x8bdigest")
    s3.put_object(Bucket=BUCKET, Key=f"AWSLogs/{A1}/Config/us-east-1/2024/5/2/x.json.gz",
                  Body=b"other")
    return files


class Calls:
    """Every ListObjectsV2 / GetObject made through a session (botocore event hooks)."""

    def __init__(self, session: boto3.Session) -> None:
        self.lists: list[tuple[str, str | None]] = []
        self.gets: list[str] = []
        session.events.register("before-parameter-build.s3.ListObjectsV2", self._list)
        session.events.register("before-parameter-build.s3.GetObject", self._get)

    def _list(self, params: dict[str, Any], **_: Any) -> None:
        self.lists.append((params.get("Prefix", ""), params.get("Delimiter")))

    def _get(self, params: dict[str, Any], **_: Any) -> None:
        self.gets.append(params["Key"])


def test_window_lists_and_downloads_only_its_files(aws: Any, trail_bucket: dict) -> None:
    session = boto3.Session(region_name="us-east-1")
    calls = Calls(session)
    # a one-hour delivery slack (the default is 12): the fixture's next-day files are
    # delivered at noon, past it
    window = Window.parse("2024-05-02", "2024-05-03", slack_hours=1)
    hits, meta = collect([f"s3://{BUCKET}"], window, Settings(), endpoint_url=aws.url,
                         workers=4, session=session)
    wanted = {k for k in trail_bucket if "/2024/05/02/" in k or "/2024/05/03/" in k}
    wanted |= {k for k in trail_bucket if k.endswith("_late.json.gz")}
    assert sorted(calls.gets) == sorted(wanted)
    assert {h.event["eventId"] for h in hits} == {trail_bucket[k] for k in wanted}
    assert len(wanted) == 7  # 3 trails x 2 days + the late file
    listed = [p for p, _ in calls.lists]
    assert not [p for p in listed if "/2024/05/01/" in p or "/2024/05/05/" in p]
    assert not [p for p in listed if "Digest" in p or "Config" in p]
    # day folders are listed whole, every other level only by delimiter (no keys returned)
    day = re.compile(r"/CloudTrail/[a-z0-9-]+/2024/05/0[234]/$")
    assert all(day.search(p) for p, d in calls.lists if d is None)
    assert meta["files"] == 7 and meta["skipped"] == {"sources": 0, "files": 0, "records": 0}
    assert meta["accounts"] == [A1, A2]
    assert meta["regions"] == ["eu-west-1", "us-east-1", "us-west-2"]


def test_prefix_of_one_account_and_region(aws: Any, trail_bucket: dict) -> None:
    session = boto3.Session(region_name="us-east-1")
    calls = Calls(session)
    src = f"s3://{BUCKET}/AWSLogs/{ORG}/{A2}/CloudTrail/us-west-2/"
    hits, meta = collect([src], Window.parse("2024-05-04", None), Settings(),
                         endpoint_url=aws.url, session=session)
    assert sorted(calls.gets) == sorted(k for k in trail_bucket if A2 in k and (
        "/05/04/" in k or "/05/05/" in k))
    assert len(hits) == 2


def test_open_window_reads_everything_but_digests(aws: Any, trail_bucket: dict) -> None:
    session = boto3.Session(region_name="us-east-1")
    calls = Calls(session)
    hits, meta = collect([f"s3://{BUCKET}/"], Window(), Settings(), endpoint_url=aws.url,
                         session=session)
    assert sorted(calls.gets) == sorted(trail_bucket)
    assert len(hits) == len(trail_bucket)


def test_missing_bucket_is_skipped_not_fatal(aws: Any, trail_bucket: dict,
                                             tmp_path: Path) -> None:
    (tmp_path / "one.json.gz").write_bytes(samples.log_file([suspend(at(2), A1, "us-east-1")]))
    findings, meta = run_logs(["s3://no-such-bucket", str(tmp_path)], None, None, Settings(),
                              endpoint_url=aws.url)
    assert meta["skipped"]["sources"] == 1 and len(findings) == 1
    assert "no-such-bucket" in meta["skipped_detail"][0]["path"]


def test_cli_end_to_end(aws: Any, trail_bucket: dict, tmp_path: Path) -> None:
    out = tmp_path / "report"
    code = main(["logs", f"s3://{BUCKET}", "--since", "2024-05-02", "--until", "2024-05-02",
                 "--endpoint-url", aws.url, "--output-dir", str(out), "--format", "json,md"])
    assert code == 1
    doc = json.loads((out / "report.json").read_text())
    assert doc["run"]["command"] == "logs" and doc["run"]["skipped"]["files"] == 0
    fs = doc["findings"]
    assert fs and all(f["source"] == "logs" for f in fs)
    (f,) = [f for f in fs if f["region"] == "us-west-2"]
    assert f["control"] == "backup-bucket-versioning" and f["account"] == A2
    assert f["resource"] == "arn:aws:s3:::nightly-backups"
    assert f["event"]["eventId"] == f"evt-{A2}-us-west-2-021200"
    assert (out / "report.md").exists() and not (out / "report.html").exists()


def test_cli_exit_codes(aws: Any, tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    rec = suspend(at(2), A1, "us-east-1")
    (logs / "a.json.gz").write_bytes(samples.log_file([rec]))
    out = str(tmp_path / "out")
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text("controls: {}\nwaivers:\n  - control: backup-bucket-versioning\n"
                   "    resource: 'arn:aws:s3:::nightly-*'\n    reason: r\n    owner: o\n"
                   "    expires: 2999-01-01\n")
    assert main(["logs", str(logs), "--output-dir", out, "--format", "json"]) == 1
    assert main(["logs", str(logs), "--output-dir", out, "--format", "json",
                 "--config", str(cfg)]) == 0
    (logs / "broken.json.gz").write_bytes(b"\x1f\x8b\x08broken")
    assert main(["logs", str(logs), "--output-dir", out, "--format", "json",
                 "--config", str(cfg)]) == 3  # incomplete: a file could not be read
    assert main(["logs", str(tmp_path / "nope"), "--output-dir", out]) == 2
    assert main(["logs", str(logs), "--since", "May 2nd", "--output-dir", out]) == 2


# ---- read-only guard and hostile keys -------------------------------------------------------

def test_logs_clients_refuse_mutating_calls(aws: Any, trail_bucket: dict) -> None:
    from auditor.aws import CallCounter, MutatingCallError, observe
    from auditor.logs import pipeline

    key = next(iter(trail_bucket))
    own = pipeline.s3_client(pipeline.logs_session(aws.url), BUCKET, aws.url, 2)
    callers = pipeline.s3_client(boto3.Session(region_name="us-east-1"), BUCKET, aws.url, 2)
    for client in (own, callers):
        with pytest.raises(MutatingCallError):
            client.put_object(Bucket=BUCKET, Key="planted.json.gz", Body=b"x")
        with pytest.raises(MutatingCallError):
            client.delete_object(Bucket=BUCKET, Key=key)
    plain = aws.client("s3")
    assert plain.head_object(Bucket=BUCKET, Key=key)  # still there
    assert "Contents" not in plain.list_objects_v2(Bucket=BUCKET, Prefix="planted")
    # the clients `collect` makes itself (no session given) and with a caller's session are
    # the guarded ones: the guard's hook sees every call they send
    for session in (None, boto3.Session(region_name="us-east-1")):
        with observe(CallCounter()) as seen:
            hits, _ = collect([f"s3://{BUCKET}"], Window(), Settings(), endpoint_url=aws.url,
                              workers=2, session=session)
        assert seen.calls[("s3", "GetObject")] == len(trail_bucket) == len(hits)


def test_impossible_file_time_does_not_blind_the_source(aws: Any, tmp_path: Path) -> None:
    """A key with minute 99 (sorting first) is a file of unknown time: read, windowed by
    eventTime; the rest of the source is read as usual (S3 listing and local walk alike)."""
    s3 = aws.client("s3")
    s3.create_bucket(Bucket=BUCKET)
    good = suspend(at(2), A1, "us-east-1")
    odd = suspend(at(2, 13), A1, "us-east-1")
    old = suspend(at(1), A1, "us-east-1")  # outside the window, in the odd file
    good_key = samples.key(at(2), A1, "us-east-1")
    odd_key = good_key.replace("_20240502T1200Z_", "_20240502T0099Z_")
    assert sorted([odd_key, good_key])[0] == odd_key
    put(s3, good_key, [good])
    put(s3, odd_key, [odd, old])
    (tmp_path / Path(good_key).parent).mkdir(parents=True)
    for k, recs in ((good_key, [good]), (odd_key, [odd, old])):
        (tmp_path / k).write_bytes(samples.log_file(recs))
    window = Window.parse("2024-05-02", "2024-05-02")
    for src in (f"s3://{BUCKET}", str(tmp_path)):
        hits, meta = collect([src], window, Settings(), endpoint_url=aws.url, workers=2)
        assert sorted(h.event["eventId"] for h in hits) == sorted([good["eventID"],
                                                                  odd["eventID"]])
        assert meta["files"] == 2 and not any(meta["skipped"].values())


def test_scan_with_unreadable_logs_is_incomplete(aws: Any, tmp_path: Path) -> None:
    """`scan --logs` that reads no log file says so in the report and its exit code."""
    empty = tmp_path / "no-logs"
    empty.mkdir()
    out = tmp_path / "out"
    code = main(["scan", "--endpoint-url", aws.url, "--regions", "us-east-1", "--logs",
                 str(empty), "s3://no-such-trail-bucket", "--output-dir", str(out),
                 "--format", "json"])
    doc = json.loads((out / "report.json").read_text())
    assert doc["run"]["logs"]["files"] == 0 and doc["run"]["logs"]["skipped"]["sources"] == 1
    assert doc["summary"]["incomplete"] is True and code == doc["summary"]["exit_code"]
    assert code in (1, 3)


def test_a_listing_cut_short_makes_the_run_incomplete(aws: Any, trail_bucket: dict) -> None:
    """A store that says a listing is truncated but gives no token to go on (an S3-compatible
    endpoint's bug): what it listed is read, and the source is counted as not fully read."""
    session = boto3.Session(region_name="us-east-1")

    def cut(parsed: dict[str, Any], **_: Any) -> None:
        if parsed.get("Contents"):
            parsed["IsTruncated"] = True
            parsed.pop("NextContinuationToken", None)

    session.events.register("after-call.s3.ListObjectsV2", cut)
    hits, meta = collect([f"s3://{BUCKET}"], Window(), Settings(), endpoint_url=aws.url,
                         session=session)
    assert hits and meta["skipped"]["sources"] >= 1
    assert any("truncated" in d["reason"] for d in meta["skipped_detail"])


def test_a_denied_prefix_is_counted_and_the_rest_of_the_source_is_read(
        aws: Any, trail_bucket: dict) -> None:
    """Listing one account's folder is denied (a bucket policy on s3:prefix): that folder is
    counted as not read, and every other account of the same bucket is still read."""
    from botocore.exceptions import ClientError

    session = boto3.Session(region_name="us-east-1")

    def deny(params: dict[str, Any], **_: Any) -> None:
        if f"/{A1}/" in params.get("Prefix", ""):
            raise ClientError({"Error": {"Code": "AccessDenied", "Message": "denied"}},
                              "ListObjectsV2")

    session.events.register("before-parameter-build.s3.ListObjectsV2", deny)
    hits, meta = collect([f"s3://{BUCKET}"], Window(), Settings(), endpoint_url=aws.url,
                         session=session)
    assert {h.account for h in hits} == {A2}
    assert len(hits) == sum(A2 in k for k in trail_bucket)
    assert meta["skipped"]["sources"] >= 1
    assert any(A1 in d["path"] for d in meta["skipped_detail"])


def test_a_source_that_gives_no_file_is_not_read(aws: Any, trail_bucket: dict,
                                                 tmp_path: Path) -> None:
    """Two trail sources, the second with a mistyped prefix: the first one's files do not make
    the run look complete; the empty source is counted as not read (exit 3 without gaps)."""
    (tmp_path / "one.json.gz").write_bytes(samples.log_file([samples.record(
        "ListBuckets", "s3.amazonaws.com", {}, time=at(2))]))
    typo = f"s3://{BUCKET}/AWSLog/"
    hits, meta = collect([str(tmp_path), typo], Window(), Settings(), endpoint_url=aws.url)
    assert meta["files"] == 1 and meta["skipped"]["sources"] == 1
    assert [d["path"] for d in meta["skipped_detail"]] == [typo]
    code = main(["logs", str(tmp_path), typo, "--endpoint-url", aws.url,
                 "--output-dir", str(tmp_path / "out"), "--format", "json"])
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["summary"]["incomplete"] is True and code == 3


def test_a_linked_folder_in_a_local_source_is_read(tmp_path: Path) -> None:
    """A local source whose trails are linked in (`logs/trail-b -> /mnt/trail-b`) reads the
    linked folder's files too, once, even when the links make a loop."""
    real = tmp_path / "elsewhere" / "trail-b"
    real.mkdir(parents=True)
    (real / "b.json.gz").write_bytes(samples.log_file([suspend(at(2), A2, "us-west-2")]))
    src = tmp_path / "logs"
    src.mkdir()
    (src / "a.json.gz").write_bytes(samples.log_file([suspend(at(2), A1, "us-east-1")]))
    (src / "trail-b").symlink_to(real, target_is_directory=True)
    (real / "loop").symlink_to(src, target_is_directory=True)
    hits, meta = collect([str(src)], Window(), Settings(), workers=1)
    assert sorted(h.account for h in hits) == [A1, A2]
    assert meta["files"] == 2
