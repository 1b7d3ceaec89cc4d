"""RDS: DB instances and clusters (Aurora, DocumentDB, Neptune), and their recovery points in
other regions."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import field
from typing import Any

from drguard.arns import partition_of
from drguard.controls import rds as ctl
from drguard.controls.rds import Database
from drguard.facts import UNKNOWN
from drguard.records import record
from drguard.verdict import Verdict

from ..aws import Account, paginate
from ..collectors import (
    Errors,
    ReadError,
    age_hours,
    arn_region,
    guarded,
    tag_dict,
)
from ..live import AccountScan, DriftKind, Live, LiveService, RegionScan, ScanContext, Step


@record
class RdsRegion:
    """One region's databases and automated backups, and what could not be read."""

    region: str
    databases: list[Database] = field(default_factory=list)
    # DB ARN -> {"resource_id", "replications": [automated-backup ARNs in other regions]}
    meta: dict[str, dict[str, Any]] = field(default_factory=dict)
    automated: Any = field(default_factory=list)  # normalised automated backups, or UNKNOWN
    snapshots: Any = field(default_factory=list)  # normalised snapshots, or UNKNOWN
    exports: list[str] = field(default_factory=list)  # S3 buckets of snapshot exports
    errors: Errors = field(default_factory=dict)


def _instance(d: dict[str, Any], account: str, region: str) -> Database:
    replica = bool(d.get("ReadReplicaSourceDBInstanceIdentifier")
                   or d.get("ReadReplicaSourceDBClusterIdentifier"))
    return Database(
        ref=d["DBInstanceArn"], name=d["DBInstanceIdentifier"], type="AWS::RDS::DBInstance",
        account=account, region=region, tags=tag_dict(d.get("TagList")), kind="instance",
        engine=d.get("Engine"), backup_retention=d.get("BackupRetentionPeriod"),
        deletion_protection=bool(d.get("DeletionProtection")), read_replica=replica,
        cluster_member=bool(d.get("DBClusterIdentifier")), final_snapshot_applies=False,
        evidence={"engine": d.get("Engine"), "dbiResourceId": d.get("DbiResourceId"),
                  "dbClusterIdentifier": d.get("DBClusterIdentifier"),
                  "kmsKeyId": d.get("KmsKeyId")})


# DescribeDBClusters lists DocumentDB and Neptune clusters too (every engine, no filter).
_CLUSTER_TYPES = {"docdb": "AWS::DocDB::DBCluster", "neptune": "AWS::Neptune::DBCluster"}


def _cluster(c: dict[str, Any], account: str, region: str) -> Database:
    return Database(
        ref=c["DBClusterArn"], name=c["DBClusterIdentifier"],
        type=_CLUSTER_TYPES.get(str(c.get("Engine")), "AWS::RDS::DBCluster"),
        account=account, region=region, tags=tag_dict(c.get("TagList")), kind="cluster",
        engine=c.get("Engine"), backup_retention=c.get("BackupRetentionPeriod"),
        deletion_protection=bool(c.get("DeletionProtection")),
        read_replica=bool(c.get("ReplicationSourceIdentifier")), final_snapshot_applies=False,
        evidence={"engine": c.get("Engine"), "kmsKeyId": c.get("KmsKeyId"), "members": [
            m.get("DBInstanceIdentifier") for m in c.get("DBClusterMembers") or ()]})


def _snapshot(s: dict[str, Any], kind: str, region: str) -> dict[str, Any]:
    source = s.get("SourceDBSnapshotIdentifier") or s.get("SourceDBClusterSnapshotArn") or ""
    return {
        "kind": kind, "region": region,
        "identifier": s.get("DBInstanceIdentifier") or s.get("DBClusterIdentifier"),
        "resource_id": s.get("DbiResourceId") or s.get("DbClusterResourceId"),
        "source_region": s.get("SourceRegion")
        or (arn_region(source) if source.startswith("arn:") else None),
        "time": s.get("OriginalSnapshotCreateTime") or s.get("SnapshotCreateTime"),
        "arn": s.get("DBSnapshotArn") or s.get("DBClusterSnapshotArn"),
        # snapshot-not-public and backup-kms-key-usable read these
        "snapshot_id": s.get("DBSnapshotIdentifier") or s.get("DBClusterSnapshotIdentifier"),
        "snapshot_type": s.get("SnapshotType"), "kmsKeyId": s.get("KmsKeyId"),
    }


def collect(account: Account, region: str) -> RdsRegion:
    rds = account.client("rds", region)
    out = RdsRegion(region)
    instances = guarded(out.errors, "instances", "rds:DescribeDBInstances",
                        lambda: list(paginate(rds, "describe_db_instances", "DBInstances")))
    for d in instances if instances is not UNKNOWN else ():
        db = _instance(d, account.id, region)
        out.databases.append(db)
        out.meta[db.ref] = {"resource_id": d.get("DbiResourceId"), "replications": [
            r["DBInstanceAutomatedBackupsArn"]
            for r in d.get("DBInstanceAutomatedBackupsReplications") or ()
            if r.get("DBInstanceAutomatedBackupsArn")],
            "latest_restorable": d.get("LatestRestorableTime")}  # recovery-point-objective
    clusters = guarded(out.errors, "clusters", "rds:DescribeDBClusters",
                       lambda: list(paginate(rds, "describe_db_clusters", "DBClusters")))
    for c in clusters if clusters is not UNKNOWN else ():
        db = _cluster(c, account.id, region)
        out.databases.append(db)
        out.meta[db.ref] = {"resource_id": c.get("DbClusterResourceId"), "replications": [],
                            "latest_restorable": c.get("LatestRestorableTime")}
    auto = guarded(out.errors, "automatedBackups", "rds:DescribeDBInstanceAutomatedBackups",
                   lambda: list(paginate(rds, "describe_db_instance_automated_backups",
                                         "DBInstanceAutomatedBackups")))
    out.automated = UNKNOWN if auto is UNKNOWN else [
        {"db_arn": a.get("DBInstanceArn"), "region": region,
         "arn": a.get("DBInstanceAutomatedBackupsArn"), "resource_id": a.get("DbiResourceId"),
         "latest": (a.get("RestoreWindow") or {}).get("LatestTime"), "status": a.get("Status"),
         "kmsKeyId": a.get("KmsKeyId")}
        for a in auto]
    snaps = guarded(out.errors, "snapshots", "rds:DescribeDBSnapshots",
                    lambda: list(paginate(rds, "describe_db_snapshots", "DBSnapshots")))
    csnaps = guarded(out.errors, "clusterSnapshots", "rds:DescribeDBClusterSnapshots",
                     lambda: list(paginate(rds, "describe_db_cluster_snapshots",
                                           "DBClusterSnapshots")))
    if snaps is UNKNOWN or csnaps is UNKNOWN:
        out.snapshots = UNKNOWN
    else:
        out.snapshots = [_snapshot(s, "instance", region) for s in snaps
                         if s.get("Status", "available") == "available"]
        out.snapshots += [_snapshot(s, "cluster", region) for s in csnaps
                          if s.get("Status", "available") == "available"]
    exports = guarded(out.errors, "exports", "rds:DescribeExportTasks",
                      lambda: list(paginate(rds, "describe_export_tasks", "ExportTasks")))
    out.exports = sorted({e["S3Bucket"] for e in exports if e.get("S3Bucket")}) \
        if exports is not UNKNOWN else []
    return out


def _is_copy_of(snap: dict[str, Any], db: Database, resource_id: str | None,
                local_names: set[str]) -> bool:
    """A snapshot (in another region) is a recovery point of `db`: copies keep the source's
    identifier (and resource id); a source region, when given, must be db's region; without
    one, a DB of the same name in the snapshot's region makes it that DB's snapshot."""
    if (snap["kind"] == "cluster") != (db.kind == "cluster") or snap.get("identifier") != db.name:
        return False
    if resource_id and snap.get("resource_id") and snap["resource_id"] != resource_id:
        return False
    if snap.get("source_region"):
        return snap["source_region"] == db.region
    return db.name not in local_names


def cross_region(db: Database, meta: Mapping[str, Any], regions: Mapping[str, RdsRegion],
                 now: dt.datetime) -> tuple[list[dict[str, Any]], list[str]]:
    """(recovery points of `db` in other scanned regions, regions whose listing failed)."""
    points: list[dict[str, Any]] = []
    unread: list[str] = []
    replica_regions = {arn_region(a) for a in meta.get("replications", ())}
    resource_id = meta.get("resource_id")
    for region, data in regions.items():
        if region == db.region:
            continue
        if data.automated is UNKNOWN or data.snapshots is UNKNOWN:
            unread.append(region)
        for a in data.automated if data.automated is not UNKNOWN else ():
            if a.get("db_arn") == db.ref:
                points.append({"kind": "automated-backup-replication", "region": region,
                               "age_hours": age_hours(a.get("latest"), now),
                               "arn": a.get("arn")})
                replica_regions.discard(region)
        local = {d.name for d in data.databases}
        for s in data.snapshots if data.snapshots is not UNKNOWN else ():
            if _is_copy_of(s, db, resource_id, local):
                points.append({"kind": "snapshot", "region": region,
                               "age_hours": age_hours(s.get("time"), now), "arn": s.get("arn")})
    for region in sorted(r for r in replica_regions if r and r != db.region):
        # Replication seen on the instance, its region not scanned: no age known.
        points.append({"kind": "automated-backup-replication", "region": region,
                       "age_hours": None})
    points.sort(key=lambda p: (p["age_hours"] is None, p["age_hours"] or 0))
    return points, unread


# ---- live bindings ---------------------------------------------------------------------------

_RDS = ("rds-backup-retention", "rds-deletion-protection", "rds-cross-region-backup")


def _collect(scanner: ScanContext, acct: Account, rs: RegionScan) -> RdsRegion:
    return collect(acct, rs.region)


def _evaluate(scanner: ScanContext, a: AccountScan) -> None:
    params = scanner.settings.of
    rds_regions = {r: rs.data["rds"] for r, rs in a.regions.items()
                   if rs.data.get("rds") is not None}
    for region, rs in sorted(a.regions.items()):
        data: RdsRegion | None = rs.data.get("rds")
        if data is None:
            err = rs.errors.get("rds")
            for c in _RDS:
                scanner.error(c, f"arn:aws:rds:{region}:{a.id}:db:*", f"RDS in {region}", a.id,
                              region, f"RDS in {region} could not be read: {err}.", [err])
            continue
        for key, kind in (("instances", "db"), ("clusters", "cluster")):
            if key in data.errors:
                err = data.errors[key]
                for c in _RDS:
                    scanner.error(c, f"arn:aws:rds:{region}:{a.id}:{kind}:*",
                                  f"RDS {key} in {region}", a.id, region,
                                  f"The RDS {key} of {region} could not be listed: {err}.",
                                  [err])
        for db in data.databases:
            scanner.add(_RDS[0], db, ctl.backup_retention(db, params(_RDS[0])))
            scanner.add(_RDS[1], db, ctl.deletion_protection(db))
            points, unread = cross_region(db, data.meta.get(db.ref, {}), rds_regions,
                                          scanner.now)
            db.cross_region = points
            v = ctl.cross_region_backup(db, params(_RDS[2]))
            errs: list[ReadError | None] = []
            others = [r for r in scanner.regions if r != region]
            if v is not None and v.status == "fail":
                if not others:
                    v = Verdict("error", f"Cannot look for recovery points of {db.name!r} "
                                f"in other regions: only {region} was scanned (add the DR "
                                "region to --regions).", v.evidence)
                elif unread:
                    errs = [e for r in unread for e in rds_regions[r].errors.values()]
                    v = Verdict("unknown", "", v.evidence)
                missing = [r for r in others if r not in rds_regions]
                if missing and v.status == "fail":
                    errs = [a.regions[r].errors.get("rds") for r in missing]
                    v = Verdict("unknown", "", v.evidence)
            scanner.add(_RDS[2], db, v, errs)


_RDS_GONE = frozenset({"DBInstanceNotFound", "DBInstanceNotFoundFault"})
_CLUSTER_GONE = frozenset({"DBClusterNotFoundFault", "DBClusterNotFound"})
_INSTANCE: dict[str, Any] = dict(
    label="RDS DB instance", service="rds", operation="rds:DescribeDBInstances",
    call=lambda c, n: c.describe_db_instances(DBInstanceIdentifier=n),
    gone=_RDS_GONE, arn=lambda r, a, n: f"arn:{partition_of(r)}:rds:{r}:{a}:db:{n}",
    delete_event="DeleteDBInstance")
_CLUSTER: dict[str, Any] = dict(
    label="RDS DB cluster", service="rds", operation="rds:DescribeDBClusters",
    call=lambda c, n: c.describe_db_clusters(DBClusterIdentifier=n),
    gone=_CLUSTER_GONE,
    arn=lambda r, a, n: f"arn:{partition_of(r)}:rds:{r}:{a}:cluster:{n}",
    delete_event="DeleteDBCluster")


SERVICE = LiveService(
    calls=("rds:DescribeDBInstances", "rds:DescribeDBClusters", "rds:DescribeDBSnapshots",
           "rds:DescribeDBClusterSnapshots", "rds:DescribeDBInstanceAutomatedBackups",
           "rds:DescribeExportTasks"),
    regional_steps=(Step("rds", "rds", _collect),),
    live=(Live(_RDS, _evaluate),),
    drift={
        # pulumi-aws v6+: an RDS instance's id is its resource id (db-...), not its identifier.
        "aws:rds/instance:Instance": DriftKind(names=("identifier",), use_id=False, **_INSTANCE),
        "aws-native:rds:DbInstance": DriftKind(names=("dbInstanceIdentifier",), use_id=True,
                                               **_INSTANCE),
        "aws:rds/cluster:Cluster": DriftKind(names=("clusterIdentifier",), use_id=True, **_CLUSTER),
        "aws-native:rds:DbCluster": DriftKind(names=("dbClusterIdentifier",), use_id=True,
                                              **_CLUSTER),
    },
)
