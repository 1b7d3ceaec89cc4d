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

Hostile values are normal input: a value nested deeper than MAX_VALUE_DEPTH, an integer too
long to convert, a non-finite number or a secret object where a mapping belongs is read as
unknown (the checks that need it report `error`) and counted in the run's
`skipped["values"]`; nothing raises. Every value that was a secret in the export (ciphertext,
plaintext under the secret signature, outputs named in `additionalSecretOutputs`) is
redacted from every finding (names and identifiers included) before it can reach a report.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
import re
import subprocess
from collections.abc import Callable, Iterable
from dataclasses import field
from functools import cached_property
from pathlib import Path
from typing import Any, Protocol

import msgspec

from drguard import inputs, registry
from drguard.errors import ConfigError
from drguard.evaluate import STATUS as _STATUS
from drguard.evaluate import finding
from drguard.facts import UNKNOWN
from drguard.findings import Finding
from drguard.records import record
from drguard.redact import Redactor as _Redactor
from drguard.redact import redact, redact_with, remember
from drguard.redact import scrub as _scrub
from drguard.settings import Settings
from drguard.verdict import Remediation, Verdict
from policypack.wire import SPECIAL_SECRET_SIG, SPECIAL_SIG_KEY, UNKNOWN_STRING_VALUE

log = logging.getLogger(__name__)

SUPPORTED_VERSIONS = (1, 2, 3)
SIG_KEY, SECRET_SIG = SPECIAL_SIG_KEY, SPECIAL_SECRET_SIG
# Signatures the policy SDK does not name (pulumi/sdk/go/common/resource/properties.go).
RESOURCE_SIG = "5cf8f73096256a8f31e491e813e4eb8e"
INTEGER_SIG = "7eb310220ed6211bd6f147f2a75bfbb6"
UNKNOWN_VALUE = UNKNOWN_STRING_VALUE  # the engine's unknown sentinel
STATE_CONTROLS = frozenset(c.id for c in registry.for_source("state"))
MAX_VALUE_DEPTH = 64  # deeper property values are unknown (no real resource nests that far)
# nesting and integers are handled by loads() (too deep or too long -> unknown); only the
# kind of file and its size are the reader's
EXPORT_LIMITS = inputs.Limits(max_bytes=1 << 30)
_PARSE_DEPTH = 400  # nesting handed to the JSON parser at once (its recursion limit is ~1000)
# What a sub-value too deep for the parser is replaced with before parsing (then unknown).
_TOO_DEEP = "\u0000dr-guard: nested too deeply"
REDACTED = "[secret]"
MIN_REDACTED_LEN = 3  # shorter secrets are redacted where they are a whole value only


class _TooLongInt:
    """An integer literal of more digits than Python converts (4,300)."""


class AllUnknown(dict[str, Any]):
    """Properties of a resource whose whole `outputs`/`inputs` is an encrypted secret: every
    property reads as the unknown sentinel (so checks report `error`, never `pass`)."""

    def get(self, key: Any, default: Any = None) -> Any:
        return UNKNOWN_VALUE

    def __missing__(self, key: Any) -> Any:
        return UNKNOWN_VALUE

    def __contains__(self, key: object) -> bool:
        return True


class StateError(ConfigError):
    """The export cannot be read: the message names the file and what is wrong."""


@record(slots=True)  # one per resource of the export: no __dict__ each (memory)
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


@record
class Export:
    """A stack export as read: its resources and what could not be read of it."""

    path: str
    version: int
    resources: list[StateResource]
    manifest: dict[str, Any] = field(default_factory=dict)
    pending_operations: int = 0
    # Plaintext of every secret value (strings, and numbers as text), redacted from findings.
    secrets: set[str] = field(default_factory=set)
    # Values read as unknown because they could not be read (too deep, too large, ...).
    unreadable: int = 0
    # Resources the checks failed on (left out of the judgement; see evaluate).
    unjudged: int = 0
    skipped_detail: list[dict[str, str]] = field(default_factory=list)

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
        providers: dict[str, Any] = {}  # provider reference -> its outputs (one look-up each)
        for r in self.resources:
            if r.delete:  # an old copy awaiting deletion after a replacement
                continue
            provider = r.provider
            if provider:
                if provider in providers:
                    provider_props = providers[provider]
                else:
                    provider_props = providers[provider] = self.provider_props(r)
            else:
                provider_props = None
            out.append(Res(r.type, r.urn, r.name, r.props, r.protect, provider_props,
                           r.property_deps))
        return out


# ---- reading ----------------------------------------------------------------------------

class Decoder:
    """Decodes property values and remembers what it saw: secret plaintexts (for redaction)
    and how many values could not be read."""

    def __init__(self) -> None:
        self.secrets: set[str] = set()
        self.unreadable = 0

    def _unknown(self) -> str:
        self.unreadable += 1
        return UNKNOWN_VALUE

    def remember(self, value: Any, depth: int = 0) -> None:
        """Every leaf of a secret value."""
        if depth > MAX_VALUE_DEPTH:
            return
        if isinstance(value, str):
            if value and value != UNKNOWN_VALUE:
                self.secrets.add(value)
        elif isinstance(value, bool) or value is None:
            return
        elif isinstance(value, (int, float)):
            self.secrets.add(str(value))
        elif isinstance(value, dict):
            for v in value.values():
                self.remember(v, depth + 1)
        elif isinstance(value, list):
            for v in value:
                self.remember(v, depth + 1)

    def decode(self, value: Any, depth: int = 0) -> Any:
        """A state property value as plain data (encrypted secrets -> the unknown sentinel;
        unreadable values -> the unknown sentinel, counted)."""
        kind = type(value)
        if kind is str:
            return self._unknown() if value == _TOO_DEEP else value
        if kind is int or kind is bool or value is None:
            return value
        if depth > MAX_VALUE_DEPTH or kind is _TooLongInt:
            return self._unknown()
        if kind is float:
            return value if math.isfinite(value) else self._unknown()
        if isinstance(value, dict):
            sig = value.get(SIG_KEY)
            if sig == SECRET_SIG:
                plaintext = value.get("plaintext")
                if isinstance(plaintext, str):
                    try:
                        inner = loads(plaintext)
                    except ValueError:
                        self.secrets.add(plaintext)
                        return self._unknown()
                    out = self.decode(inner, depth + 1)
                    self.remember(out)
                    return out
                return UNKNOWN_VALUE  # ciphertext: not readable without the stack's secrets
            if sig == RESOURCE_SIG:
                ref = value.get("id") or value.get("urn")
                return ref if isinstance(ref, str) else UNKNOWN_VALUE
            if sig == INTEGER_SIG:
                raw = value.get("value")
                if isinstance(raw, str) and len(raw) <= 4000:
                    try:
                        return int(raw)
                    except ValueError:
                        pass
                return raw if isinstance(raw, (int, float)) and not isinstance(raw, bool) \
                    and math.isfinite(raw) else self._unknown()
            return {k: self.decode(v, depth + 1) for k, v in value.items()}
        if isinstance(value, list):
            return [self.decode(v, depth + 1) for v in value]
        return value


def decode(value: Any) -> Any:
    """A state property value as plain data (see Decoder.decode)."""
    return Decoder().decode(value)


def _parse_int(text: str) -> int | _TooLongInt:
    try:
        return int(text)
    except ValueError:
        return _TooLongInt()


_TOKENS = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]')


def _cap_depth(text: str, limit: int) -> str:
    """The JSON text with every array/object that starts deeper than `limit` replaced by the
    _TOO_DEEP string (a linear scan; used only when the parser ran out of stack)."""
    out: list[str] = []
    depth = 0
    last = 0
    skip_from = -1
    for m in _TOKENS.finditer(text):
        tok = m.group()
        if tok[0] == '"':
            continue
        if tok in "[{":
            depth += 1
            if depth == limit + 1 and skip_from < 0:
                skip_from = m.start()
        else:
            if depth == limit + 1 and skip_from >= 0:
                out.append(text[last:skip_from])
                out.append(json.dumps(_TOO_DEEP))
                last = m.end()
                skip_from = -1
            depth -= 1
    if skip_from >= 0:  # unbalanced: leave it to the parser to report
        return text
    out.append(text[last:])
    return "".join(out)


def loads(text: str) -> Any:
    """json.loads that reads what Pulumi can write and what it cannot: integers of any length
    (too long -> unknown) and nesting of any depth (too deep -> unknown). JSONDecodeError
    for text that is not JSON.

    msgspec reads first (the common case: faster and leaner than json.loads, integers of any
    length exact; see docs/performance.md); what it refuses (NaN/Infinity, numbers out of
    float range, lone surrogates, deep nesting, text that is not JSON) is read again by the
    stdlib path below, so the result, and the error message of a damaged file, are
    json.loads's."""
    try:
        return msgspec.json.decode(text)
    except (msgspec.DecodeError, RecursionError):
        pass
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        raise
    except (ValueError, RecursionError):
        pass
    try:
        return json.loads(text, parse_int=_parse_int)
    except json.JSONDecodeError:
        raise
    except RecursionError:
        return json.loads(_cap_depth(text, _PARSE_DEPTH), parse_int=_parse_int)


# ---- a lean read of the common shape ----------------------------------------------------
# `pulumi stack export` stores most resources' inputs as the same JSON as their outputs. The
# export is first read with its resources' `inputs`/`outputs` left as JSON text (msgspec.Raw,
# views of the file's text): each resource's inputs are decoded only when their text differs
# from its outputs', else the two keys share one decoded mapping, which is what decoding the
# same text twice gives (to the checks, the secrets found and the values counted unreadable).
# The whole document of decoded inputs is never built: the peak of the read is lower by
# about the inputs' share of the export. Anything else (a checkpoint file, a value msgspec
# refuses, a shape this schema does not describe) is read by loads() as before.

_U = msgspec.UNSET


class _LeanResource(msgspec.Struct):
    """The keys of a resource that _resource reads (others are not read: left out)."""

    urn: Any = _U
    type: Any = _U
    id: Any = _U
    custom: Any = _U
    inputs: msgspec.Raw | msgspec.UnsetType = _U
    outputs: msgspec.Raw | msgspec.UnsetType = _U
    propertyDependencies: Any = _U  # noqa: N815 - the export's key
    parent: Any = _U
    provider: Any = _U
    protect: Any = _U
    external: Any = _U
    delete: Any = _U
    pendingReplacement: Any = _U  # noqa: N815
    additionalSecretOutputs: Any = _U  # noqa: N815


class _LeanDeployment(msgspec.Struct):
    manifest: Any = _U
    resources: list[_LeanResource] | None | msgspec.UnsetType = _U
    pending_operations: Any = _U


class _LeanExport(msgspec.Struct):
    version: Any = _U
    deployment: _LeanDeployment | msgspec.UnsetType = _U
    checkpoint: Any = _U


_LEAN = msgspec.json.Decoder(_LeanExport)
_RESOURCE_KEYS = tuple(_LeanResource.__struct_fields__)


def _lean_loads(text: str) -> dict[str, Any] | None:
    """The export document as loads() reads it, by the lean read above; None when this
    export is not of the shape it reads (the caller uses loads())."""
    try:
        lean = _LEAN.decode(text)
    except (msgspec.DecodeError, RecursionError):
        return None
    dep = lean.deployment
    if lean.checkpoint is not _U or lean.version is _U or dep is _U:
        return None
    decode = msgspec.json.decode
    resources: list[dict[str, Any]] | None = None
    if isinstance(dep.resources, list):
        resources = []
        try:
            for r in dep.resources:
                raw = {k: v for k in _RESOURCE_KEYS if (v := getattr(r, k)) is not _U}
                outputs, inputs = raw.get("outputs"), raw.get("inputs")
                if outputs is not None:
                    raw["outputs"] = decode(outputs)
                if inputs is not None:
                    raw["inputs"] = raw["outputs"] if inputs == outputs else decode(inputs)
                resources.append(raw)
        except (msgspec.DecodeError, RecursionError):
            return None
    deployment: dict[str, Any] = {}
    for key in ("manifest", "resources", "pending_operations"):
        value = resources if key == "resources" and resources is not None \
            else getattr(dep, key)
        if value is not _U:
            deployment[key] = value
    return {"version": lean.version, "deployment": deployment}


# ---- a typed read of the common shape --------------------------------------------------
# The lean read's structs with the types _resource accepts: msgspec checks them as it reads
# (what does not match: the lean read above, whose _resource names what is wrong). A
# resource whose properties' text holds nothing the value walk (Decoder.decode) changes or
# counts is built from msgspec's values as they are: that walk would return an equal copy
# (see _walk_free). The others go through _resource as before.

class _TypedResource(msgspec.Struct):
    urn: str
    type: str
    id: str | None = None
    custom: bool | None = None
    inputs: msgspec.Raw | msgspec.UnsetType = _U
    outputs: msgspec.Raw | msgspec.UnsetType = _U
    propertyDependencies: dict[str, list[str]] | None = None  # noqa: N815
    parent: str | None = None
    provider: str | None = None
    protect: bool | None = None
    external: bool | None = None
    delete: bool | None = None
    pendingReplacement: bool | None = None  # noqa: N815
    additionalSecretOutputs: Any = _U  # noqa: N815


class _TypedDeployment(msgspec.Struct):
    manifest: dict[str, Any] | None = None
    resources: list[_TypedResource] | None = None
    pending_operations: list[Any] | None = None


class _TypedExport(msgspec.Struct):
    version: int
    deployment: _TypedDeployment
    checkpoint: msgspec.Raw | msgspec.UnsetType = _U


_SIG_BYTES = SIG_KEY.encode()
_NULL_RAW = msgspec.Raw(b"null")


def _walk_free(text: bytes) -> bool:
    """Whether Decoder.decode returns an equal copy of msgspec's value of this property text,
    remembering no secret and counting nothing unreadable: the text holds no signature key
    (secrets, resource references, big integers: the key can only be spelt literally or with
    a \\u escape), no \\u escape at all (which could spell it, or the NUL of the too-deep
    marker), and fewer than MAX_VALUE_DEPTH brackets (nothing nested past the walk's depth
    limit, counting brackets in strings too). msgspec reads no NaN, infinity, out-of-range
    number or integer too long for Python (the whole read is refused then), so every other
    value is one the walk keeps."""
    return _SIG_BYTES not in text and b"\\u" not in text \
        and text.count(b"{") + text.count(b"[") < MAX_VALUE_DEPTH


try:  # the same check in C over msgspec's Raw text, without a copy (auditor/_state_scan.c)
    from ._state_scan import plain as _plain_native
except ImportError:  # not built (no C compiler at install): the Python check on a copy
    _plain_native = None


def _plain(text: msgspec.Raw) -> bool:
    """_walk_free of a property's text as msgspec's Raw holds it."""
    if _plain_native is not None:
        return bool(_plain_native(text, _SIG_BYTES, MAX_VALUE_DEPTH))
    return _walk_free(bytes(text))


def _typed_parse(text: str | bytes, where: str) -> Export | None:
    """parse(loads(text), where) for an export of the common shape, by the typed read above;
    None where it is not of that shape (or anything is wrong: the caller's read says what)."""
    decode = msgspec.json.decode
    try:
        doc = decode(text, type=_TypedExport)
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError):
        return None
    version, dep = doc.version, doc.deployment
    if doc.checkpoint is not _U or type(version) is not int \
            or version not in SUPPORTED_VERSIONS:
        return None
    decoder = Decoder()
    resources: list[StateResource] = []
    try:
        for i, r in enumerate(dep.resources or ()):
            urn, type_ = r.urn, r.type
            if not type_ or not urn.startswith("urn:pulumi:") or urn.count("::") < 3:
                return None
            outputs = None if r.outputs is _U or r.outputs == _NULL_RAW else r.outputs
            inputs = None if r.inputs is _U or r.inputs == _NULL_RAW else r.inputs
            if (outputs is not None and (memoryview(outputs)[:1] != b"{" or not _plain(outputs))) \
                    or (inputs is not None and inputs != outputs
                        and (memoryview(inputs)[:1] != b"{" or not _plain(inputs))) \
                    or r.additionalSecretOutputs not in (_U, None):
                raw = {k: v for k in _RESOURCE_KEYS if (v := getattr(r, k)) is not _U
                       and v is not None and k not in ("inputs", "outputs")}
                if outputs is not None:
                    raw["outputs"] = decode(outputs)
                if inputs is not None:
                    raw["inputs"] = raw["outputs"] if inputs == outputs else decode(inputs)
                resources.append(_resource(i, raw, version, where, decoder))
                continue
            props: dict[str, Any] = decode(outputs) if outputs is not None else {}
            if inputs is not None and inputs != outputs:  # else _resource's inputs: {} or
                merged = decode(inputs)                   # the outputs' keys, in order
                if merged and (len(merged) != len(props) or list(merged) != list(props)):
                    props = {**merged, **props}
            deps = r.propertyDependencies
            resources.append(StateResource(
                urn=urn, type=type_, id=r.id or "", custom=bool(r.custom), props=props,
                protect=bool(r.protect), external=bool(r.external), delete=bool(r.delete),
                pending_replacement=bool(r.pendingReplacement), parent=r.parent or "",
                provider=r.provider or "", property_deps=deps if deps and version >= 3 else {}))
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError, StateError):
        return None
    return _export(where, version, resources, dep.manifest, dep.pending_operations, decoder)


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


def _props(raw: dict[str, Any], key: str, label: str, where: str,
           decoder: Decoder, shadow: dict[str, Any] | None = None) -> dict[str, Any]:
    """The decoded `inputs`/`outputs` mapping. `shadow`: the raw outputs, already decoded
    without an unreadable value, over which these inputs are merged: an input equal to its
    output is not decoded again (its value is the output's; decoding it would remember the
    same secrets), only its place kept (None), so the merged mapping is the same."""
    value = raw.get(key)
    if value is None:
        return {}
    if shadow is not None and type(value) is dict and SIG_KEY not in value:
        return {k: None if k in shadow and shadow[k] == v else decoder.decode(v, 1)
                for k, v in value.items()}
    decoded = decoder.decode(value)
    if isinstance(decoded, dict):
        return decoded
    if decoded == UNKNOWN_VALUE:  # the whole mapping is an encrypted (or unreadable) secret
        return AllUnknown()
    raise _fail(where, f"{label}: '{key}' must be an object")


def _resource(i: int, raw: Any, version: int, where: str,
              decoder: Decoder | None = None) -> StateResource:
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
    decoder = decoder or Decoder()
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
    unread = decoder.unreadable
    outputs = _props(raw, "outputs", label, where, decoder)
    raw_out = raw.get("outputs")
    shadow = raw_out if decoder.unreadable == unread and type(raw_out) is dict \
        and SIG_KEY not in raw_out else None
    inputs = _props(raw, "inputs", label, where, decoder, shadow)
    secret_keys = raw.get("additionalSecretOutputs")
    if isinstance(secret_keys, list):
        for k in secret_keys:
            if isinstance(k, str):
                decoder.remember(outputs.get(k) if not isinstance(outputs, AllUnknown) else None)
                decoder.remember(inputs.get(k) if not isinstance(inputs, AllUnknown) else None)
    if isinstance(outputs, AllUnknown) or (isinstance(inputs, AllUnknown) and not outputs):
        props: dict[str, Any] = AllUnknown()
    elif not inputs or list(inputs) == list(outputs):
        props = outputs  # what the merge below would copy: the same keys, in the same order
    else:
        props = {**inputs, **outputs}
    return StateResource(urn=urn, type=type_, id=raw.get("id") or "",
                         custom=bool(raw.get("custom")), props=props,
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
    decoder = Decoder()
    resources = [_resource(i, r, version, where, decoder) for i, r in enumerate(raw)]
    return _export(where, version, resources, dep.get("manifest"),
                   dep.get("pending_operations"), decoder)


def _export(where: str, version: int, resources: list[StateResource], manifest: Any,
            pending: Any, decoder: Decoder) -> Export:
    """The Export of validated resources (StateError on the rest of the document)."""
    seen: set[str] = set()
    for r in resources:
        if r.delete:
            continue
        if r.urn in seen:
            raise _fail(where, f"the urn {r.urn!r} appears twice")
        seen.add(r.urn)
    if manifest is not None and not isinstance(manifest, dict):
        raise _fail(where, "'deployment.manifest' must be an object")
    pending = pending or []
    if not isinstance(pending, list):
        raise _fail(where, "'deployment.pending_operations' must be a list")
    remember(*decoder.secrets)  # redacted from every report of this run, whatever the path
    return Export(path=where, version=version, resources=resources, manifest=manifest or {},
                  pending_operations=len(pending), secrets=decoder.secrets,
                  unreadable=decoder.unreadable)


def load(path: str | Path) -> Export:
    """Read and validate an export file."""
    p = Path(path)
    try:
        data = inputs.read_bytes(p, "stack export", EXPORT_LIMITS)
    except inputs.FileRefused as e:
        raise StateError(str(e)) from None
    ascii_only = data.isascii()
    if ascii_only:
        # the bytes as they are: ASCII is UTF-8 text, and msgspec refuses a NUL (not JSON);
        # what it refuses is read again below, as text, which says what is wrong. (Any other
        # file is decoded first: msgspec checks the UTF-8 of only the fields it reads.)
        typed = _typed_parse(data, str(p))
        if typed is not None:
            return typed
    try:
        text = inputs.decode(data, str(p), "stack export")
    except inputs.FileRefused as e:
        raise StateError(str(e)) from None
    del data
    if not ascii_only:  # (a BOM, or text beyond ASCII: the typed read of the decoded text)
        typed = _typed_parse(text, str(p))
        if typed is not None:
            return typed
    try:
        doc = _lean_loads(text)
        if doc is None:
            doc = loads(text)
    except json.JSONDecodeError as e:
        raise _fail(str(p), f"not valid JSON ({e.msg}: line {e.lineno} column {e.colno})") \
            from None
    del text  # not needed once decoded: freed before the resources are built (peak memory)
    return parse(doc, str(p))


def export_stack(stack: str, cwd: Path | None = None, timeout: float = 300) -> Export:
    """`pulumi stack export --stack <stack>`, parsed (StateError without the Pulumi CLI or
    when the command fails)."""
    import shutil

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
    typed = _typed_parse(proc.stdout, f"pulumi stack export --stack {stack}")
    if typed is not None:
        return typed
    try:
        doc = _lean_loads(proc.stdout)
        if doc is None:
            doc = loads(proc.stdout)
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


def clean(value: Any, depth: int = 0) -> Any:
    """Evidence as plain JSON (UNKNOWN and the unknown sentinel -> "unknown")."""
    kind = type(value)
    if kind is str:
        return "unknown" if value == UNKNOWN_VALUE else value
    if value is None or kind is int or kind is bool:
        return value
    if value is UNKNOWN or depth > MAX_VALUE_DEPTH + 8:
        return "unknown"
    if kind is float:
        return value if math.isfinite(value) else "unknown"
    if kind is dict:  # evidence: mostly flat mappings of scalars, read inline (hot)
        out: dict[str, Any] = {}
        for k, v in value.items():
            vk = type(v)
            if vk is str:
                v = "unknown" if v == UNKNOWN_VALUE else v
            elif not (v is None or vk is int or vk is bool):
                v = clean(v, depth + 1)
            out[k if type(k) is str else str(k)] = v
        return out
    if isinstance(value, dict):
        return {str(k): clean(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [clean(v, depth + 1) for v in value]
    if isinstance(value, str):  # subclasses: plain values
        return clean(str.__str__(value), depth)
    if isinstance(value, (int, float)):
        return clean(float(value) if isinstance(value, float) else int(value), depth)
    return str(value)


class Sink(Protocol):
    """Where evaluate puts findings as they are made (auditor.reports.Spool)."""

    def add(self, f: Finding) -> None: ...

    def reset(self) -> None: ...


@record
class Seen:
    """What the run metadata reads of the findings: accounts, regions, errors."""

    accounts: set[str] = field(default_factory=set)
    regions: set[str] = field(default_factory=set)
    errors: int = 0

    def add(self, f: Finding) -> None:
        if f.account:
            self.accounts.add(f.account)
        if f.region:
            self.regions.add(f.region)
        if f.status == "error":
            self.errors += 1

    @classmethod
    def of(cls, findings: Iterable[Finding]) -> Seen:
        seen = cls()
        for f in findings:
            seen.add(f)
        return seen


def _clean_own(evidence: dict[str, Any]) -> dict[str, Any]:
    """clean() of a finding's own evidence mapping (a fresh dict of str keys, made for that
    finding): its values cleaned where it is, without a copy of it (one per finding)."""
    if type(evidence) is not dict:
        return clean(evidence)
    for k, v in evidence.items():
        if type(k) is not str:  # what is cleaned already stays as it is: clean it all
            return clean(evidence)
        kind = type(v)
        if kind is str:
            if v == UNKNOWN_VALUE:
                evidence[k] = "unknown"
        elif kind is list:  # a list of plain scalars cleans to a copy of itself (hot)
            for x in v:
                xk = type(x)
                if xk is str:
                    if x == UNKNOWN_VALUE:
                        break
                elif not (x is None or xk is int or xk is bool):
                    break
            else:
                evidence[k] = v.copy()
                continue
            evidence[k] = clean(v, 1)
        elif not (v is None or kind is int or kind is bool):
            evidence[k] = clean(v, 1)
    return evidence


class PlainSink(Sink, Protocol):
    """A sink that also takes a finding as its fields (auditor.reports.Spool.add_plain)."""

    def add_plain(self, control: str, status: str, source: str, resource: str, message: str,
                  account: str | None, region: str | None, evidence: dict[str, Any],
                  remedy: tuple[Any, Any, Any] | None, owner: str | None = None,
                  tier: str | None = None) -> bool: ...


_NO_ACCOUNT = object()


class _Blank:
    """What applications.from_tags fills of a new finding."""

    __slots__ = ("application", "owner", "tier")

    def __init__(self) -> None:
        self.application: str | None = None
        self.owner: str | None = None
        self.tier: str | None = None


def _judge(resources: list[Any], settings: Settings, today: dt.date | None,
           emit: Callable[[Finding], None] | None = None,
           plain: PlainSink | None = None, seen: Seen | None = None) -> list[Finding]:
    """The findings of `resources`; each handed to `emit` as it is made when given (then
    none is returned).

    `plain` (with `emit`, when nothing is redacted and no waiver is set): each finding of
    the common kind goes there as its fields, as `finding` would make them, without a
    Finding (counted in `seen`); the others go to `emit`."""
    from drguard import applications as apps_mod
    from policypack import checks
    from policypack.adapters import arn_account

    model = checks.build_model(resources, settings.scope)
    out: list[Finding] = []
    keep = emit or out.append
    apps = getattr(settings, "apps", None) or apps_mod.Apps()
    # tags none of which names an application, owner or tier: what from_tags makes of them
    app_keys = frozenset((apps_mod.APP_TAG, apps_mod.TIER_TAG, *apps.owner_tag_keys))
    untagged = _Blank()
    apps_mod.from_tags(untagged, None, apps)
    quick = plain is not None and seen is not None and emit is not None \
        and not settings.waivers
    remedy: tuple[Any, Any, Any] | None
    res_of = model.res_of
    accounts: dict[int, Any] = {}  # id(resource) -> the account its ARN names, else the stack's
    by_urn: dict[str, Any] | None = None  # URN -> resource, when a waiver may name an ARN
    for control, fact, verdict in checks.evaluate(resources, settings, model=model):
        if control not in STATE_CONTROLS:
            continue
        if quick:
            assert plain is not None and seen is not None
            tags = fact.tags
            named = untagged
            if tags and (type(tags) is not dict or not app_keys.isdisjoint(tags)):
                named = _Blank()
                apps_mod.from_tags(named, tags, apps)
            status = verdict.status
            rem = getattr(verdict, "remediation", None)
            if named.application is None and (rem is None or type(rem) is Remediation
                                              or status == "unknown"):
                if status == "unknown":
                    message = _offline(verdict.message)
                    remedy = None
                else:
                    message = verdict.message
                    remedy = None if rem is None else (rem.summary or "", rem.pulumi or None,
                                                       rem.cli or None)
                account = fact.account
                if not account:
                    res = res_of.get(id(fact))
                    if res is None:
                        account = model.account
                    else:  # one ARN read per resource (its checks' findings share it)
                        account = accounts.get(id(res), _NO_ACCOUNT)
                        if account is _NO_ACCOUNT:
                            account = accounts[id(res)] = arn_account(res.get("arn")) \
                                or model.account
                made = _STATUS[status]
                evidence = _clean_own({**fact.evidence, **verdict.evidence})
                if plain.add_plain(control, made, "state", fact.ref, message, account,
                                   fact.region, evidence, remedy, named.owner, named.tier):
                    if account:
                        seen.accounts.add(account)
                    if fact.region:
                        seen.regions.add(fact.region)
                    if made == "error":
                        seen.errors += 1
                    continue
        if verdict.status == "unknown":
            verdict = Verdict("unknown", _offline(verdict.message), verdict.evidence)
        res = model.res_of.get(id(fact))
        also = None
        if settings.waivers:  # a waiver may name the resource's ARN, which the export records
            if by_urn is None:
                by_urn = {r.urn: r for r in model.resources}
            arn = (res or by_urn.get(fact.ref) or {}).get("arn")  # (a check's own fact)
            also = arn if isinstance(arn, str) else None
        f = finding(control, fact, verdict, "state", settings, today, also=also)
        f.account = f.account or (arn_account(res.get("arn")) if res is not None else None) \
            or model.account
        f.evidence = _clean_own(f.evidence)
        keep(f)
    return out


def evaluate(export: Export, settings: Settings, today: dt.date | None = None,
             sink: Sink | None = None, seen: Seen | None = None) -> list[Finding]:
    """Every deploy-side check on the export: one finding per (control, resource).

    A resource the checks fail on (a value of a shape no check expects) is left out, named in
    `export.skipped_detail` and counted (the run is then incomplete); the others are judged.
    Secret values are redacted from every finding.

    `sink`: each finding goes there as it is made (redacted), none is returned, and `seen`
    counts what run_meta reads of them: a run that keeps no finding alive."""
    resources = export.pack_resources()
    emit: Callable[[Finding], None] | None = None
    plain: PlainSink | None = None
    tally: Seen | None = None
    if sink is not None:
        redactor = _Redactor(export.secrets) if export.secrets else None
        tally = seen if seen is not None else Seen()
        if redactor is None and hasattr(sink, "add_plain"):
            plain = sink  # type: ignore[assignment]

        def emit(f: Finding) -> None:
            if redactor is not None:
                redact_with((f,), redactor)
            tally.add(f)
            sink.add(f)

        def restart() -> None:
            assert sink is not None and tally is not None
            sink.reset()
            tally.accounts.clear()
            tally.regions.clear()
            tally.errors = 0

    try:
        out = _judge(resources, settings, today, emit, plain, tally)
    except Exception as e:  # noqa: BLE001 - isolate the resource(s) the checks fail on
        log.warning("state: a check failed (%s); judging resources one by one to isolate it",
                    type(e).__name__)
        if sink is not None:
            restart()
        bad: dict[int, BaseException] = {}
        for r in resources:
            try:
                _judge([r], settings, today)
            except Exception as err:  # noqa: BLE001
                bad[id(r)] = err
        keep = [r for r in resources if id(r) not in bad]
        try:
            out = _judge(keep, settings, today, emit, plain, tally)
        except Exception as err:  # noqa: BLE001 - a failure only the whole stack shows
            bad.update({id(r): err for r in keep})
            out = []
            if sink is not None:
                restart()
        for r in resources:
            if id(r) in bad:
                export.skipped_detail.append({
                    "path": r.urn, "reason": f"not judged: a check failed on one of its "
                                             f"properties ({type(bad[id(r)]).__name__})"})
        export.unjudged = len(bad)
    redact(out, export.secrets)
    export.skipped_detail = [{k: _scrub(v, _Redactor(export.secrets)) for k, v in d.items()}
                             for d in export.skipped_detail]
    return out


def run_meta(export: Export, findings: Iterable[Finding] | Seen, started: dt.datetime,
             fail_on: str) -> dict[str, Any]:
    """Report metadata of a `dr-audit state` run (`findings`, or what evaluate's `seen`
    counted of them)."""
    from drguard import __version__

    seen = findings if isinstance(findings, Seen) else Seen.of(findings)
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
        "accounts": sorted(seen.accounts),
        "regions": sorted(seen.regions),
        "fail_on": fail_on,
        "skipped": {"resources": seen.errors,
                    "values": export.unreadable, "unjudgedResources": export.unjudged,
                    "notes": notes},
    }
    if export.skipped_detail:
        meta["skipped_detail"] = export.skipped_detail[:100]
    return meta
