"""Resolved settings for a run: control parameters, enabled controls, scope and waivers.

One loader, and one validation pass, for every config input users write:
- the policy pack's config (`--policy-pack-config`, and what Configure receives):
  `{"all": "<level>", "<control-id>": {...} | "<level>", "dr-guard-settings": {...}}`
- the auditor's config file (`dr-audit --config`):
  `{"controls": {"<control-id>": {...}}, "scope": {...}, "waivers": [...], "waiversFile": ...}`
  (plus `tiers`, `applications`, `ownerTagKeys` and `notify: {routes: [{owner, target}]}`)
- waiver files (`waiversFile`): `{"waivers": [...]}`

Everything is checked before any work starts: the registry's JSON schemas, plus what a schema
cannot say (real calendar dates in ISO form, enforcement levels, patterns RE2 compiles, UTF-8
text, value types everywhere, nesting depth and size). The first problem raises a ConfigError
whose one-line message names the file or policy, the path to the bad value and what was
expected.

Waivers may be given both under `scope` and at the top level of the auditor's config: both
lists are used (merged, scope's first), and so are both `waiversFile`s.
"""

from __future__ import annotations

import difflib
from dataclasses import field
from pathlib import Path
from typing import Any

from . import applications as apps_mod
from . import inputs, notify_routes
from . import waivers as waivers_mod
from .errors import ConfigError, Loc, type_name
from .params import ENFORCEMENT_LEVELS, check_level, policy_loc, resolve
from .records import record
from .registry import BY_ID, CONTROLS, SETTINGS_POLICY
from .scope import Scope
from .waivers import Waiver

# Keys of the settings block besides the scope parameters.
SETTINGS_EXTRA = ("waivers", "waiversFile")
AUDITOR_KEYS = ("controls", "scope", "waivers", "waiversFile", *apps_mod.CONFIG_KEYS, "notify")
MAX_DEPTH = 32  # the deepest real config is 5 levels
MAX_VALUES = 100_000  # values after expanding YAML aliases
MAX_FILE_BYTES = 16 << 20
MAX_INT = 10 ** 18
_SCALARS = (str, int, float, bool, type(None))


@record
class Settings:
    """A run's configuration: parameters, enabled controls, scope, waivers, apps."""

    params: dict[str, dict[str, Any]] = field(
        default_factory=lambda: {c.id: c.defaults() for c in CONTROLS})
    enabled: set[str] = field(default_factory=lambda: {c.id for c in CONTROLS})
    scope: Scope = field(default_factory=Scope)
    waivers: list[Waiver] = field(default_factory=list)
    apps: apps_mod.Apps = field(default_factory=apps_mod.Apps)
    # auditor only: findings of an owner go to that owner's notification targets
    notify_routes: tuple[notify_routes.Route, ...] = ()
    # auditor only: what the waivers met in this run (drguard.evaluate records it)
    waiver_use: waivers_mod.Usage = field(default_factory=waivers_mod.Usage, compare=False,
                                          repr=False)

    def of(self, control_id: str) -> dict[str, Any]:
        return self.params[control_id]


# ---- reading ------------------------------------------------------------------------------

class Unreadable(ConfigError):
    """The file itself cannot be read (missing, a directory, no permission)."""


def read_document(path: Path, what: str = "config") -> Any:
    """A YAML or JSON document (JSON for a `.json` name), read through the one hardened
    reader (regular files only, size, depth, numbers, duplicate keys); ConfigError naming the
    file otherwise."""
    limits = inputs.Limits(max_bytes=MAX_FILE_BYTES, max_depth=MAX_DEPTH,
                           max_values=MAX_VALUES)
    try:
        data = inputs.load(path, what, limits=limits)
    except inputs.FileRefused as e:
        if str(e).endswith(f"{what} not found"):
            raise Unreadable(f"{path}: cannot read {what}: not found") from None
        if "cannot read" in str(e):
            raise Unreadable(str(e)) from None
        raise
    check_structure(data, Loc(str(path)))
    return data


def check_structure(data: Any, root: Loc) -> None:
    """Types a config may hold (JSON values), string keys, nesting at most MAX_DEPTH deep,
    no recursive YAML aliases, at most MAX_VALUES values once aliases are expanded."""
    sizes: dict[int, int] = {}
    # Iterative post-order walk: (value, loc, depth, entered, ancestors' ids)
    stack: list[tuple[Any, Loc, int, bool]] = [(data, root, 0, False)]
    on_path: set[int] = set()
    while stack:
        value, loc, depth, entered = stack.pop()
        if isinstance(value, _SCALARS):
            if isinstance(value, int) and not isinstance(value, bool) \
                    and not -MAX_INT <= value <= MAX_INT:
                raise loc.error("integer too large to be a setting")
            continue
        if not isinstance(value, (dict, list)):
            raise loc.error(f"unsupported value of type {type(value).__name__} (use plain "
                            "strings, numbers, booleans, lists and mappings)")
        key = id(value)
        if entered:
            on_path.discard(key)
            children = value.values() if isinstance(value, dict) else value
            total = 1 + sum(sizes.get(id(c), 1) for c in children)
            sizes[key] = total
            if total > MAX_VALUES:
                raise loc.error(f"more than {MAX_VALUES} values (are YAML aliases expanding "
                                "into a huge document?)")
            continue
        if key in on_path:
            raise loc.error("a YAML alias refers to a value that contains it (recursive)")
        if key in sizes:
            continue  # an alias to a value already checked
        if depth >= MAX_DEPTH:
            raise loc.error(f"nested more than {MAX_DEPTH} levels deep")
        on_path.add(key)
        stack.append((value, loc, depth, True))
        if isinstance(value, dict):
            for k, v in value.items():
                if not isinstance(k, str):
                    raise (loc / str(k)[:40]).error(
                        f"keys must be strings, found {type_name(k)}")
                stack.append((v, loc / k, depth + 1, False))
        else:
            for i, v in enumerate(value):
                stack.append((v, loc / i, depth + 1, False))


# ---- validation ---------------------------------------------------------------------------

def _mapping(value: Any, loc: Loc, what: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise loc.expected(what, value)
    return value


def load_settings_block(block: Any, base_dir: Path | None = None,
                        owner: str = SETTINGS_POLICY, loc: Loc | None = None,
                        ) -> tuple[Scope, list[Waiver]]:
    """The `dr-guard-settings` / `scope` block: scope parameters plus waivers (inline and
    `waiversFile`)."""
    loc = loc or policy_loc(owner)
    block = dict(_mapping(block, loc, "a mapping of scope settings and waivers"))
    scope = Scope.from_settings(block, owner=owner, extra=SETTINGS_EXTRA, loc=loc)
    found = waivers_mod.parse(block.get("waivers"), where=loc / "waivers")
    found += _waiver_file(block.get("waiversFile"), base_dir, loc / "waiversFile")
    return scope, found


def _waiver_file(value: Any, base_dir: Path | None, loc: Loc) -> list[Waiver]:
    if value is None or value == "":
        return []
    if not isinstance(value, str):
        raise loc.expected("the path of a waiver file (a string)", value)
    if "\x00" in value:
        raise loc.error("a path cannot contain a NUL character")
    path = Path(value)
    if not path.is_absolute() and base_dir is not None:
        path = base_dir / path
    try:
        return load_waiver_file(path)
    except Unreadable as e:  # say which setting named the file
        raise loc.error(str(e)) from None


def load_waiver_file(path: str | Path) -> list[Waiver]:
    """A waiver file: YAML or JSON, `{"waivers": [...]}`."""
    p = Path(path)
    data = read_document(p, "waiver file")
    if data is None:
        return []
    if not isinstance(data, dict) or "waivers" not in data:
        raise ConfigError(f"{p}: expected a mapping with a 'waivers' list, found "
                          f"{type_name(data)}" + (" without 'waivers'"
                                                  if isinstance(data, dict) else ""))
    unknown = [k for k in data if k != "waivers"]
    if unknown:
        raise ConfigError(f"{p}: unknown top-level key(s) "
                          f"{', '.join(sorted(map(str, unknown)))[:200]} (expected waivers)")
    return waivers_mod.parse(data["waivers"], where=Loc(str(p), ("waivers",)))


def _control_values(value: Any, loc: Loc, all_level: str | None) -> tuple[dict[str, Any], bool]:
    """(parameters incl. enforcementLevel, enabled) of one control's entry."""
    if value is None:
        values: dict[str, Any] = {}
    elif isinstance(value, bool):
        values = {"enabled": value}
    elif isinstance(value, str):  # pack shape: "<id>": "advisory"
        values = {"enforcementLevel": check_level(value, loc)}
    elif isinstance(value, dict):
        values = dict(value)
    else:
        raise loc.expected("a mapping of parameters, an enforcement level (" +
                           ", ".join(ENFORCEMENT_LEVELS) + ") or true/false", value)
    enabled = values.pop("enabled", True)
    if not isinstance(enabled, bool):
        raise (loc / "enabled").expected("true or false", enabled)
    level = values.get("enforcementLevel", all_level)
    if level is not None and check_level(level, loc / "enforcementLevel") == "disabled":
        enabled = False
    return values, enabled


def _all_level(value: Any, loc: Loc) -> str | None:
    if value is None:
        return None
    if isinstance(value, dict):
        extra = set(value) - {"enforcementLevel"}
        if extra:
            raise loc.error(f"only 'enforcementLevel' can be set for all policies, found "
                            f"{', '.join(sorted(extra))[:100]}")
        value = value.get("enforcementLevel")
        loc = loc / "enforcementLevel"
    return check_level(value, loc)


def from_mapping(data: Any, base_dir: Path | None = None, where: str = "config") -> Settings:
    """Validate a whole config (either shape) and resolve it (ConfigError on the first
    problem)."""
    root = Loc(where)
    if data is None:
        return Settings()
    check_structure(data, root)
    if not isinstance(data, dict):
        raise root.error(f"expected a mapping at the top level, found {type_name(data)}")
    s = Settings()
    all_level: str | None = None
    if any(k in data for k in AUDITOR_KEYS):
        unknown = set(data) - set(AUDITOR_KEYS)
        if unknown:
            raise root.error(f"unknown top-level key(s) {', '.join(sorted(unknown))[:200]} "
                             f"(expected {', '.join(AUDITOR_KEYS)})")
        controls_loc = root / "controls"
        controls = _mapping(data.get("controls"), controls_loc,
                            "a mapping of control id to parameters")
        block_loc = root / "scope"
        block = dict(_mapping(data.get("scope"), block_loc,
                              "a mapping of scope settings (backupTagKey, backupTagValue, "
                              "backupBucketPatterns, stateBucket, waivers, waiversFile)"))
        top_waivers = waivers_mod.parse(data.get("waivers"), where=root / "waivers")
        top_file = _waiver_file(data.get("waiversFile"), base_dir, root / "waiversFile")
        s.apps = apps_mod.parse(data, where)
        s.notify_routes = notify_routes.parse(data.get("notify"), root / "notify")
    else:
        controls_loc = root
        all_level = _all_level(data.get("all"), root / "all")
        controls = {k: v for k, v in data.items() if k not in (SETTINGS_POLICY, "all")}
        block_loc = root / SETTINGS_POLICY
        raw = data.get(SETTINGS_POLICY)
        if isinstance(raw, str):  # "dr-guard-settings": "advisory"
            check_level(raw, block_loc)
            raw = {}
        block = dict(_mapping(raw, block_loc, "a mapping of scope settings and waivers"))
        top_waivers, top_file = [], []
    for cid, value in controls.items():
        if cid not in BY_ID:
            near = difflib.get_close_matches(cid, list(BY_ID), n=1)
            hint = f"did you mean {near[0]!r}?" if near else "docs/controls.md lists them"
            raise controls_loc.error(f"unknown control {cid[:80]!r} ({hint})")
        loc = controls_loc / cid
        values, enabled = _control_values(value, loc, all_level)
        s.params[cid] = resolve(cid, values, loc)
        if not enabled:
            s.enabled.discard(cid)
    if all_level == "disabled":
        s.enabled -= {c for c in BY_ID if c not in controls}
    s.scope, s.waivers = load_settings_block(block, base_dir, loc=block_loc)
    s.waivers += top_waivers + top_file
    return s


def load_file(path: str | Path) -> Settings:
    """The auditor's `--config` file, validated (ConfigError naming the file otherwise)."""
    p = Path(path)
    return from_mapping(read_document(p, "config"), base_dir=p.parent, where=str(p))
