"""RDS databases (instances, Aurora/Multi-AZ clusters, DocumentDB and Neptune clusters, all
served by the RDS API): facts, controls, rules, log detections."""

from __future__ import annotations

import json
import shlex
from dataclasses import field
from typing import Any, Literal

from .. import typed
from ..control import DESTROYABLE, SINGLE_REGION, ConfigMapping, Control, days, flag, hours
from ..detections import (
    RDS,
    Context,
    Params,
    Record,
    is_false,
    is_true,
    on,
    rds_database,
    rds_recovery_point,
    to_int,
)
from ..facts import UNKNOWN, OnDelete, Resource, final_snapshot_on_delete, unknown_or_off
from ..records import record
from ..verdict import Remediation, Verdict, plural_days, show
from .s3 import DR_REGION


@record
class Database(Resource):
    """An RDS DB instance, or an Aurora/Multi-AZ, DocumentDB or Neptune DB cluster."""

    kind: Literal["instance", "cluster"] = "instance"
    engine: Any = None
    backup_retention: Any = None  # days; None = unset (AWS default 1)
    deletion_protection: Any = None  # None = unset (false)
    skip_final_snapshot: Any = None  # effective value, provider default resolved
    final_snapshot_identifier: Any = None
    delete_automated_backups: Any = None  # effective value, provider default resolved
    read_replica: Any = False
    cluster_member: bool = False  # an instance that belongs to a cluster: judged on the cluster
    final_snapshot_applies: bool = True  # False where the resource kind has no such setting
    # Tier 2: recovery points in other regions; list of dicts
    # {"kind": "automated-backup-replication"|"backup-copy"|"snapshot", "region", "age_hours"}
    cross_region: list[dict[str, Any]] = field(default_factory=list)

    def stateful(self) -> bool:
        return not self.cluster_member  # a cluster member is judged on its cluster

    def on_delete(self, replace: bool) -> OnDelete:
        """Deletion protection refuses the delete; a named final snapshot and kept automated
        backups outlive it."""
        d = OnDelete(_noun(self), evidence={
            "deletionProtection": self.deletion_protection,
            "skipFinalSnapshot": self.skip_final_snapshot,
            "finalSnapshotIdentifier": self.final_snapshot_identifier,
            "deleteAutomatedBackups": self.delete_automated_backups})
        if self.deletion_protection is True:
            d.saves.append("deletion protection is on: AWS refuses the delete, so the update "
                           "fails at that step" + (" (after the replacement was created)"
                                                   if replace else ""))
        else:
            d.lost.append(unknown_or_off(self.deletion_protection, "deletion protection"))
        if self.final_snapshot_applies:
            final_snapshot_on_delete(d, self.skip_final_snapshot,
                                     self.final_snapshot_identifier, replace)
        if self.delete_automated_backups is False:
            d.saves.append("automated backups are kept (deleteAutomatedBackups false): "
                           "point-in-time restore stays possible within the retention window")
            d.kept.append("its automated backups")
        elif self.delete_automated_backups is True:
            d.lost.append("its automated backups are deleted with it")
        return d



# ---- remediation: the fix for one database ------------------------------------------------

# Engines whose clusters have their own Pulumi module and CLI (the RDS API serves them all).
_FAMILY = {"docdb": ("aws.docdb.Cluster", "docdb", "DocumentDB cluster"),
           "neptune": ("aws.neptune.Cluster", "neptune", "Neptune cluster")}


def _db(db: Database) -> tuple[str, str, str, str]:
    """(Pulumi class, logical name, AWS CLI modify command, CLI identifier flag + name)."""
    name = db.name if isinstance(db.name, str) else "my-db"
    if db.kind == "cluster":
        cls, cli, _ = _FAMILY.get(str(db.engine), ("aws.rds.Cluster", "rds", ""))
        return (cls, name, f"aws {cli} modify-db-cluster",
                f"--db-cluster-identifier {shlex.quote(name)}")
    return ("aws.rds.Instance", name, "aws rds modify-db-instance",
            f"--db-instance-identifier {shlex.quote(name)}")


def fix_retention(db: Database, minimum: int) -> Remediation:
    cls, name, modify, ident = _db(db)
    days = min(max(minimum, 1), 35)
    return Remediation(
        f"Keep automated backups of {name} for {plural_days(days)} (backup_retention_period; AWS "
        "allows up to 35).",
        f"{cls}({json.dumps(name)}, ...,\n    backup_retention_period={days})",
        f"{modify} {ident} --backup-retention-period {days} --apply-immediately")


def fix_deletion_protection(db: Database) -> Remediation:
    cls, name, modify, ident = _db(db)
    return Remediation(
        f"Turn deletion protection on for {name}, so one API call cannot delete it.",
        f"{cls}({json.dumps(name)}, ...,\n    deletion_protection=True)",
        f"{modify} {ident} --deletion-protection --apply-immediately")


def fix_final_snapshot(db: Database) -> Remediation:
    cls, name, _noun, _ident = _db(db)
    args = ["skip_final_snapshot=False", f"final_snapshot_identifier=\"{name}-final\""]
    if db.kind != "cluster":
        args.append("delete_automated_backups=False")
    return Remediation(
        f"Make deleting {name} take a final snapshot and keep its automated backups.",
        f"{cls}({json.dumps(name)}, ...,\n    " + ", ".join(args) + ")",
        None)  # delete-time settings: there is no live call that changes them


def fix_cross_region(db: Database) -> Remediation:
    cls, name, _noun, _ident = _db(db)
    here = db.region if isinstance(db.region, str) else None
    there = DR_REGION.get(here or "", "us-west-2" if here != "us-west-2" else "us-east-1")
    if db.kind == "cluster":
        return Remediation(
            f"Copy the recovery points of cluster {name} to {there}: an AWS Backup plan rule "
            "with a copy action to a vault in that region.",
            f"dr_vault = aws.backup.Vault(\"{name}-dr\", opts=pulumi.ResourceOptions("
            f"provider=aws.Provider(\"dr\", region=\"{there}\")))\n"
            f"aws.backup.Plan(\"{name}-dr-copy\", rules=[{{\"rule_name\": \"daily\",\n"
            "    \"target_vault_name\": vault.name, \"schedule\": \"cron(0 3 * * ? *)\",\n"
            "    \"copy_actions\": [{\"destination_vault_arn\": dr_vault.arn}]}])\n"
            "# + an aws.backup.Selection of the cluster's ARN",
            None)
    arn = db.ref if str(db.ref).startswith("arn:") else None  # known once it exists
    return Remediation(
        f"Replicate the automated backups of {name} to {there}, so a regional outage leaves "
        "a copy to restore.",
        f"aws.rds.InstanceAutomatedBackupsReplication(\"{name}-{there}\",\n"
        f"    source_db_instance_arn={json.dumps(arn) if arn else 'db.arn'}, retention_period=7,\n"
        f"    opts=pulumi.ResourceOptions(provider=aws.Provider(\"dr\", region=\"{there}\")))",
        f"aws rds start-db-instance-automated-backups-replication --region {there} "
        f"--source-db-instance-arn {shlex.quote(arn)} --backup-retention-period 7"
        if arn else None)


# ---- rules --------------------------------------------------------------------------------

AWS_DEFAULT_RETENTION = 1


def _noun(db: Database) -> str:
    if db.kind == "cluster":
        return _FAMILY.get(str(db.engine), ("", "", "DB cluster"))[2]
    return "DB instance"


def _label(db: Database) -> str:
    return f"{_noun(db)} {db.name!r}"


def backup_retention(db: Database, params: dict[str, Any]) -> Verdict | None:
    if db.cluster_member:
        return None
    if db.read_replica is UNKNOWN and not params["checkReadReplicas"]:
        return Verdict.unknown(f"Whether {_label(db)} is a read replica")
    if db.read_replica and not params["checkReadReplicas"]:
        return None
    minimum = params["minRetentionDays"]
    prop = db.prop("backup_retention", "backupRetentionPeriod")
    value = db.backup_retention
    if value is UNKNOWN:
        return Verdict.unknown(f"{prop} of {_label(db)}", backupRetentionPeriod="unknown",
                               minRetentionDays=minimum)
    bad = typed.wrong(db, prop, value, "int")
    if bad is not None:
        return bad
    effective = AWS_DEFAULT_RETENTION if value is None else int(value)
    evidence = {"backupRetentionPeriod": value, "effectiveDays": effective,
                "minRetentionDays": minimum}
    if effective >= minimum:
        return Verdict("pass", f"{_label(db)} keeps automated backups for "
                               f"{plural_days(effective)}.", evidence)
    why = (f"{prop} is unset, so AWS keeps backups for {AWS_DEFAULT_RETENTION} day"
           if value is None else f"{prop} is {effective} day{'s' if effective != 1 else ''}")
    if effective == 0:
        why += " (automated backups are disabled)"
    return Verdict("fail", f"{_label(db)} keeps automated backups for too short a time: {why}, "
                           f"below the minimum of {minimum}.", evidence,
                   fix_retention(db, minimum))


def deletion_protection(db: Database) -> Verdict | None:
    if db.cluster_member:
        return None
    prop = db.prop("deletion_protection", "deletionProtection")
    value = db.deletion_protection
    if value is UNKNOWN:
        return Verdict.unknown(f"{prop} of {_label(db)}")
    evidence = {"deletionProtection": value}
    if value is True:
        return Verdict("pass", f"{_label(db)} has deletion protection.", evidence)
    return Verdict("fail", f"{_label(db)} can be deleted by a single API call: {prop} is "
                           f"{show(value)}.", evidence, fix_deletion_protection(db))


def final_snapshot(db: Database) -> Verdict | None:
    if db.cluster_member or not db.final_snapshot_applies:
        return None
    skip_p = db.prop("skip_final_snapshot", "skipFinalSnapshot")
    ident_p = db.prop("final_snapshot_identifier", "finalSnapshotIdentifier")
    auto_p = db.prop("delete_automated_backups", "deleteAutomatedBackups")
    values = (db.skip_final_snapshot, db.final_snapshot_identifier, db.delete_automated_backups)
    evidence = {"skipFinalSnapshot": db.skip_final_snapshot,
                "finalSnapshotIdentifier": db.final_snapshot_identifier,
                "deleteAutomatedBackups": db.delete_automated_backups}
    problems: list[str] = []
    if db.skip_final_snapshot is True:
        problems.append(f"{skip_p} is true, so deleting it takes no final snapshot")
    elif db.skip_final_snapshot is False and db.final_snapshot_identifier is None \
            and "final_snapshot_identifier" in db.props:
        problems.append(f"{ident_p} is unset, so a delete cannot take the final snapshot")
    if db.delete_automated_backups is True:
        how = ("unset, and the provider default is true"
               if "delete_automated_backups" in db.evidence.get("defaulted", ()) else "true")
        problems.append(f"{auto_p} is {how}, so deleting it also deletes its automated "
                        "backups")
    if problems:
        return Verdict("fail", f"Deleting {_label(db)} would lose recovery data: "
                               + "; ".join(problems) + ".", evidence, fix_final_snapshot(db))
    if any(v is UNKNOWN for v in values):
        return Verdict.unknown(f"The final-snapshot settings of {_label(db)}")
    return Verdict("pass", f"Deleting {_label(db)} leaves a final snapshot and keeps its "
                           "automated backups.", evidence)


def cross_region_backup(db: Database, params: dict[str, Any]) -> Verdict | None:
    if db.cluster_member or db.read_replica is True:
        return None
    max_age = params["maxSnapshotAgeHours"]
    # Deploy side: a copy whose region is not known during preview (UNKNOWN) decides nothing
    # yet; it only turns a failure into "unknown".
    pending = [p for p in db.cross_region if p.get("region") is UNKNOWN]
    if not isinstance(db.region, str) or not db.region:
        # The database's own region is not known (its provider takes it from the environment):
        # whether a copy is in *another* region cannot be decided. Without any copy there is
        # nothing outside its region, whatever that region is.
        if pending or [p for p in db.cross_region if p.get("region")]:
            return Verdict.unknown(
                f"Whether the copies of {_label(db)} are in another region (region unknown at "
                "preview: its provider takes the region from the environment)",
                recoveryPoints=db.cross_region, maxSnapshotAgeHours=max_age)
    points = [p for p in db.cross_region if p.get("region") is not UNKNOWN
              and p.get("region") and p.get("region") != db.region]
    evidence: dict[str, Any] = {"recoveryPoints": points, "maxSnapshotAgeHours": max_age}
    continuous = [p for p in points if p["kind"] != "snapshot"]
    if continuous:
        p = continuous[0]
        age = p.get("age_hours")
        if age is not None:
            evidence["achievedRpoHours"] = age
        return Verdict("pass", f"{_label(db)} has recovery points in {p['region']} "
                               f"({p['kind']}).", evidence)
    snaps = [p for p in points if p["kind"] == "snapshot" and p.get("age_hours") is not None]
    if snaps:
        newest = min(snaps, key=lambda p: p["age_hours"])
        evidence["achievedRpoHours"] = round(newest["age_hours"], 1)
        if newest["age_hours"] <= max_age:
            return Verdict("pass", f"{_label(db)} has a snapshot in {newest['region']} "
                                   f"{newest['age_hours']:.1f} h old.", evidence)
        return Verdict("fail", f"{_label(db)}: the newest copy in another region "
                               f"({newest['region']}) is {newest['age_hours']:.1f} h old, older "
                               f"than {max_age} h.", evidence, fix_cross_region(db))
    if pending:
        return Verdict.unknown(f"The region of the backup copies of {_label(db)} (region "
                               "unknown at preview)", **evidence)
    where = db.region or "its region"
    return Verdict("fail", f"{_label(db)} has no recovery point outside {where}.", evidence,
                   fix_cross_region(db))


# ---- logs side: predicates on CloudTrail records ------------------------------------------


def retention_below_minimum(rp: Record, record: Record, params: Params, ctx: Context) -> bool:
    days = to_int(rp.get("backupRetentionPeriod"))
    return days is not None and days < params["minRetentionDays"]


def deletion_protection_off(rp: Record, record: Record, params: Params, ctx: Context) -> bool:
    return is_false(rp.get("deletionProtection"))


def skips_final_snapshot(rp: Record, record: Record, params: Params, ctx: Context) -> bool:
    """skipFinalSnapshot true, or deleteAutomatedBackups true or unset (AWS default true)."""
    return is_true(rp.get("skipFinalSnapshot")) or not is_false(rp.get("deleteAutomatedBackups"))


CONTROLS: tuple[Control, ...] = (
    Control(
        id="rds-backup-retention",
        gap=(
            "Backups kept {effectiveDays|day}; needs {minRetentionDays}",
            "Backups kept {backupRetentionPeriod|day}; needs {minRetentionDays}",
            "Backups not kept long enough",
        ),
        why=("Automated backups are the point-in-time restore window: one day means yesterday's "
            "mistake found today cannot be undone."),
        console=(
            "RDS console: Databases, select the instance or cluster, Modify.",
            "Under Backup, set Backup retention period to at least minRetentionDays days (35 at "
            "most).",
            "Continue, Apply immediately, Modify.",
        ),
        title="RDS automated backups are kept long enough",
        severity="high",
        exposure=DESTROYABLE,
        tier=1,
        description="RDS instances and clusters (Aurora, DocumentDB, Neptune) keep automated "
                    "backups for at least minRetentionDays days (AWS maximum 35).",
        remediation="Set backupRetentionPeriod to at least minRetentionDays (max 35) on the "
                    "DB instance or Aurora cluster.",
        params=(
            days("minRetentionDays", 7, "Minimum automated backup retention, in days.",
                  maximum=35),
            flag("checkReadReplicas", False,
                  "Also require retention on read replicas (replicateSourceDb set)."),
        ),
        mapping=ConfigMapping(("DB_INSTANCE_BACKUP_ENABLED",), ("RDS.11",)),
        detections=(
            on(RDS, "ModifyDBInstance", "ModifyDBCluster", when=retention_below_minimum,
               resource=rds_database,
               message="{principal} set backupRetentionPeriod of {name} to "
                       "{rp[backupRetentionPeriod]} ({event}), below minRetentionDays "
                       "({params[minRetentionDays]}): older restore points are dropped."),
        ),
    ),
    Control(
        id="rds-deletion-protection",
        gap=("Deletion protection off",),
        why="Without deletion protection one API call (or a replacement) deletes the database.",
        console=(
            "RDS console: Databases, select the instance or cluster, Modify.",
            "Tick Enable deletion protection.",
            "Continue, Apply immediately, Modify.",
        ),
        title="RDS deletion protection is on",
        severity="high",
        exposure=DESTROYABLE,
        tier=1,
        description="Every RDS instance and Aurora, DocumentDB or Neptune cluster has deletion "
                    "protection enabled.",
        remediation="Set deletionProtection to true on the DB instance or Aurora cluster.",
        mapping=ConfigMapping(("RDS_INSTANCE_DELETION_PROTECTION_ENABLED",), ("RDS.7", "RDS.8")),
        detections=(
            on(RDS, "ModifyDBInstance", "ModifyDBCluster", when=deletion_protection_off,
               resource=rds_database,
               message="{principal} turned deletionProtection off on {name} ({event}): the "
                       "database can now be deleted by one API call."),
            on(RDS, "DeleteDBInstance", "DeleteDBCluster", resource=rds_database,
               message="{principal} deleted the database {name} ({event})."),
        ),
    ),
    Control(
        id="rds-final-snapshot",
        gap=("Deleting it leaves no final snapshot",),
        why=("A delete that skips the final snapshot, or deletes the automated backups, leaves "
            "nothing to restore."),
        console=(
            "In the program: set skipFinalSnapshot false with a finalSnapshotIdentifier, and "
            "deleteAutomatedBackups false.",
            "In the RDS console these are chosen at delete time: tick Create final snapshot and "
            "Retain automated backups.",
        ),
        title="Deleting a database leaves a final snapshot",
        severity="high",
        exposure=DESTROYABLE,
        tier=1,
        description="Deleting an RDS instance or cluster takes a final snapshot and keeps its "
                    "automated backups.",
        remediation="Set skipFinalSnapshot to false with a finalSnapshotIdentifier, and leave "
                    "deleteAutomatedBackups false.",
        sources=frozenset({"deploy", "state", "logs"}),
        detections=(
            on(RDS, "DeleteDBInstance", "DeleteDBCluster", when=skips_final_snapshot,
               resource=rds_database,
               message="{principal} deleted {name} ({event}) with skipFinalSnapshot="
                       "{rp[skipFinalSnapshot]} and deleteAutomatedBackups="
                       "{rp[deleteAutomatedBackups]} (unset: AWS default true): no final "
                       "snapshot, or its automated backups deleted with it."),
            on(RDS, "DeleteDBSnapshot", "DeleteDBClusterSnapshot",
               "DeleteDBInstanceAutomatedBackup", "DeleteDBClusterAutomatedBackup",
               resource=rds_recovery_point,
               message="{principal} deleted the database recovery point {name} ({event})."),
        ),
    ),
    Control(
        id="rds-cross-region-backup",
        gap=(
            "Newest copy in another region {achievedRpoHours} h old; max {maxSnapshotAgeHours}",
            "No recovery point in a second region",
        ),
        why=("A regional outage takes every recovery point that lives in the database's own "
            "region."),
        console=(
            "RDS console: Automated backups, Current Region, select the DB instance, Actions, "
            "Manage cross-Region replication.",
            "Enable replication to the DR region with a retention period, Save (for clusters: an "
            "AWS Backup plan rule with a copy to a vault in another region).",
        ),
        cannot_remediate=("a copy in another region needs a resource in that region; a "
                          "remediation cannot add resources."),
        title="Databases have recovery points in a second region",
        severity="high",
        exposure=SINGLE_REGION,
        tier=2,
        description="Each DB has recovery points in another region: automated backup "
                    "replication, an AWS Backup copy action, or recent snapshots there.",
        remediation="Add an aws.rds.InstanceAutomatedBackupsReplication in the DR region, or "
                    "an AWS Backup plan rule with a copyAction to a vault in another region.",
        sources=frozenset({"deploy", "state", "live"}),
        params=(
            hours("maxSnapshotAgeHours", 26,
                  "Newest cross-region snapshot must be younger than this (achieved RPO)."),
        ),
    ),
)
