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
fix stays a violation with its message, and `CANNOT` says why (also sent as the policy's
not-applicable reason): Object Lock is set only when a bucket is created; a setting that needs
a resource of its own (a split BucketVersioning, a vault lock, a replication configuration)
cannot be added by a remediation; `protect` is a resource option, not an input.

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
from typing import Any

from drguard import waivers as waivers_mod
from drguard.errors import ConfigError
from drguard.registry import BY_ID

from . import config
from .wire import SENTINELS

log = logging.getLogger(__name__)

SIG_KEY = "4dabf18193072939515e22adb298388d"
SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"

RDS_INSTANCE = "aws:rds/instance:Instance"
RDS_CLUSTER = "aws:rds/cluster:Cluster"
DOCDB_CLUSTER = "aws:docdb/cluster:Cluster"
NEPTUNE_CLUSTER = "aws:neptune/cluster:Cluster"
NATIVE_INSTANCE = "aws-native:rds:DbInstance"
NATIVE_CLUSTER = "aws-native:rds:DbCluster"
REDSHIFT_CLUSTER = "aws:redshift/cluster:Cluster"
DYNAMO_TABLE = "aws:dynamodb/table:Table"
NATIVE_TABLE = "aws-native:dynamodb:Table"
NATIVE_GLOBAL_TABLE = "aws-native:dynamodb:GlobalTable"
V6_BUCKET = "aws:s3/bucketV2:BucketV2"
BUCKET = "aws:s3/bucket:Bucket"
NATIVE_BUCKET = "aws-native:s3:Bucket"

# type -> (identifier property, has skipFinalSnapshot, has deleteAutomatedBackups,
#          has copyTagsToSnapshot, read-replica property)
_DATABASES: dict[str, tuple[str, bool, bool, bool, str]] = {
    RDS_INSTANCE: ("identifier", True, True, True, "replicateSourceDb"),
    RDS_CLUSTER: ("clusterIdentifier", True, True, True, "replicationSourceIdentifier"),
    DOCDB_CLUSTER: ("clusterIdentifier", True, False, False, ""),
    NEPTUNE_CLUSTER: ("clusterIdentifier", True, False, True, "replicationSourceIdentifier"),
    NATIVE_INSTANCE: ("dbInstanceIdentifier", False, True, True, "sourceDbInstanceIdentifier"),
    NATIVE_CLUSTER: ("dbClusterIdentifier", False, False, True, "replicationSourceIdentifier"),
}

# Controls a remediation cannot fix, or fixes only in part, and why.
CANNOT: dict[str, str] = {
    "backup-bucket-object-lock": "Object Lock can only be turned on when a bucket is created "
                                 "(and its retention rule is a resource of its own); a "
                                 "remediation cannot recreate the bucket or add resources.",
    "backup-bucket-versioning": "only a bucket's own inline versioning block is fixed; a "
                                "bucket without one needs a BucketVersioning resource, and a "
                                "remediation cannot add resources.",
    "stateful-resource-protect": "only forceDestroy is fixed; `protect` is a resource option, "
                                 "not an input, so it stays a violation until the program "
                                 "sets opts=pulumi.ResourceOptions(protect=True).",
    "backup-bucket-replication": "replication needs a destination bucket and a replication "
                                 "configuration: resources a remediation cannot add.",
    "backup-bucket-public-access-block": "the public access block is a resource of its own "
                                         "(BucketPublicAccessBlock); a remediation cannot add "
                                         "resources.",
    "backup-bucket-deletion-alerts": "alerts need an EventBridge rule, a target and CloudTrail "
                                     "data events: resources a remediation cannot add.",
    "rds-cross-region-backup": "a copy in another region needs a resource in that region; a "
                               "remediation cannot add resources.",
    "backup-vault-lock": "a vault lock is a resource of its own (VaultLockConfiguration); a "
                         "remediation cannot add resources.",
    "cloudtrail-enabled": "turning a trail multi-region or on is left to the program: it "
                          "changes what is logged and billed.",
    "scp-deny-backup-deletion": "an SCP's statements are a policy decision, not a setting.",
}


class _Skip(Exception):
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


def _true(v: Any) -> bool:
    return v is True or (isinstance(v, str) and v.lower() == "true")


def _false(v: Any) -> bool:
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
        self.changes.append(f"{key}: {_show(old)} -> {_show(new)} ({why})")

    def raise_to(self, key: str, minimum: int, why: str) -> None:
        v = self.value(key)
        if untouchable(v):
            return
        n = _num(v)
        if v is None or (n is not None and n < minimum):
            self.set(key, minimum, why)

    def make_true(self, key: str, why: str) -> None:
        v = self.value(key)
        if not untouchable(v) and not _true(v):
            self.set(key, True, why)

    def make_false(self, key: str, why: str) -> None:
        v = self.value(key)
        if not untouchable(v) and not _false(v):
            self.set(key, False, why)


def _show(v: Any) -> str:
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


def _identifier(t: Target, prop: str) -> str:
    v = t.value(prop)
    return v if isinstance(v, str) and not untouchable(v) and v else t.name


# ---- per-control fixes ------------------------------------------------------------------------

def _database_scope(t: Target, params: Mapping[str, Any], retention: bool = False) -> None:
    """Raise _Skip when the control does not apply (cluster members, replicas for
    retention) or cannot be decided (an unknown/secret membership or replica source)."""
    if t.type == NATIVE_INSTANCE:
        member = t.value("dbClusterIdentifier")
        if untouchable(member):
            raise _Skip
        if member:
            raise _Skip  # judged on its cluster
    if retention and not params.get("checkReadReplicas", False):
        prop = _DATABASES[t.type][4]
        source = t.value(prop) if prop else None
        if untouchable(source):
            raise _Skip
        if source:
            raise _Skip  # read replicas are exempt


def fix_backup_retention(t: Target, params: Mapping[str, Any]) -> None:
    _database_scope(t, params, retention=True)
    t.raise_to("backupRetentionPeriod", int(params["minRetentionDays"]),
               f"minimum {params['minRetentionDays']} days")


def fix_deletion_protection(t: Target, _params: Mapping[str, Any]) -> None:
    _database_scope(t, _params)
    t.make_true("deletionProtection", "deletes must be deliberate")


def fix_final_snapshot(t: Target, _params: Mapping[str, Any]) -> None:
    _database_scope(t, _params)
    ident_prop, has_skip, has_auto, has_copy, _ = _DATABASES[t.type]
    if has_skip:
        skip = t.value("skipFinalSnapshot")
        ident = t.value("finalSnapshotIdentifier")
        if not untouchable(skip) and not untouchable(ident):
            if _true(skip):
                t.set("skipFinalSnapshot", False, "a delete leaves a final snapshot")
            if not (isinstance(ident, str) and ident):
                t.set("finalSnapshotIdentifier",
                      snapshot_identifier(_identifier(t, ident_prop)),
                      "the final snapshot needs a name")
    if has_auto:
        t.make_false("deleteAutomatedBackups", "automated backups outlive the database")
    if has_copy:
        t.make_true("copyTagsToSnapshot", "snapshots keep the database's tags")


def fix_dynamodb(t: Target, _params: Mapping[str, Any]) -> None:
    if t.type == DYNAMO_TABLE:
        _block_true(t, "pointInTimeRecovery", "enabled")
        t.make_true("deletionProtectionEnabled", "deletes must be deliberate")
    elif t.type == NATIVE_TABLE:
        _block_true(t, "pointInTimeRecoverySpecification", "pointInTimeRecoveryEnabled")
        t.make_true("deletionProtectionEnabled", "deletes must be deliberate")
    elif t.type == NATIVE_GLOBAL_TABLE:
        replicas = t.value("replicas")
        if not isinstance(replicas, list):
            return
        new = copy.deepcopy(replicas)
        for r in new:
            if not isinstance(r, dict):
                continue
            spec = r.get("pointInTimeRecoverySpecification")
            if spec is None:
                r["pointInTimeRecoverySpecification"] = {"pointInTimeRecoveryEnabled": True}
            elif isinstance(spec, dict) and not untouchable(
                    spec.get("pointInTimeRecoveryEnabled")):
                spec["pointInTimeRecoveryEnabled"] = True
            if not untouchable(r.get("deletionProtectionEnabled")):
                r["deletionProtectionEnabled"] = True
        if new != replicas:
            t.set("replicas", new, "every replica: point-in-time recovery and deletion "
                                   "protection")
            t.changes[-1] = "replicas[]: pointInTimeRecoveryEnabled and " \
                            "deletionProtectionEnabled -> true"


def _block_true(t: Target, block: str, key: str) -> None:
    cur = t.value(block)
    if untouchable(cur):
        return
    if cur is None:
        t.set(block, {key: True}, "point-in-time recovery")
        t.changes[-1] = f"{block}.{key}: unset -> true (point-in-time recovery)"
        return
    if isinstance(cur, dict) and not untouchable(cur.get(key)) and not _true(cur.get(key)):
        old = cur.get(key)
        t.props[block] = {**cur, key: True}
        t.changes.append(f"{block}.{key}: {_show(old)} -> true (point-in-time recovery)")


def fix_redshift(t: Target, params: Mapping[str, Any]) -> None:
    t.raise_to("automatedSnapshotRetentionPeriod", int(params["minRetentionDays"]),
               f"minimum {params['minRetentionDays']} days")
    skip, ident = t.value("skipFinalSnapshot"), t.value("finalSnapshotIdentifier")
    if untouchable(skip) or untouchable(ident):
        return
    if _true(skip):
        t.set("skipFinalSnapshot", False, "a delete leaves a final snapshot")
    if not (isinstance(ident, str) and ident):
        t.set("finalSnapshotIdentifier",
              snapshot_identifier(_identifier(t, "clusterIdentifier")),
              "the final snapshot needs a name")


def _backup_bucket(t: Target) -> bool:
    """Whether the bucket is in backup scope from its own inputs (tag, name, logical name);
    a bucket scoped only through a relation (trail or replication destination) is not
    visible to a one-resource remediation. Unknown/secret name or tags: not decided."""
    scope, _ = config.settings()
    name_prop = "bucketName" if t.type == NATIVE_BUCKET else "bucket"
    name = t.value(name_prop)
    if is_secret(name):
        raise _Skip
    tags = _tags(t.value("tags"))
    known_name = name if isinstance(name, str) and name not in SENTINELS else None
    if scope.reasons(known_name, tags):
        return True
    return any(p.search(t.name) for p in scope.patterns)


def _tags(raw: Any) -> dict[str, str]:
    if untouchable(raw):
        raise _Skip
    out: dict[str, str] = {}
    if isinstance(raw, Mapping):
        for k, v in raw.items():
            if untouchable(v):
                raise _Skip  # the scope tag might be this one
            out[str(k)] = str(v)
    elif isinstance(raw, list):
        for item in raw:
            if isinstance(item, Mapping) and isinstance(item.get("key"), str):
                v = item.get("value")
                if untouchable(v):
                    raise _Skip
                out[item["key"]] = "" if v is None else str(v)
    return out


def fix_versioning(t: Target, _params: Mapping[str, Any]) -> None:
    if not _backup_bucket(t):
        return
    if t.type == NATIVE_BUCKET:
        cfg = t.value("versioningConfiguration")
        if untouchable(cfg):
            return
        if cfg is None:
            t.set("versioningConfiguration", {"status": "Enabled"}, "backup bucket")
            t.changes[-1] = "versioningConfiguration.status: unset -> Enabled (backup bucket)"
        elif isinstance(cfg, dict) and cfg.get("status") != "Enabled" and \
                not untouchable(cfg.get("status")):
            t.props["versioningConfiguration"] = {**cfg, "status": "Enabled"}
            t.changes.append(f"versioningConfiguration.status: {_show(cfg.get('status'))} -> "
                             "Enabled (backup bucket)")
        return
    block = t.value("versioning")
    if isinstance(block, dict) and not untouchable(block.get("enabled")) \
            and not _true(block.get("enabled")):
        t.props["versioning"] = {**block, "enabled": True}
        t.changes.append("versioning.enabled: "
                         f"{_show(block.get('enabled'))} -> true (backup bucket)")
    blocks = t.value("versionings")
    if isinstance(blocks, list) and blocks and isinstance(blocks[0], dict) \
            and not untouchable(blocks[0].get("enabled")) and not _true(blocks[0].get("enabled")):
        t.props["versionings"] = [{**blocks[0], "enabled": True}, *blocks[1:]]
        t.changes.append("versionings[0].enabled: "
                         f"{_show(blocks[0].get('enabled'))} -> true (backup bucket)")


def fix_force_destroy(t: Target, _params: Mapping[str, Any]) -> None:
    if t.type == NATIVE_BUCKET or not _backup_bucket(t):
        return
    v = t.value("forceDestroy")
    if not untouchable(v) and _true(v):
        t.set("forceDestroy", False, "deleting a backup bucket must not empty it")


Fix = Callable[[Target, Mapping[str, Any]], None]

# control -> (resource types, fix)
FIXES: dict[str, tuple[frozenset[str], Fix]] = {
    "rds-backup-retention": (frozenset(_DATABASES), fix_backup_retention),
    "rds-deletion-protection": (frozenset(_DATABASES), fix_deletion_protection),
    "rds-final-snapshot": (frozenset(t for t, d in _DATABASES.items() if d[1] or d[2]),
                           fix_final_snapshot),
    "dynamodb-recovery": (frozenset({DYNAMO_TABLE, NATIVE_TABLE, NATIVE_GLOBAL_TABLE}),
                          fix_dynamodb),
    "redshift-snapshot-retention": (frozenset({REDSHIFT_CLUSTER}), fix_redshift),
    "backup-bucket-versioning": (frozenset({BUCKET, V6_BUCKET, NATIVE_BUCKET}),
                                 fix_versioning),
    "stateful-resource-protect": (frozenset({BUCKET, V6_BUCKET}), fix_force_destroy),
}


def remediate(control: str, type_: str, urn: str, name: str, props: dict[str, Any],
              policy_config: Mapping[str, Any] | None) -> tuple[dict[str, Any], list[str]]:
    """One control's fix on one resource's wire-form inputs: (new props, changes made).
    No change (not applicable, waived, already passing, unknown or secret): (props, [])."""
    spec = FIXES.get(control)
    if spec is None or type_ not in spec[0] or control not in BY_ID:
        return props, []
    params = config.params_for(control, policy_config)
    target = Target(type=type_, urn=urn, name=name, props=copy.deepcopy(props), changes=[])
    try:
        tags = _tags(props.get("tags"))
    except _Skip:
        return props, []  # a waiver by tag cannot be ruled out
    _scope, waivers = config.settings()
    match = waivers_mod.find(waivers, control, [urn, name], tags, config.today())
    if match is not None and not match.expired:
        return props, []
    try:
        spec[1](target, params)
    except _Skip:
        return props, []
    if not target.changes:
        return props, []
    return target.props, target.changes


# ---- serving Remediate -----------------------------------------------------------------------

def _remediate_rpc(servicer: Any, request: Any, sdk: Any) -> Any:
    """pulumi-policy's Remediate, for resource and stack policies alike, on the wire form."""
    from google.protobuf import json_format, struct_pb2

    proto = sdk.proto
    servicer._configure_runtime_settings()
    response = proto.RemediateResponse()
    pack_name = servicer._PolicyAnalyzerServicer__policy_pack_name
    pack_version = servicer._PolicyAnalyzerServicer__policy_pack_version
    props: dict[str, Any] | None = None
    for policy in servicer._PolicyAnalyzerServicer__policies:
        if servicer._get_enforcement_level(policy) != sdk.EnforcementLevel.REMEDIATE:
            continue
        spec = FIXES.get(policy.name)
        if spec is None or request.type not in spec[0]:
            if policy.name in BY_ID:
                reason = CANNOT.get(policy.name, "this control has no remediation for "
                                                 f"{request.type}.")
                response.not_applicable.append(proto.PolicyNotApplicable(
                    policy_name=policy.name, reason=f"cannot be remediated: {reason}"))
            continue
        if props is None:
            props = json_format.MessageToDict(request.properties)
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
            if policy.name in CANNOT:
                response.not_applicable.append(proto.PolicyNotApplicable(
                    policy_name=policy.name,
                    reason=f"nothing remediated: {CANNOT[policy.name]}"))
            continue
        log.info("%s remediated %s: %s", policy.name, request.urn, "; ".join(changes))
        props = new
        struct = struct_pb2.Struct()
        struct.update(new)
        response.remediations.append(proto.Remediation(
            policyName=policy.name, policyPackName=pack_name, policyPackVersion=pack_version,
            description=f"{policy.description} Set: {'; '.join(changes)}.",
            properties=struct))
        if policy.name in CANNOT:  # fixed in part: say what is left
            response.not_applicable.append(proto.PolicyNotApplicable(
                policy_name=policy.name, reason=f"fixed in part: {CANNOT[policy.name]}"))
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
