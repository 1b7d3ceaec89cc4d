"""The drill's mutating guard: the auditor's read-only guard, plus the drill's own writes.

The scan's sessions (auditor.aws) refuse every operation that is not a read. A drill session
is built the same way (standard boto3 chain, --profile, --endpoint-url, retries, timeouts) but
its guard also lets through a short list of create, restore and delete calls, and only when the
parameters name a scratch resource of this run:

- RDS restores, snapshot copies, deletes: the identifier starts with `drguard-drill-<run id>-`,
  a create carries the tag `dr:drill=<run id>`, a delete skips the final snapshot, and the one
  modification allowed turns deletion protection *off* on a scratch instance (a restore copies
  it from the original, and a protected scratch instance could not be cleaned up);
- RDS cluster restores (Aurora, DocumentDB, Neptune) and the one instance created in the
  scratch cluster: both identifiers are scratch names, the create carries the tag; deletes
  skip the final snapshot; the one cluster modification turns deletion protection off;
- DynamoDB point-in-time restores and table deletes: the table name is a scratch name
  (RestoreTableToPointInTime takes no tags; the name carries the run id);
- S3 copies and deletes: the key starts with `drguard-drill-<run id>/` (no `..` segment), a
  copy replaces the tags with `dr:drill=<run id>` and sets no Object Lock (a locked copy
  could not be deleted);
- the drill's own scratch bucket (`drguard-drill-<run id>-copies`, made when the bucket it
  restores from would keep the copies: it locks or replicates new objects): created with a
  name and a region only (no Object Lock, ACL, grant or ownership setting), tagged
  `dr:drill=<run id>`, deleted.

Anything else (another name, another operation, the original's name) raises
`auditor.aws.MutatingCallError` before the request is built or sent. The check runs on the
API parameters (`before-parameter-build`), so what is checked is what would be sent.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import field
from typing import Any
from urllib.parse import parse_qsl

import boto3
import botocore.session
from botocore.exceptions import ProfileNotFound

from drguard.errors import ConfigError
from drguard.records import record

from ..aws import DEFAULT_REGION, AwsOptions, MutatingCallError, base_session, is_read_only

log = logging.getLogger(__name__)

NAME_PREFIX = "drguard-drill-"
TAG_KEY = "dr:drill"


def scratch_prefix(run_id: str) -> str:
    """Every scratch resource of run `run_id` starts with this (RDS ids, S3 key prefixes)."""
    return f"{NAME_PREFIX}{run_id}"


@record(frozen=True)
class Call:
    """A mutating call the guard let through (or refused)."""

    service: str
    operation: str
    target: str
    allowed: bool
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        d = {"service": self.service, "operation": self.operation, "target": self.target,
             "allowed": self.allowed}
        if self.reason:
            d["reason"] = self.reason
        return d


Check = Callable[["DrillGuard", dict[str, Any]], tuple[str, str | None]]


def _ident(key: str, *, tags: bool = False, **fixed: Any) -> Check:
    """A check: params[key] is a scratch identifier of the run; optional tag and fixed values."""
    def check(g: DrillGuard, params: dict[str, Any]) -> tuple[str, str | None]:
        target = str(params.get(key) or "")
        if not g.is_scratch_id(target):
            return target, f"{key} {target!r} is not a scratch name of this drill"
        if tags and not g.has_tag_list(params.get("Tags")):
            return target, f"no tag {TAG_KEY}={g.run_id}"
        for name, value in fixed.items():
            if name in params and params[name] != value or name not in params and value is True:
                return target, f"{name} must be {value!r}"
        return target, None
    return check


def _modify(g: DrillGuard, params: dict[str, Any]) -> tuple[str, str | None]:
    target, refused = _ident("DBInstanceIdentifier")(g, params)
    if refused:
        return target, refused
    extra = set(params) - {"DBInstanceIdentifier", "DeletionProtection", "ApplyImmediately"}
    if extra or params.get("DeletionProtection") is not False:
        return target, "only turning deletion protection off a scratch instance is allowed"
    return target, None


def _modify_cluster(g: DrillGuard, params: dict[str, Any]) -> tuple[str, str | None]:
    target, refused = _ident("DBClusterIdentifier")(g, params)
    if refused:
        return target, refused
    extra = set(params) - {"DBClusterIdentifier", "DeletionProtection", "ApplyImmediately"}
    if extra or params.get("DeletionProtection") is not False:
        return target, "only turning deletion protection off a scratch cluster is allowed"
    return target, None


def _create_instance(g: DrillGuard, params: dict[str, Any]) -> tuple[str, str | None]:
    """An instance only inside a scratch cluster of this run (the cluster drill's reader)."""
    target, refused = _ident("DBInstanceIdentifier", tags=True)(g, params)
    if refused:
        return target, refused
    if not g.is_scratch_id(str(params.get("DBClusterIdentifier") or "")):
        return target, "an instance is only created inside this drill's scratch cluster"
    return target, None


def _s3_copy(g: DrillGuard, params: dict[str, Any]) -> tuple[str, str | None]:
    key = str(params.get("Key") or "")
    target = f"s3://{params.get('Bucket')}/{key}"
    if not g.is_scratch_key(key):
        return target, "destination key is not under this drill's scratch prefix"
    if params.get("TaggingDirective") != "REPLACE" or not g.has_tag_query(params.get("Tagging")):
        return target, f"a copy must replace its tags with {TAG_KEY}={g.run_id}"
    locked = [k for k in params if k.startswith("ObjectLock")]
    if locked:
        return target, f"a scratch copy may not set {', '.join(sorted(locked))}"
    return target, None


def _s3_delete(g: DrillGuard, params: dict[str, Any]) -> tuple[str, str | None]:
    key = str(params.get("Key") or "")
    target = f"s3://{params.get('Bucket')}/{key}"
    if not g.is_scratch_key(key):
        return target, "key is not under this drill's scratch prefix"
    if params.get("BypassGovernanceRetention"):
        return target, "BypassGovernanceRetention is never used by a drill"
    return target, None


def _s3_bucket(g: DrillGuard, params: dict[str, Any]) -> tuple[str, str | None]:
    """The drill's own scratch bucket: created without Object Lock, tagged, deleted."""
    name = str(params.get("Bucket") or "")
    if not g.is_scratch_id(name):
        return f"s3://{name}", "not this drill's scratch bucket"
    if params.get("ObjectLockEnabledForBucket"):
        return f"s3://{name}", "a scratch bucket never locks its objects"
    # a name and a region, nothing else: an ACL, a grant or an ownership setting could open
    # the copies of backup data to others
    extra = sorted(k for k in params if k.startswith(("ACL", "Grant", "ObjectOwnership")))
    extra += [f"CreateBucketConfiguration.{k}" for k in sorted(
        set(params.get("CreateBucketConfiguration") or ()) - {"LocationConstraint"})]
    if extra:
        return f"s3://{name}", f"a scratch bucket is made with no {', '.join(extra)}"
    if "Tagging" in params and not g.has_tag_list((params.get("Tagging") or {}).get("TagSet")):
        return f"s3://{name}", f"its tags must carry {TAG_KEY}={g.run_id}"
    return f"s3://{name}", None


# (service, operation) -> check. Nothing else that writes is ever sent.
RULES: dict[tuple[str, str], Check] = {
    ("rds", "RestoreDBInstanceFromDBSnapshot"): _ident("DBInstanceIdentifier", tags=True),
    ("rds", "RestoreDBInstanceToPointInTime"): _ident("TargetDBInstanceIdentifier", tags=True),
    ("rds", "CopyDBSnapshot"): _ident("TargetDBSnapshotIdentifier", tags=True),
    ("rds", "ModifyDBInstance"): _modify,
    ("rds", "DeleteDBInstance"): _ident("DBInstanceIdentifier", SkipFinalSnapshot=True),
    ("rds", "DeleteDBSnapshot"): _ident("DBSnapshotIdentifier"),
    ("rds", "RestoreDBClusterFromSnapshot"): _ident("DBClusterIdentifier", tags=True),
    ("rds", "RestoreDBClusterToPointInTime"): _ident("DBClusterIdentifier", tags=True),
    ("rds", "CreateDBInstance"): _create_instance,
    ("rds", "ModifyDBCluster"): _modify_cluster,
    ("rds", "DeleteDBCluster"): _ident("DBClusterIdentifier", SkipFinalSnapshot=True),
    ("dynamodb", "RestoreTableToPointInTime"): _ident("TargetTableName"),
    ("dynamodb", "DeleteTable"): _ident("TableName"),
    ("s3", "CopyObject"): _s3_copy,
    ("s3", "DeleteObject"): _s3_delete,
    ("s3", "CreateBucket"): _s3_bucket,
    ("s3", "PutBucketTagging"): _s3_bucket,
    ("s3", "DeleteBucket"): _s3_bucket,
}


# Reads whose names do not say so (the scan never makes them; the DynamoDB drill compares tables).
READS = frozenset({("dynamodb", "Scan")})


def _is_read(service: str, operation: str) -> bool:
    return is_read_only(operation) or (service, operation) in READS


@record
class DrillGuard:
    """Lets reads through, and the drill's own writes on the scratch names of `run_id`."""

    run_id: str
    calls: list[Call] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def prefix(self) -> str:
        return scratch_prefix(self.run_id)

    def is_scratch_id(self, name: str) -> bool:
        return name.startswith(self.prefix + "-")

    def is_scratch_key(self, key: str) -> bool:
        # No `..` segment: a proxy or client that normalises the path would otherwise turn
        # `<prefix>/../key` into a key outside the scratch prefix.
        return key.startswith(self.prefix + "/") and ".." not in key.split("/")

    def has_tag_list(self, tags: Any) -> bool:
        return any(isinstance(t, dict) and t.get("Key") == TAG_KEY and t.get("Value") == self.run_id
                   for t in tags or ())

    def has_tag_query(self, tagging: Any) -> bool:
        return isinstance(tagging, str) and (TAG_KEY, self.run_id) in parse_qsl(tagging)

    def check(self, service: str, operation: str, params: dict[str, Any]) -> None:
        """Raise MutatingCallError unless the call is a read or one of the drill's own."""
        if _is_read(service, operation):
            return
        rule = RULES.get((service, operation))
        refused: str | None
        if rule is None:
            target, refused = "", "not an operation a drill makes"
        else:
            target, refused = rule(self, params)
        with self._lock:
            self.calls.append(Call(service, operation, target, refused is None, refused or ""))
        if refused:
            log.error("drill guard refused %s:%s on %s: %s", service, operation, target, refused)
            raise MutatingCallError(f"refusing to call {service}:{operation}"
                                    f"{f' on {target}' if target else ''}: {refused}")
        log.info("drill: %s:%s %s", service, operation, target)

    def _before_parameter_build(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        self.check(model.service_model.service_name, model.name, params)

    def _before_call(self, model: Any, **_: Any) -> None:
        # Second line of defence: an operation the parameter check did not see (none today).
        service, operation = model.service_model.service_name, model.name
        if not _is_read(service, operation) and (service, operation) not in RULES:
            raise MutatingCallError(f"refusing to call {operation}: not a drill operation")

    def install(self, session: botocore.session.Session) -> None:
        session.register("before-parameter-build", self._before_parameter_build,
                         unique_id="dr-drill-guard")
        session.register("before-call", self._before_call, unique_id="dr-drill-guard-call")


class DrillAccount:
    """Clients of the drill session (same shape as auditor.aws.Account: `.client(service,
    region)` and `.id`), every one guarded by `guard`. With `options.role_arn` (`drill next
    --org` in a member account) the session holds that role's credentials, assumed now and
    refreshed like the scan's, and the guard is still the one session-wide check."""

    def __init__(self, options: AwsOptions, guard: DrillGuard) -> None:
        try:
            core = botocore.session.Session(profile=options.profile)
            core.get_scoped_config()
        except ProfileNotFound as e:
            raise ConfigError(str(e)) from None
        guard.install(core)
        if options.role_arn:
            # the assumed role's refreshable credentials, on this guarded session (no public
            # setter; auditor.aws.assume_role does the same)
            core._credentials = base_session(options).get_credentials()
        self.guard = guard
        self.options = options
        self.session = boto3.Session(botocore_session=core,
                                     region_name=options.region
                                     or core.get_config_variable("region") or DEFAULT_REGION)
        self._clients: dict[tuple[str, str], Any] = {}
        self._lock = threading.Lock()
        self.id = ""

    def client(self, service: str, region: str | None = None) -> Any:
        region = region or self.session.region_name or DEFAULT_REGION
        with self._lock:
            if (service, region) not in self._clients:
                self._clients[(service, region)] = self.session.client(
                    service, region_name=region, endpoint_url=self.options.endpoint_url,
                    config=self.options.config())
            return self._clients[(service, region)]
