"""RDS rules: retention, deletion protection, final snapshot, cross-region recovery points."""

from __future__ import annotations

from typing import Any

from ..facts import UNKNOWN, Database
from . import Verdict, show

AWS_DEFAULT_RETENTION = 1


def _label(db: Database) -> str:
    kind = "DB cluster" if db.kind == "cluster" else "DB instance"
    return f"{kind} {db.name!r}"


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
    effective = AWS_DEFAULT_RETENTION if value is None else int(value)
    evidence = {"backupRetentionPeriod": value, "effectiveDays": effective,
                "minRetentionDays": minimum}
    if effective >= minimum:
        return Verdict("pass", f"{_label(db)} keeps automated backups for {effective} days.",
                       evidence)
    why = (f"{prop} is unset, so AWS keeps backups for {AWS_DEFAULT_RETENTION} day"
           if value is None else f"{prop} is {effective} day{'s' if effective != 1 else ''}")
    if effective == 0:
        why += " (automated backups are disabled)"
    return Verdict("fail", f"{_label(db)} keeps automated backups for too short a time: {why}, "
                           f"below the minimum of {minimum}. Fix: set {prop} to at least "
                           f"{minimum} (AWS allows up to 35).", evidence)


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
                           f"{show(value)}. Fix: set {prop} to true.", evidence)


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
        problems.append(f"{skip_p} is true, so deleting it takes no final snapshot "
                        f"(fix: set {skip_p} to false)")
    elif db.skip_final_snapshot is False and db.final_snapshot_identifier is None \
            and "final_snapshot_identifier" in db.props:
        problems.append(f"{ident_p} is unset, so a delete cannot take the final snapshot "
                        f"(fix: set {ident_p})")
    if db.delete_automated_backups is True:
        how = ("unset, and the provider default is true"
               if "delete_automated_backups" in db.evidence.get("defaulted", ()) else "true")
        problems.append(f"{auto_p} is {how}, so deleting it also deletes its automated "
                        f"backups (fix: set {auto_p} to false)")
    if problems:
        return Verdict("fail", f"Deleting {_label(db)} would lose recovery data: "
                               + "; ".join(problems) + ".", evidence)
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
                               f"than {max_age} h. Fix: add an "
                               "aws.rds.InstanceAutomatedBackupsReplication or an AWS Backup "
                               "copy action.", evidence)
    if pending:
        return Verdict.unknown(f"The region of the backup copies of {_label(db)}",
                               **evidence)
    where = db.region or "its region"
    return Verdict("fail", f"{_label(db)} has no recovery point outside {where}. "
                           "Fix: add an aws.rds.InstanceAutomatedBackupsReplication in the DR "
                           "region, or an AWS Backup plan rule with a copyAction to a vault in "
                           "another region.", evidence)
