"""Amazon ElastiCache at deploy time: replication groups and cache clusters (pulumi-aws) and
the elasticache-snapshot-retention binding. aws-native has no ElastiCache cluster resource
with snapshot settings worth reading here; it is not covered."""

from __future__ import annotations

from typing import Any

from drguard.controls import elasticache as ctl
from drguard.controls.elasticache import Cache
from drguard.facts import UNKNOWN

from ..adapters import Res, base
from ..binding import ResourceCheck
from ..service import DeployService
from ..wire import num

REPLICATION_GROUP = "aws:elasticache/replicationGroup:ReplicationGroup"
CLUSTER = "aws:elasticache/cluster:Cluster"
CACHE_TYPES = frozenset({REPLICATION_GROUP, CLUSTER})


def _engine(v: Any, default: Any) -> Any:
    if v is UNKNOWN:
        return UNKNOWN
    return v.lower() if isinstance(v, str) and v else default


def cache(r: Res) -> Cache | None:
    if r.type == REPLICATION_GROUP:
        return Cache(**base(r, r.get("replicationGroupId")), kind="replication-group",
                     engine=_engine(r.get("engine"), "redis"),  # provider default
                     retention=num(r.get("snapshotRetentionLimit")),
                     final_snapshot_identifier=r.get("finalSnapshotIdentifier"))
    if r.type == CLUSTER:
        group = r.get("replicationGroupId")
        return Cache(**base(r, r.get("clusterId")), kind="cluster",
                     # engine is required unless the cluster joins a replication group
                     engine=_engine(r.get("engine"), None),
                     retention=num(r.get("snapshotRetentionLimit")),
                     final_snapshot_identifier=r.get("finalSnapshotIdentifier"),
                     # set, even to a value not known yet (preview): a member
                     group_member=group is not None and group != "")
    return None


SERVICE = DeployService(
    facts={t: ("caches", cache) for t in CACHE_TYPES},
    checks=(ResourceCheck(ctl.SNAPSHOT_RETENTION, CACHE_TYPES, cache, ctl.snapshot_retention),),
)
