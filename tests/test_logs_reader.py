"""The reader: fast path equals a full json.loads, and bad input is skipped, never fatal."""

from __future__ import annotations

import datetime as dt
import gzip
import json
import random
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from auditor.logs import reader, records, samples
from auditor.logs.detect import Detector
from auditor.logs.pipeline import collect
from auditor.logs.window import Window
from drguard.settings import Settings
from tests.logs_scanners import both_scanners  # noqa: F401 - every test with each scanner

T0 = dt.datetime(2024, 5, 2, 12, tzinfo=dt.UTC)
MATCHER = reader.Matcher(Detector(Settings()).names)


def naive(data: bytes) -> list[str]:
    """Event ids of watched records, the slow obvious way."""
    doc = json.loads(gzip.decompress(data))
    return [r["eventID"] for r in doc["Records"] if r.get("eventName") in MATCHER.names]


def ids(res: reader.FileResult) -> list[str]:
    assert res.error is None, res.error
    return [r["eventID"] for _, r in res.records]


def suspend(bucket: str = "nightly-backups", **kw: Any) -> dict[str, Any]:
    return samples.record("PutBucketVersioning", "s3.amazonaws.com",
                          {"bucketName": bucket, "VersioningConfiguration":
                           {"Status": "Suspended"}}, time=T0, **kw)


@pytest.mark.parametrize("seed", range(4))
def test_fast_path_equals_full_parse(seed: int) -> None:
    recs = samples.mixed_records(random.Random(seed), 1500, T0, violation_rate=0.02)
    data = samples.log_file(recs)
    res = reader.read("f.json.gz", data, MATCHER)
    assert not res.full_parse
    assert ids(res) == naive(data) and len(res.records) > 10


def test_whitespace_variants_and_pretty_printing() -> None:
    recs = [samples.record("GetObject", "s3.amazonaws.com", {"bucketName": "a"}), suspend()]
    for indent, seps in ((2, None), (None, (", ", ": ")), ("\t", (",", " :  "))):
        body = json.dumps({"Records": recs}, indent=indent, separators=seps).encode()
        res = reader.read("f.json", body, MATCHER)
        assert ids(res) == [recs[1]["eventID"]] and not res.full_parse


def test_decoys_inside_strings_and_nested_keys_are_not_records() -> None:
    decoy = samples.record("PutRule", "events.amazonaws.com", {
        "name": "r", "eventPattern": json.dumps({"detail": {"eventName": ["DeleteBucket"]}}),
        "note": '},{"eventName":"DeleteBucket"}',
        "selectors": [{"eventName": "DeleteBucket", "eventSource": "s3.amazonaws.com",
                       "eventTime": "2024-01-01T00:00:00Z"}]})
    real = suspend()
    data = samples.log_file([decoy, real, decoy])
    res = reader.read("f.json.gz", data, MATCHER)
    assert ids(res) == naive(data) == [real["eventID"]]
    assert res.bad_records == 0 and not res.full_parse


def test_several_hits_in_one_record() -> None:
    recs = [samples.record("DeleteBucket", "s3.amazonaws.com", {
        "bucketName": "b-backup", "filter": {"eventName": "DeleteObject"},
        "more": [{"eventName": "StopLogging"}]}, time=T0) for _ in range(3)]
    recs.insert(1, suspend())
    data = samples.log_file(recs)
    res = reader.read("f.json.gz", data, MATCHER)
    assert ids(res) == naive(data) and len(res.records) == 4 and not res.full_parse


def test_key_order_does_not_matter() -> None:
    rec = suspend()
    shuffled = dict(sorted(rec.items(), reverse=True))  # eventName before eventVersion etc.
    data = samples.log_file([samples.record("ListBuckets", "s3.amazonaws.com"), shuffled])
    assert ids(reader.read("f.json.gz", data, MATCHER)) == [rec["eventID"]]


def test_file_without_hits_is_not_decoded() -> None:
    data = samples.log_file([samples.record("ListBuckets", "s3.amazonaws.com")] * 50)
    res = reader.read("f.json.gz", data, MATCHER)
    assert res.records == [] and res.error is None and not res.full_parse


GOOD = samples.log_file([suspend()])
# files that cannot be decoded at all: skipped whole, with the reason
BAD: dict[str, tuple[bytes, str]] = {
    "garbage.json.gz": (b"\x1f\x8b\x08\x00garbage", "gzip"),
    "not-gzip.json.gz": (b'{"Records": []}', "gzip"),
    "invalid.json": (b'{"Version": tru}', "JSON"),
    "other.json": (b'{"Version": "2012-10-17", "Statement": []}', "not a CloudTrail"),
    "list.json": (b"[1, 2, 3]", "not a CloudTrail"),
    "empty.json.gz": (b"", "empty"),
    "empty-gz.json.gz": (gzip.compress(b""), "empty"),
    "blank.json": (b"  \n", "empty"),
}
# files whose envelope decodes but a part does not: that part is a counted skipped record
DAMAGED: dict[str, tuple[bytes, str]] = {
    "truncated.json.gz": (GOOD[: len(GOOD) // 2], "gzip stream damaged"),
    "truncated-json.json.gz": (gzip.compress(b'{"Records": [{"eventName": "DeleteBucket", '),
                               "truncated"),
    "bad-literal.json": (b'{"Records": [{"eventName": "DeleteBucket", "x": tru}]}', "JSON"),
    "trailing-comma.json": (b'{"Records": [1, 2,]', "not an object"),
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_bad_file_is_reported_with_a_reason(name: str) -> None:
    data, reason = BAD[name]
    res = reader.read(name, data, MATCHER)
    assert res.error and reason in res.error and res.records == []


def test_invalid_utf8_is_replaced_and_the_record_still_read() -> None:
    rec = suspend()
    rec["userAgent"] = "caf\u00e9"
    data = json.dumps({"Records": [rec]}, ensure_ascii=False).encode().replace(
        "\u00e9".encode(), b"\xe9")
    res = reader.read("f.json", data, MATCHER)
    assert ids(res) == [rec["eventID"]] and res.replaced == 1
    assert res.records[0][1]["userAgent"] == "caf\ufffd"


@pytest.mark.parametrize("name", sorted(DAMAGED))
def test_damaged_part_is_a_counted_record_not_a_lost_file(name: str) -> None:
    data, reason = DAMAGED[name]
    res = reader.read(name, data, MATCHER)
    assert res.error is None and res.bad_records >= 1
    assert any(reason in why for _, why in res.skipped), res.skipped


def test_records_missing_fields_are_skipped_and_counted() -> None:
    ok = suspend()
    broken = suspend()
    del broken["eventTime"]
    no_account = suspend()
    del no_account["recipientAccountId"]
    del no_account["userIdentity"]["accountId"]
    res = reader.read("f.json.gz", samples.log_file([broken, ok, no_account]), MATCHER)
    # the reader decodes them all; the admission (the same for Athena rows) judges them
    assert len(res.records) == 3 and res.bad_records == 0
    verdicts = [records.admit(rec, Window()) for _, rec in res.records]
    assert verdicts[1] == (True, None)
    assert [ok for ok, _ in verdicts] == [False, True, False]
    assert "missing eventTime" in str(verdicts[0][1])
    assert "recipientAccountId" in str(verdicts[2][1])


def test_folder_run_skips_bad_files_and_keeps_the_rest(tmp_path: Path,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    for name, (data, _) in {**BAD, **DAMAGED}.items():
        (tmp_path / name).write_bytes(data)
    good = suspend()
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "good.json.gz").write_bytes(samples.log_file([good]))
    (tmp_path / "sub" / "plain.json").write_bytes(samples.log_file([good], compress=False))
    digest = tmp_path / "CloudTrail-Digest"
    digest.mkdir()
    (digest / "d.json.gz").write_bytes(gzip.compress(b'{"digestStartTime": "x"}'))
    (tmp_path / "notes.txt").write_text("not a log")
    hits, meta = collect([str(tmp_path)], Window(), Settings(), workers=2)
    assert [h.event["eventId"] for h in hits] == [good["eventID"]] * 2
    assert meta["skipped"]["files"] == len(BAD)
    assert meta["files"] == len(BAD) + len(DAMAGED) + 2
    assert meta["skipped"]["records"] >= len(DAMAGED)
    assert all(str(tmp_path) in r.getMessage() for r in caplog.records if "skipped" in
               r.getMessage())
    skipped = {r.getMessage().split(":")[0] for r in caplog.records if r.levelname == "WARNING"
               and "skipped" in r.getMessage()}
    assert skipped == {str(tmp_path / n) for n in {**BAD, **DAMAGED}}


# ---- property-based: the reader never crashes, never loses other files' records ----------

def _mutate(data: bytes, cut: int, flips: list[tuple[int, int]]) -> bytes:
    b = bytearray(data[: max(0, len(data) - cut)])
    for pos, val in flips:
        if b:
            b[pos % len(b)] = val
    return bytes(b)


bad_files = st.one_of(
    st.binary(max_size=200),
    st.builds(lambda c, f: _mutate(GOOD, c, f), st.integers(0, len(GOOD)),
              st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), max_size=4)),
    st.builds(lambda c, f: _mutate(samples.log_file([suspend()], compress=False), c, f),
              st.integers(0, 400),
              st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), max_size=4)),
    st.builds(lambda v: json.dumps(v).encode(), st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=8),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
            st.sampled_from(["Records", "eventName", "eventTime", "x"]), inner, max_size=3),
        max_leaves=8)),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(bad_files, min_size=1, max_size=4), st.booleans())
def test_fuzzed_files_never_crash_nor_hide_valid_ones(bad: list[bytes], gz_names: bool) -> None:
    import tempfile

    good = [suspend(), suspend("db-backups", region="eu-west-1")]
    with tempfile.TemporaryDirectory() as d:
        for i, data in enumerate(bad):
            Path(d, f"bad{i}.json" + (".gz" if gz_names else "")).write_bytes(data)
        Path(d, "good0.json.gz").write_bytes(samples.log_file(good[:1]))
        Path(d, "good1.json").write_bytes(samples.log_file(good[1:], compress=False))
        hits, meta = collect([d], Window(), Settings(), workers=1)
    found = {h.event["eventId"] for h in hits}
    assert {g["eventID"] for g in good} <= found
    assert meta["files"] == len(bad) + 2
    assert meta["skipped"]["files"] <= len(bad)


def test_stdlib_inflate_fallback_reads_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without isal/zlib-ng the standard library's zlib inflates: same records, same damage."""
    import zlib

    recs = samples.mixed_records(random.Random(9), 800, T0, violation_rate=0.05)
    data = samples.log_file(recs)
    fast = reader.read("f.json.gz", data, MATCHER)
    monkeypatch.setattr(reader, "INFLATER", zlib)
    slow = reader.read("f.json.gz", data, MATCHER)
    assert ids(slow) == ids(fast) == naive(data)
    cut = reader.read("f.json.gz", data[: len(data) // 2], MATCHER)
    assert cut.error is None and cut.skipped and "gzip stream damaged" in cut.skipped[-1][1]


def test_big_file_is_read_in_pieces_with_records_across_pieces(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Tiny chunk sizes force records, hits and `"eventName"` keys across piece borders."""
    recs = samples.mixed_records(random.Random(4), 400, T0, violation_rate=0.2)
    data = samples.log_file(recs)
    for chunk, keep, look in ((4096, 2048, 4096), (1000, 3000, 3000), (65536, 8192, 8192)):
        monkeypatch.setattr(reader, "CHUNK", chunk)
        monkeypatch.setattr(reader, "KEEP", keep)
        monkeypatch.setattr(reader, "LOOKAHEAD", look)
        res = reader.read("f.json.gz", data, MATCHER)
        assert ids(res) == naive(data) and not res.skipped and not res.full_parse


def test_the_scanner_named_is_the_one_used(both_scanners: str,  # noqa: F811
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """The C scan when it is built (and on), else hyperscan's stream when it is installed
    (and on), else RE2: each test of this module runs the scanner it names."""
    assert (MATCHER.native() is not None) == (both_scanners == "native")
    assert (MATCHER.stream_db() is not None) == (both_scanners != "re2")
    used: list[str] = []
    for scanner in ("native", "hyperscan"):
        real = getattr(reader, f"_{scanner}_feed")
        monkeypatch.setattr(reader, f"_{scanner}_feed",
                            lambda *a, _real=real, _name=scanner: used.append(_name) or _real(*a))
    recs = samples.mixed_records(random.Random(9), 300, T0, violation_rate=0.05)
    data = samples.log_file(recs)
    res = reader.read("f.json.gz", data, MATCHER)
    assert ids(res) == naive(data) and not res.full_parse
    assert used == ([] if both_scanners == "re2" else [both_scanners])


@pytest.mark.parametrize("size", [10, 200, 5000, 300_000])
def test_a_record_larger_than_the_first_window_is_placed(size: int) -> None:
    """A hit far from its record's start or end: placed after widening, never lost."""
    pad = "x" * size
    recs = [samples.record("GetObject", "s3.amazonaws.com", {"bucketName": "a"}),
            {**suspend(), "requestParameters": {"pad": pad, "bucketName": "nightly-backups",
                                                "VersioningConfiguration":
                                                    {"Status": "Suspended"}},
             "additionalEventData": {"pad": pad}},
            samples.record("GetObject", "s3.amazonaws.com", {"bucketName": "b"})]
    data = gzip.compress(json.dumps({"Records": recs}).encode())
    res = reader.read("f.json.gz", data, MATCHER)
    assert ids(res) == [recs[1]["eventID"]] and not res.skipped


@pytest.mark.parametrize("out_max", [3, 61, 4096])
def test_tiny_pieces_lose_nothing(monkeypatch: pytest.MonkeyPatch, out_max: int) -> None:
    """Inflated pieces of a few bytes: hits, records and a `\\u00XX` escape cut by piece
    borders; the escape still sends the file to the record-by-record read."""
    recs = samples.mixed_records(random.Random(6), 60, T0, violation_rate=0.3)
    data = gzip.compress(json.dumps({"Records": recs}).encode())
    monkeypatch.setattr(reader, "OUT_MAX", out_max)
    res = reader.read("f.json.gz", data, MATCHER)
    assert ids(res) == naive(data) and len(res.records) > 5
    assert not res.skipped and not res.full_parse
    hidden = suspend()
    text = json.dumps({"Records": [*recs, hidden]})
    cut = text.rindex('"PutBucketVersioning"')
    text = text[:cut] + '"PutBucket\\u0056ersioning"' + text[cut + len('"PutBucketVersioning"'):]
    res = reader.read("f.json.gz", gzip.compress(text.encode()), MATCHER)
    assert res.full_parse and ids(res)[-1] == hidden["eventID"]
    assert ids(res)[:-1] == naive(data)
