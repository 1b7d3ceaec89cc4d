"""Turn a harness capture (an update, `preview=False`) into what `pulumi stack export` writes.

The export format is the engine's deployment, version 3 (Pulumi's `apitype.DeploymentV3`,
schema `sdk/go/common/apitype/deployments.json` and `resources.json`)::

    {"version": 3,
     "deployment": {"manifest": {"time", "magic", "version", "plugins"},
                    "secrets_providers": {"type", "state"},
                    "resources": [{"urn", "custom", "id", "type", "inputs", "outputs",
                                   "parent", "protect", "external", "dependencies",
                                   "propertyDependencies", "provider", ...}],
                    "pending_operations": [...]}}

Empty and false fields are left out, as the CLI's `omitempty` does (`custom` and `type` are
always written). Secrets are written encrypted (`{sig: secret, "ciphertext": ...}`) unless
`show_secrets` (`--show-secrets`: `{sig: secret, "plaintext": "<JSON text>"}`). The manifest's
magic is the SHA-256 of the CLI version, as the engine computes it.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
from typing import Any

from tests.harness.capture import Capture
from tests.harness.wire import SECRET_SIG, SIG_KEY, UNKNOWN, is_secret

CLI_VERSION = "v3.272.0"
PLUGINS = [("pulumi-resource-aws", "7.51.1"), ("pulumi-resource-aws-native", "1.84.0"),
           ("pulumi-resource-mongodbatlas", "4.18.0"), ("pulumi-language-python", "3.272.0")]


def _value(v: Any, show_secrets: bool, where: str) -> Any:
    if is_secret(v):
        inner = _value(v.get("value"), show_secrets, where)
        if show_secrets:
            return {SIG_KEY: SECRET_SIG, "plaintext": json.dumps(inner)}
        # Not real encryption: only what a file without the stack's key looks like.
        blob = base64.b64encode(hashlib.sha256(json.dumps(inner).encode()).digest()).decode()
        return {SIG_KEY: SECRET_SIG, "ciphertext": f"v1:{blob[:16]}:v1:{blob}"}
    if v == UNKNOWN:
        raise ValueError(f"{where}: unknown value; a stack export records an update, so "
                         "capture with preview=False")
    if isinstance(v, dict):
        return {k: _value(x, show_secrets, where) for k, x in v.items()}
    if isinstance(v, list):
        return [_value(x, show_secrets, where) for x in v]
    return v


def resource(r: dict[str, Any], show_secrets: bool = False) -> dict[str, Any]:
    """One captured resource as a `ResourceV3`."""
    where = r["urn"]
    out: dict[str, Any] = {"urn": r["urn"], "custom": bool(r["custom"])}
    if r["custom"] and r.get("id"):
        if r["id"] == UNKNOWN:
            raise ValueError(f"{where}: unknown id; capture with preview=False")
        out["id"] = r["id"]
    out["type"] = r["type"]
    inputs = r.get("properties") if r["custom"] else r.get("inputs")
    if inputs:
        out["inputs"] = _value(inputs, show_secrets, where)
    if r.get("outputs"):
        out["outputs"] = _value(r["outputs"], show_secrets, where)
    if r.get("parent"):
        out["parent"] = r["parent"]
    if r.get("protect"):
        out["protect"] = True
    if r.get("external"):
        out["external"] = True
    if r.get("dependencies"):
        out["dependencies"] = list(r["dependencies"])
    deps = {k: list(v) for k, v in (r.get("propertyDependencies") or {}).items()}
    if deps:
        out["propertyDependencies"] = deps
    if r.get("providerRef"):
        out["provider"] = r["providerRef"]
    secret_outputs = (r.get("options") or {}).get("additionalSecretOutputs")
    if secret_outputs:
        out["additionalSecretOutputs"] = list(secret_outputs)
    return out


def export(cap: Capture, *, show_secrets: bool = False,
           time: str = "2026-01-05T03:00:00.000000000Z") -> dict[str, Any]:
    """The `pulumi stack export` document of a captured update."""
    if cap.preview:
        raise ValueError("a stack export records an update: capture with preview=False")
    return {
        "version": 3,
        "deployment": {
            "manifest": {
                "time": time,
                "magic": hashlib.sha256(CLI_VERSION.encode()).hexdigest(),
                "version": CLI_VERSION,
                "plugins": [{"name": n, "path": f"/home/ci/.pulumi/plugins/{n}-v{v}/{n}",
                             "type": "language" if "language" in n else "resource",
                             "version": v} for n, v in PLUGINS],
            },
            "secrets_providers": {"type": "passphrase",
                                  "state": {"salt": "v1:ZHJndWFyZA==:v1:c2FsdA=="}},
            "resources": [resource(copy.deepcopy(r), show_secrets) for r in cap.resources],
        },
    }
