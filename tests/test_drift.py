"""resource-drift-deleted: `dr-audit scan --state` against a moto server.

The state is the export of the dr-ready example (captured as an update); the account holds
every stateful resource it records except the ones a test "deletes"."""

from __future__ import annotations

import copy
import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from auditor import aws as aws_mod
from auditor import drift, state
from auditor.cli import main
from auditor.logs.samples import key, log_file, record
from drguard.settings import Settings
from tests.export import export

pytestmark = pytest.mark.slow

ACCOUNT = "123456789012"  # moto's account, and the harness's
DB_SECRET = {"config": {"dbPassword": "pw-Zq81-secret"}, "secrets": ["dbPassword"]}
GONE = ("orders-db", "db-backups", "orders-ledger", "dr-vault")  # logical names


@pytest.fixture(scope="module")
def dr_ready(capture) -> dict:  # noqa: ANN001
    return export(capture("examples/dr-ready-stack", preview=False, **DB_SECRET))


def seed(aws: Any, export_doc: dict, skip: tuple[str, ...] = ()) -> dict[str, drift.Target]:
    """Create every stateful resource of the export in moto, except the logical names in
    `skip`; return the targets by logical name."""
    found = {t.res.name: t for t in drift.targets(state.parse(export_doc, "x"), "us-east-1",
                                                   ACCOUNT)}
    for name, t in found.items():
        if name in skip:
            continue
        c = aws.client(t.kind.service, t.region)
        if t.kind.label == "RDS DB instance":
            c.create_db_instance(DBInstanceIdentifier=t.name, DBInstanceClass="db.t4g.medium",
                                 Engine="postgres", AllocatedStorage=20,
                                 MasterUsername="app", MasterUserPassword="password-123")
        elif t.kind.label == "RDS DB cluster":
            c.create_db_cluster(DBClusterIdentifier=t.name, Engine="aurora-postgresql",
                                MasterUsername="app", MasterUserPassword="password-123")
        elif t.kind.service == "s3":
            kw: dict[str, Any] = {"Bucket": t.name}
            if t.region != "us-east-1":
                kw["CreateBucketConfiguration"] = {"LocationConstraint": t.region}
            c.create_bucket(**kw)
        elif t.kind.service == "dynamodb":
            c.create_table(TableName=t.name, BillingMode="PAY_PER_REQUEST",
                           KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                           AttributeDefinitions=[{"AttributeName": "id",
                                                  "AttributeType": "S"}])
        elif t.kind.service == "backup":
            c.create_backup_vault(BackupVaultName=t.name)
        elif t.kind.service == "efs":
            # EFS picks the id (fs-...): record moto's id in the export, as an update would.
            fid = c.create_file_system(CreationToken=t.res.urn)["FileSystemId"]
            for r in export_doc["deployment"]["resources"]:
                if r["urn"] == t.res.urn:
                    r["id"] = fid
    return found


def test_every_stateful_kind_is_located(dr_ready) -> None:  # noqa: ANN001
    found = {t.res.name: t for t in drift.targets(state.parse(dr_ready, "x"), "eu-north-1",
                                                   ACCOUNT)}
    assert set(found) == {"orders-db", "ledger", "native-db", "db-backups",
                          "db-backups-replica", "audit-trail-logs", "native-backups",
                          "primary-vault", "dr-vault", "orders-ledger", "shared-files"}
    assert found["shared-files"].kind.operation == "efs:DescribeFileSystems"
    # Region from the resource (v7 `region`), else its provider; never the default here.
    assert found["db-backups-replica"].region == "us-west-2"
    assert found["dr-vault"].region == "us-west-2"
    assert found["native-db"].region == "us-east-1"  # aws-native: the provider's region
    # pulumi-aws v6+: the instance id is a resource id, the identifier is the name.
    db = found["orders-db"]
    assert db.name != db.res.id and db.name.startswith("orders-db-")
    assert db.arn == f"arn:aws:rds:us-east-1:{ACCOUNT}:db:{db.name}"
    assert found["native-backups"].arn.startswith("arn:aws:s3:::native-backups-")


def test_deleted_resources_are_critical_and_the_rest_pass(aws, dr_ready) -> None:  # noqa: ANN001
    dr_ready = copy.deepcopy(dr_ready)  # seed() records moto's EFS ids in it
    found = seed(aws, dr_ready, skip=GONE)
    base = aws_mod.connect(aws_mod.AwsOptions(endpoint_url=aws.url))
    findings = drift.check(state.parse(dr_ready, "x"), base, lambda a: base, Settings(),
                           "us-east-1", workers=4)
    by_name = {f.evidence["urn"].rsplit("::", 1)[-1]: f for f in findings}
    assert set(by_name) == set(found)
    for name, f in by_name.items():
        assert f.control == "resource-drift-deleted" and f.source == "live"
        assert f.status == ("fail" if name in GONE else "pass"), (name, f.message)
        assert f.account == ACCOUNT and f.region == found[name].region
    gone = by_name["orders-db"]
    assert gone.severity == "critical"
    assert gone.resource == found["orders-db"].arn
    assert "recorded in the Pulumi state" in gone.message
    # the fix lives in the remediation, once: restore, then refresh the stack
    assert "pulumi refresh" in gone.remediation["summary"]
    assert "pulumi refresh --target" in gone.remediation["pulumi"]
    assert gone.evidence["check"] == "rds:DescribeDBInstances"
    assert by_name["dr-vault"].region == "us-west-2"


class _Denied:
    """A client whose every call is refused (a read-only audit role without that right)."""

    def __getattr__(self, name: str) -> Any:
        def call(**_: Any) -> Any:
            raise ClientError({"Error": {"Code": "AccessDenied", "Message": "no"}}, name)
        return call


class _Account:
    id = ACCOUNT

    def client(self, service: str, region: str | None = None) -> Any:
        return _Denied()


def test_unreadable_or_unreachable_is_error_never_deleted(dr_ready) -> None:  # noqa: ANN001
    doc = json.loads(json.dumps(dr_ready))
    for r in doc["deployment"]["resources"]:
        if r["urn"].endswith("::primary-vault"):  # recorded in another account
            r["outputs"]["arn"] = r["outputs"]["arn"].replace(ACCOUNT, "999999999999")
        if r["urn"].endswith("::orders-ledger"):  # its name only as an encrypted secret
            hidden = {"4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270",
                      "ciphertext": "v1:x:v1:y"}
            r["inputs"]["name"] = r["outputs"]["name"] = hidden
            r["id"] = ""
    acct = _Account()
    findings = drift.check(state.parse(doc, "x"), acct,  # type: ignore[arg-type]
                           lambda a: acct if a in (None, ACCOUNT) else None, Settings(),
                           "us-east-1")
    assert findings and {f.status for f in findings} == {"error"}
    by_name = {f.evidence["urn"].rsplit("::", 1)[-1]: f for f in findings}
    assert "AccessDenied" in by_name["orders-db"].message
    assert "999999999999, which the scan's credentials do not reach" \
        in by_name["primary-vault"].message
    assert "does not say its name" in by_name["orders-ledger"].message


def _trail_logs(tmp_path: Path, found: dict[str, drift.Target]) -> Path:
    """CloudTrail files recording who deleted the RDS instance and the backup bucket."""
    t = dt.datetime(2026, 1, 5, 2, 14, tzinfo=dt.UTC)
    recs = [
        record("DeleteDBInstance", "rds.amazonaws.com",
               {"dBInstanceIdentifier": found["orders-db"].name, "skipFinalSnapshot": True},
               time=t, account=ACCOUNT),
        record("DeleteBucket", "s3.amazonaws.com", {"bucketName": found["db-backups"].name},
               time=t + dt.timedelta(minutes=3), account=ACCOUNT),
    ]
    path = tmp_path / "logs" / key(t, account=ACCOUNT)
    path.parent.mkdir(parents=True)
    path.write_bytes(log_file(recs))
    return tmp_path / "logs"


def test_scan_with_state_and_logs_end_to_end(aws, dr_ready, tmp_path) -> None:  # noqa: ANN001
    dr_ready = copy.deepcopy(dr_ready)  # seed() records moto's EFS ids in it
    found = seed(aws, dr_ready, skip=GONE)
    exported = tmp_path / "state.json"
    exported.write_text(json.dumps(dr_ready))
    logs = _trail_logs(tmp_path, found)
    out = tmp_path / "report"
    code = main(["scan", "--endpoint-url", aws.url, "--regions", "us-east-1,us-west-2",
                 "--state", str(exported), "--logs", str(logs), "--output-dir", str(out),
                 "--format", "json,md"])
    assert code == 1
    report = json.loads((out / "report.json").read_text())
    drifted = {f["evidence"]["urn"].rsplit("::", 1)[-1]: f for f in report["findings"]
               if f["control"] == "resource-drift-deleted" and f["source"] == "live"}
    assert {n for n, f in drifted.items() if f["status"] == "fail"} == set(GONE)
    assert drifted["orders-db"]["event"]["eventName"] == "DeleteDBInstance"
    assert drifted["db-backups"]["event"]["eventName"] == "DeleteBucket"
    assert drifted["db-backups"]["event"]["principal"].startswith("arn:aws:sts::")
    assert drifted["orders-ledger"].get("event") is None  # no DeleteTable in these logs
    assert report["run"]["state"] == {"file": str(exported), "checked": 11, "deleted": 4,
                                      "unverified": 0}
    assert report["summary"]["gaps_at_or_above"]["critical"] >= 4


def test_damaged_state_stops_the_scan_before_it_starts(aws, tmp_path, capsys) -> None:  # noqa: ANN001
    bad = tmp_path / "state.json"
    bad.write_text('{"version": 3, "deployment": {"resources": [')
    code = main(["scan", "--endpoint-url", aws.url, "--regions", "us-east-1",
                 "--state", str(bad), "--output-dir", str(tmp_path / "out")])
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert err == (f"dr-audit: error: {bad}: not a usable stack export: not valid JSON "
                   "(Expecting value: line 1 column 45)")
    assert not (tmp_path / "out").exists()
