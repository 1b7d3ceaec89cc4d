"""Errors that name the bad input in one line."""

from __future__ import annotations

from typing import Any

from .records import record


class ConfigError(ValueError):
    """A policy config, auditor config or waiver file is malformed (exit code 2)."""


class InputError(ValueError):
    """A data input (CloudTrail file, stack export) is malformed; the run skips it."""


def type_name(value: Any) -> str:
    """How a value's type is named in messages (JSON/YAML words, not Python's)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


def shown(value: Any, limit: int = 60) -> str:
    """A short, one-line repr of a bad value for a message."""
    if isinstance(value, (dict, list, tuple)):
        return type_name(value)
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 10 ** 30:
        return "an integer too large to be a setting"
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


@record(frozen=True)
class Loc:
    """Where a value sits: the file or policy it came from and the path inside it.

    `str(loc)` is `<origin>: <path>`, e.g. `dr.yaml: scope.backupBucketPatterns[0]` or
    `policy 'rds-backup-retention': parameter 'minRetentionDays'`."""

    origin: str
    path: tuple[str | int, ...] = ()
    label: str = ""  # "parameter" in the policy pack, where a policy's keys are parameters

    def __truediv__(self, key: str | int) -> Loc:
        return Loc(self.origin, (*self.path, key), self.label)

    def dotted(self) -> str:
        out = ""
        for p in self.path:
            out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
        out = " ".join(out.split())  # one line, whatever the keys hold
        return out if len(out) <= 120 else f"{out[:40]}...{out[-70:]}"

    def __str__(self) -> str:
        if not self.path:
            return self.origin
        where = f"{self.label} {self.dotted()!r}" if self.label else self.dotted()
        return f"{self.origin}: {where}"

    def error(self, what: str) -> ConfigError:
        return ConfigError(f"{self}: {what}".replace("\n", " "))

    def expected(self, what: str, value: Any) -> ConfigError:
        return self.error(f"expected {what}, found {shown(value)}")
