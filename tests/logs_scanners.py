"""The reader's fast path has three scanners (the C extension over the inflated stream;
hyperscan over the same stream when the extension is not built; RE2 over a sliding buffer when
hyperscan is not installed either): a test module that imports `both_scanners` runs every one
of its tests with each."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from auditor.logs import reader

SCANNERS = ["native", "hyperscan", "re2"]


@pytest.fixture(autouse=True, scope="module", params=SCANNERS)
def both_scanners(request: pytest.FixtureRequest) -> Iterator[str]:
    if request.param == "hyperscan":
        pytest.importorskip("hyperscan")
    if request.param == "native" and reader.NativeNames is None:
        # tests/test_logs_native.py fails on a dev install without the extension
        pytest.skip("the C extension is not built")
    old = reader.STREAM_SCAN, reader.NATIVE
    reader.STREAM_SCAN = request.param != "re2"
    reader.NATIVE = request.param == "native"
    try:
        yield request.param
    finally:
        reader.STREAM_SCAN, reader.NATIVE = old
