"""The layout: one control, one place (docs/architecture.md).

Every control is declared once in `drguard/controls/<service>.py`; its deploy binding lives in
`policypack/services/<service>.py`, its live binding in `auditor/services/<service>.py`, its
log detections beside its declaration. Each package lists its service modules explicitly, and
each service module makes one declaration (`CONTROLS`, `SERVICE`). These tests hold the layout
to that. The import graph is checked in tests/test_imports.py.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from auditor import services as live_services
from auditor.live import LiveService
from drguard import controls as control_modules
from drguard import registry
from policypack import services as deploy_services
from policypack.service import DeployService

ROOT = Path(__file__).resolve().parent.parent
IDS = frozenset(registry.BY_ID)
# Where a control id may be written: its declaration, its bindings, and the registry.
ALLOWED = ("drguard/controls/", "policypack/services/", "auditor/services/",
           "drguard/registry.py")
# Tests and benchmarks pick controls to exercise; they are not product source.
SKIP_DIRS = {".venv", "tests", "benchmarks", "node_modules", ".git", "build", "dist"}
# Known debt: modules written before the layout that still re-type ids, each with where its
# per-control data belongs. The test fails when one is fixed, so the list only shrinks.
PENDING: dict[str, str] = {}


def _sources() -> list[Path]:
    return [p for p in ROOT.rglob("*.py")
            if not SKIP_DIRS & set(p.relative_to(ROOT).parts)]


def test_every_deploy_control_has_exactly_one_deploy_binding() -> None:
    bound = Counter(c.control for svc in deploy_services.SERVICES for c in svc.checks)
    assert set(bound) <= IDS, f"deploy bindings for unknown controls: {set(bound) - IDS}"
    for c in registry.CONTROLS:
        want = 1 if "deploy" in c.sources else 0
        assert bound[c.id] == want, f"{c.id}: {bound[c.id]} deploy bindings, expected {want}"
        # `dr-audit state` runs the deploy bindings on a stack export
        assert ("state" in c.sources) == ("deploy" in c.sources), c.id


def test_every_live_control_has_exactly_one_live_binding() -> None:
    bound = Counter(cid for svc in live_services.SERVICES for b in svc.live
                    for cid in b.controls)
    assert set(bound) <= IDS, f"live bindings for unknown controls: {set(bound) - IDS}"
    for c in registry.CONTROLS:
        want = 1 if "live" in c.sources else 0
        assert bound[c.id] == want, f"{c.id}: {bound[c.id]} live bindings, expected {want}"


def test_logs_side_is_declared_beside_the_control() -> None:
    for c in registry.CONTROLS:
        assert ("logs" in c.sources) == bool(c.detections), \
            f"{c.id}: declares logs={('logs' in c.sources)} with {len(c.detections)} detections"


def test_each_control_is_declared_in_exactly_one_service_module() -> None:
    declared = Counter(c.id for m in control_modules.MODULES for c in m.CONTROLS)
    assert declared == Counter(list(registry.BY_ID)), declared
    assert set(registry.SERVICE_OF) == IDS


def _id_literals(path: Path) -> list[tuple[int, str]]:
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except (SyntaxError, UnicodeDecodeError):
        return []
    return [(n.lineno, n.value) for n in ast.walk(tree)
            if isinstance(n, ast.Constant) and isinstance(n.value, str) and n.value in IDS]


def test_no_control_id_literal_outside_its_modules() -> None:
    found = []
    for path in _sources():
        rel = path.relative_to(ROOT).as_posix()
        if rel.startswith(ALLOWED):
            continue
        literals = _id_literals(path)
        if rel in PENDING:
            assert literals, f"{rel} no longer re-types control ids: drop it from PENDING"
            continue
        found += [f"{rel}:{line}: {value!r}" for line, value in literals]
    assert not found, ("control ids re-typed outside drguard/controls, policypack/services, "
                       "auditor/services and the registry (declare the binding in the "
                       "service module, or read the id from there):\n" + "\n".join(found))


def test_the_literal_scan_sees_an_id() -> None:
    """The scan above would catch a re-typed id (the bindings do contain some)."""
    assert _id_literals(ROOT / "policypack/services/s3.py")


def _top_level_imports(path: Path, module: str) -> set[str]:
    """Modules imported when `module` is imported (not under TYPE_CHECKING, not in a
    function), resolved to absolute names."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    out: set[str] = set()

    def visit(body: list[ast.stmt]) -> None:
        for node in body:
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                visit(node.orelse)
                continue
            if isinstance(node, ast.Import):
                out.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")
                    anchor = anchor[:len(anchor) - node.level + 1]
                    base = ".".join(anchor + ([base] if base else []))
                out.add(base)
                out.update(f"{base}.{a.name}" for a in node.names)
            elif isinstance(node, (ast.If, ast.Try)):
                visit(node.body)
                visit(getattr(node, "orelse", []))

    visit(tree.body)
    return out


def _drguard_modules() -> list[str]:
    out = []
    for p in sorted((ROOT / "drguard").rglob("*.py")):
        parts = list(p.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out.append(".".join(parts))
    return out


@pytest.mark.parametrize("module", _drguard_modules())
def test_drguard_module_imports_alone_without_boto3_or_pulumi(module: str) -> None:
    code = ("import sys, importlib; importlib.import_module(sys.argv[1]); "
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
            "('boto3', 'botocore', 'pulumi', 'pulumi_policy', 'pulumi_aws')); "
            "print(','.join(bad))")
    out = subprocess.run([sys.executable, "-c", code, module], cwd=ROOT, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "", f"{module} pulls in {out.stdout.strip()}"


def test_drguard_source_names_neither_boto3_nor_pulumi() -> None:
    for p in (ROOT / "drguard").rglob("*.py"):
        imported = _top_level_imports(p, "drguard.x")
        tree = ast.parse(p.read_text(encoding="utf-8"))
        imported |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import)
                     for a in n.names}
        imported |= {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
        bad = {i for i in imported if i.split(".")[0] in ("boto3", "botocore", "pulumi",
                                                          "pulumi_policy", "pulumi_aws")}
        assert not bad, f"{p.relative_to(ROOT)} imports {bad}"


def test_scan_names_no_service() -> None:
    """auditor/scan.py is orchestration only: no collector, no rule, no control."""
    tree = ast.parse((ROOT / "auditor/scan.py").read_text(encoding="utf-8"))
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert not {m for m in imported if m and ("controls" in m or m.startswith("services."))}


def test_every_pulumi_type_is_read_by_one_service() -> None:
    seen: Counter[str] = Counter()
    for svc in deploy_services.SERVICES:
        seen.update(set(svc.facts) | set(svc.linked))
    assert not [t for t, n in seen.items() if n > 1]
    # drift reads its tokens from the services too
    assert set(live_services.drift_kinds()) <= deploy_services.all_types()


def test_controls_reference_is_generated_and_current() -> None:
    """docs/controls.md is what docs/gen_controls.py renders from the registry now."""
    out = subprocess.run([sys.executable, str(ROOT / "docs" / "gen_controls.py"), "--check"],
                         cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    text = (ROOT / "docs" / "controls.md").read_text(encoding="utf-8")
    for c in registry.CONTROLS:
        assert f"\n## {c.id}\n" in text


def test_docs_and_code_point_inside_the_repository() -> None:
    for path in (ROOT / "README.md", ROOT / "drguard" / "registry.py"):
        text = path.read_text(encoding="utf-8")
        assert "../shared" not in text and "docs/controls.md" in text, path


# What a service module declared before the explicit registration. They are read by nothing
# now, so a module that still defines one has not been ported (docs/architecture.md, "Adding a
# control or a service").
LEGACY_NAMES = {
    "auditor/services": ("GLOBAL", "REGIONAL", "PHASE", "phase", "LIVE", "DRIFT"),
    "policypack/services": ("FACTS", "LINKED", "STEP", "link", "ARNS", "BACKUP_SELECTED",
                            "STATEFUL", "CHECKS", "REMEDIATIONS", "CANNOT_REMEDIATE"),
}
PACKAGES = {"drguard/controls": (control_modules, "CONTROLS", tuple),
            "policypack/services": (deploy_services, "SERVICE", DeployService),
            "auditor/services": (live_services, "SERVICE", LiveService)}


@pytest.mark.parametrize("folder", sorted(PACKAGES))
def test_every_service_module_is_listed_and_declares_itself(folder: str) -> None:
    package, name, kind = PACKAGES[folder]
    on_disk = sorted(p.stem for p in (ROOT / folder).glob("*.py") if not p.stem.startswith("_"))
    listed = [m.__name__.rsplit(".", 1)[-1] for m in package.MODULES]
    assert listed == on_disk, (f"{folder}/__init__.py MODULES must list every module, by name: "
                               f"missing {sorted(set(on_disk) - set(listed))}")
    for m in package.MODULES:
        assert isinstance(getattr(m, name, None), kind), f"{m.__name__}: no {name} ({kind})"


@pytest.mark.parametrize("folder", sorted(LEGACY_NAMES))
def test_no_service_module_keeps_a_legacy_declaration(folder: str) -> None:
    found = []
    for p in sorted((ROOT / folder).glob("*.py")):
        tree = ast.parse(p.read_text(encoding="utf-8"))
        for node in tree.body:
            names = [t.id for t in getattr(node, "targets", [getattr(node, "target", None)])
                     if isinstance(t, ast.Name)]
            if isinstance(node, ast.FunctionDef):
                names = [node.name]
            found += [f"{p.relative_to(ROOT)}:{node.lineno}: {n}" for n in names
                      if n in LEGACY_NAMES[folder]]
    assert not found, ("module-level declarations nothing reads any more; move them into the "
                       "module's SERVICE (docs/architecture.md):\n" + "\n".join(found))


def test_architecture_doc_names_modules_that_exist() -> None:
    """docs/architecture.md stays true: every module path it names exists."""
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    named = set(re.findall(r"(?<![\w<>./-])((?:[a-z_]+/)*[a-z_]+\.py)\b", text))
    files = {p.relative_to(ROOT).as_posix() for p in ROOT.rglob("*.py")
             if not {".venv", "node_modules", ".git"} & set(p.relative_to(ROOT).parts)}
    missing = sorted(n for n in named
                     if not any(f == n or f.endswith("/" + n) for f in files))
    assert not missing, f"docs/architecture.md names modules that do not exist: {missing}"
    assert len(named) > 30, named
