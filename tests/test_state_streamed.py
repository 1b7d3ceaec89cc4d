"""`dr-audit state --format json` keeps no finding: each is encoded into report.json as it is
made (auditor.reports.spool). Its report equals the one written from the findings list (any
other format asked beside JSON), also when a check fails part-way and the export is judged
again resource by resource."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from auditor import state
from auditor.cli import main
from auditor.reports.spool import Spool
from drguard.findings import Finding

ROOT = Path(__file__).resolve().parent
EXPORTS = {"export": ROOT / "data" / "goldens" / "export.json",
           "drifting": ROOT / "data" / "nasty-state" / "drifting-show-secrets.json"}


def _report(path: Path, out: Path, formats: str) -> tuple[int, dict[str, Any], str]:
    code = main(["state", "--file", str(path), "--output-dir", str(out), "--format", formats])
    doc = json.loads((out / "report.json").read_text(encoding="utf-8"))
    for key in ("started", "finished"):
        doc["run"].pop(key)
    return code, doc, (out / "report.json").read_text(encoding="utf-8")


@pytest.mark.parametrize("name", sorted(EXPORTS))
def test_spooled_report_equals_the_one_from_the_findings_list(
        name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, spooled, _ = _report(EXPORTS[name], tmp_path / "spool", "json")
    spooled_err = capsys.readouterr().err
    code2, whole, _ = _report(EXPORTS[name], tmp_path / "whole", "json,sarif")
    whole_err = capsys.readouterr().err
    assert code == code2
    assert spooled == whole
    assert len(spooled["findings"]) > 10
    # the closing summary printed from the spool's counts is the same
    assert [line for line in spooled_err.splitlines() if "report:" not in line] == \
        [line for line in whole_err.splitlines() if "report:" not in line]
    assert not list((tmp_path / "spool").glob(".report-findings-*"))  # the spool is gone


def test_a_check_failing_part_way_is_judged_again_without_doubles(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The first pass fails after some findings were spooled: they are dropped, the failing
    resource is named and left out, the rest judged once."""
    doc = json.loads(EXPORTS["export"].read_text())
    resources = doc["deployment"]["resources"]
    victim = next(r for r in reversed(resources) if r["type"] == "aws:rds/instance:Instance")
    real = state.finding

    def failing(control: str, fact: Any, *a: Any, **k: Any) -> Finding:
        if fact.ref == victim["urn"]:
            raise ValueError("a value of a shape no check expects")
        return real(control, fact, *a, **k)

    monkeypatch.setattr(state, "finding", failing)
    dropped: list[int] = []
    real_reset = Spool.reset

    def reset(self: Spool) -> None:
        dropped.append(len(self))
        real_reset(self)

    monkeypatch.setattr(Spool, "reset", reset)
    code, spooled, _ = _report(EXPORTS["export"], tmp_path / "spool", "json")
    assert dropped[0] == 0 and max(dropped) > 0  # the first pass's findings were dropped
    code2, whole, _ = _report(EXPORTS["export"], tmp_path / "whole", "json,sarif")
    assert code == code2
    assert spooled == whole
    assert [d["path"] for d in spooled["run"]["skipped_detail"]] == [victim["urn"]]
    assert spooled["run"]["skipped"]["unjudgedResources"] == 1
    ids = [f["id"] for f in spooled["findings"]]
    assert len(ids) == len(set(ids)) > 10
    assert not any(f["resource"] == victim["urn"] for f in spooled["findings"])


@pytest.mark.parametrize("formats", ["json", "json,sarif"])
def test_a_secret_that_spells_part_of_fail_on_does_not_turn_gaps_into_a_pass(
        formats: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Secrets are redacted from the run metadata too; a (hostile) export whose secret is
    "igh" must not rewrite `fail_on: high` into text no severity matches: the summary would
    then carry no exit code, the run would exit 0 and (streamed) print a summary of nothing."""
    doc = json.loads(EXPORTS["export"].read_text())
    victim = next(r for r in doc["deployment"]["resources"]
                  if r.get("custom") and isinstance(r.get("outputs"), dict))
    victim["outputs"]["note"] = {state.SIG_KEY: state.SECRET_SIG, "plaintext": '"igh"'}
    path = tmp_path / "export.json"
    path.write_text(json.dumps(doc))
    code, report, _ = _report(path, tmp_path / "out", formats)
    err = capsys.readouterr().err
    assert report["summary"]["gaps"] > 10
    assert report["run"]["fail_on"] == "high"
    assert report["summary"]["exit_code"] == 1 == code
    assert "No gaps" not in err and "exit code 1 (fail on high)" in err


@pytest.mark.parametrize("formats", ["json", "json,sarif"])
def test_a_secret_equal_to_a_count_does_not_make_an_incomplete_run_complete(
        formats: str, tmp_path: Path) -> None:
    """A value that could not be read (NaN) makes the run incomplete (exit 3). A secret
    whose plaintext is the number 1 is redacted from the run metadata where it stands as a
    whole value: `skipped.values: 1` too; the summary still counts what was not read."""
    outputs = {"size": math.nan, "replicas": {state.SIG_KEY: state.SECRET_SIG, "plaintext": "1"}}
    doc = {"version": 3, "deployment": {"manifest": {"version": "v3.100.0"}, "resources": [
        {"urn": "urn:pulumi:prod::app::pulumi:pulumi:Stack::app-prod",
         "type": "pulumi:pulumi:Stack", "custom": False, "outputs": outputs}]}}
    path = tmp_path / "export.json"
    path.write_text(json.dumps(doc))
    code, report, _ = _report(path, tmp_path / "out", formats)
    assert report["summary"]["not_read"] == {"values": 1}
    assert report["summary"]["incomplete"] is True
    assert report["summary"]["exit_code"] == 3 == code


@pytest.mark.parametrize("code", [None, "1", True])
def test_a_summary_without_its_exit_code_exits_as_incomplete(
        code: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from auditor import reports
    from auditor.commands import summary

    real = reports.outcome

    def lost(findings: Any, run: Any) -> dict[str, Any]:
        out = dict(real(findings, run))
        out.pop("exit_code")
        if code is not None:
            out["exit_code"] = code
        return out

    monkeypatch.setattr(reports, "outcome", lost)
    assert summary.finish([], {"command": "state", "fail_on": "high"}, {}) == 3
    assert "no exit code" in capsys.readouterr().err
