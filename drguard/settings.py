"""Resolved settings for a run: control parameters, enabled controls, scope and waivers.

One loader for both config shapes users write:
- the policy pack's config (`--policy-pack-config`):
  `{"<control-id>": {...}, "dr-guard-settings": {...}}`
- the auditor's config file:
  `{"controls": {"<control-id>": {...}}, "scope": {...}, "waivers": [...]}`
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from . import waivers as waivers_mod
from .errors import ConfigError
from .params import resolve
from .registry import BY_ID, CONTROLS, SETTINGS_POLICY
from .scope import Scope
from .waivers import Waiver

# Keys of the settings block besides the scope parameters.
SETTINGS_EXTRA = ("waivers", "waiversFile")


@dataclass
class Settings:
    params: dict[str, dict[str, Any]] = field(
        default_factory=lambda: {c.id: c.defaults() for c in CONTROLS})
    enabled: set[str] = field(default_factory=lambda: {c.id for c in CONTROLS})
    scope: Scope = field(default_factory=Scope)
    waivers: list[Waiver] = field(default_factory=list)

    def of(self, control_id: str) -> dict[str, Any]:
        return self.params[control_id]


def load_settings_block(block: dict[str, Any] | None, base_dir: Path | None = None,
                        owner: str = SETTINGS_POLICY) -> tuple[Scope, list[Waiver]]:
    """The `dr-guard-settings` / `scope` block: scope parameters plus waivers."""
    block = dict(block or {})
    scope = Scope.from_settings(block, owner=owner, extra=SETTINGS_EXTRA)
    found = waivers_mod.parse(block.get("waivers"), where=f"{owner}.waivers")
    if block.get("waiversFile"):
        path = Path(block["waiversFile"])
        if not path.is_absolute() and base_dir is not None:
            path = base_dir / path
        found += waivers_mod.load_file(path)
    return scope, found


def from_mapping(data: Any, base_dir: Path | None = None, where: str = "config") -> Settings:
    if data is None:
        return Settings()
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping at the top level")
    if any(k in data for k in ("controls", "scope", "waivers", "waiversFile")):
        unknown = set(data) - {"controls", "scope", "waivers", "waiversFile"}
        if unknown:
            raise ConfigError(f"{where}: unknown top-level key(s) {', '.join(sorted(unknown))} "
                              "(expected controls, scope, waivers, waiversFile)")
        controls = data.get("controls") or {}
        block = dict(data.get("scope") or {})
        for k in ("waivers", "waiversFile"):
            if k in data:
                block[k] = data[k]
    else:
        controls = {k: v for k, v in data.items() if k != SETTINGS_POLICY and k != "all"}
        block = data.get(SETTINGS_POLICY) or {}
        if isinstance(block, str):
            block = {}
    if not isinstance(controls, dict):
        raise ConfigError(f"{where}: 'controls' must be a mapping")
    s = Settings()
    for cid, values in controls.items():
        if cid not in BY_ID:
            raise ConfigError(f"{where}: unknown control {cid!r}")
        if isinstance(values, str):  # pack shape: "<id>": "advisory"
            values = {"enforcementLevel": values}
        if isinstance(values, bool):
            values = {"enabled": values}
        values = dict(values or {})
        enabled = values.pop("enabled", True)
        if not isinstance(enabled, bool):
            raise ConfigError(f"policy {cid!r}: parameter 'enabled' must be true or false")
        if values.get("enforcementLevel") == "disabled":
            enabled = False
        s.params[cid] = resolve(cid, values)
        if not enabled:
            s.enabled.discard(cid)
    owner = where if "scope" in data else SETTINGS_POLICY
    s.scope, s.waivers = load_settings_block(block, base_dir, owner=owner)
    return s


def load_file(path: str | Path) -> Settings:
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as e:
        raise ConfigError(f"{p}: cannot read config: {e.strerror}") from None
    try:
        data = json.loads(text) if p.suffix == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as e:
        raise ConfigError(f"{p}: not valid {'JSON' if p.suffix == '.json' else 'YAML'}: "
                          f"{str(e).splitlines()[0]}") from None
    return from_mapping(data, base_dir=p.parent, where=str(p))
