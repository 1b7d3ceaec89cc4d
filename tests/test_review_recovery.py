"""Adversarial review of applications, objectives and recoverability: each test pins a path
where what was unknown, partial or hostile could have been reported as fine."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from auditor.cli import main
from auditor.commands import scan as scan_cmd

from .test_backends import ACCOUNT, REGION, seed_live, seed_state_bucket


def _scan(aws: Any, out: Path, *extra: str) -> dict[str, Any]:
    main(["scan", "--endpoint-url", aws.url, "--regions", REGION, "--output-dir", str(out),
          "--format", "json", *extra])
    return json.loads((out / "report.json").read_text())


def _orders_rpo_two_hours_on(aws: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                             critical_app: str) -> dict[str, Any]:
    """The `orders` table's recovery-point-objective finding of a scan two hours on (the
    scan's injectable clock: a backup made now is then 2 h old), with the state bucket's
    checkpoints read and a config putting `critical_app` in a tier with a 1 h RPO."""
    options_from = scan_cmd.options_from
    monkeypatch.setattr(scan_cmd, "options_from", lambda args: dataclasses.replace(
        options_from(args), now=dt.datetime.now(dt.UTC) + dt.timedelta(hours=2)))
    config = tmp_path / "dr.yaml"
    config.write_text("tiers:\n  critical: {targetRpoHours: 1}\n"
                      f"applications:\n  {critical_app}: {{tier: critical}}\n")
    report = _scan(aws, tmp_path / "r", "--config", str(config), "--backend",
                   seed_state_bucket(aws))
    return next(f for f in report["findings"] if f["control"] == "recovery-point-objective"
                and f["resource"] == f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/orders")


def test_rpo_target_is_the_tier_of_the_application_whose_stack_manages_it(
        aws: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The `orders` table is in no tier by tag, but the checkpoint of shop/prod manages it and
    the config puts shop/prod in a tier with a 1 h RPO: that is the target, as the finding's
    tier says, not the control's 24 h default."""
    seed_live(aws)
    aws.client("dynamodb").create_backup(TableName="orders", BackupName="orders-now")
    rpo = _orders_rpo_two_hours_on(aws, tmp_path, monkeypatch, "shop/prod")
    assert (rpo["application"], rpo["tier"]) == ("shop/prod", "critical")
    assert rpo["evidence"]["targetFrom"] == "tier critical", rpo["evidence"]
    assert rpo["evidence"]["targetRpoHours"] == 1
    assert rpo["status"] == "fail", rpo["message"]
    assert rpo["remediation"] and rpo["remediation"]["summary"]


def test_a_dr_app_tag_does_not_lend_its_tier_to_a_resource_a_stack_manages(
        aws: Any, tmp_path: Path) -> None:
    """The checkpoint names the application, so the tier and owner in force are that
    application's (after the resource's own dr:tier / owner tags): a `dr:app` tag naming a
    laxer application (anyone with tag rights can write one) must not lend it its tier, which
    would take the cross-account controls off a critical database."""
    seed_live(aws)
    aws.client("dynamodb").tag_resource(
        ResourceArn=f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/orders",
        Tags=[{"Key": "dr:app", "Value": "sandbox"}])
    config = tmp_path / "dr.yaml"
    config.write_text(
        "tiers:\n  critical: {targetRtoMinutes: 60, crossAccount: true}\n"
        "  scratch: {crossAccount: false}\n"
        "applications:\n  shop/prod: {tier: critical, owner: team-shop}\n"
        "  sandbox: {tier: scratch, owner: nobody}\n")
    report = _scan(aws, tmp_path / "r", "--config", str(config), "--backend",
                   seed_state_bucket(aws))
    mine = [f for f in report["findings"]
            if f["resource"] == f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/orders"]
    assert {(f["application"], f["tier"], f["owner"]) for f in mine} == {
        ("shop/prod", "critical", "team-shop")}
    assert "backup-cross-account-copy" in {f["control"] for f in mine}


def test_a_dr_tier_tag_overriding_the_configured_tier_is_named(aws: Any, tmp_path: Path) -> None:
    """The tag decides the tier (as the config's documentation says), but a tag anyone with
    tag rights can write that lowers a critical database to `scratch` takes the cross-account
    controls off it: the run names every such resource, in the report's notes."""
    seed_live(aws)
    table = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/orders"
    aws.client("dynamodb").tag_resource(ResourceArn=table,
                                        Tags=[{"Key": "dr:tier", "Value": "scratch"}])
    config = tmp_path / "dr.yaml"
    config.write_text(
        "tiers:\n  critical: {crossAccount: true}\n  scratch: {crossAccount: false}\n"
        "applications:\n  shop/prod: {tier: critical}\n")
    report = _scan(aws, tmp_path / "r", "--config", str(config), "--backend",
                   seed_state_bucket(aws))
    mine = [f for f in report["findings"] if f["resource"] == table]
    assert {f["tier"] for f in mine} == {"scratch"}  # the tag decided
    assert "backup-cross-account-copy" not in {f["control"] for f in mine}
    notes = [n for n in report["run"]["skipped"]["notes"] if n.startswith("tiers:")]
    assert len(notes) == 1 and f"{table} (dr:tier=scratch; shop/prod: critical)" in notes[0]



def test_every_resource_a_dr_tier_tag_moved_is_named_in_the_notes(
        caplog: pytest.LogCaptureFixture) -> None:
    """The notes name every such resource (the report is where they are looked up); the
    stderr warning names a few and counts the rest."""
    import logging

    from auditor.scan import ScanResult
    from drguard.findings import Finding
    from drguard.settings import from_mapping

    settings = from_mapping({"tiers": {"critical": {}, "scratch": {}},
                             "applications": {"shop/prod": {"tier": "critical"}}})
    findings = []
    for i in range(8):
        f = Finding("rds-deletion-protection", "pass", "live", f"arn:aws:rds:{REGION}:"
                    f"{ACCOUNT}:db:db{i}", "ok", ACCOUNT, REGION)
        f.application, f.tier, f.tag_tier = "shop/prod", "scratch", "scratch"
        findings.append(f)
    result = ScanResult(findings, {"skipped": {}})
    with caplog.at_level(logging.WARNING):
        scan_cmd._note_tier_tags(result, settings)  # noqa: SLF001
    (note,) = result.run["skipped"]["notes"]
    assert all(f"db:db{i} (dr:tier=scratch; shop/prod: critical)" in note for i in range(8))
    assert "db:db7" not in caplog.text and "and 3 more" in caplog.text


def test_the_key_of_a_copy_destination_vault_is_judged_without_org(aws: Any) -> None:
    """The vault of record in the backup account is encrypted with a KMS key of the production
    account (it answers EncryptionKeyArn when asked from here): that key is recovery data's,
    so its scheduled deletion (the production admin's ransomware move, destroying every
    cross-account copy) is a critical gap even when the scan covers production alone."""
    from drguard.controls.kms import KEY_USABLE
    from tests.controls.test_backup_recovery_live import (
        NOW,
        REGION,
        VAULTS,
        _faults,
        _seed,
    )
    from tests.faulty_proxy import FaultyProxy
    from tests.live_support import one, run_scan

    ids = _seed(aws)
    kms = aws.client("kms", REGION)
    meta = kms.create_key(Description="copies")["KeyMetadata"]
    kms.schedule_key_deletion(KeyId=meta["KeyId"], PendingWindowInDays=7)
    key = meta["Arn"]
    vaults = {**VAULTS, "vault-of-record": {**VAULTS["vault-of-record"],
                                            "EncryptionKeyArn": key}}
    with FaultyProxy(aws.url, _faults(ids, [], [], vaults)) as proxy:
        findings = run_scan(aws, config={}, regions=[REGION], endpoint=proxy.url,
                            now=NOW).findings
    f = one(findings, KEY_USABLE, key)
    assert f.status == "fail" and "vault-of-record" in f.message, f.message


def test_application_rows_do_not_call_unread_or_missing_evidence_fine() -> None:
    """An application whose one database is copied to another account and whose other one
    could not be checked is not isolated "yes": unknown. And its worst RPO is not the one
    database that has recovery points when the other has none, or could not be read."""
    from auditor.reports.applications import app_row, applications

    def row(control: str, status: str, resource: str, **evidence: Any) -> dict[str, Any]:
        return {"application": "shop/prod", "control": control, "status": status,
                "resource": resource, "severity": "high", "evidence": evidence}

    rows = [row("backup-cross-account-copy", "pass", "arn:db1"),
            row("backup-cross-account-copy", "error", "arn:db2"),
            row("backup-air-gapped", "pass", "arn:vault"),
            row("recovery-point-objective", "pass", "arn:db1", achievedRpoHours=2.0),
            row("recovery-point-objective", "fail", "arn:db2", achievedRpoHours=None)]
    (app,) = applications(rows)
    assert app["isolation"]["cross_account"] is None
    assert app["isolation"]["air_gapped"] is True
    assert app["rpo"]["worst_achieved_hours"] is None
    # db2 has no recovery point at all: the worst case, counted as such (not "unknown")
    assert (app["rpo"]["without_recovery_point"], app["rpo"]["unknown"]) == (1, 0)
    unread = row("recovery-point-objective", "error", "arn:db2", achievedRpoHours=None)
    (app,) = applications([*rows[:4], unread])
    assert app["rpo"]["worst_achieved_hours"] is None
    assert (app["rpo"]["without_recovery_point"], app["rpo"]["unknown"]) == (0, 1)
    # recovery points of unknown age (none with a creation time) are not "none": unknown
    aged = row("recovery-point-objective", "fail", "arn:db2", achievedRpoHours=None,
               recoveryPoints=3)
    (app,) = applications([*rows[:4], aged])
    assert (app["rpo"]["without_recovery_point"], app["rpo"]["unknown"]) == (0, 1)
    (app,) = applications([app_row(f) for f in [*rows[:4], aged]])  # (as a report keeps it)
    assert (app["rpo"]["without_recovery_point"], app["rpo"]["unknown"]) == (0, 1)
    (app,) = applications([*rows[:4], {**aged, "evidence": {"achievedRpoHours": None,
                                                             "recoveryPoints": 0}}])
    assert (app["rpo"]["without_recovery_point"], app["rpo"]["unknown"]) == (1, 0)
    # a failure still says no, whatever else could not be read
    (app,) = applications([*rows, row("backup-cross-account-copy", "fail", "arn:db3")])
    assert app["isolation"]["cross_account"] is False
    # every resource with a recovery point: the worst is the oldest
    (app,) = applications([rows[3], row("recovery-point-objective", "fail", "arn:db2",
                                        achievedRpoHours=30.0)])
    assert app["rpo"]["worst_achieved_hours"] == 30.0



def test_restore_evidence_reads_the_scanned_regions_only(aws: Any, tmp_path: Path) -> None:
    """Account-wide findings (the root user's access keys) have no region, which is no region
    to read restore jobs in: it used to read the session's default region (us-east-1) besides
    the one scanned, and where that region is denied (an SCP limiting regions) every restore
    verdict of the account became `error`."""
    from tests.faulty_proxy import FaultyProxy

    aws.client("dynamodb", "us-west-2").create_table(
        TableName="orders", BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}])
    with FaultyProxy(aws.url, []) as proxy:
        main(["scan", "--endpoint-url", proxy.url, "--regions", "us-west-2", "--output-dir",
              str(tmp_path / "r"), "--format", "json"])
    assert proxy.seen.count(("backup", "GET /restore-jobs/")) == 1
    report = json.loads((tmp_path / "r" / "report.json").read_text())
    (rto,) = [f for f in report["findings"] if f["control"] == "restore-time-objective"]
    assert rto["status"] == "fail" and "never restored" in rto["message"]


def test_a_hostile_stack_name_cannot_write_to_the_terminal_or_the_ci_log(
        aws: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Stack names come from the state backend's keys (or folder names): whoever can write
    the state bucket names them. The `worst applications` line shows one without its control
    characters: no terminal escape, no new line starting a CI workflow command."""
    seed_live(aws)
    hostile = "p\x1b]0;pwned\x07\x1b[2J\n::add-mask::dr-audit"
    stacks = tmp_path / "state" / ".pulumi" / "stacks" / hostile
    stacks.mkdir(parents=True)
    (stacks / "prod.json").write_text(json.dumps({"version": 3, "checkpoint": {"latest": {
        "resources": [{"urn": "urn:pulumi:prod::p::aws:dynamodb/table:Table::orders",
                       "type": "aws:dynamodb/table:Table", "custom": True, "id": "orders",
                       "outputs": {"name": "orders", "arn": f"arn:aws:dynamodb:{REGION}:"
                                                            f"{ACCOUNT}:table/orders"}}]}}}))
    report = _scan(aws, tmp_path / "r", "--backend", f"file://{tmp_path / 'state'}")
    assert f"{hostile}/prod" in {a["name"] for a in report["applications"]}  # kept as is
    err = capsys.readouterr().err
    (line,) = [x for x in err.splitlines() if "worst applications" in x]
    assert "\x1b" not in err and "\x07" not in err
    assert not any(x.startswith("::") for x in err.splitlines())
    assert "\\x1b]0;pwned" in line


def test_a_backup_bucket_listed_in_part_is_never_judged_stale(
        aws: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """A bucket larger than the listing cap is read in part (lexicographic order: dated keys
    come oldest first). What was read can prove a fresh object, never the lack of one: an old
    newest object in the part read is `error`, not "older than the target RPO"."""
    from auditor.services import rpo as rpo_svc
    from tests.faulty_proxy import Fault, FaultyProxy
    from tests.live_support import bucket, one, run_scan

    bucket(aws, "db-backups", versioned=True)
    monkeypatch.setattr(rpo_svc, "MAX_KEYS", 2)
    old = ("<Contents><Key>2020/{0}</Key><LastModified>2020-01-01T00:00:00.000Z</LastModified>"
           "<ETag>&quot;x&quot;</ETag><Size>1</Size><StorageClass>STANDARD</StorageClass>"
           "</Contents>")
    page = ('<?xml version="1.0" encoding="UTF-8"?><ListBucketResult '
            'xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>db-backups</Name><Prefix>'
            "</Prefix><KeyCount>2</KeyCount><MaxKeys>1000</MaxKeys><IsTruncated>true"
            "</IsTruncated><NextContinuationToken>next</NextContinuationToken>"
            + old.format("a") + old.format("b") + "</ListBucketResult>")
    with FaultyProxy(aws.url, [Fault("reply", "s3", "ListObjects", reply=page)]) as proxy:
        findings = run_scan(aws, regions=[REGION], endpoint=proxy.url).findings
    f = one(findings, "recovery-point-objective", ":::db-backups")
    assert f.status == "error", f.message
    assert "beyond the first 2" in f.message


def test_the_pulumi_token_never_follows_a_redirect_to_another_host(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A Pulumi Cloud URL (self-hosted: maybe in the very account under audit) that answers a
    redirect to another host gets no token there: the export is unread, the token stays."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from auditor import backends

    heard: list[str | None] = []

    class Catcher(BaseHTTPRequestHandler):
        def log_message(self, *a: Any) -> None:
            pass

        def do_GET(self) -> None:  # noqa: N802
            heard.append(self.headers.get("Authorization"))
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

    catcher = ThreadingHTTPServer(("127.0.0.1", 0), Catcher)
    elsewhere = f"http://127.0.0.1:{catcher.server_address[1]}"

    class Redirector(BaseHTTPRequestHandler):
        def log_message(self, *a: Any) -> None:
            pass

        def do_GET(self) -> None:  # noqa: N802
            self.send_response(302)
            self.send_header("Location", elsewhere.replace("127.0.0.1", "localhost")
                             + self.path)
            self.send_header("Content-Length", "0")
            self.end_headers()

    cloud = ThreadingHTTPServer(("127.0.0.1", 0), Redirector)
    for server in (catcher, cloud):
        threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{cloud.server_address[1]}"
        _, run = backends.read([url], lambda: None, env={"PULUMI_ACCESS_TOKEN": "pul-secret"})
    finally:
        for server in (catcher, cloud):
            server.shutdown()
            server.server_close()
    assert heard == []
    assert run.unread and "302" in run.unread[0]


def test_a_backup_selection_tag_condition_is_case_sensitive_as_in_aws(aws: Any) -> None:
    """AWS Backup matches a selection's StringLike tag condition case-sensitively: a file
    system tagged backup=yes is not selected by `StringLike backup=Yes`. Whoever can tag it
    can take it out of the plan that way; it must not still count as covered."""
    from tests.controls.test_backup_recovery_live import _selections
    from tests.faulty_proxy import FaultyProxy
    from tests.live_support import one, run_scan

    efs = aws.client("efs", REGION)
    fs = efs.create_file_system(CreationToken="shared", Tags=[{"Key": "backup",
                                                               "Value": "yes"}])
    bk = aws.client("backup", REGION)
    bk.create_backup_vault(BackupVaultName="local")
    plan = bk.create_backup_plan(BackupPlan={"BackupPlanName": "tagged", "Rules": [{
        "RuleName": "daily", "TargetBackupVaultName": "local",
        "ScheduleExpression": "cron(0 5 ? * * *)"}]})["BackupPlanId"]
    faults = _selections(plan, ("by-tag", {"Resources": ["*"], "Conditions": {
        "StringLike": [{"ConditionKey": "aws:ResourceTag/backup", "ConditionValue": "Yes"}]}}))
    with FaultyProxy(aws.url, faults) as proxy:
        findings = run_scan(aws, config={}, regions=[REGION], endpoint=proxy.url).findings
    f = one(findings, "efs-backup-enabled", fs["FileSystemId"])
    assert f.status == "fail", f.message


def test_drill_next_reads_every_page_of_a_tables_tags(
        aws: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """DynamoDB answers a table's tags a page at a time: a dr:rto past the first page is
    still the table's target."""
    ddb = aws.client("dynamodb", REGION)
    arn = ddb.create_table(TableName="orders", BillingMode="PAY_PER_REQUEST",
                           KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                           AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}]
                           )["TableDescription"]["TableArn"]
    ddb.tag_resource(ResourceArn=arn, Tags=[{"Key": f"k{i:02}", "Value": "v"}
                                            for i in range(12)])
    ddb.tag_resource(ResourceArn=arn, Tags=[{"Key": "dr:rto", "Value": "2h"}])
    ddb.update_continuous_backups(TableName="orders", PointInTimeRecoverySpecification={
        "PointInTimeRecoveryEnabled": True})
    capsys.readouterr()
    code = main(["drill", "next", "--endpoint-url", aws.url, "--dry-run", "--regions", REGION,
                 "--output-dir", str(tmp_path / "out")])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "  target: 120 min (tag dr:rto=2h)" in out.splitlines(), out


def test_rpo_target_follows_the_checkpoint_application_not_a_dr_app_tag(
        aws: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`orders` says dr:app=payments (a critical application) but shop/prod manages it, and
    shop/prod has no tier: its finding has no tier, and its RPO is judged as that says (the
    default), never against a tier the finding does not show."""
    seed_live(aws)
    ddb = aws.client("dynamodb")
    ddb.create_backup(TableName="orders", BackupName="orders-now")
    ddb.tag_resource(ResourceArn=f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/orders",
                     Tags=[{"Key": "dr:app", "Value": "payments"}])
    rpo = _orders_rpo_two_hours_on(aws, tmp_path, monkeypatch, "payments")
    assert (rpo["application"], rpo["tier"]) == ("shop/prod", None)
    assert rpo["evidence"]["targetFrom"] == "targetRpoHours", rpo["evidence"]
    assert rpo["status"] == "pass", rpo["message"]


def test_an_application_whose_restore_evidence_is_unknown_is_not_never_restored(
        tmp_path: Path) -> None:
    """Restore jobs that could not be read make restore-time-objective `error`, never "never
    restored"; the application's row says the same (unknown), in every format."""
    from auditor.reports import write_reports
    from drguard.findings import Finding

    f = Finding("restore-time-objective", "error", "live",
                f"arn:aws:rds:{REGION}:{ACCOUNT}:db:orders",
                "The restore evidence of orders is unknown: AWS Backup restore jobs in "
                "us-east-1 could not be read; it may have been restored.", ACCOUNT, REGION,
                evidence={"targetRtoMinutes": 60})
    f.application = "shop/prod"
    run = {"command": "scan", "started": "2026-12-01T00:00:00+00:00", "fail_on": "high"}
    paths = write_reports([f], run, tmp_path, ["json", "md", "html"])
    (app,) = json.loads(paths["json"].read_text())["applications"]
    assert app["rto"]["last_restore_minutes"] is None
    assert app["rto"]["evidence"] and "unknown" in app["rto"]["evidence"]
    for fmt in ("md", "html"):
        text = paths[fmt].read_text()
        assert "never restored" not in text, fmt


def test_an_old_copy_in_one_account_is_no_proof_while_another_destination_is_unread(
        aws: Any) -> None:
    """A database copied to two other accounts: the copy to the unscanned one is 40 h old
    (a COMPLETED copy job), the recovery points of the scanned one cannot be read. The fresh
    copy may be there: `error`, not a fail saying the newest copy is 40 h old."""
    from drguard.controls.recovery import CROSS_ACCOUNT
    from tests.controls.recovery_programs import OTHER
    from tests.controls.test_backup_recovery_live import NOW, _selections
    from tests.faulty_proxy import Fault, FaultyProxy
    from tests.live_support import one, run_scan
    from tests.test_live_org import ROLE, make_org, member_client

    ids = make_org(aws)
    prod = ids["prod"]
    dest = f"arn:aws:backup:{REGION}:{prod}:backup-vault:vault-of-record"
    away = f"arn:aws:backup:{REGION}:{OTHER}:backup-vault:elsewhere"
    member_client(aws, prod, "backup").create_backup_vault(BackupVaultName="vault-of-record")
    db = aws.client("rds", REGION).create_db_instance(
        DBInstanceIdentifier="orders", Engine="postgres", DBInstanceClass="db.t4g.micro",
        AllocatedStorage=20, MasterUsername="app", MasterUserPassword="pw-Zq81-secret",
        BackupRetentionPeriod=7)["DBInstance"]["DBInstanceArn"]
    bk = aws.client("backup", REGION)
    bk.create_backup_vault(BackupVaultName="local")
    plan = bk.create_backup_plan(BackupPlan={"BackupPlanName": "two-copies", "Rules": [{
        "RuleName": "daily", "TargetBackupVaultName": "local",
        "ScheduleExpression": "rate(1 day)", "Lifecycle": {"DeleteAfterDays": 35},
        "CopyActions": [{"DestinationBackupVaultArn": dest},
                        {"DestinationBackupVaultArn": away}]}]})["BackupPlanId"]
    copy = {"AccountId": ACCOUNT, "CopyJobId": "copy-40", "ResourceArn": db,
            "DestinationBackupVaultArn": away, "State": "COMPLETED",
            "CreationDate": (NOW - dt.timedelta(hours=41)).timestamp(),
            "CompletionDate": (NOW - dt.timedelta(hours=40)).timestamp()}
    faults = _selections(plan, ("all-dbs", {"Resources": [db]}))
    faults += [Fault("denied", "backup", "GET /backup-vaults/vault-of-record/recovery-points/"),
               Fault("reply", "backup", "GET /copy-jobs/", reply={"CopyJobs": [copy]}),
               Fault("reply", "backup", "GET /backup-jobs/", reply={"BackupJobs": []})]
    with FaultyProxy(aws.url, faults) as proxy:
        findings = run_scan(aws, config={}, regions=[REGION], endpoint=proxy.url, now=NOW,
                            org=True, role_name=ROLE).findings
    f = one(findings, CROSS_ACCOUNT, db)
    assert f.status == "error", f.message
    assert "ListRecoveryPointsByBackupVault" in json.dumps(f.evidence.get("readErrors"))
