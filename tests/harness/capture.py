"""Capture what the Pulumi engine would send to a policy pack for a real Pulumi Python program.

The program runs under the Python SDK's mock runtime (``pulumi.runtime.mocks``), so type tokens,
property names (camelCase), secrets, unknowns, dependencies and options are produced by the SDK
and the provider SDKs themselves (pulumi_aws, pulumi_aws_native, pulumi_mongodbatlas). A
recording :class:`~pulumi.runtime.mocks.MockMonitor` then plays the engine's part:

- URNs as the engine builds them: ``urn:pulumi:<stack>::<project>::<parent-types$><type>::<name>``
  (the root stack is not part of the type chain);
- provider **Check** (what ``Analyze`` receives): the registered inputs plus autonamed names
  (``bucket``, ``identifier``, ... = ``<name>-<7 hex>``, deterministic here). Provider-side
  schema defaults are *not* added, so a property the program leaves unset is absent;
- provider **Create** (what ``AnalyzeStack`` receives as ``outputs``): checked inputs plus ``id``
  and ``arn``; during preview (``preview=True``) ``id``/``arn`` are the unknown sentinel and the
  SDK sees the resource ID as unknown, so dependents send unknowns (e.g. a
  ``BucketVersioning(bucket=b.id)`` sends ``bucket`` = :data:`~tests.harness.wire.UNKNOWN` and
  keeps ``propertyDependencies["bucket"] == [<bucket urn>]``); secret inputs stay secret;
- **default providers** (``pulumi:providers:aws::default_7_51_1``), created before the first
  resource that needs one, with inputs = the package's stack config + ``version``; explicit
  providers are registered by the program. Provider IDs are unknown during preview.

Each program runs in a fresh subprocess (``python -m tests.harness.capture``), so any number of
programs can be captured from one pytest process.

API::

    capture(program, *, preview=True, stack="dev", project=None, config=None,
            secrets=(), organization="organization", timeout=120) -> Capture

``program`` is a path to a program file or directory (``examples/dr-ready-stack``; project name
from its ``Pulumi.yaml``), a ``"package.module:function"`` string, or a module-level function
(imported by name in the subprocess; the function body is the program). ``config`` keys without
a namespace get the project's (``{"dbPassword": "x"}`` -> ``<project>:dbPassword``); keys in
``secrets`` are secret config. Plain config in ``Pulumi.yaml`` / ``Pulumi.<stack>.yaml`` next to
the program applies first; ``aws:region`` / ``aws-native:region`` default to ``us-east-1``.

:class:`Capture` holds ``resources`` (registration order, the stack first) as plain dicts::

    {"type", "name", "urn", "id", "custom", "external", "parent", "protect",
     "dependencies": [urn], "propertyDependencies": {prop: [urn]},
     "inputs":     wire dict the SDK registered (RegisterResourceRequest.object),
     "properties": wire dict the engine sends to Analyze (checked inputs),
     "outputs":    wire dict the engine sends to AnalyzeStack (state),
     "provider":   {"type", "name", "urn", "properties"} | None, "providerRef": "urn::id",
     "options":    {"ignoreChanges", "deleteBeforeReplace", "additionalSecretOutputs",
                    "aliases", "customTimeouts": {"create", "update", "delete"}}}

Helpers: ``Capture.get(name, type=None)``, ``Capture.of_type(type)``, ``Capture.by_urn(urn)``,
``Capture.stack_urn``; ``Capture.to_json()`` / ``Capture.from_json()``. Wire values: see
:mod:`tests.harness.wire`.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tests.harness.wire import UNKNOWN, plain, secret, strip_resource_refs

REPO_ROOT = Path(__file__).resolve().parents[2]
ACCOUNT_ID = "123456789012"
DEFAULT_REGION = "us-east-1"

# Properties a provider's Check fills with an autoname when unset (and no *Prefix is set).
AUTONAME: dict[str, tuple[str, str | None, bool]] = {
    # type: (property, prefix property, lowercase)
    "aws:s3/bucket:Bucket": ("bucket", "bucketPrefix", True),
    "aws:s3/bucketV2:BucketV2": ("bucket", "bucketPrefix", True),
    "aws:rds/instance:Instance": ("identifier", "identifierPrefix", True),
    "aws:rds/cluster:Cluster": ("clusterIdentifier", "clusterIdentifierPrefix", True),
    "aws:rds/clusterInstance:ClusterInstance": ("identifier", "identifierPrefix", True),
    "aws:cloudtrail/trail:Trail": ("name", None, False),
    "aws:sns/topic:Topic": ("name", "namePrefix", False),
    "aws:cloudwatch/eventRule:EventRule": ("name", "namePrefix", False),
    "aws:iam/role:Role": ("name", "namePrefix", False),
    "aws:dynamodb/table:Table": ("name", None, False),
    "aws:backup/vault:Vault": ("name", None, False),
    "aws-native:s3:Bucket": ("bucketName", None, True),
    "aws-native:rds:DbInstance": ("dbInstanceIdentifier", None, True),
    "aws-native:rds:DbCluster": ("dbClusterIdentifier", None, True),
}


class CaptureError(RuntimeError):
    """The program failed to run; the message carries the subprocess's stderr."""


@dataclass
class Capture:
    """Everything a program registered, in registration order (see module docstring)."""

    project: str
    stack: str
    preview: bool
    program: str
    resources: list[dict[str, Any]] = field(default_factory=list)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.resources)

    def __len__(self) -> int:
        return len(self.resources)

    @property
    def stack_urn(self) -> str:
        return f"urn:pulumi:{self.stack}::{self.project}::pulumi:pulumi:Stack::" \
               f"{self.project}-{self.stack}"

    def of_type(self, type_: str) -> list[dict[str, Any]]:
        return [r for r in self.resources if r["type"] == type_]

    def by_urn(self, urn: str) -> dict[str, Any]:
        for r in self.resources:
            if r["urn"] == urn:
                return r
        raise KeyError(urn)

    def get(self, name: str, type_: str | None = None) -> dict[str, Any]:
        """The one resource with this logical name (and type, if given)."""
        found = [r for r in self.resources
                 if r["name"] == name and (type_ is None or r["type"] == type_)]
        if len(found) != 1:
            names = sorted(f"{r['type']}::{r['name']}" for r in self.resources)
            raise KeyError(f"{len(found)} resources named {name!r} (type={type_}); have {names}")
        return found[0]

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Capture:
        return cls(**json.loads(text))


# ------------------------------------------------------------------------------------------
# Parent side: run a capture in a subprocess.


def _program_spec(program: str | os.PathLike[str] | Callable[..., Any]) -> tuple[str, Path]:
    """Normalise ``program`` into a spec string and the working directory for the run."""
    if callable(program):
        module, qualname = program.__module__, program.__qualname__
        if "<" in qualname or module == "__main__":
            raise ValueError(f"{program!r} must be a module-level function (imported by name)")
        return f"{module}:{qualname}", REPO_ROOT
    text = os.fspath(program)
    if re.fullmatch(r"[\w.]+:[\w.]+", text) and not Path(text).exists():
        return text, REPO_ROOT
    path = Path(text)
    if not path.is_absolute():
        path = (REPO_ROOT / path) if not path.exists() else path.resolve()
    if path.is_dir():
        path = path / "__main__.py"
    if not path.is_file():
        raise FileNotFoundError(f"no Pulumi program at {path}")
    return str(path), path.parent


def _project_name(workdir: Path, spec: str) -> str:
    pulumi_yaml = workdir / "Pulumi.yaml"
    if ":" not in Path(spec).name and pulumi_yaml.is_file():
        for line in pulumi_yaml.read_text().splitlines():
            m = re.match(r"^name:\s*['\"]?([^'\"#\s]+)", line)
            if m:
                return m.group(1)
    return "test-project"


def _file_config(workdir: Path, project: str, stack: str) -> dict[str, str]:
    """Plain config from ``Pulumi.yaml`` (project defaults) and ``Pulumi.<stack>.yaml``;
    ``secure:`` values cannot be decrypted here and are skipped (pass them as ``config``)."""
    import yaml

    result: dict[str, str] = {}
    for name in ("Pulumi.yaml", f"Pulumi.{stack}.yaml"):
        path = workdir / name
        if not path.is_file():
            continue
        entries = (yaml.safe_load(path.read_text()) or {}).get("config") or {}
        for key, value in entries.items():
            if isinstance(value, dict):
                if "secure" in value:
                    continue
                value = value.get("value", value.get("default"))
            if value is None:
                continue
            full = key if ":" in key else f"{project}:{key}"
            result[full] = value if isinstance(value, str) else json.dumps(value)
    return result


def capture(
    program: str | os.PathLike[str] | Callable[..., Any],
    *,
    preview: bool = True,
    stack: str = "dev",
    project: str | None = None,
    config: Mapping[str, str] | None = None,
    secrets: tuple[str, ...] | list[str] = (),
    organization: str = "organization",
    timeout: float = 120,
) -> Capture:
    """Run ``program`` in a fresh subprocess under the mock engine and return what it registered."""
    spec, workdir = _program_spec(program)
    project = project or _project_name(workdir, spec)

    def qualify(key: str) -> str:
        return key if ":" in key else f"{project}:{key}"

    full_config = {"aws:region": DEFAULT_REGION, "aws-native:region": DEFAULT_REGION}
    full_config.update(_file_config(workdir, project, stack))
    full_config.update({qualify(k): str(v) for k, v in (config or {}).items()})
    request = {
        "program": spec,
        "workdir": str(workdir),
        "project": project,
        "stack": stack,
        "preview": preview,
        "organization": organization,
        "config": full_config,
        "secret_keys": [qualify(k) for k in secrets],
    }
    with tempfile.TemporaryDirectory(prefix="drguard-capture-") as tmp:
        req_path, out_path = Path(tmp, "request.json"), Path(tmp, "capture.json")
        req_path.write_text(json.dumps(request))
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            [str(REPO_ROOT)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
        for key in ("PULUMI_CONFIG", "PULUMI_PROJECT", "PULUMI_STACK", "PULUMI_DRY_RUN"):
            env.pop(key, None)
        proc = subprocess.run(
            [sys.executable, "-m", "tests.harness.capture", str(req_path), str(out_path)],
            cwd=workdir, env=env, capture_output=True, text=True, timeout=timeout,
        )
        if proc.returncode != 0 or not out_path.is_file():
            raise CaptureError(
                f"capturing {spec} (preview={preview}) failed with exit code "
                f"{proc.returncode}:\n{proc.stderr[-8000:]}\n{proc.stdout[-2000:]}")
        return Capture.from_json(out_path.read_text())


# ------------------------------------------------------------------------------------------
# Child side: the recording mock engine.


def _autoname(name: str, urn: str, lower: bool) -> str:
    suffix = hashlib.sha256(urn.encode()).hexdigest()[:7]
    value = f"{name}-{suffix}"
    return value.lower() if lower else value


def _duration_seconds(text: str) -> float:
    """Parse a Go duration such as ``"1h30m"`` / ``"45s"`` (the engine's customTimeouts)."""
    if not text:
        return 0.0
    units = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
    total = 0.0
    for number, unit in re.findall(r"([\d.]+)(ms|h|m|s)", text):
        total += float(number) * units[unit]
    return total


# Computed outputs a provider returns on create (unknown during preview), by type.
_S3 = "arn:aws:s3:::{physical}"
COMPUTED: dict[str, dict[str, str]] = {
    "aws:s3/bucket:Bucket": {"arn": _S3},
    "aws:s3/bucketV2:BucketV2": {"arn": _S3},
    "aws:rds/instance:Instance": {"arn": "arn:aws:rds:{region}:{account}:db:{physical}"},
    "aws:rds/clusterInstance:ClusterInstance": {
        "arn": "arn:aws:rds:{region}:{account}:db:{physical}"},
    "aws:rds/cluster:Cluster": {"arn": "arn:aws:rds:{region}:{account}:cluster:{physical}"},
    "aws:cloudtrail/trail:Trail": {"arn": "arn:aws:cloudtrail:{region}:{account}:trail/{physical}"},
    "aws:sns/topic:Topic": {"arn": "arn:aws:sns:{region}:{account}:{physical}"},
    "aws:cloudwatch/eventRule:EventRule": {
        "arn": "arn:aws:events:{region}:{account}:rule/{physical}"},
    "aws:iam/role:Role": {"arn": "arn:aws:iam::{account}:role/{physical}"},
    "aws:dynamodb/table:Table": {"arn": "arn:aws:dynamodb:{region}:{account}:table/{physical}"},
    "aws:backup/vault:Vault": {"arn": "arn:aws:backup:{region}:{account}:backup-vault:{physical}"},
    "aws:backup/plan:Plan": {"arn": "arn:aws:backup:{region}:{account}:backup-plan:{id}"},
    "aws-native:s3:Bucket": {"arn": _S3},
    "aws-native:rds:DbInstance": {
        "dbInstanceArn": "arn:aws:rds:{region}:{account}:db:{physical}"},
    "aws-native:rds:DbCluster": {
        "dbClusterArn": "arn:aws:rds:{region}:{account}:cluster:{physical}"},
    "aws:kms/key:Key": {"arn": "arn:aws:kms:{region}:{account}:key/{id}", "keyId": "{id}"},
    "aws:kms/replicaKey:ReplicaKey": {"arn": "arn:aws:kms:{region}:{account}:key/{id}",
                                      "keyId": "{id}"},
}


def _child_main(request_path: str, out_path: str) -> None:  # pragma: no cover - subprocess
    import asyncio
    import logging
    import runpy

    from google.protobuf import json_format, struct_pb2
    from pulumi.runtime import mocks, settings
    from pulumi.runtime import stack as stack_mod
    from pulumi.runtime.config import set_all_config
    from pulumi.runtime.proto import resource_pb2

    req = json.loads(Path(request_path).read_text())
    project, stack, preview = req["project"], req["stack"], bool(req["preview"])
    config: dict[str, str] = req["config"]

    def struct(d: dict[str, Any]) -> struct_pb2.Struct:
        s = struct_pb2.Struct()
        s.update(d)
        return s

    def package_of(type_: str) -> str:
        return type_.split(":", 1)[0]

    class EngineMocks(mocks.Mocks):
        """Invokes return fixed, plausible data; unknown invokes return {}."""

        def call(self, args: mocks.MockCallArgs) -> dict:  # type: ignore[override]
            region = config.get("aws:region", DEFAULT_REGION)
            canned: dict[str, dict[str, Any]] = {
                "aws:index/getCallerIdentity:getCallerIdentity": {
                    "accountId": ACCOUNT_ID, "arn": f"arn:aws:iam::{ACCOUNT_ID}:user/ci",
                    "userId": "AIDATEST", "id": ACCOUNT_ID},
                "aws:index/getRegion:getRegion": {"name": region, "region": region,
                                                  "id": region, "endpoint": "", "description": ""},
                "aws:index/getPartition:getPartition": {
                    "partition": "aws", "dnsSuffix": "amazonaws.com", "id": "aws",
                    "reverseDnsPrefix": "com.amazonaws"},
                "aws-native:index:getAccountId": {"accountId": ACCOUNT_ID},
                "aws-native:index:getRegion": {"region": region},
            }
            return canned.get(args.token, {})

        def new_resource(self, args: mocks.MockResourceArgs) -> tuple[str | None, dict]:
            return args.resource_id or f"{args.name}-id", dict(args.inputs)

    class RecordingMonitor(mocks.MockMonitor):
        def __init__(self) -> None:
            super().__init__(EngineMocks())
            self.lock = threading.Lock()
            self.records: list[dict[str, Any]] = []
            self.by_urn: dict[str, dict[str, Any]] = {}
            self.default_providers: dict[tuple[str, str], str] = {}
            self.counter = 0

        def make_urn(self, parent: str, type_: str, name: str) -> str:
            qualified = type_
            if parent:
                parent_type = parent.split("::")[2]
                if parent_type != "pulumi:pulumi:Stack":
                    qualified = f"{parent_type}${type_}"
            return f"urn:pulumi:{stack}::{project}::{qualified}::{name}"

        def _new_id(self, urn: str) -> str:
            return "" if preview else hashlib.sha256(urn.encode()).hexdigest()[:12]

        def _default_provider(self, pkg: str, version: str) -> str:
            """Register (once) the engine's default provider for a package; return its ref."""
            key = (pkg, version)
            if key in self.default_providers:
                return self.default_providers[key]
            name = "default_" + version.replace(".", "_").replace("-", "_") if version \
                else "default"
            type_ = f"pulumi:providers:{pkg}"
            urn = self.make_urn("", type_, name)
            props: dict[str, Any] = {k.split(":", 1)[1]: v for k, v in config.items()
                                     if k.split(":", 1)[0] == pkg}
            if version:
                props["version"] = version
            pid = UNKNOWN if preview else self._new_id(urn)
            self._record({
                "type": type_, "name": name, "urn": urn, "id": pid, "custom": True,
                "external": False, "parent": "", "protect": False, "dependencies": [],
                "propertyDependencies": {}, "inputs": props, "properties": props,
                "outputs": dict(props), "providerRef": "", "options": _options(None),
            })
            ref = f"{urn}::{pid}"
            self.default_providers[key] = ref
            return ref

        def _record(self, rec: dict[str, Any]) -> None:
            self.records.append(rec)
            self.by_urn[rec["urn"]] = rec

        def _region(self, provider_ref: str, props: dict[str, Any]) -> str:
            if isinstance(props.get("region"), str) and props["region"] != UNKNOWN:
                return props["region"]
            prov = self.by_urn.get(provider_ref.rsplit("::", 1)[0]) if provider_ref else None
            if prov and isinstance(prov["properties"].get("region"), str):
                return prov["properties"]["region"]
            return config.get("aws:region", DEFAULT_REGION)

        def RegisterResource(self, request: Any) -> Any:  # noqa: N802 - gRPC name
            urn = self.make_urn(request.parent, request.type, request.name)
            inputs = strip_resource_refs(json_format.MessageToDict(request.object))
            type_ = request.type
            is_provider = type_.startswith("pulumi:providers:")
            with self.lock:
                provider_ref = request.provider
                if (request.custom and not provider_ref and not is_provider
                        and package_of(type_) != "pulumi"):
                    provider_ref = self._default_provider(package_of(type_), request.version)
                checked = dict(inputs)
                if is_provider and request.version:
                    checked["version"] = request.version
                auto = AUTONAME.get(type_)
                if auto and auto[0] not in checked and not (auto[1] and auto[1] in checked):
                    checked[auto[0]] = _autoname(request.name, urn, auto[2])
                rid = self._new_id(urn) if request.custom else ""
                outputs = dict(checked)
                if request.custom and not is_provider:
                    physical = checked.get(auto[0]) if auto else None
                    if not isinstance(physical, str):
                        physical = request.name
                    region = self._region(provider_ref, plain(checked))
                    if type_ in ("aws:s3/bucket:Bucket", "aws:s3/bucketV2:BucketV2",
                                 "aws-native:s3:Bucket") and not preview:
                        rid = physical if physical != UNKNOWN else rid
                    if type_.startswith("aws:"):
                        outputs["id"] = rid or UNKNOWN
                        outputs.setdefault("region", region)
                    for key, template in COMPUTED.get(type_, {}).items():
                        outputs.setdefault(key, UNKNOWN if preview else template.format(
                            physical=physical, region=region, account=ACCOUNT_ID, id=rid))
                for key in request.additionalSecretOutputs:
                    if key in outputs and not (isinstance(outputs[key], dict)
                                               and "value" in outputs[key]):
                        outputs[key] = secret(outputs[key])
                prop_deps = {k: list(v.urns) for k, v in request.propertyDependencies.items()}
                self._record({
                    "type": type_, "name": request.name, "urn": urn,
                    "id": (rid or UNKNOWN) if request.custom else "",
                    "custom": bool(request.custom), "external": False,
                    "parent": request.parent, "protect": bool(request.protect),
                    "dependencies": list(request.dependencies),
                    "propertyDependencies": prop_deps,
                    "inputs": inputs, "properties": checked, "outputs": outputs,
                    "providerRef": provider_ref if request.custom else "",
                    "options": _options(request),
                })
                self.resources[urn] = mocks.MockMonitor.ResourceRegistration(
                    urn, rid, plain(outputs))
            # The SDK resolves the resource's outputs from this response: unknown sentinels
            # and an empty id read as unknown during preview, secrets stay secret.
            response_obj = {k: v for k, v in outputs.items() if k != "id"}
            return resource_pb2.RegisterResourceResponse(urn=urn, id=rid,
                                                         object=struct(response_obj))

        def RegisterResourceOutputs(self, request: Any) -> Any:  # noqa: N802
            outs = json_format.MessageToDict(request.outputs)
            with self.lock:
                rec = self.by_urn.get(request.urn)
                if rec is not None:
                    rec["outputs"] = outs
            return super().RegisterResourceOutputs(request)

        def ReadResource(self, request: Any) -> Any:  # noqa: N802
            urn = self.make_urn(request.parent, request.type, request.name)
            props = json_format.MessageToDict(request.properties)
            with self.lock:
                ref = request.provider
                if not ref and package_of(request.type) != "pulumi":
                    ref = self._default_provider(package_of(request.type), request.version)
                self._record({
                    "type": request.type, "name": request.name, "urn": urn, "id": request.id,
                    "custom": True, "external": True, "parent": request.parent,
                    "protect": False, "dependencies": list(request.dependencies),
                    "propertyDependencies": {}, "inputs": props, "properties": props,
                    "outputs": dict(props), "providerRef": ref,
                    "options": _options(None),
                })
            return resource_pb2.ReadResourceResponse(urn=urn, properties=struct(props))

    def _options(request: Any) -> dict[str, Any]:
        if request is None:
            return {"ignoreChanges": [], "deleteBeforeReplace": None,
                    "additionalSecretOutputs": [], "aliases": [],
                    "customTimeouts": {"create": 0.0, "update": 0.0, "delete": 0.0}}
        ct = request.customTimeouts
        return {
            "ignoreChanges": list(request.ignoreChanges),
            "deleteBeforeReplace": (request.deleteBeforeReplace
                                    if request.deleteBeforeReplaceDefined else None),
            "additionalSecretOutputs": list(request.additionalSecretOutputs),
            "aliases": list(request.aliasURNs),
            "customTimeouts": {"create": _duration_seconds(ct.create),
                               "update": _duration_seconds(ct.update),
                               "delete": _duration_seconds(ct.delete)},
        }

    monitor = RecordingMonitor()
    # The same wiring as pulumi.runtime.set_mocks, minus its eagerly registered Stack: the
    # program runs inside run_in_stack exactly as the Python language host runs it.
    features = set(monitor.GetDeploymentInfo(None).supportedFeatures)
    settings.configure(mocks.MockSettings(
        monitor=monitor, monitor_features=features,
        engine=mocks.MockEngine(logging.getLogger("pulumi-program")),
        project=project, stack=stack, dry_run=preview,
        organization=req["organization"], callbacks=None))
    settings.ROOT.set(None)
    set_all_config(config, req["secret_keys"])

    spec: str = req["program"]
    if Path(spec).is_file():
        sys.path.insert(0, str(Path(spec).parent))

        def program() -> None:
            runpy.run_path(spec, run_name="__main__")
    else:
        module_name, _, qualname = spec.partition(":")
        target: Any = importlib.import_module(module_name)
        for part in qualname.split("."):
            target = getattr(target, part)
        program = target

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    loop.run_until_complete(stack_mod.run_in_stack(program))
    loop.close()

    with monitor.lock:
        records = list(monitor.records)
        by_urn = dict(monitor.by_urn)
    for rec in records:
        ref = rec.pop("providerRef")
        prov = by_urn.get(ref.rsplit("::", 1)[0]) if ref else None
        rec["providerRef"] = ref
        rec["provider"] = None if prov is None else {
            "type": prov["type"], "name": prov["name"], "urn": prov["urn"],
            "properties": prov["properties"]}
    result = Capture(project=project, stack=stack, preview=preview, program=spec,
                     resources=records)
    Path(out_path).write_text(result.to_json())


if __name__ == "__main__":  # pragma: no cover - subprocess entry point
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("request")
    parser.add_argument("out")
    ns = parser.parse_args()
    _child_main(ns.request, ns.out)
