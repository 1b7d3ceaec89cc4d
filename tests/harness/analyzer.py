"""Drive a CrossGuard policy pack over gRPC exactly as the Pulumi CLI/engine does.

Launch (like ``pulumi preview --policy-pack <dir>`` with a ``runtime: python`` pack): the CLI runs
``pulumi-analyzer-policy-python <engine-address> . -virtualenv=<venv>`` in the pack directory,
which runs ``<venv>/bin/python -u -m pulumi.policy <engine-address> .`` (``python3`` without a
virtualenv option; this harness then uses ``sys.executable``); the env carries ``PULUMI_PROJECT``,
``PULUMI_STACK``, ``PULUMI_ORGANIZATION``, ``PULUMI_DRY_RUN`` (and ``PULUMI_CONFIG`` when the stack
has config). The pack prints its port on the first stdout line. The engine then calls
``ConfigureStack``, ``GetAnalyzerInfo``, ``Configure`` (config reconciled as below), and for every
registered resource ``Remediate`` then ``Analyze`` (properties = checked *inputs*), and at the end
``AnalyzeStack`` once (properties = *outputs*; options without ``parent``; empty property
dependencies dropped).

API::

    PolicyPackProcess(pack_dir, *, env=None, project="dr-guard-test", stack="dev",
                      organization="organization", dry_run=True, config=None,
                      engine_address="127.0.0.1:1", startup_timeout=60.0)
        .start() / .stop() / context manager; .port; .address; .output() (stdout+stderr)
        .client(timeout=60.0) -> AnalyzerClient      # ConfigureStack already sent

    AnalyzerClient(channel, *, pack_version="", timeout=60.0)
        .configure_stack(project, stack, organization="organization", dry_run=True,
                         config=None, secret_keys=(), tags=None)
        .get_analyzer_info() -> AnalyzerInfo
        .configure(config=None) -> dict[str, PolicyConfig]   # CLI --policy-pack-config shape
        .analyze(resource) -> AnalyzeResult
        .remediate(resource) -> RemediateResult
        .analyze_stack(resources) -> AnalyzeResult
        .run_stack(captured, *, remediate=True) -> StackRun  # = run_stack(client, captured)

    run_stack(client, captured, *, remediate=True) -> StackRun   # one preview/up
    resolve_policy_config(policies, initial_config, config) -> dict[str, PolicyConfig]
    make_resource(type_, name, properties=None, **kw) -> dict    # hand-built resource

``resource`` is a dict shaped like :mod:`tests.harness.capture` resources (``type``, ``name``,
``urn``, ``properties``, ``outputs``, ``protect``, ``parent``, ``options``, ``provider``,
``dependencies``, ``propertyDependencies``); missing keys get defaults. Results are plain
dataclasses: :class:`Diagnostic` (``policy_name``, ``enforcement_level`` "advisory" |
"mandatory" | "remediate" | "disabled", ``severity`` "low".."critical" or "", ``message``,
``urn``, ``description``, ``policy_pack_name``, ``policy_pack_version``, ``stage``) and
:class:`NotApplicable` (``policy_name``, ``reason``, ``urn``).

Config (the CLI's ``ReconcilePolicyPackConfig``): every policy gets an entry with its default
enforcement level and the ``default`` of each config-schema property; then the pack's initial
config, then the given config are applied (``"all"`` sets every policy's level first; a string
value is a level; an object may carry ``enforcementLevel`` plus parameters). The result is
validated against each policy's schema (:class:`PolicyConfigError` on failure, as the CLI
refuses to run) and sent in full.

What a pack sees, as with the real engine: numbers are floats (``Struct``), secrets and unknowns
are in wire form until the policy SDK unwraps them (an unknown read raises and becomes the SDK's
advisory "can't run policy ... during preview"); the root stack and provider resources are
analyzed too; in ``AnalyzeStack`` ``resource.opts.parent`` is empty (use ``resource.parent``).
:class:`StackRun` offers ``by_policy(name)``, ``for_urn(urn)``, ``policies()`` and ``blocked``.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import jsonschema
import yaml
from google.protobuf import empty_pb2, json_format, struct_pb2
from pulumi.runtime.proto import analyzer_pb2 as pb
from pulumi.runtime.proto import analyzer_pb2_grpc

ENFORCEMENT_LEVELS = ("advisory", "mandatory", "remediate", "disabled")
_LEVEL_TO_PB = {"advisory": pb.ADVISORY, "mandatory": pb.MANDATORY,
                "remediate": pb.REMEDIATE, "disabled": pb.DISABLED}
_PB_TO_LEVEL = {v: k for k, v in _LEVEL_TO_PB.items()}
_PB_TO_SEVERITY = {pb.POLICY_SEVERITY_UNSPECIFIED: "", pb.POLICY_SEVERITY_LOW: "low",
                   pb.POLICY_SEVERITY_MEDIUM: "medium", pb.POLICY_SEVERITY_HIGH: "high",
                   pb.POLICY_SEVERITY_CRITICAL: "critical"}
_PB_TO_POLICY_TYPE = {pb.POLICY_TYPE_UNKNOWN: "", pb.POLICY_TYPE_RESOURCE: "resource",
                      pb.POLICY_TYPE_STACK: "stack"}
_MAX_MESSAGE = 400 * 1024 * 1024  # the engine's rpcutil.GrpcChannelOptions


class PolicyPackError(RuntimeError):
    """The policy pack process failed to start or died; the message carries its output."""


class PolicyConfigError(ValueError):
    """The policy pack config is invalid (the CLI would refuse to run)."""


@dataclass(frozen=True)
class Diagnostic:
    policy_name: str
    enforcement_level: str
    severity: str
    message: str
    urn: str
    description: str
    policy_pack_name: str = ""
    policy_pack_version: str = ""
    stage: str = ""  # "analyze", "analyze_stack" or "remediate" (set by run_stack)


@dataclass(frozen=True)
class NotApplicable:
    policy_name: str
    reason: str
    urn: str = ""


@dataclass
class AnalyzeResult:
    diagnostics: list[Diagnostic] = field(default_factory=list)
    not_applicable: list[NotApplicable] = field(default_factory=list)


@dataclass
class RemediateResult:
    # Each remediation: {"policy_name", "description", "properties" (wire dict) | None,
    # "diagnostic"}.
    remediations: list[dict[str, Any]] = field(default_factory=list)
    not_applicable: list[NotApplicable] = field(default_factory=list)


@dataclass(frozen=True)
class PolicyInfo:
    name: str
    description: str
    enforcement_level: str
    severity: str
    policy_type: str  # "resource", "stack" or ""
    display_name: str = ""
    config_schema: dict[str, Any] = field(default_factory=dict)  # property -> JSON schema
    required: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    framework: dict[str, str] = field(default_factory=dict)
    remediation_steps: str = ""
    url: str = ""


@dataclass(frozen=True)
class AnalyzerInfo:
    name: str
    version: str
    display_name: str
    description: str
    supports_config: bool
    policies: tuple[PolicyInfo, ...]
    initial_config: dict[str, dict[str, Any]]

    def policy(self, name: str) -> PolicyInfo:
        for p in self.policies:
            if p.name == name:
                return p
        raise KeyError(f"policy {name!r} not in {[p.name for p in self.policies]}")

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.policies]


@dataclass(frozen=True)
class PolicyConfig:
    enforcement_level: str
    properties: dict[str, Any] | None = None


@dataclass
class StackRun:
    """All diagnostics of one preview/update, in engine order (Analyze..., AnalyzeStack)."""

    diagnostics: list[Diagnostic] = field(default_factory=list)
    not_applicable: list[NotApplicable] = field(default_factory=list)

    def __iter__(self) -> Iterator[Diagnostic]:
        return iter(self.diagnostics)

    def __len__(self) -> int:
        return len(self.diagnostics)

    def by_policy(self, name: str) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.policy_name == name]

    def for_urn(self, urn: str) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.urn == urn]

    def policies(self) -> set[str]:
        return {d.policy_name for d in self.diagnostics}

    @property
    def blocked(self) -> bool:
        """True when the engine would fail the preview/update (a mandatory violation)."""
        return any(d.enforcement_level == "mandatory" for d in self.diagnostics)


# ------------------------------------------------------------------------------------------
# Config reconciliation (pulumi/sdk/go/common/resource/analyzer/config.go).


def _parse_config(config: Mapping[str, Any]) -> dict[str, PolicyConfig]:
    result: dict[str, PolicyConfig] = {}
    for key, value in config.items():
        level = ""
        props: dict[str, Any] | None = None
        if isinstance(value, str):
            if value not in ENFORCEMENT_LEVELS:
                raise PolicyConfigError(
                    f"parsing enforcement level for {key!r}: {value!r} is not a valid "
                    "enforcement level")
            level = value
        elif isinstance(value, Mapping):
            rest = dict(value)
            if "enforcementLevel" in rest:
                el = rest.pop("enforcementLevel")
                if not isinstance(el, str) or el not in ENFORCEMENT_LEVELS:
                    raise PolicyConfigError(
                        f"parsing enforcement level for {key!r}: {el!r} is not a valid "
                        "enforcement level")
                level = el
            props = rest or None
        else:
            raise PolicyConfigError(
                f"parsing {key!r}: {value!r} is not a valid value; must be a string or object")
        if level or props:
            result[key] = PolicyConfig(level, props)
    return result


def _apply_config(result: dict[str, PolicyConfig],
                  given: Mapping[str, PolicyConfig]) -> dict[str, PolicyConfig]:
    result = dict(result)
    all_cfg = given.get("all")
    if all_cfg is not None and all_cfg.enforcement_level:
        result = {k: PolicyConfig(all_cfg.enforcement_level, v.properties)
                  for k, v in result.items()}
    for name, cfg in given.items():
        level, props = "", None
        if name in result:
            level, props = result[name].enforcement_level, result[name].properties
        if cfg.enforcement_level:
            level = cfg.enforcement_level
        if cfg.properties:
            props = {**(props or {}), **cfg.properties}
        result[name] = PolicyConfig(level, props)
    return result


def resolve_policy_config(policies: Iterable[PolicyInfo],
                          initial_config: Mapping[str, Mapping[str, Any]] | None,
                          config: Mapping[str, Any] | None) -> dict[str, PolicyConfig]:
    """The config the CLI sends with Configure for ``--policy-pack-config`` = ``config``."""
    policies = list(policies)
    result: dict[str, PolicyConfig] = {}
    for p in policies:
        defaults = {k: v["default"] for k, v in p.config_schema.items()
                    if isinstance(v, Mapping) and "default" in v}
        result[p.name] = PolicyConfig(p.enforcement_level, defaults or None)
    if initial_config:
        initial = {k: PolicyConfig(v.get("enforcementLevel", ""),
                                   {kk: vv for kk, vv in v.items() if kk != "enforcementLevel"}
                                   or None)
                   for k, v in initial_config.items()}
        result = _apply_config(result, initial)
    if config:
        result = _apply_config(result, _parse_config(config))
    errors: list[str] = []
    for p in policies:
        schema: dict[str, Any] = {"type": "object",
                                  "properties": {**p.config_schema, "enforcementLevel": {
                                      "type": "string", "enum": list(ENFORCEMENT_LEVELS)}}}
        if p.required:
            schema["required"] = list(p.required)
        props = result[p.name].properties or {}
        for err in jsonschema.Draft7Validator(schema).iter_errors(props):
            where = ".".join(str(x) for x in err.absolute_path)
            errors.append(f"{p.name}: {where + ': ' if where else ''}{err.message}")
    if errors:
        raise PolicyConfigError("validating policy config: " + "; ".join(errors))
    return result


# ------------------------------------------------------------------------------------------
# Request building (engine: AnalyzerResource marshalling).


def _clean(value: Any) -> Any:
    """SkipInternalKeys: the engine drops ``__``-prefixed keys (e.g. ``__defaults``)."""
    if isinstance(value, Mapping):
        return {k: _clean(v) for k, v in value.items() if not str(k).startswith("__")}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


def _struct(props: Mapping[str, Any] | None) -> struct_pb2.Struct:
    s = struct_pb2.Struct()
    if props:
        s.update(_clean(dict(props)))
    return s


def _options(resource: Mapping[str, Any], with_parent: bool) -> pb.AnalyzerResourceOptions:
    opts = resource.get("options") or {}
    ct = opts.get("customTimeouts") or {}
    dbr = opts.get("deleteBeforeReplace")
    return pb.AnalyzerResourceOptions(
        protect=bool(resource.get("protect", False)),
        ignoreChanges=list(opts.get("ignoreChanges") or []),
        deleteBeforeReplace=bool(dbr),
        deleteBeforeReplaceDefined=dbr is not None,
        additionalSecretOutputs=list(opts.get("additionalSecretOutputs") or []),
        aliases=list(opts.get("aliases") or []),
        customTimeouts=pb.AnalyzerResourceOptions.CustomTimeouts(
            create=float(ct.get("create", 0)), update=float(ct.get("update", 0)),
            delete=float(ct.get("delete", 0))),
        parent=(resource.get("parent") or "") if with_parent else "",
    )


def _provider(resource: Mapping[str, Any]) -> pb.AnalyzerProviderResource | None:
    prov = resource.get("provider")
    if not prov:
        return None
    return pb.AnalyzerProviderResource(type=prov["type"], name=prov["name"], urn=prov["urn"],
                                       properties=_struct(prov.get("properties")))


def _urn(resource: Mapping[str, Any]) -> str:
    if resource.get("urn"):
        return resource["urn"]
    return f"urn:pulumi:dev::test-project::{resource['type']}::{resource['name']}"


def analyze_request(resource: Mapping[str, Any]) -> pb.AnalyzeRequest:
    """The engine's AnalyzeRequest for one resource (properties = checked inputs)."""
    req = pb.AnalyzeRequest(type=resource["type"], name=resource["name"], urn=_urn(resource),
                            properties=_struct(resource.get("properties")),
                            options=_options(resource, with_parent=True))
    prov = _provider(resource)
    if prov is not None:
        req.provider.CopyFrom(prov)
    return req


def stack_resource(resource: Mapping[str, Any]) -> pb.AnalyzerResource:
    """The engine's AnalyzerResource for AnalyzeStack (properties = outputs)."""
    props = resource.get("outputs")
    if props is None:
        props = resource.get("properties")
    res = pb.AnalyzerResource(
        type=resource["type"], name=resource["name"], urn=_urn(resource),
        properties=_struct(props), options=_options(resource, with_parent=False),
        parent=resource.get("parent") or "",
        dependencies=list(resource.get("dependencies") or []),
    )
    for key, urns in (resource.get("propertyDependencies") or {}).items():
        if urns:
            res.propertyDependencies[key].CopyFrom(pb.AnalyzerPropertyDependencies(urns=urns))
    prov = _provider(resource)
    if prov is not None:
        res.provider.CopyFrom(prov)
    return res


def make_resource(type_: str, name: str, properties: Mapping[str, Any] | None = None, *,
                  outputs: Mapping[str, Any] | None = None, project: str = "test-project",
                  stack: str = "dev", protect: bool = False, parent: str = "",
                  provider: Mapping[str, Any] | None = None,
                  dependencies: Iterable[str] = (),
                  property_dependencies: Mapping[str, list[str]] | None = None,
                  urn: str | None = None) -> dict[str, Any]:
    """A resource dict in capture shape, for hand-built cases (outputs default to inputs)."""
    props = dict(properties or {})
    return {
        "type": type_, "name": name,
        "urn": urn or f"urn:pulumi:{stack}::{project}::{type_}::{name}",
        "id": "", "custom": True, "external": False, "parent": parent, "protect": protect,
        "dependencies": list(dependencies),
        "propertyDependencies": dict(property_dependencies or {}),
        "inputs": props, "properties": props,
        "outputs": dict(outputs) if outputs is not None else dict(props),
        "provider": dict(provider) if provider else None, "providerRef": "",
        "options": {"ignoreChanges": [], "deleteBeforeReplace": None,
                    "additionalSecretOutputs": [], "aliases": [],
                    "customTimeouts": {"create": 0.0, "update": 0.0, "delete": 0.0}},
    }


# ------------------------------------------------------------------------------------------
# The client.


class AnalyzerClient:
    """Typed wrapper over ``AnalyzerStub``; returns plain dataclasses."""

    def __init__(self, channel: grpc.Channel, *, pack_version: str = "",
                 timeout: float = 60.0) -> None:
        self.stub = analyzer_pb2_grpc.AnalyzerStub(channel)
        self.pack_version = pack_version
        self.timeout = timeout
        self._info: AnalyzerInfo | None = None

    def configure_stack(self, project: str, stack: str, organization: str = "organization",
                        dry_run: bool = True, config: Mapping[str, str] | None = None,
                        secret_keys: Iterable[str] = (),
                        tags: Mapping[str, str] | None = None) -> None:
        req = pb.AnalyzerStackConfigureRequest(
            stack=stack, project=project, organization=organization, dry_run=dry_run,
            config=dict(config or {}), config_secret_keys=list(secret_keys),
            tags=dict(tags or {}))
        self.stub.ConfigureStack(req, timeout=self.timeout)

    def get_analyzer_info(self) -> AnalyzerInfo:
        resp = self.stub.GetAnalyzerInfo(empty_pb2.Empty(), timeout=self.timeout)
        policies = []
        for p in resp.policies:
            fw = p.framework
            policies.append(PolicyInfo(
                name=p.name, description=p.description,
                enforcement_level=_PB_TO_LEVEL[p.enforcementLevel],
                severity=_PB_TO_SEVERITY.get(p.severity, ""),
                policy_type=_PB_TO_POLICY_TYPE.get(p.policy_type, ""),
                display_name=p.displayName,
                config_schema=json_format.MessageToDict(p.configSchema.properties),
                required=tuple(p.configSchema.required), tags=tuple(p.tags),
                framework={k: v for k, v in (("name", fw.name), ("version", fw.version),
                                             ("reference", fw.reference),
                                             ("specification", fw.specification)) if v},
                remediation_steps=p.remediation_steps, url=p.url,
            ))
        policies.sort(key=lambda p: p.name)  # the CLI sorts by name
        initial = {}
        for k, v in resp.initialConfig.items():
            entry = json_format.MessageToDict(v.properties)
            entry["enforcementLevel"] = _PB_TO_LEVEL[v.enforcementLevel]
            initial[k] = entry
        self._info = AnalyzerInfo(
            name=resp.name, version=self.pack_version or resp.version,
            display_name=resp.displayName, description=resp.description,
            supports_config=resp.supportsConfig, policies=tuple(policies),
            initial_config=initial)
        return self._info

    def configure(self, config: Mapping[str, Any] | str | os.PathLike[str] | None = None,
                  ) -> dict[str, PolicyConfig]:
        """Send Configure as ``pulumi ... --policy-pack-config`` would (dict or JSON file)."""
        if isinstance(config, (str, os.PathLike)):
            text = Path(config).read_text()
            config = json.loads(text) if text.strip() else None
        info = self._info or self.get_analyzer_info()
        resolved = resolve_policy_config(info.policies, info.initial_config, config)
        req = pb.ConfigureAnalyzerRequest()
        for name, cfg in resolved.items():
            entry = req.policyConfig[name]
            entry.enforcementLevel = _LEVEL_TO_PB[cfg.enforcement_level or "advisory"]
            if cfg.properties:
                entry.properties.update(cfg.properties)
        self.stub.Configure(req, timeout=self.timeout)
        return resolved

    def _diagnostics(self, resp: Any) -> list[Diagnostic]:
        return [Diagnostic(
            policy_name=d.policyName, enforcement_level=_PB_TO_LEVEL[d.enforcementLevel],
            severity=_PB_TO_SEVERITY.get(d.severity, ""), message=d.message, urn=d.urn,
            description=d.description, policy_pack_name=d.policyPackName,
            policy_pack_version=self.pack_version or d.policyPackVersion,
        ) for d in resp.diagnostics]

    def analyze(self, resource: Mapping[str, Any]) -> AnalyzeResult:
        resp = self.stub.Analyze(analyze_request(resource), timeout=self.timeout)
        return AnalyzeResult(self._diagnostics(resp),
                             [NotApplicable(n.policy_name, n.reason, _urn(resource))
                              for n in resp.not_applicable])

    def remediate(self, resource: Mapping[str, Any]) -> RemediateResult:
        resp = self.stub.Remediate(analyze_request(resource), timeout=self.timeout)
        rems = [{"policy_name": r.policyName, "description": r.description,
                 "properties": (json_format.MessageToDict(r.properties)
                                if r.HasField("properties") else None),
                 "diagnostic": r.diagnostic} for r in resp.remediations]
        return RemediateResult(rems, [NotApplicable(n.policy_name, n.reason, _urn(resource))
                                      for n in resp.not_applicable])

    def analyze_stack(self, resources: Iterable[Mapping[str, Any]]) -> AnalyzeResult:
        req = pb.AnalyzeStackRequest(resources=[stack_resource(r) for r in resources])
        resp = self.stub.AnalyzeStack(req, timeout=self.timeout)
        return AnalyzeResult(self._diagnostics(resp),
                             [NotApplicable(n.policy_name, n.reason) for n in resp.not_applicable])

    def run_stack(self, captured: Iterable[Mapping[str, Any]], *,
                  remediate: bool = True) -> StackRun:
        """Shorthand for :func:`run_stack` on this client."""
        return run_stack(self, captured, remediate=remediate)


def _root_stack_urn(resources: list[Mapping[str, Any]], captured: Any) -> str:
    for r in resources:
        if r["type"] == "pulumi:pulumi:Stack":
            return _urn(r)
    project = getattr(captured, "project", None)
    stack = getattr(captured, "stack", None)
    if not (project and stack) and resources:
        parts = _urn(resources[0]).split("::")
        stack, project = parts[0].removeprefix("urn:pulumi:"), parts[1]
    return f"urn:pulumi:{stack}::{project}::pulumi:pulumi:Stack::{project}-{stack}"


def run_stack(client: AnalyzerClient, captured: Iterable[Mapping[str, Any]], *,
              remediate: bool = True) -> StackRun:
    """Play one ``pulumi preview``/``up`` against the pack: per resource Remediate + Analyze
    (reads via ``.get()`` are not analyzed), then AnalyzeStack once over everything.

    Diagnostic URNs follow the engine: Analyze diagnostics carry the analyzed resource's URN;
    AnalyzeStack diagnostics keep their URN when it names a resource of the stack and otherwise
    get the root stack's URN. Unlike ``pulumi up`` (which stops at the first mandatory
    violation) every resource is analyzed; ``StackRun.blocked`` tells whether it would stop.
    """
    resources = [dict(r) for r in captured]
    run = StackRun()
    for res in resources:
        if res.get("external"):
            continue
        urn = _urn(res)
        if remediate:
            rr = client.remediate(res)
            for rem in rr.remediations:
                if rem["diagnostic"]:
                    run.diagnostics.append(Diagnostic(
                        rem["policy_name"], "advisory", "", rem["diagnostic"], urn,
                        rem["description"], "", client.pack_version, "remediate"))
                elif rem["properties"] is not None:
                    res["properties"] = rem["properties"]
                    # The provider then creates/updates from the remediated inputs, so the
                    # state AnalyzeStack sees carries them too.
                    res["outputs"] = {**(res.get("outputs") or {}), **rem["properties"]}
        ar = client.analyze(res)
        for d in ar.diagnostics:
            level = "mandatory" if d.enforcement_level == "remediate" else d.enforcement_level
            run.diagnostics.append(_replace(d, enforcement_level=level, urn=urn,
                                            stage="analyze"))
        run.not_applicable.extend(ar.not_applicable)
    sr = client.analyze_stack(resources)
    known = {_urn(r) for r in resources}
    root = _root_stack_urn(resources, captured)
    for d in sr.diagnostics:
        run.diagnostics.append(_replace(d, urn=d.urn if d.urn in known else root,
                                        stage="analyze_stack"))
    run.not_applicable.extend(sr.not_applicable)
    return run


def _replace(d: Diagnostic, **changes: Any) -> Diagnostic:
    from dataclasses import replace
    return replace(d, **changes)


# ------------------------------------------------------------------------------------------
# The process.


def _read_pack_yaml(pack_dir: Path) -> dict[str, Any]:
    path = pack_dir / "PulumiPolicy.yaml"
    if not path.is_file():
        raise PolicyPackError(f"no PulumiPolicy.yaml in {pack_dir}")
    return yaml.safe_load(path.read_text()) or {}


class PolicyPackProcess:
    """A policy pack launched as the Pulumi CLI launches a Python pack (see module docstring)."""

    def __init__(self, pack_dir: str | os.PathLike[str], *, env: Mapping[str, str] | None = None,
                 project: str = "dr-guard-test", stack: str = "dev",
                 organization: str = "organization", dry_run: bool = True,
                 config: Mapping[str, str] | None = None,
                 engine_address: str = "127.0.0.1:1", startup_timeout: float = 60.0) -> None:
        self.pack_dir = Path(pack_dir).resolve()
        self.env = dict(env or {})
        self.project, self.stack, self.organization = project, stack, organization
        self.dry_run = dry_run
        self.config = dict(config or {})
        self.engine_address = engine_address
        self.startup_timeout = startup_timeout
        meta = _read_pack_yaml(self.pack_dir)
        self.version = str(meta.get("version") or "")
        runtime = meta.get("runtime")
        self.runtime_options: dict[str, Any] = (
            dict(runtime.get("options") or {}) if isinstance(runtime, dict) else {})
        self.proc: subprocess.Popen[bytes] | None = None
        self.port: int | None = None
        self.channel: grpc.Channel | None = None
        self._out: list[str] = []
        self._threads: list[threading.Thread] = []

    @property
    def virtualenv(self) -> Path | None:
        """The pack's ``runtime.options.virtualenv`` (absolute), if it names one."""
        venv = self.runtime_options.get("virtualenv")
        if not venv:
            return None
        path = Path(str(venv).rstrip("/"))
        return path if path.is_absolute() else self.pack_dir / path

    @property
    def command(self) -> list[str]:
        """``pulumi-analyzer-policy-python <engine> .`` resolved: it runs the virtualenv's
        python when the pack names one (else ``python3``; here: this interpreter) with
        ``-u -m pulumi.policy`` and only its first two arguments."""
        python = sys.executable
        venv = self.virtualenv
        if venv is not None:
            if not (venv / "bin" / "python").is_file():
                raise PolicyPackError(f'"{venv}" doesn\'t appear to be a virtual environment')
            python = str(venv / "bin" / "python")
        return [python, "-u", "-m", "pulumi.policy", self.engine_address, "."]

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _environment(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("PULUMI_CONFIG", "PULUMI_PROJECT", "PULUMI_STACK",
                                    "PULUMI_DRY_RUN", "PULUMI_ORGANIZATION"))}
        if self.config:
            env["PULUMI_CONFIG"] = json.dumps(self.config)
        env.update({"PULUMI_ORGANIZATION": self.organization, "PULUMI_PROJECT": self.project,
                    "PULUMI_STACK": self.stack,
                    "PULUMI_DRY_RUN": "true" if self.dry_run else "false"})
        venv = self.virtualenv
        if venv is not None:
            env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
            env.pop("PYTHONHOME", None)
        env.update(self.env)
        return env

    def _pump(self, stream: Any, name: str, first_line: queue.Queue[str] | None) -> None:
        for raw in iter(stream.readline, b""):
            line = raw.decode(errors="replace")
            if first_line is not None:
                first_line.put(line)
                first_line = None
                continue
            self._out.append(f"[{name}] {line}")
        if first_line is not None:
            first_line.put("")

    def start(self) -> PolicyPackProcess:
        if self.proc is not None:
            return self
        self.proc = subprocess.Popen(self.command, cwd=self.pack_dir, env=self._environment(),
                                     stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE)
        first: queue.Queue[str] = queue.Queue()
        for stream, name, q in ((self.proc.stdout, "stdout", first),
                                (self.proc.stderr, "stderr", None)):
            t = threading.Thread(target=self._pump, args=(stream, name, q), daemon=True)
            t.start()
            self._threads.append(t)
        try:
            line = first.get(timeout=self.startup_timeout)
        except queue.Empty:
            self.stop()
            raise PolicyPackError(f"policy pack {self.pack_dir} printed no port within "
                                  f"{self.startup_timeout}s:\n{self.output()}") from None
        try:
            self.port = int(line.strip())
        except ValueError:
            self.stop()
            raise PolicyPackError(f"policy pack {self.pack_dir} failed to start "
                                  f"(first line {line!r}):\n{self.output()}") from None
        self.channel = grpc.insecure_channel(
            self.address, options=[("grpc.max_receive_message_length", _MAX_MESSAGE),
                                   ("grpc.max_send_message_length", _MAX_MESSAGE)])
        grpc.channel_ready_future(self.channel).result(timeout=self.startup_timeout)
        return self

    def client(self, timeout: float = 60.0, configure_stack: bool = True) -> AnalyzerClient:
        """A client on this process; sends ConfigureStack first, as the CLI does."""
        if self.channel is None:
            self.start()
        assert self.channel is not None
        client = AnalyzerClient(self.channel, pack_version=self.version, timeout=timeout)
        if configure_stack:
            client.configure_stack(self.project, self.stack, self.organization, self.dry_run,
                                   self.config)
        return client

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def output(self) -> str:
        """Everything the pack wrote after its port line (stdout and stderr)."""
        return "".join(self._out)

    def stop(self) -> None:
        if self.channel is not None:
            self.channel.close()
            self.channel = None
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.terminate()
                try:
                    self.proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(timeout=10)
            for t in self._threads:
                t.join(timeout=2)
            for stream in (self.proc.stdout, self.proc.stderr):
                if stream is not None:
                    stream.close()
            self.proc = None

    def __enter__(self) -> PolicyPackProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
