"""Deploy-side adapters: Pulumi resources (pulumi-aws v6/v7, pulumi-aws-native) -> facts.

Every adapter reads the raw wire properties (camelCase, unknown sentinels) through
`policypack.wire` and resolves provider defaults, so rules see the effective value.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from drguard import iampolicy
from drguard.facts import (
    UNKNOWN,
    AccessKey,
    AtlasCluster,
    Bucket,
    Database,
    Scp,
    Table,
    Trail,
    Vault,
    Volume,
    retention_days,
)

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
    return mode, retention_days(days, years)


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


# ---- Tier 2/3 ---------------------------------------------------------------------------
#
# Resources that only matter through their relations (replication configs, notifications,
# event rules and targets, backup plans and selections, DLM policies, SCP attachments) are
# read here into plain records; policypack.stack links them to the facts they configure.

REPLICATION_TYPES = frozenset({"aws:s3/bucketReplicationConfig:BucketReplicationConfig"})
NOTIFICATION_TYPES = frozenset({"aws:s3/bucketNotification:BucketNotification"})
EVENT_RULE_TYPES = frozenset({"aws:cloudwatch/eventRule:EventRule", "aws-native:events:Rule"})
EVENT_TARGET_TYPES = frozenset({"aws:cloudwatch/eventTarget:EventTarget"})
RDS_BACKUP_REPLICATION_TYPES = frozenset({
    "aws:rds/instanceAutomatedBackupsReplication:InstanceAutomatedBackupsReplication"})
BACKUP_PLAN_TYPES = frozenset({"aws:backup/plan:Plan", "aws-native:backup:BackupPlan"})
BACKUP_SELECTION_TYPES = frozenset({"aws:backup/selection:Selection",
                                    "aws-native:backup:BackupSelection"})
VAULT_TYPES = frozenset({"aws:backup/vault:Vault", "aws-native:backup:BackupVault",
                         "aws:backup/logicallyAirGappedVault:LogicallyAirGappedVault"})
VAULT_LOCK_TYPES = frozenset({"aws:backup/vaultLockConfiguration:VaultLockConfiguration"})
TABLE_TYPES = frozenset({"aws:dynamodb/table:Table", "aws-native:dynamodb:Table",
                         "aws-native:dynamodb:GlobalTable"})
VOLUME_TYPES = frozenset({"aws:ebs/volume:Volume", "aws-native:ec2:Volume"})
DLM_TYPES = frozenset({"aws:dlm/lifecyclePolicy:LifecyclePolicy",
                       "aws-native:dlm:LifecyclePolicy"})
ORG_POLICY_TYPES = frozenset({"aws:organizations/policy:Policy",
                              "aws-native:organizations:Policy"})
ORG_ATTACHMENT_TYPES = frozenset({"aws:organizations/policyAttachment:PolicyAttachment"})
ACCESS_KEY_TYPES = frozenset({"aws:iam/accessKey:AccessKey"})
ATLAS_TYPES = frozenset({"mongodbatlas:index/cluster:Cluster",
                         "mongodbatlas:index/advancedCluster:AdvancedCluster"})


def items(v: Any) -> Any:
    """A list property as a list of raw items (UNKNOWN when the list itself is unknown)."""
    v = val(v)
    if v is UNKNOWN:
        return UNKNOWN
    return [val(x) for x in v] if isinstance(v, list) else []


def maps(v: Any) -> Any:
    """The mapping items of a list property: UNKNOWN when the list is unknown, [] when unset;
    an unknown item makes the whole list UNKNOWN (what it would hold is not known)."""
    out = items(v)
    if out is UNKNOWN or UNKNOWN in out:
        return UNKNOWN
    return [x for x in out if isinstance(x, Mapping)]


def strings(v: Any) -> Any:
    """A list of strings (UNKNOWN items kept as UNKNOWN); UNKNOWN for an unknown list."""
    out = items(v)
    if out is UNKNOWN:
        return UNKNOWN
    return [x for x in out if isinstance(x, str) or x is UNKNOWN]


def has_unknown(v: Any) -> bool:
    """Whether an unknown sentinel hides anywhere inside a (raw) value."""
    v = val(v)
    if v is UNKNOWN:
        return True
    if isinstance(v, Mapping):
        return any(has_unknown(x) for x in v.values())
    if isinstance(v, list):
        return any(has_unknown(x) for x in v)
    return False


def arn_region(arn: Any) -> Any:
    """The region field of an ARN; UNKNOWN for an unknown ARN, None when it has none."""
    if arn is UNKNOWN:
        return UNKNOWN
    if not isinstance(arn, str) or not arn.startswith("arn:"):
        return None
    parts = arn.split(":", 5)
    return parts[3] or None if len(parts) > 3 else None


def arn_account(arn: Any) -> str | None:
    if not isinstance(arn, str) or not arn.startswith("arn:"):
        return None
    parts = arn.split(":", 5)
    return parts[4] if len(parts) > 4 and parts[4].isdigit() and len(parts[4]) == 12 else None


# ---- S3: replication and notifications ----------------------------------------------------

def replication_rules(rules: Any) -> Any:
    """[{"id", "status", "dest"}] of a replication rule list (dest: destination bucket ARN
    or name as written, possibly UNKNOWN); UNKNOWN when the list is unknown."""
    rules = items(rules)
    if rules is UNKNOWN:
        return UNKNOWN
    out = []
    for rule in rules:
        if rule is UNKNOWN:
            out.append({"id": None, "status": UNKNOWN, "dest": UNKNOWN})
            continue
        if not isinstance(rule, Mapping):
            continue
        dest = get(rule, "destination", "bucket")
        if dest is None:  # BucketV2 inline shape: destinations[0].bucket
            dest = get(rule, "destinations", 0, "bucket")
        status = get(rule, "status")
        out.append({"id": get(rule, "id"), "status": "Enabled" if status is None else status,
                    "dest": dest})
    return out


def inline_replication(r: Res) -> tuple[Any, str | None]:
    """(raw rules, property holding them) of a bucket's inline replication, or (None, None)."""
    if r.type == "aws:s3/bucketV2:BucketV2":
        cfg = r.get("replicationConfigurations")
        if cfg is UNKNOWN:
            return UNKNOWN, "replicationConfigurations"
        rules = get(cfg, 0, "rules")
        return (replication_rules(rules), "replicationConfigurations") if rules is not None \
            else (None, None)
    cfg = r.get("replicationConfiguration")
    if cfg is None:
        return None, None
    if cfg is UNKNOWN:
        return UNKNOWN, "replicationConfiguration"
    return replication_rules(get(cfg, "rules")), "replicationConfiguration"


def _filter_rules(prefix: Any, suffix: Any) -> list[dict[str, Any]]:
    return [{"Name": n, "Value": v} for n, v in (("prefix", prefix), ("suffix", suffix))
            if v not in (None, "")]


def notification_config(r: Res) -> Any:
    """S3 event notifications in the API's NotificationConfiguration shape (aws
    BucketNotification, or aws-native Bucket.notificationConfiguration)."""
    if r.type in NOTIFICATION_TYPES:
        out: dict[str, Any] = {}
        for prop, key, arn_key in (("topics", "TopicConfigurations", "topicArn"),
                                   ("queues", "QueueConfigurations", "queueArn"),
                                   ("lambdaFunctions", "LambdaFunctionConfigurations",
                                    "lambdaFunctionArn")):
            entries = items(r.get(prop))
            if entries is UNKNOWN:
                return UNKNOWN
            api_arn = {"topicArn": "TopicArn", "queueArn": "QueueArn",
                       "lambdaFunctionArn": "LambdaFunctionArn"}[arn_key]
            out[key] = [{api_arn: get(e, arn_key), "Events": _events(get(e, "events")),
                         "Filter": {"Key": {"FilterRules": _filter_rules(
                             get(e, "filterPrefix"), get(e, "filterSuffix"))}}}
                        for e in entries if isinstance(e, Mapping)]
        eb = boolean(r.get("eventbridge"))
        if eb is UNKNOWN:
            out["EventBridgeConfiguration"] = UNKNOWN
        elif eb is True:
            out["EventBridgeConfiguration"] = {}
        return out
    cfg = r.get("notificationConfiguration")
    if cfg is None or cfg is UNKNOWN:
        return cfg
    out = {}
    for prop, key, arn_key, api_arn in (
            ("topicConfigurations", "TopicConfigurations", "topic", "TopicArn"),
            ("queueConfigurations", "QueueConfigurations", "queue", "QueueArn"),
            ("lambdaConfigurations", "LambdaFunctionConfigurations", "function",
             "LambdaFunctionArn")):
        entries = items(get(cfg, prop))
        if entries is UNKNOWN:
            return UNKNOWN
        out[key] = [{api_arn: get(e, arn_key), "Events": [get(e, "event")],
                     "Filter": _native_filter(get(e, "filter", "s3Key", "rules"))}
                    for e in entries if isinstance(e, Mapping)]
    eb = boolean(get(cfg, "eventBridgeConfiguration", "eventBridgeEnabled"))
    if eb is UNKNOWN:
        out["EventBridgeConfiguration"] = UNKNOWN
    elif eb is True or (get(cfg, "eventBridgeConfiguration") is not None and eb is None):
        out["EventBridgeConfiguration"] = {}  # CloudFormation default: enabled when present
    return out


# ---- EventBridge --------------------------------------------------------------------------

def event_rule(r: Res) -> dict[str, Any]:
    """{"name", "pattern", "enabled", "bus", "targets" (inline, aws-native) or None}."""
    native = r.type.startswith("aws-native")
    name = r.get("name")
    state = r.get("state")
    enabled: Any = True  # both providers default to ENABLED
    if state is UNKNOWN:
        enabled = UNKNOWN
    elif isinstance(state, str):
        enabled = state.startswith("ENABLED")
    elif not native and boolean(r.get("isEnabled")) is False:
        enabled = False
    elif not native and r.get("isEnabled") is UNKNOWN:
        enabled = UNKNOWN
    targets = None
    if native:
        targets = items(r.get("targets"))
    pattern = r.get("eventPattern")
    if has_unknown(pattern):  # e.g. a bucket name not known yet inside an aws-native pattern
        pattern = UNKNOWN
    return {"name": name if isinstance(name, str) else r.name, "pattern": pattern,
            "enabled": enabled, "bus": r.get("eventBusName"), "targets": targets}


def default_bus(bus: Any) -> Any:
    """Whether rules on `bus` see AWS service events (only the default bus does)."""
    if bus is UNKNOWN:
        return UNKNOWN
    return bus in (None, "", "default") or (isinstance(bus, str)
                                             and bus.endswith(":event-bus/default"))


# ---- CloudTrail selectors ------------------------------------------------------------------

# CloudTrail field-selector operators: API name -> (aws-native, pulumi-aws) property names.
_FIELD_OPS = {op: (op[0].lower() + op[1:], op[0].lower() + op[1:] + ("s" if "With" in op else ""))
              for op in ("Equals", "StartsWith", "EndsWith", "NotEquals", "NotStartsWith",
                         "NotEndsWith")}


def trail_selectors(r: Res) -> tuple[Any, Any]:
    """(EventSelectors, AdvancedEventSelectors) in the CloudTrail API shape; UNKNOWN parts
    stay UNKNOWN (a whole list, or single values inside it)."""
    basic = items(r.get("eventSelectors"))
    advanced = items(r.get("advancedEventSelectors"))
    if basic is not UNKNOWN:
        basic = [{"ReadWriteType": _or(get(s, "readWriteType"), "All"),
                  "IncludeManagementEvents": get(s, "includeManagementEvents"),
                  "DataResources": _each(get(s, "dataResources"), lambda d: {
                      "Type": get(d, "type"), "Values": strings(get(d, "values"))})}
                 for s in basic if isinstance(s, Mapping)]
    if advanced is not UNKNOWN:
        advanced = [{"Name": get(s, "name"), "FieldSelectors": _each(
            get(s, "fieldSelectors"), lambda f: {
                "Field": get(f, "field"),
                **{op: strings(get(f, name)) for op, names in _FIELD_OPS.items()
                   for name in names if get(f, name) is not None}})}
            for s in advanced if isinstance(s, Mapping)]
    return basic, advanced


def _or(v: Any, default: Any) -> Any:
    """`v`, or `default` when unset (UNKNOWN stays UNKNOWN)."""
    return default if v is None else v


def _each(v: Any, fn: Any) -> Any:
    """fn over the mapping items of a list property; UNKNOWN when the list is unknown."""
    xs = maps(v)
    return UNKNOWN if xs is UNKNOWN else [fn(x) for x in xs]


def _events(v: Any) -> list[Any]:
    """Notification events; an unknown list reads as [UNKNOWN] (judged "unknown")."""
    xs = strings(v)
    return [UNKNOWN] if xs is UNKNOWN else list(xs)


def _native_filter(rules: Any) -> Any:
    xs = maps(rules)
    if xs is UNKNOWN:
        return UNKNOWN
    return {"Key": {"FilterRules": [{"Name": get(f, "name"), "Value": get(f, "value")}
                                    for f in xs]}}


# ---- RDS cross-region, AWS Backup ----------------------------------------------------------

def native_backup_replication(r: Res) -> Any:
    """aws-native DbInstance automaticBackupReplicationRegion (None when unset)."""
    if r.type != "aws-native:rds:DbInstance":
        return None
    return r.get("automaticBackupReplicationRegion")


def plan_copy_arns(r: Res) -> Any:
    """Destination vault ARNs of every copy action of a backup plan (UNKNOWN items kept)."""
    native = r.type.startswith("aws-native")
    rules = items(r.get("backupPlan", "backupPlanRule") if native else r.get("rules"))
    if rules is UNKNOWN:
        return UNKNOWN
    out: list[Any] = []
    for rule in rules:
        if rule is UNKNOWN:
            out.append(UNKNOWN)
            continue
        actions = items(get(rule, "copyActions"))
        if actions is UNKNOWN:
            out.append(UNKNOWN)
            continue
        for a in actions:
            out.append(get(a, "destinationBackupVaultArn" if native else "destinationVaultArn"))
    return out


def plan_name(r: Res) -> str:
    n = r.get("backupPlan", "backupPlanName") if r.type.startswith("aws-native") \
        else r.get("name")
    return n if isinstance(n, str) else r.name


def selection(r: Res) -> dict[str, Any]:
    """{"plan": id, "resources", "not_resources", "tags": [(op, key, value)], "conditions":
    [(op, key, value)]} of an AWS Backup selection (AWS semantics: resources OR tags, then
    every condition, minus notResources)."""
    if r.type.startswith("aws-native"):
        sel = r.get("backupSelection")
        if sel is UNKNOWN:
            return {"plan": r.get("backupPlanId"), "unknown": True}
        tag_list = maps(get(sel, "listOfTags"))
        groups = [(maps(get(sel, "conditions", op)), key)
                  for op, key in (("stringEquals", "STRINGEQUALS"), ("stringLike", "STRINGLIKE"),
                                  ("stringNotEquals", "STRINGNOTEQUALS"),
                                  ("stringNotLike", "STRINGNOTLIKE"))]
        names = ("conditionType", "conditionKey", "conditionValue", "conditionKey",
                 "conditionValue")
        plan, resources, not_resources = (r.get("backupPlanId"), get(sel, "resources"),
                                          get(sel, "notResources"))
    else:
        tag_list = maps(r.get("selectionTags"))
        blocks = maps(r.get("conditions"))
        groups = [(UNKNOWN, "")] if blocks is UNKNOWN else [
            (maps(get(c, op)), key) for c in blocks
            for op, key in (("stringEquals", "STRINGEQUALS"), ("stringLikes", "STRINGLIKE"),
                            ("stringNotEquals", "STRINGNOTEQUALS"),
                            ("stringNotLikes", "STRINGNOTLIKE"))]
        names = ("type", "key", "value", "key", "value")
        plan, resources, not_resources = (r.get("planId"), r.get("resources"),
                                          r.get("notResources"))
    if tag_list is UNKNOWN or any(g is UNKNOWN for g, _ in groups):
        return {"plan": plan, "unknown": True}
    tags = [(str(get(t, names[0])).upper(), get(t, names[1]), get(t, names[2]))
            for t in tag_list]
    conds = [(key, get(c, names[3]), get(c, names[4])) for g, key in groups for c in g]
    return {"plan": plan, "resources": strings(resources),
            "not_resources": strings(not_resources), "tags": tags, "conditions": conds,
            "unknown": False}


def vault(r: Res) -> Vault | None:
    if r.type not in VAULT_TYPES:
        return None
    if r.type == "aws-native:backup:BackupVault":
        v = Vault(**_base(r, r.get("backupVaultName")))
        lock = r.get("lockConfiguration")
        v.lock_min_retention_days = UNKNOWN if lock is UNKNOWN else \
            num(get(lock, "minRetentionDays")) if lock is not None else None
        v.props["lock"] = "lockConfiguration.minRetentionDays"
        return v
    v = Vault(**_base(r, r.get("name")))
    if r.type.endswith("LogicallyAirGappedVault"):
        # Logically air-gapped vaults are always locked (compliance mode) for minRetentionDays.
        v.lock_min_retention_days = num(r.get("minRetentionDays"))
    return v


def table(r: Res) -> Table | None:
    t = r.type
    if t == "aws:dynamodb/table:Table":
        return Table(**_base(r, r.get("name")),
                     pitr=boolean(r.get("pointInTimeRecovery", "enabled")),
                     deletion_protection=boolean(r.get("deletionProtectionEnabled")))
    if t == "aws-native:dynamodb:Table":
        return Table(**_base(r, r.get("tableName")),
                     pitr=boolean(r.get("pointInTimeRecoverySpecification",
                                        "pointInTimeRecoveryEnabled")),
                     deletion_protection=boolean(r.get("deletionProtectionEnabled")),
                     props={"pitr": "pointInTimeRecoverySpecification."
                                    "pointInTimeRecoveryEnabled"})
    if t == "aws-native:dynamodb:GlobalTable":
        replicas = items(r.get("replicas"))
        pitr: Any
        dp: Any
        if replicas is UNKNOWN:
            pitr = dp = UNKNOWN
        else:
            pitr = _all(boolean(get(x, "pointInTimeRecoverySpecification",
                                    "pointInTimeRecoveryEnabled")) for x in replicas)
            dp = _all(boolean(get(x, "deletionProtectionEnabled")) for x in replicas)
        return Table(**_base(r, r.get("tableName")), pitr=pitr, deletion_protection=dp,
                     props={"pitr": "replicas[].pointInTimeRecoverySpecification."
                                    "pointInTimeRecoveryEnabled",
                            "deletion_protection": "replicas[].deletionProtectionEnabled"})
    return None


def _all(values: Any) -> Any:
    """True when every value is True; the first non-True value otherwise (None if empty)."""
    seen = False
    for v in values:
        seen = True
        if v is not True:
            return v
    return True if seen else None


def volume(r: Res) -> Volume | None:
    if r.type not in VOLUME_TYPES:
        return None
    return Volume(**_base(r, r.name))


def dlm_policy(r: Res) -> dict[str, Any]:
    """{"enabled", "volumes" (resourceTypes include VOLUME), "default" (default policy for
    every volume), "tags": {key: value} or UNKNOWN, "name"}."""
    state = r.get("state")
    details = r.get("policyDetails")
    types = strings(get(details, "resourceTypes"))
    kind = get(details, "policyType")
    tags_: Any = get(details, "targetTags")
    if isinstance(tags_, list):  # aws-native: [{key, value}]
        tags_ = {get(t, "key"): get(t, "value") for t in tags_}
    elif isinstance(tags_, Mapping):
        tags_ = {k: val(v) for k, v in tags_.items()}
    default = r.get("defaultPolicy")
    return {"name": r.name,
            "enabled": UNKNOWN if state is UNKNOWN else state in (None, "ENABLED"),
            "volumes": UNKNOWN if types is UNKNOWN else
            ("VOLUME" in types and kind in (None, "EBS_SNAPSHOT_MANAGEMENT")),
            "default": default == "VOLUME",
            "tags": tags_ if tags_ is UNKNOWN or isinstance(tags_, dict) else {}}


# ---- Organizations, IAM, Atlas --------------------------------------------------------------

def scp(r: Res) -> Scp | None:
    """An Organizations SCP (other policy types are not SCPs: None)."""
    if r.type not in ORG_POLICY_TYPES:
        return None
    kind = r.get("type")
    if kind is not None and kind is not UNKNOWN and kind != "SERVICE_CONTROL_POLICY":
        return None
    s = Scp(**_base(r, r.get("name")))
    content = r.get("content")
    if has_unknown(content):
        s.document = UNKNOWN
    else:
        try:
            s.document = iampolicy.parse(content)
        except (ValueError, TypeError) as e:
            s.evidence["parseError"] = f"the policy content is not a JSON object ({e})"
    if r.type.startswith("aws-native"):
        ids = strings(r.get("targetIds"))
        s.targets = UNKNOWN if ids is UNKNOWN or UNKNOWN in ids else list(ids)
    else:
        s.targets = []  # filled from PolicyAttachment resources by the stack model
    return s


def access_key(r: Res) -> AccessKey | None:
    if r.type not in ACCESS_KEY_TYPES:
        return None
    status = r.get("status")
    user = r.get("user")
    if not isinstance(user, str):  # e.g. the name of a user created alongside, not known yet
        deps = r.property_deps.get("user") or ()
        user = deps[0].rsplit("::", 1)[-1] if deps else "(not known yet)"
    return AccessKey(**_base(r, r.name), user=user,
                     active=UNKNOWN if status is UNKNOWN else status in (None, "Active"))


def atlas_cluster(r: Res) -> AtlasCluster | None:
    if r.type == "mongodbatlas:index/cluster:Cluster":
        cloud, legacy = boolean(r.get("cloudBackup")), boolean(r.get("backupEnabled"))
        value: Any = True if True in (cloud, legacy) else \
            UNKNOWN if UNKNOWN in (cloud, legacy) else cloud
        return AtlasCluster(**_base(r, r.get("name")), cloud_backup=value,
                            props={"cloud_backup": "cloudBackup"})
    if r.type == "mongodbatlas:index/advancedCluster:AdvancedCluster":
        return AtlasCluster(**_base(r, r.get("name")),
                            cloud_backup=boolean(r.get("backupEnabled")),
                            props={"cloud_backup": "backupEnabled"})
    return None
