"""`dr-audit drill state`: the DR plan's "Pulumi state loss" drill, on a versioned S3 backend.

The stack's checkpoint (`<prefix>/.pulumi/stacks/<project>/<stack>.json`, or `.json.gz`, or
the legacy `<prefix>/.pulumi/stacks/<stack>.json`) has versions when the bucket is versioned.
The drill copies the previous version (the newest one under a delete marker when the
checkpoint was deleted; otherwise the one before the current version) to a scratch key,
`drguard-drill-<run id>/<checkpoint key>`, reads the copy back, checks that its bytes are the
version's, and validates it as a deployment `pulumi stack import` would accept:

- a checkpoint document whose `latest` is a deployment of version 1-3 (3 is what the CLI
  writes), with a manifest (time, version; magic, when present, 64 hex digits);
- every resource has a well-formed URN of this project and stack, and a type; no URN twice;
- parents, providers and dependencies refer to resources that come earlier (the engine's
  snapshot integrity check);
- no pending operations (an import would carry an interrupted update along).

It then compares the copy's resources with the current checkpoint's (what a restore would
lose or bring back), deletes the scratch copy by version id, and never writes the checkpoint.
The achieved RTO is the time from the copy until the copy is validated.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import re
from typing import Any

from drguard.records import record

from ..state import StateError, parse
from .plan import SKIPPED, CannotRun, Context, Plan, VerificationFailed
from .s3 import (
    bucket_region,
    choose_scratch,
    copy_params,
    delete_scratch,
    make_bucket,
    previous_version,
    scratch_key,
    versions_of,
)

log = logging.getLogger(__name__)

MAX_CHECKPOINT_BYTES = 512 * 1024**2
_MAGIC = re.compile(r"^[0-9a-f]{64}$")
_URN = re.compile(r"^urn:pulumi:(?P<stack>[^:]+)::(?P<project>[^:]+)::(?P<type>.+)::"
                  r"(?P<name>.+)$")


def parse_backend(url: str) -> tuple[str, str]:
    """(bucket, prefix) of `s3://BUCKET[/PREFIX]`; ValueError otherwise."""
    if not url.startswith("s3://") or not url[5:].split("/", 1)[0]:
        raise ValueError(f"--backend {url!r} is not s3://BUCKET[/PREFIX]")
    bucket, _, prefix = url[5:].partition("/")
    return bucket, prefix.strip("/")


def parse_stack(value: str) -> tuple[str, str]:
    """(project, stack) of ORG/PROJECT/STACK or PROJECT/STACK; ValueError otherwise."""
    parts = value.split("/")
    if len(parts) not in (2, 3) or not all(parts):
        raise ValueError(f"--stack {value!r} is not ORG/PROJECT/STACK")
    return parts[-2], parts[-1]


def candidate_keys(prefix: str, project: str, stack: str) -> list[str]:
    root = f"{prefix}/.pulumi/stacks/" if prefix else ".pulumi/stacks/"
    return [f"{root}{project}/{stack}.json", f"{root}{project}/{stack}.json.gz",
            f"{root}{stack}.json", f"{root}{stack}.json.gz"]


def _decode(raw: bytes, key: str) -> Any:
    if key.endswith(".gz") or raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    return json.loads(raw.decode("utf-8"))


def validate_checkpoint(raw: bytes, key: str, project: str, stack: str) -> dict[str, Any]:
    """What `pulumi stack import` would think of this checkpoint: {"problems": [...], ...}."""
    out: dict[str, Any] = {"problems": [], "resources": 0}
    problems: list[str] = out["problems"]
    try:
        doc = _decode(raw, key)
    except (OSError, EOFError, UnicodeDecodeError, json.JSONDecodeError) as e:
        problems.append(f"not readable as a JSON checkpoint: {e}")
        return out
    if not isinstance(doc, dict) or not isinstance(doc.get("checkpoint"), dict):
        problems.append("not a checkpoint document (no 'checkpoint' object)")
        return out
    out["checkpoint_version"] = doc.get("version")
    latest = doc["checkpoint"].get("latest")
    if not isinstance(latest, dict):
        problems.append("the checkpoint holds no deployment ('latest' is empty): the stack "
                        "was never updated at that version")
        return out
    try:
        export = parse({"version": doc.get("version"), "deployment": latest}, key)
    except StateError as e:
        problems.append(str(e).removeprefix(f"{key}: "))
        return out
    out["deployment_version"] = export.version
    if export.version != 3:
        out["note"] = f"deployment version {export.version}: the CLI migrates it on import"
    manifest = latest.get("manifest") or {}
    if not manifest.get("time") or not manifest.get("version"):
        problems.append("the manifest has no time or version")
    if manifest.get("magic") and not _MAGIC.match(str(manifest["magic"])):
        problems.append("the manifest's magic is not 64 hex digits")
    live = [r for r in export.resources if not r.delete]
    out["resources"] = len(live)
    seen: set[str] = set()
    for r, raw_r in zip(export.resources, latest.get("resources") or (), strict=True):
        m = _URN.match(r.urn)
        if m is None:
            problems.append(f"malformed URN {r.urn!r}")
        elif (m["project"], m["stack"]) != (project, stack):
            problems.append(f"URN {r.urn!r} belongs to {m['project']}/{m['stack']}, not "
                            f"{project}/{stack}")
        refs = [("parent", r.parent)] if r.parent else []
        if r.provider:
            refs.append(("provider", r.provider.rsplit("::", 1)[0]))
        deps = raw_r.get("dependencies") or []
        refs += [("dependency", d) for d in deps if isinstance(d, str)] \
            if isinstance(deps, list) else []
        for what, urn in refs:
            if urn not in seen:
                problems.append(f"{r.urn}: its {what} {urn} does not come before it")
        seen.add(r.urn)
    if live and not any(r.type == "pulumi:pulumi:Stack" for r in live):
        problems.append("no pulumi:pulumi:Stack resource")
    out["pending_operations"] = export.pending_operations
    if export.pending_operations:
        problems.append(f"{export.pending_operations} pending operation(s): an update was "
                        "interrupted at that version")
    out["urns"] = {r.urn: r.id for r in live}
    if len(problems) > 20:
        problems[20:] = [f"... and {len(problems) - 20} more"]
    return out


def compare(previous: dict[str, str], current: dict[str, str], limit: int = 20
            ) -> dict[str, Any]:
    """What restoring `previous` (urn -> id) would change against `current`."""
    lost = sorted(set(current) - set(previous))
    back = sorted(set(previous) - set(current))
    changed = sorted(u for u in set(previous) & set(current) if previous[u] != current[u])
    return {"previous_resources": len(previous), "current_resources": len(current),
            "missing_from_restored": len(lost), "missing_from_restored_urns": lost[:limit],
            "only_in_restored": len(back), "only_in_restored_urns": back[:limit],
            "different_ids": len(changed), "different_ids_urns": changed[:limit]}


@record
class StateDrill:
    """A drill of a stack checkpoint's previous version on a versioned S3 backend."""

    backend: str
    stack: str
    scratch_bucket: str | None = None
    run_id: str = ""
    kind: str = "state"

    def prepare(self, account: Any) -> Plan:
        bucket, prefix = parse_backend(self.backend)
        project, stack = parse_stack(self.stack)
        s3 = account.client("s3")
        region = bucket_region(s3, bucket)
        s3 = account.client("s3", region)
        plan = Plan(self.kind, f"{self.backend.rstrip('/')} {self.stack}", region)
        status = s3.get_bucket_versioning(Bucket=bucket).get("Status")
        plan.found["versioning"] = status or "never enabled"
        key, versions = None, []
        for k in candidate_keys(prefix, project, stack):
            versions = versions_of(s3, bucket, k, exact=k).get(k, [])
            if versions:
                key = k
                break
        if key is None:
            raise CannotRun(f"no checkpoint of {project}/{stack} in s3://{bucket}"
                            f"{'/' + prefix if prefix else ''} (looked for "
                            f"{', '.join(candidate_keys(prefix, project, stack))})")
        chosen, why = previous_version(versions)
        if chosen is None:
            raise CannotRun(f"s3://{bucket}/{key}: {why} (is versioning on? it is "
                            f"{status or 'never enabled'})")
        current = None if versions[0]["marker"] else versions[0]
        plan.found["checkpoint"] = f"s3://{bucket}/{key}"
        plan.found["restoring"] = {"version": chosen["VersionId"], "why": why,
                                   "last_modified": chosen.get("LastModified"),
                                   "size": chosen.get("Size")}
        if current is None:
            plan.notes.append("the checkpoint is deleted (a delete marker is current): this "
                              "restore is the recovery")
        scratch_bucket, own = choose_scratch(s3, plan, bucket, self.scratch_bucket, region,
                                             self.run_id)
        dest = scratch_key(self.run_id, key)
        params = copy_params(self.run_id, bucket, key, chosen["VersionId"], scratch_bucket, dest)
        plan.call("s3", region, "CopyObject", "restore the previous checkpoint to a scratch "
                  "key", **params)
        plan.call("s3", region, "DeleteObject", "cleanup, on every path",
                  Bucket=scratch_bucket, Key=dest, VersionId="<version of the copy>")
        if own:
            plan.call("s3", region, "DeleteBucket", "cleanup, on every path",
                      Bucket=scratch_bucket)
        plan.data.update(bucket=bucket, key=key, region=region, project=project, stack=stack,
                         version=chosen["VersionId"], size=chosen.get("Size"),
                         current=current["VersionId"] if current else None,
                         scratch_bucket=scratch_bucket, dest=dest, params=params)
        return plan

    def execute(self, ctx: Context) -> None:
        d = ctx.plan.data
        s3 = ctx.account.client("s3", d["region"])
        copy: dict[str, str | None] = {}
        if int(d.get("size") or 0) > MAX_CHECKPOINT_BYTES:
            raise CannotRun(f"the checkpoint is {d['size']} bytes; over the "
                            f"{MAX_CHECKPOINT_BYTES} bytes this drill reads")
        make_bucket(ctx, s3)
        ctx.mark("start")
        with ctx.step("restore previous checkpoint to scratch key"):
            ctx.cleanup.add(f"delete s3://{d['scratch_bucket']}/{d['dest']}",
                            lambda: delete_scratch(s3, d["scratch_bucket"], d["dest"],
                                                   copy.get("version")))
            copy["version"] = s3.copy_object(**d["params"]).get("VersionId")
        with ctx.step("read the copy back"):
            raw = s3.get_object(Bucket=d["scratch_bucket"], Key=d["dest"])["Body"].read()
            original = s3.get_object(Bucket=d["bucket"], Key=d["key"],
                                     VersionId=d["version"])["Body"].read()
            same = hashlib.sha256(raw).hexdigest() == hashlib.sha256(original).hexdigest()
            ctx.result["checks"] = [{"check": "copy sha256 equals the version's",
                                     "expected": hashlib.sha256(original).hexdigest(),
                                     "actual": hashlib.sha256(raw).hexdigest(), "ok": same}]
            if not same:
                raise VerificationFailed("the scratch copy differs from the version it copies")
        with ctx.step("validate as a stack deployment"):
            v = validate_checkpoint(raw, d["key"], d["project"], d["stack"])
            urns = v.pop("urns", {})
            ctx.result["validation"] = v
            ctx.result["checks"].append({"check": "importable deployment", "expected": "no "
                                         "problems", "actual": v["problems"] or "none",
                                         "ok": not v["problems"]})
            if v["problems"]:
                raise VerificationFailed("; ".join(v["problems"][:3]))
            ctx.mark("validated")
        with ctx.step("compare with the current checkpoint") as s:
            if d["current"] is None:
                s.status, s.detail = SKIPPED, "the checkpoint is deleted: nothing current"
            else:
                cur_raw = s3.get_object(Bucket=d["bucket"], Key=d["key"],
                                        VersionId=d["current"])["Body"].read()
                cur = validate_checkpoint(cur_raw, d["key"], d["project"], d["stack"])
                ctx.result["comparison"] = compare(urns, cur.get("urns", {}))
                if cur["problems"]:
                    ctx.result["comparison"]["current_problems"] = cur["problems"][:5]
        ctx.result["recovery"] = (
            f"aws s3api copy-object --bucket {d['bucket']} --key {d['key']} --copy-source "
            f"'{d['bucket']}/{d['key']}?versionId={d['version']}' (or `pulumi stack import` of "
            "that version's checkpoint.latest wrapped as {\"version\": 3, \"deployment\": ...})")

    def rto_seconds(self, ctx: Context) -> float | None:
        return ctx.marks["validated"] - ctx.marks["start"] if "validated" in ctx.marks else None
