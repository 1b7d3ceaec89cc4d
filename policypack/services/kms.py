"""AWS KMS at deploy time: keys (`aws:kms/key:Key`, `aws:kms/replicaKey:ReplicaKey`), which
resources of the stack that hold recovery data reference each one, and the
backup-kms-key-usable binding.

A resource references a key by the property dependency of its key property on the key's URN
(what the engine records even when the ARN is still unknown during preview) or, failing that,
by the key's ARN or id as a string. What holds recovery data: a stateful fact of another service
(databases, tables, file systems, vaults, warehouses, backup buckets; each service says so with
`stateful()`), an EBS volume, and the copies in `COPIES` (snapshot copies, replicated automated
backups). A bucket's SSE-KMS key is set on its split
`aws:s3/bucketServerSideEncryptionConfiguration` resource, linked to the bucket like the other
split S3 resources; the key its replicas are encrypted with on its BucketReplicationConfig. A
key property still unknown without a dependency may name a key of this stack: a disabled key
nobody seems to use is then "unknown", not skipped.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from drguard.controls import kms as ctl
from drguard.controls.kms import Key
from drguard.facts import UNKNOWN
from drguard.scope import Scope
from drguard.verdict import Verdict

from ..adapters import Res, base
from ..binding import Judged, StackCheck
from ..service import DeployService, Link
from ..wire import get, val
from .s3 import REPLICATION_TYPES, SSE_TYPES

if TYPE_CHECKING:
    from ..stack import StackModel

KEY_TYPES = frozenset({"aws:kms/key:Key", "aws-native:kms:Key"})
REPLICA_TYPES = frozenset({"aws:kms/replicaKey:ReplicaKey", "aws-native:kms:ReplicaKey"})
UNLINKED = "kms-key-reference"

# type token -> the top-level properties that hold a key of the data it stores.
KEY_PROPS: dict[str, tuple[str, ...]] = {
    "aws:rds/instance:Instance": ("kmsKeyId",),
    "aws:rds/cluster:Cluster": ("kmsKeyId",),
    "aws:docdb/cluster:Cluster": ("kmsKeyId",),
    "aws:neptune/cluster:Cluster": ("kmsKeyArn",),
    "aws:redshift/cluster:Cluster": ("kmsKeyId",),
    "aws:dynamodb/table:Table": ("serverSideEncryption", "replicas"),
    "aws:efs/fileSystem:FileSystem": ("kmsKeyId",),
    "aws:backup/vault:Vault": ("kmsKeyArn",),
    "aws:ebs/volume:Volume": ("kmsKeyId",),
    "aws:s3/bucket:Bucket": ("serverSideEncryptionConfiguration", "replicationConfiguration"),
    "aws:s3/bucketV2:BucketV2": ("serverSideEncryptionConfigurations",
                                 "replicationConfigurations"),
    "aws-native:s3:Bucket": ("bucketEncryption", "replicationConfiguration"),
    "aws-native:rds:DbInstance": ("kmsKeyId",),
    "aws-native:rds:DbCluster": ("kmsKeyId",),
    "aws-native:dynamodb:Table": ("sseSpecification",),
    "aws-native:efs:FileSystem": ("kmsKeyId",),
    "aws-native:backup:BackupVault": ("encryptionKeyArn",),
    **{t: ("rules",) for t in SSE_TYPES},
    # the key a cross-account replication encrypts the replicas with: a copy destination's
    **{t: ("rules",) for t in REPLICATION_TYPES},
}
# Copies of recovery data that are resources of their own (no fact): always recovery data.
COPIES = frozenset({
    "aws:rds/snapshotCopy:SnapshotCopy", "aws:rds/clusterSnapshotCopy:ClusterSnapshotCopy",
    "aws:rds/instanceAutomatedBackupsReplication:InstanceAutomatedBackupsReplication",
    "aws:ebs/snapshotCopy:SnapshotCopy"})
for _t in COPIES:
    KEY_PROPS[_t] = ("kmsKeyId",)


def key(r: Res) -> Key | None:
    if r.type not in KEY_TYPES | REPLICA_TYPES:
        return None
    prop = "isEnabled" if r.type == "aws:kms/key:Key" else "enabled"
    enabled = r.get(prop)
    state = UNKNOWN if enabled is UNKNOWN else "Disabled" if enabled is False else "Enabled"
    return Key(**base(r, r.name), key_state=state, props={"key_state": prop})


def _strings(v: Any) -> Iterable[Any]:
    """Every string (and unknown) inside a raw property value."""
    v = val(v)
    if v is UNKNOWN or isinstance(v, str):
        yield v
    elif isinstance(v, dict):
        for x in v.values():
            yield from _strings(x)
    elif isinstance(v, list):
        for x in v:
            yield from _strings(x)


def _label(r: Res, fact: Any) -> str:
    parts = r.type.split(":")
    kind = f"aws.{parts[1].split('/')[0]}.{parts[2]}" if len(parts) == 3 else r.type
    name = fact.name if fact is not None else r.name
    return f"{kind} {name!r}"


def _holder(m: StackModel, r: Res) -> tuple[Any, bool]:
    """(the fact whose data `r`'s key encrypts, whether that is recovery data)."""
    if r.type in COPIES:
        return None, True
    if r.type in SSE_TYPES or r.type in REPLICATION_TYPES:
        from drguard.controls.s3 import Bucket

        deps = m.deps(r, "bucket", Bucket)
        b = deps[0] if deps else next((x for x in m.buckets if x.name == r.get("bucket")), None)
        return b, b is not None and b.stateful()
    fact = m.by_urn.get(r.urn)
    if fact is None:
        return None, False
    from drguard.controls.ec2 import Volume

    return fact, isinstance(fact, Volume) or fact.stateful()


# properties that hold replication rules: only their replica keys are keys (the other strings
# are bucket and role ARNs: an unknown one of those says nothing about keys)
REPLICATION_PROPS = frozenset({"rules", "replicationConfiguration", "replicationConfigurations"})


def _replica_keys(r: Res) -> list[Any]:
    """The replica keys the replication rules of `r` name: a BucketReplicationConfig's rules,
    or a bucket's inline ones (pulumi-aws Bucket: one block, its destination naming
    replicaKmsKeyId; BucketV2: lists of blocks; aws-native: encryptionConfiguration)."""
    if r.type == "aws:s3/bucketV2:BucketV2":
        v6 = r.get("replicationConfigurations")
        if v6 is UNKNOWN or get(v6, 0, "rules") is UNKNOWN:
            return [UNKNOWN]
        return [get(rule, "destinations", 0, "replicaKmsKeyId")
                for rule in _list(get(v6, 0, "rules"))]
    if r.type == "aws:s3/bucket:Bucket":
        v7 = r.get("replicationConfiguration", "rules")
        if v7 is UNKNOWN:
            return [UNKNOWN]
        return [get(rule, "destination", "replicaKmsKeyId") for rule in _list(v7)]
    rules = (r.get("replicationConfiguration", "rules") if r.type == "aws-native:s3:Bucket"
             else r.get("rules") if r.type in REPLICATION_TYPES else [])
    if rules is UNKNOWN:
        return [UNKNOWN]
    return [get(rule, "destination", "encryptionConfiguration", "replicaKmsKeyId")
            for rule in _list(rules)]


def _list(v: Any) -> list[Any]:
    return v if isinstance(v, list) else []


def _link(m: StackModel, _linked: dict[str, list[Res]], _scope: Scope) -> None:
    keys = m.kmskeys
    if not keys:
        return
    by_urn = {m.res_of[id(k)].urn: k for k in keys}
    by_ref: dict[str, Key] = {}
    for k in keys:
        r = m.res_of[id(k)]
        for prop in ("arn", "keyId", "id"):
            v = r.get(prop)
            if isinstance(v, str):
                by_ref[v] = k
    for r in m.resources:
        props = KEY_PROPS.get(r.type)
        if not props:
            continue
        holder, recovery = _holder(m, r)
        if not recovery:
            continue
        used: dict[int, Key] = {}
        unknown = False
        for prop in props:
            for urn in r.property_deps.get(prop, ()):
                if urn in by_urn:
                    used[id(by_urn[urn])] = by_urn[urn]
            replication = prop in REPLICATION_PROPS and (
                r.type in REPLICATION_TYPES or prop != "rules")
            for s in _strings(_replica_keys(r) if replication else r.get(prop)):
                if s is UNKNOWN:
                    unknown = True
                elif s in by_ref:
                    used[id(by_ref[s])] = by_ref[s]
        if unknown and not used:
            m.count_unlinked(UNLINKED)
        label = _label(r, holder)
        for k in used.values():
            if label not in k.encrypts:
                k.encrypts.append(label)
                k.evidence.setdefault("encryptsUrns", []).append(r.urn)


def _usable(model: StackModel, _params: dict[str, Any]) -> Iterable[Judged]:
    for k in model.kmskeys:
        v = ctl.key_usable(k)
        if v is None and k.key_state != "Enabled" and model.unlinked.get(UNLINKED):
            state = "of unknown state" if k.key_state is UNKNOWN else k.key_state
            v = Verdict("unknown", f"KMS key {k.name} is {state}, and a resource that holds "
                        "recovery data names a key not known yet; cannot be checked during "
                        "preview.", {"keyState": k.key_state})
        yield k, v


SERVICE = DeployService(
    facts={t: ("kmskeys", key) for t in KEY_TYPES | REPLICA_TYPES},
    # after every service that builds the facts keys encrypt (S3 scope included)
    link=Link(90, _link),
    checks=(StackCheck(ctl.KEY_USABLE, _usable),),
)
