"""`dr-audit drill cluster`: restore an Aurora, DocumentDB or Neptune cluster into a scratch
cluster plus one instance, verify, time it, delete both.

Source of the restore:
- `--from snapshot` (default): the newest available cluster snapshot (manual or automated) of
  the cluster; the original need not exist any more (its snapshots are found by identifier).
- `--from pitr`: the cluster's latest restorable time (the cluster must exist).

A cluster without an instance answers nothing, so the drill adds one instance
(`--instance-class`, default: the class of the original's first member, else `db.r6g.large`).
The achieved RTO is the time from the restore call until the scratch cluster *and* its
instance are `available`. Verification: both available, engine (and version, when known) as
backed up, encryption as backed up, and the cluster has an endpoint to answer on. DocumentDB
and Neptune clusters are served by the same RDS API, so one client handles all three.
Cleanup deletes the instance, then the cluster, neither with a final snapshot.
"""

from __future__ import annotations

import logging
from typing import Any

from botocore.exceptions import ClientError

from drguard.records import record

from ..aws import paginate
from .guard import TAG_KEY, scratch_prefix
from .plan import CannotRun, Context, Plan, VerificationFailed, error_code
from .rds import FAILED_STATES, find_cluster, find_instance, ready

log = logging.getLogger(__name__)

DEFAULT_CLASS = "db.r6g.large"
CLUSTER_NOT_FOUND = "DBClusterNotFoundFault"


def _arn_parts(cluster: str) -> tuple[str | None, str]:
    """(region, identifier) of `arn:aws:rds:R:A:cluster:NAME`, or (None, cluster)."""
    if cluster.startswith("arn:"):
        parts = cluster.split(":")
        if len(parts) >= 7 and parts[2] == "rds" and parts[5] == "cluster":
            return parts[3] or None, parts[6]
        raise CannotRun(f"{cluster} is not the ARN of a DB cluster (arn:aws:rds:REGION:"
                        "ACCOUNT:cluster:NAME)")
    return None, cluster


@record
class ClusterDrill:
    """A restore drill of an Aurora/RDS cluster from a snapshot or a point in time."""

    cluster: str
    region: str
    source: str = "snapshot"  # or "pitr"
    instance_class: str | None = None
    subnet_group: str | None = None
    security_groups: tuple[str, ...] = ()
    run_id: str = ""
    kind: str = "cluster"

    # ---- prepare (reads only) ---------------------------------------------------------------

    def prepare(self, account: Any) -> Plan:
        arn_region, name = _arn_parts(self.cluster)
        region = arn_region or self.region
        plan = Plan(self.kind, name, region)
        rds = account.client("rds", region)
        original = find_cluster(rds, name)
        prefix = scratch_prefix(self.run_id)
        scratch, instance = f"{prefix}-cluster", f"{prefix}-db"
        tags = [{"Key": TAG_KEY, "Value": self.run_id}, {"Key": "Name", "Value": scratch}]
        common: dict[str, Any] = {"DBClusterIdentifier": scratch, "Tags": tags,
                                  "DeletionProtection": False}
        if self.subnet_group:
            common["DBSubnetGroupName"] = self.subnet_group
        if self.security_groups:
            common["VpcSecurityGroupIds"] = list(self.security_groups)
        if original is not None:
            plan.found["cluster"] = {"arn": original.get("DBClusterArn"),
                                     "engine": original.get("Engine"),
                                     "status": original.get("Status"),
                                     "members": len(original.get("DBClusterMembers") or ())}
        elif self.source == "pitr":
            raise CannotRun(f"point-in-time restore needs the cluster {name} in {region}")
        else:
            plan.notes.append(f"no DB cluster {name} in {region} (deleted?): restoring from "
                              "its snapshots")
        if self.source == "pitr":
            assert original is not None
            expected = original
            params = {"SourceDBClusterIdentifier": name, "UseLatestRestorableTime": True,
                      **common}
            plan.found["latest_restorable_time"] = original.get("LatestRestorableTime")
            plan.data["restore"] = ("restore_db_cluster_to_point_in_time", params)
            plan.call("rds", region, "RestoreDBClusterToPointInTime",
                      "restore the latest restorable time into the scratch cluster", **params)
        else:
            snaps = [s for s in paginate(rds, "describe_db_cluster_snapshots",
                                         "DBClusterSnapshots", DBClusterIdentifier=name)
                     if s.get("Status") == "available" and s.get("SnapshotCreateTime")]
            if not snaps:
                raise CannotRun(f"no available cluster snapshot of {name} in {region}: "
                                "nothing to restore")
            snap = max(snaps, key=lambda s: s["SnapshotCreateTime"])
            expected = snap
            plan.found["snapshot"] = {"id": snap.get("DBClusterSnapshotIdentifier"),
                                      "type": snap.get("SnapshotType"),
                                      "created": snap.get("SnapshotCreateTime"),
                                      "engine": snap.get("Engine")}
            params = {"SnapshotIdentifier": snap["DBClusterSnapshotIdentifier"],
                      "Engine": snap.get("Engine"), **common}
            plan.data["restore"] = ("restore_db_cluster_from_snapshot", params)
            plan.call("rds", region, "RestoreDBClusterFromSnapshot",
                      "restore the newest cluster snapshot into the scratch cluster", **params)
        engine = expected.get("Engine")
        if not engine:
            raise CannotRun(f"the engine of {name} is unknown: cannot add an instance")
        klass = self.instance_class or self._member_class(rds, original) or DEFAULT_CLASS
        create = {"DBInstanceIdentifier": instance, "DBClusterIdentifier": scratch,
                  "Engine": engine, "DBInstanceClass": klass, "Tags": tags}
        plan.call("rds", region, "CreateDBInstance", "one instance, so the cluster answers",
                  **create)
        plan.call("rds", region, "DeleteDBInstance", "cleanup of the scratch instance",
                  DBInstanceIdentifier=instance, SkipFinalSnapshot=True)
        plan.call("rds", region, "DeleteDBCluster", "cleanup of the scratch cluster",
                  DBClusterIdentifier=scratch, SkipFinalSnapshot=True)
        plan.data.update(name=name, region=region, scratch=scratch, instance=instance,
                         create=create,
                         expected={"engine": engine,
                                   "engine_version": expected.get("EngineVersion"),
                                   "encrypted": expected.get("StorageEncrypted")})
        return plan

    @staticmethod
    def _member_class(rds: Any, original: dict[str, Any] | None) -> str | None:
        for m in (original or {}).get("DBClusterMembers") or ():
            inst = find_instance(rds, str(m.get("DBInstanceIdentifier") or ""))
            if inst and inst.get("DBInstanceClass"):
                return str(inst["DBInstanceClass"])
        return None

    # ---- execute ----------------------------------------------------------------------------

    def execute(self, ctx: Context) -> None:
        data = ctx.plan.data
        rds = ctx.account.client("rds", data["region"])
        scratch, instance = data["scratch"], data["instance"]
        ctx.mark("start")
        method, params = data["restore"]
        with ctx.step("restore cluster"):
            ctx.cleanup.add(f"delete scratch cluster {scratch}",
                            lambda: self._delete_cluster(ctx, rds, scratch))
            getattr(rds, method)(**params)
        with ctx.step("wait until cluster available"):
            ctx.wait(f"scratch cluster {scratch}", lambda: self._cluster_state(rds, scratch))
        with ctx.step("create instance"):
            ctx.cleanup.add(f"delete scratch instance {instance}",
                            lambda: self._delete_instance(ctx, rds, instance))
            rds.create_db_instance(**data["create"])
        with ctx.step("wait until instance available"):
            ctx.wait(f"scratch instance {instance}",
                     lambda: self._instance_state(rds, instance))
            ctx.mark("available")
        with ctx.step("verify"):
            checks = verify(find_cluster(rds, scratch) or {}, find_instance(rds, instance) or {},
                            data["expected"])
            ctx.result["checks"] = checks
            bad = [c for c in checks if not c["ok"]]
            if bad:
                raise VerificationFailed("; ".join(
                    f"{c['check']}: expected {c['expected']!r}, found {c['actual']!r}"
                    for c in bad))

    def rto_seconds(self, ctx: Context) -> float | None:
        if "available" not in ctx.marks:
            return None
        return ctx.marks["available"] - ctx.marks["start"]

    # ---- helpers ----------------------------------------------------------------------------

    @staticmethod
    def _cluster_state(rds: Any, name: str) -> tuple[bool, str]:
        return ready(find_cluster(rds, name), "Status",
                     f"scratch cluster {name} disappeared while restoring", f"restore of {name}")

    @staticmethod
    def _instance_state(rds: Any, name: str) -> tuple[bool, str]:
        return ready(find_instance(rds, name), "DBInstanceStatus",
                     f"scratch instance {name} disappeared while creating it", f"instance {name}")

    @staticmethod
    def _settle(ctx: Context, what: str, read: Any, key: str) -> dict[str, Any] | None:
        """Wait while the scratch resource is still being created (AWS refuses to delete it)."""
        def probe() -> tuple[bool, str]:
            cur = read()
            state = str(cur.get(key) or "") if cur else "gone"
            return state in ("available", "deleting", "gone", *FAILED_STATES), state
        cur = read()
        if cur is not None and cur.get(key) not in ("available", "deleting", *FAILED_STATES):
            ctx.wait(f"{what} (before deleting it)", probe)
            cur = read()
        return cur

    def _delete_instance(self, ctx: Context, rds: Any, name: str) -> None:
        inst = self._settle(ctx, f"scratch instance {name}", lambda: find_instance(rds, name),
                            "DBInstanceStatus")
        if inst is None:
            return
        try:
            rds.delete_db_instance(DBInstanceIdentifier=name, SkipFinalSnapshot=True)
        except ClientError as e:
            if error_code(e) != "DBInstanceNotFound":
                raise
        ctx.wait(f"deletion of scratch instance {name}", lambda: (
            (i := find_instance(rds, name)) is None,
            str((i or {}).get("DBInstanceStatus") or "gone")))

    def _delete_cluster(self, ctx: Context, rds: Any, name: str) -> None:
        c = self._settle(ctx, f"scratch cluster {name}", lambda: find_cluster(rds, name), "Status")
        if c is None:
            return
        if c.get("DeletionProtection"):
            # A restore may copy the original's protection; only the scratch copy's is lifted.
            rds.modify_db_cluster(DBClusterIdentifier=name, DeletionProtection=False,
                                  ApplyImmediately=True)
        try:
            rds.delete_db_cluster(DBClusterIdentifier=name, SkipFinalSnapshot=True,
                                  DeleteAutomatedBackups=True)
        except ClientError as e:
            if error_code(e) != CLUSTER_NOT_FOUND:
                raise
        ctx.wait(f"deletion of scratch cluster {name}", lambda: (
            (x := find_cluster(rds, name)) is None, str((x or {}).get("Status") or "gone")))


def verify(cluster: dict[str, Any], inst: dict[str, Any],
           expected: dict[str, Any]) -> list[dict[str, Any]]:
    checks: list[dict[str, Any]] = []

    def add(check: str, exp: Any, actual: Any, ok: bool) -> None:
        checks.append({"check": check, "expected": exp, "actual": actual, "ok": bool(ok)})

    add("cluster status", "available", cluster.get("Status"), cluster.get("Status") == "available")
    add("instance status", "available", inst.get("DBInstanceStatus"),
        inst.get("DBInstanceStatus") == "available")
    add("engine", expected.get("engine"), cluster.get("Engine"),
        cluster.get("Engine") == expected.get("engine"))
    if expected.get("engine_version"):
        add("engine version", expected["engine_version"], cluster.get("EngineVersion"),
            cluster.get("EngineVersion") == expected["engine_version"])
    if expected.get("encrypted") is not None:
        add("storage encrypted", expected["encrypted"], cluster.get("StorageEncrypted"),
            bool(cluster.get("StorageEncrypted")) == bool(expected["encrypted"]))
    add("cluster endpoint", "present", cluster.get("Endpoint"), bool(cluster.get("Endpoint")))
    add("instance in the cluster", inst.get("DBInstanceIdentifier"),
        [m.get("DBInstanceIdentifier") for m in cluster.get("DBClusterMembers") or ()],
        any(m.get("DBInstanceIdentifier") == inst.get("DBInstanceIdentifier")
            for m in cluster.get("DBClusterMembers") or ()))
    return checks
