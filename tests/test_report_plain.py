"""Findings already plain JSON go into the report as they are; anything else still takes the
round trip through JSON (datetimes, tuples, sets, keys that are not strings, subclasses)."""

from __future__ import annotations

import datetime as dt
import enum
import json
from pathlib import Path

from auditor.reports import write_reports
from auditor.reports._common import is_plain_json, jsonable
from drguard.findings import Finding


class Level(enum.IntEnum):
    HIGH = 3


class Name(str):
    pass


def test_is_plain_json_only_for_exact_json_types() -> None:
    assert is_plain_json({"a": [1, 2.5, True, None, "x", {"b": []}]})
    assert is_plain_json(float("nan"))  # the round trip keeps NaN as NaN
    for value in ({"a": (1, 2)}, {1: "x"}, {"a": dt.date(2026, 1, 1)}, {"a": {1, 2}},
                  [Level.HIGH], {"a": Name("x")}, {Name("k"): 1}, b"x", [[[{"a": ()}]]]):
        assert not is_plain_json(value), value
    deep: list = []
    for _ in range(150):
        deep = [deep]
    assert not is_plain_json(deep)  # too deep to walk: the round trip decides


def _finding(db: str, **evidence: object) -> Finding:
    return Finding(control="rds-backup-retention", status="fail", source="live",
                   resource=f"arn:aws:rds:us-east-1:123456789012:db:{db}", message="m",
                   account="123456789012", region="us-east-1", evidence=dict(evidence))


def test_report_findings_equal_the_round_trip_either_way(tmp_path: Path) -> None:
    plain = _finding("a", days=1, ok=True, names=["a"])
    odd = _finding("b", when=dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC), pair=(1, 2),
                   level=Level.HIGH, keys={1: "one"}, tags={"b", "a"})
    for i, findings in enumerate(([plain], [plain, odd])):
        run = {"command": "scan", "started": "2026-01-01T00:00:00+00:00", "fail_on": "high"}
        paths = write_reports(findings, run, tmp_path / str(i), ["json"])
        doc = json.loads(paths["json"].read_text(encoding="utf-8"))
        want = jsonable([f.to_dict() for f in findings])
        got = [{k: v for k, v in f.items() if k != "remediation"} for f in doc["findings"]]
        assert got == [{k: v for k, v in f.items() if k != "remediation"} for f in want]
    assert doc["findings"][1]["evidence"] == {"when": "2026-01-02T03:04:05+00:00",
                                              "pair": [1, 2], "level": 3,
                                              "keys": {"1": "one"}, "tags": ["a", "b"]}
