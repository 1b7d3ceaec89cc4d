"""A command imports only what it uses: `dr-audit state`, `plan` and `repo` start without boto3,
botocore, jsonschema, the Pulumi SDK or gRPC, and jinja2 only when HTML or Markdown is written.

Each case runs the real CLI in a fresh interpreter and lists the top-level packages in
sys.modules when it exits.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("boto3", "botocore", "jinja2", "jsonschema", "pulumi", "pulumi_policy", "grpc")
# Runs the CLI, then prints the top-level packages imported (also after SystemExit from --help).
WRAPPER = """
import atexit, json, sys
atexit.register(lambda: print("MODULES " + json.dumps(sorted(sys.modules)), file=sys.stderr))
from auditor.cli import main
sys.exit(main(sys.argv[1:]))
"""
STACK = "urn:pulumi:prod::app"


def _export(path: Path) -> Path:
    def res(type_: str, name: str, outputs: dict) -> dict:
        return {"urn": f"{STACK}::{type_}::{name}", "custom": True, "id": name, "type": type_,
                "outputs": outputs, "inputs": outputs}

    doc = {"version": 3, "deployment": {"manifest": {"version": "v3.200.0"}, "resources": [
        {"urn": f"{STACK}::pulumi:pulumi:Stack::app-prod", "custom": False,
         "type": "pulumi:pulumi:Stack"},
        res("aws:s3/bucket:Bucket", "backups", {"bucket": "backups",
                                                 "arn": "arn:aws:s3:::backups",
                                                 "tags": {"dr:backup": "true"}}),
        res("aws:rds/instance:Instance", "db", {"identifier": "db", "engine": "postgres",
                                                "backupRetentionPeriod": 1,
                                                "arn": "arn:aws:rds:us-east-1:"
                                                       "123456789012:db:db"})]}}
    path.write_text(json.dumps(doc))
    return path


def _imported(args: list[str], cwd: Path) -> set[str]:
    """The top-level packages a CLI run imported."""
    return {m.split(".")[0] for m in _modules(args, cwd)}


def _modules(args: list[str], cwd: Path, codes: tuple[int, ...] = (0, 1)) -> set[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-c", WRAPPER, *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    line = next((x for x in proc.stderr.splitlines() if x.startswith("MODULES ")), None)
    assert line is not None, proc.stderr[-2000:]
    assert proc.returncode in codes, proc.stderr[-2000:]
    return set(json.loads(line.removeprefix("MODULES ")))


@pytest.mark.parametrize("args", [["state", "--help"], ["plan", "--help"], ["repo", "--help"],
                                  ["iam-policy", "--help"]])
def test_help_imports_no_heavy_package(args: list[str], tmp_path: Path) -> None:
    assert not _imported(args, tmp_path) & set(HEAVY)


@pytest.mark.parametrize(("args", "code"), [(["--version"], 0), ([], 2),
                                            (["no-such-command"], 2)])
def test_version_and_usage_errors_read_no_command(args: list[str], code: int,
                                                  tmp_path: Path) -> None:
    mods = _modules(args, tmp_path, codes=(code,))
    assert not {m.split(".")[0] for m in mods} & set(HEAVY)
    assert not {m for m in mods if m.startswith(("auditor.commands.", "drguard.registry",
                                                  "drguard.controls", "auditor.reports"))}


def test_state_without_html_or_markdown_imports_no_heavy_package(tmp_path: Path) -> None:
    export = _export(tmp_path / "state.json")
    mods = _imported(["state", "--file", str(export), "--output-dir", str(tmp_path / "out"),
                      "--format", "json,sarif,junit"], tmp_path)
    assert not mods & set(HEAVY)
    assert "yaml" not in mods  # no YAML read: no config, no waivers
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["findings"]  # the controls ran: the check above is not of an empty run


def test_state_imports_yaml_for_a_yaml_config(tmp_path: Path) -> None:
    export = _export(tmp_path / "state.json")
    (tmp_path / "dr.yaml").write_text("rds-backup-retention:\n  minRetentionDays: 1\n")
    mods = _imported(["state", "--file", str(export), "--output-dir", str(tmp_path / "out"),
                      "--format", "json", "--config", str(tmp_path / "dr.yaml")], tmp_path)
    assert "yaml" in mods
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    rds = [f for f in report["findings"] if f["control"] == "rds-backup-retention"]
    assert [f["status"] for f in rds] == ["pass"]  # the YAML was read: 1 day is enough now


def test_state_imports_jinja2_only_for_html(tmp_path: Path) -> None:
    export = _export(tmp_path / "state.json")
    mods = _imported(["state", "--file", str(export), "--output-dir", str(tmp_path / "out"),
                      "--format", "json,html"], tmp_path)
    assert "jinja2" in mods
    assert not mods & (set(HEAVY) - {"jinja2"})


def test_repo_imports_no_heavy_package(tmp_path: Path) -> None:
    (tmp_path / "Pulumi.yaml").write_text("name: app\nruntime: python\n")
    mods = _imported(["repo", str(tmp_path), "--output-dir", str(tmp_path / "out"),
                      "--format", "json"], tmp_path)
    assert not mods & set(HEAVY)


def test_wire_sentinels_are_the_sdks() -> None:
    from pulumi_policy import deserialize, proxy

    from policypack import wire

    for name in ("UNKNOWN_STRING_VALUE", "UNKNOWN_BOOLEAN_VALUE", "UNKNOWN_NUMBER_VALUE",
                 "UNKNOWN_ARRAY_VALUE", "UNKNOWN_OBJECT_VALUE", "UNKNOWN_ASSET_VALUE",
                 "UNKNOWN_ARCHIVE_VALUE"):
        assert getattr(wire, name) == getattr(proxy, name), name
    assert wire.SPECIAL_SIG_KEY == deserialize.SPECIAL_SIG_KEY
    assert wire.SPECIAL_SECRET_SIG == deserialize.SPECIAL_SECRET_SIG
