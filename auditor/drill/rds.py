"""`dr-audit drill rds`: restore a database into a scratch instance, verify it, time it, delete it.

Source of the restore:
- `--from snapshot` (default): the newest available snapshot of the instance. When the target
  region differs from the instance's, a copy of the instance's snapshot already in the target
  region is used (that is the cross-region DR copy being tested); without one, the newest
  snapshot is copied there first, as a scratch snapshot, and the copy is part of the RTO.
- `--from pitr`: the latest restorable time of the instance (same region), or of its
  replicated automated backups in the target region.

The original need not exist any more (that is the disaster being rehearsed): its snapshots
are found by identifier. The achieved RTO is the time from the first restore call until the
scratch instance is `available`. Verification compares engine, engine version, storage (size,
type, encryption) with the snapshot (or the original for PITR). `--check-sql QUERY` runs the
query with `psql`/`mysql` when the endpoint is reachable from here, the client is installed
and DRGUARD_DRILL_DB_PASSWORD holds the password; otherwise the step is `skipped` with the
reason (a network-isolated database is the normal case). Only the number of rows is kept.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import subprocess
from typing import Any

from botocore.exceptions import ClientError

from drguard.records import record

from ..aws import paginate
from .guard import TAG_KEY, scratch_prefix
from .plan import SKIPPED, CannotRun, Context, Plan, VerificationFailed, error_code

log = logging.getLogger(__name__)

PASSWORD_ENV = "DRGUARD_DRILL_DB_PASSWORD"
FAILED_STATES = {"failed", "incompatible-restore", "incompatible-parameters",
                 "incompatible-network", "storage-full", "inaccessible-encryption-credentials"}
SQL_CLIENTS = {"postgres": "psql", "mysql": "mysql", "mariadb": "mysql"}


def _arn_parts(db: str) -> tuple[str | None, str]:
    """(region, identifier) of an ARN `arn:aws:rds:R:A:db:NAME`, or (None, db)."""
    if db.startswith("arn:"):
        parts = db.split(":")
        if len(parts) >= 7 and parts[2] == "rds" and parts[5] == "db":
            return parts[3] or None, parts[6]
        raise CannotRun(f"{db} is not the ARN of an RDS DB instance (arn:aws:rds:REGION:"
                        "ACCOUNT:db:NAME)")
    return None, db


def _newest(snaps: list[dict[str, Any]]) -> dict[str, Any] | None:
    ok = [s for s in snaps if s.get("Status") == "available" and s.get("SnapshotCreateTime")]
    return max(ok, key=lambda s: s["SnapshotCreateTime"], default=None)


def _snap_view(s: dict[str, Any], region: str) -> dict[str, Any]:
    return {"id": s.get("DBSnapshotIdentifier"), "arn": s.get("DBSnapshotArn"),
            "region": region, "type": s.get("SnapshotType"),
            "created": s.get("SnapshotCreateTime"), "engine": s.get("Engine"),
            "engine_version": s.get("EngineVersion"),
            "allocated_storage": s.get("AllocatedStorage"), "encrypted": s.get("Encrypted")}



def _describe_one(call: Any, key: str, not_found: str, **params: Any) -> dict[str, Any] | None:
    """The one resource a Describe call names, or None when AWS says it does not exist."""
    try:
        found = call(**params)[key]
    except ClientError as e:
        if error_code(e) == not_found:
            return None
        raise
    return found[0] if found else None


def find_instance(rds: Any, name: str) -> dict[str, Any] | None:
    return _describe_one(rds.describe_db_instances, "DBInstances", "DBInstanceNotFound",
                         DBInstanceIdentifier=name)


def find_cluster(rds: Any, name: str) -> dict[str, Any] | None:
    return _describe_one(rds.describe_db_clusters, "DBClusters", "DBClusterNotFoundFault",
                         DBClusterIdentifier=name)


def ready(found: dict[str, Any] | None, status_key: str, gone: str,
          what: str) -> tuple[bool, str]:
    """(available yet, its state) of a scratch resource being made; CannotRun(`gone`) when it
    no longer exists, or when `what` ended in a failed state."""
    if found is None:
        raise CannotRun(gone)
    state = str(found.get(status_key) or "")
    if state in FAILED_STATES:
        raise CannotRun(f"{what} ended in state {state!r}")
    return state == "available", state


@record
class RdsDrill:
    """A restore drill of an RDS instance from a snapshot or a point in time."""

    db: str
    region: str  # the instance's region when `db` is not an ARN
    source: str = "snapshot"  # or "pitr"
    target_region: str | None = None
    instance_class: str | None = None
    subnet_group: str | None = None
    security_groups: tuple[str, ...] = ()
    check_sql: str | None = None
    sql_timeout: float = 60.0
    run_id: str = ""
    kind: str = "rds"

    # ---- prepare (reads only) ---------------------------------------------------------------

    def prepare(self, account: Any) -> Plan:
        arn_region, name = _arn_parts(self.db)
        region = arn_region or self.region
        target = self.target_region or region
        plan = Plan(self.kind, name, target)
        scratch = f"{scratch_prefix(self.run_id)}-db"
        plan.data.update(name=name, region=region, target=target, scratch=scratch)
        rds = account.client("rds", region)
        original = find_instance(rds, name)
        if original is None and find_cluster(rds, name) is not None:
            raise CannotRun(f"{name} in {region} is a DB cluster (Aurora, DocumentDB, Neptune): "
                            "drill rds restores DB instances only")
        plan.data["original"] = original
        if original is not None:
            plan.found["instance"] = {
                "arn": original.get("DBInstanceArn"), "engine": original.get("Engine"),
                "status": original.get("DBInstanceStatus"),
                "allocated_storage": original.get("AllocatedStorage")}
        else:
            plan.notes.append(f"no DB instance {name} in {region} (deleted?): restoring from "
                              "what is left of it")
        tags = [{"Key": TAG_KEY, "Value": self.run_id}, {"Key": "Name", "Value": scratch}]
        common: dict[str, Any] = {"PubliclyAccessible": False, "MultiAZ": False,
                                  "DeletionProtection": False, "AutoMinorVersionUpgrade": False,
                                  "CopyTagsToSnapshot": False, "Tags": tags}
        if self.instance_class:
            common["DBInstanceClass"] = self.instance_class
        if self.subnet_group:
            common["DBSubnetGroupName"] = self.subnet_group
        if self.security_groups:
            common["VpcSecurityGroupIds"] = list(self.security_groups)
        if self.source == "pitr":
            self._prepare_pitr(account, plan, original, common)
        else:
            self._prepare_snapshot(account, plan, common, tags)
        plan.call("rds", target, "ModifyDBInstance", "cleanup, only if the restore copied "
                  "deletion protection from the original", DBInstanceIdentifier=scratch,
                  DeletionProtection=False, ApplyImmediately=True)
        plan.call("rds", target, "DeleteDBInstance", "cleanup, on every path",
                  DBInstanceIdentifier=scratch, SkipFinalSnapshot=True,
                  DeleteAutomatedBackups=True)
        if plan.data.get("copy"):
            plan.call("rds", target, "DeleteDBSnapshot", "cleanup of the scratch copy",
                      DBSnapshotIdentifier=plan.data["copy"]["TargetDBSnapshotIdentifier"])
        return plan

    def _prepare_snapshot(self, account: Any, plan: Plan, common: dict[str, Any],
                          tags: list[dict[str, str]]) -> None:
        name, region, target = plan.data["name"], plan.data["region"], plan.data["target"]
        snap, snap_region = None, region
        if target != region:
            copies = list(paginate(account.client("rds", target), "describe_db_snapshots",
                                   "DBSnapshots", DBInstanceIdentifier=name))
            snap, snap_region = _newest(copies), target
        if snap is None:
            local = list(paginate(account.client("rds", region), "describe_db_snapshots",
                                  "DBSnapshots", DBInstanceIdentifier=name))
            snap, snap_region = _newest(local), region
        if snap is None:
            where = region if target == region else f"{region} or {target}"
            raise CannotRun(f"no available snapshot of {name} in {where}: nothing to restore")
        plan.found["snapshot"] = _snap_view(snap, snap_region)
        plan.data["expected"] = {"engine": snap.get("Engine"),
                                 "engine_version": snap.get("EngineVersion"),
                                 "allocated_storage": snap.get("AllocatedStorage"),
                                 "storage_type": snap.get("StorageType"),
                                 "encrypted": snap.get("Encrypted")}
        source_id = snap["DBSnapshotIdentifier"]
        if snap_region != target:
            plan.notes.append(f"no snapshot of {name} in {target}: the newest snapshot in "
                              f"{region} is copied there first (part of the measured RTO)")
            copy = {"SourceDBSnapshotIdentifier": snap["DBSnapshotArn"],
                    "TargetDBSnapshotIdentifier": f"{scratch_prefix(self.run_id)}-snap",
                    "SourceRegion": region, "Tags": tags}
            plan.data["copy"] = copy
            plan.call("rds", target, "CopyDBSnapshot", "cross-region copy of the snapshot",
                      **copy)
            source_id = copy["TargetDBSnapshotIdentifier"]
        params = {"DBInstanceIdentifier": plan.data["scratch"], "DBSnapshotIdentifier": source_id,
                  **common}
        plan.data["restore"] = ("restore_db_instance_from_db_snapshot", params)
        plan.call("rds", target, "RestoreDBInstanceFromDBSnapshot",
                  "restore into the scratch instance", **params)

    def _prepare_pitr(self, account: Any, plan: Plan, original: dict[str, Any] | None,
                      common: dict[str, Any]) -> None:
        name, region, target = plan.data["name"], plan.data["region"], plan.data["target"]
        params: dict[str, Any] = {"TargetDBInstanceIdentifier": plan.data["scratch"],
                                  "UseLatestRestorableTime": True, **common}
        if target == region:
            if original is None:
                raise CannotRun(f"point-in-time restore needs the instance {name} in {region} "
                                "(or its retained automated backups in another region)")
            if not original.get("BackupRetentionPeriod"):
                raise CannotRun(f"{name} has no automated backups (retention 0): no point in "
                                "time to restore")
            params["SourceDBInstanceIdentifier"] = name
            plan.found["latest_restorable_time"] = original.get("LatestRestorableTime")
        else:
            backups = [b for b in paginate(account.client("rds", target),
                                           "describe_db_instance_automated_backups",
                                           "DBInstanceAutomatedBackups")
                       if b.get("DBInstanceIdentifier") == name
                       and (original is None
                            or b.get("DBInstanceArn") == original.get("DBInstanceArn"))]
            if not backups:
                raise CannotRun(f"no replicated automated backups of {name} in {target}: "
                                "point-in-time restore there is impossible")
            b = backups[0]
            params["SourceDBInstanceAutomatedBackupsArn"] = b["DBInstanceAutomatedBackupsArn"]
            plan.found["automated_backups"] = {
                "arn": b.get("DBInstanceAutomatedBackupsArn"),
                "latest": (b.get("RestoreWindow") or {}).get("LatestTime")}
        src = original or {}
        plan.data["expected"] = {"engine": src.get("Engine"),
                                 "engine_version": src.get("EngineVersion"),
                                 "allocated_storage": src.get("AllocatedStorage"),
                                 "storage_type": src.get("StorageType"),
                                 "encrypted": src.get("StorageEncrypted")}
        plan.data["restore"] = ("restore_db_instance_to_point_in_time", params)
        plan.call("rds", target, "RestoreDBInstanceToPointInTime",
                  "restore the latest restorable time into the scratch instance", **params)

    # ---- execute ----------------------------------------------------------------------------

    def execute(self, ctx: Context) -> None:
        data = ctx.plan.data
        rds = ctx.account.client("rds", data["target"])
        scratch = data["scratch"]
        ctx.mark("start")
        if data.get("copy"):
            copy = data["copy"]
            snap_id = copy["TargetDBSnapshotIdentifier"]
            with ctx.step("copy snapshot to target region"):
                ctx.cleanup.add(f"delete scratch snapshot {snap_id}",
                                lambda: self._delete_snapshot(rds, snap_id))
                rds.copy_db_snapshot(**copy)
                ctx.wait(f"snapshot copy {snap_id}", lambda: self._snapshot_state(rds, snap_id))
        method, params = data["restore"]
        with ctx.step("restore"):
            ctx.cleanup.add(f"delete scratch instance {scratch}",
                            lambda: self._delete_instance(ctx, rds, scratch))
            getattr(rds, method)(**params)
        with ctx.step("wait until available"):
            ctx.wait(f"scratch instance {scratch}", lambda: self._instance_state(rds, scratch))
            ctx.mark("available")
        with ctx.step("verify"):
            inst = find_instance(rds, scratch) or {}
            checks = verify(inst, data["expected"])
            ctx.result["checks"] = checks
            bad = [c for c in checks if not c["ok"]]
            if bad:
                raise VerificationFailed("; ".join(
                    f"{c['check']}: expected {c['expected']!r}, found {c['actual']!r}"
                    for c in bad))
        if self.check_sql:
            with ctx.step("check-sql") as s:
                status, detail = self._run_sql(inst)
                ctx.result["check_sql"] = {"status": status, "detail": detail}
                if status == SKIPPED:
                    s.status, s.detail = SKIPPED, detail
                elif status != "ok":
                    raise VerificationFailed(f"check-sql failed: {detail}")
                else:
                    s.detail = detail

    def rto_seconds(self, ctx: Context) -> float | None:
        if "available" not in ctx.marks:
            return None
        return ctx.marks["available"] - ctx.marks["start"]

    # ---- helpers ----------------------------------------------------------------------------

    def _instance_state(self, rds: Any, name: str) -> tuple[bool, str]:
        return ready(find_instance(rds, name), "DBInstanceStatus",
                     f"scratch instance {name} disappeared while restoring",
                     f"restore of {name}")

    @staticmethod
    def _snapshot_state(rds: Any, snap_id: str) -> tuple[bool, str]:
        snaps = rds.describe_db_snapshots(DBSnapshotIdentifier=snap_id)["DBSnapshots"]
        state = str(snaps[0].get("Status") or "") if snaps else "missing"
        if state in ("failed", "missing"):
            raise CannotRun(f"snapshot copy {snap_id} {state}")
        return state == "available", state

    def _delete_instance(self, ctx: Context, rds: Any, name: str) -> None:
        """Delete the scratch instance (no final snapshot) and wait until it is gone."""
        inst = find_instance(rds, name)
        if inst is None:
            return  # never created (the restore call failed before AWS accepted it)
        if inst.get("DBInstanceStatus") not in ("available", "deleting", *FAILED_STATES):
            # AWS refuses to delete an instance that is still being created: wait for it.
            ctx.wait(f"scratch instance {name} (before deleting it)", lambda: self._settled(
                rds, name))
            inst = find_instance(rds, name)
            if inst is None:
                return
        if inst.get("DeletionProtection"):
            rds.modify_db_instance(DBInstanceIdentifier=name, DeletionProtection=False,
                                   ApplyImmediately=True)
        try:
            rds.delete_db_instance(DBInstanceIdentifier=name, SkipFinalSnapshot=True,
                                   DeleteAutomatedBackups=True)
        except ClientError as e:
            if error_code(e) != "DBInstanceNotFound":
                raise
        ctx.wait(f"deletion of scratch instance {name}", lambda: self._gone(rds, name))

    def _settled(self, rds: Any, name: str) -> tuple[bool, str]:
        inst = find_instance(rds, name)
        state = str(inst.get("DBInstanceStatus") or "") if inst else "gone"
        return state in ("available", "deleting", "gone", *FAILED_STATES), state

    def _gone(self, rds: Any, name: str) -> tuple[bool, str]:
        inst = find_instance(rds, name)
        return inst is None, str(inst.get("DBInstanceStatus") if inst else "gone")

    @staticmethod
    def _delete_snapshot(rds: Any, snap_id: str) -> None:
        try:
            rds.delete_db_snapshot(DBSnapshotIdentifier=snap_id)
        except ClientError as e:
            if error_code(e) != "DBSnapshotNotFound":
                raise

    def _run_sql(self, inst: dict[str, Any]) -> tuple[str, str]:
        """("ok" | "failed" | "skipped", detail) of --check-sql on the scratch instance."""
        ep = inst.get("Endpoint") or {}
        host, port = ep.get("Address"), ep.get("Port")
        if not host or not port:
            return SKIPPED, "the scratch instance has no endpoint"
        try:
            with socket.create_connection((host, int(port)), timeout=5):
                pass
        except OSError as e:
            return SKIPPED, (f"cannot reach {host}:{port} from here ({e.strerror or e}); run "
                             "the drill inside the database's network to check SQL")
        engine = str(inst.get("Engine") or "")
        family = next((f for f in SQL_CLIENTS if f in engine), None)
        if family is None:
            return SKIPPED, f"no SQL client known for engine {engine!r}"
        client = shutil.which(SQL_CLIENTS[family])
        if client is None:
            return SKIPPED, f"{SQL_CLIENTS[family]} is not installed here"
        password = os.environ.get(PASSWORD_ENV)
        if not password:
            return SKIPPED, f"{PASSWORD_ENV} is not set (the master password of the original)"
        user = str(inst.get("MasterUsername") or "")
        env = dict(os.environ)
        if family == "postgres":
            env["PGPASSWORD"] = password
            cmd = [client, "-h", host, "-p", str(port), "-U", user, "-d",
                   str(inst.get("DBName") or "postgres"), "-v", "ON_ERROR_STOP=1", "-At", "-c",
                   str(self.check_sql)]
        else:
            env["MYSQL_PWD"] = password
            cmd = [client, "-h", host, "-P", str(port), "-u", user, "--batch", "-e",
                   str(self.check_sql)]
        try:
            done = subprocess.run(cmd, env=env, capture_output=True, text=True,
                                  timeout=self.sql_timeout, check=False)
        except subprocess.TimeoutExpired:
            return "failed", f"the query did not finish within {self.sql_timeout:.0f}s"
        if done.returncode != 0:
            return "failed", " ".join(done.stderr.split())[:300]
        rows = len([line for line in done.stdout.splitlines() if line.strip()])
        return "ok", f"{rows} row(s) returned"


def verify(inst: dict[str, Any], expected: dict[str, Any]) -> list[dict[str, Any]]:
    """Checks of the restored instance against what was backed up (absent expectations are
    checked as far as known)."""
    checks: list[dict[str, Any]] = []

    def add(check: str, exp: Any, actual: Any, ok: bool) -> None:
        checks.append({"check": check, "expected": exp, "actual": actual, "ok": bool(ok)})

    add("status", "available", inst.get("DBInstanceStatus"),
        inst.get("DBInstanceStatus") == "available")
    add("engine", expected.get("engine"), inst.get("Engine"),
        inst.get("Engine") is not None
        and (expected.get("engine") is None or inst.get("Engine") == expected["engine"]))
    if expected.get("engine_version"):
        add("engine version", expected["engine_version"], inst.get("EngineVersion"),
            inst.get("EngineVersion") == expected["engine_version"])
    size = inst.get("AllocatedStorage")
    want = expected.get("allocated_storage")
    add("allocated storage (GiB, at least)", want, size,
        isinstance(size, int) and size > 0 and (not want or size >= want))
    if expected.get("storage_type"):
        add("storage type", expected["storage_type"], inst.get("StorageType"),
            inst.get("StorageType") == expected["storage_type"])
    if expected.get("encrypted") is not None:
        add("storage encrypted", expected["encrypted"], inst.get("StorageEncrypted"),
            bool(inst.get("StorageEncrypted")) == bool(expected["encrypted"]))
    return checks
