"""Policy config inside the pack: parameters per policy, and the shared settings block.

The engine hands each policy only its own config, but scope rules and waivers are shared by
every backup-bucket control; they live in the config of the `dr-guard-settings` policy and
are captured when the engine calls Configure (see `engine_hooks`). Configure runs the same
validation pass as the auditor's `--config` (drguard.settings): a bad value is refused there,
with the policy, the path to the value and what was expected.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from drguard.scope import Scope
    from drguard.waivers import Waiver

# The registry, drguard.params and drguard.settings (the config validation pass, YAML
# reading, waivers) are imported when a config is first checked, not while the pack starts
# serving.

log = logging.getLogger(__name__)

# A relative `waiversFile` is read from the pack's directory (the repository root).
PACK_DIR = Path(__file__).resolve().parents[1]

_lock = threading.Lock()
_params_cache: dict[tuple[str, str], dict[str, Any]] = {}
_settings: tuple[Scope, list[Waiver]] | None = None  # the defaults until Configure sets them


def params_for(control_id: str, config: Mapping[str, Any] | None) -> dict[str, Any]:
    """Resolved parameters of a control (defaults + validated config), cached."""
    key = (control_id, json.dumps(config or {}, sort_keys=True, default=str))
    hit = _params_cache.get(key)
    if hit is None:
        from drguard.params import policy_loc, resolve
        from drguard.settings import check_structure

        values = dict(config) if isinstance(config, Mapping) else config
        check_structure(values, policy_loc(control_id))
        hit = resolve(control_id, values)
        with _lock:
            _params_cache[key] = hit
    return hit


def set_settings_block(block: Mapping[str, Any] | None, base_dir: Path | None = PACK_DIR,
                       ) -> None:
    """Validate and install the shared settings (raises ConfigError)."""
    global _settings
    from drguard.params import policy_loc
    from drguard.registry import SETTINGS_POLICY
    from drguard.settings import check_structure, load_settings_block

    loc = policy_loc(SETTINGS_POLICY)
    check_structure(block, loc)
    scope, waivers = load_settings_block(block, base_dir=base_dir, loc=loc)
    with _lock:
        _settings = (scope, waivers)


def settings() -> tuple[Scope, list[Waiver]]:
    global _settings
    if _settings is None:
        from drguard.scope import Scope

        with _lock:
            if _settings is None:
                _settings = (Scope(), [])
    return _settings


def today() -> dt.date:
    return dt.date.today()


def check_pack_config(config: Mapping[str, Any]) -> None:
    """Validate a whole pack config ({policy: properties}); raises ConfigError naming the
    policy, the path to the bad value and what was expected. Installs the settings block
    when all is well."""
    from drguard.registry import BY_ID, SETTINGS_POLICY

    for name, props in config.items():
        if name in BY_ID:
            params_for(name, props)
    set_settings_block(config.get(SETTINGS_POLICY))
