"""CloudTrail detections as data: which events break which control (controls.md, "Audit-log
events (logs side)").

Each `Detection` is declared beside its control in `drguard.registry` (`Control.detections`):
the event source, the event names, an optional predicate on the record, how to name the
resource (an ARN) and a message template. The predicates below are small named functions so
that the registry reads as a table. Nothing here reads files or calls AWS.

Decisions the table leaves open, made here once:
- Backup-bucket scope from logs: CloudTrail records carry no bucket tags, so a bucket is in
  scope by its name (`backupBucketPatterns`), as the Pulumi state bucket (`stateBucket`), or as
  a bucket the caller knows to be a trail destination (`Context.extra_buckets`). Buckets scoped
  only by the `dr:backup` tag are not seen as backup buckets by the logs side.
- "Data loss" events on a backup bucket: `DeleteBucket` is reported under
  `resource-drift-deleted` (the recovery data is gone), as is DynamoDB `DeleteTable` (any
  table: the data is gone unless a backup exists), so that `auditor.drift.link_events` can
  name who deleted a table recorded in Pulumi state; `DeleteObject` without a versionId,
  `DeleteObjects` and lifecycle expiration under `backup-bucket-versioning` (recoverable only
  if versioned); a `DeleteObject` of a given version under `backup-bucket-object-lock` (a locked
  version cannot be deleted).
- `DeleteDBInstance`/`DeleteDBCluster` without `deleteAutomatedBackups` use the AWS default
  (true: automated backups are removed), as elsewhere an unset value is the AWS default.
- SCP changes: without live data any `DetachPolicy`/`DeletePolicy`/`UpdatePolicy` counts (except
  the AWS-managed `p-FullAWSAccess`), unless `backupPolicyIds` lists the backup SCPs.
- EventBridge rule changes: any rule counts unless `alertRuleNames` (globs) names the alert
  rules.
- Records made by an AWS service itself (`userIdentity.type == "AWSService"`: lifecycle jobs,
  service-managed rules) are not reported; the configuration change that caused them is.
"""

from __future__ import annotations

import fnmatch
import string
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from .facts import retention_days

if TYPE_CHECKING:  # drguard.scope imports the registry, which imports this module
    from .scope import Scope

S3 = "s3.amazonaws.com"
RDS = "rds.amazonaws.com"
CLOUDTRAIL = "cloudtrail.amazonaws.com"
ORGANIZATIONS = "organizations.amazonaws.com"
EVENTS = "events.amazonaws.com"
BACKUP = "backup.amazonaws.com"
IAM = "iam.amazonaws.com"
DYNAMODB = "dynamodb.amazonaws.com"


@dataclass(frozen=True)
class Context:
    """What a predicate may need besides the record: scope rules and known backup buckets."""

    scope: Scope
    # bucket name -> reason it is a backup bucket, known to the caller (e.g. a trail destination)
    extra_buckets: Mapping[str, str] = field(default_factory=dict)

    def bucket_reasons(self, name: str | None) -> list[str]:
        auto = [self.extra_buckets[name]] if name in self.extra_buckets else []
        return self.scope.reasons(name, None, auto=auto)


# predicate(requestParameters, record, control params, context) -> the event breaks the control
Predicate = Callable[[dict[str, Any], dict[str, Any], Mapping[str, Any], Context], bool]
# resource(record) -> ARN of the resource the event acted on
ResourceOf = Callable[[dict[str, Any]], str]


@dataclass(frozen=True)
class Detection:
    """One row of the audit-log table, bound to the control it is declared on.

    `message` is a `str.format` template over `principal`, `name` (short resource name),
    `event` (eventName), `rp` (requestParameters) and `params` (the control's parameters);
    a missing key renders as "unset". `links_by` says how `explain` links a live failure to
    this event: by the same resource, or by account for account-wide settings.
    """

    event_source: str
    event_names: frozenset[str]
    resource: ResourceOf
    message: str
    when: Predicate | None = None
    backup_scoped: bool = False
    links_by: Literal["resource", "account"] = "resource"

    def matches(self, record: dict[str, Any], params: Mapping[str, Any], ctx: Context) -> bool:
        """Whether `record` (already known to have this source and one of these names) breaks
        the control; backup-scoped detections require `bucketName` to be a backup bucket."""
        rp = request_parameters(record)
        if self.backup_scoped and not ctx.bucket_reasons(bucket_name(record)):
            return False
        return self.when is None or bool(self.when(rp, record, params, ctx))

    def render(self, record: dict[str, Any], params: Mapping[str, Any], principal: str,
               name: str) -> str:
        return _FORMATTER.format(self.message, principal=principal, name=name,
                                 event=record.get("eventName"), rp=request_parameters(record),
                                 params=params)


def on(event_source: str, *event_names: str, resource: ResourceOf, message: str,
       when: Predicate | None = None, backup_scoped: bool = False,
       links_by: Literal["resource", "account"] = "resource") -> Detection:
    """Declare a detection: `on(S3, "PutBucketVersioning", when=..., resource=..., ...)`."""
    return Detection(event_source, frozenset(event_names), resource, message, when,
                     backup_scoped, links_by)


def index(controls: Iterable[Any]) -> dict[tuple[str, str], list[tuple[str, Detection]]]:
    """(eventSource, eventName) -> [(control id, detection)], in registry order."""
    out: dict[tuple[str, str], list[tuple[str, Detection]]] = {}
    for c in controls:
        for d in getattr(c, "detections", ()):
            for name in sorted(d.event_names):
                out.setdefault((d.event_source, name), []).append((c.id, d))
    return out


class _Formatter(string.Formatter):
    """`{rp[a][b]}` renders "unset" when a key is missing instead of raising."""

    def get_field(self, field_name: str, args: Any, kwargs: Any) -> Any:
        try:
            return super().get_field(field_name, args, kwargs)
        except (KeyError, IndexError, TypeError, AttributeError):
            return "unset", field_name

    def format_field(self, value: Any, format_spec: str) -> str:
        if value is None:
            value = "unset"
        elif isinstance(value, bool):
            value = "true" if value else "false"
        return super().format_field(value, format_spec)


_FORMATTER = _Formatter()


# ---- record access ------------------------------------------------------------------------

def request_parameters(record: dict[str, Any]) -> dict[str, Any]:
    rp = record.get("requestParameters")
    return rp if isinstance(rp, dict) else {}


def bucket_name(record: dict[str, Any]) -> str | None:
    name = request_parameters(record).get("bucketName")
    return name if isinstance(name, str) else None


def _get(d: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(d, dict):
            return None
        d = d.get(key)
    return d


def _true(value: Any) -> bool:
    """CloudTrail writes booleans as JSON booleans, sometimes as strings."""
    return value is True or (isinstance(value, str) and value.strip().lower() == "true")


def _false(value: Any) -> bool:
    return value is False or (isinstance(value, str) and value.strip().lower() == "false")


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _list(value: Any) -> list[Any]:
    """XML-derived elements are an object when there is one, a list when there are several."""
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


# ---- resources (ARNs) ---------------------------------------------------------------------

def partition(region: str | None) -> str:
    region = region or ""
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


def account_of(record: dict[str, Any]) -> str:
    acct = record.get("recipientAccountId") or _get(record, "userIdentity", "accountId")
    return str(acct or "")


def _arn(record: dict[str, Any], service: str, resource: str, regional: bool = True) -> str:
    region = record.get("awsRegion") or ""
    return (f"arn:{partition(region)}:{service}:{region if regional else ''}:"
            f"{account_of(record)}:{resource}")


def _named(record: dict[str, Any], service: str, kind: str, value: Any, sep: str = ":") -> str:
    if isinstance(value, str) and value.startswith("arn:"):
        return value
    return _arn(record, service, f"{kind}{sep}{value if value is not None else '?'}")


def s3_bucket(record: dict[str, Any]) -> str:
    return f"arn:{partition(record.get('awsRegion'))}:s3:::{bucket_name(record) or '?'}"


def rds_database(record: dict[str, Any]) -> str:
    rp = request_parameters(record)
    if "dBClusterIdentifier" in rp:
        return _named(record, "rds", "cluster", rp["dBClusterIdentifier"])
    return _named(record, "rds", "db", rp.get("dBInstanceIdentifier"))


def rds_recovery_point(record: dict[str, Any]) -> str:
    rp = request_parameters(record)
    for key, kind in (("dBSnapshotIdentifier", "snapshot"),
                      ("dBClusterSnapshotIdentifier", "cluster-snapshot"),
                      ("dBInstanceAutomatedBackupsArn", "auto-backup"),
                      ("dbiResourceId", "auto-backup"),
                      ("dbClusterResourceId", "cluster-auto-backup")):
        if rp.get(key):
            return _named(record, "rds", kind, rp[key])
    return _named(record, "rds", "snapshot", None)


def cloudtrail_trail(record: dict[str, Any]) -> str:
    rp = request_parameters(record)
    return _named(record, "cloudtrail", "trail", rp.get("name") or rp.get("trailName"), "/")


def organizations_policy(record: dict[str, Any]) -> str:
    arn = _get(record, "responseElements", "policy", "policySummary", "arn")
    if isinstance(arn, str):
        return arn
    pid = request_parameters(record).get("policyId")
    return _arn(record, "organizations", f"policy/{pid}", regional=False)


def events_rule(record: dict[str, Any]) -> str:
    rp = request_parameters(record)
    name = rp.get("name") or rp.get("rule")
    bus = rp.get("eventBusName")
    if isinstance(name, str) and name.startswith("arn:"):
        return name
    if isinstance(bus, str) and bus.startswith("arn:"):
        bus = bus.rsplit("/", 1)[-1]
    path = f"{bus}/{name}" if bus and bus != "default" else f"{name}"
    return _arn(record, "events", f"rule/{path}")


def backup_resource(record: dict[str, Any]) -> str:
    rp = request_parameters(record)
    if isinstance(rp.get("recoveryPointArn"), str):
        return rp["recoveryPointArn"]
    if rp.get("backupPlanId"):
        return _named(record, "backup", "backup-plan", rp["backupPlanId"])
    return _named(record, "backup", "backup-vault", rp.get("backupVaultName"))


def dynamodb_table(record: dict[str, Any]) -> str:
    """DeleteTable's tableName: a name, or (since 2024) the table's ARN."""
    return _named(record, "dynamodb", "table", request_parameters(record).get("tableName"),
                  "/")


def iam_root(record: dict[str, Any]) -> str:
    return _arn(record, "iam", "root", regional=False)


def short_name(arn: str) -> str:
    """The resource name at the end of an ARN (bucket, DB id, trail, rule, vault...)."""
    tail = arn.split(":", 5)[-1] if arn.startswith("arn:") else arn
    return tail.rsplit("/", 1)[-1].rsplit(":", 1)[-1] or tail


# ---- predicates ---------------------------------------------------------------------------

def retention_below_minimum(rp: dict, record: dict, params: Mapping, ctx: Context) -> bool:
    days = _int(rp.get("backupRetentionPeriod"))
    return days is not None and days < params["minRetentionDays"]


def deletion_protection_off(rp: dict, record: dict, params: Mapping, ctx: Context) -> bool:
    return _false(rp.get("deletionProtection"))


def skips_final_snapshot(rp: dict, record: dict, params: Mapping, ctx: Context) -> bool:
    """skipFinalSnapshot true, or deleteAutomatedBackups true or unset (AWS default true)."""
    return _true(rp.get("skipFinalSnapshot")) or not _false(rp.get("deleteAutomatedBackups"))


def versioning_not_enabled(rp: dict, record: dict, params: Mapping, ctx: Context) -> bool:
    status = _get(rp, "VersioningConfiguration", "Status")
    return status is not None and status != "Enabled"


def lock_weakened(rp: dict, record: dict, params: Mapping, ctx: Context) -> bool:
    """No default retention, a mode not allowed, or fewer than minLockDays (years = 365)."""
    retention = _get(rp, "ObjectLockConfiguration", "Rule", "DefaultRetention")
    if not isinstance(retention, dict):
        return True
    if retention.get("Mode") not in params["allowedLockModes"]:
        return True
    total = retention_days(_int(retention.get("Days")), _int(retention.get("Years")))
    return (total or 0) < params["minLockDays"]


def bypasses_governance(rp: dict, record: dict, params: Mapping, ctx: Context) -> bool:
    return _true(rp.get("x-amz-bypass-governance-retention"))


def deletes_version(rp: dict, record: dict, params: Mapping, ctx: Context) -> bool:
    return bool(rp.get("versionId"))


def deletes_current(rp: dict, record: dict, params: Mapping, ctx: Context) -> bool:
    return not rp.get("versionId")


def lifecycle_expires(rp: dict, record: dict, params: Mapping, ctx: Context) -> bool:
    """An enabled rule expiring current objects (Days/Date) or noncurrent versions."""
    for rule in _list(_get(rp, "LifecycleConfiguration", "Rule")):
        if not isinstance(rule, dict) or rule.get("Status") == "Disabled":
            continue
        exp = rule.get("Expiration")
        if isinstance(exp, dict) and (exp.get("Days") is not None or exp.get("Date")):
            return True
        if rule.get("NoncurrentVersionExpiration") is not None:
            return True
    return False


PUBLIC_ACCESS_FLAGS = ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy",
                       "RestrictPublicBuckets")


def public_access_flag_off(rp: dict, record: dict, params: Mapping, ctx: Context) -> bool:
    """PutPublicAccessBlock replaces the configuration: an omitted flag is false."""
    cfg = rp.get("PublicAccessBlockConfiguration")
    cfg = cfg if isinstance(cfg, dict) else {}
    return not all(_true(cfg.get(flag)) for flag in PUBLIC_ACCESS_FLAGS)


def trail_weakened(rp: dict, record: dict, params: Mapping, ctx: Context) -> bool:
    return _false(rp.get("isMultiRegionTrail")) or _false(rp.get("enableLogFileValidation"))


def _s3_data_buckets(resources: Iterable[str]) -> set[str] | None:
    """Bucket names from S3 data-resource ARNs; None when they cover every bucket."""
    names: set[str] = set()
    for value in resources:
        if not isinstance(value, str):
            continue
        tail = value.split(":::", 1)[1] if ":::" in value else ""
        if not tail:
            return None
        names.add(tail.split("/", 1)[0])
    return names


def drops_data_events(rp: dict, record: dict, params: Mapping, ctx: Context) -> bool:
    """The new selectors log no S3 write data events on any backup bucket."""
    covered: list[set[str] | None] = []
    for sel in _list(rp.get("eventSelectors")):
        if not isinstance(sel, dict) or sel.get("readWriteType") == "ReadOnly":
            continue
        for res in _list(sel.get("dataResources")):
            if isinstance(res, dict) and res.get("type") == "AWS::S3::Object":
                covered.append(_s3_data_buckets(_list(res.get("values"))))
    for sel in _list(rp.get("advancedEventSelectors")):
        fields = {f.get("field"): f for f in _list(_get(sel, "fieldSelectors"))
                  if isinstance(f, dict)}
        if "Data" not in _list(_get(fields, "eventCategory", "equals")):
            continue
        if "AWS::S3::Object" not in _list(_get(fields, "resources.type", "equals")):
            continue
        if "true" in [str(v).lower() for v in _list(_get(fields, "readOnly", "equals"))]:
            continue
        prefixes = _list(_get(fields, "resources.ARN", "startsWith"))
        exact = _list(_get(fields, "resources.ARN", "equals"))
        covered.append(_s3_data_buckets(prefixes + exact) if prefixes or exact else None)
    for buckets in covered:
        if buckets is None or any(ctx.bucket_reasons(b) for b in buckets):
            return False
    return True


def alert_rule(rp: dict, record: dict, params: Mapping, ctx: Context) -> bool:
    name = rp.get("name") or rp.get("rule") or ""
    patterns = params.get("alertRuleNames") or []
    return not patterns or any(fnmatch.fnmatchcase(str(name), p) for p in patterns)


def backup_scp(rp: dict, record: dict, params: Mapping, ctx: Context) -> bool:
    pid = rp.get("policyId")
    kind = _get(record, "responseElements", "policy", "policySummary", "type")
    if pid == "p-FullAWSAccess" or (kind is not None and kind != "SERVICE_CONTROL_POLICY"):
        return False
    ids = params.get("backupPolicyIds") or []
    return not ids or pid in ids


def root_access_key(rp: dict, record: dict, params: Mapping, ctx: Context) -> bool:
    return _get(record, "userIdentity", "type") == "Root" and not rp.get("userName")
