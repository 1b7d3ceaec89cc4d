"""Subcommands: each module has HELP, add_arguments(parser) and run(args) -> exit code.

COMMANDS maps each name to its module, imported on first access: `dr-audit state` imports the
state command, not the scan's boto3 or the logs reader."""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Iterator, Mapping
from types import ModuleType

_NAMES = ("scan", "logs", "state", "demo", "merge", "plan", "drill", "repo", "iam-policy")


def _module(name: str) -> str:
    """The module of a command: `iam-policy` lives in iam_policy.py."""
    return f"{__name__}.{name.replace('-', '_')}"


def _exists(name: str) -> bool:
    return importlib.util.find_spec(_module(name)) is not None


class _Commands(Mapping[str, ModuleType]):
    """name -> command module, imported when first looked up (a command not written yet is
    simply absent)."""

    def __init__(self) -> None:
        self._names = tuple(n for n in _NAMES if _exists(n))

    def __getitem__(self, name: str) -> ModuleType:
        if name not in self._names:
            raise KeyError(name)
        return importlib.import_module(_module(name))

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)


COMMANDS: Mapping[str, ModuleType] = _Commands()
