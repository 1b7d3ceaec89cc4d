"""`dr-audit scan --logs ... --since`: only events inside the window explain a live gap."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

from auditor.cli import main
from tests.live_support import ACCOUNT, bucket

EVENT = {
    "eventVersion": "1.09", "eventTime": "2026-11-01T02:14:00Z",
    "eventSource": "s3.amazonaws.com", "eventName": "PutBucketVersioning",
    "awsRegion": "us-east-1", "sourceIPAddress": "203.0.113.7",
    "userAgent": "aws-cli/2.15.30", "eventID": "6f0d8a4e-0000-4000-8000-000000000001",
    "recipientAccountId": ACCOUNT, "eventType": "AwsApiCall",
    "userIdentity": {"type": "AssumedRole", "accountId": ACCOUNT,
                     "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/Admin/bob"},
    "requestParameters": {"bucketName": "prod-backups", "Host": "prod-backups.s3.amazonaws.com",
                          "versioning": "",
                          "VersioningConfiguration": {"Status": "Suspended"}},
}


def _scan(aws, logs: Path, out: Path, *extra: str) -> dict:  # noqa: ANN001
    code = main(["scan", "--endpoint-url", aws.url, "--regions", "us-east-1",
                 "--logs", str(logs), *extra, "--output-dir", str(out), "--format", "json"])
    assert code == 1
    report = json.loads((out / "report.json").read_text())
    (f,) = [f for f in report["findings"] if f["control"] == "backup-bucket-versioning"
            and f["source"] == "live" and f["resource"] == "arn:aws:s3:::prod-backups"]
    assert f["status"] == "fail"
    return f


def test_since_limits_which_events_explain_a_gap(aws, tmp_path: Path) -> None:  # noqa: ANN001
    s3 = bucket(aws, "prod-backups", versioned=True)
    s3.put_bucket_versioning(Bucket="prod-backups",
                             VersioningConfiguration={"Status": "Suspended"})
    logs = tmp_path / "logs"
    logs.mkdir()
    with gzip.open(logs / f"{ACCOUNT}_CloudTrail_us-east-1_20261101T0215Z_x.json.gz", "wt") as fh:
        json.dump({"Records": [EVENT]}, fh)

    linked = _scan(aws, logs, tmp_path / "all")
    assert linked["event"]["principal"].endswith("assumed-role/Admin/bob")
    assert linked["event"]["sourceIp"] == "203.0.113.7"

    outside = _scan(aws, logs, tmp_path / "recent", "--since", "2026-11-10")
    assert not outside.get("event")

    assert main(["scan", "--endpoint-url", aws.url, "--since", "2026-11-10"]) == 2
