"""One CrossGuard policy per control, built from the registry. Importing builds nothing that
serves; only the pack's entry point (`__main__.py`) hands these to `PolicyPack`."""

from __future__ import annotations

import functools
import logging
from typing import TYPE_CHECKING, Any

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

from drguard.errors import ConfigError

from . import config, deploy_index, engine_hooks
from .adapters import Res

if TYPE_CHECKING:
    from drguard.facts import Resource
    from drguard.registry import Control
    from drguard.verdict import Verdict

    from .binding import ResourceCheck, StackCheck
    from .stack import StackModel

# The pack serves from policypack/deploy_index.json: each policy's metadata and which check it
# runs, generated from the registry and the services (`python -m policypack.policies`). The
# registry and the services are imported on first use, not while the pack starts.

log = logging.getLogger(__name__)

_SEVERITY = {"low": Severity.LOW, "medium": Severity.MEDIUM, "high": Severity.HIGH,
             "critical": Severity.CRITICAL}


def default_enforcement(control: Control) -> EnforcementLevel:
    """Mandatory for critical and high, advisory otherwise (overridable by config)."""
    from drguard.control import BLOCKING_SEVERITIES

    if control.severity in BLOCKING_SEVERITIES:
        return EnforcementLevel.MANDATORY
    return EnforcementLevel.ADVISORY


def _metadata_of(control_id: str) -> dict[str, Any]:
    """A policy's metadata from the generated table, as PolicyPack takes it (the registry's
    declaration, read from the registry when the table does not have it)."""
    plain = deploy_index.POLICIES.get(control_id)
    if plain is None:
        from drguard.registry import BY_ID

        return _metadata(BY_ID[control_id])
    framework = plain["framework"]
    return {**plain, "enforcement_level": EnforcementLevel(plain["enforcement_level"]),
            "config_schema": PolicyConfigSchema(plain["config_schema"]),
            "severity": Severity(plain["severity"]),
            "framework": PolicyComplianceFramework(**framework) if framework else None,
            "tags": list(plain["tags"])}


def _plain_metadata(meta: dict[str, Any]) -> dict[str, Any]:
    """`_metadata` as JSON data (for the generated table)."""
    framework = meta["framework"]
    return {**meta, "enforcement_level": meta["enforcement_level"].value,
            "config_schema": meta["config_schema"].properties,
            "severity": meta["severity"].value,
            "framework": {k: getattr(framework, k) for k in
                          ("name", "version", "reference", "specification")}
            if framework is not None else None}


def _metadata(control: Control) -> dict[str, Any]:
    from drguard.control import remedy_text  # the registry's own, not needed to serve

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
        "remediation_steps": remedy_text(control.remedy()),
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
        if verdict.remediation is not None:  # the fix for this resource, said once
            message = f"{message} Fix: {verdict.remediation.summary}"
        from drguard import waivers as waivers_mod  # on first use (not at serve)

        match = waivers_mod.find(self.waivers, self.control_id, [fact.ref, fact.name],
                                 fact.tags, config.today())
        if match is not None:
            if not match.expired:
                log.info("%s on %s waived until %s", self.control_id, fact.ref,
                         match.waiver.expires)
                return
            message += match.expiry_note()
        self.report(message, fact.ref)

    def finish(self) -> None:
        """Raise the SDK's own preview error, which it reports as advisory, never blocking."""
        if self.unknown:
            err = UnknownValueError(UNKNOWN_STRING_VALUE, [])
            err.message = "cannot be checked during preview: " + " | ".join(self.unknown)
            raise err


def _config_or_report(control_id: str, args: Any, report: ReportViolation) -> dict[str, Any] | None:
    try:
        return config.params_for(control_id, args.get_config())
    except ConfigError as e:
        report(f"Invalid policy config, policy not evaluated: {e}", None)
        return None


@functools.cache
def _checks() -> dict[str, ResourceCheck | StackCheck]:
    """Every deploy check by control: the services are imported on the first validation, not
    while the pack starts (policypack.deploy_index says which controls have which check)."""
    from .checks import CHECKS

    return {c.control: c for c in CHECKS}


def resource_policy(control_id: str, types: frozenset[str]) -> ResourceValidationPolicy:
    def validate(args: ResourceValidationArgs, report: ReportViolation) -> None:
        if args.resource_type not in types:  # the hot path: most resources are not ours
            return
        params = _config_or_report(control_id, args, report)
        if params is None:
            return
        check: Any = _checks()[control_id]
        result = check.run(Res.from_args(args), params)
        if result is None:
            return
        def report_on_resource(msg: str, _urn: str | None = None) -> None:
            report(msg, None)

        out = _Reporter(control_id, report_on_resource)
        out.emit(*result)
        out.finish()

    return ResourceValidationPolicy(validate=validate, **_metadata_of(control_id))


def stack_policy(control_id: str) -> StackValidationPolicy:
    def validate(args: StackValidationArgs, report: ReportViolation) -> None:
        params = _config_or_report(control_id, args, report)
        if params is None:
            return
        check: Any = _checks()[control_id]
        out = _Reporter(control_id, report)
        model = _shared_model(args.resources, out.scope)
        for fact, verdict in check.rule(model, params):
            out.emit(fact, verdict)
        out.finish()

    return StackValidationPolicy(validate=validate, **_metadata_of(control_id))


def _shared_model(resources: list[Any], scope: Any) -> StackModel:
    """One StackModel per AnalyzeStack call, shared by every stack policy (see
    engine_hooks); built afresh when no hooked call is in progress."""
    memo = engine_hooks.current_call()
    key = ("model", id(scope))
    if memo is not None and key in memo:
        return memo[key][1]
    from .checks import build_model

    model = build_model((Res.from_args(r) for r in resources), scope)
    if memo is not None:
        memo[key] = (scope, model)
    return model


def settings_policy() -> StackValidationPolicy:
    """Carries scope rules and waivers for every control; reports nothing.

    The engine hands this config to this policy only, so it is read once, when Configure
    arrives (engine_hooks), where a bad block is refused; resource policies run before any
    stack policy, so installing it here would come too late and read waiversFile again."""
    settings = deploy_index.SETTINGS or _settings_schema()

    def validate(_args: StackValidationArgs, _report: ReportViolation) -> None:
        return None

    return StackValidationPolicy(
        name=settings["name"],
        description="DR Guard settings: backup-bucket scope rules and waivers.",
        enforcement_level=EnforcementLevel.ADVISORY,
        config_schema=PolicyConfigSchema(settings["config_schema"]),
        display_name="DR Guard settings",
        validate=validate,
    )


def _settings_schema() -> dict[str, Any]:
    """The settings carrier's name and config schema, from the registry."""
    from drguard.registry import SCOPE_PARAMS, SETTINGS_POLICY

    properties = {p.name: p.json_schema() for p in SCOPE_PARAMS}
    properties["waivers"] = {"type": "array", "items": {"type": "object"},
                             "description": "Waivers (control, resource glob or tags, reason, "
                                            "owner, expires)."}
    properties["waiversFile"] = {"type": "string",
                                 "description": "Path of a waiver YAML file."}
    return {"name": SETTINGS_POLICY, "config_schema": properties}


def index_table() -> dict[str, Any]:
    """policypack/deploy_index.json, from the registry and the services' deploy checks."""
    from drguard.registry import BY_ID

    from .binding import ResourceCheck as Resource_
    from .checks import CHECKS

    rows = []
    for c in CHECKS:
        row: dict[str, Any] = {"control": c.control,
                               "kind": "resource" if isinstance(c, Resource_) else "stack"}
        if isinstance(c, Resource_):
            row["types"] = sorted(c.types)
        row["policy"] = _plain_metadata(_metadata(BY_ID[c.control]))
        rows.append(row)
    return {"settings": _settings_schema(), "checks": rows}


def build() -> list[Any]:
    """Every policy of the pack, one per deploy-side check, plus the settings carrier."""
    out: list[Any] = [settings_policy()]
    rows = deploy_index.CHECKS or tuple(  # without the table: from the checks themselves
        (c["control"], c["kind"], frozenset(c.get("types") or ()))
        for c in index_table()["checks"])
    for control_id, kind, types in rows:
        if kind == "resource":
            out.append(resource_policy(control_id, types))
        else:
            out.append(stack_policy(control_id))
    return out


def write_index() -> None:
    """Regenerate policypack/deploy_index.json (also done by `python docs/gen_controls.py`)."""
    import json

    deploy_index.TABLE.write_text(json.dumps(index_table(), indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    write_index()
