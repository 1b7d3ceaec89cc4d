"""Amazon ElastiCache: Redis OSS / Valkey replication groups and clusters keep automatic
snapshots and take a final snapshot on delete (elasticache-snapshot-retention). Memcached has no
snapshots and is exempt; a cluster that belongs to a replication group is judged on its group."""

from __future__ import annotations

import json
import shlex
from typing import Any, Literal

from .. import typed
from ..control import DESTROYABLE, ConfigMapping, Control, days
from ..detections import Context, Params, Record, named_arn, on, request_parameters, to_int
from ..facts import UNKNOWN, OnDelete, Resource
from ..records import record
from ..verdict import Remediation, Verdict, plural_days

ELASTICACHE = "elasticache.amazonaws.com"
SNAPSHOT_RETENTION = "elasticache-snapshot-retention"
SNAPSHOT_ENGINES = frozenset({"redis", "valkey"})


@record
class Cache(Resource):
    """An ElastiCache replication group or a cache cluster."""

    kind: Literal["replication-group", "cluster"] = "replication-group"
    engine: Any = "redis"  # lower-case engine name, or UNKNOWN
    retention: Any = None  # snapshotRetentionLimit, days; None = unset (0: no snapshots)
    final_snapshot_identifier: Any = None
    group_member: Any = False  # a cluster of a replication group: judged on the group
    final_snapshot_applies: bool = True  # False where delete-time settings are not visible

    def stateful(self) -> bool:
        """Redis/Valkey hold data (memcached is a cache only); a group member is judged on
        its group."""
        engine = self.engine.lower() if isinstance(self.engine, str) else self.engine
        return self.group_member is not True and (engine is UNKNOWN or
                                                  engine in SNAPSHOT_ENGINES)

    def on_delete(self, replace: bool) -> OnDelete:
        """A finalSnapshotIdentifier names the snapshot taken on delete; automatic snapshots
        are deleted with it."""
        what = "ElastiCache cache cluster" if self.kind == "cluster" else \
            "ElastiCache replication group"
        ident = self.final_snapshot_identifier
        d = OnDelete(what, evidence={"finalSnapshotIdentifier": ident,
                                     "snapshotRetentionLimit": self.retention})
        if not self.final_snapshot_applies:
            pass
        elif isinstance(ident, str) and ident:
            d.saves.append(f"a final snapshot {ident!r} is taken before the delete"
                           + (", but the replacement starts empty" if replace else ""))
            d.kept.append(f"final snapshot {ident!r}")
        elif ident is UNKNOWN:
            d.lost.append("whether a final snapshot is taken is unknown in this preview")
        else:
            d.lost.append("no finalSnapshotIdentifier is set: no final snapshot is taken")
        d.lost.append("its automatic snapshots are deleted with it")
        return d


# ---- remediation --------------------------------------------------------------------------

def fix(c: Cache, minimum: int) -> Remediation:
    name = c.name if isinstance(c.name, str) else "cache"
    keep = max(minimum, 1)
    if c.kind == "cluster":
        return Remediation(
            f"Keep automatic snapshots of cache cluster {name} for {plural_days(keep)} and take a "
            "final snapshot when it is deleted.",
            f"aws.elasticache.Cluster({json.dumps(name)}, ...,\n"
            f"    snapshot_retention_limit={keep}, final_snapshot_identifier=\"{name}-final\")",
            f"aws elasticache modify-cache-cluster --cache-cluster-id {shlex.quote(name)} "
            f"--snapshot-retention-limit {keep} --apply-immediately")
    return Remediation(
        f"Keep automatic snapshots of replication group {name} for {plural_days(keep)} and take a "
        "final snapshot when it is deleted.",
        f"aws.elasticache.ReplicationGroup({json.dumps(name)}, ...,\n"
        f"    snapshot_retention_limit={keep}, final_snapshot_identifier=\"{name}-final\")",
        f"aws elasticache modify-replication-group --replication-group-id {shlex.quote(name)} "
        f"--snapshot-retention-limit {keep} --apply-immediately")


# ---- rule ---------------------------------------------------------------------------------

def snapshot_retention(c: Cache, params: dict[str, Any]) -> Verdict | None:
    """snapshotRetentionLimit >= minRetentionDays (unset or 0: no automatic snapshots) and,
    where visible, a finalSnapshotIdentifier. None for memcached and group members."""
    if c.group_member is True:
        return None
    engine = c.engine.lower() if isinstance(c.engine, str) else c.engine
    if isinstance(engine, str) and engine not in SNAPSHOT_ENGINES:
        return None  # memcached: no snapshots to keep
    minimum = params["minRetentionDays"]
    what = "cache cluster" if c.kind == "cluster" else "replication group"
    label = f"ElastiCache {what} {c.name!r}"
    prop = c.prop("retention", "snapshotRetentionLimit")
    ident_p = c.prop("final_snapshot_identifier", "finalSnapshotIdentifier")
    evidence: dict[str, Any] = {"engine": c.engine, "snapshotRetentionLimit": c.retention,
                                "minRetentionDays": minimum}
    if c.final_snapshot_applies:
        evidence["finalSnapshotIdentifier"] = c.final_snapshot_identifier
    if c.retention is not UNKNOWN:
        bad = typed.wrong(c, prop, c.retention, "int")
        if bad is not None:
            return bad
    problems: list[str] = []
    if c.retention is not UNKNOWN:
        effective = 0 if c.retention is None else int(c.retention)
        evidence["effectiveDays"] = effective
        if effective < minimum:
            why = (f"{prop} is unset, so there are no automatic snapshots" if c.retention is None
                   else f"{prop} is {effective}" + (" (automatic snapshots are off)"
                                                    if effective == 0 else " days"))
            problems.append(f"{why}, below the minimum of {minimum} day"
                            f"{'s' if minimum != 1 else ''}")
    if c.final_snapshot_applies and c.final_snapshot_identifier is None:
        problems.append(f"{ident_p} is unset, so deleting it takes no final snapshot")
    pending = [c.retention, c.group_member]
    if c.final_snapshot_applies:
        pending.append(c.final_snapshot_identifier)
    if problems and engine is not UNKNOWN and c.group_member is not UNKNOWN:
        return Verdict("fail", f"{label} can lose its data: " + "; ".join(problems) + ".",
                       evidence, fix(c, minimum))
    if problems or engine is UNKNOWN or any(v is UNKNOWN for v in pending):
        return Verdict.unknown(f"The snapshot settings of {label}", **evidence)
    tail = " and takes a final snapshot on delete" if c.final_snapshot_applies else ""
    return Verdict("pass", f"{label} keeps automatic snapshots for {evidence['effectiveDays']} "
                           f"days{tail}.", evidence)


# ---- logs side ----------------------------------------------------------------------------

def cache(record: dict[str, Any]) -> str:
    rp = request_parameters(record)
    if rp.get("replicationGroupId"):
        return named_arn(record, "elasticache", "replicationgroup", rp["replicationGroupId"])
    return named_arn(record, "elasticache", "cluster", rp.get("cacheClusterId"))


def retention_below_minimum(rp: Record, record: Record, params: Params, ctx: Context) -> bool:
    limit = to_int(rp.get("snapshotRetentionLimit"))
    return limit is not None and limit < params["minRetentionDays"]


def no_final_snapshot(rp: Record, record: Record, params: Params, ctx: Context) -> bool:
    return not rp.get("finalSnapshotIdentifier")


CONTROLS: tuple[Control, ...] = (
    Control(
        id=SNAPSHOT_RETENTION,
        gap=(
            "Snapshots kept {effectiveDays|day}; needs {minRetentionDays}",
            "Snapshots not kept long enough",
        ),
        why=("Without automatic snapshots a failed node or a bad write leaves nothing to restore "
            "the cache data from, and a delete without a final snapshot loses it."),
        console=(
            "ElastiCache console: Redis OSS or Valkey caches, select the cache, Modify.",
            "Set Backup retention period to at least minRetentionDays days and save (Apply "
            "immediately).",
            "Set a final snapshot name when you delete it.",
        ),
        title="ElastiCache (Redis OSS, Valkey) keeps automatic snapshots",
        severity="medium",
        exposure=DESTROYABLE,
        tier=1,
        description="Redis OSS and Valkey replication groups and clusters keep automatic "
                    "snapshots for at least minRetentionDays days and take a final snapshot "
                    "when deleted (memcached is exempt).",
        remediation="Set snapshotRetentionLimit to at least minRetentionDays and a "
                    "finalSnapshotIdentifier on the replication group or cluster.",
        params=(days("minRetentionDays", 1, "Minimum automatic snapshot retention, in days.",
                     maximum=35),),
        mapping=ConfigMapping(("ELASTICACHE_REDIS_CLUSTER_AUTOMATIC_BACKUP_CHECK",),
                              ("ElastiCache.1",)),
        detections=(
            on(ELASTICACHE, "ModifyReplicationGroup", "ModifyCacheCluster",
               when=retention_below_minimum, resource=cache,
               message="{principal} set snapshotRetentionLimit of {name} to "
                       "{rp[snapshotRetentionLimit]} ({event}), below minRetentionDays "
                       "({params[minRetentionDays]}): automatic snapshots are dropped."),
            on(ELASTICACHE, "DeleteReplicationGroup", when=no_final_snapshot, resource=cache,
               message="{principal} deleted the replication group {name} without a "
                       "finalSnapshotIdentifier ({event}): no final snapshot."),
        ),
        fix=Remediation(
            "Keep automatic snapshots and take a final snapshot on delete.",
            'aws.elasticache.ReplicationGroup("sessions", ...,\n'
            '    snapshot_retention_limit=7, final_snapshot_identifier="sessions-final")',
            "aws elasticache modify-replication-group --replication-group-id sessions "
            "--snapshot-retention-limit 7 --apply-immediately"),
    ),
)
