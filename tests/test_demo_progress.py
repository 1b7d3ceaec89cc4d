"""The demo's progress by phase: seeding, scanning, reading logs, writing reports (stderr)."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from auditor.commands import demo
from auditor.commands import scan as scan_cmd
from drguard.settings import Settings
from tests.conftest import AwsEndpoint


def test_phases_are_numbered_and_timed(capsys: pytest.CaptureFixture[str]) -> None:
    phase = demo._Phases()
    phase("seeding", "starting")
    phase("scanning", "2 accounts")
    phase.from_scan("reading CloudTrail logs...")
    phase.from_scan("writing reports (json) to out...")
    lines = capsys.readouterr().err.splitlines()
    assert [line.split("]")[0].split("[")[1] for line in lines] == [
        "1/4 seeding", "2/4 scanning", "3/4 reading logs", "4/4 writing reports"]
    assert all(line.startswith("dr-audit demo: [") and line.endswith(" s)") for line in lines)


def test_execute_announces_the_logs_and_reports_phases(aws: AwsEndpoint,
                                                      tmp_path: Path) -> None:
    aws.client("s3").create_bucket(Bucket="acme-backups")
    logs = tmp_path / "logs"
    logs.mkdir()
    p = argparse.ArgumentParser()
    scan_cmd.add_arguments(p)
    args = p.parse_args(["--endpoint-url", aws.url, "--regions", "us-east-1", "--logs",
                         str(logs), "--output-dir", str(tmp_path / "out")])
    said: list[str] = []
    code, paths, _ = scan_cmd.execute(scan_cmd.options_from(args), Settings(),
                                      args.output_dir, ["json"], args=args, say=said.append)
    assert said == ["reading CloudTrail logs...",
                    f"writing reports (json) to {tmp_path / 'out'}..."]
    assert paths["json"].exists()
