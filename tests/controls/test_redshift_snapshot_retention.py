"""redshift-snapshot-retention, every side: the rule, the pack over gRPC (programs captured from
pulumi-aws, preview and update), the live scan against the moto server, and CloudTrail.

moto serves DescribeClusters with AutomatedSnapshotRetentionPeriod (default 1, as AWS); its
CreateCluster turns a retention of 0 into 1, so the disabled case is set by ModifyCluster. The
final snapshot is a parameter of DeleteCluster, not a cluster attribute: live judges retention
only, and the final snapshot is covered at deploy time and in logs.
"""

from __future__ import annotations

from typing import Any

import pytest

from auditor.logs.samples import record
from drguard.controls.redshift import SNAPSHOT_RETENTION, Warehouse, snapshot_retention
from drguard.facts import UNKNOWN
from tests.faulty_proxy import Fault, FaultyProxy
from tests.harness.analyzer import run_stack
from tests.live_support import one, run_scan

REDSHIFT = "redshift.amazonaws.com"
PROTECT = "stateful-resource-protect"
P = {"minRetentionDays": 7}


# ---- the rule ----------------------------------------------------------------------------------

def _wh(**kw: Any) -> Warehouse:
    kw.setdefault("skip_final_snapshot", False)
    kw.setdefault("final_snapshot_identifier", "wh-final")
    return Warehouse(ref="arn:aws:redshift:us-east-1:1:cluster:wh", name="wh", **kw)


def test_rule() -> None:
    assert snapshot_retention(_wh(retention=7), P).status == "pass"
    v = snapshot_retention(_wh(retention=None), P)
    assert v.status == "fail" and "unset, so AWS keeps automated snapshots for 1 day" in v.message
    assert v.remediation is not None and "--automated-snapshot-retention-period 7" in (
        v.remediation.cli or "")
    assert "automated_snapshot_retention_period=7" in v.remediation.pulumi
    v = snapshot_retention(_wh(retention=0), P)
    assert v.status == "fail" and "disabled" in v.message
    v = snapshot_retention(_wh(retention=10, skip_final_snapshot=True), P)
    assert v.status == "fail" and "skipFinalSnapshot is true" in v.message
    v = snapshot_retention(_wh(retention=10, final_snapshot_identifier=None), P)
    assert v.status == "fail" and "finalSnapshotIdentifier is unset" in v.message
    assert snapshot_retention(_wh(retention=UNKNOWN), P).status == "unknown"
    assert snapshot_retention(_wh(retention=1, skip_final_snapshot=UNKNOWN), P).status == "fail"
    assert snapshot_retention(_wh(retention="seven"), P).status == "error"
    # live: delete-time settings are not visible, retention alone decides
    live = Warehouse(ref="x", name="wh", retention=7, final_snapshot_applies=False)
    assert snapshot_retention(live, P).status == "pass"
    assert snapshot_retention(live, {"minRetentionDays": 8}).status == "fail"
    assert _wh().stateful()


# ---- deploy side: programs captured from pulumi-aws ----------------------------------------

def redshift_kept() -> None:
    import pulumi
    import pulumi_aws as aws

    aws.redshift.Cluster("warehouse", cluster_identifier="warehouse", node_type="ra3.xlplus",
                         master_username="admin", manage_master_password=True,
                         automated_snapshot_retention_period=14,
                         final_snapshot_identifier="warehouse-final",
                         opts=pulumi.ResourceOptions(protect=True))


def redshift_weak() -> None:
    """The weak cluster users write: skip_final_snapshot=True and the 1-day default retention; and a
    cluster with retention 3 and no final snapshot identifier."""
    import pulumi_aws as aws

    aws.redshift.Cluster("scratch", cluster_identifier="scratch", node_type="ra3.xlplus",
                         master_username="admin", manage_master_password=True,
                         skip_final_snapshot=True)
    aws.redshift.Cluster("short", cluster_identifier="short", node_type="ra3.xlplus",
                         master_username="admin", manage_master_password=True,
                         automated_snapshot_retention_period=3)


@pytest.fixture(scope="module", params=[True, False], ids=["preview", "update"])
def mode(request: pytest.FixtureRequest) -> bool:
    return request.param


def test_pack_passes(analyzer, capture, mode) -> None:  # noqa: ANN001
    run = run_stack(analyzer, capture(redshift_kept, preview=mode))
    assert run.by_policy(SNAPSHOT_RETENTION) == [], [
        d.message for d in run.by_policy(SNAPSHOT_RETENTION)]
    assert run.by_policy(PROTECT) == []
    assert SNAPSHOT_RETENTION in analyzer.get_analyzer_info().names


def test_pack_fails(analyzer, capture, mode) -> None:  # noqa: ANN001
    cap = capture(redshift_weak, preview=mode)
    run = run_stack(analyzer, cap)
    by_urn = {d.urn: d for d in run.by_policy(SNAPSHOT_RETENTION)}
    scratch = by_urn[cap.get("scratch")["urn"]]
    assert "unset, so AWS keeps automated snapshots for 1 day" in scratch.message
    assert "skipFinalSnapshot is true" in scratch.message
    assert scratch.enforcement_level == "mandatory"
    assert "Fix: Keep automated snapshots of Redshift cluster scratch" in scratch.message
    short = by_urn[cap.get("short")["urn"]]
    assert "automatedSnapshotRetentionPeriod is 3 days" in short.message
    assert "finalSnapshotIdentifier is unset" in short.message
    # stateful: an unprotected cluster fails stateful-resource-protect
    assert {d.urn for d in run.by_policy(PROTECT)} >= set(by_urn)


# ---- live side: the moto server ----------------------------------------------------------------

def _cluster(aws: Any, name: str, **kw: Any) -> None:
    aws.client("redshift", "us-east-1").create_cluster(
        ClusterIdentifier=name, NodeType="ra3.xlplus", ClusterType="single-node",
        MasterUsername="admin", MasterUserPassword="Passw0rd-x", **kw)


def test_live_retention(aws) -> None:  # noqa: ANN001
    _cluster(aws, "kept", AutomatedSnapshotRetentionPeriod=14)
    _cluster(aws, "default")
    _cluster(aws, "off")
    # moto's CreateCluster turns a retention of 0 into its default 1; ModifyCluster keeps 0.
    aws.client("redshift", "us-east-1").modify_cluster(ClusterIdentifier="off",
                                                       AutomatedSnapshotRetentionPeriod=0)
    findings = run_scan(aws, regions=["us-east-1"]).findings
    f = one(findings, SNAPSHOT_RETENTION, "cluster:kept")
    assert f.status == "pass" and f.evidence["automatedSnapshotRetentionPeriod"] == 14
    f = one(findings, SNAPSHOT_RETENTION, "cluster:default")
    assert f.status == "fail" and "is 1 day" in f.message
    f = one(findings, SNAPSHOT_RETENTION, "cluster:off")
    assert f.status == "fail" and "disabled" in f.message
    assert f.remediation is not None
    assert "modify-cluster --cluster-identifier off" in f.remediation["cli"]
    strict = run_scan(aws, regions=["us-east-1"],
                      config={"controls": {SNAPSHOT_RETENTION: {"minRetentionDays": 20}}})
    assert one(strict.findings, SNAPSHOT_RETENTION, "cluster:kept").status == "fail"


def test_live_fails_closed(aws, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    _cluster(aws, "hidden", AutomatedSnapshotRetentionPeriod=14)
    with FaultyProxy(aws.url, [Fault("denied", "redshift")]) as proxy:
        findings = run_scan(aws, regions=["us-east-1"], endpoint=proxy.url).findings
    f = one(findings, SNAPSHOT_RETENTION, "cluster:*")
    assert f.status == "error" and "redshift:DescribeClusters" in f.message
    assert not [x for x in findings if x.control == SNAPSHOT_RETENTION and x.status == "pass"]


# ---- logs side ---------------------------------------------------------------------------------

ARN = "arn:aws:redshift:us-east-1:111122223333:cluster:warehouse"
# (name, record, expected (control, status) hits, the resource they name)
_CASES: list[tuple[str, dict[str, Any], set[tuple[str, str]], str]] = [
    ("retention lowered", record("ModifyCluster", REDSHIFT, {
        "clusterIdentifier": "warehouse", "automatedSnapshotRetentionPeriod": 1}),
     {(SNAPSHOT_RETENTION, "fail")}, ARN),
    ("retention raised (near miss)", record("ModifyCluster", REDSHIFT, {
        "clusterIdentifier": "warehouse", "automatedSnapshotRetentionPeriod": 14}), set(), ARN),
    ("resize only (near miss)", record("ModifyCluster", REDSHIFT, {
        "clusterIdentifier": "warehouse", "numberOfNodes": 4}), set(), ARN),
    ("deleted without final snapshot", record("DeleteCluster", REDSHIFT, {
        "clusterIdentifier": "warehouse", "skipFinalClusterSnapshot": True}),
     {(SNAPSHOT_RETENTION, "fail")}, ARN),
    ("deleted with final snapshot (near miss)", record("DeleteCluster", REDSHIFT, {
        "clusterIdentifier": "warehouse", "skipFinalClusterSnapshot": False,
        "finalClusterSnapshotIdentifier": "warehouse-final"}), set(), ARN),
    ("snapshot deleted", record("DeleteClusterSnapshot", REDSHIFT, {
        "snapshotIdentifier": "nightly", "snapshotClusterIdentifier": "warehouse"}),
     {(SNAPSHOT_RETENTION, "fail")},
     "arn:aws:redshift:us-east-1:111122223333:snapshot:warehouse/nightly"),
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
    assert ready.get("warehouse")["type"] == "aws:redshift/cluster:Cluster"
    assert run_stack(analyzer, ready).by_policy(SNAPSHOT_RETENTION) == []
    drifting = capture("examples/drifting-stack", preview=mode, **DB_SECRET)
    run = run_stack(analyzer, drifting)
    urn = drifting.get("warehouse")["urn"]
    (d,) = run.by_policy(SNAPSHOT_RETENTION)
    assert d.urn == urn and "skipFinalSnapshot is true" in d.message
    assert urn in {x.urn for x in run.by_policy(PROTECT)}
