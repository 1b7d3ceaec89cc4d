"""Subcommands: each module has HELP, add_arguments(parser) and run(args) -> exit code."""

from __future__ import annotations

import importlib
from types import ModuleType

_NAMES = ("scan", "logs", "state", "demo", "merge", "plan", "drill", "repo")


def _load() -> dict[str, ModuleType]:
    out = {}
    for name in _NAMES:
        try:
            out[name] = importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as e:  # a command not written yet must not break the others
            if e.name != f"{__name__}.{name}":
                raise
    return out


COMMANDS: dict[str, ModuleType] = _load()
