"""`dr-audit demo`: the seeded organization, its CloudTrail logs, and each planted gap linked to
the event (who, when, from where) that caused it, in every report."""

from __future__ import annotations

import datetime as dt
import io
import json
import re
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Any

import pytest

from auditor.cli import main
from auditor.demo_seed import LOG_DAYS, TRAIL_BUCKET, seed
from auditor.logs import collect, reader
from auditor.logs.window import Window
from drguard.settings import Settings

pytestmark = pytest.mark.slow

MGMT, MEMBER = "management", "member"
# live gap (control, resource name) -> (account, principal after the account, IP, eventName)
CULPRITS: dict[tuple[str, str], tuple[str, str, str, str]] = {
    ("rds-backup-retention", "legacy-reporting"):
        (MGMT, "assumed-role/Admin/bob", "203.0.113.42", "ModifyDBInstance"),
    ("rds-deletion-protection", "legacy-reporting"):
        (MGMT, "assumed-role/Admin/bob", "203.0.113.42", "ModifyDBInstance"),
    ("backup-bucket-object-lock", "acme-backups-dr"):
        (MGMT, "assumed-role/pulumi-deploy/pulumi-ci", "198.51.100.7",
         "PutObjectLockConfiguration"),
    ("backup-vault-lock", "scratch"):
        (MGMT, "assumed-role/BackupOperator/erin", "203.0.113.15",
         "DeleteBackupVaultLockConfiguration"),
    # scratch receives the member account's weekly copies: its lock mattered there too
    ("backup-air-gapped", "scratch"):
        (MGMT, "assumed-role/BackupOperator/erin", "203.0.113.15",
         "DeleteBackupVaultLockConfiguration"),
    ("rds-backup-retention", "inventory-db"):
        (MEMBER, "assumed-role/DataEngineer/carol", "198.51.100.23", "ModifyDBInstance"),
    ("backup-bucket-versioning", "workloads-backup-archive"):
        (MEMBER, "assumed-role/break-glass/dave", "203.0.113.77", "PutBucketVersioning"),
    ("backup-bucket-public-access-block", "workloads-backup-archive"):
        (MEMBER, "assumed-role/break-glass/dave", "203.0.113.77",
         "DeleteBucketPublicAccessBlock"),
    ("backup-bucket-deletion-alerts", "workloads-backup-archive"):
        (MEMBER, "user/legacy-ci", "198.51.100.200", "DeleteRule"),
    ("cloudtrail-enabled", "root"):
        (MEMBER, "user/legacy-ci", "198.51.100.200", "DeleteTrail"),
}


def _name(arn: str) -> str:
    return arn.rsplit(":", 1)[-1].rsplit("/", 1)[-1]


def _principal(account: str, tail: str) -> str:
    service = "iam" if tail.startswith("user/") else "sts"
    return f"arn:aws:{service}::{account}:{tail}"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("demo")
    stdout, stderr = io.StringIO(), io.StringIO()
    with redirect_stdout(stdout), redirect_stderr(stderr):
        code = main(["demo", "--output-dir", str(out)])
    report = json.loads((out / "report.json").read_text())
    mgmt = report["run"]["principal_account"]
    member = next(a for a in report["run"]["accounts"] if a != mgmt)
    return {"code": code, "out": out, "stdout": stdout.getvalue(), "stderr": stderr.getvalue(),
            "report": report, "accounts": {MGMT: mgmt, MEMBER: member}}


def test_demo_writes_every_report(demo: dict[str, Any]) -> None:
    out: Path = demo["out"]
    assert demo["code"] == 0
    assert f"HTML report: {out / 'report.html'}" in demo["stdout"]
    # every report's path on stdout, none on stderr (its phases and summary)
    assert f"JSON report: {out / 'report.json'}" in demo["stdout"].splitlines()
    assert "report: " not in demo["stderr"]
    for name in ("report.json", "report.html", "report.md", "report.sarif", "report.junit.xml"):
        assert (out / name).stat().st_size > 0
    report = demo["report"]
    assert len(report["run"]["accounts"]) == 2 and report["run"]["regions"] == [
        "us-east-1", "us-west-2"]
    assert {f["status"] for f in report["findings"]} == {"pass", "fail", "attempt"}
    assert {f["source"] for f in report["findings"]} == {"live", "logs"}


def test_live_gaps_carry_the_event_that_caused_them(demo: dict[str, Any]) -> None:
    accounts, started = demo["accounts"], dt.datetime.fromisoformat(
        demo["report"]["run"]["started"])
    live_fails = [f for f in demo["report"]["findings"]
                  if f["source"] == "live" and f["status"] == "fail"]
    linked = {(f["control"], _name(f["resource"])): f for f in live_fails if f.get("event")}
    assert set(linked) == set(CULPRITS)  # every culprit found, no gap explained by noise
    for key, (who, tail, ip, name) in CULPRITS.items():
        f, ev = linked[key], linked[key]["event"]
        assert f["account"] == accounts[who], key
        assert ev["principal"] == _principal(accounts[who], tail), key
        assert (ev["sourceIp"], ev["eventName"]) == (ip, name), key
        assert not ev.get("errorCode"), key
        t = dt.datetime.fromisoformat(ev["time"].replace("Z", "+00:00"))
        assert started - dt.timedelta(days=LOG_DAYS) < t < started, key
    trail = linked[("cloudtrail-enabled", "root")]["event"]
    assert trail["resource"].endswith(f"{accounts[MEMBER]}:trail/workloads-audit")
    assert len(live_fails) > len(linked)  # gaps no event explains stay unexplained


def test_logs_findings_include_the_failed_attempt(demo: dict[str, Any]) -> None:
    findings = demo["report"]["findings"]
    # one finding per gap: each culprit's change is merged into the live gap it explains
    # (events, sources), not repeated as a logs row; only the attempt stays a logs row
    logs = [f for f in findings if f["source"] == "logs"]
    found = {(f["control"], _name(f["resource"]), f["status"]) for f in logs}
    assert found == {("resource-drift-deleted", "workloads-backup-archive", "attempt")}
    merged = {(f["control"], _name(f["resource"])): f for f in findings
              if "logs" in f.get("sources", [])}
    assert set(merged) == set(CULPRITS)
    assert all(f["status"] == "fail" and f["source"] == "live" and f["events"]
               for f in merged.values())
    assert len({f["id"] for f in findings}) == len(findings)
    (attempt,) = [f for f in logs if f["status"] == "attempt"]
    member = demo["accounts"][MEMBER]
    assert attempt["event"]["errorCode"] == "AccessDenied"
    assert attempt["event"]["eventName"] == "DeleteBucket"
    # a refused call says so first: it did not delete anything
    assert attempt["message"].startswith("Refused (AccessDenied), nothing changed:")
    assert "called DeleteBucket on workloads-backup-archive" in attempt["message"]
    assert attempt["event"]["principal"] == f"arn:aws:iam::{member}:user/legacy-ci"
    assert attempt["event"]["sourceIp"] == "198.51.100.200"
    assert attempt["account"] == member and "service control policy" in str(
        attempt["evidence"])


def test_log_run_read_every_file_and_skipped_none(demo: dict[str, Any]) -> None:
    meta = demo["report"]["run"]["logs"]
    assert meta["sources"] == [f"s3://{TRAIL_BUCKET}/"]
    assert meta["skipped"] == {"sources": 0, "files": 0, "records": 0}
    assert meta["skipped_detail"] == []
    assert sorted(meta["accounts"]) == sorted(demo["accounts"].values())
    assert (meta["events"], meta["attempts"]) == (len(CULPRITS), 1)
    m = re.search(r"read (\d+) CloudTrail log files \((\d+) events over \d+ days; the (\d+) "
                  r"digest files", demo["stderr"])
    assert m, demo["stderr"]
    assert meta["files"] == int(m.group(1)) > 50 and int(m.group(3)) > 0


def test_demo_says_what_it_linked(demo: dict[str, Any]) -> None:
    err = demo["stderr"]
    m = re.search(r"linked (\d+) of (\d+) live gaps to the CloudTrail events", err)
    assert m and int(m.group(1)) == len(CULPRITS), err
    bob = _principal(demo["accounts"][MGMT], "assumed-role/Admin/bob")
    assert f"rds-backup-retention on legacy-reporting: ModifyDBInstance by {bob} from " \
           "203.0.113.42" in err
    assert "attempt: DeleteBucket on workloads-backup-archive" in err


def test_reports_show_the_culprits(demo: dict[str, Any]) -> None:
    html = (demo["out"] / "report.html").read_text()
    md = (demo["out"] / "report.md").read_text()
    member = demo["accounts"][MEMBER]
    for text in (_principal(demo["accounts"][MGMT], "assumed-role/Admin/bob"), "203.0.113.42",
                 f"arn:aws:sts::{member}:assumed-role/break-glass/dave", "198.51.100.200"):
        assert text in html, text
    assert "### Attempts (1)" in md and "legacy-ci" in md


def test_seeded_trail_bucket_layout_and_digests(aws: Any) -> None:
    now = dt.datetime(2024, 5, 2, 12, 0, tzinfo=dt.UTC)
    org = seed(aws.url, now=now)
    s3 = aws.client("s3")
    keys = [o["Key"] for page in s3.get_paginator("list_objects_v2").paginate(
        Bucket=TRAIL_BUCKET) for o in page.get("Contents", ())]
    logs = [k for k in keys if "/CloudTrail/" in k]
    digests = [k for k in keys if "/CloudTrail-Digest/" in k]
    assert len(logs) == org.log_files and len(digests) == org.digest_files > 0
    assert len(keys) == len(logs) + len(digests)
    layout = re.compile(r"^AWSLogs/(\d{12})/CloudTrail/(us-east-1|us-west-2)/(\d{4})/(\d\d)/"
                        r"(\d\d)/\1_CloudTrail_\2_\3\4\5T\d{4}Z_[0-9A-F]{16}\.json\.gz$")
    assert all(layout.match(k) for k in logs), [k for k in logs if not layout.match(k)][:3]
    days = {dt.date(*map(int, layout.match(k).groups()[2:])) for k in logs}  # type: ignore
    assert min(days) == (now - dt.timedelta(days=LOG_DAYS)).date() and max(days) == now.date()
    assert {layout.match(k).group(1) for k in logs} == {org.management, org.member}  # type: ignore
    # A digest file read as a log file would be skipped as damaged: the listing must leave it.
    raw = s3.get_object(Bucket=TRAIL_BUCKET, Key=digests[0])["Body"].read()
    assert reader.read(digests[0], raw, reader.Matcher({"DeleteTrail"})).error
    hits, meta = collect([f"s3://{TRAIL_BUCKET}/"], Window(), Settings(), endpoint_url=aws.url)
    assert meta["files"] == org.log_files and meta["skipped"]["files"] == 0
    assert meta["records_decoded"] >= len(hits) >= 10


def test_applications_say_none_where_a_resource_has_no_recovery_point(
        demo: dict[str, Any]) -> None:
    """prod's workloads-backup-archive bucket has no recovery point at all: its worst achieved
    RPO is "none", the worst case, never "unknown" (nothing was unread)."""
    report = json.loads((demo["out"] / "report.json").read_text())
    prod = next(a for a in report["applications"] if a["name"].endswith("/prod"))
    assert prod["rpo"]["without_recovery_point"] == 1 and prod["rpo"]["unknown"] == 0
    for name in ("report.html", "report.md"):
        assert "1.0 h / none for 1 resource" in (demo["out"] / name).read_text(), name
