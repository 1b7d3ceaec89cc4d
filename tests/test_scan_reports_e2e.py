"""`dr-audit scan` end to end against the moto server: every report format from one run,
with a hostile tag value travelling from AWS into the reports."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema
import yaml

from auditor.cli import main
from tests.live_support import bucket

HOSTILE = '<script>alert("x")</script>'
SARIF_SCHEMA = Path(__file__).parent / "data" / "sarif-schema-2.1.0.json"


def test_scan_writes_every_format_and_escapes_hostile_values(aws, tmp_path: Path) -> None:  # noqa: ANN001
    # Scoped by a tag whose value is hostile: the scope reason carries it into the evidence.
    bucket(aws, "ledger-archive", tags={"owner": HOSTILE})
    config = tmp_path / "dr.yaml"
    config.write_text(yaml.safe_dump({"scope": {"backupTagKey": "owner",
                                                "backupTagValue": HOSTILE}}))
    out = tmp_path / "report"
    code = main(["scan", "--endpoint-url", aws.url, "--regions", "us-east-1",
                 "--config", str(config), "--output-dir", str(out)])
    assert code == 1

    report = json.loads((out / "report.json").read_text())
    assert report["schema"] == "dr-audit/1"
    arn = "arn:aws:s3:::ledger-archive"
    mine = {f["control"]: f for f in report["findings"] if f["resource"] == arn}
    assert mine["backup-bucket-versioning"]["status"] == "fail"
    assert mine["backup-bucket-object-lock"]["status"] == "fail"
    evidence = mine["backup-bucket-versioning"]["evidence"]
    assert evidence["inScopeBecause"] == [f"tag owner={HOSTILE}"]

    sarif = json.loads((out / "report.sarif").read_text())
    schema = json.loads(SARIF_SCHEMA.read_text())
    jsonschema.validators.validator_for(schema)(schema).validate(sarif)
    results = sarif["runs"][0]["results"]
    # GitHub code scanning rejects results without a file: they point at the Pulumi project.
    assert {r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
            for r in results} == {"Pulumi.yaml"}
    assert any(r["ruleId"] == "backup-bucket-versioning" and r["level"] == "error"
               for r in results)

    junit = ET.parse(out / "report.junit.xml").getroot()
    cases = {(c.get("classname"), c.get("name")): c for c in junit.iter("testcase")}
    # testcase name: `<resource> [<finding id>]`, the same id as report.json
    case = cases[("backup-bucket-versioning",
                  f"{arn} [{mine['backup-bucket-versioning']['id']}]")]
    assert case.find("failure") is not None

    html = (out / "report.html").read_text()
    assert HOSTILE not in html and "<script>alert" not in html
    assert "&lt;script&gt;alert(" in html
    assert arn in html and "backup-bucket-object-lock" in html

    md = (out / "report.md").read_text()
    assert "backup-bucket-versioning" in md and arn in md
