"""Wrongly typed properties: a value of a type a rule does not expect is judged, not a crash.

A property written `"seven"`, `[7]`, `NaN` or `{"days": 7}` where a number belongs (from a
hand-edited stack export, a dynamic provider or a bug upstream) makes the rule return an
`error` verdict naming the property and the type found; the policy pack reports it as a
violation (the resource cannot be shown compliant), the auditor as an `error` finding.
"""

from __future__ import annotations

import math
from typing import Any

from .errors import shown, type_name
from .facts import UNKNOWN
from .verdict import Verdict

# kind -> (test, words for "expected ...")
_KINDS: dict[str, tuple[Any, str]] = {
    "int": (lambda v: (isinstance(v, int) and not isinstance(v, bool))
            or (isinstance(v, float) and math.isfinite(v) and v.is_integer()),
            "a whole number"),
    "number": (lambda v: isinstance(v, (int, float)) and not isinstance(v, bool)
               and math.isfinite(v), "a number"),
    "bool": (lambda v: isinstance(v, bool), "true or false"),
    "str": (lambda v: isinstance(v, str), "a string"),
    "list": (lambda v: isinstance(v, (list, tuple)), "a list"),
    "dict": (lambda v: isinstance(v, dict), "a mapping"),
}


def found(value: Any) -> str:
    """How a wrong value is described: its type and, for a scalar, the value."""
    if isinstance(value, float) and not math.isfinite(value):
        return f"a non-finite number ({value})"
    if isinstance(value, (dict, list, tuple)):
        return type_name(value)
    return f"{type_name(value)} ({shown(value, 40)})"


def wrong(fact: Any, prop: str, value: Any, kind: str) -> Verdict | None:
    """An `error` verdict when `value` (the fact's `prop`, as users name it) is not of
    `kind` (`int`, `number`, `bool`, `str`, `list`, `dict`); None when it is usable (UNKNOWN
    and None always are)."""
    if value is None or value is UNKNOWN:
        return None
    test, words = _KINDS[kind]
    if test(value):
        return None
    name = getattr(fact, "name", "") or "the resource"
    return Verdict("error", f"{name}: {prop} is {found(value)}, expected {words}; the value "
                            "cannot be judged. Fix: set a valid value.",
                   {"property": prop, "foundType": type_name(value)})


def whole(value: Any) -> Any:
    """A usable whole number as int (7.0 -> 7); anything else unchanged."""
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    return value
