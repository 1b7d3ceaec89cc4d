"""efs-backup-enabled, every side: the rule, the pack over gRPC (programs captured from
pulumi-aws, preview and update), the live scan against the moto server, and CloudTrail.

moto's gaps, covered as elsewhere (tests/faulty_proxy.py): it has no PutBackupPolicy (an EFS
backup policy is only ENABLED, via CreateFileSystem Backup=true, or absent), so a DISABLED
policy is a canned DescribeBackupPolicy answer; it has no AWS Backup selections, so a plan
that selects a file system is canned ListBackupPlans/ListBackupSelections/GetBackupSelection.
"""

from __future__ import annotations

from typing import Any

import pytest

from auditor.logs.samples import record
from drguard.controls.efs import BACKUP_ENABLED, FileSystem, backup_enabled
from drguard.facts import UNKNOWN
from tests.faulty_proxy import Fault, FaultyProxy
from tests.harness.analyzer import run_stack
from tests.live_support import one, run_scan

EFS = "elasticfilesystem.amazonaws.com"
PROTECT = "stateful-resource-protect"


# ---- the rule ----------------------------------------------------------------------------------

def _fs(**kw: Any) -> FileSystem:
    return FileSystem(ref="arn:aws:elasticfilesystem:us-east-1:1:file-system/fs-1", name="data",
                      **kw)


def test_rule() -> None:
    assert backup_enabled(_fs(backup_policy="ENABLED")).status == "pass"
    assert backup_enabled(_fs(backup_policy=None, covered_by=["backup:daily"])).status == "pass"
    v = backup_enabled(_fs(backup_policy="DISABLED", covered_by=[]))
    assert v.status == "fail" and "DISABLED" in v.message and v.remediation is not None
    assert "put-backup-policy" in (v.remediation.cli or "")
    assert backup_enabled(_fs(backup_policy=None, covered_by=[])).status == "fail"
    assert backup_enabled(_fs(backup_policy=UNKNOWN, covered_by=[])).status == "unknown"
    assert backup_enabled(_fs(backup_policy=None, covered_by=UNKNOWN)).status == "unknown"
    assert backup_enabled(_fs(backup_policy=UNKNOWN, covered_by=["backup:x"])).status == "pass"
    assert _fs().stateful()


# ---- deploy side: programs captured from pulumi-aws ----------------------------------------

def efs_backed_up() -> None:
    """Automatic backups by the split BackupPolicy; a second file system selected by a plan."""
    import pulumi
    import pulumi_aws as aws

    fs = aws.efs.FileSystem("shared-data", encrypted=True,
                            opts=pulumi.ResourceOptions(protect=True))
    aws.efs.BackupPolicy("shared-data-backups", file_system_id=fs.id,
                         backup_policy={"status": "ENABLED"})
    media = aws.efs.FileSystem("media", encrypted=True, opts=pulumi.ResourceOptions(protect=True))
    vault = aws.backup.Vault("efs-vault", opts=pulumi.ResourceOptions(protect=True))
    aws.backup.VaultLockConfiguration("efs-vault-lock", backup_vault_name=vault.name,
                                      min_retention_days=7)
    plan = aws.backup.Plan("efs-daily", rules=[{
        "rule_name": "daily", "target_vault_name": vault.name,
        "schedule": "cron(0 3 * * ? *)"}])
    aws.backup.Selection("efs-media", iam_role_arn="arn:aws:iam::123456789012:role/backup",
                         plan_id=plan.id, resources=[media.arn])


def efs_not_backed_up() -> None:
    """No policy at all; a policy DISABLED; a policy for another file system's id."""
    import pulumi_aws as aws

    aws.efs.FileSystem("no-policy")
    off = aws.efs.FileSystem("policy-off")
    aws.efs.BackupPolicy("policy-off-backups", file_system_id=off.id,
                         backup_policy={"status": "DISABLED"})


def efs_policy_target_unknown() -> None:
    """A BackupPolicy whose fileSystemId comes from elsewhere: unknown during preview."""
    import pulumi_aws as aws

    aws.efs.FileSystem("orphaned")
    param = aws.ssm.Parameter("fs-id", type="String", value="fs-0123456789abcdef0")
    aws.efs.BackupPolicy("elsewhere-backups",
                         file_system_id=param.arn.apply(lambda _: "fs-0123456789abcdef0"),
                         backup_policy={"status": "ENABLED"})


@pytest.fixture(scope="module", params=[True, False], ids=["preview", "update"])
def mode(request: pytest.FixtureRequest) -> bool:
    return request.param


def test_pack_passes_split_policy_and_backup_selection(analyzer, capture, mode) -> None:  # noqa: ANN001
    cap = capture(efs_backed_up, preview=mode)
    run = run_stack(analyzer, cap)
    assert run.by_policy(BACKUP_ENABLED) == [], [d.message for d in run.by_policy(
        BACKUP_ENABLED)]
    assert run.by_policy(PROTECT) == []
    assert BACKUP_ENABLED in analyzer.get_analyzer_info().names


def test_pack_fails_without_backups(analyzer, capture, mode) -> None:  # noqa: ANN001
    cap = capture(efs_not_backed_up, preview=mode)
    run = run_stack(analyzer, cap)
    by_urn = {d.urn: d for d in run.by_policy(BACKUP_ENABLED)}
    none = by_urn[cap.get("no-policy")["urn"]]
    assert "automatic backups are off (no backup policy)" in none.message
    assert none.enforcement_level == "mandatory"
    off = by_urn[cap.get("policy-off")["urn"]]
    assert "automatic backups are DISABLED" in off.message
    assert "BackupPolicy 'policy-off-backups' backupPolicy.status" in off.message
    # stateful: an unprotected file system fails stateful-resource-protect
    assert {d.urn for d in run.by_policy(PROTECT)} >= {cap.get("no-policy")["urn"]}


def test_pack_unknown_policy_target_is_not_a_failure_in_preview(analyzer, capture, mode) -> None:  # noqa: ANN001
    cap = capture(efs_policy_target_unknown, preview=mode)
    (d,) = run_stack(analyzer, cap).by_policy(BACKUP_ENABLED)
    if mode:  # preview: the policy may be this file system's: one advisory note, no failure
        assert d.urn == cap.stack_urn and d.enforcement_level == "advisory"
        assert "cannot be checked during preview" in d.message and "orphaned" in d.message
    else:  # update: its fileSystemId is known and is another file system
        assert d.urn == cap.get("orphaned")["urn"] and "is not backed up" in d.message


# ---- live side: the moto server ----------------------------------------------------------------

def _file_system(aws: Any, token: str, backup: bool = False, **kw: Any) -> str:
    efs = aws.client("efs", "us-east-1")
    fs = efs.create_file_system(CreationToken=token, Backup=backup,
                                Tags=[{"Key": "Name", "Value": token}], **kw)
    return fs["FileSystemId"]


def test_live_backup_policy_enabled_absent_disabled(aws) -> None:  # noqa: ANN001
    on = _file_system(aws, "on", backup=True)
    absent = _file_system(aws, "absent")
    disabled = _file_system(aws, "disabled")
    faults = [Fault("reply", "elasticfilesystem",
                    f"GET /2015-02-01/file-systems/{disabled}/backup-policy",
                    reply={"BackupPolicy": {"Status": "DISABLED"}})]
    with FaultyProxy(aws.url, faults) as proxy:
        findings = run_scan(aws, regions=["us-east-1"], endpoint=proxy.url).findings
    assert ("elasticfilesystem", f"GET /2015-02-01/file-systems/{on}/backup-policy") in proxy.seen
    assert one(findings, BACKUP_ENABLED, on).status == "pass"
    f = one(findings, BACKUP_ENABLED, absent)
    assert f.status == "fail" and "off (no backup policy)" in f.message
    assert f.evidence["backupPolicy"] is None
    f = one(findings, BACKUP_ENABLED, disabled)
    assert f.status == "fail" and f.evidence["backupPolicy"] == "DISABLED"


def test_live_backup_selection_covers(aws) -> None:  # noqa: ANN001
    fid = _file_system(aws, "selected")
    arn = f"arn:aws:elasticfilesystem:us-east-1:123456789012:file-system/{fid}"
    selection = {"SelectionName": "efs", "IamRoleArn": "arn:aws:iam::1:role/b",
                 "Resources": [arn]}
    faults = [
        Fault("reply", "backup", "GET /backup/plans/", reply={"BackupPlansList": [
            {"BackupPlanId": "plan-1", "BackupPlanName": "daily"}]}),
        Fault("reply", "backup", "GET /backup/plans/plan-1/selections/", reply={
            "BackupSelectionsList": [{"SelectionId": "sel-1", "BackupPlanId": "plan-1",
                                      "SelectionName": "efs"}]}),
        Fault("reply", "backup", "GET /backup/plans/plan-1/selections/sel-1", reply={
            "BackupSelection": selection, "SelectionId": "sel-1", "BackupPlanId": "plan-1"}),
    ]
    with FaultyProxy(aws.url, faults) as proxy:
        findings = run_scan(aws, regions=["us-east-1"], endpoint=proxy.url).findings
    f = one(findings, BACKUP_ENABLED, fid)
    assert f.status == "pass" and f.evidence["coveredBy"] == ["backup:daily/efs"]


def test_live_fails_closed(aws, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    fid = _file_system(aws, "unreadable")
    denied = [Fault("denied", "elasticfilesystem",
                    f"GET /2015-02-01/file-systems/{fid}/backup-policy")]
    with FaultyProxy(aws.url, denied) as proxy:
        f = one(run_scan(aws, regions=["us-east-1"], endpoint=proxy.url).findings,
                BACKUP_ENABLED, fid)
    assert f.status == "error" and "efs:DescribeBackupPolicy" in f.message
    listing = [Fault("denied", "elasticfilesystem", "GET /2015-02-01/file-systems")]
    with FaultyProxy(aws.url, listing) as proxy:
        findings = run_scan(aws, regions=["us-east-1"], endpoint=proxy.url).findings
    f = one(findings, BACKUP_ENABLED, "file-system/*")
    assert f.status == "error" and "efs:DescribeFileSystems" in f.message
    assert not [x for x in findings if x.control == BACKUP_ENABLED and x.status == "pass"]


def test_live_selections_unreadable_is_error_not_fail(aws, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    fid = _file_system(aws, "maybe-covered")
    with FaultyProxy(aws.url, [Fault("denied", "backup")]) as proxy:
        f = one(run_scan(aws, regions=["us-east-1"], endpoint=proxy.url).findings,
                BACKUP_ENABLED, fid)
    assert f.status == "error" and "backup:ListBackupSelections" in f.message


# ---- logs side ---------------------------------------------------------------------------------

LOG_CASES: list[tuple[str, dict[str, Any], set[tuple[str, str]]]] = [
    ("efs backups disabled", record("PutBackupPolicy", EFS, {
        "fileSystemId": "fs-0123", "backupPolicy": {"status": "DISABLED"}}),
     {(BACKUP_ENABLED, "fail")}),
    ("efs backups enabled (near miss)", record("PutBackupPolicy", EFS, {
        "fileSystemId": "fs-0123", "backupPolicy": {"status": "ENABLED"}}), set()),
    ("efs deleted", record("DeleteFileSystem", EFS, {"fileSystemId": "fs-0123"}),
     {(BACKUP_ENABLED, "fail")}),
    ("efs mount target deleted (near miss)", record("DeleteMountTarget", EFS, {
        "mountTargetId": "fsmt-1"}), set()),
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
        assert h.resource == "arn:aws:elasticfilesystem:us-east-1:111122223333:file-system/fs-0123"


# ---- the example stacks ---------------------------------------------------------------------

DB_SECRET = {"config": {"dbPassword": "pw-Zq81-secret"}, "secrets": ["dbPassword"]}


def test_example_stacks(analyzer, capture, mode) -> None:  # noqa: ANN001
    ready = capture("examples/dr-ready-stack", preview=mode, **DB_SECRET)
    assert ready.get("shared-files")["type"] == "aws:efs/fileSystem:FileSystem"
    assert run_stack(analyzer, ready).by_policy(BACKUP_ENABLED) == []
    drifting = capture("examples/drifting-stack", preview=mode, **DB_SECRET)
    run = run_stack(analyzer, drifting)
    urn = drifting.get("shared-files")["urn"]
    (d,) = run.by_policy(BACKUP_ENABLED)
    assert d.urn == urn and "automatic backups are DISABLED" in d.message
    assert urn in {x.urn for x in run.by_policy(PROTECT)}
