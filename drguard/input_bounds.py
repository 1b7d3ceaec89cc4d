"""What the readers of drguard.inputs share (its JSON half, here, and its YAML half,
drguard.inputs_yaml): the bounds of a read, the refusal every reader raises, and the markers
of a value refused part-way. `drguard.inputs` re-exports the public names."""

from __future__ import annotations

from typing import Any

from .errors import ConfigError
from .records import record

MAX_BYTES = 16 << 20
MAX_DEPTH = 64
MAX_INT_DIGITS = 30
MAX_VALUES = 1_000_000


class FileRefused(ConfigError):
    """A file that is not read; the message is `<file>: <reason>` on one line."""


def one_line(text: str, limit: int = 300) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[:limit - 1] + "\u2026"


def _refuse(where: str, reason: str) -> FileRefused:
    return FileRefused(one_line(f"{where}: {reason}", 600))


@record(frozen=True)
class Limits:
    """How large and deep an input file may be before it is refused."""

    max_bytes: int = MAX_BYTES
    max_depth: int = MAX_DEPTH
    max_int_digits: int = MAX_INT_DIGITS
    max_values: int = MAX_VALUES


DEFAULT = Limits()

class _Refusal(Exception):
    def __init__(self, reason: str) -> None:
        self.reason = reason


class _LongInt:
    """Stands for an integer literal past the bound until its path is known."""

    def __init__(self, digits: int) -> None:
        self.digits = digits
        self.line = 0


def _path_of(doc: Any, target: object) -> str:
    """Dotted path of `target` inside `doc` (iterative)."""
    stack: list[tuple[Any, str]] = [(doc, "")]
    while stack:
        value, at = stack.pop()
        if value is target:
            return at or "(top level)"
        if isinstance(value, dict):
            stack.extend((v, f"{at}.{k}" if at else str(k)) for k, v in value.items())
        elif isinstance(value, list):
            stack.extend((v, f"{at}[{i}]") for i, v in enumerate(value))
    return "(top level)"


@record
class Duplicate:
    """A key written twice in one mapping of an input file."""

    key: str
    line: int        # 1-based line of the later occurrence
    first_line: int
