"""ARNs the scan spells itself (buckets, accounts, resources the drift check looks for) name
the account's partition: in China or GovCloud regions, `aws-cn` / `aws-us-gov`, as AWS writes
them, so waivers by ARN, the state index and Security Hub see the same resource."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from auditor.cli import main
from auditor.collectors import bucket_arn, partition_of, root_arn


@pytest.mark.parametrize("region, partition", [
    ("us-east-1", "aws"), ("eu-west-1", "aws"), (None, "aws"), ("cn-north-1", "aws-cn"),
    ("cn-northwest-1", "aws-cn"), ("us-gov-west-1", "aws-us-gov"), ("us-iso-east-1", "aws-iso"),
    ("us-isob-east-1", "aws-iso-b")])
def test_partition_of_a_region(region: str | None, partition: str) -> None:
    assert partition_of(region) == partition
    assert bucket_arn("b", region) == f"arn:{partition}:s3:::b"
    assert root_arn("111122223333", region) == f"arn:{partition}:iam::111122223333:root"


def test_a_scan_in_china_names_its_buckets_in_aws_cn(aws: Any, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "cn-north-1")
    aws.client("s3", "cn-north-1").create_bucket(
        Bucket="backups-cn", CreateBucketConfiguration={"LocationConstraint": "cn-north-1"})
    main(["scan", "--endpoint-url", aws.url, "--regions", "cn-north-1", "--output-dir",
          str(tmp_path), "--format", "json"])
    report = json.loads((tmp_path / "report.json").read_text())
    mine = {f["resource"] for f in report["findings"] if "backups-cn" in f["resource"]}
    assert mine == {"arn:aws-cn:s3:::backups-cn"}, mine
