"""The Makefile: `make bench` runs every script in benchmarks/ or says which it skips and why;
`make test` says what it installs before it installs anything."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="no make")


def make(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    # -o: take the virtualenv as installed (nothing is installed by these runs)
    return subprocess.run(["make", "--no-print-directory", "-o", ".venv/.dev-deps", *args],
                          cwd=ROOT, capture_output=True, text=True, timeout=60,
                          env={**os.environ, **(env or {})})


def test_bench_runs_every_benchmark_or_says_why_not(tmp_path: Path) -> None:
    fake = tmp_path / "python"  # stands for the venv's python: records what it is asked to run
    fake.write_text('#!/bin/sh\necho "ran $1"\ncase "$1" in *org_scale.py) exit 7;; esac\n')
    fake.chmod(0o755)
    out = make("bench", f"BIN={tmp_path}")
    assert out.returncode != 0  # one benchmark failed: the run says so at the end
    lines = out.stdout.splitlines()
    assert lines[-1] == "==> failed: benchmarks/org_scale.py", out.stdout
    ran = {line.split()[1] for line in lines if line.startswith("ran ")}
    skipped = {line.split()[2].rstrip(":") for line in lines if line.startswith("==> skipping")}
    scripts = {f"benchmarks/{p.name}" for p in (ROOT / "benchmarks").glob("*.py")}
    assert ran | skipped == scripts and not ran & skipped
    for line in lines:
        if line.startswith("==> skipping"):
            assert ": " in line and len(line.split(": ", 1)[1]) > 10, line  # a reason


def test_make_test_says_what_it_installs_before_installing() -> None:
    dry = make("-n", "test", env={"DRGUARD_NO_BROWSER": ""}).stdout
    plan = dry.index("make test will:")
    assert plan < dry.index("apt-get install") and plan < dry.index("ruff check")
    said = make("test-plan", env={"PATH": "/usr/bin:/bin", "DRGUARD_NO_BROWSER": ""}).stdout
    if not (shutil.which("chromium", path="/usr/bin:/bin")
            and shutil.which("chromedriver", path="/usr/bin:/bin")):
        assert "chromium and chromium-driver" in said and "apt-get" in said
    assert "DRGUARD_NO_BROWSER=1" in make("-n", "test").stdout
    quiet = make("test-plan", env={"DRGUARD_NO_BROWSER": "1"}).stdout
    assert "chromium" not in quiet and "ruff, mypy and pytest" in quiet
