"""Each control's remediation is declared once (drguard.controls.<service>: `remediation`,
`fix`, `why`, `console`, `cannot_remediate`, and the rule's per-resource fix) and every output
shows exactly that: report.json, HTML, Markdown, SARIF (rule help and results), OCSF, ASFF
(Security Hub), JUnit, docs/controls.md and the policy pack (remediation steps, Remediate
reasons). A text written anywhere else would make these differ.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from markupsafe import escape

from auditor.reports import render_reports
from auditor.reports.markdown import md
from drguard.control import remedy_text
from drguard.findings import Finding
from drguard.registry import BY_ID, CONTROLS
from drguard.verdict import Remediation

DOCS = Path(__file__).resolve().parents[1] / "docs" / "controls.md"
RUN = {"command": "scan", "started": "2026-12-05T10:00:00Z", "tool_version": "9.9.9",
       "accounts": ["123456789012"], "regions": ["us-east-1"]}


def _finding(control_id: str) -> tuple[Finding, Remediation]:
    """A gap of the control with the fix its rule would give one resource."""
    fix = Remediation(f"Fix {control_id} on res-{control_id}.",
                      f"# pulumi fix for {control_id}", f"aws s3api get-bucket-acl --bucket "
                      f"res-{control_id}")
    f = Finding(control=control_id, status="fail", source="live",
                resource=f"arn:aws:s3:::res-{control_id}", message=f"{control_id} is broken.",
                account="123456789012", region="us-east-1", severity=BY_ID[control_id].severity,
                remediation={"summary": fix.summary, "pulumi": fix.pulumi, "cli": fix.cli})
    return f, fix


@pytest.fixture(scope="module")
def outputs() -> dict[str, str]:
    findings = [_finding(c.id)[0] for c in CONTROLS]
    return render_reports(findings, RUN, ["json", "html", "md", "sarif", "junit", "ocsf",
                                          "asff"])


def test_every_control_declares_why_and_console_steps() -> None:
    missing = [c.id for c in CONTROLS if not c.why or not c.console or not c.remediation]
    assert not missing, missing


@pytest.mark.parametrize("control_id", [c.id for c in CONTROLS])
def test_every_output_shows_the_declared_remediation(outputs, control_id: str) -> None:  # noqa: ANN001
    c = BY_ID[control_id]
    f, fix = _finding(control_id)
    full = c.remedy(fix)  # the per-resource fix, completed from the declaration
    assert full["why"] == c.why and full["console"] == list(c.console)
    assert full["summary"] == fix.summary and full["cli"] == fix.cli

    report = json.loads(outputs["json"])
    [jf] = [x for x in report["findings"] if x["control"] == control_id]
    assert jf["remediation"] == full

    page = outputs["html"]
    for text in (fix.summary, c.why, *c.console):
        assert str(escape(text)) in page, text

    assert md(fix.summary) in outputs["md"] and md(c.why) in outputs["md"]

    sarif = json.loads(outputs["sarif"])
    run = sarif["runs"][0]
    [rule] = [r for r in run["tool"]["driver"]["rules"] if r["id"] == control_id]
    assert rule["help"]["text"] == remedy_text(c.remedy())
    assert c.why in rule["help"]["markdown"]
    assert all(step in rule["help"]["markdown"] for step in c.console)
    [result] = [r for r in run["results"] if r["ruleId"] == control_id]
    assert result["properties"]["remediation"] == full

    [ocsf] = [o for o in json.loads(outputs["ocsf"])
              if o["finding_info"]["uid"] == jf["id"]]
    assert ocsf["remediation"]["desc"] == remedy_text(full, code=False)

    [asff] = [a for a in json.loads(outputs["asff"])["Findings"] if a["Id"] == jf["id"]]
    text = remedy_text(full, code=False)
    want = text if len(text) <= 512 else text[:511] + "\u2026"
    assert asff["Remediation"]["Recommendation"]["Text"] == want

    suite = ET.fromstring(outputs["junit"])
    details = " ".join((e.text or "") for e in suite.iter() if e.tag in ("failure", "error")
                       and f"{control_id} is broken." in (e.text or ""))
    assert "Fix: " + remedy_text(full) in details


def _docs_section(control_id: str) -> str:
    text = DOCS.read_text(encoding="utf-8")
    start = text.index(f"\n## {control_id}\n")
    end = text.find("\n## ", start + 1)
    return text[start:end if end > 0 else None]


@pytest.mark.parametrize("control_id", [c.id for c in CONTROLS])
def test_the_docs_show_the_declaration(control_id: str) -> None:
    c = BY_ID[control_id]
    section = _docs_section(control_id).replace("\\|", "|")
    for text in (c.remediation, c.why, *c.console):
        assert text in section, text
    if c.cannot_remediate:
        assert c.cannot_remediate in section


def test_the_pack_shows_the_declaration(analyzer) -> None:  # noqa: ANN001
    info = analyzer.get_analyzer_info()
    served = [p for p in info.policies if p.name in BY_ID]
    assert len(served) >= 20
    for p in served:
        assert p.remediation_steps == remedy_text(BY_ID[p.name].remedy()), p.name


def test_object_lock_says_one_thing_everywhere(outputs) -> None:  # noqa: ANN001
    """S3 allows Object Lock on an existing versioned bucket: no output says it needs a new
    bucket, and the pack's reason names the resource that sets it."""
    c = BY_ID["backup-bucket-object-lock"]
    declared = " ".join([c.remediation, c.why, *c.console, c.cannot_remediate or ""])
    assert "existing versioned bucket" in declared
    docs = _docs_section(c.id)
    for text in (declared, docs, outputs["html"], outputs["sarif"], DOCS.read_text()):
        assert "only be turned on when a bucket is created" not in text
        assert "Create the bucket with objectLockEnabled" not in text
