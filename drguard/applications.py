"""Applications: which application, stack, owner and tier each finding belongs to.

Precedence (the same for every source):
- application: the Pulumi stack whose checkpoint manages the resource (`project/stack`), else
  the resource's `dr:app` tag;
- stack, urn: from that checkpoint only;
- owner: the first of `ownerTagKeys` (default `owner`, `team`) the resource is tagged with,
  else the config's `applications.<name>.owner`;
- tier: the `dr:tier` tag, else the config's `applications.<name>.tier`.

Config (top-level keys of the auditor's config):

    tiers:
      critical: {targetRpoHours: 1, targetRtoMinutes: 60, crossRegion: true, crossAccount: true}
    applications:
      payments/prod: {tier: critical, owner: team-payments}
    ownerTagKeys: [owner, team]
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import field
from typing import Any

from .errors import ConfigError
from .records import record

APP_TAG = "dr:app"
TIER_TAG = "dr:tier"
DEFAULT_OWNER_TAG_KEYS: tuple[str, ...] = ("owner", "team")
CONFIG_KEYS: tuple[str, ...] = ("tiers", "applications", "ownerTagKeys")

_NAME = {"type": "string", "minLength": 1, "maxLength": 256}
TIER_SCHEMA: dict[str, Any] = {
    "type": "object", "additionalProperties": False,
    "properties": {"targetRpoHours": {"type": "number", "exclusiveMinimum": 0},
                   "targetRtoMinutes": {"type": "number", "exclusiveMinimum": 0},
                   "crossRegion": {"type": "boolean"},
                   "crossAccount": {"type": "boolean"}}}
SCHEMA: dict[str, Any] = {
    "type": "object", "additionalProperties": False,
    "properties": {
        "tiers": {"type": "object", "propertyNames": _NAME,
                  "additionalProperties": TIER_SCHEMA},
        "applications": {"type": "object", "propertyNames": _NAME,
                         "additionalProperties": {
                             "type": "object", "additionalProperties": False,
                             "properties": {"tier": _NAME, "owner": _NAME}}},
        "ownerTagKeys": {"type": "array", "items": _NAME, "minItems": 1, "maxItems": 20},
    }}


@record(frozen=True)
class Apps:
    """The config's tiers, applications and owner tag keys."""

    tiers: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    applications: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    owner_tag_keys: tuple[str, ...] = DEFAULT_OWNER_TAG_KEYS

    def objectives(self, tier: str | None) -> Mapping[str, Any]:
        """The objectives of `tier` (empty when unknown)."""
        return self.tiers.get(tier or "", {})


def parse(data: Mapping[str, Any], where: str = "config") -> Apps:
    """Validate the `tiers`, `applications` and `ownerTagKeys` keys of a config."""
    from jsonschema import Draft202012Validator

    block = {k: data[k] for k in CONFIG_KEYS if k in data}
    errors = sorted(Draft202012Validator(SCHEMA).iter_errors(block),
                    key=lambda e: list(map(str, e.absolute_path)))
    if errors:
        e = errors[0]
        path = ".".join(str(p) for p in e.absolute_path) or "(top level)"
        raise ConfigError(f"{where}: {path}: {e.message[:200]}")
    tiers = block.get("tiers") or {}
    apps = block.get("applications") or {}
    for name, app in apps.items():
        tier = app.get("tier")
        if tier is not None and tier not in tiers:
            raise ConfigError(f"{where}: applications.{name}.tier: {tier!r} is not one of "
                              f"the tiers ({', '.join(sorted(tiers)) or 'none defined'})")
    return Apps(tiers=tiers, applications=apps,
                owner_tag_keys=tuple(block.get("ownerTagKeys") or DEFAULT_OWNER_TAG_KEYS))


def _tag(tags: Mapping[str, Any] | None, key: str) -> str | None:
    v = (tags or {}).get(key)
    return v if isinstance(v, str) and v else None


def from_tags(f: Any, tags: Mapping[str, Any] | None, apps: Apps) -> tuple[str | None,
                                                                             str | None]:
    """Fill a new finding's application, owner and tier from the resource's tags and the
    config (a checkpoint match, applied later by `managed_by`, takes the application);
    returns (owner, tier) as the tags alone say (`tagged`)."""
    f.application = f.application or _tag(tags, APP_TAG)
    owner, tier = tagged(tags, apps)
    f.owner = f.owner or owner
    f.tier = f.tier or tier
    _from_config(f, apps)
    return owner, tier


def tagged(tags: Mapping[str, Any] | None, apps: Apps) -> tuple[str | None, str | None]:
    """(owner, tier) the resource's own tags say."""
    return (next((v for k in apps.owner_tag_keys if (v := _tag(tags, k))), None),
            _tag(tags, TIER_TAG))


def managed_by(f: Any, stack: str, urn: str, apps: Apps) -> None:
    """The checkpoint that manages the finding's resource names its application: its owner
    and tier are the resource's own tags, else that application's config (never the config
    of an application a `dr:app` tag named)."""
    f.application, f.stack, f.urn = stack, stack, urn
    f.owner, f.tier = getattr(f, "tag_owner", None), getattr(f, "tag_tier", None)
    _from_config(f, apps)


def _from_config(f: Any, apps: Apps) -> None:
    conf = apps.applications.get(f.application or "", {})
    f.owner = f.owner or conf.get("owner")
    f.tier = f.tier or conf.get("tier")


def tier_of(tags: Mapping[str, Any] | None, apps: Apps) -> str | None:
    """A resource's tier before any checkpoint is read: `dr:tier`, else the config's tier of
    the application its `dr:app` tag names."""
    return _tag(tags, TIER_TAG) or apps.applications.get(_tag(tags, APP_TAG) or "", {}).get(
        "tier")


def with_tier(params: Mapping[str, Any], key: str, tags: Mapping[str, Any] | None,
              apps: Apps) -> dict[str, Any]:
    """`params` with `key` taken from the resource's tier objectives when its tier sets it;
    `targetFrom` says where the value in force came from."""
    return tier_params(params, key, tier_of(tags, apps), apps)


def undefined_tier(tier: str | None, apps: Apps) -> str | None:
    """Why the objectives of `tier` are unknown: it is not one of the tiers the config
    defines (a typo in a `dr:tier` tag, or a tier nobody defined); None when it is defined,
    when there is none, or when the config defines no tiers (the tag is then only a label)."""
    if tier is None or not apps.tiers or tier in apps.tiers:
        return None
    return (f"its tier {tier!r} is not one of the tiers the config defines "
            f"({', '.join(sorted(apps.tiers))})")


def tier_params(params: Mapping[str, Any], key: str, tier: str | None,
                apps: Apps) -> dict[str, Any]:
    """`params` with `key` taken from `tier`'s objectives when it sets it; a tier the config
    does not define is named in `tierUndefined` (the target in force is then unknown)."""
    value = apps.objectives(tier).get(key)
    if value is None:
        why = undefined_tier(tier, apps)
        return {**params, "targetFrom": key} if why is None else \
            {**params, "targetFrom": f"tier {tier}", "tierUndefined": why}
    return {**params, key: value, "targetFrom": f"tier {tier}"}


def applies(control: str, tier: str | None, apps: Apps) -> bool:
    """False when the tier's `crossRegion: false` / `crossAccount: false` takes the control
    off its resources."""
    from .controls.objectives import CROSS_ACCOUNT_CONTROLS, CROSS_REGION_CONTROLS

    obj = apps.objectives(tier)
    if obj.get("crossRegion") is False and control in CROSS_REGION_CONTROLS:
        return False
    return not (obj.get("crossAccount") is False and control in CROSS_ACCOUNT_CONTROLS)
