"""recovery-point-objective against the moto server: every kind of resource, pass and fail both
ways (age against the parameter and against the dr:rpo tag), a malformed tag, unreadable
sources, the HTML/Markdown table and the JSON fields."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from auditor.reports import write_reports
from drguard.controls.rpo import parse_rpo
from tests.faulty_proxy import Fault, FaultyProxy
from tests.live_support import bucket, db, one, pick, replicate, run_scan

RPO = "recovery-point-objective"
LATER = dt.timedelta(hours=30)  # every recovery point made "now" is 30 h old then


def now(later: dt.timedelta = dt.timedelta(0)) -> dt.datetime:
    return dt.datetime.now(dt.UTC) + later


def seed(aws: Any) -> None:
    db(aws, "orders")                                         # RDS instance (PITR + snapshot)
    db(aws, "ledger", Tags=[{"Key": "dr:rpo", "Value": "2d"}])
    db(aws, "bad-tag", Tags=[{"Key": "dr:rpo", "Value": "soon"}])
    rds = aws.client("rds")
    rds.create_db_cluster(DBClusterIdentifier="payments", Engine="aurora-postgresql",
                          MasterUsername="admin", MasterUserPassword="password-123")
    rds.create_db_cluster(DBClusterIdentifier="graph", Engine="neptune",
                          MasterUsername="admin", MasterUserPassword="password-123")
    # A copy of orders' snapshot in the DR region.
    rds.create_db_snapshot(DBInstanceIdentifier="orders", DBSnapshotIdentifier="orders-1")
    aws.client("rds", "us-west-2").copy_db_snapshot(
        SourceDBSnapshotIdentifier="arn:aws:rds:us-east-1:123456789012:snapshot:orders-1",
        TargetDBSnapshotIdentifier="orders-1", SourceRegion="us-east-1")
    rsh = aws.client("redshift")
    rsh.create_cluster(ClusterIdentifier="warehouse", NodeType="dc2.large",
                       MasterUsername="admin", MasterUserPassword="Password123",
                       ClusterType="single-node")
    ddb = aws.client("dynamodb")
    for name in ("carts", "sessions"):
        ddb.create_table(TableName=name, BillingMode="PAY_PER_REQUEST",
                         KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
                         AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}])
    ddb.update_continuous_backups(TableName="carts", PointInTimeRecoverySpecification={
        "PointInTimeRecoveryEnabled": True})
    s3 = bucket(aws, "db-backups", versioned=True)
    s3.put_object(Bucket="db-backups", Key="nightly.dump", Body=b"x")
    bucket(aws, "empty-backups", versioned=True)
    bucket(aws, "dr-backups", region="us-west-2", versioned=True).put_object(
        Bucket="dr-backups", Key="nightly.dump", Body=b"x")
    replicate(s3, "db-backups", "dr-backups")


def test_rpo_passes_when_recent_and_fails_when_older_than_the_target(aws: Any) -> None:
    seed(aws)
    fresh = run_scan(aws, now=now()).findings
    stale = run_scan(aws, now=now(LATER)).findings
    # Recent recovery points pass; 30 h later the 24 h default fails them.
    for res in ("db:orders", "cluster:payments", "cluster:graph", "cluster:warehouse",
                "table/carts", ":::db-backups", ":::dr-backups"):
        assert one(fresh, RPO, res).status == "pass", one(fresh, RPO, res).message
        f = one(stale, RPO, res)
        assert f.status == "fail", f.message
        assert "older than the target RPO of 24 h (targetRpoHours)" in f.message
        assert f.remediation and f.remediation["summary"]
    # The dr:rpo tag overrides the parameter both ways.
    tagged = one(stale, RPO, "db:ledger")
    assert tagged.status == "pass" and tagged.evidence["targetFrom"] == "tag dr:rpo"
    assert tagged.evidence["targetRpoHours"] == 48
    # No recovery point at all: a table without PITR or backups, an empty backup bucket.
    for res in ("table/sessions", ":::empty-backups"):
        f = one(fresh, RPO, res)
        assert f.status == "fail" and "has no recovery point at all" in f.message
    # A malformed tag is an error naming it.
    bad = one(fresh, RPO, "db:bad-tag")
    assert bad.status == "error" and "dr:rpo='soon'" in bad.message


def test_rpo_evidence_shows_in_region_and_other_region(aws: Any) -> None:
    seed(aws)
    findings = run_scan(aws, now=now(dt.timedelta(hours=2))).findings
    ev = one(findings, RPO, "db:orders").evidence
    assert ev["inRegion"]["region"] == "us-east-1" and ev["otherRegion"]["region"] == "us-west-2"
    assert ev["otherRegion"]["kind"] == "snapshot"
    assert 1.5 <= ev["achievedRpoHours"] <= 2.5 and ev["targetRpoHours"] == 24
    bev = one(findings, RPO, ":::db-backups").evidence
    assert bev["inRegion"]["kind"] == "newest object"
    assert bev["otherRegion"] == {**bev["otherRegion"], "kind": "replica",
                                  "region": "us-west-2"}
    # No copy in another region: shown as such, not a failure of this control.
    ev = one(findings, RPO, "table/carts").evidence
    assert ev["otherRegion"] is None and ev["inRegion"]["kind"] == "point-in-time recovery"


def test_rpo_parameter_changes_the_target(aws: Any) -> None:
    seed(aws)
    findings = run_scan(aws, now=now(LATER),
                        config={"controls": {RPO: {"targetRpoHours": 36}}}).findings
    assert one(findings, RPO, "db:orders").status == "pass"


def test_state_backend_rpo_is_the_lag_of_its_copies(aws: Any, monkeypatch: pytest.MonkeyPatch
                                                   ) -> None:
    s3 = bucket(aws, "pulumi-state", versioned=True)
    s3.put_object(Bucket="pulumi-state", Key=".pulumi/stacks/shop/prod.json", Body=b"{}")
    monkeypatch.setenv("PULUMI_BACKEND_URL", "s3://pulumi-state")
    f = one(run_scan(aws, now=now(dt.timedelta(days=30))).findings, RPO, ":::pulumi-state")
    # An idle stack is not a stale backup: the newest checkpoint version is the state itself.
    assert f.status == "pass" and f.evidence["inRegion"]["kind"] == "checkpoint version"
    assert f.evidence["inRegion"]["age_hours"] == 0


def test_unreadable_sources_are_errors_never_passes(aws: Any) -> None:
    seed(aws)
    faults = [Fault("denied", service="redshift"),
              Fault("denied", service="dynamodb", operation="ListBackups"),
              Fault("denied", service="dynamodb", operation="DescribeContinuousBackups")]
    with FaultyProxy(aws.url, faults) as proxy:
        findings = run_scan(aws, endpoint=proxy.url, now=now(LATER)).findings
    denied = pick(findings, RPO, "cluster:*")  # the Redshift listing of each region
    assert len(denied) == 2 and all(f.status == "error" for f in denied)
    for table in ("table/carts", "table/sessions"):
        f = one(findings, RPO, table)
        assert f.status == "error" and "could not be read" in f.message, f.message
    # What does not depend on them is still judged.
    assert one(findings, RPO, "db:orders").status == "fail"


def test_rpo_table_in_html_markdown_and_json(aws: Any, tmp_path: Path) -> None:
    seed(aws)
    result = run_scan(aws, now=now())
    paths = write_reports(result.findings, result.run, tmp_path, ["json", "html", "md"])
    html = paths["html"].read_text()
    assert 'id="rpo-table"' in html and "Recovery points (achieved RPO)" in html
    assert "arn:aws:dynamodb:us-east-1:123456789012:table/carts" in html
    md = paths["md"].read_text()
    assert "### Recovery points (achieved RPO)" in md and "| none |" in md
    doc = json.loads(paths["json"].read_text())
    rows = [f for f in doc["findings"] if f["control"] == RPO]
    assert rows and all({"targetRpoHours", "inRegion", "otherRegion", "achievedRpoHours"}
                        <= set(f["evidence"]) for f in rows if f["status"] != "error")
    assert len(pick(result.findings, RPO)) == len(rows)


@pytest.mark.parametrize("text, hours", [("4h", 4), ("2d", 48), ("90m", 1.5), ("1w", 168),
                                         (" 12 H ", 12)])
def test_parse_rpo(text: str, hours: float) -> None:
    assert parse_rpo(text) == hours


@pytest.mark.parametrize("text", ["", "4", "soon", "-1h", "0h", "4 hours", "1.2.3d"])
def test_parse_rpo_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_rpo(text)


def test_demo_shows_the_rpo_table(tmp_path: Path) -> None:
    from auditor.cli import main

    assert main(["demo", "--output-dir", str(tmp_path)]) in (0, 1)
    md = (tmp_path / "report.md").read_text()
    assert "### Recovery points (achieved RPO)" in md
    doc = json.loads((tmp_path / "report.json").read_text())
    rows = {f["resource"].rsplit(":", 1)[-1]: f for f in doc["findings"] if f["control"] == RPO}
    assert rows["table/feature-flags"]["status"] == "fail"   # no PITR, no backup
    assert rows["acme-db-exports"]["status"] == "fail"       # an empty backup bucket
    assert rows["orders-db"]["evidence"]["otherRegion"]["region"] == "us-west-2"
    assert rows["analytics"]["evidence"]["targetFrom"] == "tag dr:rpo"
    assert not any(f["status"] == "error" for f in rows.values())
    assert 'id="rpo-table"' in (tmp_path / "report.html").read_text()
