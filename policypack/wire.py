"""Reading properties as the engine sends them: raw values, unknown sentinels, numbers."""

from __future__ import annotations

import math
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
PLAIN = _PLAIN  # the value types read as they are


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
    kind = type(v)
    if kind is str:
        return UNKNOWN if v in SENTINELS else v
    if kind in _PLAIN:  # the common case (every stack-export value): nothing to unwrap
        return v
    v = raw(v)
    if isinstance(v, str) and v in SENTINELS:
        return UNKNOWN
    return v


def get(props: Any, *path: str | int) -> Any:
    """props[path...]: None when absent, UNKNOWN when it (or a parent) is unknown."""
    cur = props if type(props) is dict else val(props)
    for key in path:
        if cur is UNKNOWN:
            return UNKNOWN
        if isinstance(key, int):
            if not isinstance(cur, list) or len(cur) <= key:
                return None
            cur = val(cur[key])
        else:
            if type(cur) is dict:  # plain dicts first (the hot path of every check)
                cur = cur.get(key)
                kind = type(cur)
                if kind is str:
                    if cur in SENTINELS:
                        cur = UNKNOWN
                    continue
                if kind not in _PLAIN:
                    cur = val(cur)
            elif isinstance(cur, Mapping):
                cur = val(cur.get(key))
            else:
                return None
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
    if type(t) is dict:  # plain text tags (every stack export's): read inline (hot)
        out: dict[str, str] = {}
        for k, v in t.items():
            if type(v) is str and type(k) is str:
                if v not in SENTINELS:
                    out[k] = v
            elif (v := val(v)) is not UNKNOWN:
                out[str(k)] = str(v)
        return out
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


# ---- the one decoder of property values off the wire -----------------------------------------

SIG_KEY = "4dabf18193072939515e22adb298388d"
SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"
ASSET_SIG = "c44067f5952c0a294b673a41bacd8c17"
ARCHIVE_SIG = "0def7320c3a5731c473e5ecbe6d01bc7"
RESOURCE_SIG = "5cf8f73096256a8f31e491e813e4eb8e"
MAX_DEPTH = 100  # protobuf refuses deeper messages anyway


def is_secret(value: Any) -> bool:
    return isinstance(value, Mapping) and value.get(SIG_KEY) == SECRET_SIG


def plain(message: Any, loc: Any = None) -> Any:
    """A protobuf Struct/Value/ListValue as Python data (what MessageToDict gives, iteratively).

    A non-finite number (which MessageToDict and the SDK cannot convert) becomes the text
    "NaN"/"Infinity"/"-Infinity", so the rule reports the property as of the wrong type; given
    `loc` (a drguard.errors.Loc: config, where the caller must refuse it) it raises there."""
    root: list[Any] = [None]
    todo: list[tuple[Any, Any, Any, Any, int]] = [(message, root, 0, loc, 0)]
    while todo:
        msg, parent, slot, where, depth = todo.pop()
        if depth > MAX_DEPTH:
            if where is not None:
                raise where.error("nested too deeply")
            parent[slot] = UNKNOWN_STRING_VALUE
            continue
        name = msg.DESCRIPTOR.name
        if name == "Struct":
            out: Any = {}
            for k, v in msg.fields.items():
                out[k] = None
                todo.append((v, out, k, None if where is None else where / k, depth + 1))
            parent[slot] = out
            continue
        if name == "ListValue":
            items: list[Any] = [None] * len(msg.values)
            for i, v in enumerate(msg.values):
                todo.append((v, items, i, None if where is None else where / i, depth + 1))
            parent[slot] = items
            continue
        kind = msg.WhichOneof("kind")
        if kind == "struct_value":
            todo.append((msg.struct_value, parent, slot, where, depth))
        elif kind == "list_value":
            todo.append((msg.list_value, parent, slot, where, depth))
        elif kind == "number_value":
            n = msg.number_value
            if math.isfinite(n):
                parent[slot] = n
            elif where is not None:
                raise where.error(f"expected a finite number, found {n}")
            else:
                parent[slot] = "NaN" if n != n else ("Infinity" if n > 0 else "-Infinity")
        elif kind == "string_value":
            parent[slot] = msg.string_value
        elif kind == "bool_value":
            parent[slot] = msg.bool_value
        else:
            parent[slot] = None  # null_value or unset
    return root[0]


class Decoded:
    """What `decode` met besides plain values: envelopes it could not read (each one a
    property read as unknown, so the rest of the resource is still judged)."""

    def __init__(self) -> None:
        self.malformed: list[str] = []
        self.secrets: set[str] = set()  # plaintexts of secret values, for redaction

    def remember(self, value: Any) -> None:
        todo = [value]
        while todo:
            v = todo.pop()
            if isinstance(v, dict):
                todo.extend(v.values())
            elif isinstance(v, list):
                todo.extend(v)
            elif isinstance(v, str) and v and v not in SENTINELS:
                self.secrets.add(v)
            elif isinstance(v, int | float) and not isinstance(v, bool):
                self.secrets.add(str(v))


def decode(props: Any, seen: Decoded | None = None, path: str = "") -> Any:
    """Plain wire values with Pulumi's envelopes read, as the SDK's deserialize_properties
    reads them (secrets -> their value, assets/archives -> pulumi Asset/Archive objects), except
    that a malformed envelope (a secret without `value`, an asset without path/text/uri, an
    unknown signature) becomes the unknown sentinel for that property alone instead of failing
    the whole call."""
    seen = seen if seen is not None else Decoded()
    if isinstance(props, list):
        return [decode(v, seen, f"{path}[{i}]") for i, v in enumerate(props)]
    if not isinstance(props, dict):
        return props
    if SIG_KEY not in props:
        return {k: decode(v, seen, f"{path}.{k}" if path else k) for k, v in props.items()}
    sig = props[SIG_KEY]
    if sig == SECRET_SIG and "value" in props:
        out = decode(props["value"], seen, path)
        seen.remember(out)
        return out
    if sig == RESOURCE_SIG:
        ref = props.get("id") or props.get("urn")
        if isinstance(ref, str):
            return ref
    if sig in (ASSET_SIG, ARCHIVE_SIG):
        made = _asset(props, sig, seen, path)
        if made is not None:
            return made
    seen.malformed.append(path or "(top level)")
    return UNKNOWN_STRING_VALUE


def _asset(props: dict[str, Any], sig: str, seen: Decoded, path: str) -> Any:
    import pulumi

    if sig == ARCHIVE_SIG and isinstance(props.get("assets"), dict):
        assets = {k: decode(v, seen, f"{path}.assets.{k}") for k, v in props["assets"].items()}
        if all(isinstance(a, pulumi.Asset | pulumi.Archive) for a in assets.values()):
            return pulumi.AssetArchive(assets)
        return None
    kinds = ((("path", pulumi.FileAsset), ("text", pulumi.StringAsset),
              ("uri", pulumi.RemoteAsset)) if sig == ASSET_SIG else
             (("path", pulumi.FileArchive), ("uri", pulumi.RemoteArchive)))
    for key, cls in kinds:
        if isinstance(props.get(key), str):
            return cls(props[key])
    return None


def properties(struct: Any, seen: Decoded | None = None) -> dict[str, Any]:
    """A resource's properties off the wire: `plain` then `decode`."""
    out = decode(plain(struct), seen)
    return out if isinstance(out, dict) else {}
