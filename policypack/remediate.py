"""Deploy-time remediation: the `remediate` enforcement level fixes what is safe to fix.

When a control's enforcement level is `remediate` (`"rds-backup-retention": "remediate"`), the
engine's `Remediate` call, made for every resource before it is
analyzed, rewrites the resource's own inputs:

- rds-backup-retention: backupRetentionPeriod raised to minRetentionDays (RDS, Aurora,
  DocumentDB, Neptune);
- rds-deletion-protection: deletionProtection true;
- rds-final-snapshot: skipFinalSnapshot false with a finalSnapshotIdentifier derived from the
  identifier; deleteAutomatedBackups false;
- dynamodb-recovery: point-in-time recovery and deletionProtectionEnabled true;
- redshift-snapshot-retention: automatedSnapshotRetentionPeriod raised to minRetentionDays;
  skipFinalSnapshot false with an identifier;
- backup-bucket-versioning: a backup bucket's own inline versioning (v6 `versioning` /
  `versionings`, aws-native `versioningConfiguration`) enabled;
- stateful-resource-protect: forceDestroy false on backup buckets.

Rules: a fix changes only what the control finds wrong (a value that already passes is never
lowered, a setting the control does not judge is never touched); an unknown value (preview) or
a secret is never touched (nor is anything decided from one); a resource covered by an
unexpired waiver of the control is left alone; parameters come from the control's config.
What remediation cannot fix stays a violation with its message, and the control's declared
fix says why (also sent as the policy's not-applicable reason): turning Object Lock on or adding
a default retention is not an input of the bucket resource a remediation may change; a setting
that needs a resource of its own (a split BucketVersioning, a vault lock, a replication
configuration) cannot be added by a remediation; `protect` is a resource option,
not an input.

Each fix is declared beside its control's deploy binding, in policypack/services/<service>.py
(`remediations` of its `DeployService`: `Fixer(control, types, fix)`, built from
`policypack.fixers`); this module serves them.

The pulumi-policy SDK only remediates resource policies; several controls are stack policies
(the stack model joins split resources), so the pack serves `Remediate` itself (`install`):
same request, same per-policy enforcement levels and config, same response as the SDK's, but on
the wire form, so secrets and unknowns go back exactly as they came.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Mapping
from typing import Any

from drguard.errors import ConfigError

from . import config
from .fixers import (
    Fixer,
    Skip,
    Target,
    backup_bucket,
    block_true,
    identifier,
    show_value,
    snapshot_identifier,
    tags_of,
    true,
    untouchable,
)
from .wire import plain

log = logging.getLogger(__name__)

# the building blocks a fix is written with, importable from here too
__all__ = ["Fixer", "Skip", "Target", "backup_bucket", "block_true", "cannot", "fixes",
           "identifier", "install", "remediate", "show_value", "snapshot_identifier",
           "tags_of", "true", "untouchable"]


def fixes() -> dict[str, Fixer]:
    """Every control's remediation: the `remediations` of each service's DeployService."""
    from . import services  # on first use: the pack starts serving without the services

    return services.CATALOG.remediations


def cannot() -> dict[str, str]:
    """Control -> why a remediation cannot fix it (or fixes it only in part): each control's
    declared `cannot_remediate` (drguard.controls.<service>)."""
    from drguard.registry import BY_ID

    return {c.id: c.cannot_remediate for c in BY_ID.values() if c.cannot_remediate}


def check_levels(levels: Mapping[str, str]) -> None:
    """Refuse `remediate` on an advisory control the pack cannot remediate (ConfigError, one
    line). The level means "fix what you can, block on the rest", so on such a control it
    would only turn advice into a blocking violation; `"all": "remediate"`, which the engine
    expands to every policy, did exactly that without a word."""
    from drguard.control import BLOCKING_SEVERITIES
    from drguard.registry import BY_ID

    bad = sorted(cid for cid, level in levels.items()
                 if level == "remediate" and cid in BY_ID and cid not in fixes()
                 and BY_ID[cid].severity not in BLOCKING_SEVERITIES)
    if bad:
        fixable = ", ".join(sorted(fixes()))
        raise ConfigError(
            f"enforcement level remediate on advisory control(s) {', '.join(bad)}, which the "
            "pack cannot remediate, would only make them blocking (\"all\": \"remediate\" "
            "does this): set \"remediate\" per control (remediable: " + fixable + "), or "
            "give these controls their own level")


def resource_tags(type_: str, props: Mapping[str, Any]) -> dict[str, str]:
    """A resource's tags from its wire-form inputs, where the deploy adapters read them
    (Skip when unknown or secret). An aws-native global table has tags only on its replicas."""
    if type_ == "aws-native:dynamodb:GlobalTable":
        replicas = props.get("replicas")
        if untouchable(replicas):
            raise Skip
        out: dict[str, str] = {}
        for x in replicas if isinstance(replicas, list) else ():
            if untouchable(x):
                raise Skip
            if isinstance(x, Mapping):
                out.update(tags_of(x.get("tags")))
        return out
    return tags_of(props.get("tags"))


def remediate(control: str, type_: str, urn: str, name: str, props: dict[str, Any],
              policy_config: Mapping[str, Any] | None) -> tuple[dict[str, Any], list[str]]:
    """One control's fix on one resource's wire-form inputs: (new props, changes made).
    No change (not applicable, waived, already passing, unknown or secret): (props, [])."""
    from drguard.registry import BY_ID

    spec = fixes().get(control)
    if spec is None or type_ not in spec.types or control not in BY_ID:
        return props, []
    params = config.params_for(control, policy_config)
    target = Target(type=type_, urn=urn, name=name, props=copy.deepcopy(props), changes=[])
    _scope, waivers = config.settings()
    try:
        tags = resource_tags(type_, props)
    except Skip:  # unknown or secret tags: only a waiver by tag could depend on them
        if any(w.tags and w.control == control for w in waivers):
            return props, []
        tags = {}
    from drguard import waivers as waivers_mod

    match = waivers_mod.find(waivers, control, [urn, name], tags, config.today())
    if match is not None and not match.expired:
        return props, []
    try:
        spec.fix(target, params)
    except Skip:
        return props, []
    if not target.changes:
        return props, []
    return target.props, target.changes


# ---- serving Remediate -----------------------------------------------------------------------

def _remediate_rpc(servicer: Any, request: Any, sdk: Any) -> Any:
    """pulumi-policy's Remediate, for resource and stack policies alike, on the wire form."""
    from google.protobuf import struct_pb2

    from drguard.registry import BY_ID

    proto = sdk.proto
    servicer._configure_runtime_settings()
    response = proto.RemediateResponse()
    pack_name = servicer._PolicyAnalyzerServicer__policy_pack_name
    pack_version = servicer._PolicyAnalyzerServicer__policy_pack_version
    props: dict[str, Any] | None = None
    why = cannot()
    for policy in servicer._PolicyAnalyzerServicer__policies:
        if servicer._get_enforcement_level(policy) != sdk.EnforcementLevel.REMEDIATE:
            continue
        spec = fixes().get(policy.name)
        if spec is None or request.type not in spec.types:
            if policy.name in BY_ID:
                reason = why.get(policy.name, "this control has no remediation for "
                                              f"{request.type}.")
                response.not_applicable.append(proto.PolicyNotApplicable(
                    policy_name=policy.name, reason=f"cannot be remediated: {reason}"))
            continue
        if props is None:
            props = plain(request.properties)
        try:
            new, changes = remediate(policy.name, request.type, request.urn, request.name,
                                     props, servicer._get_policy_config(policy.name))
        except ConfigError as e:  # Configure already refuses bad config; belt and braces
            response.remediations.append(proto.Remediation(
                policyName=policy.name, policyPackName=pack_name,
                policyPackVersion=pack_version, description=policy.description,
                diagnostic=f"invalid policy config, remediation not run: {e}"))
            continue
        if not changes:
            if policy.name in why:
                response.not_applicable.append(proto.PolicyNotApplicable(
                    policy_name=policy.name, reason=f"nothing remediated: {why[policy.name]}"))
            continue
        log.info("%s remediated %s: %s", policy.name, request.urn, "; ".join(changes))
        props = new
        struct = struct_pb2.Struct()
        struct.update(new)
        response.remediations.append(proto.Remediation(
            policyName=policy.name, policyPackName=pack_name, policyPackVersion=pack_version,
            description=f"{policy.description} Set: {'; '.join(changes)}.",
            properties=struct))
        if policy.name in why:  # fixed in part: say what is left
            response.not_applicable.append(proto.PolicyNotApplicable(
                policy_name=policy.name, reason=f"fixed in part: {why[policy.name]}"))
    return response


def install() -> None:
    """Serve Remediate with `_remediate_rpc` (only the pack's entry point calls this)."""
    from pulumi_policy import policy as sdk_module

    sdk: Any = sdk_module

    servicer: Any = sdk._PolicyAnalyzerServicer
    if getattr(servicer, "_dr_guard_remediate", False):
        return

    def hooked_remediate(self: Any, request: Any, _context: Any) -> Any:
        return _remediate_rpc(self, request, sdk)

    servicer.Remediate = hooked_remediate
    servicer._dr_guard_remediate = True
