"""elasticache-snapshot-retention, every side: the rule, the pack over gRPC (programs captured
from pulumi-aws, preview and update), the live scan against the moto server, and CloudTrail.

moto serves DescribeReplicationGroups and DescribeCacheClusters with SnapshotRetentionLimit
and Engine (Redis OSS and Valkey). The final snapshot is a parameter of the delete call, not an
attribute: live judges retention only. tests/faulty_proxy.py `reply` answers JSON only, which
a query API such as ElastiCache cannot parse, so the moto gaps here are covered by `denied`.
"""

from __future__ import annotations

from typing import Any

import pytest

from auditor.logs.samples import record
from drguard.controls.elasticache import SNAPSHOT_RETENTION, Cache, snapshot_retention
from drguard.facts import UNKNOWN
from tests.faulty_proxy import Fault, FaultyProxy
from tests.harness.analyzer import run_stack
from tests.live_support import one, pick, run_scan

ELASTICACHE = "elasticache.amazonaws.com"
P = {"minRetentionDays": 1}


# ---- the rule ----------------------------------------------------------------------------------

def _c(**kw: Any) -> Cache:
    kw.setdefault("final_snapshot_identifier", "c-final")
    return Cache(ref="arn:aws:elasticache:us-east-1:1:replicationgroup:c", name="c", **kw)


def test_rule() -> None:
    assert snapshot_retention(_c(retention=1), P).status == "pass"
    v = snapshot_retention(_c(retention=None), P)
    assert v.status == "fail" and "no automatic snapshots" in v.message
    assert v.remediation is not None
    assert "modify-replication-group" in (v.remediation.cli or "")
    assert "snapshot_retention_limit=1" in v.remediation.pulumi
    v = snapshot_retention(_c(retention=0, kind="cluster"), P)
    assert v.status == "fail" and "automatic snapshots are off" in v.message
    assert "modify-cache-cluster" in (v.remediation.cli or "")
    v = snapshot_retention(_c(retention=5, final_snapshot_identifier=None), P)
    assert v.status == "fail" and "finalSnapshotIdentifier is unset" in v.message
    assert snapshot_retention(_c(retention=3), {"minRetentionDays": 5}).status == "fail"
    assert snapshot_retention(_c(retention=UNKNOWN), P).status == "unknown"
    assert snapshot_retention(_c(retention=0, engine=UNKNOWN), P).status == "unknown"
    assert snapshot_retention(_c(retention=0, engine="valkey"), P).status == "fail"
    assert snapshot_retention(_c(retention=0, engine="memcached"), P) is None
    assert snapshot_retention(_c(retention=0, kind="cluster", group_member=True), P) is None
    assert snapshot_retention(_c(retention=0, group_member=UNKNOWN), P).status == "unknown"
    assert snapshot_retention(_c(retention="x"), P).status == "error"
    live = Cache(ref="x", name="c", retention=2, final_snapshot_applies=False)
    assert snapshot_retention(live, P).status == "pass"


# ---- deploy side: programs captured from pulumi-aws ----------------------------------------

def caches_kept() -> None:
    """A Redis replication group, a Valkey one and a standalone Redis cluster with snapshots;
    a memcached cluster (exempt) and a member cluster of the group (judged on the group)."""
    import pulumi_aws as aws

    group = aws.elasticache.ReplicationGroup(
        "sessions", replication_group_id="sessions", description="sessions",
        node_type="cache.t4g.small", num_cache_clusters=2, snapshot_retention_limit=7,
        final_snapshot_identifier="sessions-final")
    aws.elasticache.ReplicationGroup(
        "queues", replication_group_id="queues", description="queues", engine="valkey",
        node_type="cache.t4g.small", snapshot_retention_limit=1,
        final_snapshot_identifier="queues-final")
    aws.elasticache.Cluster("ratelimits", cluster_id="ratelimits", engine="redis",
                            node_type="cache.t4g.small", num_cache_nodes=1,
                            snapshot_retention_limit=3,
                            final_snapshot_identifier="ratelimits-final")
    aws.elasticache.Cluster("pages", cluster_id="pages", engine="memcached",
                            node_type="cache.t4g.small", num_cache_nodes=1)
    aws.elasticache.Cluster("sessions-extra", cluster_id="sessions-extra",
                            replication_group_id=group.id)


def caches_weak() -> None:
    """Default retention (0: none), no final snapshot; a Valkey cluster at 0."""
    import pulumi_aws as aws

    aws.elasticache.ReplicationGroup(
        "carts", replication_group_id="carts", description="carts",
        node_type="cache.t4g.small", num_cache_clusters=2)
    aws.elasticache.Cluster("tokens", cluster_id="tokens", engine="valkey",
                            node_type="cache.t4g.small", num_cache_nodes=1,
                            snapshot_retention_limit=0, final_snapshot_identifier="tokens-final")


@pytest.fixture(scope="module", params=[True, False], ids=["preview", "update"])
def mode(request: pytest.FixtureRequest) -> bool:
    return request.param


def test_pack_passes(analyzer, capture, mode) -> None:  # noqa: ANN001
    run = run_stack(analyzer, capture(caches_kept, preview=mode))
    assert run.by_policy(SNAPSHOT_RETENTION) == [], [
        d.message for d in run.by_policy(SNAPSHOT_RETENTION)]
    assert SNAPSHOT_RETENTION in analyzer.get_analyzer_info().names


def test_pack_fails(analyzer, capture, mode) -> None:  # noqa: ANN001
    cap = capture(caches_weak, preview=mode)
    run = run_stack(analyzer, cap)
    by_urn = {d.urn: d for d in run.by_policy(SNAPSHOT_RETENTION)}
    assert set(by_urn) == {cap.get("carts")["urn"], cap.get("tokens")["urn"]}
    carts = by_urn[cap.get("carts")["urn"]]
    assert "snapshotRetentionLimit is unset" in carts.message
    assert "finalSnapshotIdentifier is unset" in carts.message
    assert "Fix: Keep automatic snapshots of replication group carts" in carts.message
    tokens = by_urn[cap.get("tokens")["urn"]]
    assert "snapshotRetentionLimit is 0 (automatic snapshots are off)" in tokens.message


# ---- live side: the moto server ----------------------------------------------------------------

def test_live_groups_and_clusters(aws) -> None:  # noqa: ANN001
    ec = aws.client("elasticache", "us-east-1")
    ec.create_replication_group(ReplicationGroupId="kept", ReplicationGroupDescription="k",
                                Engine="redis", CacheNodeType="cache.t4g.small",
                                NumCacheClusters=1, SnapshotRetentionLimit=5)
    ec.create_replication_group(ReplicationGroupId="none", ReplicationGroupDescription="n",
                                Engine="redis", CacheNodeType="cache.t4g.small",
                                NumCacheClusters=1)
    ec.create_cache_cluster(CacheClusterId="solo", Engine="redis",
                            CacheNodeType="cache.t4g.small", NumCacheNodes=1,
                            SnapshotRetentionLimit=2)
    ec.create_cache_cluster(CacheClusterId="bare", Engine="redis",
                            CacheNodeType="cache.t4g.small", NumCacheNodes=1)
    ec.create_cache_cluster(CacheClusterId="memo", Engine="memcached",
                            CacheNodeType="cache.t4g.small", NumCacheNodes=1)
    findings = run_scan(aws, regions=["us-east-1"]).findings
    assert one(findings, SNAPSHOT_RETENTION, "replicationgroup:kept").status == "pass"
    f = one(findings, SNAPSHOT_RETENTION, "replicationgroup:none")
    assert f.status == "fail" and "off" in f.message
    assert "modify-replication-group --replication-group-id none" in f.remediation["cli"]
    assert one(findings, SNAPSHOT_RETENTION, "cluster:solo").status == "pass"
    f = one(findings, SNAPSHOT_RETENTION, "cluster:bare")
    assert f.status == "fail" and "modify-cache-cluster" in f.remediation["cli"]
    assert pick(findings, SNAPSHOT_RETENTION, "cluster:memo") == []  # memcached: exempt


def test_live_valkey(aws) -> None:  # noqa: ANN001
    ec = aws.client("elasticache", "us-east-1")
    ec.create_replication_group(ReplicationGroupId="vk", ReplicationGroupDescription="v",
                                Engine="valkey", CacheNodeType="cache.t4g.small",
                                NumCacheClusters=1, SnapshotRetentionLimit=0)
    ec.create_cache_cluster(CacheClusterId="vc", Engine="valkey",
                            CacheNodeType="cache.t4g.small", NumCacheNodes=1,
                            SnapshotRetentionLimit=1)
    findings = run_scan(aws, regions=["us-east-1"]).findings
    f = one(findings, SNAPSHOT_RETENTION, "replicationgroup:vk")
    assert f.status == "fail" and f.evidence["engine"] == "valkey"
    f = one(findings, SNAPSHOT_RETENTION, "cluster:vc")
    assert f.status == "pass" and f.evidence["engine"] == "valkey"


def test_live_fails_closed(aws, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    ec = aws.client("elasticache", "us-east-1")
    ec.create_cache_cluster(CacheClusterId="solo", Engine="redis",
                            CacheNodeType="cache.t4g.small", NumCacheNodes=1,
                            SnapshotRetentionLimit=2)
    denied = [Fault("denied", "elasticache", "DescribeReplicationGroups")]
    with FaultyProxy(aws.url, denied) as proxy:
        findings = run_scan(aws, regions=["us-east-1"], endpoint=proxy.url).findings
    f = one(findings, SNAPSHOT_RETENTION, "replicationgroup:*")
    assert f.status == "error" and "elasticache:DescribeReplicationGroups" in f.message
    assert one(findings, SNAPSHOT_RETENTION, "cluster:solo").status == "pass"
    with FaultyProxy(aws.url, [Fault("denied", "elasticache")]) as proxy:
        findings = run_scan(aws, regions=["us-east-1"], endpoint=proxy.url).findings
    assert {f.status for f in pick(findings, SNAPSHOT_RETENTION)} == {"error"}


# ---- logs side ---------------------------------------------------------------------------------

GROUP = "arn:aws:elasticache:us-east-1:111122223333:replicationgroup:sessions"
CLUSTER = "arn:aws:elasticache:us-east-1:111122223333:cluster:ratelimits"
# (name, record, expected (control, status) hits, the resource they name)
_CASES: list[tuple[str, dict[str, Any], set[tuple[str, str]], str]] = [
    ("group snapshots off", record("ModifyReplicationGroup", ELASTICACHE, {
        "replicationGroupId": "sessions", "snapshotRetentionLimit": 0,
        "applyImmediately": True}), {(SNAPSHOT_RETENTION, "fail")}, GROUP),
    ("group retention raised (near miss)", record("ModifyReplicationGroup", ELASTICACHE, {
        "replicationGroupId": "sessions", "snapshotRetentionLimit": 7}), set(), GROUP),
    ("cluster snapshots off", record("ModifyCacheCluster", ELASTICACHE, {
        "cacheClusterId": "ratelimits", "snapshotRetentionLimit": 0}),
     {(SNAPSHOT_RETENTION, "fail")}, CLUSTER),
    ("cluster resized (near miss)", record("ModifyCacheCluster", ELASTICACHE, {
        "cacheClusterId": "ratelimits", "numCacheNodes": 2}), set(), CLUSTER),
    ("group deleted without final snapshot", record("DeleteReplicationGroup", ELASTICACHE, {
        "replicationGroupId": "sessions", "retainPrimaryCluster": False}),
     {(SNAPSHOT_RETENTION, "fail")}, GROUP),
    ("group deleted with final snapshot (near miss)", record(
        "DeleteReplicationGroup", ELASTICACHE, {
            "replicationGroupId": "sessions", "finalSnapshotIdentifier": "sessions-final"}),
     set(), GROUP),
]


# the shape tests/test_logs_detections.py gathers from every control's module
LOG_CASES = [(n, r, e) for n, r, e, _ in _CASES]


@pytest.mark.parametrize("rec,expected,arn", [(r, e, a) for _, r, e, a in _CASES],
                         ids=[c[0] for c in _CASES])
def test_logs(rec: dict[str, Any], expected: set[tuple[str, str]], arn: str) -> None:
    from auditor.logs import reader
    from auditor.logs.detect import Detector
    from drguard.settings import Settings

    assert reader.check(rec) is None
    hits = list(Detector(Settings()).hits(rec))
    assert {(h.control, h.status) for h in hits} == expected
    for h in hits:
        assert h.resource == arn


# ---- the example stacks ---------------------------------------------------------------------

DB_SECRET = {"config": {"dbPassword": "pw-Zq81-secret"}, "secrets": ["dbPassword"]}


def test_example_stacks(analyzer, capture, mode) -> None:  # noqa: ANN001
    ready = capture("examples/dr-ready-stack", preview=mode, **DB_SECRET)
    assert ready.get("sessions")["type"] == "aws:elasticache/replicationGroup:ReplicationGroup"
    assert run_stack(analyzer, ready).by_policy(SNAPSHOT_RETENTION) == []
    drifting = capture("examples/drifting-stack", preview=mode, **DB_SECRET)
    (d,) = run_stack(analyzer, drifting).by_policy(SNAPSHOT_RETENTION)
    assert d.urn == drifting.get("sessions")["urn"]
    assert "snapshotRetentionLimit is 0" in d.message
