"""The parse processes: small files handed over together, big ones alone, every result in
listing order, and the same findings and run metadata as one process."""

from __future__ import annotations

import datetime as dt
import os
import random
from pathlib import Path
from typing import Any

import pytest

from auditor.logs import pipeline, samples
from auditor.logs.pipeline import collect
from auditor.logs.sources import LocalSource
from auditor.logs.window import Window
from drguard.settings import Settings

T0 = dt.datetime(2024, 5, 2, 12, tzinfo=dt.UTC)


def corpus(folder: Path) -> list[str]:
    """Many tiny files, a few big ones among them, one damaged and one not gzip: names in
    listing order."""
    rng = random.Random(7)
    names = []
    for i in range(60):
        n = 3000 if i in (5, 6, 31) else rng.randint(1, 20)
        data = samples.log_file(samples.mixed_records(rng, n, T0, violation_rate=0.2))
        if i == 17:
            data = data[: len(data) // 2]  # cut: its tail is counted as skipped
        if i == 40:
            data = b"not gzip at all"
        name = f"f{i:02d}.json.gz"
        (folder / name).write_bytes(data)
        names.append(str(folder / name))
    return names


def test_small_files_go_together_and_come_back_in_order(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    names = corpus(tmp_path)
    handed: list[list[str]] = []
    real = pipeline._Parsers.submit

    def spy(self: Any, jobs: list[tuple[str, Any]]) -> Any:
        handed.append([name for name, _ in jobs])
        return real(self, jobs)

    monkeypatch.setattr(pipeline._Parsers, "submit", spy)
    monkeypatch.setattr(os, "cpu_count", lambda: 2)  # two processes even on a 1-CPU runner
    hits2, meta2 = collect([str(tmp_path)], Window(), Settings(), workers=2)
    seen = [n for batch in handed for n in batch]
    assert seen == names
    assert max(len(b) for b in handed) > 1, handed  # the tiny ones went together
    assert all(len(b) <= pipeline.BATCH_FILES for b in handed)
    for big in ("f05", "f06", "f31"):  # a big file fills its batch alone
        batch = next(b for b in handed if any(big in n for n in b))
        sizes = sum(Path(n).stat().st_size for n in batch)
        assert len(batch) == 1 or sizes <= pipeline.BATCH_BYTES

    objects = (obj for n in names for obj in LocalSource(Path(n)).objects(Window()))
    order = [r.name for r in pipeline.results(objects, *_state(), workers=2)]
    assert order == names

    monkeypatch.setattr(pipeline._Parsers, "submit", real)
    hits1, meta1 = collect([str(tmp_path)], Window(), Settings(), workers=1)
    assert [(h.event["eventId"], h.control) for h in hits2] == \
        [(h.event["eventId"], h.control) for h in hits1]
    assert meta2 == meta1
    assert meta1["skipped"]["files"] == 1 and meta1["skipped"]["records"] >= 1
    assert len(hits1) > 50


def _state() -> tuple[Any, Any, Window]:
    from auditor.logs import reader
    from auditor.logs.detect import Detector

    det = Detector(Settings())
    return reader.Matcher(det.names), det, Window()



def test_a_file_whose_reader_raises_costs_that_file_only(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An unexpected exception reading one file of a batch skips and counts that file; the
    files handed over with it are read, and one process gives what two give."""
    from auditor.logs import reader

    rng = random.Random(11)
    (tmp_path / "all").mkdir()
    (tmp_path / "others").mkdir()
    for i in range(12):
        data = samples.log_file(samples.mixed_records(rng, 10, T0, violation_rate=0.5))
        (tmp_path / "all" / f"f{i:02d}.json.gz").write_bytes(data)
        if i != 4:
            (tmp_path / "others" / f"f{i:02d}.json.gz").write_bytes(data)
    want, _ = collect([str(tmp_path / "others")], Window(), Settings(), workers=1)
    assert len(want) > 10
    real = reader.read

    def read(name: str, blob: Any, matcher: Any) -> Any:
        if name.endswith("f04.json.gz"):
            raise RuntimeError("a reader bug")
        return real(name, blob, matcher)

    monkeypatch.setattr(reader, "read", read)  # inherited by the forked processes
    monkeypatch.setattr(os, "cpu_count", lambda: 2)  # two processes even on a 1-CPU runner
    for workers in (1, 2):
        hits, meta = collect([str(tmp_path / "all")], Window(), Settings(), workers=workers)
        assert meta["files"] == 12 and meta["skipped"]["files"] == 1, meta["skipped_detail"]
        (entry,) = meta["skipped_detail"]
        assert entry["path"].endswith("f04.json.gz")
        assert "reader failed: RuntimeError: a reader bug" in entry["reason"]
        assert [h.event["eventId"] for h in hits] == [h.event["eventId"] for h in want]
