"""`dr-audit drill rds|state|s3` end to end against the moto server over HTTP.

Each drill restores, verifies, times and cleans up; the failure paths (nothing to restore, a
restore failing midway, an interrupted run, verification failure, slower than --rto) still
clean up; originals are described before and after and must not change.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from auditor.aws import MutatingCallError
from auditor.cli import main
from auditor.demo_seed import create_bucket
from auditor.drill import plan as drill_plan
from auditor.drill.rds import RdsDrill
from tests.faulty_proxy import Fault, FaultyProxy

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = json.loads((ROOT / "tests/data/pulumi-deployment-v3.schema.json").read_text())
FAST = ["--poll-seconds", "0.05", "--yes"]


# ---- seeding ------------------------------------------------------------------------------------

def seed_db(aws: Any, name: str = "orders", region: str = "us-east-1",
            snapshot: bool = True, retention: int = 7) -> Any:
    rds = aws.client("rds", region)
    rds.create_db_instance(DBInstanceIdentifier=name, Engine="postgres",
                           DBInstanceClass="db.t3.micro", AllocatedStorage=20,
                           MasterUsername="admin", MasterUserPassword="secret123",
                           DeletionProtection=True, BackupRetentionPeriod=retention,
                           Tags=[{"Key": "team", "Value": "payments"}])
    if snapshot:
        rds.create_db_snapshot(DBInstanceIdentifier=name, DBSnapshotIdentifier=f"{name}-snap-1")
    return rds


def rds_world(aws: Any, regions: tuple[str, ...] = ("us-east-1", "us-west-2")) -> dict[str, Any]:
    """Everything RDS holds (instances with their settings, snapshots, tags) per region."""
    out: dict[str, Any] = {}
    for region in regions:
        rds = aws.client("rds", region)
        insts = rds.describe_db_instances()["DBInstances"]
        out[region] = {
            "instances": sorted(
                (d["DBInstanceIdentifier"], d["DBInstanceStatus"], d["Engine"],
                 d["AllocatedStorage"], d["DeletionProtection"], d["BackupRetentionPeriod"],
                 json.dumps(d.get("TagList"), sort_keys=True)) for d in insts),
            "snapshots": sorted((s["DBSnapshotIdentifier"], s["Status"])
                                for s in rds.describe_db_snapshots()["DBSnapshots"])}
    return out


def scratch_left(world: dict[str, Any]) -> list[str]:
    return [n for r in world.values() for n, *_ in [*r["instances"], *r["snapshots"]]
            if n.startswith("drguard-drill-")]


def deployment(stack: str = "prod", project: str = "shop", n: int = 3,
               pending: bool = False) -> dict[str, Any]:
    """A checkpoint document as the diy backend writes it (`checkpoint.latest` = deployment)."""
    def urn(t: str, name: str) -> str:
        return f"urn:pulumi:{stack}::{project}::{t}::{name}"
    stack_urn = urn("pulumi:pulumi:Stack", f"{project}-{stack}")
    prov = urn("pulumi:providers:aws", "default_7_0_0")
    resources: list[dict[str, Any]] = [
        {"urn": stack_urn, "custom": False, "type": "pulumi:pulumi:Stack"},
        {"urn": prov, "custom": True, "id": "prov-1", "type": "pulumi:providers:aws",
         "parent": stack_urn}]
    for i in range(n):
        resources.append({"urn": urn("aws:s3/bucket:Bucket", f"b{i}"), "custom": True,
                          "id": f"bucket-{i}", "type": "aws:s3/bucket:Bucket",
                          "parent": stack_urn, "provider": f"{prov}::prov-1",
                          "dependencies": [prov], "outputs": {"bucket": f"bucket-{i}"}})
    dep: dict[str, Any] = {"manifest": {"time": "2026-11-30T10:00:00Z", "magic": "a" * 64,
                                        "version": "v3.272.0"},
                           "resources": resources}
    if pending:
        dep["pending_operations"] = [{"resource": resources[-1], "type": "creating"}]
    return {"version": 3, "checkpoint": {"stack": f"organization/{project}/{stack}",
                                         "latest": dep}}


def versions(s3: Any, bucket: str) -> list[tuple[str, str, bool, str]]:
    out = []
    resp = s3.list_object_versions(Bucket=bucket)
    for v in resp.get("Versions") or ():
        out.append((v["Key"], v["VersionId"], v["IsLatest"], v["ETag"]))
    for m in resp.get("DeleteMarkers") or ():
        out.append((m["Key"], m["VersionId"], m["IsLatest"], "marker"))
    return sorted(out)


def state_bucket(aws: Any, docs: list[dict[str, Any] | None], bucket: str = "pulumi-state",
                 key: str = ".pulumi/stacks/shop/prod.json", lock: bool = False) -> Any:
    s3 = create_bucket(aws.client("s3"), bucket, "us-east-1", lock=lock)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    for d in docs:
        if d is None:
            s3.delete_object(Bucket=bucket, Key=key)
        else:
            s3.put_object(Bucket=bucket, Key=key, Body=json.dumps(d).encode())
    return s3


def report(out: Path) -> dict[str, Any]:
    return json.loads((out / "drill.json").read_text())


# ---- rds -----------------------------------------------------------------------------------------

def test_rds_drill_restores_verifies_times_and_cleans_up(aws: Any, tmp_path: Path) -> None:
    seed_db(aws)
    before = rds_world(aws)
    hist = tmp_path / "hist"
    for i in (1, 2):
        out = tmp_path / f"r{i}"
        code = main(["drill", "rds", "--db", "orders", "--endpoint-url", aws.url, "--rto", "30",
                     "--output-dir", str(out), "--history", str(hist), *FAST])
        assert code == 0
    doc = report(out)
    d = doc["drill"]
    assert (d["kind"], d["target"], d["verified"], d["cleaned_up"]) == ("rds", "orders", True, True)
    names = [s["name"] for s in d["steps"]]
    assert names[:5] == ["find the recovery point", "restore", "wait until available", "verify",
                         f"cleanup: delete scratch instance drguard-drill-{d['run_id']}-db"]
    assert all(s["status"] == "ok" and s["seconds"] >= 0 for s in d["steps"])
    assert 0 < d["rto_seconds"] <= sum(s["seconds"] for s in d["steps"])
    assert d["rto_target_seconds"] == 1800
    assert {c["check"] for c in d["checks"] if c["ok"]} >= {"engine", "status",
                                                            "allocated storage (GiB, at least)"}
    # The only writes: restore, turning protection off the scratch copy, deleting it.
    assert [(c["operation"], c["allowed"]) for c in d["calls"]] == [
        ("RestoreDBInstanceFromDBSnapshot", True), ("ModifyDBInstance", True),
        ("DeleteDBInstance", True)]
    assert all(c["target"].startswith(f"drguard-drill-{d['run_id']}-") for c in d["calls"])
    assert "drill" not in doc["run"] and doc["schema"] == "dr-audit/1"
    # Originals untouched, scratch gone (the restore copied deletion protection; still gone).
    after = rds_world(aws)
    assert after == before and not scratch_left(after)
    # History: both runs, shown in HTML and Markdown.
    assert len(list(hist.glob("drill-*.json"))) == 2
    assert len(d["history"]["runs"]) == 2
    html = (out / "drill.html").read_text()
    assert 'id="drill-history"' in html and html.count('<rect class="ok"') == 2
    assert "wait until available" in html and "Recovery drill: rds" in html
    md = (out / "drill.md").read_text()
    assert "## DR Guard drill rds: passed" in md and "| restore |" in md
    assert "RTO over the last 2 drills" in md


def test_scan_then_drill_into_one_output_dir_keeps_both_reports(aws: Any, tmp_path: Path) -> None:
    seed_db(aws)
    out = tmp_path / "reports"
    main(["scan", "--endpoint-url", aws.url, "--regions", "us-east-1", "--output-dir", str(out),
          "--format", "json,html,md"])
    scan_files = {p.name: p.read_bytes() for p in out.iterdir()}
    assert {"report.json", "report.html", "report.md"} <= set(scan_files)
    code = main(["drill", "rds", "--db", "orders", "--endpoint-url", aws.url,
                 "--output-dir", str(out), *FAST])
    assert code == 0
    for name, body in scan_files.items():
        assert (out / name).read_bytes() == body, f"the drill rewrote the scan's {name}"
    assert "drill" not in json.loads((out / "report.json").read_text())
    assert report(out)["drill"]["kind"] == "rds"
    assert (out / "drill.html").is_file() and (out / "drill.md").is_file()


def test_rds_drill_into_another_region_copies_the_snapshot_and_deletes_the_copy(
        aws: Any, tmp_path: Path) -> None:
    seed_db(aws)
    before = rds_world(aws)
    code = main(["drill", "rds", "--db", "arn:aws:rds:us-east-1:123456789012:db:orders",
                 "--target-region", "us-west-2", "--endpoint-url", aws.url,
                 "--output-dir", str(tmp_path), *FAST])
    d = report(tmp_path)["drill"]
    assert code == 0, d
    assert d["region"] == "us-west-2"
    assert [s["name"] for s in d["steps"]][1] == "copy snapshot to target region"
    assert any("copied there first" in n for n in d["notes"])
    assert {c["operation"] for c in d["calls"]} >= {"CopyDBSnapshot", "DeleteDBSnapshot"}
    after = rds_world(aws)
    assert after == before and not scratch_left(after)


def test_rds_drill_uses_the_cross_region_copy_when_there_is_one(aws: Any,
                                                                tmp_path: Path) -> None:
    seed_db(aws)
    west = aws.client("rds", "us-west-2")
    west.copy_db_snapshot(
        SourceDBSnapshotIdentifier="arn:aws:rds:us-east-1:123456789012:snapshot:orders-snap-1",
        TargetDBSnapshotIdentifier="orders-dr-copy", SourceRegion="us-east-1")
    before = rds_world(aws)
    code = main(["drill", "rds", "--db", "orders", "--target-region", "us-west-2",
                 "--endpoint-url", aws.url, "--output-dir", str(tmp_path), *FAST])
    d = report(tmp_path)["drill"]
    assert code == 0
    assert d["found"]["snapshot"]["id"] == "orders-dr-copy"
    assert "CopyDBSnapshot" not in {c["operation"] for c in d["calls"]}
    assert rds_world(aws) == before


def test_rds_point_in_time_drill(aws: Any, tmp_path: Path) -> None:
    seed_db(aws, snapshot=False)
    before = rds_world(aws)
    code = main(["drill", "rds", "--db", "orders", "--from", "pitr", "--endpoint-url", aws.url,
                 "--output-dir", str(tmp_path), *FAST])
    d = report(tmp_path)["drill"]
    assert code == 0, d
    assert d["calls"][0]["operation"] == "RestoreDBInstanceToPointInTime"
    assert rds_world(aws) == before


def test_rds_drill_without_a_snapshot_cannot_run(aws: Any, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    seed_db(aws)
    before = rds_world(aws)
    # The disaster: `ledger` is gone, and its backups with it (only `orders` has snapshots).
    code = main(["drill", "rds", "--db", "ledger", "--endpoint-url", aws.url,
                 "--output-dir", str(tmp_path), *FAST])
    assert code == 3
    d = report(tmp_path)["drill"]
    assert d["outcome"] == "not-run" and not d["verified"] and d["calls"] == []
    assert "no available snapshot of ledger in us-east-1" in d["error"]
    assert ("could not run (step 'find the recovery point' failed): no available snapshot"
            in capsys.readouterr().err)
    assert rds_world(aws) == before


def test_rds_drill_failing_midway_still_deletes_the_scratch_instance(aws: Any,
                                                                     tmp_path: Path) -> None:
    seed_db(aws)
    before = rds_world(aws)
    # The restore is accepted, then the first status check of the scratch instance is denied.
    fault = Fault("denied", service="rds", operation="DescribeDBInstances",
                  body_contains="drguard-drill-", times=1)
    with FaultyProxy(aws.url, [fault]) as proxy:
        code = main(["drill", "rds", "--db", "orders", "--endpoint-url", proxy.url,
                     "--output-dir", str(tmp_path), *FAST])
    d = report(tmp_path)["drill"]
    assert code == 3
    assert fault.hits == 1
    assert d["outcome"] == "not-run" and "AccessDenied" in d["error"]
    steps = {s["name"]: s["status"] for s in d["steps"]}
    assert steps["restore"] == "ok" and steps["wait until available"] == "failed"
    assert d["cleaned_up"] is True
    assert ("rds", "DeleteDBInstance") in proxy.seen
    after = rds_world(aws)
    assert after == before and not scratch_left(after)


def test_rds_drill_slower_than_rto_exits_1(aws: Any, tmp_path: Path) -> None:
    seed_db(aws)
    code = main(["drill", "rds", "--db", "orders", "--rto", "0.000001", "--endpoint-url",
                 aws.url, "--output-dir", str(tmp_path), *FAST])
    d = report(tmp_path)["drill"]
    assert code == 1
    assert d["verified"] and d["rto_seconds"] > d["rto_target_seconds"]
    assert "slower than the target" in d["summary"]
    assert not scratch_left(rds_world(aws))


def test_rds_verification_failure_exits_1_and_cleans_up(aws: Any, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    seed_db(aws)
    real = RdsDrill._prepare_snapshot

    def wrong_expectation(self: RdsDrill, *a: Any) -> None:
        real(self, *a)
        a[1].data["expected"]["engine"] = "mysql"  # as if the backup were of another engine

    monkeypatch.setattr(RdsDrill, "_prepare_snapshot", wrong_expectation)
    code = main(["drill", "rds", "--db", "orders", "--endpoint-url", aws.url,
                 "--output-dir", str(tmp_path), *FAST])
    d = report(tmp_path)["drill"]
    assert code == 1
    assert d["outcome"] == "failed" and "engine: expected 'mysql', found 'postgres'" in d["error"]
    assert [c for c in d["checks"] if not c["ok"]][0]["check"] == "engine"
    assert d["cleaned_up"] and not scratch_left(rds_world(aws))


def test_rds_interrupted_run_cleans_up(aws: Any, tmp_path: Path,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    seed_db(aws)
    before = rds_world(aws)

    def ctrl_c(*_: Any) -> Any:
        raise KeyboardInterrupt

    monkeypatch.setattr(RdsDrill, "_instance_state", ctrl_c)
    code = main(["drill", "rds", "--db", "orders", "--endpoint-url", aws.url,
                 "--output-dir", str(tmp_path), *FAST])
    d = report(tmp_path)["drill"]
    assert code == 3
    assert d["outcome"] == "interrupted"
    assert {s["name"]: s["status"] for s in d["steps"]}["wait until available"] == "interrupted"
    assert d["cleaned_up"] and rds_world(aws) == before


SIGNAL_SCRIPT = """
import sys, time
from auditor.drill.rds import RdsDrill
def slow(self, rds, name):
    print("WAITING", flush=True)
    time.sleep(60)
    return True, "available"
RdsDrill._instance_state = slow
from auditor.cli import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_rds_signal_during_restore_cleans_up(aws: Any, tmp_path: Path,
                                             sig: signal.Signals) -> None:
    seed_db(aws)
    before = rds_world(aws)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-c", SIGNAL_SCRIPT, "drill", "rds", "--db", "orders", "--endpoint-url",
         aws.url, "--output-dir", str(tmp_path), *FAST], cwd=ROOT, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "WAITING"
    assert any(n.startswith("drguard-drill-") for n, *_ in rds_world(aws)["us-east-1"]
               ["instances"])  # the scratch instance exists now
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 3, err
    d = report(tmp_path)["drill"]
    assert d["outcome"] == "interrupted" and sig.name in d["error"]
    assert d["cleaned_up"] and rds_world(aws) == before


def test_rds_check_sql_is_skipped_with_the_reason_when_unreachable(
        aws: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seed_db(aws)

    def unreachable(*_: Any, **__: Any) -> Any:
        raise OSError(113, "No route to host")

    monkeypatch.setattr("auditor.drill.rds.socket.create_connection", unreachable)
    code = main(["drill", "rds", "--db", "orders", "--check-sql", "select 1",
                 "--endpoint-url", aws.url, "--output-dir", str(tmp_path), *FAST])
    d = report(tmp_path)["drill"]
    assert code == 0
    step = next(s for s in d["steps"] if s["name"] == "check-sql")
    assert step["status"] == "skipped" and "No route to host" in step["detail"]


def test_dry_run_prints_the_plan_and_changes_nothing(aws: Any, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    seed_db(aws)
    before = rds_world(aws)
    with FaultyProxy(aws.url) as proxy:
        code = main(["drill", "rds", "--db", "orders", "--endpoint-url", proxy.url,
                     "--dry-run", "--output-dir", str(tmp_path / "out")])
    out = capsys.readouterr().out
    assert code == 0
    assert "rds:RestoreDBInstanceFromDBSnapshot (us-east-1)" in out
    assert '"DBSnapshotIdentifier": "orders-snap-1"' in out and "rds:DeleteDBInstance" in out
    ops = {op for _, op in proxy.seen}
    assert ops and all(op.startswith(("Describe", "Get", "List", "GET /")) for op in ops), ops
    assert rds_world(aws) == before and not (tmp_path / "out" / "drill.json").exists()


def test_without_yes_and_without_a_terminal_it_refuses(aws: Any, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    seed_db(aws)
    before = rds_world(aws)
    monkeypatch.setattr(sys, "stdin", io.StringIO("y\n"))
    code = main(["drill", "rds", "--db", "orders", "--endpoint-url", aws.url,
                 "--output-dir", str(tmp_path)])
    assert code == 2
    assert "refusing to act without --yes when stdin is not a terminal" in capsys.readouterr().err
    assert rds_world(aws) == before


def test_unwritable_output_dir_is_a_usage_error(aws: Any, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main(["drill", "s3", "--bucket", "b", "--endpoint-url", aws.url, "--output-dir",
                 str(blocker / "out"), "--yes"]) == 2
    assert main(["drill", "state", "--backend", "gs://x", "--stack", "a/b/c",
                 "--endpoint-url", aws.url, "--output-dir", str(tmp_path), "--yes"]) == 2


# ---- the guard -----------------------------------------------------------------------------------

def test_guard_refuses_anything_but_the_drills_own_calls(aws: Any) -> None:
    from auditor.aws import AwsOptions
    from auditor.drill.guard import DrillAccount, DrillGuard

    seed_db(aws)
    s3 = create_bucket(aws.client("s3"), "data", "us-east-1")
    s3.put_object(Bucket="data", Key="k", Body=b"v")
    before = rds_world(aws)
    guard = DrillGuard("20261201000000-abcdef")
    with FaultyProxy(aws.url) as proxy:
        acct = DrillAccount(AwsOptions(endpoint_url=proxy.url), guard)
        rds, s3g = acct.client("rds"), acct.client("s3")
        tag = [{"Key": "dr:drill", "Value": guard.run_id}]
        refused = [
            lambda: rds.delete_db_instance(DBInstanceIdentifier="orders", SkipFinalSnapshot=True),
            lambda: rds.modify_db_instance(DBInstanceIdentifier="orders",
                                           DeletionProtection=False),
            lambda: rds.restore_db_instance_from_db_snapshot(   # no tag
                DBInstanceIdentifier=f"{guard.prefix}-db", DBSnapshotIdentifier="orders-snap-1"),
            lambda: rds.restore_db_instance_from_db_snapshot(   # another run's name
                DBInstanceIdentifier="drguard-drill-20991231000000-000000-db",
                DBSnapshotIdentifier="orders-snap-1", Tags=tag),
            lambda: rds.delete_db_instance(DBInstanceIdentifier=f"{guard.prefix}-db",
                                           SkipFinalSnapshot=False,
                                           FinalDBSnapshotIdentifier="x"),
            lambda: rds.modify_db_instance(DBInstanceIdentifier=f"{guard.prefix}-db",
                                           DeletionProtection=False, MasterUserPassword="x1234567"),
            lambda: rds.create_db_snapshot(DBInstanceIdentifier="orders",
                                           DBSnapshotIdentifier=f"{guard.prefix}-s", Tags=tag),
            lambda: s3g.put_object(Bucket="data", Key=f"{guard.prefix}/k", Body=b"x"),
            lambda: s3g.delete_object(Bucket="data", Key="k"),
            lambda: s3g.copy_object(Bucket="data", Key="k", CopySource={"Bucket": "data",
                                                                       "Key": "k"}),
            lambda: s3g.copy_object(Bucket="data", Key=f"{guard.prefix}/k",   # no tags
                                    CopySource={"Bucket": "data", "Key": "k"}),
            lambda: s3g.copy_object(Bucket="data", Key=f"{guard.prefix}/k",
                                    CopySource={"Bucket": "data", "Key": "k"},
                                    TaggingDirective="REPLACE",
                                    Tagging=f"dr%3Adrill={guard.run_id}",
                                    ObjectLockMode="COMPLIANCE",
                                    ObjectLockRetainUntilDate="2030-01-01T00:00:00Z"),
            lambda: s3g.create_bucket(Bucket="not-a-scratch-bucket"),
            lambda: s3g.create_bucket(Bucket=f"{guard.prefix}-copies",
                                      ObjectLockEnabledForBucket=True),
            lambda: s3g.put_bucket_tagging(Bucket="data", Tagging={"TagSet": tag}),
            lambda: s3g.put_bucket_tagging(Bucket=f"{guard.prefix}-copies",
                                           Tagging={"TagSet": [{"Key": "a", "Value": "b"}]}),
            lambda: s3g.delete_bucket(Bucket="data"),
        ]
        for call in refused:
            with pytest.raises(MutatingCallError):
                call()
        # Reads and the drill's own shape of call go through.
        s3g.copy_object(Bucket="data", Key=f"{guard.prefix}/k",
                        CopySource={"Bucket": "data", "Key": "k"}, TaggingDirective="REPLACE",
                        Tagging=f"dr%3Adrill={guard.run_id}")
        s3g.delete_object(Bucket="data", Key=f"{guard.prefix}/k")
        s3g.create_bucket(Bucket=f"{guard.prefix}-copies")
        s3g.put_bucket_tagging(Bucket=f"{guard.prefix}-copies", Tagging={"TagSet": tag})
        s3g.delete_bucket(Bucket=f"{guard.prefix}-copies")
        assert rds.describe_db_instances()["DBInstances"]
    sent = {op for _, op in proxy.seen}
    assert sent.isdisjoint({"DeleteDBInstance", "ModifyDBInstance", "CreateDBSnapshot",
                            "PutObject", "RestoreDBInstanceFromDBSnapshot"})
    assert {b["Name"] for b in s3.list_buckets()["Buckets"]} == {"data"}
    assert [c.allowed for c in guard.calls].count(False) == len(refused)
    assert rds_world(aws) == before
    assert [k for k, *_ in versions(s3, "data")] == ["k"]


# ---- state ---------------------------------------------------------------------------------------

def test_state_drill_restores_validates_compares_and_cleans_up(aws: Any, tmp_path: Path) -> None:
    s3 = state_bucket(aws, [deployment(n=2), deployment(n=3)])
    before = versions(s3, "pulumi-state")
    hist = tmp_path / "h"
    code = main(["drill", "state", "--backend", "s3://pulumi-state", "--stack",
                 "organization/shop/prod", "--endpoint-url", aws.url, "--rto", "10",
                 "--history", str(hist), "--output-dir", str(tmp_path / "o"), *FAST])
    d = report(tmp_path / "o")["drill"]
    assert code == 0, d
    assert d["verified"] and d["cleaned_up"] and d["rto_seconds"] > 0
    assert [s["name"] for s in d["steps"]][1:5] == [
        "restore previous checkpoint to scratch key", "read the copy back",
        "validate as a stack deployment", "compare with the current checkpoint"]
    v = d["details"]["validation"]
    assert v["problems"] == [] and v["resources"] == 4 and v["pending_operations"] == 0
    cmp = d["details"]["comparison"]
    assert (cmp["previous_resources"], cmp["current_resources"]) == (4, 5)
    assert cmp["missing_from_restored_urns"] == [
        "urn:pulumi:prod::shop::aws:s3/bucket:Bucket::b2"]
    assert [c["operation"] for c in d["calls"]] == ["CopyObject", "DeleteObject"]
    assert versions(s3, "pulumi-state") == before  # checkpoint untouched, no scratch left
    # What the drill restored is a deployment the exchange schema accepts.
    old = s3.get_object(Bucket="pulumi-state", Key=".pulumi/stacks/shop/prod.json",
                        VersionId=[v for k, v, latest, _ in before if not latest][0])
    latest = json.loads(old["Body"].read())["checkpoint"]["latest"]
    jsonschema.validate({"version": 3, "deployment": latest}, SCHEMA)


def test_state_drill_recovers_a_deleted_gzipped_checkpoint(aws: Any, tmp_path: Path) -> None:
    key = "team/.pulumi/stacks/shop/prod.json.gz"
    s3 = create_bucket(aws.client("s3"), "state-b", "us-east-1")
    s3.put_bucket_versioning(Bucket="state-b", VersioningConfiguration={"Status": "Enabled"})
    s3.put_object(Bucket="state-b", Key=key, Body=gzip.compress(json.dumps(deployment()).encode()))
    s3.delete_object(Bucket="state-b", Key=key)
    before = versions(s3, "state-b")
    code = main(["drill", "state", "--backend", "s3://state-b/team", "--stack", "shop/prod",
                 "--endpoint-url", aws.url, "--output-dir", str(tmp_path), *FAST])
    d = report(tmp_path)["drill"]
    assert code == 0, d
    assert d["found"]["restoring"]["why"] == "deleted"
    compare = next(s for s in d["steps"] if s["name"] == "compare with the current checkpoint")
    assert compare["status"] == "skipped"
    assert versions(s3, "state-b") == before


@pytest.mark.parametrize("bad, problem", [
    (lambda: deployment(pending=True), "pending operation"),
    (lambda: deployment(stack="staging"), "belongs to shop/staging, not shop/prod"),
    (lambda: {"version": 3, "checkpoint": {"latest": {
        **deployment()["checkpoint"]["latest"],
        "resources": list(reversed(deployment()["checkpoint"]["latest"]["resources"]))}}},
     "does not come before it"),
    (lambda: {"not": "a checkpoint"}, "not a checkpoint document"),
])
def test_state_drill_fails_when_the_previous_version_is_not_importable(
        aws: Any, tmp_path: Path, bad: Any, problem: str) -> None:
    s3 = state_bucket(aws, [bad(), deployment()])
    before = versions(s3, "pulumi-state")
    code = main(["drill", "state", "--backend", "s3://pulumi-state", "--stack",
                 "organization/shop/prod", "--endpoint-url", aws.url,
                 "--output-dir", str(tmp_path), *FAST])
    d = report(tmp_path)["drill"]
    assert code == 1, d
    assert d["outcome"] == "failed" and problem in d["error"]
    assert d["cleaned_up"] and versions(s3, "pulumi-state") == before


def test_state_drill_with_a_single_version_cannot_run(aws: Any, tmp_path: Path) -> None:
    s3 = state_bucket(aws, [deployment()])
    before = versions(s3, "pulumi-state")
    code = main(["drill", "state", "--backend", "s3://pulumi-state", "--stack",
                 "organization/shop/prod", "--endpoint-url", aws.url,
                 "--output-dir", str(tmp_path), *FAST])
    assert code == 3
    assert "nothing earlier to restore" in report(tmp_path)["drill"]["error"]
    assert versions(s3, "pulumi-state") == before


# ---- s3 ------------------------------------------------------------------------------------------

def test_s3_drill_restores_a_sample_and_deletes_the_copies(aws: Any, tmp_path: Path) -> None:
    s3 = create_bucket(aws.client("s3"), "backups", "us-east-1")
    s3.put_bucket_versioning(Bucket="backups", VersioningConfiguration={"Status": "Enabled"})
    for i in range(4):
        s3.put_object(Bucket="backups", Key=f"db/dump-{i}.sql", Body=os.urandom(1000 + i))
    s3.put_object(Bucket="backups", Key="db/dump-1.sql", Body=b"overwritten")
    s3.delete_object(Bucket="backups", Key="db/dump-2.sql")
    before = versions(s3, "backups")
    code = main(["drill", "s3", "--bucket", "backups", "--sample", "5", "--endpoint-url",
                 aws.url, "--output-dir", str(tmp_path), *FAST])
    d = report(tmp_path)["drill"]
    assert code == 0, d
    restored = {o["key"]: o["why"] for o in d["found"]["objects"]}
    assert restored == {"db/dump-1.sql": "overwritten", "db/dump-2.sql": "deleted"}
    sha = [c for c in d["checks"] if c["check"].endswith("sha256")]
    assert len(sha) == 2 and all(c["ok"] and len(c["actual"]) == 64 for c in sha)
    assert versions(s3, "backups") == before


def test_s3_drill_one_key_into_a_scratch_bucket_when_the_bucket_locks(aws: Any,
                                                                       tmp_path: Path) -> None:
    s3 = create_bucket(aws.client("s3"), "locked-backups", "us-east-1", lock=True)
    s3.put_object_lock_configuration(Bucket="locked-backups", ObjectLockConfiguration={
        "ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE",
                                                                      "Days": 1}}})
    s3.put_object(Bucket="locked-backups", Key="a.bin", Body=b"one")
    s3.put_object(Bucket="locked-backups", Key="a.bin", Body=b"two")
    create_bucket(s3, "scratch", "us-east-1")
    before = versions(s3, "locked-backups")
    args = ["drill", "s3", "--bucket", "locked-backups", "--key", "a.bin", "--endpoint-url",
            aws.url, *FAST]
    assert main([*args, "--scratch-bucket", "scratch", "--output-dir", str(tmp_path / "b")]) == 0
    d = report(tmp_path / "b")["drill"]
    assert d["checks"][0]["expected"] == 3 and all(c["ok"] for c in d["checks"])
    assert versions(s3, "locked-backups") == before
    assert versions(s3, "scratch") == []
    # without --scratch-bucket the copies go to a scratch bucket the drill makes and deletes
    assert main([*args, "--output-dir", str(tmp_path / "a")]) == 0
    d = report(tmp_path / "a")["drill"]
    made = [c["target"] for c in d["calls"] if c["operation"] == "CreateBucket"]
    assert len(made) == 1 and made[0].startswith("s3://drguard-drill-"), d["calls"]
    assert [c["operation"] for c in d["calls"]] == [
        "CreateBucket", "PutBucketTagging", "CopyObject", "DeleteObject", "DeleteBucket"]
    assert all(c["ok"] for c in d["checks"]) and d["cleaned_up"]
    assert versions(s3, "locked-backups") == before
    assert {b["Name"] for b in s3.list_buckets()["Buckets"]} == {"locked-backups", "scratch"}
    # a --scratch-bucket that would keep the copies is refused
    assert main([*args, "--scratch-bucket", "locked-backups",
                 "--output-dir", str(tmp_path / "c")]) == 3
    assert "outlive the drill" in report(tmp_path / "c")["drill"]["error"]


def replicate(s3: Any, bucket: str, rule: dict[str, Any]) -> None:
    s3.put_bucket_replication(Bucket=bucket, ReplicationConfiguration={
        "Role": "arn:aws:iam::123456789012:role/replication",
        "Rules": [{"ID": "r", "Priority": 1, "DeleteMarkerReplication": {"Status": "Disabled"},
                   "Destination": {"Bucket": "arn:aws:s3:::replica", "Account": "210987654321"},
                   **rule}]})


# (The emulator keeps a rule's status but not its filter: which filters take the copies is
# tested on the rules as the API returns them, below.)
@pytest.mark.parametrize("rule, refused", [
    ({"Status": "Enabled", "Filter": {}}, True),  # every new object is replicated
    ({"Status": "Disabled", "Filter": {}}, False),
])
def test_s3_drill_never_copies_into_a_bucket_that_replicates_the_copies(
        aws: Any, tmp_path: Path, rule: dict[str, Any], refused: bool) -> None:
    """A scratch copy a replication rule takes would reach the replica (often locked, in
    another account), where the drill could not delete it: the drill copies into a scratch
    bucket of its own instead, and refuses such a --scratch-bucket."""
    s3 = create_bucket(aws.client("s3"), "replicated", "us-east-1")
    s3.put_bucket_versioning(Bucket="replicated", VersioningConfiguration={"Status": "Enabled"})
    s3.put_object(Bucket="replicated", Key="db/a.bin", Body=b"one")
    s3.put_object(Bucket="replicated", Key="db/a.bin", Body=b"two")
    replicate(s3, "replicated", rule)
    create_bucket(s3, "scratch", "us-east-1")
    args = ["drill", "s3", "--bucket", "replicated", "--key", "db/a.bin", "--endpoint-url",
            aws.url, *FAST]
    before = versions(s3, "replicated")
    code = main([*args, "--output-dir", str(tmp_path / "a")])
    d = report(tmp_path / "a")["drill"]
    assert code == 0, d
    copied_to = {c["target"].split("/")[2] for c in d["calls"] if c["operation"] == "CopyObject"}
    if refused:  # the copy goes to the drill's own scratch bucket, deleted after
        assert copied_to != {"replicated"} and all(
            b.startswith("drguard-drill-") for b in copied_to), d["calls"]
        assert any("replicates new objects" in n for n in d["notes"]), d["notes"]
        assert main([*args, "--scratch-bucket", "replicated",
                     "--output-dir", str(tmp_path / "b")]) == 3
        assert "replicates new objects" in report(tmp_path / "b")["drill"]["error"]
    else:
        assert copied_to == {"replicated"}
    assert versions(s3, "replicated") == before
    assert {b["Name"] for b in s3.list_buckets()["Buckets"]} == {"replicated", "scratch"}


@pytest.mark.parametrize("rule, takes", [
    ({"Status": "Enabled", "Filter": {}}, True),
    ({"Status": "Enabled", "Filter": {"Prefix": ""}}, True),
    ({"Status": "Enabled", "Filter": {"Prefix": "drguard-"}}, True),
    ({"Status": "Enabled", "Filter": {"Prefix": "drguard-drill-r1/db/"}}, True),  # some copies
    ({"Status": "Enabled", "Filter": {"Prefix": "db/"}}, False),
    ({"Status": "Enabled", "Prefix": "drguard"}, True),  # the configuration's first version
    ({"Status": "Enabled", "Prefix": "logs/"}, False),
    ({"Status": "Enabled", "Filter": {"Tag": {"Key": "class", "Value": "keep"}}}, False),
    ({"Status": "Enabled", "Filter": {"Tag": {"Key": "dr:drill", "Value": "r1"}}}, True),
    ({"Status": "Enabled", "Filter": {"And": {"Prefix": "", "Tags": [
        {"Key": "dr:drill", "Value": "r1"}, {"Key": "class", "Value": "keep"}]}}}, False),
    ({"Status": "Enabled", "Filter": {"And": {"Prefix": "drg", "Tags": [
        {"Key": "dr:drill", "Value": "r1"}]}}}, True),
    ({"Status": "Disabled", "Filter": {}}, False),
    ({"Status": "Enabled", "Filter": "garbage"}, True),  # unreadable: taken as replicating
    ("garbage", True),
])
def test_which_replication_rules_take_the_scratch_copies(rule: Any, takes: bool) -> None:
    from auditor.drill.s3 import _rule_takes

    assert _rule_takes(rule, "drguard-drill-r1/", {"dr:drill": "r1"}) is takes


def test_state_drill_of_a_replicating_state_bucket_copies_into_its_own_bucket(
        aws: Any, tmp_path: Path) -> None:
    s3 = state_bucket(aws, [deployment(n=1), deployment(n=2)])
    replicate(s3, "pulumi-state", {"Status": "Enabled", "Filter": {"Prefix": ""}})
    code = main(["drill", "state", "--backend", "s3://pulumi-state", "--stack",
                 "organization/shop/prod", "--endpoint-url", aws.url,
                 "--output-dir", str(tmp_path), *FAST])
    d = report(tmp_path)["drill"]
    assert code == 0, d
    assert [c["operation"] for c in d["calls"]] == [
        "CreateBucket", "PutBucketTagging", "CopyObject", "DeleteObject", "DeleteBucket"]
    assert {b["Name"] for b in s3.list_buckets()["Buckets"]} == {"pulumi-state"}
    # why the drill made a bucket of its own is in every format, Markdown too
    md = (tmp_path / "drill.md").read_text()
    assert "\n\nNotes:\n- bucket pulumi-state replicates new objects (rule" in md, md


def test_a_bucket_whose_replication_cannot_be_read_gets_copies_in_the_drills_own_bucket(
        aws: Any, tmp_path: Path) -> None:
    s3 = state_bucket(aws, [deployment(n=1), deployment(n=2)])
    with FaultyProxy(aws.url, [Fault("denied", "s3", "GetBucketReplication")]) as proxy:
        code = main(["drill", "state", "--backend", "s3://pulumi-state", "--stack",
                     "organization/shop/prod", "--endpoint-url", proxy.url,
                     "--output-dir", str(tmp_path), *FAST])
    d = report(tmp_path)["drill"]
    assert code == 0, d
    assert any("may replicate new objects" in n and "AccessDenied" in n for n in d["notes"])
    assert [c["operation"] for c in d["calls"]][0] == "CreateBucket"
    assert {b["Name"] for b in s3.list_buckets()["Buckets"]} == {"pulumi-state"}


def test_guard_lets_the_scratch_bucket_be_made_only_private_and_unlocked(aws: Any) -> None:
    """The drill makes its own bucket with a name and a region, nothing else: an ACL, a grant
    or an object ownership setting could open the copies of backup data to others."""
    from auditor.aws import AwsOptions
    from auditor.drill.guard import DrillAccount, DrillGuard

    guard = DrillGuard("20261201000000-abcdef")
    mine = f"{guard.prefix}-copies"
    other = "drguard-drill-20261201000001-abcdef-copies"  # another run's
    create_bucket(aws.client("s3"), other, "us-east-1")
    with FaultyProxy(aws.url) as proxy:
        s3g = DrillAccount(AwsOptions(endpoint_url=proxy.url), guard).client("s3")
        refused = [
            lambda: s3g.create_bucket(Bucket=mine, ACL="public-read"),
            lambda: s3g.create_bucket(Bucket=mine, GrantRead="uri=http://acs.amazonaws.com/"
                                      "groups/global/AllUsers"),
            lambda: s3g.create_bucket(Bucket=mine, GrantFullControl="id=0123456789abcdef"),
            lambda: s3g.create_bucket(Bucket=mine, ObjectOwnership="ObjectWriter"),
            lambda: s3g.delete_bucket(Bucket=other),
            lambda: s3g.put_bucket_tagging(Bucket=other, Tagging={"TagSet": [
                {"Key": "dr:drill", "Value": guard.run_id}]}),
        ]
        for call in refused:
            with pytest.raises(MutatingCallError):
                call()
        s3g.create_bucket(Bucket=mine, CreateBucketConfiguration={
            "LocationConstraint": "eu-west-1"})
    assert [c.allowed for c in guard.calls] == [False] * len(refused) + [True]
    assert [op for _, op in proxy.seen if op.startswith("PUT") or op.startswith("DELETE")] \
        == [f"PUT /{mine}"]


def locked_bucket(aws: Any, name: str = "locked-backups") -> Any:
    """A bucket that locks new objects by default, with an overwritten object a.bin."""
    s3 = create_bucket(aws.client("s3"), name, "us-east-1", lock=True)
    s3.put_object_lock_configuration(Bucket=name, ObjectLockConfiguration={
        "ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE",
                                                                      "Days": 1}}})
    s3.put_object(Bucket=name, Key="a.bin", Body=b"one")
    s3.put_object(Bucket=name, Key="a.bin", Body=b"two")
    return s3


SCRATCH_BUCKET_PUT = r"PUT /drguard-drill-[0-9]+-[0-9a-f]+-copies/?"


@pytest.mark.parametrize("fault, failed_step", [
    # the bucket is made but the answer is lost (every retry too): it exists, unknown to us
    (Fault("lost", "s3", operation_re=SCRATCH_BUCKET_PUT), "create scratch bucket"),
    # it is never made: its deletion finds nothing, which is no leftover
    (Fault("denied", "s3", operation_re=SCRATCH_BUCKET_PUT), "create scratch bucket"),
    # a drill policy of before the scratch bucket (no CreateBucket, no DeleteBucket): S3
    # refused to make it, so there is nothing to delete and nothing left behind
    (Fault("denied", "s3", operation_re=r"(PUT|DELETE) /drguard-drill-[0-9]+-[0-9a-f]+-copies/?"),
     "create scratch bucket"),
    # a copy fails after the bucket was made: the bucket is still deleted
    (Fault("denied", "s3", operation_re=r"PUT /drguard-drill-[^/]+-copies/.+"), "restore a.bin"),
])
def test_the_drills_own_scratch_bucket_is_deleted_on_every_failure_path(
        aws: Any, tmp_path: Path, fault: Fault, failed_step: str) -> None:
    s3 = locked_bucket(aws)
    before = versions(s3, "locked-backups")
    with FaultyProxy(aws.url, [fault]) as proxy:
        code = main(["drill", "s3", "--bucket", "locked-backups", "--key", "a.bin",
                     "--endpoint-url", proxy.url, "--output-dir", str(tmp_path), *FAST])
    d = report(tmp_path)["drill"]
    assert proxy.injected, proxy.seen
    assert code == 3, d
    assert d["failed_step"].startswith(failed_step), d
    assert d["cleaned_up"] and not d["left_behind"], d
    assert {b["Name"] for b in s3.list_buckets()["Buckets"]} == {"locked-backups"}
    assert versions(s3, "locked-backups") == before


def test_an_interrupted_drill_deletes_its_own_scratch_bucket(
        aws: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    s3 = locked_bucket(aws)

    def ctrl_c(*_: Any) -> Any:
        raise KeyboardInterrupt

    monkeypatch.setattr("auditor.drill.s3.sha256_of", ctrl_c)  # while verifying the copy
    code = main(["drill", "s3", "--bucket", "locked-backups", "--key", "a.bin",
                 "--endpoint-url", aws.url, "--output-dir", str(tmp_path), *FAST])
    d = report(tmp_path)["drill"]
    assert code == 3 and d["outcome"] == "interrupted", d
    assert [c["operation"] for c in d["calls"]][-2:] == ["DeleteObject", "DeleteBucket"]
    assert d["cleaned_up"] and {b["Name"] for b in s3.list_buckets()["Buckets"]} == {
        "locked-backups"}


def test_s3_drill_without_anything_to_restore_cannot_run(aws: Any, tmp_path: Path) -> None:
    s3 = create_bucket(aws.client("s3"), "plain", "us-east-1")
    s3.put_object(Bucket="plain", Key="x", Body=b"x")
    assert main(["drill", "s3", "--bucket", "plain", "--endpoint-url", aws.url,
                 "--output-dir", str(tmp_path / "a"), *FAST]) == 3
    assert "never had versioning" in report(tmp_path / "a")["drill"]["error"]
    s3.put_bucket_versioning(Bucket="plain", VersioningConfiguration={"Status": "Enabled"})
    assert main(["drill", "s3", "--bucket", "plain", "--endpoint-url", aws.url,
                 "--output-dir", str(tmp_path / "b"), *FAST]) == 3
    assert "no deleted or overwritten object" in report(tmp_path / "b")["drill"]["error"]


def test_history_skips_unreadable_files(aws: Any, tmp_path: Path) -> None:
    s3 = create_bucket(aws.client("s3"), "backups", "us-east-1")
    s3.put_bucket_versioning(Bucket="backups", VersioningConfiguration={"Status": "Enabled"})
    s3.put_object(Bucket="backups", Key="k", Body=b"1")
    s3.put_object(Bucket="backups", Key="k", Body=b"2")
    hist = tmp_path / "h"
    hist.mkdir()
    (hist / "drill-broken.json").write_text("{not json")
    (hist / "drill-other.json").write_text(json.dumps({"schema": "x"}))
    (hist / "drill-bad.json").write_bytes(b"\xff\xfe")
    code = main(["drill", "s3", "--bucket", "backups", "--key", "k", "--history", str(hist),
                 "--endpoint-url", aws.url, "--output-dir", str(tmp_path / "o"), *FAST])
    h = report(tmp_path / "o")["drill"]["history"]
    assert code == 0 and h["skipped_files"] == 3 and len(h["runs"]) == 1
    assert "3 unreadable history files skipped" in (tmp_path / "o" / "drill.html").read_text()


def test_cleanup_retries_and_reports_what_was_left(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(drill_plan.time, "sleep", lambda _s: None)
    calls: list[str] = []

    def flaky() -> None:
        calls.append("flaky")
        if len(calls) < 2:
            raise RuntimeError("throttled")

    def broken() -> None:
        raise RuntimeError("denied")

    c = drill_plan.Cleanup()
    c.add("a", flaky)
    c.add("b", broken)
    steps: list[drill_plan.Step] = []
    assert c.run(steps) is False
    assert c.left == ["b"] and calls == ["flaky", "flaky"]
    assert [(s.name, s.status) for s in steps] == [("cleanup: b", "failed"), ("cleanup: a", "ok")]


def test_run_id_fits_rds_identifiers() -> None:
    from auditor.drill import new_run_id

    rid = new_run_id()
    name = f"drguard-drill-{rid}-snap"
    assert len(name) <= 63 and "--" not in name and name[0].isalpha()
    assert time.strftime("%Y") in rid


def test_example_iam_policy_allows_every_write_the_guard_allows_and_only_on_scratch() -> None:
    from auditor.drill.guard import READS, RULES

    policy = json.loads((ROOT / "examples/iam/drill-policy.json").read_text())
    iam_action = {("s3", "CopyObject"): ["s3:PutObject", "s3:PutObjectTagging"],
                  ("s3", "DeleteObject"): ["s3:DeleteObject", "s3:DeleteObjectVersion"]}
    writes = {a: st for st in policy["Statement"]
              if st["Sid"] not in ("DrillReads", "DynamoDbCompareReads") for a in st["Action"]}
    for service, op in RULES:
        for action in iam_action.get((service, op), [f"{service}:{op}"]):
            assert action in writes, action
    for st in policy["Statement"]:
        resources = st["Resource"] if isinstance(st["Resource"], list) else [st["Resource"]]
        if st["Sid"] in ("DrillReads", "DynamoDbCompareReads"):
            assert all(a.split(":")[1].startswith(("Describe", "Get", "List"))
                       or tuple(a.split(":")) in READS for a in st["Action"])
        elif st["Sid"] in ("RdsRestoreSources", "RdsClusterRestoreSources"):
            # what a restore reads: never a DB or cluster target
            assert not any(":db:" in r or ":cluster:" in r for r in resources)
        elif st["Sid"] == "DynamoDbRestoreSources":
            assert st["Action"] == ["dynamodb:RestoreTableToPointInTime"]
        elif not st["Sid"].endswith("PointInTimeSourcesOnlyForPitrDrills"):
            assert all("drguard-drill-" in r for r in resources), st["Sid"]


def test_failed_drill_html_headline_is_the_drill_outcome(tmp_path):
    """The HTML verdict of a drill report is the drill's outcome, never "No gaps"."""
    from auditor.drill import report as drill_report

    section = {"kind": "rds", "target": "orders", "steps": [], "rto_seconds": 120.0,
               "rto_target_seconds": 60.0, "verified": False, "cleaned_up": True,
               "outcome": "failed", "error": "engine mismatch", "exit_code": 1,
               "region": "us-east-1", "run_id": "abc123", "calls": [], "checks": [],
               "details": {}, "found": {}, "history": [], "left_behind": [], "notes": []}
    section["summary"] = drill_report.outcome_text(section)
    run = {"command": "drill", "drill": section}
    paths = drill_report.write(run, tmp_path, ["html", "json"])
    html = paths["html"].read_text()
    verdict = html.split('id="verdict"', 1)[1].split("</p>", 1)[0]
    assert "verification failed" in verdict and "engine mismatch" in verdict
    assert "No gaps" not in verdict and "bad" in verdict.split(">", 1)[0]
    assert "Exit code 0" not in html


# ---- cluster (Aurora, DocumentDB, Neptune) ----------------------------------------------------

def seed_cluster(aws: Any, name: str = "ledger", snapshot: bool = True) -> Any:
    rds = aws.client("rds")
    rds.create_db_cluster(DBClusterIdentifier=name, Engine="aurora-postgresql",
                          MasterUsername="admin", MasterUserPassword="secret123",
                          DeletionProtection=True, StorageEncrypted=True,
                          BackupRetentionPeriod=7)
    rds.create_db_instance(DBInstanceIdentifier=f"{name}-1", DBClusterIdentifier=name,
                           Engine="aurora-postgresql", DBInstanceClass="db.r6g.large")
    if snapshot:
        rds.create_db_cluster_snapshot(DBClusterIdentifier=name,
                                       DBClusterSnapshotIdentifier=f"{name}-snap-1")
    return rds


def cluster_world(aws: Any) -> dict[str, Any]:
    rds = aws.client("rds")
    return {"clusters": sorted((c["DBClusterIdentifier"], c["Status"], c["DeletionProtection"],
                                len(c.get("DBClusterMembers") or ()))
                               for c in rds.describe_db_clusters()["DBClusters"]),
            "instances": sorted(d["DBInstanceIdentifier"]
                                for d in rds.describe_db_instances()["DBInstances"]),
            # The emulator keeps the automated snapshot of a deleted cluster (AWS deletes it with
            # DeleteAutomatedBackups, the default): those of scratch clusters are left out.
            "snapshots": sorted(s["DBClusterSnapshotIdentifier"] for s in
                                rds.describe_db_cluster_snapshots()["DBClusterSnapshots"]
                                if not (s.get("SnapshotType") == "automated" and s[
                                    "DBClusterIdentifier"].startswith("drguard-drill-")))}


@pytest.mark.parametrize("source", ["snapshot", "pitr"])
def test_cluster_drill_restores_cluster_and_instance_and_deletes_both(
        aws: Any, tmp_path: Path, source: str) -> None:
    seed_cluster(aws)
    before = cluster_world(aws)
    code = main(["drill", "cluster", "--cluster", "ledger", "--from", source,
                 "--endpoint-url", aws.url, "--output-dir", str(tmp_path), *FAST])
    d = report(tmp_path)["drill"]
    assert code == 0, d
    assert (d["kind"], d["target"], d["verified"], d["cleaned_up"]) == (
        "cluster", "ledger", True, True)
    names = [s["name"] for s in d["steps"]]
    assert names[1:6] == ["restore cluster", "wait until cluster available", "create instance",
                          "wait until instance available", "verify"]
    assert {c["check"] for c in d["checks"] if c["ok"]} >= {
        "cluster status", "instance status", "engine", "instance in the cluster"}
    restore = "RestoreDBClusterFromSnapshot" if source == "snapshot" else \
        "RestoreDBClusterToPointInTime"
    ops = [c["operation"] for c in d["calls"]]
    assert ops[:2] == [restore, "CreateDBInstance"] and "DeleteDBCluster" in ops
    assert all(c["allowed"] and c["target"].startswith(f"drguard-drill-{d['run_id']}-")
               for c in d["calls"])
    assert d["rto_seconds"] > 0
    assert cluster_world(aws) == before


def test_cluster_drill_failing_restore_cleans_up_and_names_the_step(
        aws: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    seed_cluster(aws)
    before = cluster_world(aws)
    # The cluster is restored, then creating its instance is denied.
    fault = Fault("denied", service="rds", operation="CreateDBInstance", times=1)
    with FaultyProxy(aws.url, [fault]) as proxy:
        code = main(["drill", "cluster", "--cluster", "ledger", "--endpoint-url", proxy.url,
                     "--output-dir", str(tmp_path), *FAST])
    d = report(tmp_path)["drill"]
    assert code == 3 and fault.hits == 1
    assert d["failed_step"] == "create instance" and d["cleaned_up"] is True
    assert "step 'create instance' failed" in capsys.readouterr().err
    assert ("rds", "DeleteDBCluster") in proxy.seen
    assert cluster_world(aws) == before


def test_cluster_drill_dry_run_makes_no_mutating_call(aws: Any, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    seed_cluster(aws)
    before = cluster_world(aws)
    with FaultyProxy(aws.url) as proxy:
        code = main(["drill", "cluster", "--cluster", "ledger", "--endpoint-url", proxy.url,
                     "--dry-run", "--output-dir", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 0 and "rds:RestoreDBClusterFromSnapshot" in out and "ledger-snap-1" in out
    assert all(op.startswith(("Describe", "Get", "List")) for _, op in proxy.seen), proxy.seen
    assert cluster_world(aws) == before


# ---- dynamodb ------------------------------------------------------------------------------------

def seed_table(aws: Any, name: str = "carts", n: int = 30, pitr: bool = True) -> Any:
    ddb = aws.client("dynamodb")
    ddb.create_table(TableName=name, BillingMode="PAY_PER_REQUEST",
                     KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}])
    for i in range(n):
        ddb.put_item(TableName=name, Item={"pk": {"S": f"cart-{i}"}, "n": {"N": str(i)},
                                           "tags": {"SS": ["a", f"t{i}"]}})
    if pitr:
        ddb.update_continuous_backups(
            TableName=name,
            PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True})
    return ddb


def tables(aws: Any) -> list[str]:
    return sorted(aws.client("dynamodb").list_tables()["TableNames"])


def test_dynamodb_drill_restores_compares_and_deletes(aws: Any, tmp_path: Path) -> None:
    seed_table(aws)
    before = tables(aws)
    code = main(["drill", "dynamodb", "--table", "carts", "--sample", "5",
                 "--endpoint-url", aws.url, "--output-dir", str(tmp_path), *FAST])
    d = report(tmp_path)["drill"]
    assert code == 0, d
    checks = {c["check"]: c for c in d["checks"]}
    assert checks["item count"]["expected"] == checks["item count"]["actual"] == 30
    assert checks["sample of items equal by key"]["actual"] == 5
    assert [c["operation"] for c in d["calls"]] == ["RestoreTableToPointInTime", "DeleteTable"]
    assert all(c["target"] == f"drguard-drill-{d['run_id']}-table" for c in d["calls"])
    assert tables(aws) == before and d["cleaned_up"]


def test_dynamodb_drill_without_pitr_cannot_run(aws: Any, tmp_path: Path) -> None:
    seed_table(aws, pitr=False)
    code = main(["drill", "dynamodb", "--table", "carts", "--endpoint-url", aws.url,
                 "--output-dir", str(tmp_path), *FAST])
    d = report(tmp_path)["drill"]
    assert code == 3 and "point-in-time recovery off" in d["error"] and d["calls"] == []


def test_dynamodb_drill_failing_wait_cleans_up_and_names_the_step(aws: Any,
                                                                 tmp_path: Path) -> None:
    seed_table(aws)
    before = tables(aws)
    fault = Fault("denied", service="dynamodb", operation="DescribeTable",
                  body_contains="drguard-drill-", times=1)
    with FaultyProxy(aws.url, [fault]) as proxy:
        code = main(["drill", "dynamodb", "--table", "carts", "--endpoint-url", proxy.url,
                     "--output-dir", str(tmp_path), *FAST])
    d = report(tmp_path)["drill"]
    assert code == 3 and d["failed_step"] == "wait until active"
    assert ("dynamodb", "DeleteTable") in proxy.seen
    assert tables(aws) == before and d["cleaned_up"]


def test_guard_refuses_cluster_and_table_writes_outside_the_scratch_names() -> None:
    from auditor.drill.guard import DrillGuard
    g = DrillGuard("20260101000000-abcdef")
    p = g.prefix
    for op, params in [
        ("DeleteDBCluster", {"DBClusterIdentifier": "ledger", "SkipFinalSnapshot": True}),
        ("DeleteDBCluster", {"DBClusterIdentifier": f"{p}-cluster", "SkipFinalSnapshot": False}),
        ("CreateDBInstance", {"DBInstanceIdentifier": f"{p}-db", "DBClusterIdentifier": "ledger",
                              "Tags": [{"Key": "dr:drill", "Value": g.run_id}]}),
        ("ModifyDBCluster", {"DBClusterIdentifier": f"{p}-cluster", "DeletionProtection": True}),
    ]:
        with pytest.raises(MutatingCallError):
            g.check("rds", op, params)
    with pytest.raises(MutatingCallError):
        g.check("dynamodb", "DeleteTable", {"TableName": "carts"})
    with pytest.raises(MutatingCallError):
        g.check("dynamodb", "PutItem", {"TableName": f"{p}-table"})
    g.check("dynamodb", "DeleteTable", {"TableName": f"{p}-table"})


# ---- history in S3 ---------------------------------------------------------------------------

def test_scan_and_drill_append_to_and_read_from_an_s3_history(
        aws: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    seed_db(aws)
    s3 = create_bucket(aws.client("s3"), "dr-history", "us-east-1")
    s3.put_object(Bucket="dr-history", Key="nightly/keep-me.txt", Body=b"not ours")
    hist = "s3://dr-history/nightly"

    def keys() -> dict[str, bytes]:
        resp = s3.list_objects_v2(Bucket="dr-history")
        return {o["Key"]: s3.get_object(Bucket="dr-history", Key=o["Key"])["Body"].read()
                for o in resp.get("Contents") or ()}

    scan = ["scan", "--endpoint-url", aws.url, "--regions", "us-east-1", "--format", "json,html",
            "--history", hist]
    main([*scan, "--output-dir", str(tmp_path / "s1")])
    first = keys()
    scans = [k for k in first if k.startswith("nightly/") and k.endswith("-scan.json")]
    assert len(scans) == 1
    # A corrupt entry (NaN) and a drill entry with an infinite RTO are skipped, named.
    s3.put_object(Bucket="dr-history", Key="nightly/20000101T000000000000Z-scan.json",
                  Body=b'{"schema": "dr-audit-history/1", "gaps": NaN}')
    s3.put_object(Bucket="dr-history", Key="nightly/drill-bad.json",
                  Body=b'{"schema": "dr-audit-drill-history/1", "rto_seconds": Infinity}')
    for i in (1, 2):
        code = main(["drill", "rds", "--db", "orders", "--endpoint-url", aws.url,
                     "--output-dir", str(tmp_path / f"d{i}"), "--history", hist, *FAST])
        assert code == 0
    d = json.loads((tmp_path / "d2" / "drill.json").read_text())["drill"]
    assert d["run_id"] in [r["run_id"] for r in d["history"]["runs"]]
    assert len(d["history"]["runs"]) == 2 and d["history"]["skipped_files"] == 1
    assert "s3://dr-history/nightly/drill-bad.json" in caplog.text
    caplog.clear()
    main([*scan, "--output-dir", str(tmp_path / "s2")])
    assert "s3://dr-history/nightly/20000101T000000000000Z-scan.json" in caplog.text
    html = (tmp_path / "s2" / "report.html").read_text()
    # the trend: the earlier scan read back from S3 and this one (the corrupt one skipped)
    assert "Gaps over the last 2 runs" in html
    after = keys()
    # Appended only: every earlier object is still there, byte for byte.
    assert all(after[k] == v for k, v in first.items())
    assert len([k for k in after if k.startswith("nightly/drill-")]) == 3
    assert len([k for k in after if k.endswith("-scan.json")]) == 3


def test_history_store_guard_allows_only_new_objects_under_its_prefix(aws: Any) -> None:
    from auditor.aws import AwsOptions
    from auditor.history_store import S3Store

    s3 = create_bucket(aws.client("s3"), "dr-history", "us-east-1")
    create_bucket(aws.client("s3"), "other", "us-east-1")
    store = S3Store("s3://dr-history/nightly", AwsOptions(endpoint_url=aws.url))
    store.append("a.json", "{}")
    # an existing key is never rewritten (If-None-Match): the second entry gets its own name
    assert store.append("a.json", '{"x": 1}') == "s3://dr-history/nightly/a-2.json"
    assert s3.get_object(Bucket="dr-history", Key="nightly/a.json")["Body"].read() == b"{}"
    for call in (lambda c: c.delete_object(Bucket="dr-history", Key="nightly/a.json"),
                 lambda c: c.put_object(Bucket="dr-history", Key="elsewhere.json", Body=b"",
                                        IfNoneMatch="*"),
                 lambda c: c.put_object(Bucket="other", Key="nightly/b.json", Body=b"",
                                        IfNoneMatch="*"),
                 lambda c: c.put_object(Bucket="dr-history", Key="nightly/c.json", Body=b"")):
        with pytest.raises(MutatingCallError):
            call(store.client)
    assert [o["Key"] for o in s3.list_objects_v2(Bucket="dr-history")["Contents"]] == [
        "nightly/a-2.json", "nightly/a.json"]


# ---- drill next ------------------------------------------------------------------------------

def drilled(hist: Path, kind: str, target: str, days_ago: float, run_id: str,
            outcome: str = "verified") -> None:
    import datetime as dt
    started = dt.datetime.now(dt.UTC) - dt.timedelta(days=days_ago)
    hist.mkdir(exist_ok=True)
    (hist / f"drill-{run_id}.json").write_text(json.dumps({
        "schema": "dr-audit-drill-history/1", "started": started.isoformat(timespec="seconds"),
        "run_id": run_id, "kind": kind, "target": target, "region": "us-east-1",
        "rto_seconds": 600, "verified": outcome == "verified", "cleaned_up": True,
        "outcome": outcome, "exit_code": 0}))


def next_world(aws: Any) -> None:
    seed_db(aws, "orders")
    aws.client("rds").add_tags_to_resource(
        ResourceName="arn:aws:rds:us-east-1:123456789012:db:orders",
        Tags=[{"Key": "dr:tier", "Value": "critical"}])
    seed_db(aws, "reports")
    seed_table(aws, "carts", n=3)


def next_dry_run(aws: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                 *extra: str) -> tuple[str, set[str]]:
    with FaultyProxy(aws.url) as proxy:
        code = main(["drill", "next", "--endpoint-url", proxy.url, "--dry-run",
                     "--output-dir", str(tmp_path / "out"), *extra])
    assert code == 0
    out = capsys.readouterr().out
    return out, {op for _, op in proxy.seen}


def test_drill_next_picks_the_never_restored_over_one_drilled_yesterday(
        aws: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    next_world(aws)
    hist = tmp_path / "hist"
    drilled(hist, "rds", "orders", 1, "a1")
    drilled(hist, "dynamodb", "carts", 2, "a2")
    drilled(hist, "rds", "reports", 0.5, "a3", outcome="failed")  # not evidence of a restore
    before = rds_world(aws)
    out, ops = next_dry_run(aws, tmp_path, capsys, "--history", str(hist))
    assert out.startswith("drill next: rds reports (us-east-1): no restore evidence")
    assert "rds:RestoreDBInstanceFromDBSnapshot" in out and '"reports-snap-1"' in out
    assert "GET /restore-jobs/" in ops  # AWS Backup's restore jobs are evidence too
    assert ops and all(op.startswith(("Describe", "Get", "List", "GET /")) for op in ops), ops
    assert rds_world(aws) == before and not (tmp_path / "out" / "drill.json").exists()


def test_drill_next_picks_the_longest_ago_and_respects_tier_and_waivers(
        aws: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    next_world(aws)
    hist = tmp_path / "hist"
    drilled(hist, "rds", "orders", 1, "b1")
    drilled(hist, "rds", "reports", 5, "b2")
    drilled(hist, "dynamodb", "carts", 3, "b3")
    out, _ = next_dry_run(aws, tmp_path, capsys, "--history", str(hist))
    assert out.startswith("drill next: rds reports (us-east-1): last restored 5 days ago")
    out, _ = next_dry_run(aws, tmp_path, capsys, "--history", str(hist), "--tier", "critical")
    assert out.startswith("drill next: rds orders (us-east-1, tier critical)")
    assert "chosen among 1 candidate(s) of tier critical" in out
    config = tmp_path / "c.yaml"
    config.write_text("dr-guard-settings:\n  waivers:\n    - control: '*'\n"
                      "      resource: reports\n      reason: being retired\n"
                      "      owner: team-data\n      expires: '2999-01-01'\n")
    out, _ = next_dry_run(aws, tmp_path, capsys, "--history", str(hist), "--config", str(config))
    assert out.startswith("drill next: dynamodb carts (us-east-1): last restored 3 days ago")
    assert "left out: rds reports: waived by team-data" in out


def test_drill_next_drills_and_its_evidence_moves_the_next_choice(
        aws: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    next_world(aws)
    hist = tmp_path / "hist"
    drilled(hist, "rds", "orders", 1, "c1")
    drilled(hist, "rds", "reports", 3, "c2")
    code = main(["drill", "next", "--endpoint-url", aws.url, "--history", str(hist),
                 "--output-dir", str(tmp_path / "o"), *FAST])
    assert code == 0
    d = report(tmp_path / "o")["drill"]
    assert (d["kind"], d["target"], d["verified"], d["cleaned_up"]) == (
        "dynamodb", "carts", True, True)
    assert d["next"]["why"].startswith("dynamodb carts (us-east-1): no restore evidence")
    capsys.readouterr()
    out, _ = next_dry_run(aws, tmp_path, capsys, "--history", str(hist))
    assert out.startswith("drill next: rds reports (us-east-1): last restored 3 days ago")


def test_drill_next_report_says_why_it_was_chosen(aws: Any, tmp_path: Path) -> None:
    seed_table(aws, "carts", n=2)
    code = main(["drill", "next", "--endpoint-url", aws.url, "--output-dir", str(tmp_path),
                 *FAST])
    assert code == 0
    md, html = (tmp_path / "drill.md").read_text(), (tmp_path / "drill.html").read_text()
    assert "Chosen by `drill next`: dynamodb carts (us-east-1): no restore evidence" in md
    assert "no --history given" in md and "Chosen by <code>drill next</code>" in html


def test_guard_refuses_scratch_keys_that_climb_out_of_the_prefix() -> None:
    # S3 stores `..` literally, but a path-normalising proxy or client between the drill and
    # S3 would turn `<prefix>/../victim` into `victim`: the guard must not rely on either.
    from auditor.drill.guard import DrillGuard

    guard = DrillGuard("20261201000000-abcdef")
    tagging = f"dr%3Adrill={guard.run_id}"
    for key in (f"{guard.prefix}/../victim", f"{guard.prefix}/a/../../victim",
                f"{guard.prefix}/..", f"{guard.prefix}/x/.."):
        with pytest.raises(MutatingCallError):
            guard.check("s3", "DeleteObject", {"Bucket": "data", "Key": key})
        with pytest.raises(MutatingCallError):
            guard.check("s3", "CopyObject", {"Bucket": "data", "Key": key,
                                             "CopySource": {"Bucket": "data", "Key": "k"},
                                             "TaggingDirective": "REPLACE", "Tagging": tagging})
    guard.check("s3", "DeleteObject", {"Bucket": "data", "Key": f"{guard.prefix}/a..b/.x"})
    assert [c.allowed for c in guard.calls] == [False] * 8 + [True]


def test_s3_drill_of_a_key_with_dot_dot_segments_restores_it_under_the_prefix(
        aws: Any, tmp_path: Path) -> None:
    s3 = create_bucket(aws.client("s3"), "odd-keys", "us-east-1")
    s3.put_bucket_versioning(Bucket="odd-keys", VersioningConfiguration={"Status": "Enabled"})
    s3.put_object(Bucket="odd-keys", Key="../up/x", Body=b"one")
    s3.put_object(Bucket="odd-keys", Key="../up/x", Body=b"two")
    before = versions(s3, "odd-keys")
    code = main(["drill", "s3", "--bucket", "odd-keys", "--key", "../up/x", "--endpoint-url",
                 aws.url, "--output-dir", str(tmp_path), *FAST])
    d = report(tmp_path)["drill"]
    assert code == 0, d
    assert d["cleaned_up"] and not d.get("left_behind")
    assert versions(s3, "odd-keys") == before
