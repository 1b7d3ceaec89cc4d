"""Amazon ElastiCache, live: replication groups and cache clusters and their automatic
snapshot retention (elasticache-snapshot-retention). The final snapshot is a setting of the
delete call: live judges retention alone."""

from __future__ import annotations

from dataclasses import field
from typing import Any

from drguard.controls import elasticache as ctl
from drguard.controls.elasticache import Cache
from drguard.facts import UNKNOWN
from drguard.records import record

from ..aws import Account, paginate
from ..collectors import Errors, guarded
from ..live import AccountScan, Live, LiveService, RegionScan, ScanContext, Step

_LISTINGS = (("groups", "replication groups", "replicationgroup"),
             ("clusters", "cache clusters", "cluster"))


@record
class CacheRegion:
    """One region's ElastiCache clusters and groups, and what could not be read."""

    caches: list[Cache] = field(default_factory=list)
    errors: Errors = field(default_factory=dict)  # "groups" / "clusters": a listing failed


def _group(g: dict[str, Any], account: str, region: str) -> Cache:
    gid = g["ReplicationGroupId"]
    return Cache(
        ref=g.get("ARN") or f"arn:aws:elasticache:{region}:{account}:replicationgroup:{gid}",
        name=gid, type="AWS::ElastiCache::ReplicationGroup", account=account, region=region,
        kind="replication-group",
        # older API answers carry no Engine: replication groups are Redis OSS or Valkey
        engine=(g.get("Engine") or "redis").lower(),
        retention=g.get("SnapshotRetentionLimit"), final_snapshot_applies=False,
        evidence={"status": g.get("Status"), "snapshottingClusterId":
                  g.get("SnapshottingClusterId")})


def _cluster(c: dict[str, Any], account: str, region: str) -> Cache:
    cid = c["CacheClusterId"]
    return Cache(
        ref=c.get("ARN") or f"arn:aws:elasticache:{region}:{account}:cluster:{cid}",
        name=cid, type="AWS::ElastiCache::CacheCluster", account=account, region=region,
        kind="cluster", engine=(c.get("Engine") or "").lower() or UNKNOWN,
        retention=c.get("SnapshotRetentionLimit"),
        group_member=bool(c.get("ReplicationGroupId")), final_snapshot_applies=False,
        evidence={"status": c.get("CacheClusterStatus"),
                  "replicationGroupId": c.get("ReplicationGroupId")})


def collect(account: Account, region: str) -> CacheRegion:
    """Replication groups and cache clusters; a listing that fails is recorded under its key
    (the other is still judged)."""
    ec = account.client("elasticache", region)
    out = CacheRegion()
    groups = guarded(out.errors, "groups", "elasticache:DescribeReplicationGroups",
                     lambda: list(paginate(ec, "describe_replication_groups",
                                           "ReplicationGroups")))
    for g in groups if groups is not UNKNOWN else ():
        out.caches.append(_group(g, account.id, region))
    clusters = guarded(out.errors, "clusters", "elasticache:DescribeCacheClusters",
                       lambda: list(paginate(ec, "describe_cache_clusters", "CacheClusters")))
    for c in clusters if clusters is not UNKNOWN else ():
        out.caches.append(_cluster(c, account.id, region))
    return out


def _collect(scanner: ScanContext, acct: Account, rs: RegionScan) -> CacheRegion:
    return collect(acct, rs.region)


def _evaluate(scanner: ScanContext, a: AccountScan) -> None:
    cid = ctl.SNAPSHOT_RETENTION
    params = scanner.settings.of(cid)
    for region, rs in sorted(a.regions.items()):
        data: CacheRegion | None = rs.data.get("elasticache")
        failed = [(k, what, kind) for k, what, kind in _LISTINGS
                  if data is None or k in data.errors]
        for key, what, kind in failed:
            err = rs.errors.get("elasticache") if data is None else data.errors[key]
            scanner.error(cid, f"arn:aws:elasticache:{region}:{a.id}:{kind}:*",
                          f"ElastiCache {what} in {region}", a.id, region,
                          f"The ElastiCache {what} of {region} could not be listed: {err}.",
                          [err])
        for c in data.caches if data is not None else ():
            scanner.add(cid, c, ctl.snapshot_retention(c, params))


SERVICE = LiveService(
    calls=("elasticache:DescribeCacheClusters", "elasticache:DescribeReplicationGroups"),
    regional_steps=(Step("elasticache", "elasticache", _collect),),
    live=(Live((ctl.SNAPSHOT_RETENTION,), _evaluate),),
)
