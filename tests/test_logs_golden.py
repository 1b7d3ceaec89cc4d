"""The CloudTrail reader keeps its findings while it gets faster: over realistic trail files and
the hostile corpus, `dr-audit logs` finds, skips and counts exactly what was recorded before the
reader was optimised (`tests/goldens.py` says how to regenerate when a change is intended).
Runs with each of the reader's scanners."""

from __future__ import annotations

from pathlib import Path

from tests import goldens
from tests.logs_scanners import both_scanners  # noqa: F401  (runs every test with each)


def test_logs_report_equals_the_recorded_one(tmp_path: Path) -> None:
    code, doc = goldens.logs_report(tmp_path)
    goldens.assert_same("logs", code, doc)
