"""One CrossGuard policy per control, built from the registry. Importing builds nothing that
serves; only the pack's entry point (`__main__.py`) hands these to `PolicyPack`."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyComplianceFramework,
    PolicyConfigSchema,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    Severity,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE, UnknownValueError

from drguard import waivers as waivers_mod
from drguard.errors import ConfigError
from drguard.facts import Resource
from drguard.registry import BY_ID, SCOPE_PARAMS, SETTINGS_POLICY, Control
from drguard.rules import Verdict, cloudtrail, protection, rds, s3

from . import adapters, config, engine_hooks
from .adapters import Res
from .stack import StackModel

log = logging.getLogger(__name__)

_SEVERITY = {"low": Severity.LOW, "medium": Severity.MEDIUM, "high": Severity.HIGH,
             "critical": Severity.CRITICAL}


def default_enforcement(control: Control) -> EnforcementLevel:
    """Mandatory for critical and high, advisory otherwise (overridable by config)."""
    if control.severity in ("critical", "high"):
        return EnforcementLevel.MANDATORY
    return EnforcementLevel.ADVISORY


def _metadata(control: Control) -> dict[str, Any]:
    framework = None
    if control.mapping:
        framework = PolicyComplianceFramework(
            name="AWS Foundational Security Best Practices", version="1.0.0",
            reference=control.mapping.reference(),
            specification=f"Equivalent AWS Config / Security Hub checks: "
                          f"{control.mapping.reference()}")
    return {
        "name": control.id,
        "description": control.description,
        "enforcement_level": default_enforcement(control),
        "config_schema": PolicyConfigSchema(control.config_schema()),
        "display_name": control.title,
        "severity": _SEVERITY[control.severity],
        "framework": framework,
        "tags": ["disaster-recovery", f"tier-{control.tier}"],
        "remediation_steps": control.remediation,
    }


class _Reporter:
    """Turns verdicts into violations: waivers silence, unknowns become one advisory note."""

    def __init__(self, control_id: str, report: ReportViolation) -> None:
        self.control_id = control_id
        self.report = report
        self.unknown: list[str] = []
        self.scope, self.waivers = config.settings()

    def emit(self, fact: Resource, verdict: Verdict | None) -> None:
        if verdict is None or verdict.status == "pass":
            return
        if verdict.status == "unknown":
            self.unknown.append(f"{fact.name}: {verdict.message}")
            return
        message = verdict.message
        match = waivers_mod.find(self.waivers, self.control_id, [fact.ref, fact.name],
                                 fact.tags, config.today())
        if match is not None:
            if not match.expired:
                log.info("%s on %s waived until %s", self.control_id, fact.ref,
                         match.waiver.expires)
                return
            message += (f" (the waiver by {match.waiver.owner} expired on "
                        f"{match.waiver.expires})")
        self.report(message, fact.ref)

    def finish(self) -> None:
        """Raise the SDK's own preview error, which it reports as advisory, never blocking."""
        if self.unknown:
            err = UnknownValueError(UNKNOWN_STRING_VALUE, [])
            err.message = "cannot be checked during preview: " + " | ".join(self.unknown)
            raise err


def _config_or_report(control_id: str, args: Any, report: ReportViolation) -> dict | None:
    try:
        return config.params_for(control_id, args.get_config())
    except ConfigError as e:
        report(f"Invalid policy config, policy not evaluated: {e}", None)
        return None


ResourceRule = Callable[[Any, dict[str, Any]], Verdict | None]


def resource_policy(control_id: str, types: Iterable[str], adapter: Callable[[Res], Any],
                    rule: ResourceRule) -> ResourceValidationPolicy:
    control = BY_ID[control_id]
    types = frozenset(types)

    def validate(args: ResourceValidationArgs, report: ReportViolation) -> None:
        if args.resource_type not in types:  # the hot path: most resources are not ours
            return
        params = _config_or_report(control_id, args, report)
        if params is None:
            return
        fact = adapter(Res.from_args(args))
        if fact is None:
            return
        out = _Reporter(control_id, lambda msg, _urn=None: report(msg, None))
        out.emit(fact, rule(fact, params))
        out.finish()

    return ResourceValidationPolicy(validate=validate, **_metadata(control))


StackRule = Callable[[StackModel, dict[str, Any]], Iterable[tuple[Resource, Verdict | None]]]


def stack_policy(control_id: str, rule: StackRule) -> StackValidationPolicy:
    control = BY_ID[control_id]

    def validate(args: StackValidationArgs, report: ReportViolation) -> None:
        params = _config_or_report(control_id, args, report)
        if params is None:
            return
        out = _Reporter(control_id, report)
        model = _shared_model(args.resources, out.scope)
        for fact, verdict in rule(model, params):
            out.emit(fact, verdict)
        out.finish()

    return StackValidationPolicy(validate=validate, **_metadata(control))


def _shared_model(resources: list[Any], scope: Any) -> StackModel:
    """One StackModel per AnalyzeStack call, shared by every stack policy (see
    engine_hooks); built afresh when no hooked call is in progress."""
    memo = engine_hooks.current_call()
    key = ("model", id(scope))
    if memo is not None and key in memo:
        return memo[key][1]
    model = StackModel.build((Res.from_args(r) for r in resources), scope)
    if memo is not None:
        memo[key] = (scope, model)
    return model


def _unlinked_guard(model: StackModel, kind: str, verdict: Verdict | None) -> Verdict | None:
    """A bucket that seems to lack a setting while a split resource of that kind could not be
    linked to any bucket (its target unknown in preview) cannot be judged yet."""
    if verdict is not None and verdict.status == "fail" and model.unlinked.get(kind):
        return Verdict("unknown", f"{verdict.message.split('.')[0]}, but a {kind} resource "
                                  "whose bucket is not known yet may configure it; cannot be "
                                  "checked during preview.", verdict.evidence)
    return verdict


def _versioning(model: StackModel, _params: dict) -> Iterable[tuple[Resource, Verdict | None]]:
    for b in model.buckets:
        yield b, _unlinked_guard(model, "versioning", s3.versioning(b))


def _object_lock(model: StackModel, params: dict) -> Iterable[tuple[Resource, Verdict | None]]:
    for b in model.buckets:
        yield b, _unlinked_guard(model, "lock", s3.object_lock(b, params))


def _protect(model: StackModel, _params: dict) -> Iterable[tuple[Resource, Verdict | None]]:
    for fact in (*model.databases, *model.buckets):
        yield fact, protection.protect(fact)


def settings_policy() -> StackValidationPolicy:
    """Carries scope rules and waivers for every control; reports nothing else."""
    properties = {p.name: p.json_schema() for p in SCOPE_PARAMS}
    properties["waivers"] = {"type": "array", "items": {"type": "object"},
                             "description": "Waivers (control, resource glob or tags, reason, "
                                            "owner, expires)."}
    properties["waiversFile"] = {"type": "string",
                                 "description": "Path of a waiver YAML file."}

    def validate(args: StackValidationArgs, report: ReportViolation) -> None:
        try:
            config.set_settings_block(args.get_config())
        except ConfigError as e:
            report(f"Invalid settings, defaults used: {e}", None)

    return StackValidationPolicy(
        name=SETTINGS_POLICY,
        description="DR Guard settings: backup-bucket scope rules and waivers.",
        enforcement_level=EnforcementLevel.ADVISORY,
        config_schema=PolicyConfigSchema(properties),
        display_name="DR Guard settings",
        validate=validate,
    )


def build() -> list[Any]:
    """Every policy of the pack, in registry order, plus the settings carrier."""
    db_types = adapters.DATABASE_TYPES
    return [
        settings_policy(),
        resource_policy("rds-backup-retention", db_types, adapters.database,
                        rds.backup_retention),
        resource_policy("rds-deletion-protection", db_types, adapters.database,
                        lambda db, _p: rds.deletion_protection(db)),
        resource_policy("rds-final-snapshot", db_types, adapters.database,
                        lambda db, _p: rds.final_snapshot(db)),
        stack_policy("backup-bucket-versioning", _versioning),
        stack_policy("backup-bucket-object-lock", _object_lock),
        stack_policy("stateful-resource-protect", _protect),
        resource_policy("cloudtrail-enabled", adapters.TRAIL_TYPES, adapters.trail,
                        lambda t, _p: cloudtrail.trail(t)),
    ]
