"""RDS at deploy time: DB instances and clusters (pulumi-aws, aws-native; Aurora, DocumentDB and
Neptune clusters included), automated-backup replications to other regions, and the bindings
of the RDS controls.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from drguard.controls import rds as ctl
from drguard.controls.rds import Database
from drguard.facts import UNKNOWN
from drguard.scope import Scope

from ..adapters import Res, base
from ..binding import Judged, ResourceCheck, StackCheck, unlinked_guard
from ..fixers import (
    Fixer,
    Skip,
    Target,
    identifier,
    snapshot_identifier,
    true,
    untouchable,
)
from ..service import DeployService, Link
from ..wire import boolean, num

if TYPE_CHECKING:
    from ..stack import StackModel


DATABASE_TYPES = frozenset({"aws:rds/instance:Instance", "aws:rds/cluster:Cluster",
                            "aws:rds/clusterInstance:ClusterInstance",
                            "aws-native:rds:DbInstance", "aws-native:rds:DbCluster",
                            # DocumentDB and Neptune: clusters served by the RDS API
                            "aws:docdb/cluster:Cluster", "aws:neptune/cluster:Cluster",
                            "aws:docdb/clusterInstance:ClusterInstance",
                            "aws:neptune/clusterInstance:ClusterInstance",
                            "aws-native:neptune:DbCluster"})
# type -> the engine a cluster of that type runs (pulumi-aws and aws-native defaults)
_FAMILY_ENGINE = {"aws:docdb/cluster:Cluster": "docdb", "aws:neptune/cluster:Cluster": "neptune",
                  "aws-native:neptune:DbCluster": "neptune"}


RDS_BACKUP_REPLICATION_TYPES = frozenset({
    "aws:rds/instanceAutomatedBackupsReplication:InstanceAutomatedBackupsReplication"})


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
            **base(r, ident),
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
    if t in ("aws:docdb/cluster:Cluster", "aws:neptune/cluster:Cluster"):
        # No deleteAutomatedBackups: the cluster's automated backups go with it; the final
        # snapshot (skipFinalSnapshot, default false, + finalSnapshotIdentifier) is what is left.
        skip = boolean(r.get("skipFinalSnapshot"))
        db = Database(
            **base(r, r.get("clusterIdentifier")),
            kind="cluster",
            engine=_family_engine(r),
            backup_retention=num(r.get("backupRetentionPeriod")),
            deletion_protection=boolean(r.get("deletionProtection")),
            skip_final_snapshot=False if skip is None else skip,
            final_snapshot_identifier=r.get("finalSnapshotIdentifier"),
            read_replica=_present(r.get("replicationSourceIdentifier"))
            if t.startswith("aws:neptune") else False,
            props={"final_snapshot_identifier": "finalSnapshotIdentifier"},
        )
        db.evidence["defaulted"] = ["skip_final_snapshot"] if skip is None else []
        return db
    if t == "aws-native:neptune:DbCluster":  # aws-native has no DocumentDB cluster
        return Database(
            **base(r, r.get("dbClusterIdentifier")),
            kind="cluster",
            engine=_family_engine(r),
            backup_retention=num(r.get("backupRetentionPeriod")),
            deletion_protection=boolean(r.get("deletionProtection")),
            final_snapshot_applies=False,
        )
    if t in ("aws:docdb/clusterInstance:ClusterInstance",
             "aws:neptune/clusterInstance:ClusterInstance"):
        return Database(**base(r, r.get("identifier")), kind="instance", cluster_member=True)
    if t == "aws:rds/clusterInstance:ClusterInstance":
        return Database(**base(r, r.get("identifier")), kind="instance", cluster_member=True)
    if t == "aws-native:rds:DbInstance":
        member = r.get("dbClusterIdentifier")
        defaulted = []
        db = Database(
            **base(r, r.get("dbInstanceIdentifier")),
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
            **base(r, r.get("dbClusterIdentifier")),
            kind="cluster",
            engine=r.get("engine"),
            backup_retention=num(r.get("backupRetentionPeriod")),
            deletion_protection=boolean(r.get("deletionProtection")),
            read_replica=_present(r.get("replicationSourceIdentifier")),
            final_snapshot_applies=False,
        )
    return None


def _family_engine(r: Res) -> Any:
    engine = r.get("engine")
    return engine if isinstance(engine, str) and engine else _FAMILY_ENGINE[r.type]


def _present(v: Any) -> Any:
    if v is UNKNOWN:
        return UNKNOWN
    return v is not None and v != ""


def native_backup_replication(r: Res) -> Any:
    """aws-native DbInstance automaticBackupReplicationRegion (None when unset)."""
    if r.type != "aws-native:rds:DbInstance":
        return None
    return r.get("automaticBackupReplicationRegion")


def _link(m: StackModel, linked: dict[str, list[Res]], _scope: Scope) -> None:
    """Automated-backup replications (and aws-native's replication region) to databases."""
    by_key: dict[str, Database] = {}
    for db in m.databases:
        by_key[db.name] = db
        arn = m.arn_of(db)
        if isinstance(arn, str):
            by_key[arn] = db
    for r in linked.get("rds-backup-replication", ()):
        deps = m.deps(r, "sourceDbInstanceArn", Database)
        db = deps[0] if deps else None
        arn = r.get("sourceDbInstanceArn")
        if db is None and isinstance(arn, str):
            db = by_key.get(arn) or by_key.get(arn.rsplit(":", 1)[-1])
        if db is None:
            m.unlinked_if_unknown(r, "rds-backup-replication", "sourceDbInstanceArn")
            continue
        db.cross_region.append({"kind": "automated-backup-replication",
                                "region": r.region, "via": r.urn})
    for db in m.databases:
        region = native_backup_replication(m.res_of[id(db)])
        if region is not None:
            db.cross_region.append({"kind": "automated-backup-replication",
                                    "region": region,
                                    "via": "automaticBackupReplicationRegion"})


def _arn(m: StackModel, db: Database, r: Res | None, region: str, acct: str) -> str:
    return f"arn:aws:rds:{region}:{acct}:{'cluster' if db.kind == 'cluster' else 'db'}:{db.name}"


def _selected(db: Database, plan: Any) -> None:
    """An AWS Backup plan covers the database: its copy actions are recovery points in the
    regions they write to."""
    for region in plan.copy_regions:
        point = {"kind": "backup-copy", "region": region, "via": plan.res.urn}
        if region is None:
            point["note"] = (f"backup plan {plan.name} is not in this stack; its "
                             "copy actions cannot be checked here")
        db.cross_region.append(point)


def _cross_region(model: StackModel, params: dict) -> Iterable[Judged]:
    for db in model.databases:
        yield db, unlinked_guard(model, ("rds-backup-replication", "backup-selection"),
                                 ctl.cross_region_backup(db, params))


# ---- remediation (fixes built from policypack/fixers.py, served by policypack/remediate.py)


RDS_INSTANCE = "aws:rds/instance:Instance"
RDS_CLUSTER = "aws:rds/cluster:Cluster"
DOCDB_CLUSTER = "aws:docdb/cluster:Cluster"
NEPTUNE_CLUSTER = "aws:neptune/cluster:Cluster"
NATIVE_INSTANCE = "aws-native:rds:DbInstance"
NATIVE_CLUSTER = "aws-native:rds:DbCluster"

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


def _database_scope(t: Target, params: Mapping[str, Any], retention: bool = False) -> None:
    """Raise Skip when the control does not apply (cluster members, replicas for
    retention) or cannot be decided (an unknown/secret membership or replica source)."""
    if t.type == NATIVE_INSTANCE:
        member = t.value("dbClusterIdentifier")
        if untouchable(member):
            raise Skip
        if member:
            raise Skip  # judged on its cluster
    if retention and not params.get("checkReadReplicas", False):
        prop = _DATABASES[t.type][4]
        source = t.value(prop) if prop else None
        if untouchable(source):
            raise Skip
        if source:
            raise Skip  # read replicas are exempt


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
            if true(skip):
                t.set("skipFinalSnapshot", False, "a delete leaves a final snapshot")
            if not (isinstance(ident, str) and ident):
                t.set("finalSnapshotIdentifier",
                      snapshot_identifier(identifier(t, ident_prop)),
                      "the final snapshot needs a name")
    if has_auto:
        t.make_false("deleteAutomatedBackups", "automated backups outlive the database")
    if has_copy:
        t.make_true("copyTagsToSnapshot", "snapshots keep the database's tags")


SERVICE = DeployService(
    facts={t: ("databases", database) for t in DATABASE_TYPES},
    linked={t: "rds-backup-replication" for t in RDS_BACKUP_REPLICATION_TYPES},
    link=Link(20, _link),
    arns={Database: _arn},
    backup_selected={Database: _selected},
    stateful=("databases",),
    checks=(
        ResourceCheck("rds-backup-retention", DATABASE_TYPES, database, ctl.backup_retention),
        ResourceCheck("rds-deletion-protection", DATABASE_TYPES, database,
                      lambda db, _p: ctl.deletion_protection(db)),
        ResourceCheck("rds-final-snapshot", DATABASE_TYPES, database,
                      lambda db, _p: ctl.final_snapshot(db)),
        StackCheck("rds-cross-region-backup", _cross_region),
    ),
    remediations=(
        Fixer("rds-backup-retention", frozenset(_DATABASES), fix_backup_retention),
        Fixer("rds-deletion-protection", frozenset(_DATABASES), fix_deletion_protection),
        Fixer("rds-final-snapshot", frozenset(t for t, d in _DATABASES.items() if d[1] or d[2]),
              fix_final_snapshot),
    ),
    cannot_remediate={
        "rds-cross-region-backup": "a copy in another region needs a resource in that region; a "
                                   "remediation cannot add resources.",
    },
)
