"""Pulumi wire-format constants and helpers (what the engine puts in a protobuf Struct).

Property values reach a policy pack as JSON-like data in which two things are encoded in-band:

- an **unknown** value (preview: not computed yet) is the string :data:`UNKNOWN`;
- a **secret** is ``{SIG_KEY: SECRET_SIG, "value": <plain value>}``.

These helpers let tests build and inspect such values without re-typing the magic strings.
"""

from __future__ import annotations

from typing import Any

SIG_KEY = "4dabf18193072939515e22adb298388d"
SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"
RESOURCE_SIG = "5cf8f73096256a8f31e491e813e4eb8e"
OUTPUT_SIG = "d0e6a833031e9bbcd3f4e8bde6ca49a4"
UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"


def secret(value: Any) -> dict[str, Any]:
    """Wrap ``value`` as a wire-form secret."""
    return {SIG_KEY: SECRET_SIG, "value": value}


def is_secret(value: Any) -> bool:
    return isinstance(value, dict) and value.get(SIG_KEY) == SECRET_SIG


def is_unknown(value: Any) -> bool:
    """True for the unknown sentinel, also when wrapped in a secret."""
    if is_secret(value):
        return is_unknown(value.get("value"))
    return value == UNKNOWN


def contains_unknowns(value: Any) -> bool:
    if is_unknown(value):
        return True
    if isinstance(value, dict):
        return any(contains_unknowns(v) for v in value.values())
    if isinstance(value, list):
        return any(contains_unknowns(v) for v in value)
    return False


def plain(value: Any) -> Any:
    """Strip secret wrappers recursively (unknown sentinels are kept)."""
    if is_secret(value):
        return plain(value.get("value"))
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def strip_resource_refs(value: Any) -> Any:
    """Replace resource references as the engine does for analyzers (KeepResources=false):
    a custom resource becomes its ID (unknown if not known yet), a component its URN."""
    if isinstance(value, dict):
        if value.get(SIG_KEY) == RESOURCE_SIG:
            if "id" in value:
                return value["id"] or UNKNOWN
            return value.get("urn", UNKNOWN)
        return {k: strip_resource_refs(v) for k, v in value.items()}
    if isinstance(value, list):
        return [strip_resource_refs(v) for v in value]
    return value
