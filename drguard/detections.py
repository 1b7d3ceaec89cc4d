"""CloudTrail detections as data: the machinery of the logs side, shared by every control.

Each `Detection` is declared beside its control in `drguard.controls.<service>`
(`Control.detections`): the event source, the event names, an optional predicate on the
record (a small named function in the same module), how to name the resource (an ARN, built
by the helpers below) and a message template. Nothing here reads files or calls AWS, and
nothing here names a control.

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

import string
from collections.abc import Callable, Iterable, Mapping
from dataclasses import field
from typing import Any, Literal, Protocol

from .records import record

S3 = "s3.amazonaws.com"
RDS = "rds.amazonaws.com"
CLOUDTRAIL = "cloudtrail.amazonaws.com"
ORGANIZATIONS = "organizations.amazonaws.com"
EVENTS = "events.amazonaws.com"
BACKUP = "backup.amazonaws.com"
IAM = "iam.amazonaws.com"
DYNAMODB = "dynamodb.amazonaws.com"


class BucketScope(Protocol):
    """What a detection asks of the backup-bucket scope (`drguard.scope.Scope`)."""

    def reasons(self, name: str | None, tags: Mapping[str, Any] | None,
                auto: Iterable[str] = ()) -> list[str]: ...


@record(frozen=True)
class Context:
    """What a predicate may need besides the record: scope rules and known backup buckets."""

    scope: BucketScope
    # bucket name -> reason it is a backup bucket, known to the caller (e.g. a trail destination)
    extra_buckets: Mapping[str, str] = field(default_factory=dict)

    def bucket_reasons(self, name: str | None) -> list[str]:
        auto = [self.extra_buckets[name]] if name is not None and name in self.extra_buckets else []
        return self.scope.reasons(name, None, auto=auto)


# predicate(requestParameters, record, control params, context) -> the event breaks the control
# a CloudTrail record (or its requestParameters) and a control's resolved parameters
Record = dict[str, Any]
Params = Mapping[str, Any]
Predicate = Callable[[Record, Record, Params, Context], bool]
# resource(record) -> ARN of the resource the event acted on
ResourceOf = Callable[[dict[str, Any]], str]


@record(frozen=True)
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


class Declared(Protocol):
    """A control as `index` reads it (`drguard.control.Control`)."""

    @property
    def id(self) -> str: ...

    @property
    def detections(self) -> tuple[Detection, ...]: ...


def index(controls: Iterable[Declared]) -> dict[tuple[str, str], list[tuple[str, Detection]]]:
    """(eventSource, eventName) -> [(control id, detection)], in registry order."""
    out: dict[tuple[str, str], list[tuple[str, Detection]]] = {}
    for c in controls:
        for d in c.detections:
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
        return str(super().format_field(value, format_spec))


_FORMATTER = _Formatter()


# ---- record access ------------------------------------------------------------------------

def request_parameters(record: dict[str, Any]) -> dict[str, Any]:
    rp = record.get("requestParameters")
    return rp if isinstance(rp, dict) else {}


def bucket_name(record: dict[str, Any]) -> str | None:
    name = request_parameters(record).get("bucketName")
    return name if isinstance(name, str) else None


def get_in(d: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(d, dict):
            return None
        d = d.get(key)
    return d


def is_true(value: Any) -> bool:
    """CloudTrail writes booleans as JSON booleans, sometimes as strings."""
    return value is True or (isinstance(value, str) and value.strip().lower() == "true")


def is_false(value: Any) -> bool:
    return value is False or (isinstance(value, str) and value.strip().lower() == "false")


def to_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    try:
        return int(value)
    except (TypeError, ValueError, OverflowError):  # None, "x", a list, inf, NaN
        return None


def as_list(value: Any) -> list[Any]:
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
    acct = record.get("recipientAccountId") or get_in(record, "userIdentity", "accountId")
    return str(acct or "")


def _arn(record: dict[str, Any], service: str, resource: str, regional: bool = True) -> str:
    region = record.get("awsRegion") or ""
    return (f"arn:{partition(region)}:{service}:{region if regional else ''}:"
            f"{account_of(record)}:{resource}")


def named_arn(record: dict[str, Any], service: str, kind: str, value: Any, sep: str = ":") -> str:
    """`value` when it is already an ARN, else the ARN of `<kind><sep><value>` in the record's
    account and region (e.g. `named_arn(r, "rds", "db", "orders")`)."""
    if isinstance(value, str) and value.startswith("arn:"):
        return value
    return _arn(record, service, f"{kind}{sep}{value if value is not None else '?'}")


def s3_bucket(record: dict[str, Any]) -> str:
    return f"arn:{partition(record.get('awsRegion'))}:s3:::{bucket_name(record) or '?'}"


def rds_database(record: dict[str, Any]) -> str:
    rp = request_parameters(record)
    if "dBClusterIdentifier" in rp:
        return named_arn(record, "rds", "cluster", rp["dBClusterIdentifier"])
    return named_arn(record, "rds", "db", rp.get("dBInstanceIdentifier"))


def rds_recovery_point(record: dict[str, Any]) -> str:
    rp = request_parameters(record)
    for key, kind in (("dBSnapshotIdentifier", "snapshot"),
                      ("dBClusterSnapshotIdentifier", "cluster-snapshot"),
                      ("dBInstanceAutomatedBackupsArn", "auto-backup"),
                      ("dbiResourceId", "auto-backup"),
                      ("dbClusterResourceId", "cluster-auto-backup")):
        if rp.get(key):
            return named_arn(record, "rds", kind, rp[key])
    return named_arn(record, "rds", "snapshot", None)


def cloudtrail_trail(record: dict[str, Any]) -> str:
    rp = request_parameters(record)
    return named_arn(record, "cloudtrail", "trail", rp.get("name") or rp.get("trailName"), "/")


def organizations_policy(record: dict[str, Any]) -> str:
    arn = get_in(record, "responseElements", "policy", "policySummary", "arn")
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
    arn = rp.get("recoveryPointArn")
    if isinstance(arn, str):
        return arn
    if rp.get("backupPlanId"):
        return named_arn(record, "backup", "backup-plan", rp["backupPlanId"])
    return named_arn(record, "backup", "backup-vault", rp.get("backupVaultName"))


def dynamodb_table(record: dict[str, Any]) -> str:
    """DeleteTable's tableName: a name, or (since 2024) the table's ARN."""
    return named_arn(record, "dynamodb", "table", request_parameters(record).get("tableName"),
                  "/")


def iam_root(record: dict[str, Any]) -> str:
    return _arn(record, "iam", "root", regional=False)


def short_name(arn: str) -> str:
    """The resource name at the end of an ARN (bucket, DB id, trail, rule, vault...)."""
    tail = arn.split(":", 5)[-1] if arn.startswith("arn:") else arn
    return tail.rsplit("/", 1)[-1].rsplit(":", 1)[-1] or tail
