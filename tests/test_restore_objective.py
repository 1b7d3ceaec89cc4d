"""restore-time-objective: drills kept in the history and AWS Backup restore jobs.

moto does not serve ListRestoreJobs, so the restore jobs come from a real botocore client
with a Stubber at the client boundary (the documented response shape); the rest of the scan
(the resources, their findings) is the moto server."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber

from auditor import restore
from auditor.collectors import ReadError
from auditor.services.restore import drill_restores, restore_jobs
from drguard.findings import Finding
from drguard.settings import from_mapping

NOW = dt.datetime(2026, 12, 5, 12, 0, tzinfo=dt.UTC)
ACCOUNT = "123456789012"
DB = f"arn:aws:rds:us-east-1:{ACCOUNT}:db:orders-db"
TABLE = f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/sessions"
OLD_DB = f"arn:aws:rds:us-east-1:{ACCOUNT}:db:reports"
LEGACY = f"arn:aws:rds:us-east-1:{ACCOUNT}:db:legacy"
ANY_CONTROL = "rds-deletion-protection"


def _client_with_jobs(jobs: list[dict[str, Any]]) -> Any:
    c = boto3.client("backup", region_name="us-east-1", aws_access_key_id="x",
                     aws_secret_access_key="x")
    stub = Stubber(c)
    stub.add_response("list_restore_jobs", {"RestoreJobs": jobs[:1], "NextToken": "p2"},
                      {"ByStatus": "COMPLETED", "ByCreatedAfter": ANY})
    stub.add_response("list_restore_jobs", {"RestoreJobs": jobs[1:]},
                      {"ByStatus": "COMPLETED", "ByCreatedAfter": ANY, "NextToken": "p2"})
    stub.activate()
    return c


def _job(source: str, minutes: float, days_ago: float, validation: str | None = None
         ) -> dict[str, Any]:
    end = NOW - dt.timedelta(days=days_ago)
    j = {"RestoreJobId": f"job-{source[-6:]}", "SourceResourceArn": source,
         "Status": "COMPLETED", "CreationDate": end - dt.timedelta(minutes=minutes),
         "CompletionDate": end}
    if validation:
        j["ValidationStatus"] = validation
    return j


def _drill(folder: Path, target: str, seconds: float, days_ago: float, verified: bool = True
           ) -> None:
    folder.mkdir(exist_ok=True)
    started = (NOW - dt.timedelta(days=days_ago)).isoformat().replace("+00:00", "Z")
    run_id = f"r{len(list(folder.iterdir()))}"
    (folder / f"drill-{run_id}.json").write_text(json.dumps({
        "schema": "dr-audit-drill-history/1", "run_id": run_id, "started": started,
        "kind": "rds", "target": target, "rto_seconds": seconds, "rto_target_seconds": None,
        "verified": verified, "cleaned_up": True, "outcome": "restored", "exit_code": 0}))


def _live(arn: str, tier: str | None = None) -> Finding:
    f = Finding(ANY_CONTROL, "pass", "live", arn, "ok", ACCOUNT, "us-east-1")
    f.tier = tier
    return f


CONFIG = {"tiers": {"critical": {"targetRtoMinutes": 60}, "standard": {"targetRtoMinutes": 480}}}


def test_drilled_passes_undrilled_fails_never_restored(tmp_path) -> None:  # noqa: ANN001
    history = tmp_path / "history"
    _drill(history, "orders-db", 45 * 60, 3)
    _drill(history, "orders-db", 10 * 60, 1, verified=False)  # not verified: no evidence
    _drill(history, "reports", 30 * 60, 60)  # too old
    jobs = restore_jobs(_client_with_jobs([
        _job(TABLE, 200, 2), _job(TABLE, 5, 1, validation="FAILED")]), NOW)
    drills, skipped = drill_restores(history)
    settings = from_mapping(CONFIG)
    out = {f.resource: f for f in restore.judge(
        [_live(DB, "critical"), _live(TABLE, "standard"), _live(OLD_DB), _live(LEGACY)],
        settings, lambda a, r: jobs, drills, NOW)}
    assert skipped == 0
    db = out[DB]
    assert db.status == "pass" and db.evidence["restoreMinutes"] == 45
    assert (db.evidence["targetRtoMinutes"], db.evidence["targetFrom"]) == (60, "tier critical")
    table = out[TABLE]  # the validation-FAILED job does not count; 200 min within 480
    assert table.status == "pass" and table.evidence["restoreEvidence"].startswith(
        "AWS Backup restore job")
    assert table.evidence["targetFrom"] == "tier standard"
    assert out[OLD_DB].status == "fail" and "60 days old" in out[OLD_DB].message
    assert out[OLD_DB].evidence["targetFrom"] == "control default (targetRtoMinutes)"
    assert out[LEGACY].status == "fail" and "never restored" in out[LEGACY].message


def test_slower_than_target_fails_and_tag_wins() -> None:
    from drguard.controls.objectives import target_rto

    assert target_rto({"dr:rto": "90m"}, "critical", {"targetRtoMinutes": 60}, 240) == (
        90.0, "tag dr:rto=90m")
    assert target_rto({}, "critical", {"targetRtoMinutes": 60}, 240) == (60.0, "tier critical")
    assert target_rto(None, None, {}, 240) == (240.0, "control default (targetRtoMinutes)")
    jobs = {DB: restore_jobs(_client_with_jobs([_job(DB, 75, 1), _job(DB, 30, 20)]), NOW)[DB]}
    out = restore.judge([_live(DB, "critical")], from_mapping(CONFIG), lambda a, r: jobs, {},
                        NOW)
    assert out[0].status == "fail" and "took 75 min, slower than its target RTO of 60 min" \
        in out[0].message


def test_unreadable_restore_jobs_are_error_not_never_restored() -> None:
    err = ReadError("backup:ListRestoreJobs", "AccessDeniedException", "no")
    out = restore.judge([_live(DB)], from_mapping({}), lambda a, r: err, {}, NOW)
    assert out[0].status == "error" and "could not be read" in out[0].message


def test_scan_judges_restore_evidence_end_to_end(aws, tmp_path, monkeypatch) -> None:  # noqa: ANN001
    """moto answers everything but ListRestoreJobs; that one call is stubbed on the client."""
    from auditor import aws as aws_mod
    from auditor.cli import main

    rds = aws.client("rds")
    for db in ("orders-db", "legacy"):
        rds.create_db_instance(DBInstanceIdentifier=db, DBInstanceClass="db.t4g.medium",
                               Engine="postgres", AllocatedStorage=20, MasterUsername="app",
                               MasterUserPassword="password-123")
    history = tmp_path / "history"
    _drill(history, "orders-db", 20 * 60, 1)
    real_guard = aws_mod.guard_client

    def guard(client: Any) -> Any:
        if client.meta.service_model.service_name == "backup":
            stub = Stubber(client)
            stub.add_response("list_restore_jobs", {"RestoreJobs": []},
                              {"ByStatus": "COMPLETED", "ByCreatedAfter": ANY})
            stub.activate()
        return real_guard(client)

    monkeypatch.setattr(aws_mod, "guard_client", guard)
    monkeypatch.setattr(restore, "dt", _Clock)
    out = tmp_path / "r"
    main(["scan", "--endpoint-url", aws.url, "--regions", "us-east-1", "--history",
          str(history), "--output-dir", str(out), "--format", "json"])
    report = json.loads((out / "report.json").read_text())
    rto = {f["resource"].rsplit(":", 1)[-1]: f for f in report["findings"]
           if f["control"] == "restore-time-objective"}
    assert rto["orders-db"]["status"] == "pass"
    assert rto["legacy"]["status"] == "fail" and "never restored" in rto["legacy"]["message"]


class _Clock:
    """`datetime` as auditor.restore sees it, fixed at NOW."""

    timedelta = dt.timedelta
    UTC = dt.UTC

    class datetime(dt.datetime):  # noqa: N801
        @classmethod
        def now(cls, tz: Any = None) -> dt.datetime:  # noqa: ARG003
            return NOW


pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def test_without_history_restore_is_not_judged(aws, tmp_path) -> None:  # noqa: ANN001
    from auditor.cli import main

    aws.client("rds").create_db_instance(
        DBInstanceIdentifier="orders-db", DBInstanceClass="db.t4g.medium", Engine="postgres",
        AllocatedStorage=20, MasterUsername="app", MasterUserPassword="password-123")
    out = tmp_path / "r"
    main(["scan", "--endpoint-url", aws.url, "--regions", "us-east-1", "--output-dir",
          str(out), "--format", "json"])
    report = json.loads((out / "report.json").read_text())
    assert not [f for f in report["findings"] if f["control"] == "restore-time-objective"]
    assert any(n.startswith("restore-time-objective: not checked")
               for n in report["run"]["skipped"]["notes"])


def test_tier_objectives_override_the_rpo_default_and_the_tag_wins() -> None:
    from drguard.applications import with_tier
    from drguard.controls.rpo import RecoveryPoints, rpo

    apps = from_mapping({"tiers": {"critical": {"targetRpoHours": 1}},
                         "applications": {"shop/prod": {"tier": "critical"}}}).apps
    base = {"targetRpoHours": 24}

    def judged(tags: dict[str, str]) -> dict[str, Any]:
        r = RecoveryPoints(ref="arn:aws:rds:us-east-1:1:db:x", name="x", region="us-east-1",
                           tags=tags)
        r.label, r.points, r.unread = "RDS DB instance", [{"kind": "snapshot",
                                                           "region": "us-east-1",
                                                           "time": "2026-12-05T07:00:00Z",
                                                           "age_hours": 5.0,
                                                           "source": "s"}], []
        return rpo(r, with_tier(base, "targetRpoHours", tags, apps)).evidence

    assert (judged({"dr:app": "shop/prod"})["targetRpoHours"],
            judged({"dr:app": "shop/prod"})["targetFrom"]) == (1, "tier critical")
    assert judged({"dr:tier": "critical"})["targetFrom"] == "tier critical"
    assert judged({})["targetFrom"] == "targetRpoHours"
    tagged = judged({"dr:app": "shop/prod", "dr:rpo": "8h"})
    assert (tagged["targetRpoHours"], tagged["targetFrom"]) == (8, "tag dr:rpo")


def test_tier_without_cross_region_or_account_takes_those_controls_off() -> None:
    from auditor.managed import applicable

    s = from_mapping({"tiers": {"standard": {"crossRegion": False, "crossAccount": False},
                                "critical": {"crossRegion": True}}})
    fs = [Finding(c, "fail", "live", DB, "m", ACCOUNT, "us-east-1")
          for c in ("rds-cross-region-backup", "rds-deletion-protection")]
    for f in fs:
        f.tier = "standard"
    assert [f.control for f in applicable(fs, s)] == ["rds-deletion-protection"]
    for f in fs:
        f.tier = "critical"
    assert len(applicable(fs, s)) == 2
