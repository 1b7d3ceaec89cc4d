"""Hostile CloudTrail input: every file and record ends in a finding, a counted skip or a
one-line reason; never a traceback, a hang or a lost valid record.

Three layers: the nasty corpus (tests/data/nasty-logs, expectations in expected.txt), values
of every hostile class put anywhere in a watched record (hypothesis), and syntax damage
(invalid tokens inside a record, random byte flips and cuts of whole files).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gzip
import json
import os
import random
import signal
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from auditor.cli import main
from auditor.logs import samples
from auditor.logs.pipeline import collect
from auditor.logs.window import Window
from drguard.settings import Settings
from tests.logs_scanners import both_scanners  # noqa: F401 - every test with each scanner

NASTY = Path(__file__).parent / "data" / "nasty-logs"
EXPECTED: dict[str, dict[str, Any]] = json.loads((NASTY / "expected.txt").read_text())
T = dt.datetime(2024, 5, 2, 12, tzinfo=dt.UTC)
HANG_SECONDS = 30


@contextlib.contextmanager
def no_hang(seconds: int = HANG_SECONDS) -> Iterator[None]:
    """Fail (instead of hanging the suite) when the block runs longer than `seconds`."""
    def alarm(*_: Any) -> None:
        raise TimeoutError(f"no answer within {seconds} s: a hang")
    old = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def suspend(event_id: str) -> dict[str, Any]:
    return samples.record("PutBucketVersioning", "s3.amazonaws.com",
                          {"bucketName": "nightly-backups",
                           "VersioningConfiguration": {"Status": "Suspended"}},
                          time=T, event_id=event_id)


def enc(rec: dict[str, Any]) -> bytes:
    return json.dumps(rec, separators=(",", ":")).encode()


def run(folder: Path, workers: int = 1) -> tuple[set[str], dict[str, Any]]:
    with no_hang():
        hits, meta = collect([str(folder)], Window(), Settings(), workers=workers)
    return {h.event["eventId"] for h in hits}, meta


def assert_accounted(meta: dict[str, Any]) -> None:
    """Every skip names its file and says why, in one line."""
    for entry in meta["skipped_detail"]:
        assert entry["path"] and entry["reason"] and "\n" not in entry["reason"]
        assert "Traceback" not in entry["reason"]


# ---- the nasty corpus ------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_nasty_file(name: str) -> None:
    exp = EXPECTED[name]
    found, meta = run(NASTY / name)
    assert found == set(exp["detect"])
    assert bool(meta["skipped"]["files"]) == exp["file_skipped"]
    assert meta["skipped"]["records"] >= exp["records_skipped"]
    if exp["records_skipped"]:
        assert any(e["path"].endswith(name) and e.get("record") for e in
                   meta["skipped_detail"])  # the file and where in it
    assert_accounted(meta)


def test_nasty_corpus_as_one_folder_in_worker_processes() -> None:
    """The whole corpus at once, parsed by forked worker processes: the same answer."""
    found, meta = run(NASTY, workers=2)
    assert found == {i for e in EXPECTED.values() for i in e["detect"]}
    assert meta["files"] == len(EXPECTED)
    assert meta["skipped"]["files"] == sum(e["file_skipped"] for e in EXPECTED.values())
    assert meta["skipped"]["records"] >= sum(e["records_skipped"] for e in EXPECTED.values())


def test_cli_over_the_corpus_is_incomplete_not_green(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with no_hang():
        code = main(["logs", str(NASTY), "--output-dir", str(out), "--format", "json"])
    doc = json.loads((out / "report.json").read_text())
    assert code == 1 and doc["summary"]["exit_code"] == 1  # gaps found, and incomplete
    assert doc["summary"].get("incomplete") is True
    assert doc["run"]["skipped"]["records"] >= 1 and doc["run"]["skipped"]["files"] >= 1


def test_cli_reading_nothing_is_incomplete(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    for src in (empty, NASTY / "not-cloudtrail.json"):
        out = tmp_path / f"out-{src.name}"
        assert main(["logs", str(src), "--output-dir", str(out), "--format", "json"]) == 3
        doc = json.loads((out / "report.json").read_text())
        assert doc["summary"]["exit_code"] == 3 and doc["summary"].get("incomplete") is True


def test_a_predicate_that_raises_skips_that_record_only(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """Per-record isolation at the pipeline level: whatever a detection raises on one record
    (a helper bug, a type nobody foresaw) makes that record 'cannot be judged', counted."""
    from auditor.logs.detect import Detector

    real = Detector.matching

    def matching(self: Detector, record: dict[str, Any]) -> tuple[int, ...]:
        if record.get("eventID") == "boom":
            raise RuntimeError("a predicate failed")
        return real(self, record)

    monkeypatch.setattr(Detector, "matching", matching)
    (tmp_path / "f.json.gz").write_bytes(
        samples.log_file([suspend("before"), suspend("boom"), suspend("after")]))
    found, meta = run(tmp_path)
    assert found == {"before", "after"} and meta["skipped"]["records"] == 1
    (entry,) = meta["skipped_detail"]
    assert "RuntimeError" in entry["reason"] and entry["path"].endswith("f.json.gz")


# ---- hostile values anywhere in a watched record (hypothesis) --------------------------------

BASES = [samples.violation(random.Random(i), T, samples.ACCOUNT, "us-east-1")
         for i in range(24)]
BASES = [b for b in BASES if b["eventName"] != "CreateAccessKey"] + [suspend("base")]
BAD_UTF8 = (b'"caf\xe9"', b'"\xff\xfe\xfd"', b'"\xed\xa0\x80"', b'"\xc3"', b'"ok\xf4\x90\x80\x80"')


@st.composite
def hostile_record(draw: st.DrawFn) -> tuple[dict[str, Any], tuple[Any, ...], str, bytes]:
    """A watched record with one value (any path) replaced by a hostile class of value."""
    base = dict(draw(st.sampled_from(BASES)))
    path = draw(st.sampled_from(samples.paths(base)))
    kind = draw(st.sampled_from(["value", "utf8", "token"]))
    if kind == "value":
        cls, raw = draw(st.sampled_from(samples.HOSTILE))
    elif kind == "utf8":
        cls, raw = "utf8", draw(st.sampled_from(BAD_UTF8))
    else:
        cls, raw = "token", draw(st.sampled_from(samples.INVALID_TOKENS))
    return base, path, cls, raw


# never judged as if fine: a number that overflows, or a token that is not JSON
STRICT = ("overflow", "huge-int", "token")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(hostile_record(), min_size=1, max_size=3), st.booleans(), st.booleans(),
       st.integers(0, 3))
def test_hostile_values_beside_valid_records(bad: list[tuple[Any, ...]], gz: bool,
                                             pretty: bool, where: int) -> None:
    """Valid records before, between and after hostile ones are all detected; a hostile record
    is detected, skipped and counted, or no candidate (its eventName replaced); a number that
    overflows or a token that is not JSON is never judged as if fine. Nothing raises."""
    valid = [suspend(f"valid-{i}") for i in range(3)]
    hostile = []
    for i, (base, path, _cls, raw) in enumerate(bad):
        rec = {**base, "eventID": f"hostile-{i}"} if path[0] != "eventID" else base
        hostile.append(samples.inject(rec, path, raw))
    parts = [enc(valid[0]), *hostile[:where], enc(valid[1]), *hostile[where:], enc(valid[2])]
    body = b'{"Records":[' + (b",\n  " if pretty else b",").join(parts) + b"]}"
    with tempfile.TemporaryDirectory() as d:
        name = "f.json.gz" if gz else "f.json"
        Path(d, name).write_bytes(gzip.compress(body) if gz else body)
        found, meta = run(Path(d))
    assert {v["eventID"] for v in valid} <= found
    assert meta["skipped"]["files"] == 0
    strict = [i for i, (_, path, cls, _) in enumerate(bad)
              if cls in STRICT and path[0] not in ("eventName", "eventID")]
    assert not {f"hostile-{i}" for i in strict} & found
    assert meta["skipped"]["records"] >= len(strict)
    assert_accounted(meta)


# ---- random damage to whole files -------------------------------------------------------------

GOOD = [suspend(f"good-{i}") for i in range(4)]
NOISE = samples.mixed_records(random.Random(5), 40, T, violation_rate=0.1)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.booleans(), st.integers(0, 2000),
       st.lists(st.tuples(st.integers(0, 10**7), st.integers(0, 255)), max_size=6),
       st.lists(st.integers(0, 10**7), max_size=2))
def test_damaged_files_fail_closed(gz: bool, cut: int, flips: list[tuple[int, int]],
                                   cuts: list[int]) -> None:
    """Any damage ends in detections or counted skips; an intact valid file beside the damaged
    one is always fully read; a valid record is never lost without a skip being counted."""
    data = bytearray(samples.log_file(GOOD[:2] + NOISE, compress=gz))
    for pos, val in flips:
        data[pos % len(data)] = val
    for pos in cuts:
        del data[pos % max(1, len(data)): pos % max(1, len(data)) + 50]
    data = data[: max(0, len(data) - cut)]
    with tempfile.TemporaryDirectory() as d:
        Path(d, "damaged.json" + (".gz" if gz else "")).write_bytes(bytes(data))
        Path(d, "intact.json.gz").write_bytes(samples.log_file(GOOD[2:]))
        found, meta = run(Path(d))
    assert {g["eventID"] for g in GOOD[2:]} <= found
    lost = {g["eventID"] for g in GOOD[:2]} - found
    if lost and not flips and not cuts:  # cut short: whatever is lost is counted
        assert meta["skipped"]["files"] or meta["skipped"]["records"]
    assert meta["files"] == 2
    assert_accounted(meta)


def test_two_worker_processes_give_exactly_what_one_gives(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Ordered, lossless merging: the nasty corpus plus many clean and damaged files read by
    one process and by two forked ones give the same hits in the same order and the same
    run metadata (files, decoded records, every skip and its detail)."""
    import shutil

    from auditor.logs.detect import findings

    folder = tmp_path / "logs"
    shutil.copytree(NASTY, folder)
    rng = random.Random(5)
    t0 = dt.datetime(2024, 5, 2, 12, tzinfo=dt.UTC)
    for i in range(24):
        recs = samples.mixed_records(rng, 200, t0, violation_rate=0.05)
        data = samples.log_file(recs)
        if i % 5 == 2:
            data = data[: len(data) * 2 // 3]  # cut: a damaged tail, counted
        (folder / f"f{i:02d}.json.gz").write_bytes(data)

    def one(workers: int) -> tuple[list[Any], dict[str, Any], list[Any]]:
        with no_hang():
            hits, meta = collect([str(folder)], Window(), Settings(), workers=workers)
        keys = [(h.event["eventId"], h.control, h.status, h.resource) for h in hits]
        return keys, meta, [f.to_dict() for f in findings(hits, Settings())]

    monkeypatch.setattr(os, "cpu_count", lambda: 2)  # two processes even on a 1-CPU runner
    keys1, meta1, found1 = one(1)
    keys2, meta2, found2 = one(2)
    assert len(keys1) > 20 and meta1["skipped"]["records"] > 0
    assert keys2 == keys1
    assert meta2 == meta1
    assert found2 == found1
