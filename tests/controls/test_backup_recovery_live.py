"""The recoverability controls, live: moto serves backup vaults, vault locks and plans (and the
databases and tables plans select; the embedded emulator answers selections as none); what it
does not serve or answers empty (selections, copy and backup job
listings, vault access policies, recovery-point listings, logically air-gapped vaults) is a
canned answer in the shape of botocore's service model (tests/faulty_proxy.py `reply`,
timestamps as epoch seconds as the REST-JSON protocol sends them)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from drguard.controls.recovery import AIR_GAPPED, CROSS_ACCOUNT, DENY_DELETE, FREQUENCY, JOBS
from tests.controls.recovery_programs import DENY, OTHER
from tests.faulty_proxy import Fault, FaultyProxy
from tests.live_support import ACCOUNT, one, pick, run_scan

REGION = "us-east-1"
RECORD = f"arn:aws:backup:{REGION}:{OTHER}:backup-vault:vault-of-record"
GAPPED = f"arn:aws:backup:{REGION}:{OTHER}:backup-vault:air-gapped"
NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)


def _t(hours_ago: float) -> float:
    return (NOW - dt.timedelta(hours=hours_ago)).timestamp()


def _seed(aws: Any) -> dict[str, str]:
    rds = aws.client("rds", REGION)
    db = rds.create_db_instance(DBInstanceIdentifier="orders", Engine="postgres",
                                DBInstanceClass="db.t4g.micro", AllocatedStorage=20,
                                MasterUsername="app", MasterUserPassword="pw-Zq81-secret",
                                BackupRetentionPeriod=7)["DBInstance"]["DBInstanceArn"]
    ddb = aws.client("dynamodb", REGION)
    table = ddb.create_table(TableName="ledger", BillingMode="PAY_PER_REQUEST",
                             AttributeDefinitions=[{"AttributeName": "id",
                                                    "AttributeType": "S"}],
                             KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                             Tags=[{"Key": "dr:copy", "Value": "cross-account"}]
                             )["TableDescription"]["TableArn"]
    bk = aws.client("backup", REGION)
    bk.create_backup_vault(BackupVaultName="local")
    bk.create_backup_vault(BackupVaultName="open")
    good = bk.create_backup_plan(BackupPlan={"BackupPlanName": "cross-account", "Rules": [{
        "RuleName": "daily", "TargetBackupVaultName": "local",
        "ScheduleExpression": "cron(0 5 ? * * *)", "Lifecycle": {"DeleteAfterDays": 35},
        "CopyActions": [{"DestinationBackupVaultArn": RECORD,
                         "Lifecycle": {"DeleteAfterDays": 35}}]}]})["BackupPlanId"]
    weekly = bk.create_backup_plan(BackupPlan={"BackupPlanName": "weekly", "Rules": [{
        "RuleName": "sundays", "TargetBackupVaultName": "local",
        "ScheduleExpression": "cron(0 5 ? * 1 *)", "Lifecycle": {"DeleteAfterDays": 7},
        "CopyActions": [{"DestinationBackupVaultArn": GAPPED,
                         "Lifecycle": {"DeleteAfterDays": 35}}]}]})["BackupPlanId"]
    return {"db": db, "table": table, "good": good, "weekly": weekly}


def _selections(plan: str, *sels: tuple[str, dict[str, Any]]) -> list[Fault]:
    out = [Fault("reply", "backup", f"GET /backup/plans/{plan}/selections/", reply={
        "BackupSelectionsList": [{"SelectionId": f"sel-{name}", "SelectionName": name,
                                  "BackupPlanId": plan} for name, _ in sels]})]
    out += [Fault("reply", "backup", f"GET /backup/plans/{plan}/selections/sel-{name}", reply={
        "BackupSelection": {"SelectionName": name, "IamRoleArn": "arn:aws:iam::1:role/b", **s},
        "SelectionId": f"sel-{name}", "BackupPlanId": plan}) for name, s in sels]
    return out


def _faults(ids: dict[str, str], copies: list[dict[str, Any]], jobs: list[dict[str, Any]],
            vaults: dict[str, Any]) -> list[Fault]:
    faults = _selections(ids["good"], ("by-arn", {"Resources": [ids["db"]]}),
                         ("by-tag", {"ListOfTags": [{"ConditionType": "STRINGEQUALS",
                                                     "ConditionKey": "dr:copy",
                                                     "ConditionValue": "cross-account"}]}))
    faults += _selections(ids["weekly"])
    faults += [Fault("reply", "backup", "GET /copy-jobs/", reply={"CopyJobs": copies}),
               Fault("reply", "backup", "GET /backup-jobs/", reply={"BackupJobs": jobs}),
               Fault("reply", "backup", "GET /backup-vaults/local/access-policy", reply={
                   "BackupVaultName": "local", "Policy": json.dumps(DENY)}),
               Fault("missing", "backup", "GET /backup-vaults/open/access-policy")]
    faults += [Fault("reply", "backup", f"GET /backup-vaults/{name}", reply=body)
               for name, body in vaults.items()]
    return faults


def _copy(arn: str, hours_ago: float, state: str = "COMPLETED") -> dict[str, Any]:
    return {"AccountId": ACCOUNT, "CopyJobId": f"copy-{hours_ago}", "ResourceArn": arn,
            "DestinationBackupVaultArn": RECORD, "State": state,
            "CreationDate": _t(hours_ago + 1), "CompletionDate": _t(hours_ago)}


def _job(arn: str, hours_ago: float, state: str, message: str = "") -> dict[str, Any]:
    return {"AccountId": ACCOUNT, "BackupJobId": f"job-{hours_ago}", "ResourceArn": arn,
            "State": state, "StatusMessage": message, "ResourceType": "RDS",
            "CreationDate": _t(hours_ago + 1), "CompletionDate": _t(hours_ago)}


VAULTS = {
    "vault-of-record": {"BackupVaultName": "vault-of-record", "BackupVaultArn": RECORD,
                        "VaultType": "BACKUP_VAULT", "Locked": True, "MinRetentionDays": 35,
                        "LockDate": _t(24 * 30)},
    "air-gapped": {"BackupVaultName": "air-gapped", "BackupVaultArn": GAPPED,
                   "VaultType": "LOGICALLY_AIR_GAPPED_BACKUP_VAULT", "Locked": True,
                   "MinRetentionDays": 7},
}


def test_live_good_and_bad_twins(aws) -> None:  # noqa: ANN001
    ids = _seed(aws)
    copies = [_copy(ids["db"], 2), _copy(ids["table"], 40)]
    jobs = [_job(ids["db"], 10, "FAILED"), _job(ids["db"], 5, "COMPLETED"),
            _job(ids["table"], 3, "FAILED", "Insufficient privileges")]
    with FaultyProxy(aws.url, _faults(ids, copies, jobs, VAULTS)) as proxy:
        result = run_scan(aws, config={}, regions=[REGION], endpoint=proxy.url, now=NOW)
    findings = result.findings
    # cross-account copy: the database's copy job is 2 h old; the table's 40 h (> 26 h)
    f = one(findings, CROSS_ACCOUNT, ids["db"])
    assert f.status == "pass", f.message
    assert "selection 'by-arn'" in f.message and OTHER in f.message and "copy job" in f.message
    f = one(findings, CROSS_ACCOUNT, ids["table"])
    assert f.status == "fail" and "selection 'by-tag'" in f.message and "26 h" in f.message
    assert f.evidence["newestCopy"]["ageHours"] == 40.0
    # plans: the weekly one runs every 168 h and keeps 7 days
    assert one(findings, FREQUENCY, ids["good"]).status == "pass"
    f = one(findings, FREQUENCY, ids["weekly"])
    assert f.status == "fail" and "168 hours" in f.message and "7 days" in f.message
    # the destination vaults, asked from this account (the scan does not cover OTHER)
    f = one(findings, AIR_GAPPED, "backup-vault:vault-of-record")
    assert f.status == "pass" and "compliance" in f.message and f.account == OTHER
    assert one(findings, AIR_GAPPED, "backup-vault:air-gapped").status == "pass"
    assert ("backup", "GET /backup-vaults/vault-of-record") in proxy.seen
    # vault policies
    assert one(findings, DENY_DELETE, "backup-vault:local").status == "pass"
    f = one(findings, DENY_DELETE, "backup-vault:open")
    assert f.status == "fail" and "no access policy" in f.message
    # jobs: the database's failure was followed by a COMPLETED one; the table's was not
    assert one(findings, JOBS, ids["db"]).status == "pass"
    f = one(findings, JOBS, ids["table"])
    assert f.status == "fail" and "FAILED" in f.message and "Insufficient privileges" in f.message


def test_live_governance_and_grace_time_fail(aws) -> None:  # noqa: ANN001
    ids = _seed(aws)
    vaults = {"vault-of-record": {**VAULTS["vault-of-record"], "LockDate": _t(-48)},
              "air-gapped": {"BackupVaultName": "air-gapped", "BackupVaultArn": GAPPED,
                             "VaultType": "BACKUP_VAULT", "Locked": True,
                             "MinRetentionDays": 30}}
    with FaultyProxy(aws.url, _faults(ids, [], [], vaults)) as proxy:
        findings = run_scan(aws, config={}, regions=[REGION], endpoint=proxy.url, now=NOW).findings
    f = one(findings, AIR_GAPPED, "backup-vault:vault-of-record")
    assert f.status == "fail" and "grace time" in f.message
    f = one(findings, AIR_GAPPED, "backup-vault:air-gapped")
    assert f.status == "fail" and "governance" in f.message
    f = one(findings, CROSS_ACCOUNT, ids["db"])
    assert f.status == "fail" and "none was found" in f.message


def test_live_moto_vault_lock_is_read(aws) -> None:  # noqa: ANN001
    """The account's own vault that accepts copies from other accounts, with moto's own
    DescribeBackupVault answer: compliance lock still in its grace time, then governance."""
    bk = aws.client("backup", REGION)
    bk.create_backup_vault(BackupVaultName="inbox")
    bk.put_backup_vault_lock_configuration(BackupVaultName="inbox", MinRetentionDays=7,
                                           ChangeableForDays=3)
    accept = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{OTHER}:root"},
         "Action": "backup:CopyIntoBackupVault", "Resource": "*"}, *DENY["Statement"]]}
    faults = [Fault("reply", "backup", "GET /backup-vaults/inbox/access-policy", reply={
        "BackupVaultName": "inbox", "Policy": json.dumps(accept)})]
    with FaultyProxy(aws.url, faults) as proxy:
        findings = run_scan(aws, config={}, regions=[REGION], endpoint=proxy.url, now=NOW).findings
    f = one(findings, AIR_GAPPED, "backup-vault:inbox")
    assert f.status == "fail" and "grace time" in f.message
    assert "lets other accounts copy into it" in f.message
    assert one(findings, DENY_DELETE, "backup-vault:inbox").status == "pass"
    later = NOW + dt.timedelta(days=4)
    with FaultyProxy(aws.url, faults) as proxy:
        findings = run_scan(aws, config={}, regions=[REGION], endpoint=proxy.url,
                            now=later).findings
    assert one(findings, AIR_GAPPED, "backup-vault:inbox").status == "pass"


def test_live_fails_closed(aws, monkeypatch) -> None:  # noqa: ANN001
    """Selections that cannot be read (throttled past the retries), and what moto does not
    serve (job listings, vault policies): every control they feed is `error`, naming the call;
    nothing passes from silence."""
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    ids = _seed(aws)
    throttled = [Fault("throttle", "backup", f"GET /backup/plans/{ids[p]}/selections/")
                 for p in ("good", "weekly")]
    with FaultyProxy(aws.url, throttled) as proxy:
        findings = run_scan(aws, config={}, regions=[REGION], endpoint=proxy.url,
                            now=NOW).findings
    f = one(findings, CROSS_ACCOUNT, ids["db"])
    assert f.status == "error" and "backup:ListBackupSelections" in f.message
    f = one(findings, JOBS, ids["db"])
    assert f.status == "error" and "backup:ListBackupJobs" in f.message
    f = one(findings, DENY_DELETE, "backup-vault:local")
    assert f.status == "error" and "backup:GetBackupVaultAccessPolicy" in f.message
    # the plans themselves are served: judged
    assert one(findings, FREQUENCY, ids["weekly"]).status == "fail"
    # a refused DescribeBackupVault of a destination
    faults = _faults(ids, [], [], {}) + [Fault("denied", "backup",
                                               "GET /backup-vaults/vault-of-record")]
    with FaultyProxy(aws.url, faults) as proxy:
        findings = run_scan(aws, config={}, regions=[REGION], endpoint=proxy.url, now=NOW).findings
    f = one(findings, AIR_GAPPED, "backup-vault:vault-of-record")
    assert f.status == "error" and "backup:DescribeBackupVault" in f.message
    assert f"scan account {OTHER} too" in f.evidence["hint"]
    # the table's tags are unreadable: a tag condition might select it, so not a fail
    faults = _faults(ids, [], [], VAULTS) + [Fault("denied", "dynamodb", "ListTagsOfResource")]
    with FaultyProxy(aws.url, faults) as proxy:
        findings = run_scan(aws, config={}, regions=[REGION], endpoint=proxy.url, now=NOW).findings
    f = one(findings, CROSS_ACCOUNT, ids["table"])
    assert f.status == "error" and "dynamodb:ListTagsOfResource" in f.message
    with FaultyProxy(aws.url, [Fault("denied", "backup", "GET /backup/plans/")]) as proxy:
        findings = run_scan(aws, config={}, regions=[REGION], endpoint=proxy.url, now=NOW).findings
    for c in (FREQUENCY, CROSS_ACCOUNT):
        assert [x for x in pick(findings, c) if x.status == "error"
                and "backup:ListBackupPlans" in x.message]
    assert not [x for x in pick(findings, CROSS_ACCOUNT) if x.status == "pass"]


def test_org_scan_evidence_is_the_recovery_point_in_the_destination(aws) -> None:  # noqa: ANN001
    """With --org the destination account is scanned too: the copy's evidence is a recovery
    point of the resource in the destination vault (no copy job needed), and the vault's lock
    is read in its own account (moto's DescribeBackupVault)."""
    from tests.test_live_org import ROLE, make_org, member_client

    ids = make_org(aws)
    prod = ids["prod"]
    dest = f"arn:aws:backup:{REGION}:{prod}:backup-vault:vault-of-record"
    mbk = member_client(aws, prod, "backup")
    mbk.create_backup_vault(BackupVaultName="vault-of-record")
    mbk.put_backup_vault_lock_configuration(BackupVaultName="vault-of-record",
                                            MinRetentionDays=35, ChangeableForDays=3)
    rds = aws.client("rds", REGION)
    db = rds.create_db_instance(DBInstanceIdentifier="orders", Engine="postgres",
                                DBInstanceClass="db.t4g.micro", AllocatedStorage=20,
                                MasterUsername="app", MasterUserPassword="pw-Zq81-secret",
                                BackupRetentionPeriod=7)["DBInstance"]["DBInstanceArn"]
    rds.create_db_instance(DBInstanceIdentifier="stale", Engine="postgres",
                           DBInstanceClass="db.t4g.micro", AllocatedStorage=20,
                           MasterUsername="app", MasterUserPassword="pw-Zq81-secret",
                           BackupRetentionPeriod=7)
    stale = f"arn:aws:rds:{REGION}:{ACCOUNT}:db:stale"
    bk = aws.client("backup", REGION)
    bk.create_backup_vault(BackupVaultName="local")
    plan = bk.create_backup_plan(BackupPlan={"BackupPlanName": "to-prod", "Rules": [{
        "RuleName": "daily", "TargetBackupVaultName": "local",
        "ScheduleExpression": "rate(1 day)", "Lifecycle": {"DeleteAfterDays": 35},
        "CopyActions": [{"DestinationBackupVaultArn": dest,
                         "Lifecycle": {"DeleteAfterDays": 35}}]}]})["BackupPlanId"]
    now = NOW + dt.timedelta(days=4)  # past the lock's grace time
    point = {"RecoveryPointArn": f"arn:aws:backup:{REGION}:{prod}:recovery-point:rp-1",
             "BackupVaultName": "vault-of-record", "BackupVaultArn": dest,
             "ResourceArn": db, "ResourceType": "RDS", "Status": "COMPLETED",
             "CreationDate": (now - dt.timedelta(hours=6)).timestamp(),
             "CompletionDate": (now - dt.timedelta(hours=5)).timestamp()}
    old = {**point, "RecoveryPointArn": point["RecoveryPointArn"] + "-old", "ResourceArn": stale,
           "CompletionDate": (now - dt.timedelta(hours=50)).timestamp()}
    faults = _selections(plan, ("all-dbs", {"Resources": [f"arn:aws:rds:*:{ACCOUNT}:db:*"]}))
    faults += [Fault("reply", "backup", "GET /backup-vaults/vault-of-record/recovery-points/",
                     reply={"RecoveryPoints": [point, old]}),
               Fault("reply", "backup", "GET /copy-jobs/", reply={"CopyJobs": []}),
               Fault("reply", "backup", "GET /backup-jobs/", reply={"BackupJobs": []})]
    with FaultyProxy(aws.url, faults) as proxy:
        findings = run_scan(aws, config={}, regions=[REGION], endpoint=proxy.url, now=now, org=True,
                            role_name=ROLE).findings
    f = one(findings, CROSS_ACCOUNT, db)
    assert f.status == "pass" and "recovery point" in f.message and prod in f.message
    assert f.evidence["newestCopy"]["recoveryPoint"].endswith("rp-1")
    f = one(findings, CROSS_ACCOUNT, "db:stale")
    assert f.status == "fail" and "50.0 h old" in f.message
    f = one(findings, AIR_GAPPED, dest)
    assert f.status == "pass" and f.account == prod and "compliance" in f.message


def test_live_copies_count_only_into_destination_accounts(aws) -> None:  # noqa: ANN001
    """The database's copy job to OTHER completed 2 h ago: a pass, unless destinationAccounts
    names other accounts only (the backup account), when that copy does not count."""
    ids = _seed(aws)
    copies = [_copy(ids["db"], 2)]
    for pinned, status in (([OTHER], "pass"), (["444455556666"], "fail")):
        with FaultyProxy(aws.url, _faults(ids, copies, [], VAULTS)) as proxy:
            findings = run_scan(aws, config={"controls": {CROSS_ACCOUNT: {
                "destinationAccounts": pinned}}}, regions=[REGION], endpoint=proxy.url,
                now=NOW).findings
        f = one(findings, CROSS_ACCOUNT, ids["db"])
        assert f.status == status, f.message
        assert f.evidence["destinationAccounts"] == pinned
    assert f"copy only to account {OTHER}, which is not one of destinationAccounts " \
           "(444455556666)" in f.message
    assert "has no copy in an account of destinationAccounts" in f.message
    assert f.remediation is not None and ":444455556666:backup-vault:" in f.remediation["pulumi"]
    assert "in account 444455556666 (destinationAccounts)" in f.remediation["summary"]
