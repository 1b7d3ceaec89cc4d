"""DocumentDB and Neptune clusters under rds-backup-retention, rds-deletion-protection,
rds-final-snapshot and stateful-resource-protect: the pack over gRPC (programs captured from
pulumi-aws, preview and update), the live scan against the moto server, and CloudTrail.

Both are served by the RDS API: DescribeDBClusters lists them with every other engine (the
collector does not filter engines), and their management calls are logged with eventSource
rds.amazonaws.com, so ModifyDBCluster/DeleteDBCluster detections apply as for Aurora. moto has
no DocumentDB or Neptune service of its own; its RDS backend creates `neptune` clusters but
rejects engine `docdb`, so DocumentDB clusters are a canned DescribeDBClusters answer (XML, the
RDS query API's shape) through tests/faulty_proxy.py `reply`. The final snapshot is a parameter
of DeleteDBCluster: live judges retention and deletion protection.
"""

from __future__ import annotations

from typing import Any

import pytest

from auditor.logs.samples import record
from drguard.controls.rds import Database, backup_retention, deletion_protection, final_snapshot
from tests.faulty_proxy import Fault, FaultyProxy
from tests.harness.analyzer import run_stack
from tests.live_support import one, run_scan

RDS = "rds.amazonaws.com"
RETENTION, DELETION, FINAL = "rds-backup-retention", "rds-deletion-protection", \
    "rds-final-snapshot"
PROTECT = "stateful-resource-protect"
CONTROLS = (RETENTION, DELETION, FINAL, PROTECT)


def test_rule_names_the_engine_and_its_own_cli() -> None:
    docs = Database(ref="x", name="docs", kind="cluster", engine="docdb", backup_retention=1,
                    deletion_protection=False)
    v = backup_retention(docs, {"minRetentionDays": 7, "checkReadReplicas": False})
    assert v.status == "fail" and v.message.startswith("DocumentDB cluster 'docs'")
    assert v.remediation.cli.startswith("aws docdb modify-db-cluster --db-cluster-identifier docs")
    assert v.remediation.pulumi.startswith('aws.docdb.Cluster("docs"')
    graph = Database(ref="x", name="graph", kind="cluster", engine="neptune",
                     deletion_protection=None)
    v = deletion_protection(graph)
    assert v.status == "fail" and v.message.startswith("Neptune cluster 'graph'")
    assert v.remediation.cli.startswith("aws neptune modify-db-cluster")
    graph.skip_final_snapshot = True
    v = final_snapshot(graph)
    assert v.status == "fail" and "aws.neptune.Cluster" in v.remediation.pulumi
    aurora = Database(ref="x", name="ledger", kind="cluster", engine="aurora-postgresql",
                      deletion_protection=False)
    assert deletion_protection(aurora).remediation.cli.startswith("aws rds modify-db-cluster")


# ---- deploy side: programs captured from pulumi-aws ----------------------------------------

def clusters_protected() -> None:
    import pulumi
    import pulumi_aws as aws

    keep = pulumi.ResourceOptions(protect=True)
    docs = aws.docdb.Cluster("docs", cluster_identifier="docs", master_username="app",
                             master_password="pw-docdb-123", backup_retention_period=7,
                             deletion_protection=True, skip_final_snapshot=False,
                             final_snapshot_identifier="docs-final", opts=keep)
    aws.docdb.ClusterInstance("docs-1", cluster_identifier=docs.id,
                              instance_class="db.r6g.large", opts=keep)
    graph = aws.neptune.Cluster("graph", cluster_identifier="graph", backup_retention_period=14,
                                deletion_protection=True,
                                final_snapshot_identifier="graph-final", opts=keep)
    aws.neptune.ClusterInstance("graph-1", cluster_identifier=graph.id,
                                instance_class="db.r6g.large", opts=keep)


def clusters_exposed() -> None:
    """Defaults everywhere (1-day retention, no deletion protection, not protected); DocumentDB
    skips its final snapshot, Neptune has no identifier for it."""
    import pulumi_aws as aws

    aws.docdb.Cluster("docs", cluster_identifier="docs", master_username="app",
                      master_password="pw-docdb-123", skip_final_snapshot=True)
    aws.neptune.Cluster("graph", cluster_identifier="graph")


@pytest.fixture(scope="module", params=[True, False], ids=["preview", "update"])
def mode(request: pytest.FixtureRequest) -> bool:
    return request.param


def test_pack_passes(analyzer, capture, mode) -> None:  # noqa: ANN001
    run = run_stack(analyzer, capture(clusters_protected, preview=mode))
    hits = [d for d in run.diagnostics if d.policy_name in CONTROLS]
    assert hits == [], [(d.policy_name, d.message) for d in hits]


def test_pack_fails(analyzer, capture, mode) -> None:  # noqa: ANN001
    cap = capture(clusters_exposed, preview=mode)
    run = run_stack(analyzer, cap)
    docs, graph = cap.get("docs")["urn"], cap.get("graph")["urn"]
    for control in CONTROLS:
        assert {d.urn for d in run.by_policy(control)} >= {docs, graph}, control
    (d,) = [d for d in run.by_policy(RETENTION) if d.urn == docs]
    assert "DocumentDB cluster 'docs' keeps automated backups for too short a time: " \
           "backupRetentionPeriod is unset, so AWS keeps backups for 1 day" in d.message
    assert "Fix: Keep automated backups of docs for 7 days" in d.message
    (d,) = [d for d in run.by_policy(FINAL) if d.urn == docs]
    assert "skipFinalSnapshot is true" in d.message
    (d,) = [d for d in run.by_policy(FINAL) if d.urn == graph]
    assert "finalSnapshotIdentifier is unset" in d.message and "Neptune cluster" in d.message
    # no deleteAutomatedBackups on these types: never blamed for it
    assert not [d for d in run.by_policy(FINAL) if "deleteAutomatedBackups" in d.message]


# ---- live side: the moto server ----------------------------------------------------------------

def _cluster(aws: Any, name: str, engine: str, **kw: Any) -> None:
    aws.client("rds", "us-east-1").create_db_cluster(
        DBClusterIdentifier=name, Engine=engine, MasterUsername="app",
        MasterUserPassword="password-123", **kw)


def _xml_cluster(name: str, engine: str, retention: int, protected: bool) -> str:
    return (f"<DBCluster><DBClusterIdentifier>{name}</DBClusterIdentifier>"
            f"<DBClusterArn>arn:aws:rds:us-east-1:123456789012:cluster:{name}</DBClusterArn>"
            f"<Engine>{engine}</Engine><BackupRetentionPeriod>{retention}"
            f"</BackupRetentionPeriod><DeletionProtection>{str(protected).lower()}"
            "</DeletionProtection></DBCluster>")


def test_live_neptune(aws) -> None:  # noqa: ANN001
    _cluster(aws, "graph-ok", "neptune", BackupRetentionPeriod=10, DeletionProtection=True)
    _cluster(aws, "graph-weak", "neptune")
    findings = run_scan(aws, regions=["us-east-1"]).findings
    assert one(findings, RETENTION, "cluster:graph-ok").status == "pass"
    assert one(findings, DELETION, "cluster:graph-ok").status == "pass"
    f = one(findings, DELETION, "cluster:graph-weak")
    assert f.status == "fail" and f.message.startswith("Neptune cluster 'graph-weak'")
    assert f.remediation["cli"].startswith("aws neptune modify-db-cluster")
    f = one(findings, RETENTION, "cluster:graph-weak")
    assert f.status == "fail" and "is 1 day" in f.message


def test_live_docdb_canned(aws) -> None:  # noqa: ANN001
    """moto's CreateDBCluster rejects engine docdb: DescribeDBClusters is a canned XML answer
    (the RDS API's shape) listing two DocumentDB clusters."""
    body = ('<DescribeDBClustersResponse xmlns="http://rds.amazonaws.com/doc/2014-10-31/">'
            "<DescribeDBClustersResult><DBClusters>"
            + _xml_cluster("docs-ok", "docdb", 7, True)
            + _xml_cluster("docs-weak", "docdb", 1, False)
            + "</DBClusters></DescribeDBClustersResult></DescribeDBClustersResponse>")
    faults = [Fault("reply", "rds", "DescribeDBClusters", reply=body)]
    with FaultyProxy(aws.url, faults) as proxy:
        findings = run_scan(aws, regions=["us-east-1"], endpoint=proxy.url).findings
    assert ("rds", "DescribeDBClusters") in proxy.seen
    assert one(findings, RETENTION, "cluster:docs-ok").status == "pass"
    assert one(findings, DELETION, "cluster:docs-ok").status == "pass"
    f = one(findings, RETENTION, "cluster:docs-weak")
    assert f.status == "fail" and f.message.startswith("DocumentDB cluster 'docs-weak'")
    assert f.remediation["cli"].startswith("aws docdb modify-db-cluster")
    assert one(findings, DELETION, "cluster:docs-weak").status == "fail"


# ---- logs side ---------------------------------------------------------------------------------

ARN = "arn:aws:rds:us-east-1:111122223333:cluster:docs"
LOG_CASES: list[tuple[str, dict[str, Any], set[tuple[str, str]]]] = [
    ("docdb retention lowered", record("ModifyDBCluster", RDS, {
        "dBClusterIdentifier": "docs", "backupRetentionPeriod": 1}),
     {(RETENTION, "fail")}),
    ("neptune deletion protection off", record("ModifyDBCluster", RDS, {
        "dBClusterIdentifier": "docs", "deletionProtection": False}),
     {(DELETION, "fail")}),
    ("docdb deleted without final snapshot", record("DeleteDBCluster", RDS, {
        "dBClusterIdentifier": "docs", "skipFinalSnapshot": True}),
     {(DELETION, "fail"), (FINAL, "fail")}),
    ("docdb retention raised (near miss)", record("ModifyDBCluster", RDS, {
        "dBClusterIdentifier": "docs", "backupRetentionPeriod": 14}), set()),
]


@pytest.mark.parametrize("rec,expected", [(r, e) for _, r, e in LOG_CASES],
                         ids=[c[0] for c in LOG_CASES])
def test_logs(rec: dict[str, Any], expected: set[tuple[str, str]]) -> None:
    from auditor.logs import reader
    from auditor.logs.detect import Detector
    from drguard.settings import Settings

    assert reader.check(rec) is None
    hits = list(Detector(Settings()).hits(rec))
    assert {(h.control, h.status) for h in hits} == expected
    for h in hits:
        assert h.resource == ARN


# ---- the example stacks ---------------------------------------------------------------------

DB_SECRET = {"config": {"dbPassword": "pw-Zq81-secret"}, "secrets": ["dbPassword"]}


def test_example_stacks(analyzer, capture, mode) -> None:  # noqa: ANN001
    ready = capture("examples/dr-ready-stack", preview=mode, **DB_SECRET)
    names = ("catalog-docs", "social-graph")
    run = run_stack(analyzer, ready)
    urns = {ready.get(n)["urn"] for n in names}
    assert not [d for d in run.diagnostics if d.urn in urns]
    drifting = capture("examples/drifting-stack", preview=mode, **DB_SECRET)
    run = run_stack(analyzer, drifting)
    for n in names:
        urn = drifting.get(n)["urn"]
        for control in CONTROLS:
            assert urn in {d.urn for d in run.by_policy(control)}, (n, control)
