"""The import graph of the package code points one way.

Every import counts: top level, inside a function, under `if TYPE_CHECKING:`. An import that
is only hidden in a function still ties the two modules together, so it is an edge like any
other. `from pkg import name` is an edge to `pkg.name` when that is a module, else to `pkg`.

Layers, lowest first (a module may import its own layer and the layers below it):

    drguard base               facts, verdicts, what a control is made of, detections, patterns
    drguard controls           per service: facts, Control declarations, rules
    drguard registry           every control, by id
    drguard settings           parameters, scope, waivers, settings, findings, evaluation
    policypack base            wire values, adapters, the stack model, bindings, fixers, and
                               what a service declares (policypack.service)
    policypack services        per service: adapters, links, deploy bindings, fixes
    policypack checks          every service's checks, the remediation server, the policies
    auditor base               sessions, guarded reads, what a live service declares
    auditor services, reports  read AWS into facts / render findings (neither imports the other)
    auditor orchestration      scan, org, logs, state, plan, drill, repo, delivery
    auditor commands           the CLI
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from drguard import registry

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("drguard", "policypack", "auditor")

# Module name prefix -> layer; the longest matching prefix wins. Lower imports nothing higher.
LAYERS: dict[str, int] = {
    "drguard": 0,  # facts, verdict, control, detections, patterns, errors, ...
    "drguard.controls": 1,
    "drguard.registry": 2,
    "drguard.params": 3,
    "drguard.scope": 3,
    "drguard.waivers": 3,
    "drguard.settings": 3,
    "drguard.findings": 3,
    "drguard.evaluate": 3,
    "drguard.redact": 3,
    "drguard.applications": 3,
    "policypack": 4,  # the package, wire, adapters, config, service, stack, binding, fixers, ...
    "policypack.services": 5,
    "policypack.checks": 6,
    "policypack.deploy_index": 6,
    "policypack.remediate": 6,
    "policypack.policies": 6,
    "policypack.serve": 6,
    "auditor": 7,  # the package itself, aws, collectors, live, emulator
    "auditor.services": 8,
    "auditor.reports": 8,
    "auditor.scan": 9,
    "auditor.org": 9,
    "auditor.logs": 9,
    "auditor.state": 9,
    "auditor.drift": 9,
    "auditor.backends": 9,
    "auditor.managed": 9,
    "auditor.restore": 9,
    "auditor.plan": 9,
    "auditor.drill": 9,
    "auditor.repo": 9,
    "auditor.securityhub": 9,
    "auditor.notify": 9,
    "auditor.delivery": 9,
    "auditor.demo_seed": 9,
    "auditor.iam_policy": 9,
    "auditor.commands": 10,
    "auditor.cli": 10,
    "auditor.__main__": 10,
}
# Imports forbidden within a layer: services read, reports render, and neither knows the other
# or anything that orchestrates them.
FORBIDDEN: dict[str, tuple[str, ...]] = {
    "auditor.services": ("auditor.scan", "auditor.org", "auditor.reports", "auditor.drill"),
    "auditor.reports": ("auditor.services", "auditor.drill", "auditor.scan", "auditor.org"),
}


def _under(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def layer(module: str) -> int:
    best = max((p for p in LAYERS if _under(module, p)), key=len, default=None)
    assert best is not None, f"{module} is in no layer: add it to LAYERS"
    return LAYERS[best]


def package_modules(root: Path = ROOT) -> dict[str, Path]:
    out: dict[str, Path] = {}
    for pkg in PACKAGES:
        for p in sorted((root / pkg).rglob("*.py")):
            parts = list(p.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            out[".".join(parts)] = p
    return out


def imports_of(path: Path, module: str, known: set[str] | dict[str, Path]) -> set[str]:
    """Package modules `module` imports anywhere in its source (functions and TYPE_CHECKING
    blocks included), resolved to absolute names."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                name = alias.name
                while name and name not in known:  # `import a.b.thing` -> deepest module
                    name = name.rpartition(".")[0]
                if name:
                    out.add(name)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[:len(anchor) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                if sub in known:
                    out.add(sub)
                elif base in known:
                    out.add(base)
    out.discard(module)
    return out


def import_graph(root: Path = ROOT) -> dict[str, set[str]]:
    mods = package_modules(root)
    return {m: imports_of(p, m, mods) for m, p in mods.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    return import_graph()


def test_the_graph_sees_every_kind_of_import(tmp_path: Path) -> None:
    """Function-level, TYPE_CHECKING, relative and `from pkg import module` imports are edges."""
    pkg = tmp_path / "auditor"
    (pkg / "services").mkdir(parents=True)
    for name in ("__init__.py", "scan.py", "org.py", "reports.py", "live.py",
                 "services/__init__.py", "services/s3.py"):
        (pkg / name).write_text("")
    (pkg / "services" / "s3.py").write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from ..scan import Scanner\n"
        "def f():\n    from auditor import org\n    import auditor.reports\n"
        "from ..live import Step\n")
    (tmp_path / "drguard").mkdir()
    (tmp_path / "policypack").mkdir()
    g = import_graph(tmp_path)
    assert g["auditor.services.s3"] == {"auditor.scan", "auditor.org", "auditor.reports",
                                        "auditor.live"}
    (pkg / "scan.py").write_text("from .services import s3\n")
    assert cycles(import_graph(tmp_path)) == [["auditor.scan", "auditor.services.s3"]]


def test_no_import_cycle(graph: dict[str, set[str]]) -> None:
    found = cycles(graph)
    assert not found, "import cycles (move the shared piece down a layer):\n" + "\n".join(
        " <-> ".join(c) for c in found)


def test_imports_point_down(graph: dict[str, set[str]]) -> None:
    up = [f"{m} (layer {layer(m)}) imports {d} (layer {layer(d)})"
          for m, deps in sorted(graph.items()) for d in sorted(deps) if layer(d) > layer(m)]
    assert not up, "imports from a lower layer to a higher one:\n" + "\n".join(up)


def test_services_and_reports_import_no_orchestration(graph: dict[str, set[str]]) -> None:
    bad = [f"{m} imports {d}" for m, deps in sorted(graph.items())
           for prefix, banned in FORBIDDEN.items() if _under(m, prefix)
           for d in sorted(deps) for b in banned if _under(d, b)]
    assert not bad, "\n".join(bad)


def test_every_module_is_in_a_layer(graph: dict[str, set[str]]) -> None:
    for m in graph:
        layer(m)


TEMPLATES = ROOT / "auditor" / "templates"


def test_templates_name_no_control_id() -> None:
    """Which control feeds which section is decided in code; a template renders data."""
    ids = sorted(registry.BY_ID, key=len, reverse=True)
    pattern = re.compile(r"(?<![\w-])(" + "|".join(map(re.escape, ids)) + r")(?![\w-])")
    found = [f"{p.relative_to(ROOT)}: {m.group(1)}" for p in sorted(TEMPLATES.iterdir())
             if p.is_file() for m in pattern.finditer(p.read_text(encoding="utf-8"))]
    assert not found, "templates naming a control id:\n" + "\n".join(found)
