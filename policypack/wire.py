"""Reading properties as the engine sends them: raw values, unknown sentinels, numbers."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from drguard.facts import UNKNOWN

# The engine's sentinels, as pulumi_policy.proxy / .deserialize define them: written out here so
# that reading a property (and `dr-audit state`) does not import the Pulumi SDK and gRPC
# (tests/test_imports.py checks they equal the SDK's).
UNKNOWN_STRING_VALUE = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
UNKNOWN_BOOLEAN_VALUE = "1c4a061d-8072-4f0a-a4cb-0ff528b18fe7"
UNKNOWN_NUMBER_VALUE = "3eeb2bf0-c639-47a8-9e75-3b44932eb421"
UNKNOWN_ARRAY_VALUE = "6a19a0b0-7e62-4c92-b797-7f8e31da9cc2"
UNKNOWN_OBJECT_VALUE = "dd056dcd-154b-4c76-9bd3-c8f88648b5ff"
UNKNOWN_ASSET_VALUE = "030794c1-ac77-496b-92df-f27374a8bd58"
UNKNOWN_ARCHIVE_VALUE = "e48ece36-62e2-4504-bad9-02848725956a"
SPECIAL_SIG_KEY = "4dabf18193072939515e22adb298388d"
SPECIAL_SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"

SENTINELS = frozenset({UNKNOWN_STRING_VALUE, UNKNOWN_BOOLEAN_VALUE, UNKNOWN_NUMBER_VALUE,
                       UNKNOWN_ARRAY_VALUE, UNKNOWN_OBJECT_VALUE, UNKNOWN_ASSET_VALUE,
                       UNKNOWN_ARCHIVE_VALUE})


_PLAIN = frozenset({dict, list, str, int, float, bool, type(None)})


def raw(props: Any) -> Any:
    """The plain dict/list behind the SDK's unknown-checking proxy.

    The proxy raises on the first unknown it meets, which would abort a whole policy; we want
    to judge every known value and report the unknown ones ourselves.
    """
    if type(props) in _PLAIN:  # nothing behind: stack exports, plain values (no exception)
        return props
    try:
        return props["__target"]
    except (KeyError, TypeError, IndexError):
        return props


def val(v: Any) -> Any:
    v = raw(v)
    if isinstance(v, str) and v in SENTINELS:
        return UNKNOWN
    return v


def get(props: Any, *path: str | int) -> Any:
    """props[path...]: None when absent, UNKNOWN when it (or a parent) is unknown."""
    cur = val(props)
    for key in path:
        if cur is UNKNOWN:
            return UNKNOWN
        if isinstance(key, int):
            if not isinstance(cur, list) or len(cur) <= key:
                return None
            cur = val(cur[key])
        else:
            if not isinstance(cur, Mapping):
                return None
            cur = val(cur.get(key))
        if cur is None:
            return None
    return cur


def num(v: Any) -> Any:
    """Protobuf sends every number as a double: 7.0 -> 7."""
    if isinstance(v, float) and v.is_integer():
        return int(v)
    if isinstance(v, str) and v not in SENTINELS:
        try:
            return int(v)
        except ValueError:
            return v
    return v


def boolean(v: Any) -> Any:
    if isinstance(v, str) and v.lower() in ("true", "false"):
        return v.lower() == "true"
    return v


def tags(props: Any, key: str = "tags") -> dict[str, str]:
    """Tags as a dict, from the aws map form or the aws-native [{key, value}] list form."""
    t = get(props, key)
    if isinstance(t, Mapping):
        return {str(k): str(val(v)) for k, v in t.items() if val(v) is not UNKNOWN}
    if isinstance(t, list):
        out = {}
        for item in t:
            item = val(item)
            if isinstance(item, Mapping) and isinstance(val(item.get("key")), str):
                v = val(item.get("value"))
                out[item["key"]] = "" if v is UNKNOWN or v is None else str(v)
        return out
    return {}
