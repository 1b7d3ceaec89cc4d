"""Validate and resolve control parameters against the registry's JSON schemas."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from jsonschema import Draft202012Validator

from .errors import ConfigError
from .registry import BY_ID, SCOPE_PARAMS, SETTINGS_POLICY, Param

ENFORCEMENT_LEVELS = ("advisory", "mandatory", "remediate", "disabled")

_validators: dict[tuple[str, str], Draft202012Validator] = {}


def _validator(owner: str, param: Param) -> Draft202012Validator:
    key = (owner, param.name)
    if key not in _validators:
        _validators[key] = Draft202012Validator(param.schema)
    return _validators[key]


def _check(owner: str, params: Iterable[Param], values: dict[str, Any],
           allow: Iterable[str] = ()) -> dict[str, Any]:
    if not isinstance(values, dict):
        raise ConfigError(f"policy {owner!r}: config must be an object, "
                          f"got {type(values).__name__}")
    known = {p.name: p for p in params}
    allowed = set(allow)
    out: dict[str, Any] = {}
    for name, value in values.items():
        if name in allowed:
            continue
        param = known.get(name)
        if param is None:
            expected = ", ".join(sorted(known)) or "none"
            raise ConfigError(f"policy {owner!r}: unknown parameter {name!r} "
                              f"(known parameters: {expected})")
        if param.schema.get("type") == "integer":
            value = _integral(value)
        errors = sorted(_validator(owner, param).iter_errors(value), key=lambda e: e.path)
        if errors:
            raise ConfigError(f"policy {owner!r}: parameter {name!r}: {errors[0].message}")
        out[name] = value
    return out


def _integral(value: Any) -> Any:
    """Protobuf carries every number as a double: a config value of 14 arrives as 14.0."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


def resolve(control_id: str, values: dict[str, Any] | None) -> dict[str, Any]:
    """Defaults of the control overlaid with validated `values` (which may hold
    `enforcementLevel`, checked here and dropped)."""
    control = BY_ID[control_id]
    values = dict(values or {})
    level = values.get("enforcementLevel")
    if level is not None and level not in ENFORCEMENT_LEVELS:
        raise ConfigError(f"policy {control_id!r}: parameter 'enforcementLevel': {level!r} is "
                          f"not one of {', '.join(ENFORCEMENT_LEVELS)}")
    checked = _check(control_id, control.params, values, allow=("enforcementLevel",))
    return {**control.defaults(), **checked}


def resolve_settings(values: dict[str, Any] | None, owner: str = SETTINGS_POLICY,
                     extra: Iterable[str] = ()) -> dict[str, Any]:
    """Scope settings with defaults; `extra` names keys the caller validates itself."""
    values = dict(values or {})
    checked = _check(owner, SCOPE_PARAMS, values, allow=("enforcementLevel", *extra))
    return {**{p.name: p.default for p in SCOPE_PARAMS}, **checked}
