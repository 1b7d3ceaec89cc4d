"""Deploy-time remediation: the `remediate` enforcement level fixes what is safe to fix.

When a control's enforcement level is `remediate` (`"rds-backup-retention": "remediate"`, or
`{"all": "remediate"}`), the engine's `Remediate` call, made for every resource before it is
analyzed, rewrites the resource's own inputs:

- rds-backup-retention: backupRetentionPeriod raised to minRetentionDays (RDS, Aurora,
  DocumentDB, Neptune);
- rds-deletion-protection: deletionProtection true;
- rds-final-snapshot: skipFinalSnapshot false with a finalSnapshotIdentifier derived from the
  identifier; deleteAutomatedBackups false; copyTagsToSnapshot true;
- dynamodb-recovery: point-in-time recovery and deletionProtectionEnabled true;
- redshift-snapshot-retention: automatedSnapshotRetentionPeriod raised to minRetentionDays;
  skipFinalSnapshot false with an identifier;
- backup-bucket-versioning: a backup bucket's own inline versioning (v6 `versioning` /
  `versionings`, aws-native `versioningConfiguration`) enabled;
- stateful-resource-protect: forceDestroy false on backup buckets.

Rules: a value that already passes is never lowered; an unknown value (preview) or a secret is
never touched (nor is anything decided from one); a resource covered by an unexpired waiver of
the control is left alone; parameters come from the control's config. What remediation cannot
fix stays a violation with its message, and the service module says why (`CANNOT_REMEDIATE`,
also sent as the policy's not-applicable reason): Object Lock is set only when a bucket is
created; a setting that needs a resource of its own (a split BucketVersioning, a vault lock, a
replication configuration) cannot be added by a remediation; `protect` is a resource option,
not an input.

Each fix is declared beside its control's deploy binding, in policypack/services/<service>.py
(`REMEDIATIONS`: `Fixer(control, types, fix)`); this module has the shared machinery.

The pulumi-policy SDK only remediates resource policies; several controls are stack policies
(the stack model joins split resources), so the pack serves `Remediate` itself (`install`):
same request, same per-policy enforcement levels and config, same response as the SDK's, but on
the wire form, so secrets and unknowns go back exactly as they came.
"""

from __future__ import annotations

import copy
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from drguard import waivers as waivers_mod
from drguard.errors import ConfigError
from drguard.registry import BY_ID

from . import config
from .wire import SECRET_SIG, SENTINELS, SIG_KEY, plain

log = logging.getLogger(__name__)


class Skip(Exception):
    """Nothing may be changed on this resource (a deciding value is unknown or secret)."""


def is_secret(v: Any) -> bool:
    return isinstance(v, Mapping) and v.get(SIG_KEY) == SECRET_SIG


def untouchable(v: Any) -> bool:
    """An unknown (preview) or a secret: never changed, never decided on."""
    return (isinstance(v, str) and v in SENTINELS) or is_secret(v)


def _num(v: Any) -> float | None:
    if isinstance(v, bool):
        return None
    if isinstance(v, (int, float)):
        return float(v)
    if isinstance(v, str):
        try:
            return float(v)
        except ValueError:
            return None
    return None


def true(v: Any) -> bool:
    return v is True or (isinstance(v, str) and v.lower() == "true")


def false(v: Any) -> bool:
    return v is False or (isinstance(v, str) and v.lower() == "false")


@dataclass
class Target:
    """One resource being remediated: its wire-form inputs, edited in place."""

    type: str
    urn: str
    name: str
    props: dict[str, Any]
    changes: list[str]

    def value(self, key: str) -> Any:
        return self.props.get(key)

    def set(self, key: str, new: Any, why: str) -> None:
        old = self.props.get(key)
        self.props[key] = new
        self.changes.append(f"{key}: {show_value(old)} -> {show_value(new)} ({why})")

    def raise_to(self, key: str, minimum: int, why: str) -> None:
        v = self.value(key)
        if untouchable(v):
            return
        n = _num(v)
        if v is None or (n is not None and n < minimum):
            self.set(key, minimum, why)

    def make_true(self, key: str, why: str) -> None:
        v = self.value(key)
        if not untouchable(v) and not true(v):
            self.set(key, True, why)

    def make_false(self, key: str, why: str) -> None:
        v = self.value(key)
        if not untouchable(v) and not false(v):
            self.set(key, False, why)


def show_value(v: Any) -> str:
    if v is None:
        return "unset"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def snapshot_identifier(base: str) -> str:
    """A final-snapshot identifier from a DB or cluster name: letters, digits and single
    hyphens, starting with a letter, ending "-final" (RDS/Redshift naming rules)."""
    ident = re.sub(r"[^a-z0-9-]+", "-", base.lower())
    ident = re.sub(r"-{2,}", "-", ident).strip("-")
    if not ident or not ident[0].isalpha():
        ident = f"db-{ident}".rstrip("-")
    return f"{ident[:240]}-final"


def identifier(t: Target, prop: str) -> str:
    v = t.value(prop)
    return v if isinstance(v, str) and not untouchable(v) and v else t.name


# ---- helpers for the per-control fixes (policypack/services/<service>.py) ----------------------

Fix = Callable[[Target, Mapping[str, Any]], None]


@dataclass(frozen=True)
class Fixer:
    """A control's remediation, declared beside its deploy binding: the resource types whose
    own inputs it rewrites, and the fix (which edits a Target, or raises Skip)."""

    control: str
    types: frozenset[str]
    fix: Fix


def block_true(t: Target, block: str, key: str) -> None:
    cur = t.value(block)
    if untouchable(cur):
        return
    if cur is None:
        t.set(block, {key: True}, "point-in-time recovery")
        t.changes[-1] = f"{block}.{key}: unset -> true (point-in-time recovery)"
        return
    if isinstance(cur, dict) and not untouchable(cur.get(key)) and not true(cur.get(key)):
        old = cur.get(key)
        t.props[block] = {**cur, key: True}
        t.changes.append(f"{block}.{key}: {show_value(old)} -> true (point-in-time recovery)")


def backup_bucket(t: Target, name_prop: str = "bucket") -> bool:
    """Whether the bucket is in backup scope from its own inputs (tag, name, logical name);
    a bucket scoped only through a relation (trail or replication destination) is not
    visible to a one-resource remediation. Unknown/secret name or tags: not decided."""
    scope, _ = config.settings()
    name = t.value(name_prop)
    if is_secret(name):
        raise Skip
    tags = tags_of(t.value("tags"))
    known_name = name if isinstance(name, str) and name not in SENTINELS else None
    if scope.reasons(known_name, tags):
        return True
    return any(p.search(t.name) for p in scope.patterns)


def tags_of(raw: Any) -> dict[str, str]:
    if untouchable(raw):
        raise Skip
    out: dict[str, str] = {}
    if isinstance(raw, Mapping):
        for k, v in raw.items():
            if untouchable(v):
                raise Skip  # the scope tag might be this one
            out[str(k)] = str(v)
    elif isinstance(raw, list):
        for item in raw:
            if isinstance(item, Mapping) and isinstance(item.get("key"), str):
                v = item.get("value")
                if untouchable(v):
                    raise Skip
                out[item["key"]] = "" if v is None else str(v)
    return out


@cache
def fixes() -> dict[str, Fixer]:
    """Every control's remediation: the REMEDIATIONS of policypack/services/<service>.py."""
    from . import services

    out: dict[str, Fixer] = {}
    for m in services.modules():
        for f in getattr(m, "REMEDIATIONS", ()):
            out[f.control] = f
    return out


@cache
def cannot() -> dict[str, str]:
    """Control -> why a remediation cannot fix it (or fixes it only in part): the
    CANNOT_REMEDIATE of policypack/services/<service>.py."""
    from . import services

    out: dict[str, str] = {}
    for m in services.modules():
        out.update(getattr(m, "CANNOT_REMEDIATE", {}))
    return out


def remediate(control: str, type_: str, urn: str, name: str, props: dict[str, Any],
              policy_config: Mapping[str, Any] | None) -> tuple[dict[str, Any], list[str]]:
    """One control's fix on one resource's wire-form inputs: (new props, changes made).
    No change (not applicable, waived, already passing, unknown or secret): (props, [])."""
    spec = fixes().get(control)
    if spec is None or type_ not in spec.types or control not in BY_ID:
        return props, []
    params = config.params_for(control, policy_config)
    target = Target(type=type_, urn=urn, name=name, props=copy.deepcopy(props), changes=[])
    _scope, waivers = config.settings()
    try:
        tags = tags_of(props.get("tags"))
    except Skip:  # unknown or secret tags: only a waiver by tag could depend on them
        if any(w.tags and w.control == control for w in waivers):
            return props, []
        tags = {}
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
    from pulumi_policy import policy as sdk

    servicer = sdk._PolicyAnalyzerServicer
    if getattr(servicer, "_dr_guard_remediate", False):
        return

    def hooked_remediate(self: Any, request: Any, _context: Any) -> Any:
        return _remediate_rpc(self, request, sdk)

    servicer.Remediate = hooked_remediate
    servicer._dr_guard_remediate = True
