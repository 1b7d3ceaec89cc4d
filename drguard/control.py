"""What a control declaration is made of: `Control`, `Param`, `Mapping`.

Each `drguard.controls.<service>` module declares its controls with these; `drguard.registry`
collects them. Nothing here names a control.
"""

from __future__ import annotations

import re
from collections.abc import Mapping as Mapping_
from dataclasses import field
from typing import Any, Literal

from .detections import Detection
from .records import record
from .verdict import Remediation

Severity = Literal["low", "medium", "high", "critical"]
Source = Literal["deploy", "state", "live", "logs", "repo"]

SEVERITY_ORDER: dict[str, int] = {"low": 0, "medium": 1, "high": 2, "critical": 3}
# Severities whose policies block a deployment by default; the others are advisory.
BLOCKING_SEVERITIES: frozenset[str] = frozenset({"critical", "high"})

# What a gap exposes, most urgent first (reports rank "fix first" by severity, then by this).
DESTROYABLE = "backup data can be destroyed"
SINGLE_REGION = "no copy outside the region"
UNSEEN = "destruction would go unseen or unstopped"
HYGIENE = "hygiene"
EXPOSURES: tuple[str, ...] = (DESTROYABLE, SINGLE_REGION, UNSEEN, HYGIENE)

DEPLOY: frozenset[str] = frozenset({"deploy", "state"})
ALL_SOURCES: frozenset[str] = frozenset({"deploy", "state", "live", "logs"})


@record(frozen=True)
class Param:
    """A control parameter: its name (camelCase, as users write it), default and JSON schema."""

    name: str
    default: Any
    schema: dict[str, Any]
    description: str

    def json_schema(self) -> dict[str, Any]:
        return {**self.schema, "description": self.description, "default": self.default}


@record(frozen=True)
class Mapping:
    """The AWS Config managed rule / Security Hub controls a control lines up with."""

    aws_config: tuple[str, ...] = ()
    security_hub: tuple[str, ...] = ()
    # (framework, requirement) this control gives evidence for; empty = the defaults of its
    # exposure (drguard.frameworks)
    frameworks: tuple[tuple[str, str], ...] = ()

    def __bool__(self) -> bool:
        return bool(self.aws_config or self.security_hub)

    def reference(self) -> str:
        return ", ".join(self.aws_config + self.security_hub)


@record(frozen=True)
class Control:
    """One control as the registry declares it: id, severity, parameters and defaults."""

    id: str
    title: str
    severity: Severity
    tier: int
    description: str
    remediation: str
    params: tuple[Param, ...] = ()
    mapping: Mapping = field(default_factory=Mapping)
    sources: frozenset[str] = ALL_SOURCES
    # Whether the control applies only to buckets in backup scope (see drguard.scope).
    backup_scoped: bool = False
    # Logs side: the CloudTrail events that break this control (drguard.detections).
    detections: tuple[Detection, ...] = ()
    # The fix as code (Pulumi and AWS CLI), beside the one-line `remediation`.
    fix: Remediation | None = None
    # Why the gap matters (one sentence) and the fix as AWS console steps. With `remediation`,
    # `fix` and the rule's per-resource fix (drguard.controls.<service>), this is the one
    # declaration of a control's remediation that every output renders (see `remedy`).
    why: str = ""
    console: tuple[str, ...] = ()
    # What the pack's `remediate` enforcement level cannot fix here, and why (None: it fixes
    # all it judges, or the control is not served by the pack).
    cannot_remediate: str | None = None
    # What a gap exposes (one of EXPOSURES); None ranks after them, by tier.
    exposure: str | None = None
    # What a gap is, said as a gap (reports' "Fix first" titles): templates over the finding's
    # evidence, the first whose every {field} is known wins; `{field|day}` says "1 day",
    # "7 days", `{field|date}` the day of an ISO time. Without one that fits: "Not met: <title>".
    gap: tuple[str, ...] = ()

    def remedy(self, specific: Remediation | None = None) -> dict[str, Any]:
        """The remediation every output shows: the rule's fix for one resource (`specific`),
        or the control's own (`remediation`, `fix`), with why it matters and the console
        steps, all from this declaration."""
        general = self.fix
        r = specific or general
        return {"summary": r.summary if r is not None else self.remediation,
                "pulumi": (r.pulumi or None) if r is not None else None,
                "cli": r.cli if r is not None else None,
                "why": self.why or None, "console": list(self.console)}

    def gap_title(self, evidence: Mapping_[str, Any] | None = None) -> str:
        """The gap in a few words, from this finding's evidence: "Backups kept 1 day; needs 7",
        not the passing condition the title states."""
        values = evidence or {}
        for template in self.gap:
            try:
                return _FIELD.sub(lambda m: _gap_value(values, m.group(1), m.group(2)),
                                  template)
            except KeyError:
                continue
        return f"Not met: {self.title}"

    def defaults(self) -> dict[str, Any]:
        return {p.name: p.default for p in self.params}

    def param(self, name: str) -> Param:
        for p in self.params:
            if p.name == name:
                return p
        raise KeyError(f"{self.id} has no parameter {name!r}")

    def config_schema(self) -> dict[str, dict[str, Any]]:
        """JSON-schema properties of this control's parameters (pack `config_schema`)."""
        return {p.name: p.json_schema() for p in self.params}


_FIELD = re.compile(r"\{(\w+)(?:\|(\w+))?\}")


def _gap_value(values: Mapping_[str, Any], key: str, unit: str | None) -> str:
    """One {field} of a gap template; KeyError when the evidence does not know it."""
    v = values.get(key)
    if v is None or v == "" or v == "unreadable" or isinstance(v, dict):
        raise KeyError(key)
    if isinstance(v, list | tuple | set | frozenset):
        items = [str(x) for x in v]
        if not items:
            raise KeyError(key)
        v = ", ".join(items[:3]) + (f" and {len(items) - 3} more" if len(items) > 3 else "")
    elif isinstance(v, bool):
        v = "on" if v else "off"
    elif isinstance(v, float):
        v = f"{v:g}"
    if unit == "date":  # an ISO time: its day is enough in a title
        return str(v)[:10]
    if unit is not None:
        n = str(v)
        return f"{n} {unit}" if n in ("1", "1.0") else f"{n} {unit}s"
    return str(v)


def remedy_text(r: Mapping_[str, Any], code: bool = True) -> str:
    """A remediation (`Control.remedy`) as plain text: the fix, why it matters, the console
    steps and (`code`) the Pulumi snippet and AWS CLI command. Every plain-text output (pack
    remediation steps, SARIF rule help, JUnit, OCSF, ASFF) renders it with this."""
    lines = [str(r.get("summary") or "")]
    if r.get("why"):
        lines.append(f"Why: {r['why']}")
    steps = list(r.get("console") or ())
    if steps:
        lines.append("Console: " + " ".join(f"{i}. {x}" for i, x in enumerate(steps, 1)))
    if code and r.get("pulumi"):
        lines.append("Pulumi (Python):\n" + str(r["pulumi"]).rstrip())
    if code and r.get("cli"):
        lines.append("AWS CLI:\n" + str(r["cli"]).rstrip())
    return "\n".join(x for x in lines if x)


def days(name: str, default: int, description: str, maximum: int | None = None) -> Param:
    """An integer parameter counted in days (>= 1)."""
    schema: dict[str, Any] = {"type": "integer", "minimum": 1}
    if maximum is not None:
        schema["maximum"] = maximum
    return Param(name, default, schema, description)


def hours(name: str, default: int, description: str) -> Param:
    return Param(name, default, {"type": "integer", "minimum": 1}, description)


def flag(name: str, default: bool, description: str) -> Param:
    return Param(name, default, {"type": "boolean"}, description)


def strings(name: str, default: list[str], description: str, enum: list[str] | None = None,
            min_items: int = 0) -> Param:
    items: dict[str, Any] = {"type": "string", "minLength": 1}
    if enum:
        items["enum"] = enum
    return Param(name, default, {"type": "array", "items": items, "minItems": min_items,
                                 "uniqueItems": True}, description)


# Read better beside collections.abc.Mapping in control modules.
ConfigMapping = Mapping
