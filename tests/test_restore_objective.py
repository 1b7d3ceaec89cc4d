"""restore-time-objective: drills kept in the history and AWS Backup restore jobs, one model
(drguard.restore_evidence) for the scan and `drill next`.

The rule's cases run on findings and history entries; the scan cases run against the moto
server over HTTP. moto has no restore jobs (the emulator answers ListRestoreJobs with none):
the cases that need some, or need the read to fail, put the loopback FaultyProxy in front of
moto, which answers that one call (the API's documented JSON shape, or an error) and forwards
everything else."""

from __future__ import annotations

import datetime as dt
import json
import logging
from pathlib import Path
from typing import Any

import pytest

from auditor import restore
from auditor.cli import main
from auditor.collectors import ReadError
from auditor.demo_seed import create_bucket
from drguard import restore_evidence as rev
from drguard.findings import Finding
from drguard.settings import from_mapping
from tests.faulty_proxy import Fault, FaultyProxy

NOW = dt.datetime(2026, 12, 5, 12, 0, tzinfo=dt.UTC)
ACCOUNT = "123456789012"
DB = f"arn:aws:rds:us-east-1:{ACCOUNT}:db:orders-db"
TABLE = f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/sessions"
OLD_DB = f"arn:aws:rds:us-east-1:{ACCOUNT}:db:reports"
LEGACY = f"arn:aws:rds:us-east-1:{ACCOUNT}:db:legacy"
BUCKET = "arn:aws:s3:::pulumi-state"
ANY_CONTROL = "rds-deletion-protection"
CONFIG = {"tiers": {"critical": {"targetRtoMinutes": 60}, "standard": {"targetRtoMinutes": 480}}}
FAST = ["--poll-seconds", "0.05", "--yes"]

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def entry(kind: str, target: str, seconds: float | None, days_ago: float,
          outcome: str = "verified", now: dt.datetime = NOW) -> dict[str, Any]:
    """A drill history entry as `dr-audit drill --history` writes it."""
    started = (now - dt.timedelta(days=days_ago)).isoformat().replace("+00:00", "Z")
    return {"schema": rev.DRILL_HISTORY_SCHEMA, "run_id": f"r-{target}-{days_ago}",
            "started": started, "kind": kind, "target": target, "region": "us-east-1",
            "rto_seconds": seconds, "verified": outcome == "verified", "cleaned_up": True,
            "outcome": outcome, "exit_code": 0}


def job(source: str, minutes: float, days_ago: float, validation: str | None = None,
        now: dt.datetime = NOW) -> dict[str, Any]:
    """A ListRestoreJobs item (datetimes, as botocore parses them)."""
    end = now - dt.timedelta(days=days_ago)
    j: dict[str, Any] = {"RestoreJobId": f"job-{source[-6:]}-{days_ago}",
                         "SourceResourceArn": source, "Status": "COMPLETED",
                         "CreationDate": end - dt.timedelta(minutes=minutes),
                         "CompletionDate": end}
    if validation:
        j["ValidationStatus"] = validation
    return j


def live(arn: str, tier: str | None = None, rto_tag: str | None = None,
         control: str = ANY_CONTROL) -> Finding:
    f = Finding(control, "pass", "live", arn, "ok", ACCOUNT, "us-east-1")
    f.tier, f.rto_tag = tier, rto_tag
    return f


def judged(findings: list[Finding], jobs: list[dict[str, Any]] | ReadError,
           drills: list[dict[str, Any]], config: dict[str, Any] | None = None,
           **kw: Any) -> dict[str, Finding]:
    out = restore.judge(findings, from_mapping(config or CONFIG), lambda a, r: jobs, drills,
                        NOW, **kw)
    return {f.resource: f for f in out}


# ---- the rule ------------------------------------------------------------------------------

def test_drilled_passes_undrilled_fails_never_restored() -> None:
    drills = [entry("rds", "orders-db", 45 * 60, 3),
              entry("rds", "orders-db", 10 * 60, 1, outcome="failed"),  # not a restore
              entry("rds", "reports", 30 * 60, 60)]  # too old
    jobs = [job(TABLE, 200, 2), job(TABLE, 5, 1, validation="FAILED")]
    out = judged([live(DB, "critical"), live(TABLE, "standard"), live(OLD_DB), live(LEGACY)],
                 jobs, drills)
    db = out[DB]
    assert db.status == "pass" and db.evidence["restoreMinutes"] == 45
    assert (db.evidence["targetRtoMinutes"], db.evidence["targetFrom"],
            db.evidence["targetSource"]) == (60, "tier critical", "tier")
    table = out[TABLE]  # the validation-FAILED job does not count; 200 min within 480
    assert table.status == "pass" and table.evidence["restoreMinutes"] == 200
    assert table.evidence["restoreEvidence"].startswith("AWS Backup restore job")
    assert out[OLD_DB].status == "fail" and "60 days old: older than the 35 days a restore " \
        "counts for (maxEvidenceAgeDays)" in out[OLD_DB].message
    assert out[OLD_DB].evidence["targetSource"] == "default"
    assert out[LEGACY].status == "fail" and "never restored" in out[LEGACY].message


def test_target_in_force_tag_over_tier_over_default() -> None:
    jobs = [job(DB, 75, 1), job(OLD_DB, 75, 1), job(LEGACY, 75, 1)]
    out = judged([live(DB, "critical", "2h"), live(OLD_DB, "critical"), live(LEGACY)], jobs, [])
    assert out[DB].status == "pass"
    assert (out[DB].evidence["targetRtoMinutes"], out[DB].evidence["targetFrom"],
            out[DB].evidence["targetSource"]) == (120, "tag dr:rto=2h", "tag")
    assert out[OLD_DB].status == "fail"
    assert "took 75 min, slower than its target RTO of 60 min (tier critical)" in \
        out[OLD_DB].message
    assert (out[LEGACY].status, out[LEGACY].evidence["targetRtoMinutes"]) == ("pass", 240)
    bad = judged([live(DB, "critical", "soon")], jobs, [])[DB]
    assert bad.status == "error" and "dr:rto='soon'" in bad.message


def test_the_newest_restore_decides_and_buckets_take_s3_and_state_drills() -> None:
    drills = [entry("rds", "orders-db", 20 * 60, 10), entry("rds", "orders-db", 300 * 60, 2),
              {**entry("state", "s3://pulumi-state/team shop/prod", 30, 1),
               "region": "eu-west-1"},  # where the bucket is: a bucket name is global
              {**entry("rds", "legacy", 60, 1), "region": "eu-west-1"}]  # another legacy
    out = judged([live(DB), live(BUCKET, control="pulumi-state-backend"), live(LEGACY)], [],
                 drills)
    assert out[DB].status == "fail" and "took 300 min" in out[DB].message
    assert out[LEGACY].status == "fail" and "never restored" in out[LEGACY].message
    assert out[BUCKET].status == "pass" and out[BUCKET].evidence["restoreMinutes"] == 0.5


def test_unreadable_restore_jobs_are_error_unless_a_drill_proves_it() -> None:
    err = ReadError("backup:ListRestoreJobs", "404", "Not Found")
    out = judged([live(DB), live(OLD_DB), live(LEGACY)], err,
                 [entry("rds", "orders-db", 600, 1), entry("rds", "reports", 600, 90)])
    assert out[DB].status == "pass"  # a proven restore stays proven
    for arn in (OLD_DB, LEGACY):  # a newer restore may be among the unread jobs
        assert out[arn].status == "error", out[arn].message
        assert "never restored" not in out[arn].message
        assert "could not be read" in out[arn].message
        assert out[arn].evidence["readErrors"][0]["code"] == "404"


def test_a_restore_test_in_another_region_of_the_account_counts() -> None:
    """The DR region's restore of a copy proves the database; a region whose jobs cannot be
    read leaves what is not proven unknown, whatever region the resource is in."""
    west = Finding(ANY_CONTROL, "pass", "live", f"arn:aws:backup:us-west-2:{ACCOUNT}:"
                   "backup-vault:dr", "ok", ACCOUNT, "us-west-2")
    by_region: dict[str | None, list[dict[str, Any]] | ReadError] = {
        "us-east-1": [], "us-west-2": [job(DB, 30, 1)]}
    out = {f.resource: f for f in restore.judge(
        [live(DB), live(LEGACY), west], from_mapping(CONFIG),
        lambda a, r: by_region[r], [], NOW, drills_read=False)}
    assert out[DB].status == "pass", out[DB].message
    assert out[LEGACY].status == "fail" and "never restored" in out[LEGACY].message
    by_region["us-west-2"] = ReadError("backup:ListRestoreJobs", "AccessDenied", "denied")
    out = {f.resource: f for f in restore.judge(
        [live(DB), live(LEGACY), west], from_mapping(CONFIG),
        lambda a, r: by_region[r], [], NOW, drills_read=False)}
    assert out[LEGACY].status == "error" and "us-west-2" in out[LEGACY].message


def test_without_history_restore_jobs_alone_are_judged() -> None:
    out = judged([live(DB), live(LEGACY)], [job(DB, 30, 1)], [], drills_read=False)
    assert out[DB].status == "pass"
    assert out[LEGACY].status == "fail" and "drills not read" in out[LEGACY].message


def test_drill_next_and_the_scan_read_the_same_evidence() -> None:
    """One model: what `drill next` calls the last restore is what the scan judges."""
    drills = [entry("rds", "orders-db", 600, 4, now=NOW), entry("rds", "reports", 600, 9)]
    jobs = [job(DB, 10, 2)]
    ev = {e.resource.name: e for e in rev.gather(
        [rev.Resource("rds", "orders-db", "us-east-1", DB, account=ACCOUNT),
         rev.Resource("rds", "reports", "us-east-1", OLD_DB, account=ACCOUNT),
         rev.Resource("rds", "legacy", "us-east-1", LEGACY, account=ACCOUNT)], drills, jobs)}
    out = judged([live(DB), live(OLD_DB), live(LEGACY)], jobs, drills)
    assert ev["orders-db"].last.source == rev.BACKUP_RESTORE_JOB
    assert out[DB].evidence["restoredAt"] == ev["orders-db"].last.at.isoformat().replace(
        "+00:00", "Z")
    assert rev.pick(ev.values()).resource.name == "legacy" and out[LEGACY].status == "fail"
    # a drill of another account's "orders-db" is not evidence for this one
    other = {**drills[0], "account": "999999999999"}
    assert judged([live(DB)], [], [other])[DB].status == "fail"


@pytest.mark.parametrize("started, seconds", [
    ("0001-01-01T00:00:00+01:00", 60),  # before year 1 in UTC
    ("9999-12-31T23:00:00Z", 1e8),  # past year 9999 once the RTO is added
    ("2026-12-05", 60),  # a date, midnight: a valid time
])
def test_a_drill_entry_beyond_the_calendar_is_skipped_not_a_crash(started: str,
                                                                   seconds: float) -> None:
    doc = {**entry("rds", "orders-db", seconds, 1), "started": started}
    out = judged([live(DB)], [], [doc])[DB]
    valid = started == "2026-12-05"
    assert rev.valid_drill_entry(doc, NOW) is valid
    assert out.status == ("pass" if valid else "fail"), out.message


def test_a_drill_that_finishes_in_the_future_is_no_evidence() -> None:
    """A forged entry, or one written on a runner whose clock is wrong, must not pass the
    objective (for years) nor keep `drill next` away from the resource."""
    future = entry("rds", "orders-db", 600, -30)  # 30 days from now
    skewed = entry("rds", "reports", 600, -10 / 86400)  # 10 s ahead: clocks differ a little
    out = judged([live(DB), live(OLD_DB)], [], [future, skewed])
    assert out[DB].status == "fail" and "never restored" in out[DB].message
    assert out[OLD_DB].status == "pass"
    ev = rev.gather([rev.Resource("rds", "orders-db", "us-east-1", DB)], [future], [], now=NOW)
    assert ev[0].missing


def test_history_entries_that_end_in_the_future_are_skipped_and_named(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from auditor.history_store import DirStore
    from auditor.services.restore import drill_entries

    (tmp_path / "drill-a.json").write_text(json.dumps(entry("rds", "orders-db", 60, 1)))
    (tmp_path / "drill-b.json").write_text(json.dumps(entry("rds", "orders-db", 60, -400)))
    (tmp_path / "drill-c.json").write_text(json.dumps(
        {**entry("rds", "orders-db", 1e8, 1), "started": "9999-12-31T23:00:00Z"}))
    with caplog.at_level(logging.WARNING):
        entries, skipped = drill_entries(DirStore(tmp_path), NOW)
    assert [e["run_id"] for e in entries] == ["r-orders-db-1"] and skipped == 2
    assert "drill-b.json" in caplog.text and "drill-c.json" in caplog.text


# ---- the scan, end to end against moto ------------------------------------------------------

def seed_dbs(aws: Any) -> None:
    rds = aws.client("rds")
    for name, tags in (("orders-db", [{"Key": "dr:tier", "Value": "critical"},
                                      {"Key": "dr:rto", "Value": "3h"}]),
                       ("legacy", [{"Key": "dr:tier", "Value": "critical"}])):
        rds.create_db_instance(DBInstanceIdentifier=name, DBInstanceClass="db.t4g.medium",
                               Engine="postgres", AllocatedStorage=20, MasterUsername="app",
                               MasterUserPassword="password-123", Tags=tags)
        rds.create_db_snapshot(DBInstanceIdentifier=name, DBSnapshotIdentifier=f"{name}-s1")


def restore_jobs_reply(jobs: list[dict[str, Any]]) -> Fault:
    """ListRestoreJobs (GET /restore-jobs/) answered as the API documents it."""
    def wire(j: dict[str, Any]) -> dict[str, Any]:
        return {k: v.timestamp() if isinstance(v, dt.datetime) else v for k, v in j.items()}
    return Fault("reply", "backup", "GET /restore-jobs/",
                 reply={"RestoreJobs": [wire(j) for j in jobs]})


def scan_rto(url: str, out: Path, *extra: str) -> dict[str, dict[str, Any]]:
    config = out.parent / "tiers.json"
    config.write_text(json.dumps(CONFIG))
    main(["scan", "--endpoint-url", url, "--regions", "us-east-1", "--output-dir", str(out),
          "--format", "json", "--config", str(config), *extra])
    report = json.loads((out / "report.json").read_text())
    return {f["resource"].rsplit(":", 1)[-1]: f for f in report["findings"]
            if f["control"] == "restore-time-objective"} | {"_run": report["run"]}


@pytest.mark.parametrize("where", ["dir", "s3"])
def test_a_second_scan_sees_the_drill_as_evidence(aws: Any, tmp_path: Path, where: str,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    seed_dbs(aws)
    if where == "s3":
        s3 = create_bucket(aws.client("s3"), "dr-history", "us-east-1")
        history = "s3://dr-history/nightly"
    else:
        history = str(tmp_path / "history")
    first = scan_rto(aws.url, tmp_path / "s1", "--history", history)
    assert first["orders-db"]["status"] == "fail"
    assert "never restored" in first["orders-db"]["message"]
    code = main(["drill", "rds", "--db", "orders-db", "--endpoint-url", aws.url,
                 "--history", history, "--output-dir", str(tmp_path / "d"), *FAST])
    assert code == 0
    if where == "s3":  # a corrupt entry is skipped, named, and breaks nothing
        s3.put_object(Bucket="dr-history", Key="nightly/drill-zz-corrupt.json",
                      Body=b'{"schema": "dr-audit-drill-history/1", "rto_seconds": NaN}')
    else:
        (Path(history) / "drill-zz-corrupt.json").write_text("{not json")
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        second = scan_rto(aws.url, tmp_path / "s2", "--history", history)
    db = second["orders-db"]
    assert db["status"] == "pass", db["message"]
    assert db["evidence"]["restoreEvidence"].startswith("dr-audit drill ")
    assert (db["evidence"]["targetRtoMinutes"], db["evidence"]["targetSource"]) == (180, "tag")
    assert second["legacy"]["status"] == "fail" and "never restored" in second["legacy"][
        "message"]
    assert second["legacy"]["evidence"]["targetFrom"] == "tier critical"
    corrupt = ("s3://dr-history/nightly/drill-zz-corrupt.json" if where == "s3"
               else "drill-zz-corrupt.json")
    assert corrupt in caplog.text
    assert second["_run"]["skipped"]["drillHistoryFiles"] == 1


def test_scan_restore_jobs_and_their_validation_count(aws: Any, tmp_path: Path) -> None:
    seed_dbs(aws)
    now = dt.datetime.now(dt.UTC)
    orders = f"arn:aws:rds:us-east-1:{ACCOUNT}:db:orders-db"
    legacy = f"arn:aws:rds:us-east-1:{ACCOUNT}:db:legacy"
    jobs = [job(orders, 150, 1, now=now), job(legacy, 30, 1, now=now),
            job(legacy, 20, 0.5, validation="FAILED", now=now)]
    with FaultyProxy(aws.url, [restore_jobs_reply(jobs)]) as proxy:
        out = scan_rto(proxy.url, tmp_path / "s")
    # the dr:rto tag (3h) wins over the tier (60 min): 150 min passes
    assert out["orders-db"]["status"] == "pass"
    assert out["orders-db"]["evidence"]["targetFrom"] == "tag dr:rto=3h"
    assert out["legacy"]["status"] == "pass"  # the FAILED validation does not count
    assert out["legacy"]["evidence"]["restoreMinutes"] == 30
    assert any("judged on AWS Backup restore jobs alone" in n
               for n in out["_run"]["skipped"]["notes"])


@pytest.mark.parametrize("fault", ["missing", "denied"])
def test_scan_without_readable_restore_jobs_says_error_not_never_restored(
        aws: Any, tmp_path: Path, fault: str) -> None:
    seed_dbs(aws)
    history = tmp_path / "history"
    history.mkdir()
    (history / "drill-a.json").write_text(json.dumps(
        entry("rds", "orders-db", 60, 1, now=dt.datetime.now(dt.UTC))))
    with FaultyProxy(aws.url, [Fault(fault, "backup", "GET /restore-jobs/")]) as proxy:
        out = scan_rto(proxy.url, tmp_path / "s", "--history", str(history))
    assert out["orders-db"]["status"] == "pass"  # the drill proves it, whatever AWS Backup says
    legacy = out["legacy"]
    assert legacy["status"] == "error", legacy["message"]
    assert "never restored" not in legacy["message"]
    assert "could not be read" in legacy["message"]
    assert "ListRestoreJobs" in json.dumps(legacy["evidence"]["readErrors"])
    with FaultyProxy(aws.url, [Fault(fault, "backup", "GET /restore-jobs/")]) as proxy:
        out = scan_rto(proxy.url, tmp_path / "s2")  # and without --history: nothing known
    assert {out[n]["status"] for n in ("orders-db", "legacy")} == {"error"}


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


@pytest.mark.parametrize("value", ["s3:/dr-history/nightly", "https://example.com/h",
                                   "gs://bucket/h", "S3:/x"])
def test_history_that_is_another_url_is_a_usage_error_not_a_local_folder(
        value: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    for argv in (["scan", "--history", value, "--output-dir", "out"],
                 ["drill", "next", "--history", value, "--dry-run"]):
        with pytest.raises(SystemExit) as exit_:
            main(argv)
        assert exit_.value.code == 2
        err = capsys.readouterr().err.strip().splitlines()[-1]
        assert "neither a folder nor s3://BUCKET[/PREFIX]" in err and value in err
    assert list(tmp_path.iterdir()) == []  # no folder named after the URL
    from auditor.history_store import history_arg
    assert history_arg("C:/history") == Path("C:/history")  # a drive letter is a folder


def test_a_history_bucket_out_of_reach_costs_the_trend_not_the_scan(
        aws: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """The nightly scan ran for an hour: a missing (or denied) history bucket must not turn it
    into exit 2 with no report; restore evidence from it is unknown, so error, never pass."""
    seed_dbs(aws)
    with caplog.at_level(logging.WARNING):
        out = scan_rto(aws.url, tmp_path / "s", "--history", "s3://no-such-history/nightly")
    assert {out[n]["status"] for n in ("orders-db", "legacy")} == {"error"}
    assert "the drill history could not be read" in out["legacy"]["message"]
    assert "the report shows no trend" in caplog.text
    assert "this run was not added" in caplog.text


def test_the_fix_names_the_drill_of_each_kind_and_efs_goes_to_aws_backup() -> None:
    efs = f"arn:aws:elasticfilesystem:us-east-1:{ACCOUNT}:file-system/fs-1234"
    out = judged([live(DB, "critical"), live(TABLE), live(efs), live(OLD_DB, "critical")], [],
                 [entry("rds", "reports", 95 * 60, 1)])
    assert "`dr-audit drill rds --db orders-db --region us-east-1 --history" in out[DB].\
        remediation["summary"]
    assert "`dr-audit drill dynamodb --table sessions" in out[TABLE].remediation["summary"]
    efs_fix = out[efs].remediation["summary"]
    assert out[efs].status == "fail" and "AWS Backup restore testing plan" in efs_fix
    assert "does not restore this kind" in efs_fix
    slow = out[OLD_DB]  # 95 min against the critical tier's 60: faster, or another target
    assert slow.status == "fail" and "took 95 min" in slow.message
    assert slow.remediation["summary"].startswith("Make the restore of reports faster")
    assert "`dr-audit drill rds --db reports --region us-east-1" in slow.remediation["summary"]


# ---- a tier the config does not define ------------------------------------------------------

def test_a_tier_the_config_does_not_define_leaves_the_target_unknown(aws: Any,
                                                                     tmp_path: Path) -> None:
    """`dr:tier=critcal` (a typo) on a database while the config defines `critical` and
    `standard`: its target RTO and RPO are unknown, never the control defaults (a 4 h RTO and
    a 24 h RPO that nobody chose for it). Its recovery points make the RPO `error` (which
    target they meet is unknown); never restored, its RTO is a gap whatever the target (a tag
    nobody defined must not turn a gap into "could not be checked")."""
    aws.client("rds").create_db_instance(
        DBInstanceIdentifier="billing-db", DBInstanceClass="db.t4g.medium", Engine="postgres",
        AllocatedStorage=20, MasterUsername="app", MasterUserPassword="password-123",
        Tags=[{"Key": "dr:tier", "Value": "critcal"}])
    config = tmp_path / "tiers.json"
    config.write_text(json.dumps({"tiers": {"critical": {"targetRtoMinutes": 60,
                                                         "targetRpoHours": 1},
                                            "standard": {"targetRtoMinutes": 480}}}))
    main(["scan", "--endpoint-url", aws.url, "--regions", "us-east-1", "--output-dir",
          str(tmp_path / "out"), "--format", "json", "--config", str(config)])
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    mine = {f["control"]: f for f in report["findings"]
            if f["resource"].endswith(":db:billing-db")}
    for control, status in (("restore-time-objective", "fail"),
                            ("recovery-point-objective", "error")):
        f = mine[control]
        assert f["status"] == status, (control, f["message"])
        assert "'critcal' is not one of the tiers the config defines (critical, standard)" \
            in f["message"]
        assert f["tier"] == "critcal"
    assert "never restored" in mine["restore-time-objective"]["message"]


def test_an_undefined_tier_is_only_a_label_without_tiers_and_a_tag_still_wins() -> None:
    """Without tiers in the config a `dr:tier` tag sets no objective (the defaults apply, as
    before); with them, the resource's own dr:rto tag is still the target in force."""
    out = judged([live(DB, tier="gold")], [], [], config={"tiers": {}})
    assert out[DB].evidence["targetSource"] == "default"
    out = judged([live(DB, tier="gold", rto_tag="2h")], [], [])
    assert out[DB].status == "fail" and out[DB].evidence["targetSource"] == "tag"
    out = judged([live(DB, tier="gold")], [], [])  # never restored: a gap whatever the target
    assert out[DB].status == "fail" and "'gold' is not one of the tiers" in out[DB].message
    restored = [job(DB, 30, 2)]  # restored 2 days ago: whether in time depends on the target
    out = judged([live(DB, tier="gold")], restored, [])
    assert out[DB].status == "error" and "'gold' is not one of the tiers" in out[DB].message
    old = [job(DB, 30, 90)]  # 90 days ago: too old to count, whatever the target
    out = judged([live(DB, tier="gold")], old, [])
    assert out[DB].status == "fail" and "whatever its target RTO" in out[DB].message


def test_an_undefined_tier_keeps_the_restore_it_knows() -> None:
    """The target is unknown, not the restore: the finding (error) still records the last
    restore, so the application row says it took 45 min, not "unknown"."""
    from auditor.reports.applications import applications

    out = judged([live(DB, tier="gold")], [], [entry("rds", "orders-db", 45 * 60, 3)])
    f = out[DB]
    assert f.status == "error" and "'gold' is not one of the tiers" in f.message
    assert f.evidence["restoreMinutes"] == 45 and f.evidence["restoredAt"]
    (row,) = applications([{**f.to_dict(), "application": "shop/prod"}])
    assert row["rto"]["last_restore_minutes"] == 45


def test_an_undefined_tier_leaves_a_resource_without_recovery_points_a_gap() -> None:
    """No recovery point at all: a gap whatever the target RPO; some points: which target
    they meet is unknown (error)."""
    from drguard.applications import with_tier
    from drguard.controls.rpo import RecoveryPoints, rpo

    apps = from_mapping({"tiers": {"critical": {"targetRpoHours": 1}}}).apps
    params = with_tier({"targetRpoHours": 24}, "targetRpoHours", {"dr:tier": "critcal"}, apps)

    def judged(points: list[dict[str, Any]]) -> Any:
        r = RecoveryPoints(ref="arn:aws:rds:us-east-1:1:db:x", name="x", region="us-east-1",
                           tags={"dr:tier": "critcal"})
        r.label, r.points, r.unread = "RDS DB instance", points, []
        return rpo(r, params)

    none = judged([])
    assert none.status == "fail" and "whatever its target RPO" in none.message
    some = judged([{"kind": "snapshot", "region": "us-east-1", "time": "2026-12-05T07:00:00Z",
                    "age_hours": 5.0, "source": "s"}])
    assert some.status == "error" and "'critcal' is not one of the tiers" in some.message
