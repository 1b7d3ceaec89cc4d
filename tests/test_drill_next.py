"""`dr-audit drill next` over every restorable kind: backup buckets (drill s3) and the Pulumi
state backend (drill state) next to databases, against the moto server over HTTP; and the
drill it makes is the scan's restore evidence (one model, drguard.restore_evidence)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from auditor.cli import main
from auditor.demo_seed import create_bucket
from tests.faulty_proxy import Fault, FaultyProxy
from tests.test_drill import FAST, deployment, report, seed_db, state_bucket, versions

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

READS = ("Describe", "Get", "List", "GET /", "HEAD /")


def world(aws: Any, tmp_path: Path, waive: str | None = None) -> Path:
    """orders (RDS, critical), two backup buckets (by name pattern, critical; by tag), one
    bucket out of scope, the state backend; the config names the state bucket and tiers."""
    seed_db(aws, "orders")
    aws.client("rds").add_tags_to_resource(
        ResourceName="arn:aws:rds:us-east-1:123456789012:db:orders",
        Tags=[{"Key": "dr:tier", "Value": "critical"}])
    s3 = aws.client("s3")
    for name, tags in (("orders-backups", {"dr:tier": "critical"}),
                       ("nightly-dumps", {"dr:backup": "true"}), ("app-assets", None)):
        create_bucket(s3, name, "us-east-1", tags=tags)
        s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
        s3.put_object(Bucket=name, Key="dump.sql", Body=b"first")
        s3.put_object(Bucket=name, Key="dump.sql", Body=b"second")
    state_bucket(aws, [deployment(n=2), deployment(n=3)])
    s3.put_object(Bucket="pulumi-state", Key=".pulumi/stacks/shop/prod.json.bak", Body=b"{}")
    s3.put_object(Bucket="pulumi-state", Key=".pulumi/history/shop/prod/x.checkpoint.json",
                  Body=b"{}")
    config: dict[str, Any] = {"scope": {"stateBucket": "pulumi-state"},
                              "tiers": {"critical": {"targetRtoMinutes": 60}}}
    if waive:
        config["waivers"] = [{"control": "restore-time-objective", "resource": waive,
                              "reason": "being retired", "owner": "team-data",
                              "expires": "2999-01-01"}]
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    return path


def drilled(hist: Path, kind: str, target: str, days_ago: float,
            account: str | None = None) -> None:
    """A verified drill of `target`, `days_ago` days ago (in `account` when given)."""
    started = dt.datetime.now(dt.UTC) - dt.timedelta(days=days_ago)
    hist.mkdir(exist_ok=True)
    run_id = f"{account}-{target}" if account else f"{kind}-{days_ago}"
    (hist / f"drill-{run_id}.json").write_text(json.dumps({
        "schema": "dr-audit-drill-history/1", "started": started.isoformat(timespec="seconds"),
        "run_id": run_id, "kind": kind, "target": target, "region": "us-east-1",
        **({"account": account} if account else {}), "rto_seconds": 60, "verified": True,
        "cleaned_up": True, "outcome": "verified", "exit_code": 0}))


def dry_run(aws: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str], *extra: str,
            faults: list[Fault] | None = None) -> tuple[str, set[str]]:
    capsys.readouterr()
    with FaultyProxy(aws.url, faults) as proxy:
        code = main(["drill", "next", "--endpoint-url", proxy.url, "--dry-run",
                     "--output-dir", str(tmp_path / "out"), *extra])
    out, err = capsys.readouterr()
    assert code == 0, out + err
    return out, {op for _, op in proxy.seen}


def test_candidates_include_backup_buckets_and_the_state_backend(
        aws: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = world(aws, tmp_path)
    hist = tmp_path / "hist"
    drilled(hist, "rds", "orders", 1)
    before = {b: versions(aws.client("s3"), b) for b in ("orders-backups", "pulumi-state")}
    out, ops = dry_run(aws, tmp_path, capsys, "--config", str(config), "--history", str(hist))
    # never restored beats drilled yesterday; among the never restored, the critical tier
    assert out.startswith("drill next: s3 orders-backups (us-east-1, tier critical): no "
                          "restore evidence")
    lines = out.splitlines()
    assert any(line.split()[:2] == ["s3", "nightly-dumps"] for line in lines)
    assert any(line.split()[:3] == ["state", "s3://pulumi-state", "shop/prod"] for line in lines)
    assert not any("app-assets" in line for line in lines)
    assert "s3:CopyObject" in out
    assert ops and all(op.startswith(READS) for op in ops), ops  # --dry-run: reads only
    assert {b: versions(aws.client("s3"), b) for b in before} == before


def test_oldest_evidence_then_the_state_drill_counts_for_the_scan(
        aws: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = world(aws, tmp_path)
    hist = tmp_path / "hist"
    drilled(hist, "rds", "orders", 1)
    drilled(hist, "s3", "s3://orders-backups", 2)
    drilled(hist, "s3", "s3://nightly-dumps/dump.sql", 5)
    drilled(hist, "state", "s3://pulumi-state organization/shop/prod", 3)
    out, _ = dry_run(aws, tmp_path, capsys, "--config", str(config), "--history", str(hist))
    assert out.startswith("drill next: s3 nightly-dumps (us-east-1): last restored 5 days ago")
    (hist / "drill-state-3.json").unlink()  # the state backend now has no evidence: drill it
    code = main(["drill", "next", "--endpoint-url", aws.url, "--config", str(config),
                 "--history", str(hist), "--output-dir", str(tmp_path / "o"), *FAST])
    d = report(tmp_path / "o")["drill"]
    assert code == 0, d
    assert (d["kind"], d["target"], d["verified"], d["cleaned_up"]) == (
        "state", "s3://pulumi-state shop/prod", True, True)
    assert d["next"]["why"].startswith("state s3://pulumi-state shop/prod (us-east-1): no "
                                       "restore evidence")
    out, _ = dry_run(aws, tmp_path, capsys, "--config", str(config), "--history", str(hist))
    assert out.startswith("drill next: s3 nightly-dumps (us-east-1)")
    # the scan judges the state bucket on the same evidence: that drill passes it
    main(["scan", "--endpoint-url", aws.url, "--regions", "us-east-1", "--config",
          str(config), "--history", str(hist), "--output-dir", str(tmp_path / "s"),
          "--format", "json"])
    found = {f["resource"]: f for f in json.loads((tmp_path / "s" / "report.json").read_text())[
        "findings"] if f["control"] == "restore-time-objective"}
    state = found["arn:aws:s3:::pulumi-state"]
    assert state["status"] == "pass", state["message"]
    assert state["evidence"]["restoreEvidence"] == f"dr-audit drill {d['run_id']}"
    assert found["arn:aws:rds:us-east-1:123456789012:db:orders"]["status"] == "pass"


def test_tier_and_waivers_limit_the_buckets_too(
        aws: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = world(aws, tmp_path, waive="orders-backups")
    hist = tmp_path / "hist"
    drilled(hist, "rds", "orders", 1)
    out, _ = dry_run(aws, tmp_path, capsys, "--config", str(config), "--history", str(hist),
                     "--tier", "Critical",  # tiers are compared in lower case
                     faults=[Fault("denied", "backup", "GET /restore-jobs/")])
    # orders-backups (critical, never restored) is waived: orders is the only critical one
    assert out.startswith("drill next: rds orders (us-east-1, tier critical): last restored")
    assert "chosen among 1 candidate(s) of tier critical" in out
    assert "left out: s3 orders-backups: waived by team-data" in out
    # restore jobs that cannot be read are unknown evidence, and said so
    assert "unknown: AWS Backup restore jobs in us-east-1 could not be read " \
           "(backup:ListRestoreJobs: AccessDenied" in out


def test_an_s3_history_is_read_like_a_folder(aws: Any, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    seed_db(aws, "orders")
    seed_db(aws, "reports")
    s3 = create_bucket(aws.client("s3"), "dr-history", "us-east-1")
    hist = "s3://dr-history/nightly"
    assert main(["drill", "rds", "--db", "orders", "--endpoint-url", aws.url, "--history", hist,
                 "--output-dir", str(tmp_path / "d1"), *FAST]) == 0
    s3.put_object(Bucket="dr-history", Key="nightly/drill-zz.json", Body=b'{"rto_seconds": 1e999}')
    out, _ = dry_run(aws, tmp_path, capsys, "--history", hist)
    assert out.startswith("drill next: rds reports (us-east-1): no restore evidence")
    assert any(line.split()[:2] == ["rds", "orders"] and "last restored 0 h ago" in line
               for line in out.splitlines())
    assert "note: drill history s3://dr-history/nightly/: 1 entry could not be read (named in " \
           "the log): not evidence" in out


def test_a_resource_whose_drill_cannot_run_does_not_starve_the_others(
        aws: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A table without point-in-time recovery cannot be drilled: it stays without evidence
    (the scan keeps failing it) but the next night drills the resource tried longest ago."""
    config = world(aws, tmp_path)
    aws.client("dynamodb").create_table(
        TableName="carts", KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST")  # point-in-time recovery off
    hist = tmp_path / "hist"
    drilled(hist, "rds", "orders", 1)
    drilled(hist, "s3", "s3://orders-backups", 2)
    drilled(hist, "s3", "s3://nightly-dumps/dump.sql", 5)
    drilled(hist, "state", "s3://pulumi-state organization/shop/prod", 3)
    capsys.readouterr()
    code = main(["drill", "next", "--endpoint-url", aws.url, "--config", str(config),
                 "--history", str(hist), "--output-dir", str(tmp_path / "o"), *FAST])
    assert capsys.readouterr().out.startswith(
        "drill next: dynamodb carts (us-east-1): no restore evidence; chosen among 5 "
        "candidate(s) as the one with no restore evidence")
    assert code == 3 and report(tmp_path / "o")["drill"]["target"] == "carts"
    out, _ = dry_run(aws, tmp_path, capsys, "--config", str(config), "--history", str(hist))
    assert out.startswith("drill next: s3 nightly-dumps (us-east-1): last restored 5 days ago")
    assert "as the one with the oldest restore evidence" in out.splitlines()[0]
    carts = next(line for line in out.splitlines() if line.split()[:2] == ["dynamodb", "carts"])
    assert "no restore evidence; a drill 0 h ago could not run" in carts


def test_a_history_that_is_a_file_is_a_usage_error_before_anything_is_chosen(
        aws: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    world(aws, tmp_path)
    not_a_folder = tmp_path / "history.json"
    not_a_folder.write_text("{}")
    capsys.readouterr()
    code = main(["drill", "next", "--endpoint-url", aws.url, "--dry-run",
                 "--history", str(not_a_folder), "--output-dir", str(tmp_path / "o")])
    out, err = capsys.readouterr()
    assert code == 2 and out == ""  # nothing chosen on an empty history
    assert err.strip() == f"dr-audit: error: --history {not_a_folder}: not a folder"


def test_the_drill_is_timed_against_the_target_the_scan_judges(
        aws: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Without --rto, the chosen resource's own target: its dr:rto tag, else its tier's."""
    config = world(aws, tmp_path)
    hist = tmp_path / "hist"
    for kind, target in (("s3", "s3://orders-backups"), ("s3", "s3://nightly-dumps/dump.sql"),
                         ("state", "s3://pulumi-state organization/shop/prod")):
        drilled(hist, kind, target, 1)
    out, _ = dry_run(aws, tmp_path, capsys, "--config", str(config), "--history", str(hist))
    assert out.startswith("drill next: rds orders (us-east-1, tier critical)")
    assert "  target: 60 min (tier critical)" in out.splitlines()
    aws.client("rds").add_tags_to_resource(
        ResourceName="arn:aws:rds:us-east-1:123456789012:db:orders",
        Tags=[{"Key": "dr:rto", "Value": "2h"}])
    out, _ = dry_run(aws, tmp_path, capsys, "--config", str(config), "--history", str(hist))
    assert "  target: 120 min (tag dr:rto=2h)" in out.splitlines()
    out, _ = dry_run(aws, tmp_path, capsys, "--config", str(config), "--history", str(hist),
                     "--rto", "15")
    assert not any(line.startswith("  target:") for line in out.splitlines())


def test_a_tier_the_config_does_not_define_sets_no_target(
        aws: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """dr:tier=critcal (a typo) while the config defines tiers: the scan calls its target RTO
    unknown, so the drill is not timed against the control default either."""
    config = world(aws, tmp_path)
    aws.client("rds").add_tags_to_resource(
        ResourceName="arn:aws:rds:us-east-1:123456789012:db:orders",
        Tags=[{"Key": "dr:tier", "Value": "critcal"}])
    hist = tmp_path / "hist"
    for i, (kind, target) in enumerate((("s3", "s3://orders-backups"),
                                        ("s3", "s3://nightly-dumps/dump.sql"),
                                        ("state", "s3://pulumi-state organization/shop/prod"))):
        drilled(hist, kind, target, 1 + i / 10)  # distinct days: distinct history files
    out, _ = dry_run(aws, tmp_path, capsys, "--config", str(config), "--history", str(hist))
    assert out.startswith("drill next: rds orders (us-east-1, tier critcal)"), out
    assert not any(line.startswith("  target:") for line in out.splitlines()), out


def test_regions_choose_across_regions_and_drill_in_the_resources_own(
        aws: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--regions: the never-restored backup bucket of the DR region wins over resources of the
    main region drilled yesterday; without it, only --region's resources are candidates."""
    config = world(aws, tmp_path)
    hist = tmp_path / "hist"
    for i, (kind, target) in enumerate((("rds", "orders"), ("s3", "s3://orders-backups"),
                                        ("s3", "s3://nightly-dumps/dump.sql"),
                                        ("state", "s3://pulumi-state organization/shop/prod"))):
        drilled(hist, kind, target, 1 + i / 10)  # distinct days: distinct history files
    west = create_bucket(aws.client("s3", "us-west-2"), "dr-copies", "us-west-2",
                         tags={"dr:backup": "true"})
    west.put_bucket_versioning(Bucket="dr-copies", VersioningConfiguration={"Status": "Enabled"})
    for body in (b"first copy", b"second copy"):  # an overwritten version to restore
        west.put_object(Bucket="dr-copies", Key="dump.sql", Body=body)
    out, _ = dry_run(aws, tmp_path, capsys, "--config", str(config), "--history", str(hist),
                     "--region", "us-east-1")
    assert "dr-copies" not in out
    out, ops = dry_run(aws, tmp_path, capsys, "--config", str(config), "--history", str(hist),
                       "--regions", "us-east-1,us-west-2")
    assert out.startswith("drill next: s3 dr-copies (us-west-2): no restore evidence"), out
    assert any(line.split()[:2] == ["rds", "orders"] for line in out.splitlines())
    assert ops and all(op.startswith(READS) for op in ops), ops
