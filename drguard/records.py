"""`record`: a dataclass whose `__eq__`, `__hash__` and `__repr__` are shared, not generated.

Python 3.11 compiles each method a dataclass generates from source text, one `exec` apiece:
three for a plain dataclass, six for a frozen one, about 0.1 ms each. Every `dr-audit` command
and the policy pack import some seventy dataclasses at start, so those compiles were a sixth of
their import time. A record generates only what must be fast per instance (`__init__`, and a
frozen record's guards) and takes comparison, hashing and repr from the functions below, which
read the field names kept on the class. They behave as the generated methods do: the same
fields compared, hashed (as a tuple, so the same hash values) and shown, `NotImplemented`
against another class, unhashable unless frozen, and a method the class defines itself is
kept. `dataclasses.fields`, `replace` and `asdict` work as on any dataclass.
"""

from __future__ import annotations

import abc
import dataclasses
import reprlib
from collections.abc import Callable
from typing import Any, TypeVar, dataclass_transform, overload

_T = TypeVar("_T")

# class -> field names, as the generated methods would read them
_COMPARED = "__record_compared__"
_HASHED = "__record_hashed__"
_SHOWN = "__record_shown__"


def _eq(self: Any, other: Any) -> Any:
    if other.__class__ is self.__class__:
        names = getattr(self, _COMPARED)
        return tuple(getattr(self, n) for n in names) == tuple(getattr(other, n) for n in names)
    return NotImplemented


def _hash(self: Any) -> int:
    return hash(tuple(getattr(self, n) for n in getattr(self, _HASHED)))


@reprlib.recursive_repr("...")
def _repr(self: Any) -> str:
    shown = ", ".join(f"{n}={getattr(self, n)!r}" for n in getattr(self, _SHOWN))
    return f"{self.__class__.__qualname__}({shown})"


def _make(cls: type[_T], frozen: bool, slots: bool) -> type[_T]:
    body = cls.__dict__
    explicit_hash = "__hash__" in body and not (body["__hash__"] is None and "__eq__" in body)
    own = {name for name in ("__eq__", "__repr__") if name in body}
    out = dataclasses.dataclass(cls, eq=False, repr=False, frozen=frozen, slots=slots)
    fields = dataclasses.fields(out)  # type: ignore[arg-type]
    setattr(out, _COMPARED, tuple(f.name for f in fields if f.compare))
    setattr(out, _HASHED, tuple(f.name for f in fields
                                if (f.compare if f.hash is None else f.hash)))
    setattr(out, _SHOWN, tuple(f.name for f in fields if f.repr))
    if "__eq__" not in own:
        out.__eq__ = _eq  # type: ignore[method-assign]
    if "__repr__" not in own:
        out.__repr__ = _repr  # type: ignore[method-assign]
    if not explicit_hash:  # as dataclass(eq=True): hashable by value when frozen, else not
        out.__hash__ = _hash if frozen else None  # type: ignore[method-assign,assignment]
    abc.update_abstractmethods(out)  # an abstract __hash__ (say) of a base is now defined
    return out


@overload
def record(cls: type[_T], /) -> type[_T]: ...


@overload
def record(*, frozen: bool = False, slots: bool = False) -> Callable[[type[_T]], type[_T]]: ...


@dataclass_transform(field_specifiers=(dataclasses.field, dataclasses.Field))
def record(cls: type[_T] | None = None, /, *, frozen: bool = False,
           slots: bool = False) -> Any:
    """`@dataclass` (with `frozen` and `slots` as there), its eq, hash and repr shared."""
    if cls is None:
        return lambda c: _make(c, frozen, slots)
    return _make(cls, frozen, slots)
