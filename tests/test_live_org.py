"""Organization mode: accounts listed through Organizations, a role assumed in each, SCP
coverage through the OU tree, one broken account that does not stop the others."""

from __future__ import annotations

import json

import boto3
import pytest

from auditor.cli import main
from drguard.registry import BACKUP_DELETION_ACTIONS
from tests.faulty_proxy import Fault, FaultyProxy
from tests.live_support import ACCOUNT, EMULATOR_CONFIG, db, one, pick, run_scan

pytestmark = pytest.mark.slow

ROLE = "OrganizationAccountAccessRole"


def _policy(org, name, statements, target):
    pid = org.create_policy(Name=name, Type="SERVICE_CONTROL_POLICY", Description=name,
                            Content=json.dumps({"Version": "2012-10-17",
                                                "Statement": statements}))
    org.attach_policy(PolicyId=pid["Policy"]["PolicySummary"]["Id"], TargetId=target)


BREAK_GLASS = "arn:aws:iam::*:role/break-glass"
NOT_BREAK_GLASS = {"ArnNotLike": {"aws:PrincipalArn": BREAK_GLASS}}
# Nobody but the break-glass role may create it, rewrite its trust or change its policies.
GUARD = {"Sid": "ProtectBreakGlass", "Effect": "Deny", "Resource": BREAK_GLASS,
         "Action": ["iam:CreateRole", "iam:UpdateAssumeRolePolicy", "iam:AttachRolePolicy",
                    "iam:PutRolePolicy"], "Condition": NOT_BREAK_GLASS}


def make_org(aws, guard_break_glass=True):
    """root -> workloads -> team (prod account); root -> sandbox (lab account). The
    workloads SCP exempts a break-glass role, guarded unless `guard_break_glass` is false."""
    org = aws.client("organizations")
    org.create_organization(FeatureSet="ALL")
    root = org.list_roots()["Roots"][0]["Id"]
    org.enable_policy_type(RootId=root, PolicyType="SERVICE_CONTROL_POLICY")
    workloads = org.create_organizational_unit(ParentId=root, Name="workloads")
    workloads = workloads["OrganizationalUnit"]["Id"]
    team = org.create_organizational_unit(ParentId=workloads, Name="team")
    team = team["OrganizationalUnit"]["Id"]
    sandbox = org.create_organizational_unit(ParentId=root, Name="sandbox")
    sandbox = sandbox["OrganizationalUnit"]["Id"]
    ids = {}
    for name, ou in (("prod", team), ("lab", sandbox)):
        acct = org.create_account(AccountName=name, Email=f"{name}@example.com")
        ids[name] = acct["CreateAccountStatus"]["AccountId"]
        org.move_account(AccountId=ids[name], SourceParentId=root, DestinationParentId=ou)
    _policy(org, "protect-backups", [{
        "Sid": "ProtectBackups", "Effect": "Deny", "Action": BACKUP_DELETION_ACTIONS,
        "Resource": "*", "Condition": NOT_BREAK_GLASS}] + ([GUARD] if guard_break_glass else []),
        workloads)
    _policy(org, "no-s3-deletes", [{"Effect": "Deny", "Action": "s3:Delete*",
                                    "Resource": "arn:aws:s3:::*"}], root)
    _policy(org, "eu-only-trail-guard", [{
        "Effect": "Deny", "Action": ["cloudtrail:StopLogging", "cloudtrail:DeleteTrail"],
        "Resource": "*", "Condition": {"StringEquals": {"aws:RequestedRegion": "eu-west-1"}}}],
        ids["lab"])
    return ids


def member_client(aws, account, service, region="us-east-1"):
    creds = aws.client("sts").assume_role(RoleArn=f"arn:aws:iam::{account}:role/{ROLE}",
                                          RoleSessionName="seed")["Credentials"]
    return boto3.client(service, region_name=region, endpoint_url=aws.url,
                        aws_access_key_id=creds["AccessKeyId"],
                        aws_secret_access_key=creds["SecretAccessKey"],
                        aws_session_token=creds["SessionToken"])


def test_org_scan_covers_every_account_and_judges_scps(aws):
    ids = make_org(aws)
    db(aws, "mgmt-db", retention=14)
    member_client(aws, ids["prod"], "rds").create_db_instance(
        DBInstanceIdentifier="prod-db", DBInstanceClass="db.t3.micro", Engine="postgres",
        MasterUsername="admin", MasterUserPassword="password-123", AllocatedStorage=20,
        BackupRetentionPeriod=2, DeletionProtection=False)
    member_client(aws, ids["lab"], "s3").create_bucket(Bucket="lab-backup")
    result = run_scan(aws, regions=["us-east-1"], org=True, role_name=ROLE)
    findings = result.findings

    assert {a["id"]: a["status"] for a in result.run["account_status"]} == {
        ACCOUNT: "scanned", ids["prod"]: "scanned", ids["lab"]: "scanned"}
    prod_db = one(findings, "rds-backup-retention", f"{ids['prod']}:db:prod-db")
    assert prod_db.status == "fail" and prod_db.account == ids["prod"]
    assert one(findings, "rds-backup-retention", f"{ACCOUNT}:db:mgmt-db").status == "pass"
    lab_bucket = one(findings, "backup-bucket-versioning", "lab-backup")
    assert lab_bucket.account == ids["lab"] and lab_bucket.status == "fail"
    # prod is two OUs below the OU that carries the full SCP: covered.
    prod = one(findings, "scp-deny-backup-deletion", f"{ids['prod']}:root")
    assert prod.status == "pass", prod.message
    assert {c["scp"] for c in prod.evidence["scpsConsidered"]} >= {"protect-backups",
                                                                   "no-s3-deletes"}
    # lab only gets the root SCP (s3:Delete* on every bucket) and a region-conditioned one.
    lab = one(findings, "scp-deny-backup-deletion", f"{ids['lab']}:root")
    assert lab.status == "fail"
    missing = set(lab.evidence["missingActions"])
    assert missing == set(BACKUP_DELETION_ACTIONS) - {"s3:DeleteBucket",
                                                      "s3:DeleteObjectVersion"}
    ignored = [s for c in lab.evidence["scpsConsidered"] for s in c["ignoredStatements"]]
    assert any("aws:RequestedRegion" in s["reason"] for s in ignored)
    assert "cloudtrail:StopLogging" in lab.message
    # SCPs never apply to the management account: no finding for it.
    assert not pick(findings, "scp-deny-backup-deletion", f"{ACCOUNT}:root")


def test_org_scp_break_glass_a_member_admin_can_create_fails(aws):
    """The same SCP, but nothing stops an admin of prod from creating a role named break-glass
    (or rewriting the trust of the existing one) and destroying backups as it."""
    ids = make_org(aws, guard_break_glass=False)
    findings = run_scan(aws, regions=["us-east-1"], org=True, role_name=ROLE).findings
    prod = one(findings, "scp-deny-backup-deletion", f"{ids['prod']}:root")
    assert prod.status == "fail"
    # the root SCP still denies the S3 deletes on every bucket
    assert set(prod.evidence["missingActions"]) == set(BACKUP_DELETION_ACTIONS) - {
        "s3:DeleteBucket", "s3:DeleteObjectVersion"}
    assert (f"Statement ProtectBackups of SCP protect-backups exempts {BREAK_GLASS}, which an "
            f"admin of account {ids['prod']} can create or take over: also deny iam:CreateRole, "
            "iam:UpdateAssumeRolePolicy, iam:AttachRolePolicy, iam:PutRolePolicy on it to every "
            "other principal.") in prod.message
    (ignored,) = [s for c in prod.evidence["scpsConsidered"] if c["scp"] == "protect-backups"
                  for s in c["ignoredStatements"]]
    assert ignored["statement"] == "ProtectBackups" and "iam:CreateRole" in ignored["reason"]
    # the fix keeps the break-glass and guards it
    assert "keeping the break-glass exemption of " + BREAK_GLASS in prod.remediation["summary"]
    assert '"ProtectBreakGlassRoles"' in prod.remediation["cli"]


def test_org_one_broken_account_others_complete(aws, tmp_path, capsys):
    ids = make_org(aws)
    member_client(aws, ids["prod"], "rds").create_db_instance(
        DBInstanceIdentifier="prod-db", DBInstanceClass="db.t3.micro", Engine="postgres",
        MasterUsername="admin", MasterUserPassword="password-123", AllocatedStorage=20,
        BackupRetentionPeriod=14, DeletionProtection=True)
    deny = Fault("denied", service="sts", operation="AssumeRole", body_contains=ids["lab"])
    with FaultyProxy(aws.url, [deny]) as proxy:
        result = run_scan(aws, regions=["us-east-1"], org=True, role_name=ROLE,
                          endpoint=proxy.url)
        assert deny.hits >= 1
        cfg = tmp_path / "emulator.json"  # the same controls as run_scan (EMULATOR_CONFIG)
        cfg.write_text(json.dumps(EMULATOR_CONFIG))
        code = main(["scan", "--org", "--role-name", ROLE, "--regions", "us-east-1",
                     "--endpoint-url", proxy.url, "--output-dir", str(tmp_path),
                     "--format", "json", "--fail-on", "critical", "--config", str(cfg)])
    findings = result.findings
    status = {a["id"]: a for a in result.run["account_status"]}
    assert status[ids["lab"]]["status"] == "error"
    assert "AccessDenied" in status[ids["lab"]]["error"]
    assert result.run["skipped"]["accounts"] == 1
    lab = [f for f in findings if f.account == ids["lab"]]
    assert lab and all(f.status == "error" for f in lab if f.control != "scp-deny-backup-deletion")
    assert {f.control for f in lab} >= {"rds-backup-retention", "backup-bucket-versioning",
                                        "cloudtrail-enabled", "iam-access-key-rotation"}
    assert all("AssumeRole" in f.message for f in lab if f.status == "error")
    # the others completed
    assert one(findings, "rds-backup-retention", f"{ids['prod']}:db:prod-db").status == "pass"
    assert one(findings, "scp-deny-backup-deletion", f"{ids['prod']}:root").status == "pass"
    # nothing critical failed, some checks could not run: exit 3 (incomplete)
    assert code == 3
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["summary"]["by_status"]["error"] == sum(f.status == "error" for f in findings)


def test_org_scp_read_denied_is_error(aws):
    ids = make_org(aws)
    fault = Fault("denied", service="organizations", operation="ListPolicies")
    with FaultyProxy(aws.url, [fault]) as proxy:
        findings = run_scan(aws, regions=["us-east-1"], org=True, role_name=ROLE,
                            endpoint=proxy.url).findings
    scps = pick(findings, "scp-deny-backup-deletion")
    assert {f.account for f in scps} >= {ids["prod"], ids["lab"]}
    assert all(f.status == "error" and "AccessDenied" in f.message for f in scps)


def test_member_account_alone_cannot_read_scps(aws, monkeypatch):
    ids = make_org(aws)
    creds = aws.client("sts").assume_role(RoleArn=f"arn:aws:iam::{ids['prod']}:role/{ROLE}",
                                          RoleSessionName="member")["Credentials"]
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", creds["AccessKeyId"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", creds["SecretAccessKey"])
    monkeypatch.setenv("AWS_SESSION_TOKEN", creds["SessionToken"])
    result = run_scan(aws, regions=["us-east-1"])
    assert result.run["principal_account"] == ids["prod"]
    f = one(result.findings, "scp-deny-backup-deletion", f"{ids['prod']}:root")
    # moto keeps Organizations per account, so a member sees "not in use"; on AWS a member
    # gets its organization and the scan says the SCPs need the management account.
    assert f.status in ("fail", "error")
    assert f.status != "pass"


def test_management_account_without_org_flag_judges_members(aws):
    ids = make_org(aws)
    findings = run_scan(aws, regions=["us-east-1"]).findings
    by_account = {f.account: f.status for f in pick(findings, "scp-deny-backup-deletion")}
    assert by_account == {ids["prod"]: "pass", ids["lab"]: "fail"}


def test_org_needs_role_name(aws, capsys):
    assert main(["scan", "--org", "--endpoint-url", aws.url]) == 2
    assert "--role-name" in capsys.readouterr().err
