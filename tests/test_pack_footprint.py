"""The lean pack: requirements.txt covers every import of the pack and nothing of the auditor;
pyproject.toml pins what the requirement files pin; `make policy-pack` stages only the pack."""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACK_SOURCES = [ROOT / "__main__.py", *sorted((ROOT / "drguard").rglob("*.py")),
                *sorted((ROOT / "policypack").rglob("*.py"))]
AUDITOR_ONLY = {"boto3", "botocore", "jinja2", "moto", "flask", "flask-cors"}


def pins(path: Path) -> dict[str, str]:
    """{normalised name: version} of a requirement file, following -r includes."""
    out: dict[str, str] = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith("-r "):
            out.update(pins(path.parent / line[3:].strip()))
            continue
        m = re.match(r"^([A-Za-z0-9_.-]+)(\[[^\]]*\])?==(\S+)$", line)
        assert m, f"{path.name}: not an exact pin: {line}"
        out[m.group(1).lower().replace("_", "-")] = m.group(3)
    return out


def imported_top_levels(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_requirements_txt_covers_every_pack_import_and_no_auditor_package() -> None:
    runtime = pins(ROOT / "requirements.txt")
    assert {"pulumi", "pulumi-policy"} <= set(runtime)
    assert not AUDITOR_ONLY & set(runtime), "the pack's requirements pull in the auditor"
    dists = packages_distributions()
    missing = {}
    for path in PACK_SOURCES:
        for name in imported_top_levels(path) - {"drguard", "policypack", "__future__"}:
            if name in sys.stdlib_module_names:
                continue
            owners = {d.lower().replace("_", "-") for d in dists.get(name, [])}
            if not owners & set(runtime):
                missing[name] = str(path.relative_to(ROOT))
    assert not missing, f"imported by the pack but not in requirements.txt: {missing}"


def test_pyproject_pins_what_the_requirement_files_pin() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]

    def parse(specs: list[str]) -> dict[str, str]:
        out = {}
        for spec in specs:
            m = re.match(r"^([A-Za-z0-9_.-]+)(\[[^\]]*\])?==(\S+)$", spec)
            assert m, f"pyproject.toml: not an exact pin: {spec}"
            out[m.group(1).lower().replace("_", "-")] = m.group(3)
        return out

    base = parse(project["dependencies"])
    demo = parse(project["optional-dependencies"]["demo"])
    assert base | demo == pins(ROOT / "requirements-auditor.txt")
    assert pins(ROOT / "requirements.txt").items() <= base.items()


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_policy_pack_stages_only_the_pack(tmp_path: Path) -> None:
    staged = tmp_path / "pack"
    subprocess.run(["make", "-s", "policy-pack", f"PACK_DIR={staged}"], cwd=ROOT, check=True,
                   capture_output=True)
    top = {p.name for p in staged.iterdir()}
    assert top == {"PulumiPolicy.yaml", "__main__.py", "requirements.txt", ".gitignore",
                   "drguard", "policypack"}
    files = [p for p in staged.rglob("*") if p.is_file()]
    assert not [p for p in files if "__pycache__" in p.parts]
    assert all(p.suffix in (".py", ".yaml", ".txt", ".json", "") for p in files), files
    # the CLI creates the pack's virtualenv there; .gitignore keeps it out of the upload
    ignored = (staged / ".gitignore").read_text().split()
    assert ".venv/" in ignored and "__pycache__/" in ignored


def test_start_up_and_default_config_do_not_import_jsonschema() -> None:
    """The pack imports jsonschema only to validate a value that is not the default: a
    preview with the default config (what the CLI sends) never pays for it. Every default
    is valid against its own schema, which is what makes skipping it safe."""
    code = r"""
import sys
import policypack.serve  # what the pack's __main__ imports before serving
from drguard.registry import CONTROLS, SCOPE_PARAMS
from drguard.params import resolve, resolve_settings
assert "jsonschema" not in sys.modules, "imported at start-up"
for c in CONTROLS:
    # as the engine sends it: every parameter present, numbers as floats
    sent = {p.name: float(p.default) if type(p.default) is int else p.default
            for p in c.params}
    assert resolve(c.id, sent) == c.defaults(), c.id
resolve_settings({p.name: p.default for p in SCOPE_PARAMS})
assert "jsonschema" not in sys.modules, "imported for default values"
import jsonschema
for c in CONTROLS:
    for p in c.params:
        jsonschema.Draft202012Validator(p.schema).validate(p.default)
print("ok")
"""
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-2000:]


def test_a_value_that_is_not_the_default_is_still_validated() -> None:
    from drguard.errors import ConfigError
    from drguard.params import resolve

    with pytest.raises(ConfigError, match="minRetentionDays"):
        resolve("rds-backup-retention", {"minRetentionDays": -3})
    assert resolve("rds-backup-retention", {"minRetentionDays": 21.0})["minRetentionDays"] == 21
