"""Validate and resolve control parameters against the registry's JSON schemas."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # jsonschema is imported on first validation, not at pack start-up
    from jsonschema import Draft202012Validator

from .errors import ConfigError, Loc, type_name
from .registry import BY_ID, SCOPE_PARAMS, SETTINGS_POLICY, Param

ENFORCEMENT_LEVELS = ("advisory", "mandatory", "remediate", "disabled")
MAX_MESSAGE = 200

_DIGITS = re.compile(r"\d{25,}")

_validators: dict[tuple[str, str], Draft202012Validator] = {}


def policy_loc(owner: str) -> Loc:
    """Where a policy's own config sits in the policy pack: `policy '<name>'`."""
    return Loc(f"policy {owner!r}", label="parameter")


def _validator(owner: str, param: Param) -> Draft202012Validator:
    key = (owner, param.name)
    if key not in _validators:
        from jsonschema import Draft202012Validator

        _validators[key] = Draft202012Validator(param.schema)
    return _validators[key]


def _short(text: str) -> str:
    text = _DIGITS.sub(lambda m: f"{m.group()[:6]}...({len(m.group())} digits)",
                       " ".join(text.split()))
    return text if len(text) <= MAX_MESSAGE else text[:MAX_MESSAGE - 3] + "..."


def check_level(level: Any, loc: Loc) -> str:
    """An enforcement level from the allowed set."""
    if not isinstance(level, str) or level not in ENFORCEMENT_LEVELS:
        shown = repr(level) if isinstance(level, str) else type_name(level)
        raise loc.error(f"{_short(shown)} is not an enforcement level; expected one of "
                        f"{', '.join(ENFORCEMENT_LEVELS)}")
    return level


def _check(owner: str, params: Iterable[Param], values: Any, loc: Loc,
           allow: Iterable[str] = ()) -> dict[str, Any]:
    if not isinstance(values, dict):
        raise loc.error(f"config must be a mapping, found {type_name(values)}")
    known = {p.name: p for p in params}
    allowed = set(allow)
    out: dict[str, Any] = {}
    for name, value in values.items():
        if name in allowed:
            continue
        param = known.get(name)
        if param is None:
            expected = ", ".join(sorted(known)) or "none"
            raise ConfigError(f"{loc}: unknown parameter {_short(repr(name))} "
                              f"(known parameters: {expected})")
        if param.schema.get("type") == "integer":
            value = _integral(value)
        if type(value) is type(param.default) and value == param.default:
            out[name] = value  # the default (what the CLI fills in) is valid by construction
            continue
        try:
            errors = sorted(_validator(owner, param).iter_errors(value),
                            key=lambda e: [str(p) for p in e.absolute_path])
            if errors:
                err = errors[0]
                where = loc / name
                for p in err.absolute_path:
                    where = where / p
                hint = ""
                if err.validator == "type" and isinstance(err.instance, int) \
                        and "pattern" in (err.schema if isinstance(err.schema, dict) else {}):
                    # YAML reads 222222222222 as a number, and 011111111111 as octal
                    hint = (": write account ids in quotes, e.g. '111122223333': unquoted, YAML "
                            "reads them as numbers (and those starting with 0 as octal)")
                raise where.error(_short(err.message) + hint)
        except (ValueError, RecursionError) as e:  # e.g. an integer too long to print
            if isinstance(e, ConfigError):
                raise
            raise (loc / name).error(f"unusable value ({type(e).__name__})") from None
        out[name] = value
    return out


def _integral(value: Any) -> Any:
    """Protobuf carries every number as a double: a config value of 14 arrives as 14.0."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


def resolve(control_id: str, values: dict[str, Any] | None, loc: Loc | None = None,
            ) -> dict[str, Any]:
    """Defaults of the control overlaid with validated `values` (which may hold
    `enforcementLevel`, checked here and dropped). `loc` says where the values came from
    (default: the control's policy in the pack)."""
    control = BY_ID[control_id]
    loc = loc or policy_loc(control_id)
    if values is None:
        values = {}
    if not isinstance(values, dict):
        raise loc.error(f"expected a mapping of parameters, found {type_name(values)}")
    if "enforcementLevel" in values:
        check_level(values["enforcementLevel"], loc / "enforcementLevel")
    checked = _check(control_id, control.params, values, loc, allow=("enforcementLevel",))
    return {**control.defaults(), **checked}


def resolve_settings(values: dict[str, Any] | None, owner: str = SETTINGS_POLICY,
                     extra: Iterable[str] = (), loc: Loc | None = None) -> dict[str, Any]:
    """Scope settings with defaults; `extra` names keys the caller validates itself."""
    loc = loc or policy_loc(owner)
    if values is None:
        values = {}
    if "enforcementLevel" in values:
        check_level(values["enforcementLevel"], loc / "enforcementLevel")
    checked = _check(SETTINGS_POLICY, SCOPE_PARAMS, values, loc,
                     allow=("enforcementLevel", *extra))
    return {**{p.name: p.default for p in SCOPE_PARAMS}, **checked}
