"""The control registry: every DR control, collected from `drguard.controls.<service>`.

The policy pack and the auditor both read this module; neither re-types an id, a severity, a
parameter name or a default. The reference of every control (parameters, resource types, API
calls, CloudTrail events, mappings, remediation) is generated from it: docs/controls.md.
"""

from __future__ import annotations

from . import controls as _controls
from .control import (
    ALL_SOURCES,
    DEPLOY,
    SEVERITY_ORDER,
    Control,
    Mapping,
    Param,
    Severity,
    Source,
    flag,
    strings,
)
from .controls.organizations import BACKUP_DELETION_ACTIONS

__all__ = ["ALL_SOURCES", "BACKUP_DELETION_ACTIONS", "BY_ID", "CONTROLS", "DEPLOY",
           "SCOPE_PARAMS", "SERVICE_OF", "SETTINGS_POLICY", "SEVERITY_ORDER", "Control",
           "Mapping", "Param", "Severity", "Source", "flag", "for_source", "get"]

# Settings shared by every backup-scoped control and by waivers. In the policy pack they are
# the config of the `dr-guard-settings` policy; in the auditor's config file, top-level keys.
SCOPE_PARAMS: tuple[Param, ...] = (
    Param("backupTagKey", "dr:backup", {"type": "string", "minLength": 1},
          "Tag key that marks a bucket as a backup bucket."),
    Param("backupTagValue", "true", {"type": "string"},
          "Tag value that marks a bucket as a backup bucket (compared case-insensitively)."),
    strings("backupBucketPatterns", ["(?i)backup"],
            "Regular expressions; a bucket whose name matches one is a backup bucket."),
    Param("stateBucket", None, {"type": ["string", "null"]},
          "Name of the S3 bucket that holds Pulumi state (auto-scoped as a backup bucket)."),
)

# Name of the settings-only policy that carries SCOPE_PARAMS and waivers in the policy pack.
SETTINGS_POLICY = "dr-guard-settings"


def _collect() -> tuple[tuple[Control, ...], dict[str, str]]:
    found: list[Control] = []
    service: dict[str, str] = {}
    for module in _controls.modules():
        for c in module.CONTROLS:
            if c.id in service:
                raise ValueError(f"control {c.id!r} declared twice ({service[c.id]}, "
                                 f"{module.__name__})")
            service[c.id] = module.__name__.rsplit(".", 1)[-1]
            found.append(c)
    return tuple(sorted(found, key=lambda c: c.tier)), service


# Every control, by tier (stable: service module, then declaration order within a tier).
CONTROLS, SERVICE_OF = _collect()
BY_ID: dict[str, Control] = {c.id: c for c in CONTROLS}


def get(control_id: str) -> Control:
    try:
        return BY_ID[control_id]
    except KeyError:
        raise KeyError(f"unknown control {control_id!r}") from None


def for_source(source: str) -> list[Control]:
    return [c for c in CONTROLS if source in c.sources]
