"""Achieved RPO, live: the newest recovery point of every database, backup bucket and the Pulumi
state backend, in its own region and in the others scanned (recovery-point-objective).

Read after the other services (its phase runs last), reusing what they read (RDS latest
restorable times, snapshots and cross-region copies, Redshift clusters, DynamoDB tables, AWS
Backup vaults, backup buckets in scope, the state bucket) and adding, per account x region:
Redshift snapshots (when the account has clusters), DynamoDB point-in-time windows and
on-demand backups, and AWS Backup recovery points (copies in other regions keep the source
ARN). Per bucket in scope: the newest object (the newest of the first MAX_KEYS when a bucket is
larger: enough to pass, never enough to fail). The state backend is special: its checkpoint
versions are the state itself, so a copy is as old as the changes it misses (0 when it has the
newest checkpoint), not as old as the last `pulumi up`.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import field
from typing import Any

from drguard import applications as apps_mod
from drguard.controls import rpo as ctl
from drguard.controls.rpo import RecoveryPoints
from drguard.facts import UNKNOWN
from drguard.records import record
from drguard.verdict import Remediation

from ..aws import Account, paginate
from ..collectors import UNIT_ERRORS, Errors, ReadError, age_hours, guarded
from ..live import AccountScan, Live, LiveService, Phase, Read, ScanContext
from . import s3 as s3svc
from .rds import cross_region

log = logging.getLogger(__name__)

RPO = ctl.CONTROL_ID
# Settings for the embedded emulator (`dr-audit demo`): moto has no ListRecoveryPointsByBackupVault.
EMULATOR_CONTROLS: dict[str, dict[str, Any]] = {RPO: {"awsBackupRecoveryPoints": False}}
MAX_KEYS = 100_000
_DBS, _CLUSTERS = "arn:aws:rds:{region}:{account}:db:*", "arn:aws:rds:{region}:{account}:cluster:*"
# The listings of the databases, clusters and tables whose recovery points are judged (a failed
# listing of instances or clusters leaves both unknown: either may hold the other's source).
RECOVERABLE_READS = (
    Read("rds:DescribeDBInstances", _DBS), Read("rds:DescribeDBInstances", _CLUSTERS),
    Read("rds:DescribeDBClusters", _DBS), Read("rds:DescribeDBClusters", _CLUSTERS),
    Read("dynamodb:ListTables", "arn:aws:dynamodb:{region}:{account}:table/*"),
    Read("redshift:DescribeClusters", "arn:aws:redshift:{region}:{account}:cluster:*"),
)


@record
class RegionPoints:
    """What one account x region adds for the RPO (UNKNOWN where a listing failed)."""

    redshift_snaps: Any = field(default_factory=list)
    ddb_pitr: dict[str, Any] = field(default_factory=dict)  # table ARN -> latest time|UNKNOWN
    ddb_backups: Any = field(default_factory=dict)  # table ARN -> newest backup time
    aws_backup: Any = field(default_factory=dict)  # resource ARN -> [(time, vault)]
    errors: Errors = field(default_factory=dict)


@record
class Newest:
    """The newest object of a bucket (or under a prefix)."""

    time: dt.datetime | None = None
    complete: bool = True
    error: ReadError | None = None


# ---- collection -------------------------------------------------------------------------------

def _region(scanner: ScanContext, a: AccountScan, region: str, redshift: bool) -> RegionPoints:
    """_read, with a malformed response recorded as unreadable (never a crash or a pass)."""
    try:
        return _read(scanner, a, region, redshift)
    except UNIT_ERRORS as e:
        err = ReadError.of("recovery points", e)
        out = RegionPoints(redshift_snaps=UNKNOWN, ddb_backups=UNKNOWN, aws_backup=UNKNOWN)
        out.errors = {k: err for k in ("redshiftSnapshots", "ddbBackups", "awsBackup")}
        for t in (a.regions[region].data.get("dynamodb") or ([], {}))[0]:
            out.ddb_pitr[t.ref] = UNKNOWN
            out.errors[f"pitr:{t.ref}"] = err
        return out


def _read(scanner: ScanContext, a: AccountScan, region: str, redshift: bool) -> RegionPoints:
    acct = a.target.account
    assert acct is not None
    out = RegionPoints()
    rs = a.regions[region]
    if redshift:  # the account has clusters: their copies may be in any region
        rsh = acct.client("redshift", region)
        out.redshift_snaps = guarded(out.errors, "redshiftSnapshots",
                                     "redshift:DescribeClusterSnapshots",
                                     lambda: list(paginate(rsh, "describe_cluster_snapshots",
                                                           "Snapshots")))
    tables, _ = rs.data.get("dynamodb") or ([], {})
    if tables:
        ddb = acct.client("dynamodb", region)
        for t in tables:
            errs: Errors = {}
            cb = guarded(errs, "pitr", "dynamodb:DescribeContinuousBackups",
                         lambda n=t.name: ddb.describe_continuous_backups(TableName=n))
            if cb is UNKNOWN:
                out.ddb_pitr[t.ref] = UNKNOWN
                out.errors[f"pitr:{t.ref}"] = errs["pitr"]
                continue
            desc = (cb.get("ContinuousBackupsDescription") or {}).get(
                "PointInTimeRecoveryDescription") or {}
            if desc.get("PointInTimeRecoveryStatus") == "ENABLED":
                out.ddb_pitr[t.ref] = desc.get("LatestRestorableDateTime")

        def backups() -> dict[str, Any]:
            newest: dict[str, Any] = {}
            for b in paginate(ddb, "list_backups", "BackupSummaries"):
                arn, when = b.get("TableArn"), b.get("BackupCreationDateTime")
                if b.get("BackupStatus") == "AVAILABLE" and arn and when:
                    newest[arn] = max(newest.get(arn, when), when)
            return newest

        out.ddb_backups = guarded(out.errors, "ddbBackups", "dynamodb:ListBackups", backups)
    if "backup" in rs.errors:
        out.aws_backup = UNKNOWN
        out.errors["awsBackup"] = rs.errors["backup"]
    elif rs.data.get("backup") and scanner.settings.of(RPO)["awsBackupRecoveryPoints"]:
        bk = acct.client("backup", region)

        def points() -> dict[str, list[tuple[Any, str]]]:
            found: dict[str, list[tuple[Any, str]]] = {}
            for v in rs.data["backup"]:
                for p in paginate(bk, "list_recovery_points_by_backup_vault", "RecoveryPoints",
                                  BackupVaultName=v.name):
                    if p.get("Status") in ("COMPLETED", None) and p.get("ResourceArn"):
                        found.setdefault(p["ResourceArn"], []).append(
                            (p.get("CompletionDate") or p.get("CreationDate"), v.name))
            return found

        out.aws_backup = guarded(out.errors, "awsBackup",
                                 "backup:ListRecoveryPointsByBackupVault", points)
    return out


def newest_object(account: Account, bucket: str, region: str | None, prefix: str = "",
                  max_keys: int = MAX_KEYS) -> Newest:
    """The newest current object of `bucket` under `prefix` (listing at most `max_keys`)."""
    s3 = account.client("s3", region)
    out = Newest()
    seen = 0
    try:
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for o in page.get("Contents") or ():
                when = o.get("LastModified")
                if isinstance(when, dt.datetime) and (out.time is None or when > out.time):
                    out.time = when
            seen += len(page.get("Contents") or ())
            if seen >= max_keys and page.get("IsTruncated"):
                out.complete = False
                break
    except Exception as e:  # noqa: BLE001 - recorded as a read error, never raised
        if not isinstance(e, UNIT_ERRORS):
            raise
        out.error = ReadError.of("s3:ListObjectsV2", e)
    return out


def _bucket_unit(scanner: ScanContext, acct: Account, name: str, region: str | None,
                 prefix: str) -> Newest:
    return newest_object(acct, name, region, prefix, MAX_KEYS)


def _phase(scanner: ScanContext, live: list[AccountScan]) -> None:
    if RPO not in scanner.settings.enabled:
        return
    units = [(scanner, a, r, any(rs.data.get("redshift") or "redshift" in rs.errors
                                 for rs in a.regions.values()))
             for a in live for r in sorted(a.regions)]
    for (_, a, r, _), res in zip(units, scanner.map("recovery points", _region, units),
                                 strict=True):
        a.regions[r].data[RPO] = res
    by_name = s3svc.bucket_index(scanner)
    state = s3svc.state_location(scanner)
    wanted: dict[tuple[str, str], tuple[Any, ...]] = {}
    for read in by_name.values():
        if not read.fact.scope_reasons or not s3svc.in_regions(scanner, read):
            continue
        prefix = _state_root(state) if read.fact.is_state_bucket else ""
        acct = s3svc._account_of(scanner, read).target.account
        if acct is None:
            continue
        wanted[(read.name, prefix)] = (scanner, acct, read.name, read.fact.region, prefix)
        for r in read.fact.replication if isinstance(read.fact.replication, list) else ():
            dest = by_name.get(r.get("bucket", ""))
            if dest is not None and dest.fact.region:
                dacct = s3svc._account_of(scanner, dest).target.account
                if dacct is not None:
                    wanted[(dest.name, prefix)] = (scanner, dacct, dest.name, dest.fact.region,
                                                   prefix)
    keys = list(wanted)
    found = scanner.map("newest objects", _bucket_unit, [wanted[k] for k in keys])
    scanner.shared[RPO] = dict(zip(keys, found, strict=True))


def _state_root(state: tuple[str, str, str] | None) -> str:
    prefix = state[1] if state else ""
    return f"{prefix.strip('/')}/.pulumi/stacks/" if prefix.strip("/") else ".pulumi/stacks/"


# ---- evaluation -------------------------------------------------------------------------------

def _point(kind: str, region: str, when: Any, now: dt.datetime, source: str,
           age: float | None = None) -> dict[str, Any]:
    return {"kind": kind, "region": region,
            "time": when.isoformat() if isinstance(when, dt.datetime) else None,
            "age_hours": age if age is not None else age_hours(when, now), "source": source}


def _aws_backup(arn: str, regions: dict[str, RegionPoints], now: dt.datetime,
                unread: list[str]) -> list[dict[str, Any]]:
    out = []
    for region, rp in sorted(regions.items()):
        if rp.aws_backup is UNKNOWN:
            unread.append(f"AWS Backup recovery points in {region}: {rp.errors['awsBackup']}")
            continue
        times = [t for t, _ in rp.aws_backup.get(arn, ()) if isinstance(t, dt.datetime)]
        if times:
            vault = next(v for t, v in rp.aws_backup[arn] if t == max(times))
            out.append(_point("AWS Backup recovery point", region, max(times), now,
                              f"vault {vault}"))
    return out


_ENGINES = (("docdb", "DocumentDB cluster"), ("neptune", "Neptune cluster"),
            ("aurora", "Aurora cluster"))


def _db_label(db: Any) -> str:
    if db.kind != "cluster":
        return "RDS DB instance"
    engine = str(db.engine or "")
    return next((label for key, label in _ENGINES if engine.startswith(key)), "RDS DB cluster")


def _db_fix(db: Any) -> Remediation:
    if db.kind == "cluster":
        return Remediation(
            f"Take a snapshot of {db.name} now and keep automated backups (or an AWS Backup "
            "plan) running more often than the target RPO.",
            f'aws.rds.Cluster("{db.name}", backup_retention_period=7, '
            'preferred_backup_window="03:00-04:00")',
            f"aws rds create-db-cluster-snapshot --db-cluster-identifier {db.name} "
            f"--db-cluster-snapshot-identifier {db.name}-now")
    return Remediation(
        f"Take a snapshot of {db.name} now and keep automated backups on (they allow "
        "point-in-time restore to the last five minutes).",
        f'aws.rds.Instance("{db.name}", backup_retention_period=7)',
        f"aws rds create-db-snapshot --db-instance-identifier {db.name} "
        f"--db-snapshot-identifier {db.name}-now")


def _databases(scanner: ScanContext, a: AccountScan, regions: dict[str, RegionPoints]) -> None:
    rds_regions = {r: rs.data["rds"] for r, rs in a.regions.items()
                   if rs.data.get("rds") is not None}
    for region, data in sorted(rds_regions.items()):
        for db in data.databases:
            if db.cluster_member or db.read_replica is True:
                continue
            unread: list[str] = []
            points = []
            latest = data.meta.get(db.ref, {}).get("latest_restorable")
            if latest:
                points.append(_point("point-in-time (automated backups)", region, latest,
                                     scanner.now, "LatestRestorableTime"))
            if data.snapshots is UNKNOWN:
                err = data.errors.get("snapshots") or data.errors.get("clusterSnapshots")
                unread.append(f"snapshots in {region}: {err}")
            else:
                mine = [s for s in data.snapshots if s.get("identifier") == db.name
                        and (s["kind"] == "cluster") == (db.kind == "cluster")]
                newest = max((s for s in mine if isinstance(s.get("time"), dt.datetime)),
                             key=lambda s: s["time"], default=None)
                if newest:
                    points.append(_point("snapshot", region, newest["time"], scanner.now,
                                         str(newest.get("arn") or "")))
            copies, unread_regions = cross_region(db, data.meta.get(db.ref, {}), rds_regions,
                                                  scanner.now)
            for c in copies:
                points.append({"kind": c["kind"], "region": c["region"], "time": None,
                               "age_hours": c.get("age_hours"), "source": c.get("arn") or ""})
            unread += [f"RDS recovery points in {r}" for r in unread_regions]
            points += _aws_backup(db.ref, regions, scanner.now, unread)
            _judge(scanner, db, _db_label(db), points, unread, _db_fix(db))


def _redshift(scanner: ScanContext, a: AccountScan, regions: dict[str, RegionPoints]) -> None:
    for region, rs in sorted(a.regions.items()):
        if "redshift" in rs.errors:
            err = rs.errors["redshift"]
            scanner.error(RPO, f"arn:aws:redshift:{region}:{a.id}:cluster:*",
                          f"Redshift clusters in {region}", a.id, region,
                          f"The Redshift clusters of {region} could not be listed: {err}.",
                          [err])
            continue
        for wh in rs.data.get("redshift") or ():
            name, arn = wh.name, wh.ref
            unread: list[str] = []
            points = []
            for r2, rp2 in sorted(regions.items()):
                if rp2.redshift_snaps is UNKNOWN:
                    unread.append(f"Redshift snapshots in {r2}: "
                                  f"{rp2.errors.get('redshiftSnapshots')}")
                    continue
                mine = [s for s in rp2.redshift_snaps if s.get("ClusterIdentifier") == name
                        and s.get("Status", "available") == "available"
                        and (r2 == region or s.get("SourceRegion") in (None, region))]
                times = [s["SnapshotCreateTime"] for s in mine
                         if isinstance(s.get("SnapshotCreateTime"), dt.datetime)]
                if times:
                    points.append(_point("snapshot" if r2 == region else "snapshot copy", r2,
                                         max(times), scanner.now, "DescribeClusterSnapshots"))
            points += _aws_backup(arn, regions, scanner.now, unread)
            fact = RecoveryPoints(ref=arn, name=name, type="AWS::Redshift::Cluster",
                                  account=a.id, region=region, tags=dict(wh.tags))
            fix = Remediation(
                f"Take a snapshot of {name} now and keep automated snapshots on (and copied "
                "to the DR region).",
                f'aws.redshift.Cluster("{name}", automated_snapshot_retention_period=7)',
                f"aws redshift create-cluster-snapshot --cluster-identifier {name} "
                f"--snapshot-identifier {name}-now")
            _judge(scanner, fact, "Redshift cluster", points, unread, fix)


def _tables(scanner: ScanContext, a: AccountScan, regions: dict[str, RegionPoints]) -> None:
    for region, rs in sorted(a.regions.items()):
        rp = regions.get(region)
        tables, _ = rs.data.get("dynamodb") or ([], {})
        for t in tables:
            unread: list[str] = []
            points = []
            pitr = rp.ddb_pitr.get(t.ref) if rp else None
            if pitr is UNKNOWN and rp is not None:
                unread.append(f"point-in-time recovery: {rp.errors.get(f'pitr:{t.ref}')}")
            elif pitr is not None:
                points.append(_point("point-in-time recovery", region, pitr, scanner.now,
                                     "LatestRestorableDateTime"))
            if rp is None or rp.ddb_backups is UNKNOWN:
                err = rp.errors.get("ddbBackups") if rp else "not read"
                unread.append(f"on-demand backups: {err}")
            elif rp.ddb_backups.get(t.ref):
                points.append(_point("on-demand backup", region, rp.ddb_backups[t.ref],
                                     scanner.now, "ListBackups"))
            points += _aws_backup(t.ref, regions, scanner.now, unread)
            fix = Remediation(
                f"Turn on point-in-time recovery for {t.name} (restores to the last five "
                "minutes) or back it up more often than the target.",
                f'aws.dynamodb.Table("{t.name}", point_in_time_recovery={{"enabled": True}})',
                f"aws dynamodb update-continuous-backups --table-name {t.name} "
                "--point-in-time-recovery-specification PointInTimeRecoveryEnabled=true")
            _judge(scanner, t, "DynamoDB table", points, unread, fix)


def _buckets(scanner: ScanContext, a: AccountScan, regions: dict[str, RegionPoints]) -> None:
    newest: dict[tuple[str, str], Newest] = scanner.shared.get(RPO, {})
    by_name = s3svc.bucket_index(scanner)
    state = s3svc.state_location(scanner)
    for name, read in sorted(a.data.get("buckets", {}).items()):
        b = read.fact
        why = s3svc.unjudged(scanner, read)
        if why is not None:
            scanner.error(RPO, b.ref, name, b.account, b.region, *why)
            continue
        if not b.scope_reasons or not s3svc.in_regions(scanner, read) or not read.detailed:
            continue
        is_state = bool(b.is_state_bucket)
        prefix = _state_root(state) if is_state else ""
        mine = newest.get((name, prefix))
        unread: list[str] = []
        points: list[dict[str, Any]] = []
        source_time = mine.time if mine else None
        if mine is None or mine.error is not None:
            unread.append(f"objects of {name}: {mine.error if mine else 'not read'}")
        elif mine.time is not None:
            if is_state:
                # The checkpoint is the state: this copy misses no change.
                age = 0.0 if b.versioning == "Enabled" else None
                if b.versioning is UNKNOWN:  # whether it keeps its versions is unknown
                    unread.append(f"versioning of {name}: "
                                  f"{read.errors.get('versioning') or read.errors.get('details')}")
                if age is not None:
                    points.append(_point("checkpoint version", b.region or "", mine.time,
                                         scanner.now, f"s3://{name}/{prefix}", age))
            else:
                points.append(_point("newest object", b.region or "", mine.time, scanner.now,
                                     f"s3://{name}"))
            if not mine.complete:  # a fresh object proves the RPO; an old one proves nothing
                unread.append(f"objects of {name} beyond the first {MAX_KEYS}")
        for r in b.replication if isinstance(b.replication, list) else ():
            dest = by_name.get(r.get("bucket", ""))
            got = newest.get((r.get("bucket", ""), prefix))
            if dest is None or got is None or dest.fact.region == b.region:
                continue
            if got.error is not None:
                unread.append(f"objects of replica {dest.name}: {got.error}")
            elif got.time is not None:
                lag = None
                if is_state and isinstance(source_time, dt.datetime):
                    lag = round(max(0.0, (source_time - got.time).total_seconds() / 3600), 1)
                points.append(_point("replica" if not is_state else "replicated checkpoint",
                                     dest.fact.region or "", got.time, scanner.now,
                                     f"s3://{dest.name}", lag))
        points += _aws_backup(b.ref, regions, scanner.now, unread)
        label = "Pulumi state backend" if is_state else "backup bucket"
        fact = RecoveryPoints(ref=b.ref, name=name, type="AWS::S3::Bucket", account=b.account,
                              region=b.region, tags=b.tags)
        fix = Remediation(
            f"The backups written to {name} stopped: check the job that writes them."
            if not is_state else f"Turn on versioning of {name} and replicate it to another "
            "region so every checkpoint has a copy.",
            "# no resource property: the job that writes the backups has not run within the "
            "target" if not is_state else
            f'aws.s3.BucketVersioning("{name}-versioning", bucket="{name}", '
            'versioning_configuration={"status": "Enabled"})',
            None if not is_state else
            f"aws s3api put-bucket-versioning --bucket {name} --versioning-configuration "
            "Status=Enabled")
        _judge(scanner, fact, label, points, unread, fix)


def _judge(scanner: ScanContext, fact: Any, label: str, points: list[dict[str, Any]],
           unread: list[str], fix: Remediation) -> None:
    r = fact if isinstance(fact, RecoveryPoints) else RecoveryPoints(
        ref=fact.ref, name=fact.name, type=fact.type, account=fact.account,
        region=fact.region, tags=dict(fact.tags))
    r.label, r.points, r.unread, r.fix = label, points, unread, fix
    r.evidence = {"kind": label}
    params = apps_mod.with_tier(scanner.settings.of(RPO), "targetRpoHours", r.tags,
                                scanner.settings.apps)
    scanner.add(RPO, r, ctl.rpo(r, params))


def _evaluate(scanner: ScanContext, a: AccountScan) -> None:
    regions: dict[str, RegionPoints] = {r: rs.data[RPO] for r, rs in a.regions.items()
                                        if isinstance(rs.data.get(RPO), RegionPoints)}
    _databases(scanner, a, regions)
    _redshift(scanner, a, regions)
    _tables(scanner, a, regions)
    _buckets(scanner, a, regions)


SERVICE = LiveService(
    calls=("backup:ListRecoveryPointsByBackupVault", "dynamodb:DescribeContinuousBackups",
           "dynamodb:ListBackups", "redshift:DescribeClusterSnapshots", "s3:ListObjectsV2"),
    phase=Phase(40, _phase),  # after bucket discovery and backup scope (s3, order 20)
    live=(Live((RPO,), _evaluate, reads=(*s3svc.BUCKET_READS, *RECOVERABLE_READS)),),
)
