"""`dr-audit state` keeps its findings while it gets faster: the report of each fixture export
equals the one recorded from the reader and checks before they were optimised (`tests/goldens.py`
says how to regenerate them when a change of output is intended)."""

from __future__ import annotations

import gc
from pathlib import Path

import pytest

from tests import goldens


@pytest.mark.parametrize("name", sorted(goldens.STATE_CASES))
def test_state_report_equals_the_recorded_one(name: str, tmp_path: Path) -> None:
    code, doc = goldens.state_report(goldens.STATE_CASES[name], tmp_path)
    assert gc.isenabled()  # the run turns the cyclic collector off for itself only
    goldens.assert_same(name, code, doc)
