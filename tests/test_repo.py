"""`dr-audit repo`: the three repository controls both ways on real-shaped files (Pulumi
project and stack YAML as the CLI writes them, GitHub Actions workflows, `pulumi stack history
--json` output), the shipped CI examples, waivers, exit codes, and no secret value in any
report."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from auditor.cli import main
from auditor.repo import RepoOptions, audit, parse_history_arg, project_backend
from auditor.repo.config_secrets import credential_shape, secret_like_key
from auditor.repo.history import parse_since
from drguard.settings import Settings, from_mapping

DATA = Path(__file__).parent / "data" / "repo"
CLEAN, LEAKY = DATA / "clean", DATA / "leaky"
HISTORY = DATA / "history-prod.json"
CI_EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "ci"
ALL_FORMATS = "json,html,md,sarif,junit,ocsf,asff"
# Every planted secret in tests/data/repo contains one of these (case-insensitive).
PLANTED = ("pl4nted", "planted", "MIIBOgIBAAJBAKj34Gkx")


def by_resource(findings: list[Any]) -> dict[str, Any]:
    return {f.resource: f for f in findings}


def run_cli(tmp_path: Path, *argv: str) -> tuple[int, dict[str, Any]]:
    out = tmp_path / "report"
    code = main(["repo", *argv, "--output-dir", str(out), "--format", ALL_FORMATS])
    return code, json.loads((out / "report.json").read_text())


# ---- pulumi-config-secrets ------------------------------------------------------------------

def test_config_secrets_clean_stacks_pass() -> None:
    findings, run = audit(RepoOptions(CLEAN), Settings())
    cs = [f for f in findings if f.control == "pulumi-config-secrets"]
    assert {f.resource: f.status for f in cs} == {
        "infra/Pulumi.prod.yaml": "pass", "infra/Pulumi.dev.yaml": "pass",
        "infra/Pulumi.yaml": "pass"}
    prod = by_resource(cs)["infra/Pulumi.prod.yaml"]
    assert prod.evidence["secureValues"] == 3 and prod.source == "repo"
    assert run["stackFiles"] == 2 and run["projectFiles"] == 1
    assert run["stateBackends"] == [{"file": "infra/Pulumi.yaml",
                                     "url": "s3://acme-pulumi-state/payments"}]


def test_config_secrets_leaky_stack_fails_per_key_with_file_and_line() -> None:
    findings, _ = audit(RepoOptions(LEAKY), Settings())
    fails = {f.resource: f for f in findings
             if f.control == "pulumi-config-secrets" and f.status == "fail"}
    assert set(fails) == {
        "infra/Pulumi.prod.yaml#aws:accessKey", "infra/Pulumi.prod.yaml#aws:secretKey",
        "infra/Pulumi.prod.yaml#payments:dbPassword",
        "infra/Pulumi.prod.yaml#payments:webhookSigningSecret",
        "infra/Pulumi.prod.yaml#payments:databaseUrl",
        "infra/Pulumi.prod.yaml#payments:featureFlagsBlob",
        "infra/Pulumi.prod.yaml#payments:services[0].apiToken",
        "infra/Pulumi.prod.yaml#payments:tlsKey",
        "infra/Pulumi.yaml#payments:adminPassword",
        # secure values on an s3:// backend with neither secretsprovider nor encryptionsalt
        "infra/Pulumi.prod.yaml",
    }
    db = fails["infra/Pulumi.prod.yaml#payments:dbPassword"]
    assert db.evidence["file"] == "infra/Pulumi.prod.yaml" and db.evidence["line"] == 6
    assert "infra/Pulumi.prod.yaml:6" in db.message and "'payments:dbPassword'" in db.message
    assert "pulumi config set --secret --stack prod 'payments:dbPassword'" in \
        db.remediation["summary"]
    assert fails["infra/Pulumi.prod.yaml#aws:accessKey"].evidence["reason"].endswith(
        "an AWS access key id")
    assert fails["infra/Pulumi.prod.yaml#payments:tlsKey"].evidence["line"] == 15
    salt = fails["infra/Pulumi.prod.yaml"]
    assert "neither secretsprovider nor encryptionsalt" in salt.message
    # references to secrets and settings about them are not secrets
    assert not any(k.endswith(("dbSecretName", "passwordLength", "stripeKey")) for k in fails)


def test_secure_values_without_provider_pass_on_pulumi_cloud(tmp_path: Path) -> None:
    """Pulumi Cloud (no backend.url) encrypts with its service: no salt is written."""
    (tmp_path / "Pulumi.yaml").write_text("name: web\nruntime: python\n")
    (tmp_path / "Pulumi.prod.yaml").write_text(
        "config:\n  web:dbPassword:\n"
        "    secure: AAABAGz3cFxqTz0wKx9yZ1sP2uR4vW6y8aB0cD2eF4gH6iJ8\n")
    findings, _ = audit(RepoOptions(tmp_path), Settings())
    assert [(f.resource, f.status) for f in findings] == [("Pulumi.prod.yaml", "pass")]
    (tmp_path / "Pulumi.yaml").write_text(
        "name: web\nruntime: python\nbackend:\n  url: file://~/.pulumi-state\n")
    findings, _ = audit(RepoOptions(tmp_path), Settings())
    assert [(f.resource, f.status) for f in findings] == [("Pulumi.prod.yaml", "fail")]
    (tmp_path / "Pulumi.prod.yaml").write_text(
        "secretsprovider: awskms://alias/pulumi\nconfig:\n  web:dbPassword:\n"
        "    secure: v1:abc:def\n")
    findings, _ = audit(RepoOptions(tmp_path), Settings())
    assert "has no encryptedkey" in findings[0].message and findings[0].status == "fail"


@pytest.mark.parametrize("key,secret", [
    ("app:dbPassword", True), ("aws:secretKey", True), ("aws:accessKey", True),
    ("app:GITHUB_TOKEN", True), ("app:sshPrivateKey", True), ("app:client-secret", True),
    ("app:secretName", False), ("app:passwordLength", False), ("app:tokenTtl", False),
    ("app:accessKeyId", False), ("app:kmsKeyId", False), ("aws:region", False),
    ("app:privateKeyPath", False), ("app:secretsProvider", False),
])
def test_secret_like_keys(key: str, secret: bool) -> None:
    assert secret_like_key(key) is secret


@pytest.mark.parametrize("value,shape", [
    ("AKIAIOSFODNN7EXAMPLE", "an AWS access key id"),
    ("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "a high-entropy token"),
    ("-----BEGIN OPENSSH PRIVATE KEY-----\nb3Bl\n-----END OPENSSH PRIVATE KEY-----",
     "a private key block"),
    ("mysql://root:hunter2@db:3306/app", "a URL with a password in it"),
    ("ghp_16C7e42F292c6912E7710c838347Ae178B4a", "a GitHub token"),
    # known shapes that are not credentials
    ("arn:aws:secretsmanager:us-east-1:123456789012:secret:db-AbC123", None),
    ("https://api.example.com/v1/Tokens?region=us-east-1", None),
    ("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", None),
    ("3f2504e0-4f89-11d3-9a0c-0305e82c3301", None),
    ("ProdDatabaseCluster2024v2", None), ("MyApplicationName2024Production", None),
    ("ami-0abcdef1234567890", None), ("/var/lib/app/Config2024File.yaml", None),
])
def test_credential_shapes(value: str, shape: str | None) -> None:
    assert credential_shape(value) == shape


def test_entropy_threshold_is_a_parameter(tmp_path: Path) -> None:
    (tmp_path / "Pulumi.dev.yaml").write_text(
        "config:\n  app:blob: Q9xV2mK7rT0bW5yL8cN3fJ6hD1sA4gE\n")
    findings, _ = audit(RepoOptions(tmp_path), Settings())
    assert findings[0].status == "fail"
    settings = from_mapping({"controls": {"pulumi-config-secrets": {"minTokenLength": 40}}})
    findings, _ = audit(RepoOptions(tmp_path), settings)
    assert [f.status for f in findings] == ["pass"]


# ---- ci-cloud-credentials --------------------------------------------------------------------

def test_ci_credentials_oidc_passes_and_jobs_without_aws_are_not_judged() -> None:
    findings, run = audit(RepoOptions(CLEAN), Settings())
    ci = {f.resource: f for f in findings if f.control == "ci-cloud-credentials"}
    assert {r: f.status for r, f in ci.items()} == {".github/workflows/deploy.yml#jobs.deploy":
                                                    "pass"}
    ev = ci[".github/workflows/deploy.yml#jobs.deploy"].evidence
    assert ev["idTokenWrite"] is True and ev["oidcSteps"] == ["Configure AWS credentials (OIDC)"]
    assert run["workflows"] == 2 and run["workflowJobsReachingAws"] == 1


def test_ci_credentials_long_lived_keys_fail_naming_workflow_job_step() -> None:
    findings, _ = audit(RepoOptions(LEAKY), Settings())
    ci = {f.resource: f for f in findings if f.control == "ci-cloud-credentials"}
    assert {r: f.status for r, f in ci.items()} == {
        ".github/workflows/deploy.yml#jobs.up": "fail",
        ".github/workflows/nightly.yml#jobs.keys-then-role": "fail",
        ".github/workflows/nightly.yml#jobs.role-without-oidc": "fail",
        ".github/workflows/nightly.yml#jobs.step-env-keys": "fail",
        ".github/workflows/nightly.yml#jobs.reusable": "fail",
    }
    up = ci[".github/workflows/deploy.yml#jobs.up"]
    assert "workflow-level env sets AWS_SECRET_ACCESS_KEY" in up.message
    assert "'Deploy (legacy keys)'" in up.message and up.evidence["line"] == 8
    role = ci[".github/workflows/nightly.yml#jobs.role-without-oidc"]
    assert "step 'Assume the audit role'" in role.message and "id-token: write" in role.message
    assert role.evidence["permissionsFrom"] == "workflow"
    assert "keys-then-role" in ci[".github/workflows/nightly.yml#jobs.keys-then-role"].message


def test_ci_credentials_job_permissions_override_workflow(tmp_path: Path) -> None:
    wf = tmp_path / ".github" / "workflows"
    wf.mkdir(parents=True)
    body = """name: x
on: push
permissions:
  id-token: write
jobs:
  a:
    runs-on: ubuntu-latest
{perms}    steps:
      - uses: aws-actions/configure-aws-credentials@v4
        with: {{role-to-assume: "arn:aws:iam::1:role/r", aws-region: us-east-1}}
"""
    (wf / "x.yml").write_text(body.format(perms=""))
    findings, _ = audit(RepoOptions(tmp_path), Settings())
    assert [f.status for f in findings] == ["pass"]
    (wf / "x.yml").write_text(body.format(perms="    permissions:\n      contents: read\n"))
    findings, _ = audit(RepoOptions(tmp_path), Settings())
    assert [f.status for f in findings] == ["fail"]
    assert findings[0].evidence["permissionsFrom"] == "job"
    (wf / "x.yml").write_text(body.format(perms="    permissions: write-all\n"))
    findings, _ = audit(RepoOptions(tmp_path), Settings())
    assert [f.status for f in findings] == ["pass"]


def test_ci_examples_pass_dr_audit_repo(tmp_path: Path) -> None:
    """examples/ci, installed where GitHub reads workflows, passes `dr-audit repo`."""
    wf = tmp_path / "repo" / ".github" / "workflows"
    wf.mkdir(parents=True)
    examples = sorted(CI_EXAMPLES.glob("*.yml"))
    assert len(examples) >= 2
    for p in examples:
        shutil.copy(p, wf / p.name)
    code, doc = run_cli(tmp_path, str(tmp_path / "repo"))
    ci = [f for f in doc["findings"] if f["control"] == "ci-cloud-credentials"]
    assert ci and all(f["status"] == "pass" for f in ci), [f["message"] for f in ci]
    assert {f["evidence"]["job"] for f in ci} >= {"policy-preview", "report"}
    assert code == 0 and doc["summary"]["incomplete"] is False


def test_ci_examples_run_dr_audit_repo() -> None:
    """pre-merge runs `dr-audit repo .` (through the action); nightly adds the stack's
    `--history`."""
    from auditor.cli import build_parser
    from tests.test_ci_examples import (
        _load,
        _run_steps,
        action_argv,
        action_steps,
        argv,
        dr_audit_commands,
    )

    parser = build_parser()
    found = {}
    for name in ("pre-merge.yml", "nightly.yml"):
        doc = _load(CI_EXAMPLES / name)
        runs = [parser.parse_args(argv(c, env)) for s, env in
                _run_steps(doc) for c in dr_audit_commands(s)]
        runs += [parser.parse_args(action_argv(w)) for w in action_steps(doc)]
        (found[name],) = [ns for ns in runs if ns.command == "repo"]
        assert found[name].path == Path(".")
    assert found["pre-merge.yml"].stack_history == []
    assert found["nightly.yml"].stack_history == ["acme/payments/prod=history.json"]
    assert "pulumi stack history --stack" in (CI_EXAMPLES / "nightly.yml").read_text()


# ---- change-reviewed-deploys -----------------------------------------------------------------

def test_history_each_update_judged_with_version_time_who_and_why() -> None:
    o = RepoOptions(CLEAN, histories=[parse_history_arg(f"acme/payments/prod={HISTORY}")],
                    since=parse_since("2026-11-01"))
    findings, run = audit(o, Settings())
    h = {f.resource: f for f in findings if f.control == "change-reviewed-deploys"}
    assert {r: f.status for r, f in h.items()} == {
        "acme/payments/prod#update-48": "pass",
        "acme/payments/prod#update-47": "fail",
        "acme/payments/prod#update-46": "fail",
        "acme/payments/prod#update-45": "fail",
    }  # 44 is before --since
    laptop = h["acme/payments/prod#update-47"]
    assert "version 47" in laptop.message and "2026-11-28T22:41:17Z" in laptop.message
    assert "Bo Chen <bo@acme.example>" in laptop.message
    assert "not in CI" in laptop.message and "uncommitted changes" in laptop.message
    assert "'refs/heads/hotfix/rds', not the default branch 'main'" in laptop.message
    pr = h["acme/payments/prod#update-46"]
    assert pr.evidence["kind"] == "refresh" and "not in CI" not in pr.message
    assert "'feature/retention'" in pr.message
    destroy = h["acme/payments/prod#update-45"]
    assert destroy.message.startswith("Unreviewed change: destroy version 45")
    assert "did not run from a git checkout" in destroy.message
    assert h["acme/payments/prod#update-48"].evidence["ciSystem"] == "GitHub Actions"
    assert run["history"] == [{"stack": "acme/payments/prod", "file": str(HISTORY),
                               "updates": 5, "judged": 4}]
    assert h["acme/payments/prod#update-48"].severity == "medium"


def test_history_default_branch_and_api_shape(tmp_path: Path) -> None:
    """The service shape (Unix-seconds startTime, {"updates": [...]}) and --default-branch."""
    doc = {"updates": [{"version": 3, "kind": "update", "startTime": 1764500000,
                        "environment": {"ci.system": "GitLab CI/CD", "git.dirty": "false",
                                        "git.headName": "refs/heads/trunk"},
                        "result": "succeeded", "endTime": 1764500100},
                       {"version": 2, "kind": "preview", "startTime": 1764400000,
                        "environment": {}}]}
    path = tmp_path / "prod.json"
    path.write_text(json.dumps(doc))
    o = RepoOptions(tmp_path, histories=[parse_history_arg(str(path))])
    findings, _ = audit(o, Settings())
    assert [(f.resource, f.status) for f in findings] == [("prod#update-3", "fail")]
    o.default_branch = "trunk"
    findings, _ = audit(o, Settings())
    assert [(f.resource, f.status) for f in findings] == [("prod#update-3", "pass")]


# ---- CLI, reports, waivers, exit codes -------------------------------------------------------

def test_cli_clean_repo_exits_0_and_reports_are_schema_valid(tmp_path: Path) -> None:
    import jsonschema

    from auditor.reports import report_schema

    code, doc = run_cli(tmp_path, str(CLEAN))
    assert code == 0 and doc["summary"]["gaps"] == 0
    assert doc["run"]["command"] == "repo"
    assert {f["source"] for f in doc["findings"]} == {"repo"}
    jsonschema.validate(doc, report_schema())
    _, leaky = run_cli(tmp_path, str(LEAKY), "--history", str(HISTORY))
    jsonschema.validate(leaky, report_schema())


def test_cli_leaky_repo_exits_1_and_no_secret_value_reaches_any_output(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, doc = run_cli(tmp_path, str(LEAKY), "--history", f"prod={HISTORY}",
                        "--since", "2026-11-01")
    assert code == 1
    assert doc["summary"]["by_control"]["pulumi-config-secrets"]["fail"] == 10
    captured = capsys.readouterr()
    outputs = {p.name: p.read_text(encoding="utf-8") for p in (tmp_path / "report").iterdir()}
    assert set(outputs) >= {"report.json", "report.html", "report.md", "report.sarif",
                            "report.junit.xml", "report.ocsf.json", "report.asff.json"}
    outputs["stdout+stderr"] = captured.out + captured.err
    for name, text in outputs.items():
        for needle in PLANTED:
            assert needle.lower() not in text.lower(), f"{needle} leaked into {name}"
    sarif = json.loads(outputs["report.sarif"])
    locs = [r["locations"][0]["physicalLocation"] for r in sarif["runs"][0]["results"]
            if r["ruleId"] == "pulumi-config-secrets"]
    assert {"artifactLocation": {"uri": "infra/Pulumi.prod.yaml"},
            "region": {"startLine": 6}} in locs


def test_waiver_silences_a_repo_finding(tmp_path: Path) -> None:
    cfg = tmp_path / "dr.yaml"
    cfg.write_text("waivers:\n  - control: ci-cloud-credentials\n"
                   "    resource: '.github/workflows/nightly.yml#*'\n"
                   "    reason: migrating to OIDC in Q1\n    owner: platform\n"
                   "    expires: 2099-01-01\n"
                   "controls:\n  pulumi-config-secrets: {enabled: false}\n")
    code, doc = run_cli(tmp_path, str(LEAKY), "--config", str(cfg), "--fail-on", "high")
    statuses = {(f["control"], f["resource"]): f["status"] for f in doc["findings"]}
    assert statuses[("ci-cloud-credentials", ".github/workflows/nightly.yml#jobs.reusable")] \
        == "waived"
    assert statuses[("ci-cloud-credentials", ".github/workflows/deploy.yml#jobs.up")] == "fail"
    assert not any(c == "pulumi-config-secrets" for c, _ in statuses)
    assert code == 1


@pytest.mark.parametrize("argv,needle", [
    (["/nonexistent/repo"], "not a directory"),
    ([str(CLEAN), "--since", "2026-11-01"], "--since applies to --history"),
    ([str(CLEAN), "--history", "/nonexistent.json"], "history file not found"),
    ([str(CLEAN), "--history", str(HISTORY), "--since", "yesterday"], "--since 'yesterday'"),
])
def test_usage_errors_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                             argv: list[str], needle: str) -> None:
    assert main(["repo", *argv, "--output-dir", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert needle in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_project_backend_for_the_live_scan(tmp_path: Path) -> None:
    assert project_backend(CLEAN / "infra") == "s3://acme-pulumi-state/payments"
    assert project_backend(CLEAN / "infra" / "Pulumi.yaml") == "s3://acme-pulumi-state/payments"
    (tmp_path / "Pulumi.yaml").write_text("name: x\nruntime: python\n")
    assert project_backend(tmp_path) is None
