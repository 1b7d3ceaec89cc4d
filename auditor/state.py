"""Pulumi stack exports (`pulumi stack export`): read, validate, judge offline.

What `pulumi policy analyze --file` would do with the deploy-side checks, without the Pulumi
engine: every resource of the export becomes a `policypack.adapters.Res` (its outputs, with
inputs where an output is absent; its `protect` flag; its provider's outputs, for the region)
and `policypack.checks.evaluate` runs the same checks the policy pack runs.

Accepted input: the JSON `pulumi stack export` writes, `{"version": N, "deployment": {...}}`
with deployment versions 1 to 3 (3 is what every Pulumi CLI since 2019 writes; 1 and 2 are
read the way the CLI migrates them: no per-property dependencies). A backend checkpoint file
(`.pulumi/stacks/<project>/<stack>.json`, `{"version": N, "checkpoint": {"latest": ...}}`)
is accepted too. Anything else is a `StateError` (a ConfigError: exit code 2) naming the file
and what is wrong.

Property values are decoded as the engine stores them: encrypted secrets (the default export)
are unknown to us, so a check that needs one reports `error`, never `pass`; decrypted secrets
(`--show-secrets`), resource references and big integers are read as their values.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import shutil
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from pulumi_policy.deserialize import SPECIAL_SECRET_SIG, SPECIAL_SIG_KEY
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE

from drguard import registry
from drguard.errors import ConfigError
from drguard.evaluate import finding
from drguard.facts import UNKNOWN
from drguard.findings import Finding
from drguard.rules import Verdict
from drguard.settings import Settings

log = logging.getLogger(__name__)

SUPPORTED_VERSIONS = (1, 2, 3)
SIG_KEY, SECRET_SIG = SPECIAL_SIG_KEY, SPECIAL_SECRET_SIG
# Signatures the policy SDK does not name (pulumi/sdk/go/common/resource/properties.go).
RESOURCE_SIG = "5cf8f73096256a8f31e491e813e4eb8e"
INTEGER_SIG = "7eb310220ed6211bd6f147f2a75bfbb6"
UNKNOWN_VALUE = UNKNOWN_STRING_VALUE  # the engine's unknown sentinel
STATE_CONTROLS = frozenset(c.id for c in registry.for_source("state"))


class StateError(ConfigError):
    """The export cannot be read: the message names the file and what is wrong."""


@dataclass
class StateResource:
    """One resource of the export, values decoded (see module docstring)."""

    urn: str
    type: str
    id: str
    custom: bool
    props: dict[str, Any]  # outputs, with inputs where an output is absent
    protect: bool = False
    external: bool = False
    delete: bool = False
    pending_replacement: bool = False
    parent: str = ""
    provider: str = ""  # "<provider urn>::<provider id>"
    property_deps: dict[str, list[str]] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.urn.rsplit("::", 1)[-1]


@dataclass
class Export:
    path: str
    version: int
    resources: list[StateResource]
    manifest: dict[str, Any] = field(default_factory=dict)
    pending_operations: int = 0

    @cached_property
    def by_urn(self) -> dict[str, StateResource]:
        return {r.urn: r for r in self.resources if not r.delete}

    def project_stack(self) -> tuple[str | None, str | None]:
        """(project, stack) from the stack resource's URN."""
        for r in self.resources:
            if r.type == "pulumi:pulumi:Stack":
                parts = r.urn.split("::")
                return parts[1], parts[0].removeprefix("urn:pulumi:")
        return None, None

    def provider_props(self, r: StateResource) -> dict[str, Any] | None:
        if not r.provider:
            return None
        prov = self.by_urn.get(r.provider.rsplit("::", 1)[0])
        return prov.props if prov is not None else None

    def pack_resources(self) -> list[Any]:
        """The resources as the policy pack's AnalyzeStack sees them (policypack Res)."""
        from policypack.adapters import Res

        out = []
        for r in self.resources:
            if r.delete:  # an old copy awaiting deletion after a replacement
                continue
            out.append(Res(type=r.type, urn=r.urn, name=r.name, props=r.props,
                           protect=r.protect, provider_props=self.provider_props(r),
                           property_deps=r.property_deps))
        return out


# ---- reading ----------------------------------------------------------------------------

def decode(value: Any) -> Any:
    """A state property value as plain data (encrypted secrets -> the unknown sentinel)."""
    if isinstance(value, dict):
        sig = value.get(SIG_KEY)
        if sig == SECRET_SIG:
            if "plaintext" in value and isinstance(value["plaintext"], str):
                try:
                    return decode(json.loads(value["plaintext"]))
                except json.JSONDecodeError:
                    return UNKNOWN_VALUE
            return UNKNOWN_VALUE  # ciphertext: not readable without the stack's secrets
        if sig == RESOURCE_SIG:
            return value.get("id") or value.get("urn") or UNKNOWN_VALUE
        if sig == INTEGER_SIG:
            try:
                return int(value.get("value"))
            except (TypeError, ValueError):
                return value.get("value")
        return {k: decode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [decode(v) for v in value]
    return value


def _fail(where: str, what: str) -> StateError:
    return StateError(f"{where}: not a usable stack export: {what}")


def _deployment(doc: Any, where: str) -> tuple[int, dict[str, Any]]:
    if not isinstance(doc, dict):
        raise _fail(where, f"expected a JSON object at the top, found {type(doc).__name__}")
    version = doc.get("version")
    if "version" not in doc:
        raise _fail(where, "no 'version' field (is this the output of `pulumi stack export`?)")
    if not isinstance(version, int) or isinstance(version, bool):
        raise _fail(where, f"'version' must be an integer, found {version!r}")
    if version not in SUPPORTED_VERSIONS:
        newer = " (newer than this dr-audit understands; upgrade dr-audit)" \
            if version > max(SUPPORTED_VERSIONS) else ""
        raise _fail(where, f"deployment version {version} is not supported{newer}; dr-audit "
                           f"reads versions {SUPPORTED_VERSIONS[0]} to {SUPPORTED_VERSIONS[-1]}")
    if "deployment" in doc:
        dep = doc["deployment"]
    elif isinstance(doc.get("checkpoint"), dict):  # a backend checkpoint file
        dep = doc["checkpoint"].get("latest")
        if dep is None:
            dep = {"manifest": {}, "resources": []}  # a stack that was never updated
    else:
        raise _fail(where, "no 'deployment' object")
    if not isinstance(dep, dict):
        raise _fail(where, f"'deployment' must be an object, found {type(dep).__name__}")
    return version, dep


def _resource(i: int, raw: Any, version: int, where: str) -> StateResource:
    label = f"resource #{i + 1}"
    if not isinstance(raw, dict):
        raise _fail(where, f"{label} is not an object")
    urn = raw.get("urn")
    if not isinstance(urn, str) or not urn:
        raise _fail(where, f"{label} has no 'urn'")
    parts = urn.split("::")
    if not urn.startswith("urn:pulumi:") or len(parts) < 4:
        raise _fail(where, f"{label} has an invalid urn {urn!r}")
    label = f"resource #{i + 1} ({parts[-1]})"
    type_ = raw.get("type")
    if not isinstance(type_, str) or not type_:
        raise _fail(where, f"{label} has no 'type'")
    for key in ("inputs", "outputs", "propertyDependencies"):
        if raw.get(key) is not None and not isinstance(raw[key], dict):
            raise _fail(where, f"{label}: '{key}' must be an object")
    for key in ("id", "parent", "provider"):
        if raw.get(key) is not None and not isinstance(raw[key], str):
            raise _fail(where, f"{label}: '{key}' must be a string")
    for key in ("custom", "protect", "external", "delete", "pendingReplacement"):
        if raw.get(key) is not None and not isinstance(raw[key], bool):
            raise _fail(where, f"{label}: '{key}' must be true or false")
    deps = raw.get("propertyDependencies") or {}
    if version < 3:
        deps = {}  # v1/v2 have none; the CLI's migration assumes every dependency affects all
    for key, urns in deps.items():
        if not isinstance(urns, list) or not all(isinstance(u, str) for u in urns):
            raise _fail(where, f"{label}: propertyDependencies.{key} must be a list of URNs")
    inputs = decode(raw.get("inputs") or {})
    outputs = decode(raw.get("outputs") or {})
    return StateResource(urn=urn, type=type_, id=raw.get("id") or "",
                         custom=bool(raw.get("custom")), props={**inputs, **outputs},
                         protect=bool(raw.get("protect")), external=bool(raw.get("external")),
                         delete=bool(raw.get("delete")),
                         pending_replacement=bool(raw.get("pendingReplacement")),
                         parent=raw.get("parent") or "", provider=raw.get("provider") or "",
                         property_deps={k: list(v) for k, v in deps.items()})


def parse(doc: Any, where: str) -> Export:
    """Validate a decoded export document (StateError on anything unusable)."""
    version, dep = _deployment(doc, where)
    raw = dep.get("resources")
    if raw is None:
        raw = []  # `pulumi stack export` of an empty stack omits the list
    if not isinstance(raw, list):
        raise _fail(where, "'deployment.resources' must be a list")
    resources = [_resource(i, r, version, where) for i, r in enumerate(raw)]
    seen: set[str] = set()
    for r in resources:
        if r.delete:
            continue
        if r.urn in seen:
            raise _fail(where, f"the urn {r.urn!r} appears twice")
        seen.add(r.urn)
    manifest = dep.get("manifest")
    if manifest is not None and not isinstance(manifest, dict):
        raise _fail(where, "'deployment.manifest' must be an object")
    pending = dep.get("pending_operations") or []
    if not isinstance(pending, list):
        raise _fail(where, "'deployment.pending_operations' must be a list")
    return Export(path=where, version=version, resources=resources, manifest=manifest or {},
                  pending_operations=len(pending))


def load(path: str | Path) -> Export:
    """Read and validate an export file."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise StateError(f"{p}: stack export not found") from None
    except UnicodeDecodeError:
        raise _fail(str(p), "not UTF-8 text") from None
    except OSError as e:
        raise StateError(f"{p}: cannot read the stack export: {e.strerror}") from None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as e:
        raise _fail(str(p), f"not valid JSON ({e.msg} at line {e.lineno} column {e.colno})") \
            from None
    return parse(doc, str(p))


def export_stack(stack: str, cwd: Path | None = None, timeout: float = 300) -> Export:
    """`pulumi stack export --stack <stack>`, parsed (StateError without the Pulumi CLI or
    when the command fails)."""
    exe = shutil.which("pulumi")
    if exe is None:
        raise StateError(f"--stack {stack}: the Pulumi CLI (`pulumi`) is not installed or not "
                         "on PATH; run `pulumi stack export --file state.json` where it is "
                         "and pass --file state.json")
    try:
        proc = subprocess.run([exe, "stack", "export", "--stack", stack, "--non-interactive"],
                              capture_output=True, text=True, timeout=timeout, cwd=cwd,
                              check=False)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise StateError(f"--stack {stack}: `pulumi stack export` failed: {e}") from None
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["no error output"])[-1]
        raise StateError(f"--stack {stack}: `pulumi stack export` exited with code "
                         f"{proc.returncode}: {last}")
    try:
        doc = json.loads(proc.stdout)
    except json.JSONDecodeError as e:
        raise _fail(f"pulumi stack export --stack {stack}", f"not valid JSON ({e.msg})") \
            from None
    return parse(doc, f"pulumi stack export --stack {stack}")


# ---- judging ----------------------------------------------------------------------------

_PREVIEW = ("cannot be checked during preview (the value is not known yet); it will be checked "
            "on update.")
_OFFLINE = ("cannot be checked from this stack export: the value is unknown or an encrypted "
            "secret (`pulumi stack export --show-secrets` includes secrets).")


def _offline(message: str) -> str:
    """An "unknown during preview" message reworded for a stack export."""
    return (message.replace(_PREVIEW, _OFFLINE)
            .replace("cannot be checked during preview.", "cannot be checked from this stack "
                                                          "export."))


def clean(value: Any) -> Any:
    """Evidence as plain JSON (UNKNOWN and the unknown sentinel -> "unknown")."""
    if value is UNKNOWN or value == UNKNOWN_VALUE:
        return "unknown"
    if isinstance(value, dict):
        return {str(k): clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [clean(v) for v in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def evaluate(export: Export, settings: Settings,
             today: dt.date | None = None) -> list[Finding]:
    """Every deploy-side check on the export: one finding per (control, resource)."""
    from policypack import checks
    from policypack.adapters import arn_account
    from policypack.stack import StackModel

    resources = export.pack_resources()
    model = StackModel.build(resources, settings.scope)
    out: list[Finding] = []
    for control, fact, verdict in checks.evaluate(resources, settings, model=model):
        if control not in STATE_CONTROLS:
            continue
        if verdict.status == "unknown":
            verdict = Verdict("unknown", _offline(verdict.message), verdict.evidence)
        f = finding(control, fact, verdict, "state", settings, today)
        res = model.res_of.get(id(fact))
        f.account = f.account or (arn_account(res.get("arn")) if res is not None else None) \
            or model.account
        f.evidence = clean(f.evidence)
        out.append(f)
    return out


def run_meta(export: Export, findings: Iterable[Finding], started: dt.datetime,
             fail_on: str) -> dict[str, Any]:
    """Report metadata of a `dr-audit state` run."""
    from drguard import __version__

    findings = list(findings)
    project, stack = export.project_stack()
    notes = []
    if export.pending_operations:
        notes.append(f"the export records {export.pending_operations} pending operation(s) of "
                     "an interrupted update; resources being created or deleted may be missing")
    meta: dict[str, Any] = {
        "command": "state", "tool_version": __version__,
        "started": started.isoformat(), "finished": dt.datetime.now(dt.UTC).isoformat(),
        "sources": [export.path], "stack": stack, "project": project,
        "deployment_version": export.version,
        "pulumi_version": export.manifest.get("version"),
        "resources": sum(1 for r in export.resources if not r.delete),
        "accounts": sorted({f.account for f in findings if f.account}),
        "regions": sorted({f.region for f in findings if f.region}),
        "fail_on": fail_on,
        "skipped": {"resources": sum(1 for f in findings if f.status == "error"),
                    "notes": notes},
    }
    return meta
