"""The reader's fast path has two scanners (hyperscan over the inflated stream; RE2 over a
sliding buffer when hyperscan is not installed): a test module that imports `both_scanners`
runs every one of its tests with each."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from auditor.logs import reader


@pytest.fixture(autouse=True, scope="module", params=["hyperscan", "re2"])
def both_scanners(request: pytest.FixtureRequest) -> Iterator[str]:
    if request.param == "hyperscan":
        pytest.importorskip("hyperscan")
    old = reader.STREAM_SCAN
    reader.STREAM_SCAN = request.param == "hyperscan"
    try:
        yield request.param
    finally:
        reader.STREAM_SCAN = old
