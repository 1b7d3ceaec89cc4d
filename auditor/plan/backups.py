"""`dr-audit plan --check-backups`: the newest backup of each resource a plan would destroy.

Read-only (the auditor's guarded session: Describe/List calls only). Per resource kind:
RDS instances - DB snapshots and the latest restorable time; RDS/DocumentDB/Neptune clusters -
cluster snapshots and the latest restorable time; DynamoDB tables - on-demand backups and
point-in-time recovery; every kind - AWS Backup recovery points of its ARN. A lookup that
fails is said in the finding ("could not check") and counted, never taken as "no backup".
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterable
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from drguard.errors import ConfigError
from drguard.findings import Finding

from ..aws import DEFAULT_REGION, Account, AwsOptions, connect, paginate
from ..collectors import bucket_arn
from . import CONTROL

log = logging.getLogger(__name__)

RDS_INSTANCE = frozenset({"aws:rds/instance:Instance", "aws-native:rds:DbInstance"})
RDS_CLUSTER = frozenset({"aws:rds/cluster:Cluster", "aws-native:rds:DbCluster",
                         "aws:docdb/cluster:Cluster", "aws:neptune/cluster:Cluster"})
DYNAMODB = frozenset({"aws:dynamodb/table:Table", "aws-native:dynamodb:Table",
                      "aws-native:dynamodb:GlobalTable"})

Point = tuple[dt.datetime, str]  # (time, what)


def _newest(points: Iterable[Point]) -> Point | None:
    best: Point | None = None
    for p in points:
        if p[0] is not None and (best is None or p[0] > best[0]):
            best = p
    return best


def _rds_instance(acct: Account, region: str, name: str) -> list[Point]:
    rds = acct.client("rds", region)
    out: list[Point] = []
    for s in paginate(rds, "describe_db_snapshots", "DBSnapshots", DBInstanceIdentifier=name):
        if s.get("Status") == "available" and s.get("SnapshotCreateTime"):
            out.append((s["SnapshotCreateTime"], f"DB snapshot {s['DBSnapshotIdentifier']!r}"))
    try:
        dbs = rds.describe_db_instances(DBInstanceIdentifier=name)["DBInstances"]
    except ClientError as e:
        if e.response.get("Error", {}).get("Code") != "DBInstanceNotFound":
            raise
        dbs = []
    for db in dbs:
        if db.get("LatestRestorableTime") and (db.get("BackupRetentionPeriod") or 0) > 0:
            out.append((db["LatestRestorableTime"], "point-in-time restore (automated "
                                                    "backups)"))
    return out


def _rds_cluster(acct: Account, region: str, name: str) -> list[Point]:
    rds = acct.client("rds", region)
    out: list[Point] = []
    for s in paginate(rds, "describe_db_cluster_snapshots", "DBClusterSnapshots",
                      DBClusterIdentifier=name):
        if s.get("Status") == "available" and s.get("SnapshotCreateTime"):
            out.append((s["SnapshotCreateTime"],
                        f"cluster snapshot {s['DBClusterSnapshotIdentifier']!r}"))
    return out


def _dynamodb(acct: Account, region: str, name: str) -> list[Point]:
    ddb = acct.client("dynamodb", region)
    out: list[Point] = []
    for b in paginate(ddb, "list_backups", "BackupSummaries", TableName=name):
        if b.get("BackupStatus") == "AVAILABLE" and b.get("BackupCreationDateTime"):
            out.append((b["BackupCreationDateTime"], f"backup {b.get('BackupName')!r}"))
    try:
        desc = ddb.describe_continuous_backups(TableName=name)["ContinuousBackupsDescription"]
    except ClientError as e:
        if e.response.get("Error", {}).get("Code") not in ("TableNotFoundException",
                                                           "ResourceNotFoundException"):
            raise
        desc = {}
    pitr = desc.get("PointInTimeRecoveryDescription") or {}
    if pitr.get("PointInTimeRecoveryStatus") == "ENABLED" and \
            pitr.get("LatestRestorableDateTime"):
        out.append((pitr["LatestRestorableDateTime"], "point-in-time recovery"))
    return out


def _aws_backup(acct: Account, region: str, arn: str) -> list[Point]:
    backup = acct.client("backup", region)
    out: list[Point] = []
    for p in paginate(backup, "list_recovery_points_by_resource", "RecoveryPoints",
                      ResourceArn=arn):
        if p.get("Status") in (None, "COMPLETED") and p.get("CreationDate"):
            out.append((p["CreationDate"], "AWS Backup recovery point"))
    return out


def _code(e: Exception) -> str:
    if isinstance(e, ClientError):
        return str(e.response.get("Error", {}).get("Code") or "error")
    return type(e).__name__


def lookup(acct: Account, type_: str, name: str, region: str,
           arn: str | None) -> tuple[Point | None, list[str]]:
    """(the newest recovery point of one resource or None, the error codes of the lookups that
    failed). A failed lookup is never read as "no backup"."""
    points: list[Point] = []
    errors: list[str] = []
    finders: list[Callable[[], list[Point]]] = []
    if type_ in RDS_INSTANCE:
        finders.append(lambda: _rds_instance(acct, region, name))
    elif type_ in RDS_CLUSTER:
        finders.append(lambda: _rds_cluster(acct, region, name))
    elif type_ in DYNAMODB:
        finders.append(lambda: _dynamodb(acct, region, name))
    if arn is None and type_.startswith(("aws:s3/", "aws-native:s3:")):
        arn = bucket_arn(name, region)
    if arn is not None:
        finders.append(lambda: _aws_backup(acct, region, arn))
    for find in finders:
        try:
            points += find()
        except (ClientError, BotoCoreError) as e:
            errors.append(_code(e))
            log.info("backup lookup for %s failed: %s", name, e)
    return _newest(points), errors


def _age(when: dt.datetime, now: dt.datetime) -> float:
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max(0.0, (now - when).total_seconds() / 3600)


def annotate(findings: list[Finding], *, endpoint_url: str | None = None,
             profile: str | None = None, region: str | None = None,
             now: dt.datetime | None = None) -> dict[str, Any]:
    """Add the newest backup to every plan-destroys-data gap; returns run metadata
    {"checked", "found", "errors"}."""
    targets = [f for f in findings if f.control == CONTROL and f.status in ("fail", "waived")]
    meta: dict[str, Any] = {"checked": 0, "found": 0, "errors": 0}
    if not targets:
        return meta
    try:
        acct = connect(AwsOptions(profile=profile, endpoint_url=endpoint_url, region=region))
    except ConfigError as e:
        meta["errors"] = len(targets)
        meta["error"] = str(e)
        for f in targets:
            f.evidence["recentBackup"] = {"error": str(e)}
            f.message += f" Could not check for a recent backup: {e}."
        return meta
    now = now or dt.datetime.now(dt.UTC)
    for f in targets:
        name, type_ = f.evidence.get("name"), f.evidence.get("type")
        if not isinstance(name, str) or not isinstance(type_, str):
            continue
        where = f.region or region or DEFAULT_REGION
        arn = f.evidence.get("arn") if isinstance(f.evidence.get("arn"), str) else None
        meta["checked"] += 1
        newest, errors = lookup(acct, type_, name, where, arn)
        if newest is None and errors:
            meta["errors"] += 1
            f.evidence["recentBackup"] = {"error": ", ".join(errors)}
            f.message += f" Could not check for a recent backup ({', '.join(errors)})."
            continue
        if newest is None:
            f.evidence["recentBackup"] = None
            f.message += f" No backup of {name!r} was found in {where}."
            continue
        meta["found"] += 1
        hours = round(_age(newest[0], now), 1)
        f.evidence["recentBackup"] = {"what": newest[1], "time": newest[0].isoformat(),
                                      "ageHours": hours}
        if errors:
            f.evidence["recentBackup"]["notChecked"] = errors
        f.message += f" Newest backup: {newest[1]}, {hours} h old."
    return meta
