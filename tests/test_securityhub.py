"""--security-hub against the moto server's Security Hub: import, update in place by stable
id, archive what was fixed, batches of 100, retries, and a guard that lets exactly
BatchImportFindings/BatchUpdateFindings through."""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from auditor import securityhub as sh_mod
from auditor.aws import AwsOptions, MutatingCallError
from auditor.reports import asff
from drguard.findings import Finding
from tests.conftest import AwsEndpoint
from tests.faulty_proxy import Fault, FaultyProxy

ACCOUNT = "123456789012"  # moto's default account for the dummy credentials
REGION = "us-east-1"
RUN = {"accounts": [ACCOUNT], "regions": [REGION, "us-west-2"]}


def bucket_gap(name: str, status: str = "fail") -> Finding:
    return Finding("backup-bucket-versioning", status, "live", f"arn:aws:s3:::{name}",
                   f"Versioning is off on {name}.", ACCOUNT, REGION,
                   remediation={"summary": f"Turn on versioning for {name}.", "pulumi": "",
                                "cli": None})


def all_findings(client: Any) -> dict[str, dict[str, Any]]:
    out = {}
    for page in client.get_paginator("get_findings").paginate():
        out.update({f["Id"]: f for f in page["Findings"]})
    return out


@pytest.fixture
def hub(aws: AwsEndpoint) -> tuple[Any, str]:
    aws.client("securityhub").enable_security_hub()  # the test's own client: not guarded
    return sh_mod.client(AwsOptions(endpoint_url=aws.url), REGION)


def test_import_then_update_then_archive(hub: tuple[Any, str], aws: AwsEndpoint) -> None:
    client, account = hub
    assert account == ACCOUNT
    a, b = bucket_gap("backups-a"), bucket_gap("backups-b")
    first = sh_mod.sync(client, account, REGION, [a, b], RUN, now="2026-12-01T03:00:00.000Z")
    assert (first.created, first.updated, first.archived, first.failed) == (2, 0, 0, 0)
    stored = all_findings(aws.client("securityhub"))
    assert set(stored) == {a.id, b.id}
    assert stored[a.id]["RecordState"] == "ACTIVE"
    assert stored[a.id]["ProductArn"].endswith(f":product/{ACCOUNT}/default")

    # next night: the same gaps are updated in place (no duplicates, CreatedAt kept)
    second = sh_mod.sync(client, account, REGION, [a, b], RUN, now="2026-12-02T03:00:00.000Z")
    assert (second.created, second.updated, second.archived) == (0, 2, 0)
    stored = all_findings(aws.client("securityhub"))
    assert len(stored) == 2
    assert stored[a.id]["CreatedAt"] == "2026-12-01T03:00:00.000Z"
    assert stored[a.id]["UpdatedAt"] == "2026-12-02T03:00:00.000Z"

    # b was fixed (it passes now): archived and resolved; a stays active
    third = sh_mod.sync(client, account, REGION, [a, bucket_gap("backups-b", "pass")], RUN,
                        now="2026-12-03T03:00:00.000Z")
    assert (third.created, third.updated, third.archived) == (0, 1, 1)
    stored = all_findings(aws.client("securityhub"))
    assert stored[b.id]["RecordState"] == "ARCHIVED"
    assert stored[b.id]["Workflow"] == {"Status": "RESOLVED"}
    assert stored[b.id]["Compliance"]["Status"] == "PASSED"
    assert stored[a.id]["RecordState"] == "ACTIVE"

    # a run that could not read a region does not archive what it did not see ...
    unread = {**RUN, "skipped": {"regions": 1}}
    assert sh_mod.sync(client, account, REGION, [], unread).archived == 0
    assert all_findings(aws.client("securityhub"))[a.id]["RecordState"] == "ACTIVE"
    # ... and an account this run did not scan is not "fixed" either
    fourth = sh_mod.sync(client, account, REGION, [], {"accounts": ["210987654321"],
                                                       "regions": [REGION]})
    assert fourth.archived == 0
    assert all_findings(aws.client("securityhub"))[a.id]["RecordState"] == "ACTIVE"


def test_batches_of_100(hub: tuple[Any, str], aws: AwsEndpoint) -> None:
    client, account = hub
    calls: list[int] = []
    client.meta.events.register(
        "before-parameter-build.securityhub.BatchImportFindings",
        lambda params, **_: calls.append(len(params["Findings"])))
    gaps = [bucket_gap(f"backups-{i:03d}") for i in range(250)]
    result = sh_mod.sync(client, account, REGION, gaps, RUN)
    assert calls == [100, 100, 50]
    assert result.created == 250 and result.ok
    assert len(all_findings(aws.client("securityhub"))) == 250


def test_throttled_imports_are_retried(aws: AwsEndpoint) -> None:
    aws.client("securityhub").enable_security_hub()
    # REST API without an operation header: the import's body is the one with SchemaVersion
    faults = [Fault("throttle", service="securityhub", body_contains="SchemaVersion", times=2)]
    with FaultyProxy(aws.url, faults) as proxy:
        options = AwsOptions(endpoint_url=proxy.url, max_attempts=1)  # no botocore retries
        client, account = sh_mod.client(options, REGION)
        slept: list[float] = []
        result = sh_mod.sync(client, account, REGION, [bucket_gap("backups-a")], RUN,
                             sleep=slept.append)
    assert result.created == 1 and result.ok, result.errors
    assert slept == [0.5, 1.0]  # exponential backoff between the three attempts
    assert len(all_findings(aws.client("securityhub"))) == 1


def test_failed_findings_are_reported_not_raised(hub: tuple[Any, str]) -> None:
    client, account = hub

    class Rejecting:
        """Security Hub answering as it does for an invalid finding."""

        def __init__(self) -> None:
            self.calls = 0

        def get_paginator(self, name: str) -> Any:
            return client.get_paginator(name)

        def batch_import_findings(self, Findings: list[dict[str, Any]]) -> dict[str, Any]:
            self.calls += 1
            return {"FailedCount": len(Findings), "SuccessCount": 0,
                    "FailedFindings": [{"Id": f["Id"], "ErrorCode": "InvalidInput",
                                        "ErrorMessage": "bad"} for f in Findings]}

    fake = Rejecting()
    result = sh_mod.sync(fake, account, REGION, [bucket_gap("x")], RUN, sleep=lambda s: None)
    assert result.failed == 1 and result.created == 0 and not result.ok
    assert fake.calls == 1  # InvalidInput is not retried
    assert "InvalidInput" in result.line()


def test_the_guard_allows_exactly_the_two_batch_writes(aws: AwsEndpoint) -> None:
    client, _ = sh_mod.client(AwsOptions(endpoint_url=aws.url), REGION)
    with pytest.raises(MutatingCallError, match="EnableSecurityHub"):
        client.enable_security_hub()
    with pytest.raises(MutatingCallError, match="DisableSecurityHub"):
        client.disable_security_hub()
    session = sh_mod.narrow_session(AwsOptions(endpoint_url=aws.url), "securityhub",
                                    sh_mod.ALLOWED_WRITES)
    s3 = session.client("s3", endpoint_url=aws.url, region_name=REGION)
    with pytest.raises(MutatingCallError, match="s3:CreateBucket"):
        s3.create_bucket(Bucket="nope")
    s3.list_buckets()  # reads still work
    client.get_findings()
    record = asff.to_asff(bucket_gap("allowed"), "2026-12-01T03:00:00.000Z", REGION)
    assert client.batch_import_findings(Findings=[record])["SuccessCount"] == 1


def test_the_scan_sessions_stay_read_only(aws: AwsEndpoint) -> None:
    """The narrow session does not loosen the auditor's own read-only sessions."""
    from auditor.aws import base_session

    sh_mod.client(AwsOptions(endpoint_url=aws.url), REGION)
    ro = base_session(AwsOptions(endpoint_url=aws.url)).client(
        "securityhub", endpoint_url=aws.url, region_name=REGION)
    record = asff.to_asff(bucket_gap("refused"), "2026-12-01T03:00:00.000Z", REGION)
    with pytest.raises(MutatingCallError):
        ro.batch_import_findings(Findings=[record])
    assert isinstance(boto3.Session(), boto3.Session)
