"""examples/ci: the workflows are valid YAML, every `dr-audit` command in them parses with our
CLI, the pack config they share is valid for the pack and for dr-audit, and the publishing
steps are documented."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml

from auditor.cli import build_parser
from drguard.settings import from_mapping
from policypack.config import check_pack_config

CI = Path(__file__).resolve().parents[1] / "examples" / "ci"
WORKFLOWS = sorted(CI.glob("*.yml"))
SHELL_OPERATORS = {"||", "&&", ";", "|", ">", ">>", "<", "&"}
ACTION_USES = re.compile(r"[\w-]+/dr-guard@")


def _load(path: Path) -> dict[str, Any]:
    doc = yaml.safe_load(path.read_text())
    assert isinstance(doc, dict) and doc.get("jobs"), path
    return doc


def _run_steps(doc: dict[str, Any]) -> list[tuple[str, dict[str, str]]]:
    """(run script, environment) of every step, environment merged workflow > job > step."""
    out = []
    for job in doc["jobs"].values():
        for step in job.get("steps", []):
            if "run" in step:
                env = {**doc.get("env", {}), **job.get("env", {}), **step.get("env", {})}
                out.append((step["run"], {k: str(v) for k, v in env.items()}))
    return out


def action_steps(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """The `with:` of every step that uses DR Guard's own action (action.yml)."""
    return [step.get("with", {}) for job in doc["jobs"].values()
            for step in job.get("steps", []) if ACTION_USES.match(step.get("uses", ""))]


def action_argv(inputs: dict[str, Any]) -> list[str]:
    """The dr-audit arguments the action builds from its inputs (split as action.yml does)."""
    return [str(inputs["command"]), *shlex.split(str(inputs.get("args", ""))),
            "--fail-on", str(inputs.get("fail-on", "high"))]


def dr_audit_commands(script: str) -> list[str]:
    """Every `dr-audit ...` command line of a shell script, continuations joined."""
    joined = re.sub(r"\\\n\s*", " ", script)
    return [line.strip() for line in joined.splitlines()
            if re.match(r"\s*dr-audit(\s|$)", line)]


def argv(command: str, env: dict[str, str]) -> list[str]:
    """The arguments the shell would pass: variables from the workflow's env, GitHub
    expressions as placeholders, and the command cut at the first shell operator."""
    command = re.sub(r"\$\{\{[^}]*\}\}", "ci-placeholder", command)

    def var(m: re.Match[str]) -> str:
        name = m.group(1) or m.group(2)
        return env.get(name, "/github/workspace" if name == "GITHUB_WORKSPACE" else "x")

    command = re.sub(r"\$\{(\w+)\}|\$(\w+)", var, command)
    lex = shlex.shlex(command, posix=True, punctuation_chars=True)
    lex.whitespace_split = True
    tokens = []
    for tok in lex:
        if tok in SHELL_OPERATORS:
            break
        tokens.append(tok)
    assert tokens[0] == "dr-audit"
    return tokens[1:]


def test_workflows_are_there_and_valid() -> None:
    assert {p.name for p in WORKFLOWS} == {"pre-merge.yml", "nightly.yml",
                                           "nightly-sharded.yml"}
    for path in WORKFLOWS:
        doc = _load(path)
        on = doc.get("on", doc.get(True))  # YAML 1.1 reads a bare `on` key as True
        assert on, path
        for job in doc["jobs"].values():
            assert job.get("runs-on") and job.get("steps")
            for step in job["steps"]:
                assert ("uses" in step) != ("run" in step), step


def test_extraction_handles_continuations_and_operators() -> None:
    script = "set +e\ndr-audit state --file s.json \\\n  --fail-on high || code=$?\necho done\n"
    (cmd,) = dr_audit_commands(script)
    assert argv(cmd, {}) == ["state", "--file", "s.json", "--fail-on", "high"]


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_every_dr_audit_invocation_parses(path: Path) -> None:
    parser = build_parser()
    doc = _load(path)
    commands = [argv(c, env) for script, env in _run_steps(doc)
                for c in dr_audit_commands(script)]
    commands += [action_argv(w) for w in action_steps(doc)]
    assert commands, f"{path.name} runs no dr-audit command"
    for args in commands:
        try:
            ns = parser.parse_args(args)
        except SystemExit as e:  # argparse exits on a bad command line
            pytest.fail(f"{path.name}: `dr-audit {' '.join(args)}` does not parse (exit {e})")
        assert ns.command in ("state", "scan", "plan", "repo", "merge", "drill")


def test_pre_merge_and_nightly_do_what_they_say() -> None:
    pre, nightly = _load(CI / "pre-merge.yml"), _load(CI / "nightly.yml")
    pre_text = (CI / "pre-merge.yml").read_text()
    assert "pulumi preview" in pre_text and "--policy-pack-config" in pre_text
    action = (CI.parents[1] / "action.yml").read_text()  # what the action does for them
    assert "GITHUB_STEP_SUMMARY" in action and "upload-sarif" in action
    # the state, plan and repo checks are DR Guard's action: `uses:` and its inputs
    (state,) = [w for w in action_steps(pre) if w["command"] == "state"]
    assert state.get("upload-sarif", "true") == "true" and "--file" in state["args"]
    assert {w["command"] for w in action_steps(pre)} == {"state", "plan", "repo"}
    scans = [a for a in (argv(c, env) for s, env in _run_steps(nightly)
                         for c in dr_audit_commands(s)) if a[0] not in ("repo", "drill")]
    assert scans and all(a[0] == "scan" and "--state" in a and "--logs" in a for a in scans)
    assert any("--baseline" in a for a in scans)
    assert all({"html", "json"} <= set(a[a.index("--format") + 1].split(",")) for a in scans)
    assert "new_by_severity.critical" in (CI / "nightly.yml").read_text()
    # scan, then `drill next`, both with the history in S3; both reports published
    order = [a[0] for a in (argv(c, env) for s, env in _run_steps(nightly)
                            for c in dr_audit_commands(s))]
    assert "drill" in order and order.index("drill") > order.index("scan")
    (drill,) = [a for a in (argv(c, env) for s, env in _run_steps(nightly)
                            for c in dr_audit_commands(s)) if a[0] == "drill"]
    assert drill[1] == "next" and drill[drill.index("--history") + 1].startswith("s3://")
    assert all(a[a.index("--history") + 1].startswith("s3://") for a in scans)
    text = (CI / "nightly.yml").read_text()
    assert "dr-audit-report/drill.html" in text and "dr-audit-report/report.html" in text


def test_policy_config_is_valid_for_the_pack_and_the_auditor(analyzer) -> None:  # noqa: ANN001
    config = json.loads((CI / "dr-policy.json").read_text())
    analyzer.configure(config)  # the CLI's schema check, then the pack's own Configure check
    check_pack_config({k: {p: v for p, v in (c if isinstance(c, dict) else {}).items()
                           if p != "enforcementLevel"} for k, c in config.items()})
    settings = from_mapping(config, where="dr-policy.json")
    assert settings.of("rds-backup-retention")["minRetentionDays"] == 14
    assert settings.waivers and settings.waivers[0].control == "rds-deletion-protection"


def test_publishing_is_documented() -> None:
    readme = (CI / "README.md").read_text()
    for step in ("pulumi policy publish", "pulumi policy enable", "--policy-group",
                 "--config examples/ci/dr-policy.json"):
        assert step in readme


def test_sharded_nightly_covers_every_shard_and_merges_once() -> None:
    doc = _load(CI / "nightly-sharded.yml")
    shards = doc["jobs"]["shard"]["strategy"]["matrix"]["shard"]
    assert shards == list(range(1, int(doc["env"]["SHARDS"]) + 1))
    (scan,) = [argv(c, env) for s, env in _run_steps({"env": doc["env"], "jobs": {
        "shard": doc["jobs"]["shard"]}}) for c in dr_audit_commands(s)]
    assert scan[0] == "scan" and "--org" in scan
    assert scan[scan.index("--shard") + 1] == f"ci-placeholder/{doc['env']['SHARDS']}"
    assert "json" in scan[scan.index("--format") + 1].split(",")
    (merge,) = [argv(c, env) for s, env in _run_steps({"env": doc["env"], "jobs": {
        "report": doc["jobs"]["report"]}}) for c in dr_audit_commands(s)]
    assert merge[0] == "merge" and "shards/*/report.json" in merge
    assert "--security-hub" in merge and "--notify" in merge  # delivered once, after merging
    assert doc["jobs"]["report"]["needs"] == "shard"
    assert doc["jobs"]["shard"]["strategy"]["fail-fast"] is False
