"""One finding per gap: merging sources and logs events, counts of distinct gaps, the closing
summary and exit code every command shares, history and account names."""

from __future__ import annotations

import datetime as dt
import io
import json
from pathlib import Path
from typing import Any

import pytest

from auditor.cli import main
from auditor.commands.summary import finish, load_account_names
from auditor.logs import Detector, explain
from auditor.logs.detect import findings as logs_findings
from auditor.logs.explain import fold
from auditor.logs.samples import log_file, record
from auditor.reports import history, outcome, write_reports
from drguard.errors import ConfigError
from drguard.findings import Finding, merge
from drguard.settings import Settings

A = "111122223333"
BUCKET = "arn:aws:s3:::nightly-backups"


def hits(*recs: dict[str, Any]) -> list:
    det = Detector(Settings())
    return [h for r in recs for h in det.hits(r)]


def versioning(bucket: str, hour: int, error: str | None = None) -> dict[str, Any]:
    return record("PutBucketVersioning", "s3.amazonaws.com",
                  {"bucketName": bucket, "VersioningConfiguration": {"Status": "Suspended"}},
                  time=dt.datetime(2024, 5, 2, hour, tzinfo=dt.UTC), error_code=error,
                  account=A)


def live(control: str, resource: str, status: str = "fail") -> Finding:
    return Finding(control=control, status=status, source="live", resource=resource,  # type: ignore[arg-type]
                   message="m", account=A, region="us-east-1")


def test_a_live_gap_and_the_events_behind_it_are_one_finding() -> None:
    old, new = versioning("nightly-backups", 8), versioning("nightly-backups", 9)
    elsewhere = versioning("db-backups", 11)  # a bucket the scan did not read
    gap = live("backup-bucket-versioning", BUCKET)
    found = hits(old, new, elsewhere)
    used = explain([gap], found)
    rest = fold([gap], logs_findings(found, Settings()), used)
    # both changes explain the gap: newest first, and `event` is the newest
    assert [e["eventId"] for e in gap.events] == [new["eventID"], old["eventID"]]
    assert gap.event == gap.events[0]
    assert gap.sources == ["live", "logs"]
    # the change to the unscanned bucket stays a row of its own
    assert [f.resource for f in rest] == ["arn:aws:s3:::db-backups"]
    everything = merge([gap, *rest])
    assert len({f.id for f in everything}) == len(everything) == 2
    assert outcome(everything, {"fail_on": "high"})["gaps"] == 2


def test_account_wide_event_is_folded_into_the_gap_it_explains() -> None:
    delete = record("DeleteTrail", "cloudtrail.amazonaws.com", {"name": "main"}, account=A)
    gap = live("cloudtrail-enabled", f"arn:aws:iam::{A}:root")
    found = hits(delete)
    rest = fold([gap], logs_findings(found, Settings()), explain([gap], found))
    assert rest == []  # the deleted trail is why the account has none: one gap, not two
    assert gap.events[0]["resource"].endswith(":trail/main")


def test_merge_keeps_the_current_view_and_every_event() -> None:
    pass_now = live("rds-deletion-protection", "arn:db", "pass")
    changed = Finding("rds-deletion-protection", "fail", "logs", "arn:db", "turned off",
                      A, "us-east-1", event={"time": "2024-05-02T08:00:00Z", "eventId": "a"})
    tried = Finding("rds-deletion-protection", "attempt", "logs", "arn:db", "denied",
                    A, "us-east-1", event={"time": "2024-05-03T08:00:00Z", "eventId": "b"})
    state = Finding("rds-deletion-protection", "fail", "state", "arn:db", "state says off",
                    A, "us-east-1", evidence={"deletionProtection": False})
    one, attempt = merge([changed, tried, pass_now, state])
    assert one.status == "pass" and one.source == "live"  # the resource as it is now
    assert [e["eventId"] for e in one.events] == ["a"]
    # the refused call stays a finding of its own, never folded into the resource's
    assert attempt.status == "attempt" and attempt.event["eventId"] == "b"
    assert one.sources == ["live", "state", "logs"]
    assert one.evidence["otherSources"]["state"]["status"] == "fail"
    assert changed.events == [] and pass_now.events == []  # inputs untouched


def test_a_gap_the_logs_prove_is_not_hidden_by_a_live_read_that_failed() -> None:
    """Live could not read the bucket (error: it does not see the resource now); the logs
    show who suspended its versioning. The gap speaks for the merged finding (exit 1, not 3),
    with the failed live read kept in its evidence."""
    unread = live("backup-bucket-versioning", BUCKET, "error")
    gap = logs_findings(hits(versioning("nightly-backups", 9)), Settings())
    (one,) = merge([unread, *gap])
    assert one.status == "fail" and one.source == "logs" and one.event is not None
    assert one.evidence["otherSources"]["live"]["status"] == "error"
    assert outcome([unread, *gap], {"fail_on": "high"})["exit_code"] == 1
    # nothing but an error and a pass: still an error, never green
    state_pass = Finding("backup-bucket-versioning", "pass", "state", BUCKET, "m", A,
                         "us-east-1")
    (still,) = merge([unread, state_pass])
    assert still.status == "error"


def test_summary_counts_distinct_gaps_and_agrees_with_exit_code(capsys: pytest.CaptureFixture
                                                                 [str]) -> None:
    a = live("rds-deletion-protection", "arn:db")
    b = Finding("rds-deletion-protection", "fail", "logs", "arn:db", "m", A, "us-east-1")
    run = {"command": "scan", "fail_on": "critical", "accounts": [A], "regions": ["us-east-1"],
           "logs": {"command": "logs", "files": 3, "skipped": {"files": 2, "records": 0}}}
    s = outcome([a, b], run)
    assert s["gaps"] == 1 and s["by_severity"]["high"]["fail"] == 1
    assert s["incomplete"] and s["not_read"] == {"files": 2} and s["exit_code"] == 3
    out, err = io.StringIO(), io.StringIO()
    code = finish([a, b], run, {"html": Path("r/report.html"), "json": Path("r/report.json")},
                  out, err)
    assert code == s["exit_code"] == 3
    # the report paths, all of them, on stdout (what a script reads); the summary on stderr
    assert out.getvalue() == "HTML report: r/report.html\nJSON report: r/report.json\n"
    lines = err.getvalue().splitlines()
    assert lines[:5] == ["dr-audit scan: Gaps found: 1 gap; run incomplete",
                         "dr-audit scan: gaps by severity: 0 critical, 1 high, 0 medium, 0 low",
                         "dr-audit scan: 1 fail, 0 pass, 0 waived, 0 error, 0 attempt "
                         "in 1 account x 1 region",
                         "dr-audit scan: Run incomplete: 2 log files not read.",
                         "dr-audit scan: exit code 3 (fail on critical)"]
    assert not any("report: " in line for line in lines)


def test_incomplete_run_headline_in_every_format(tmp_path: Path) -> None:
    f = live("backup-bucket-versioning", BUCKET, "pass")
    run = {"command": "logs", "files": 0, "skipped": {"sources": 1, "files": 0}}
    paths = write_reports([f], {**run, "fail_on": "high"}, tmp_path,
                          ["json", "html", "md", "sarif", "junit"])
    doc = json.loads(paths["json"].read_text())
    assert doc["summary"]["incomplete"] and doc["summary"]["exit_code"] == 3
    assert doc["summary"]["not_read"] == {"sources": 1, "noLogFiles": 1}
    text = "Run incomplete: 1 log source not read; no log file read."
    assert text in paths["html"].read_text()
    assert paths["md"].read_text().startswith(
        "## DR Guard audit \u00b7 Run incomplete: nothing failed in what was read")
    assert doc["summary"]["verdict"] == "run incomplete"
    assert 'data-verdict="run incomplete"' in paths["html"].read_text()
    assert text in paths["md"].read_text()
    sarif = json.loads(paths["sarif"].read_text())["runs"][0]["invocations"][0]
    assert sarif["executionSuccessful"] is False
    assert sarif["toolExecutionNotifications"][0]["message"]["text"] == text
    assert text in paths["junit"].read_text()
    # complete: none of it
    clean = write_reports([f], {"command": "scan", "fail_on": "high",
                                "skipped": {"bucketsOutsideRegions": 4}}, tmp_path / "c",
                          ["json", "md"])
    assert json.loads(clean["json"].read_text())["summary"]["incomplete"] is False
    assert "incomplete" not in clean["md"].read_text()


def test_logs_command_prints_the_closing_summary(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    logs = tmp_path / "trail"
    logs.mkdir()
    (logs / "a.json.gz").write_bytes(log_file([versioning("nightly-backups", 9)]))
    (logs / "b.json.gz").write_bytes(b"\x1f\x8b not really gzip")
    out = tmp_path / "out"
    code = main(["logs", str(logs), "--output-dir", str(out), "--format", "json,html"])
    captured = capsys.readouterr()
    doc = json.loads((out / "report.json").read_text())
    assert code == doc["summary"]["exit_code"] == 1  # a high gap; incomplete too
    assert doc["summary"]["incomplete"] is True
    assert f"HTML report: {out / 'report.html'}" in captured.out
    assert "dr-audit logs: Gaps found: 1 gap, 1 critical; run incomplete" in captured.err
    assert "dr-audit logs: gaps by severity: 1 critical, 0 high, 0 medium, 0 low" in captured.err
    assert "dr-audit logs: critical: backup-bucket-versioning on nightly-backups" in captured.err
    assert "Run incomplete: 1 log file not read." in captured.err
    assert "exit code 1 (fail on high)" in captured.err
    assert f"JSON report: {out / 'report.json'}" in captured.out
    assert "report: " not in captured.err


def test_logs_command_names_no_waiver_as_stale(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """An event that did not happen in this window says nothing of a waiver: `logs` names
    none (scan and state, which read the resources, do)."""
    logs = tmp_path / "trail"
    logs.mkdir()
    (logs / "a.json.gz").write_bytes(log_file([versioning("nightly-backups", 9)]))
    cfg = tmp_path / "dr.yaml"
    cfg.write_text("waivers:\n" + "".join(
        f"  - {{control: backup-bucket-versioning, resource: '{glob}', reason: r, "
        f"owner: o, expires: 2999-01-01}}\n" for glob in ("*nightly-*", "*weekly-*")))
    code = main(["logs", str(logs), "--output-dir", str(tmp_path / "out"), "--format", "json",
                 "--config", str(cfg)])
    assert code == 0  # the one gap is waived
    assert not [r for r in caplog.records if "waived no finding" in r.getMessage()]


def test_history_keeps_a_summary_per_run_and_feeds_the_trend(tmp_path: Path) -> None:
    folder = tmp_path / "history"
    gap = live("backup-bucket-versioning", BUCKET)
    for day, findings in ((1, [gap, live("rds-deletion-protection", "arn:db")]), (2, [gap])):
        run = {"command": "scan", "started": f"2026-11-0{day}T02:00:00.5+00:00"}
        write_reports(findings, run, tmp_path / f"out{day}", ["json"], history=folder)
    (folder / "junk.json").write_text("{not json")
    kept = history.load(folder)
    assert [k["gaps"] for k in kept] == [2, 1]
    assert kept[0]["by_severity"] == {"critical": 1, "high": 1, "medium": 0, "low": 0}
    html = write_reports([gap], {"command": "scan", "started": "2026-11-03T02:00:00Z"},
                         tmp_path / "out3", ["html"], history=folder)["html"].read_text()
    assert 'id="chart-trend"' in html and "Gaps over the last 3 runs" in html
    assert len(list(folder.glob("*-scan.json"))) == 3


def test_account_names_from_file_and_organizations(tmp_path: Path) -> None:
    names = tmp_path / "names.yaml"
    names.write_text(f'"{A}": prod-data\n')
    assert load_account_names(names) == {A: "prod-data"}
    run = {"command": "scan", "account_status": [{"id": "999999999999", "name": "org-name"}],
           "accounts": [A, "999999999999"]}
    f = live("backup-bucket-versioning", BUCKET)
    paths = write_reports([f], run, tmp_path / "o", ["json", "html", "md"],
                          account_names=load_account_names(names))
    doc = json.loads(paths["json"].read_text())
    assert doc["run"]["account_names"] == {A: "prod-data", "999999999999": "org-name"}
    assert f"prod-data ({A})" in paths["html"].read_text()
    assert f"`{A}` (prod\\-data)" in paths["md"].read_text() or \
        f"`{A}` (prod-data)" in paths["md"].read_text()
    bad = tmp_path / "bad.yaml"
    bad.write_text("- a list\n")
    with pytest.raises(ConfigError, match="bad.yaml"):
        load_account_names(bad)
