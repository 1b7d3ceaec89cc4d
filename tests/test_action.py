"""action.yml, the composite GitHub Action: each of its steps run as the runner runs them.

The runner substitutes every `${{ ... }}` in a step's `run`, `env` and `with` before the step
starts, skips a step whose `if:` is false (a step without `if:` runs only while no step has
failed), runs `run:` with `bash --noprofile --norc -eo pipefail {file}`, and reads the step's
outputs from the file $GITHUB_OUTPUT names. `Runner` does that for the expressions the action
uses, and fails on any other (so the action cannot grow an expression this test does not
understand); `uses:` steps are recorded with their inputs, not run.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
ACTION = yaml.safe_load((ROOT / "action.yml").read_text(encoding="utf-8"))
EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")
STACK = "urn:pulumi:prod::payments::pulumi:pulumi:Stack::payments-prod"
DB = "urn:pulumi:prod::payments::aws:rds/instance:Instance::orders"


class Runner:
    def __init__(self, inputs: dict[str, str], workdir: Path, tmp: Path) -> None:
        declared = ACTION["inputs"]
        assert set(inputs) <= set(declared), set(inputs) - set(declared)
        for name, spec in declared.items():
            if spec.get("required"):
                assert name in inputs, f"input {name} is required"
        self.inputs = {k: str(v.get("default", "")) for k, v in declared.items()} | inputs
        self.workdir, self.tmp = workdir, tmp
        self.steps: dict[str, dict[str, str]] = {}
        self.used: list[tuple[str, dict[str, str]]] = []
        self.failed: int | None = None  # exit code of the first failed step
        self.summary = tmp / "summary.md"
        self.summary.write_text("")
        self.bin = tmp / "bin"  # dr-audit and python3 as this checkout runs them
        self.bin.mkdir(exist_ok=True)
        shim = self.bin / "dr-audit"
        shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m auditor "$@"\n')
        shim.chmod(0o755)
        py = self.bin / "python3"
        if not py.exists():
            py.symlink_to(sys.executable)

    def value(self, ref: str) -> str:
        parts = ref.split(".")
        if parts[0] == "inputs" and len(parts) == 2:
            return self.inputs[parts[1]]  # KeyError: an input the action does not declare
        if parts == ["github", "action_path"]:
            return str(ROOT)
        if parts[0] == "steps" and len(parts) == 4 and parts[2] == "outputs":
            return self.steps.get(parts[1], {}).get(parts[3], "")
        raise AssertionError(f"expression the test runner does not know: {ref}")

    def substitute(self, text: str) -> str:
        return EXPRESSION.sub(lambda m: self.value(m.group(1)), text)

    def condition(self, cond: str) -> bool:
        cond = cond.strip()
        m = EXPRESSION.fullmatch(cond)
        if m:
            cond = m.group(1)
        status, result = False, True
        for term in (t.strip() for t in cond.split("&&")):
            if term == "always()":
                status = True
            elif term == "success()":
                status, result = True, result and self.failed is None
            elif m := re.fullmatch(r"([\w.-]+)\s*(==|!=)\s*'([^']*)'", term):
                equal = self.value(m.group(1)) == m.group(3)
                result = result and (equal if m.group(2) == "==" else not equal)
            else:
                raise AssertionError(f"condition the test runner does not know: {term}")
        return result and (status or self.failed is None)

    def run(self) -> Runner:
        return self.run_steps(ACTION["runs"]["steps"])

    def run_steps(self, steps: list[dict[str, Any]]) -> Runner:
        for i, step in enumerate(steps):
            if not (self.condition(step["if"]) if "if" in step else self.failed is None):
                continue
            if "uses" in step:
                self.used.append((step["uses"], {k: self.substitute(str(v))
                                                 for k, v in step.get("with", {}).items()}))
                continue
            assert step["shell"] == "bash", step
            script, out = self.tmp / f"step{i}.sh", self.tmp / f"step{i}.out"
            script.write_text(self.substitute(step["run"]))
            out.write_text("")
            env = {**os.environ, **{k: self.substitute(str(v))
                                    for k, v in step.get("env", {}).items()},
                   "PATH": f"{self.bin}{os.pathsep}{os.environ['PATH']}",
                   "PYTHONPATH": str(ROOT), "GITHUB_OUTPUT": str(out),
                   "GITHUB_STEP_SUMMARY": str(self.summary)}
            done = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail",
                                   str(script)], cwd=self.workdir, env=env,
                                  capture_output=True, text=True, timeout=300)
            self.log = getattr(self, "log", "") + done.stdout + done.stderr
            outputs = dict(line.split("=", 1) for line in out.read_text().splitlines() if line)
            if "id" in step:
                self.steps[step["id"]] = outputs
            if done.returncode != 0 and self.failed is None:
                self.failed = done.returncode
        return self

    @property
    def outputs(self) -> dict[str, str]:
        return {k: self.substitute(str(v["value"])) for k, v in ACTION["outputs"].items()}

    def sarif_uploads(self) -> list[dict[str, str]]:
        return [w for u, w in self.used if u.startswith("github/codeql-action/upload-sarif@")]


def _export(retention: int | None) -> dict[str, Any]:
    resources: list[dict[str, Any]] = [{"urn": STACK, "custom": False,
                                        "type": "pulumi:pulumi:Stack"}]
    if retention is not None:
        props = {"identifier": "orders-db", "engine": "postgres", "instanceClass": "db.t3.micro",
                 "backupRetentionPeriod": retention, "deletionProtection": True}
        resources.append({"urn": DB, "custom": True, "id": "orders-db",
                          "type": "aws:rds/instance:Instance", "inputs": props,
                          "outputs": {**props, "arn": "arn:aws:rds:us-east-1:123456789012:db:"
                                                      "orders-db"}, "parent": STACK})
    return {"version": 3, "deployment": {"manifest": {"time": "2026-12-01T00:00:00Z",
                                                      "magic": "", "version": "v3.272.0"},
                                         "resources": resources}}


@pytest.fixture
def work(tmp_path: Path) -> Path:
    """A checkout: state exports with and without a gap, a preview that deletes a database,
    a repository folder whose name holds a space."""
    w = tmp_path / "checkout"
    w.mkdir()
    (w / "gap.json").write_text(json.dumps(_export(1)))
    (w / "clean.json").write_text(json.dumps(_export(None)))
    db = _export(14)["deployment"]["resources"][1]
    stack = {"urn": STACK, "type": "pulumi:pulumi:Stack", "custom": False}
    (w / "preview.json").write_text(json.dumps({
        "config": {"aws:region": "us-east-1"},
        "steps": [{"op": "same", "urn": STACK, "oldState": stack, "newState": stack},
                  {"op": "delete", "urn": DB, "oldState": db}],
        "changeSummary": {"delete": 1, "same": 1}}))
    (w / "infra repo").mkdir()
    return w


def run(work: Path, tmp_path: Path, **inputs: str) -> Runner:
    inputs = {"install": "false", **inputs}
    return Runner({k.replace("_", "-"): v for k, v in inputs.items()}, work,
                  tmp_path / "runner").run()


@pytest.fixture(autouse=True)
def _runner_dir(tmp_path: Path) -> None:
    (tmp_path / "runner").mkdir()


def test_state_with_a_gap_fails_the_job_and_uploads_sarif(work: Path, tmp_path: Path) -> None:
    r = run(work, tmp_path, command="state", args="--file gap.json")
    assert r.outputs["exit-code"] == "1" and r.failed == 1, r.log
    assert r.outputs["report-dir"] == "dr-audit-report"
    (upload,) = r.sarif_uploads()
    assert upload == {"sarif_file": "dr-audit-report/report.sarif", "category": "dr-guard-state"}
    sarif = json.loads((work / upload["sarif_file"]).read_text())
    assert any(res["ruleId"] == "rds-backup-retention" for res in sarif["runs"][0]["results"])
    assert "rds-backup-retention" in r.summary.read_text()  # the Markdown report, in the summary
    assert "found DR gaps at or above high" in r.log


def test_state_clean_passes(work: Path, tmp_path: Path) -> None:
    r = run(work, tmp_path, command="state", args="--file clean.json")
    assert r.outputs["exit-code"] == "0" and r.failed is None, r.log
    assert len(r.sarif_uploads()) == 1


def test_fail_on_is_the_commands(work: Path, tmp_path: Path) -> None:
    # the retention gap is high: with fail-on critical it does not fail the job
    r = run(work, tmp_path, command="state", args="--file gap.json", fail_on="critical")
    assert r.outputs["exit-code"] == "0" and r.failed is None, r.log


def test_plan_that_deletes_a_database_fails(work: Path, tmp_path: Path) -> None:
    r = run(work, tmp_path, command="plan", args="--file preview.json", upload_sarif="false",
            output_dir="plan report")
    assert r.outputs["exit-code"] == "1" and r.failed == 1, r.log
    assert r.sarif_uploads() == []
    doc = json.loads((work / "plan report" / "report.json").read_text())
    assert [f["control"] for f in doc["findings"] if f["status"] == "fail"] == \
        ["plan-destroys-data"]


def test_repo_args_are_split_like_a_shell_and_never_evaluated(work: Path,
                                                              tmp_path: Path) -> None:
    r = run(work, tmp_path, command="repo", args="'infra repo'")
    assert r.outputs["exit-code"] == "0" and r.failed is None, r.log
    (upload,) = r.sarif_uploads()
    assert upload["category"] == "dr-guard-repo"
    hostile = "--file gap.json; touch pwned $(touch pwned2) `touch pwned3`"
    r = run(work, tmp_path, command="state", args=hostile, output_dir="hostile")
    assert r.outputs["exit-code"] == "2" and r.failed == 2, r.log  # extra words: usage error
    assert not list(work.glob("pwned*"))


def test_a_command_the_action_does_not_run_is_a_usage_error(work: Path,
                                                           tmp_path: Path) -> None:
    for command, args in (("drill", "next"), ("state", "--file 'gap.json")):
        r = run(work, tmp_path, command=command, args=args)
        assert r.outputs["exit-code"] == "2" and r.failed == 2, r.log
        assert r.sarif_uploads() == [] and not (work / "dr-audit-report").exists()


def test_scan_against_the_emulator(aws: Any, work: Path, tmp_path: Path) -> None:  # noqa: ANN401
    from tests.live_support import bucket

    bucket(aws, "ledger-backups", tags={"dr:backup": "true"})
    r = run(work, tmp_path, command="scan", output_dir="scan",
            args=f"--endpoint-url {aws.url} --regions us-east-1")
    assert r.outputs["exit-code"] == "1" and r.failed == 1, r.log
    assert "ledger-backups" in (work / "scan" / "report.sarif").read_text()
    assert r.sarif_uploads()[0]["category"] == "dr-guard-scan"


@pytest.mark.parametrize(("code", "incomplete_fails", "job"), [
    ("3", "true", 3), ("3", "false", None), ("0", "true", None), ("2", "true", 2),
    ("", "true", 2)])
def test_the_last_step_exits_as_dr_audit_did(work: Path, tmp_path: Path, code: str,
                                             incomplete_fails: str, job: int | None) -> None:
    """The exit step alone, given each exit code dr-audit can have left."""
    r = Runner({"command": "scan", "fail-on-incomplete": incomplete_fails}, work,
               tmp_path / "runner")
    r.steps["audit"] = {"exit-code": code} if code else {}
    (last,) = [s for s in ACTION["runs"]["steps"] if s.get("name") == "Exit as dr-audit did"]
    r.run_steps([last])
    assert r.failed == job, r.log


def test_inputs_and_outputs_are_documented() -> None:
    assert ACTION["runs"]["using"] == "composite"
    assert set(ACTION["inputs"]) >= {"command", "args", "fail-on", "upload-sarif"}
    for spec in (*ACTION["inputs"].values(), *ACTION["outputs"].values()):
        assert spec["description"]
    uses = [s["uses"] for s in ACTION["runs"]["steps"] if "uses" in s]
    assert any(u.startswith("github/codeql-action/upload-sarif@v") for u in uses)
    # inputs reach scripts through env only (a `${{ }}` inside `run:` is script injection)
    for step in ACTION["runs"]["steps"]:
        assert "${{" not in step.get("run", ""), step.get("name")
