"""pytest fixtures for policy-pack tests (registered by ``tests/conftest.py``).

- ``policy_pack`` (session): :class:`~tests.harness.analyzer.PolicyPackProcess` on the repo root
  (the repository is the pack), started once per session (per xdist worker).
- ``analyzer`` (function): an :class:`~tests.harness.analyzer.AnalyzerClient` on it, with
  Configure reset to the defaults the CLI sends when no ``--policy-pack-config`` is given.
  Call ``analyzer.configure({...})`` in a test for other config.
- ``capture`` (session): ``capture(program, *, preview=True, **kw) -> Capture``, cached per
  argument set for the session; each call returns a fresh deep copy (see
  :func:`tests.harness.capture.capture`).
- ``noop_pack`` (session): the throwaway pack in ``tests/harness/noop_pack`` (no-op policies).

Typical test::

    def test_drifting(analyzer, capture):
        run = run_stack(analyzer, capture("examples/drifting-stack",
                                          config={"dbPassword": "x"}, secrets=["dbPassword"]))
        assert run.by_policy("rds-deletion-protection")
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.harness.analyzer import AnalyzerClient, PolicyPackProcess
from tests.harness.capture import Capture
from tests.harness.capture import capture as _capture

REPO_ROOT = Path(__file__).resolve().parents[2]
NOOP_PACK = Path(__file__).resolve().parent / "noop_pack"


@pytest.fixture(scope="session")
def policy_pack() -> Iterator[PolicyPackProcess]:
    with PolicyPackProcess(REPO_ROOT) as proc:
        yield proc


@pytest.fixture
def analyzer(policy_pack: PolicyPackProcess) -> AnalyzerClient:
    if not policy_pack.alive():
        pytest.fail(f"policy pack process died:\n{policy_pack.output()}")
    client = policy_pack.client()
    client.configure()
    return client


@pytest.fixture(scope="session")
def noop_pack() -> Iterator[PolicyPackProcess]:
    with PolicyPackProcess(NOOP_PACK) as proc:
        yield proc


@pytest.fixture(scope="session")
def capture() -> Callable[..., Capture]:
    cache: dict[str, Capture] = {}

    def run(program: Any, **kwargs: Any) -> Capture:
        key = json.dumps([str(getattr(program, "__qualname__", program)),
                          getattr(program, "__module__", ""), kwargs],
                         sort_keys=True, default=str)
        if key not in cache:
            cache[key] = _capture(program, **kwargs)
        return copy.deepcopy(cache[key])  # tests may mutate their copy

    return run
