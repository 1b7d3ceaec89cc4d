"""Benchmarks time the product as an install runs it: from compiled bytecode.

pip compiles an installed package's modules; a checkout run with PYTHONDONTWRITEBYTECODE set (CI
images often set it) would otherwise compile every module from source at every start, which
is most of a start-up figure. Reading existing bytecode does not need writing allowed.
"""

from __future__ import annotations

import compileall
from pathlib import Path

PACKAGES = ("drguard", "auditor", "policypack", "tests/harness")


def compile_checkout(root: Path) -> None:
    """Write the bytecode of a checkout's packages (and its pack entry point), once."""
    for name in PACKAGES:
        if (root / name).is_dir():
            compileall.compile_dir(str(root / name), quiet=1)
    for entry in root.glob("*.py"):  # a pack's entry point (__main__.py, the no-op pack's)
        compileall.compile_file(str(entry), quiet=1)
