"""Hypothesis settings every fuzz test shares: a fixed seed and a small budget in the normal
test run, a longer random run with `make fuzz` (DRG_FUZZ_EXAMPLES, DRG_FUZZ_RANDOM=1)."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

EXAMPLES = int(os.environ.get("DRG_FUZZ_EXAMPLES", "0") or 0)
RANDOM = os.environ.get("DRG_FUZZ_RANDOM") == "1"


def fuzz(examples: int) -> settings:
    """`examples` in the normal run (fixed seed); DRG_FUZZ_EXAMPLES in `make fuzz`."""
    return settings(max_examples=EXAMPLES or examples, deadline=None, derandomize=not RANDOM,
                    database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.function_scoped_fixture,
                                           HealthCheck.filter_too_much])
