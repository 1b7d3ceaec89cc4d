"""Generate docs/controls.md from the registry and the bindings of each side.

    .venv/bin/python docs/gen_controls.py          # rewrite docs/controls.md
    .venv/bin/python docs/gen_controls.py --check  # exit 1 when docs/controls.md is stale

Everything comes from the code: the control declarations (drguard/controls), the deploy
bindings and Pulumi type tokens (policypack/services), the live collectors' AWS calls
(auditor/services, read from their source) and the log detections.
"""

from __future__ import annotations

import argparse
import ast
import functools
import importlib
import inspect
import json
import re
import sys
from collections.abc import Iterable
from pathlib import Path
from types import ModuleType

import botocore.session
from botocore import xform_name

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from auditor import services as live_services  # noqa: E402
from drguard import registry  # noqa: E402
from drguard.control import Control  # noqa: E402
from policypack import services as deploy_services  # noqa: E402
from policypack.binding import ResourceCheck  # noqa: E402
from policypack.policies import default_enforcement  # noqa: E402

OUT = ROOT / "docs" / "controls.md"


@functools.cache
def _operations(service: str) -> dict[str, str]:
    """boto3 method name -> API operation name (DescribeDBInstances, not DescribeDbInstances)."""
    model = botocore.session.get_session().get_service_model(service)
    return {xform_name(op): op for op in model.operation_names}


def _camel(service: str, method: str) -> str:
    return _operations(service).get(method) or "".join(
        p[:1].upper() + p[1:] for p in method.split("_"))


def aws_calls(module: ModuleType, only: frozenset[str] | None = None) -> list[str]:
    """`service:Operation` of every boto3 call a collector module makes (or only its functions
    named in `only`): methods called on a name bound to `<account>.client("service", ...)`,
    `paginate(client, "op", ...)`, and what the functions of sibling service modules it calls
    (`backup.selections(...)`) ask."""
    tree = ast.parse(inspect.getsource(module))
    roots: list[ast.AST] = [tree] if only is None else [
        n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name in only]
    calls: set[str] = set()
    siblings = {a.asname or a.name: a.name for n in tree.body if isinstance(n, ast.ImportFrom)
                and n.level == 1 and n.module is None for a in n.names}
    package = module.__name__.rsplit(".", 1)[0]
    for root in roots:
        for fn in ast.walk(root):
            if isinstance(fn, (ast.FunctionDef, ast.Lambda)):
                calls |= _client_calls(fn)
        for node in ast.walk(root):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                    and isinstance(node.func.value, ast.Name) and node.func.value.id in siblings:
                other = importlib.import_module(f"{package}.{siblings[node.func.value.id]}")
                calls |= set(aws_calls(other, frozenset({node.func.attr})))
    return sorted(calls)


def _client_calls(fn: ast.AST) -> set[str]:
    calls: set[str] = set()
    clients: dict[str, str] = {}
    for node in ast.walk(fn):
        if (isinstance(node, ast.Assign) and isinstance(node.value, ast.Call)
                and isinstance(node.value.func, ast.Attribute)
                and node.value.func.attr == "client" and node.value.args
                and isinstance(node.value.args[0], ast.Constant)):
            for t in node.targets:
                if isinstance(t, ast.Name):
                    clients[t.id] = str(node.value.args[0].value)
    for node in ast.walk(fn):
        if not isinstance(node, ast.Call):
            continue
        f = node.func
        if isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name) \
                and f.value.id in clients:
            svc = clients[f.value.id]
            calls.add(f"{svc}:{_camel(svc, f.attr)}")
        elif isinstance(f, ast.Name) and f.id == "paginate" and len(node.args) >= 2 \
                and isinstance(node.args[1], ast.Constant):
            first = node.args[0]
            svc = None
            if isinstance(first, ast.Name) and first.id in clients:
                svc = clients[first.id]
            elif isinstance(first, ast.Call) and isinstance(first.func, ast.Attribute) \
                    and first.func.attr == "client" and first.args \
                    and isinstance(first.args[0], ast.Constant):
                svc = str(first.args[0].value)
            if svc is not None:
                calls.add(f"{svc}:{_camel(svc, str(node.args[1].value))}")
        elif isinstance(f, ast.Attribute) and isinstance(f.value, ast.Call) \
                and isinstance(f.value.func, ast.Attribute) and f.value.func.attr == "client" \
                and f.value.args and isinstance(f.value.args[0], ast.Constant):
            svc = str(f.value.args[0].value)  # account.client("x").op(...)
            calls.add(f"{svc}:{_camel(svc, f.attr)}")
    return calls


def deploy_types(c: Control) -> list[str]:
    """Pulumi type tokens the control's deploy binding judges: a resource check's types, else
    the types its service reads (or, for a service without types of its own, the types of
    the stateful kinds every service declares)."""
    for svc in deploy_services.SERVICES:
        for check in svc.checks:
            if check.control != c.id:
                continue
            if isinstance(check, ResourceCheck):
                return sorted(check.types)
            if c.id in svc.types_read:  # a stack check over other services' types
                return sorted(svc.types_read[c.id])
            types = set(svc.facts) | set(svc.linked)
            if not types:
                wanted = set(deploy_services.CATALOG.stateful_kinds)
                types = {t for t, (kind, _) in deploy_services.CATALOG.facts.items()
                         if kind in wanted}
            return sorted(types)
    return []


def _providers(types: Iterable[str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for t in types:
        out.setdefault(t.split(":", 1)[0], []).append(t)
    return out


def _live_calls(c: Control) -> list[str]:
    for m in live_services.modules():
        for b in m.SERVICE.live:
            if c.id in b.controls:
                if b.evaluate is None:
                    return sorted({k.operation for k in live_services.drift_kinds().values()})
                return aws_calls(m)
    return []


def _md(text: str) -> str:
    return text.replace("|", "\\|")


def render() -> str:
    lines = ["# Controls", "",
             "Generated from the registry by `docs/gen_controls.py`; do not edit by hand "
             "(`python docs/gen_controls.py` rewrites it, a test fails when it is "
             "stale).", "",
             "Each control is declared once in `drguard/controls/<service>.py`; its deploy "
             "binding is in `policypack/services/<service>.py`, its live binding in "
             "`auditor/services/<service>.py`.", "",
             "| id | severity | tier | sources | default enforcement (pack) |",
             "|---|---|---|---|---|"]
    for c in registry.CONTROLS:
        enforcement = default_enforcement(c).value if "deploy" in c.sources else "-"
        lines.append(f"| [`{c.id}`](#{c.id}) | {c.severity} | {c.tier} | "
                     f"{', '.join(sorted(c.sources))} | {enforcement} |")
    lines.append("")
    lines.append("Scope settings (top-level keys of the auditor config; the "
                 f"`{registry.SETTINGS_POLICY}` policy's config in the pack):")
    lines.append("")
    for p in registry.SCOPE_PARAMS:
        lines.append(f"- `{p.name}` (default `{json.dumps(p.default)}`): {p.description}")
    for c in registry.CONTROLS:
        lines += ["", f"## {c.id}", "", f"**{c.title}.** {c.description}", "",
                  f"- Service module: `drguard/controls/{registry.SERVICE_OF[c.id]}.py`",
                  f"- Severity: {c.severity}; tier {c.tier}; sides: "
                  f"{', '.join(sorted(c.sources))}"]
        if "deploy" in c.sources:
            lines.append(f"- Default enforcement in the pack: "
                         f"{default_enforcement(c).value}")
        if c.backup_scoped:
            lines.append("- Applies to backup buckets only (see the scope settings).")
        if c.params:
            lines.append("- Parameters:")
            for p in c.params:
                lines.append(f"  - `{p.name}` (default `{json.dumps(p.default)}`): {p.description}")
        types = deploy_types(c) if "deploy" in c.sources else []
        if types:
            lines.append("- Resource types (deploy and `dr-audit state`):")
            for provider, ts in sorted(_providers(types).items()):
                lines.append(f"  - {provider}: " + ", ".join(f"`{t}`" for t in ts))
        calls = _live_calls(c) if "live" in c.sources else []
        if calls:
            lines.append("- Live API calls (read-only): " + ", ".join(f"`{x}`" for x in calls))
        if c.detections:
            lines.append("- CloudTrail events (logs side):")
            for d in c.detections:
                cond = f" when `{d.when.__name__}`" if d.when is not None else ""
                scoped = " on a backup bucket" if d.backup_scoped else ""
                lines.append(f"  - `{d.event_source}`: " + ", ".join(
                    f"`{n}`" for n in sorted(d.event_names)) + f"{scoped}{cond}")
        if c.mapping:
            parts = []
            if c.mapping.aws_config:
                parts.append("AWS Config " + ", ".join(f"`{x}`" for x in c.mapping.aws_config))
            if c.mapping.security_hub:
                parts.append("Security Hub " + ", ".join(f"`{x}`"
                                                         for x in c.mapping.security_hub))
            lines.append("- Mapping: " + "; ".join(parts))
        r = c.remedy()  # the control's one remediation declaration, as every output shows it
        lines.append(f"- Remediation: {_md(c.remediation)}")
        if r["why"]:
            lines.append(f"- Why it matters: {_md(r['why'])}")
        if r["console"]:
            lines.append("- Console steps:")
            lines += [f"  {i}. {_md(x)}" for i, x in enumerate(r["console"], 1)]
        if c.cannot_remediate:
            lines.append(f"- Pack `remediate` level: cannot fix it: {_md(c.cannot_remediate)}")
        if c.fix is not None:
            lines += ["", f"  {c.fix.summary}", "", "  ```python",
                      *[f"  {x}" if x else "" for x in c.fix.pulumi.splitlines()], "  ```"]
            if c.fix.cli:
                lines += ["", "  ```sh", *[f"  {x}" for x in c.fix.cli.splitlines()], "  ```"]
    text = "\n".join(lines) + "\n"
    return re.sub(r"[ \t]+\n", "\n", text)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="exit 1 when the file is stale")
    args = ap.parse_args(argv)
    text = render()
    if args.check:
        current = OUT.read_text(encoding="utf-8") if OUT.exists() else ""
        if current != text:
            print(f"{OUT.relative_to(ROOT)} is stale: run python docs/gen_controls.py")
            return 1
        return 0
    OUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUT.relative_to(ROOT)} ({len(registry.CONTROLS)} controls)")
    # the pack serves from a table of the same declarations: keep it current too
    from policypack.policies import write_index

    write_index()
    print("wrote policypack/deploy_index.json")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
