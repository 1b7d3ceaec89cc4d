"""pulumi-state-backend judged on the bucket a project's Pulumi.yaml names (`backend.url`):
`dr-audit scan --project DIR|Pulumi.yaml`, on the moto server."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from auditor.cli import main
from auditor.repo import project_backend
from auditor.services.s3 import location
from tests.live_support import PAB, bucket, one, run_scan

PROJECT = "name: payments\nruntime: python\nbackend:\n  url: s3://proj-state/payments\n"


def test_location_precedence() -> None:
    """stateBucket setting, then PULUMI_BACKEND_URL (as the CLI), then the project's."""
    url = "s3://proj-state/payments"
    assert location(None, env={}, project=url) == ("proj-state", "payments",
                                                   "Pulumi.yaml backend.url")
    assert location(None, env={"PULUMI_BACKEND_URL": "s3://env-state"}, project=url)[:2] == \
        ("env-state", "")
    assert location("cfg-state", env={}, project=url)[0] == "cfg-state"
    assert location(None, env={}, project="https://api.pulumi.com") is None
    assert location(None, env={}, project=None) is None


@pytest.mark.slow
def test_scan_judges_the_bucket_named_by_pulumi_yaml(aws: Any, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PULUMI_BACKEND_URL", raising=False)
    (tmp_path / "Pulumi.yaml").write_text(PROJECT)
    s3 = bucket(aws, "proj-state", versioned=True, pab=PAB)
    for i in range(2):
        s3.put_object(Bucket="proj-state", Key="payments/.pulumi/stacks/payments/prod.json",
                      Body=b'{"serial": %d}' % i)
    result = run_scan(aws, regions=["us-east-1"], project_backend=project_backend(tmp_path))
    f = one(result.findings, "pulumi-state-backend", "proj-state")
    assert f.status == "pass", f.message
    assert list(f.evidence["checkpointVersions"]) == [
        "payments/.pulumi/stacks/payments/prod.json"]
    versioning = one(result.findings, "backup-bucket-versioning", "proj-state")
    assert "Pulumi state bucket (Pulumi.yaml backend.url)" in \
        versioning.evidence["inScopeBecause"]
    # without --project the scan does not know the bucket
    plain = run_scan(aws, regions=["us-east-1"])
    assert not [x for x in plain.findings if x.control == "pulumi-state-backend"]


def test_scan_project_that_cannot_be_read_is_a_usage_error(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "Pulumi.yaml").write_bytes(b"\x00\x01binary")
    code = main(["scan", "--project", str(tmp_path), "--regions", "us-east-1",
                 "--endpoint-url", "http://127.0.0.1:9", "--output-dir", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 2 and "Pulumi.yaml: binary file" in err and "Traceback" not in err
