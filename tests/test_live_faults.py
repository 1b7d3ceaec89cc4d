"""Fail closed, retry throttling, never mutate, exit codes and waivers."""

from __future__ import annotations

import datetime as dt
import json

import pytest
import yaml

from auditor import aws as aws_mod
from auditor.cli import main
from auditor.demo_seed import seed
from tests.faulty_proxy import Fault, FaultyProxy
from tests.live_support import (
    EMULATOR_CONFIG,
    PAB,
    bucket,
    db,
    deletion_rule,
    lock,
    one,
    pick,
    run_scan,
    trail,
)

pytestmark = pytest.mark.slow

MUTATING = ("Create", "Put", "Delete", "Modify", "Update", "Start", "Stop", "Attach", "Detach",
            "Tag", "Untag", "Restore", "Copy", "Enable", "Disable", "Remove", "Add", "Set",
            "Reset", "Revoke", "Authorize", "Associate", "Disassociate", "Register",
            "Deregister", "Move", "Invite", "Accept", "Decline", "Leave", "Close", "Cancel",
            "Generate", "Upload", "Import", "Export", "Purge", "Send", "Publish", "Invoke",
            "Run", "Terminate", "Reboot", "Rotate", "Replace", "Apply", "Change", "Reject")


def _seed_small(aws):
    db(aws, "orders")
    bucket(aws, "acme-backup", versioned=True, pab=PAB)
    lock(bucket(aws, "locked-backup", lock=True, pab=PAB), "locked-backup")
    bucket(aws, "trail-logs")
    trail(aws, "main", "trail-logs", data_buckets=["acme-backup"])
    deletion_rule(aws, "watch", ["acme-backup"])
    aws.client("iam").create_user(UserName="ci")


def _statuses(findings):
    return sorted((f.control, f.resource, f.status) for f in findings)


# ---- AccessDenied: error, never pass --------------------------------------------------

@pytest.mark.parametrize("fault, control, resource", [
    (Fault("denied", "rds"), "rds-backup-retention", "db:*"),
    (Fault("denied", "rds", "DescribeDBClusters"), "rds-deletion-protection", "cluster:*"),
    (Fault("denied", "s3", "ListBuckets"), "backup-bucket-versioning", "arn:aws:s3:::*"),
    (Fault("denied", "s3", "GetBucketVersioning"), "backup-bucket-versioning", "acme-backup"),
    (Fault("denied", "s3", "GetObjectLockConfiguration"), "backup-bucket-object-lock",
     "locked-backup"),
    (Fault("denied", "s3", "GetPublicAccessBlock"), "backup-bucket-public-access-block",
     "acme-backup"),
    (Fault("denied", "s3", "GetBucketReplication"), "backup-bucket-replication", "acme-backup"),
    (Fault("denied", "events", "ListRules"), "backup-bucket-deletion-alerts", "acme-backup"),
    (Fault("denied", "cloudtrail", "GetEventSelectors"), "backup-bucket-deletion-alerts",
     "acme-backup"),
    (Fault("denied", "cloudtrail", "DescribeTrails"), "cloudtrail-enabled", ":root"),
    (Fault("denied", "cloudtrail", "GetTrailStatus"), "cloudtrail-enabled", ":root"),
    (Fault("denied", "iam", "ListUsers"), "iam-access-key-rotation", "user/*"),
    (Fault("denied", "iam", "ListAccessKeys"), "iam-access-key-rotation", "user/ci/access-key/*"),
    (Fault("denied", "iam", "GetAccountSummary"), "iam-access-key-rotation", ":root"),
    (Fault("denied", "dynamodb", "ListTables"), "dynamodb-recovery", "table/*"),
    (Fault("denied", "backup", None), "backup-vault-lock", "backup-vault:*"),
])
def test_access_denied_gives_error_never_pass(aws, fault, control, resource):
    _seed_small(aws)
    with FaultyProxy(aws.url, [fault]) as proxy:
        result = run_scan(aws, regions=["us-east-1"], endpoint=proxy.url)
    assert fault.hits >= 1, proxy.seen
    f = one(result.findings, control, resource)
    assert f.status == "error", f.message
    assert "AccessDenied" in json.dumps(f.evidence["readErrors"]) + f.message
    if resource not in ("db:*", "cluster:*", "arn:aws:s3:::*", ":root", "user/*", "table/*",
                        "backup-vault:*"):
        assert not [g for g in pick(result.findings, control, resource) if g.status == "pass"]
    assert result.run["skipped"]["resources"] >= 1


def test_partial_denial_keeps_what_can_be_judged(aws):
    _seed_small(aws)
    with FaultyProxy(aws.url, [Fault("denied", "s3", "GetBucketVersioning")]) as proxy:
        findings = run_scan(aws, regions=["us-east-1"], endpoint=proxy.url).findings
    assert one(findings, "backup-bucket-versioning", "acme-backup").status == "error"
    # Object Lock implies versioning: that bucket is still judged without GetBucketVersioning.
    assert one(findings, "backup-bucket-versioning", "locked-backup").status == "pass"
    assert one(findings, "backup-bucket-object-lock", "locked-backup").status == "pass"
    assert one(findings, "backup-bucket-public-access-block", "acme-backup").status == "pass"


def test_unreadable_tags_leave_scope_unknown(aws):
    bucket(aws, "data-exports", tags={"dr:backup": "true"})
    with FaultyProxy(aws.url, [Fault("denied", "s3", "GetBucketTagging")]) as proxy:
        findings = run_scan(aws, regions=["us-east-1"], endpoint=proxy.url).findings
    f = one(findings, "backup-bucket-versioning", "data-exports")
    assert f.status == "error" and "tags could not be read" in f.message


def test_access_denied_exit_code_3(aws, tmp_path):
    db(aws, "orders")
    with FaultyProxy(aws.url, [Fault("denied", "rds")]) as proxy:
        code = main(["scan", "--endpoint-url", proxy.url, "--regions", "us-east-1",
                     "--output-dir", str(tmp_path), "--format", "json", "--fail-on", "critical"])
    assert code == 3
    report = json.loads((tmp_path / "report.json").read_text())
    rds = [f for f in report["findings"] if f["control"].startswith("rds-")]
    assert rds and {f["status"] for f in rds} == {"error"}


# ---- throttling: retried, same answer -------------------------------------------------

def test_throttling_is_retried_with_same_findings(aws):
    _seed_small(aws)
    baseline = run_scan(aws).findings
    faults = [Fault("throttle", "rds", "DescribeDBInstances", times=2),
              Fault("throttle", "s3", "ListBuckets", times=2),
              Fault("throttle", "s3", "GetBucketVersioning", times=2),
              Fault("throttle", "cloudtrail", "DescribeTrails", times=1),
              Fault("throttle", "events", "ListRules", times=1)]
    counter = aws_mod.CallCounter()
    with FaultyProxy(aws.url, faults) as proxy, aws_mod.observe(counter):
        throttled = run_scan(aws, endpoint=proxy.url).findings
    assert [f.hits for f in faults] == [2, 2, 2, 1, 1]
    assert counter.attempts >= counter.total + 8  # every injected fault was retried
    assert _statuses(throttled) == _statuses(baseline)
    assert not [f for f in throttled if f.status == "error"]


def test_throttled_past_retries_is_error(aws, monkeypatch):
    db(aws, "orders")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "2")
    fault = Fault("throttle", "rds", "DescribeDBInstances")
    with FaultyProxy(aws.url, [fault]) as proxy:
        findings = run_scan(aws, regions=["us-east-1"], endpoint=proxy.url).findings
    assert fault.hits == 2
    f = one(findings, "rds-backup-retention", "db:*")
    assert f.status == "error" and "Throttling" in f.message
    assert not pick(findings, "rds-backup-retention", ":db:orders")


# ---- read only --------------------------------------------------------------------------

class Recorder:
    def __init__(self):
        self.ops = []

    def on_call(self, service, operation, params):
        self.ops.append((service, operation))

    def on_attempt(self, service, operation):
        pass


def test_scan_never_calls_a_mutating_api(aws):
    demo = seed(aws.url)
    rec = Recorder()
    with aws_mod.observe(rec):
        result = run_scan(aws, regions=list(demo.regions), org=True, role_name=demo.role_name,
                          config={"scope": {"stateBucket": demo.state_bucket}})
    ops = {op for _, op in rec.ops}
    assert len(result.findings) > 40
    assert {"DescribeDBInstances", "GetBucketVersioning", "GetObjectLockConfiguration",
            "ListPolicies", "ListTargetsForPolicy", "GetEventSelectors", "ListRules",
            "ListObjectVersions", "ListAccessKeys", "AssumeRole"} <= ops
    mutating = sorted(op for op in ops if op != "AssumeRole" and op.startswith(MUTATING))
    assert mutating == []


def test_read_only_guard_blocks_mutations(aws):
    account = aws_mod.connect(aws_mod.AwsOptions(endpoint_url=aws.url))
    with pytest.raises(aws_mod.MutatingCallError):
        account.client("s3").create_bucket(Bucket="should-not-exist")
    assert "should-not-exist" not in [b["Name"] for b in
                                      aws.client("s3").list_buckets()["Buckets"]]


# ---- exit codes, config errors, waivers -------------------------------------------------

def _cli(aws, tmp_path, *extra):
    if "--config" not in extra:
        # the controls the emulator cannot serve stay off (tests/live_support.py)
        cfg = tmp_path.parent / f"{tmp_path.name}-emulator.json"
        cfg.write_text(json.dumps(EMULATOR_CONFIG))
        extra = ("--config", str(cfg), *extra)
    return main(["scan", "--endpoint-url", aws.url, "--regions", "us-east-1,us-west-2",
                 "--output-dir", str(tmp_path), "--format", "json", *extra])


def test_exit_code_0_when_no_gap_at_threshold(aws, tmp_path):
    db(aws, "orders")
    assert _cli(aws, tmp_path, "--fail-on", "critical") == 0


def test_exit_code_1_on_gap(aws, tmp_path):
    bucket(aws, "plain-backup")
    assert _cli(aws, tmp_path, "--fail-on", "critical") == 1
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["schema"] == "dr-audit/1" and report["run"]["command"] == "scan"
    assert any(f["control"] == "backup-bucket-versioning" and f["status"] == "fail"
               for f in report["findings"])


@pytest.mark.parametrize("args, message", [
    (["--regions", "not a region"], "not a region name"),
    (["--workers", "0"], "--workers"),
    (["--role-name", "x"], "--role-name is only used with --org"),
    (["--config", "/nonexistent/dr.yaml"], "config file not found"),
    (["--profile", "no-such-profile"], "no-such-profile"),
])
def test_exit_code_2_on_usage_or_config_error(aws, tmp_path, capsys, args, message):
    try:
        code = main(["scan", "--endpoint-url", aws.url, "--output-dir", str(tmp_path), *args])
    except SystemExit as e:  # argparse rejects the value itself
        code = e.code
    assert code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "report.json").exists()


def test_bad_control_parameter_is_exit_2(aws, tmp_path, capsys):
    cfg = tmp_path / "dr.yaml"
    cfg.write_text(yaml.safe_dump({"controls": {"rds-backup-retention":
                                                {"minRetentionDays": 99}}}))
    assert _cli(aws, tmp_path, "--config", str(cfg)) == 2
    assert "minRetentionDays" in capsys.readouterr().err


def test_waivers_apply_until_they_expire(aws, tmp_path):
    bucket(aws, "scratch-backup")
    today = dt.date.today()
    for expires, status in ((today + dt.timedelta(days=30), "waived"),
                            (today - dt.timedelta(days=1), "fail")):
        cfg = tmp_path / "dr.yaml"
        cfg.write_text(yaml.safe_dump({"waivers": [{
            "control": "backup-bucket-versioning", "resource": "arn:aws:s3:::scratch-*",
            "reason": "rebuilt nightly", "owner": "platform-team",
            "expires": expires.isoformat()}]}))
        out = tmp_path / status
        _cli(aws, out, "--config", str(cfg), "--fail-on", "critical")
        report = json.loads((out / "report.json").read_text())
        f = next(x for x in report["findings"] if x["control"] == "backup-bucket-versioning")
        assert f["status"] == status
        assert f["waiver"]["owner"] == "platform-team"
        assert f["waiver"]["expired"] is (status == "fail")
        if status == "fail":
            assert "expired on" in f["message"]
    # waived: no critical gap left -> 0; expired -> 1
    assert _cli(aws, tmp_path / "again", "--config", str(cfg), "--fail-on", "critical") == 1


def test_scan_names_the_waivers_that_waived_nothing(aws, tmp_path, caplog):
    """Counted where the scan's findings are made (its threads share one count): the waiver
    that waived the gap is quiet, the one for a bucket that no longer has the gap is named."""
    bucket(aws, "scratch-backup")
    cfg = tmp_path / "dr.yaml"
    cfg.write_text(yaml.safe_dump({**EMULATOR_CONFIG, "waivers": [
        {"control": "backup-bucket-versioning", "resource": f"arn:aws:s3:::{name}",
         "reason": "rebuilt nightly", "owner": "platform-team", "expires": "2999-01-01"}
        for name in ("scratch-*", "retired-backup")]}))
    _cli(aws, tmp_path / "out", "--config", str(cfg))
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert [f["status"] for f in report["findings"]
            if f["control"] == "backup-bucket-versioning"] == ["waived"]
    warned = [r.getMessage() for r in caplog.records if "waived no finding" in r.getMessage()]
    assert warned == [f"{cfg}: waivers: waiver #2 (control backup-bucket-versioning, resource "
                      "'arn:aws:s3:::retired-backup', owner platform-team, expires 2999-01-01) "
                      "waived no finding in this run: if the gap it covered is gone, remove "
                      "it"], warned


def test_scan_with_logs_links_failures_to_events(aws, tmp_path):
    from auditor.logs import samples

    db(aws, "legacy", protect=False)
    t = dt.datetime(2024, 5, 2, 12, tzinfo=dt.UTC)
    rec = samples.record("ModifyDBInstance", "rds.amazonaws.com",
                         {"dBInstanceIdentifier": "legacy", "deletionProtection": False},
                         time=t, account="123456789012")
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / samples.key(t, account="123456789012").split("/")[-1]).write_bytes(
        samples.log_file([rec]))
    out = tmp_path / "out"
    assert _cli(aws, out, "--logs", str(logs)) == 1
    report = json.loads((out / "report.json").read_text())
    live = next(f for f in report["findings"] if f["control"] == "rds-deletion-protection"
                and f["source"] == "live")
    assert live["status"] == "fail" and live["event"]["eventName"] == "ModifyDBInstance"
    # one finding per gap: the logs change is merged into the live gap it explains
    assert live["sources"] == ["live", "logs"] and live["events"][0] == live["event"]
    assert not any(f["source"] == "logs" and f["control"] == "rds-deletion-protection"
                   for f in report["findings"])


@pytest.mark.parametrize("fault, control, resource", [
    # a JSON body where the query protocol expects XML: botocore cannot parse the reply
    (Fault("reply", "rds", "DescribeDBInstances", reply={"not": "xml"}),
     "rds-backup-retention", "db:*"),
    (Fault("reply", "s3", "GetBucketVersioning", reply={"not": "xml"}),
     "backup-bucket-versioning", "acme-backup"),
])
def test_unparseable_reply_is_error_never_a_traceback(aws, fault, control, resource):
    _seed_small(aws)
    with FaultyProxy(aws.url, [fault]) as proxy:
        findings = run_scan(aws, regions=["us-east-1"], endpoint=proxy.url).findings
    assert fault.hits >= 1
    judged = pick(findings, control, resource)
    assert judged and all(f.status == "error" for f in judged)
    # the rest of the scan went on
    assert any(f.status in ("pass", "fail") for f in findings if f.control != control)
