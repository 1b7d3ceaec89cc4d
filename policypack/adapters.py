"""Deploy-side adapters: Pulumi resources (pulumi-aws v6/v7, pulumi-aws-native) -> facts.

Every adapter reads the raw wire properties (camelCase, unknown sentinels) through
`policypack.wire` and resolves provider defaults, so rules see the effective value.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from drguard.facts import UNKNOWN, Bucket, Database, Trail

from .wire import boolean, get, num, raw, tags, val


@dataclass
class Res:
    """One resource as the engine describes it to the analyzer."""

    type: str
    urn: str
    name: str
    props: Any  # raw wire dict
    protect: bool | None = None
    provider_props: Any = None
    # property name -> URNs it depends on (AnalyzeStack only)
    property_deps: Mapping[str, list[str]] = field(default_factory=dict)

    def get(self, *path: str | int) -> Any:
        return get(self.props, *path)

    @property
    def region(self) -> Any:
        r = self.get("region")
        if r is None and self.provider_props is not None:
            r = get(self.provider_props, "region")
        return r

    @classmethod
    def from_args(cls, args: Any) -> Res:
        """From ResourceValidationArgs or a PolicyResource."""
        opts = getattr(args, "opts", None)
        provider = getattr(args, "provider", None)
        deps = getattr(args, "property_dependencies", None) or {}
        return cls(type=args.resource_type, urn=args.urn, name=args.name, props=raw(args.props),
                   protect=bool(opts.protect) if opts is not None else None,
                   provider_props=raw(provider.props) if provider is not None else None,
                   property_deps={k: [d.urn for d in v] for k, v in deps.items()})


def _base(r: Res, name: Any) -> dict[str, Any]:
    if name is None or name is UNKNOWN:
        name = r.name
    region = r.region
    return {"ref": r.urn, "name": str(name), "type": r.type,
            "region": region if isinstance(region, str) else None,
            "tags": tags(r.props), "protect": r.protect}


# ---- RDS --------------------------------------------------------------------------------

def _default(value: Any, default: Any, attr: str, defaulted: list[str]) -> Any:
    if value is None:
        defaulted.append(attr)
        return default
    return boolean(value)


def database(r: Res) -> Database | None:
    t = r.type
    if t in ("aws:rds/instance:Instance", "aws:rds/cluster:Cluster"):
        cluster = t.endswith("Cluster")
        ident = r.get("clusterIdentifier" if cluster else "identifier")
        defaulted: list[str] = []
        db = Database(
            **_base(r, ident),
            kind="cluster" if cluster else "instance",
            engine=r.get("engine"),
            backup_retention=num(r.get("backupRetentionPeriod")),
            deletion_protection=boolean(r.get("deletionProtection")),
            # pulumi-aws defaults: skipFinalSnapshot false, deleteAutomatedBackups true
            skip_final_snapshot=_default(r.get("skipFinalSnapshot"), False,
                                         "skip_final_snapshot", defaulted),
            final_snapshot_identifier=r.get("finalSnapshotIdentifier"),
            delete_automated_backups=_default(r.get("deleteAutomatedBackups"), True,
                                              "delete_automated_backups", defaulted),
            read_replica=_present(r.get("replicationSourceIdentifier" if cluster
                                        else "replicateSourceDb")),
            props={"final_snapshot_identifier": "finalSnapshotIdentifier"},
        )
        db.evidence["defaulted"] = defaulted
        return db
    if t == "aws:rds/clusterInstance:ClusterInstance":
        return Database(**_base(r, r.get("identifier")), kind="instance", cluster_member=True)
    if t == "aws-native:rds:DbInstance":
        member = r.get("dbClusterIdentifier")
        defaulted = []
        db = Database(
            **_base(r, r.get("dbInstanceIdentifier")),
            kind="instance",
            engine=r.get("engine"),
            backup_retention=num(r.get("backupRetentionPeriod")),
            deletion_protection=boolean(r.get("deletionProtection")),
            # Cloud Control deletes without a skip-final-snapshot switch; automated backups
            # are deleted unless deleteAutomatedBackups is false (AWS API default true).
            delete_automated_backups=_default(r.get("deleteAutomatedBackups"), True,
                                              "delete_automated_backups", defaulted),
            read_replica=_present(r.get("sourceDbInstanceIdentifier")),
            cluster_member=member is not None and member is not UNKNOWN,
        )
        db.evidence["defaulted"] = defaulted
        return db
    if t == "aws-native:rds:DbCluster":
        return Database(
            **_base(r, r.get("dbClusterIdentifier")),
            kind="cluster",
            engine=r.get("engine"),
            backup_retention=num(r.get("backupRetentionPeriod")),
            deletion_protection=boolean(r.get("deletionProtection")),
            read_replica=_present(r.get("replicationSourceIdentifier")),
            final_snapshot_applies=False,
        )
    return None


def _present(v: Any) -> Any:
    if v is UNKNOWN:
        return UNKNOWN
    return v is not None and v != ""


DATABASE_TYPES = frozenset({"aws:rds/instance:Instance", "aws:rds/cluster:Cluster",
                            "aws:rds/clusterInstance:ClusterInstance",
                            "aws-native:rds:DbInstance", "aws-native:rds:DbCluster"})

# ---- S3 ---------------------------------------------------------------------------------

BUCKET_TYPES = frozenset({"aws:s3/bucket:Bucket", "aws:s3/bucketV2:BucketV2",
                          "aws-native:s3:Bucket"})
VERSIONING_TYPES = frozenset({"aws:s3/bucketVersioning:BucketVersioning",
                              "aws:s3/bucketVersioningV2:BucketVersioningV2"})
LOCK_TYPES = frozenset({"aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration",
                        "aws:s3/bucketObjectLockConfigurationV2:BucketObjectLockConfigurationV2"})
PAB_TYPES = frozenset({"aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"})


def retention(rule: Any) -> tuple[Any, Any]:
    """(mode, days) of a defaultRetention block; years count as 365 days."""
    if rule is UNKNOWN:
        return UNKNOWN, UNKNOWN
    if not isinstance(rule, Mapping):
        return None, None
    mode = val(rule.get("mode"))
    days, years = num(val(rule.get("days"))), num(val(rule.get("years")))
    if days is UNKNOWN or years is UNKNOWN:
        return mode, UNKNOWN
    total = None
    if isinstance(days, int):
        total = days
    elif isinstance(years, int):
        total = years * 365
    return mode, total


def bucket(r: Res) -> Bucket | None:
    t = r.type
    if t not in BUCKET_TYPES:
        return None
    native = t.startswith("aws-native")
    b = Bucket(**_base(r, r.get("bucketName" if native else "bucket")))
    b.evidence["name_known"] = (r.get("bucketName" if native else "bucket")) not in (None, UNKNOWN)
    if native:
        b.versioning = r.get("versioningConfiguration", "status")
        b.object_lock_enabled = boolean(r.get("objectLockEnabled"))
        if r.get("objectLockConfiguration", "objectLockEnabled") == "Enabled":
            b.object_lock_enabled = True
        b.lock_mode, b.lock_days = retention(
            r.get("objectLockConfiguration", "rule", "defaultRetention"))
        b.props.update(versioning="versioningConfiguration.status",
                       lock_rule="objectLockConfiguration.rule.defaultRetention")
        pab = r.get("publicAccessBlockConfiguration")
        if pab is not None:
            b.public_access_block = public_access_block(pab)
        return b
    # pulumi-aws: objectLockEnabled (v6 BucketV2, v7 Bucket) or the deprecated inline blocks.
    b.force_destroy = boolean(r.get("forceDestroy"))
    b.object_lock_enabled = boolean(r.get("objectLockEnabled"))
    lock = r.get("objectLockConfiguration")
    if lock is UNKNOWN:
        b.lock_mode = b.lock_days = UNKNOWN
    elif isinstance(lock, Mapping):
        if get(lock, "objectLockEnabled") == "Enabled":
            b.object_lock_enabled = True
        rule = get(lock, "rule", "defaultRetention")
        if rule is None:  # BucketV2 shape: rules[0].defaultRetentions[0]
            rule = get(lock, "rules", 0, "defaultRetentions", 0)
        b.lock_mode, b.lock_days = retention(rule)
    versioning = r.get("versioning")
    if versioning is None:
        versioning = r.get("versionings", 0)
    enabled = boolean(get(versioning, "enabled")) if versioning is not None else None
    if enabled is UNKNOWN or versioning is UNKNOWN:
        b.versioning = UNKNOWN
    elif enabled is True:
        b.versioning = "Enabled"
    return b


def public_access_block(props: Any) -> dict[str, Any]:
    flags = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
    if props is UNKNOWN:
        return {f: UNKNOWN for f in flags}
    return {f: boolean(get(props, f)) for f in flags}


# ---- CloudTrail -------------------------------------------------------------------------

TRAIL_TYPES = frozenset({"aws:cloudtrail/trail:Trail", "aws-native:cloudtrail:Trail"})


def trail(r: Res) -> Trail | None:
    if r.type == "aws:cloudtrail/trail:Trail":
        logging_ = r.get("enableLogging")
        return Trail(**_base(r, r.get("name")),
                     multi_region=boolean(r.get("isMultiRegionTrail")),
                     log_validation=boolean(r.get("enableLogFileValidation")),
                     logging=True if logging_ is None else boolean(logging_),  # default true
                     s3_bucket=r.get("s3BucketName"),
                     organization=boolean(r.get("isOrganizationTrail")))
    if r.type == "aws-native:cloudtrail:Trail":
        return Trail(**_base(r, r.get("trailName")),
                     multi_region=boolean(r.get("isMultiRegionTrail")),
                     log_validation=boolean(r.get("enableLogFileValidation")),
                     logging=boolean(r.get("isLogging")),
                     s3_bucket=r.get("s3BucketName"),
                     organization=boolean(r.get("isOrganizationTrail")),
                     props={"logging": "isLogging"})
    return None
