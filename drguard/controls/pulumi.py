"""Pulumi itself: stateful resources are protected, the state backend can be recovered, and
resources recorded in state still exist."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from .. import frameworks as fw
from ..control import DEPLOY, DESTROYABLE, Control, Mapping
from ..detections import DYNAMODB, S3, dynamodb_table, on, s3_bucket
from ..facts import UNKNOWN, Resource
from ..records import record
from ..verdict import Remediation, Verdict, show
from .s3 import FLAGS, Bucket

PROTECT = "stateful-resource-protect"

@record
class StateBackend(Resource):
    """The Pulumi state bucket, as read live."""

    versioning: Any = None
    public_access_block: Any = None
    policy_public: Any = None
    checkpoints: Any = None  # {stack key: number of versions}


# ---- remediation ---------------------------------------------------------------------------

def _py_class(token: str) -> str:
    """`aws:rds/instance:Instance` -> `aws.rds.Instance` (the Python class of a type token)."""
    parts = str(token).split(":")
    if len(parts) == 3 and parts[0] and parts[2]:
        return f"{parts[0]}.{parts[1].split('/')[0]}.{parts[2]}"
    return parts[-1] or "Resource"


def fix_state_bucket(s: StateBackend) -> Remediation:
    """Versioning and the public access block on the state bucket (what the rule found off)."""
    from .s3 import fix_public_access_block, fix_versioning

    b = Bucket(ref=s.ref, name=s.name, account=s.account, region=s.region)
    parts = []
    if s.versioning is not UNKNOWN and s.versioning != "Enabled":
        parts.append(fix_versioning(b))
    pab = s.public_access_block
    if pab is not UNKNOWN and (not pab or any(pab.get(f) is not True for f in FLAGS)):
        parts.append(fix_public_access_block(b))
    what = ["versioning" if p.summary.startswith("Turn versioning") else "public access block"
            for p in parts]
    summary = (f"Make state bucket {s.name} recoverable: turn on {' and '.join(what)}"
               if parts else f"Keep versioning on for state bucket {s.name}")
    if s.policy_public is True:
        summary += "; remove the bucket policy's public grant"
    return Remediation(summary + ".",
                       "\n".join(p.pulumi for p in parts) or
                       f"aws.s3.BucketVersioning(\"{s.name}-versioning\", "
                       f"bucket={json.dumps(str(s.name))},\n"
                       "    versioning_configuration={\"status\": \"Enabled\"})",
                       " && \\\n".join(p.cli for p in parts if p.cli) or None)


# ---- rules --------------------------------------------------------------------------------

def protect(r: Resource) -> Verdict | None:
    """stateful-resource-protect: `protect: true`; no forceDestroy on backup buckets."""
    if not r.stateful():
        return None
    problems = []
    if r.protect is not True:
        problems.append("it is not protected, so `pulumi destroy` or a replacement deletes it")
    ev: dict[str, Any] = {"protect": r.protect}
    if isinstance(r, Bucket):
        ev["forceDestroy"] = r.force_destroy
        ev["inScopeBecause"] = list(r.scope_reasons)
        if r.force_destroy is True:
            prop = r.prop("force_destroy", "forceDestroy")
            problems.append(f"{prop} is true, so deleting it empties it first")
    if problems:
        args = []
        if r.protect is not True:
            args.append("opts=pulumi.ResourceOptions(protect=True)")
        if isinstance(r, Bucket) and r.force_destroy is True:
            args.insert(0, "force_destroy=False")
        kind = r.type.split(":")[-1] or "Resource"
        return Verdict("fail", f"{kind} {r.name!r} holds recovery data but "
                               f"{'; and '.join(problems)}.", ev, Remediation(
                                   f"Protect {r.name} from `pulumi destroy` and replacement"
                                   + (" and stop forceDestroy from emptying it"
                                      if "force_destroy=False" in args else "") + ".",
                                   f"{_py_class(r.type)}({json.dumps(str(r.name))}, ...,\n    "
                                   + ", ".join(args) + ")",
                                   f"pulumi state protect '{r.ref}'"
                                   if str(r.ref).startswith("urn:") else None))
    if isinstance(r, Bucket) and r.force_destroy is UNKNOWN:
        return Verdict.unknown(f"forceDestroy of {r.name!r}", **ev)
    return Verdict.ok(f"{r.name!r} is protected.", **ev)


def state_backend(s: StateBackend) -> Verdict:
    """Versioned, not public, and more than one version of every stack checkpoint."""
    ev = {"bucket": s.name, "versioning": s.versioning, "publicAccessBlock": s.public_access_block,
          "policyIsPublic": s.policy_public, "checkpointVersions": s.checkpoints}
    problems: list[str] = []
    unknown: list[str] = []
    if s.versioning is UNKNOWN:
        unknown.append("versioning")
    elif s.versioning != "Enabled":
        problems.append(f"versioning is {show(s.versioning)} (a bad update or a deleted "
                        "checkpoint cannot be rolled back)")
    pab = s.public_access_block
    if pab is UNKNOWN:
        unknown.append("public access block")
    else:
        off = [f for f in FLAGS if not pab or pab.get(f) is not True]
        if off:
            problems.append(f"public access block leaves {', '.join(off)} off")
    if s.policy_public is UNKNOWN:
        unknown.append("bucket policy status")
    elif s.policy_public is True:
        problems.append("its bucket policy makes it public")
    if s.checkpoints is UNKNOWN:
        unknown.append("checkpoint versions")
    elif not s.checkpoints:
        problems.append("no stack checkpoint was found under .pulumi/stacks/ (is this the "
                        "state bucket and prefix of PULUMI_BACKEND_URL?)")
    else:
        single = sorted(k for k, n in s.checkpoints.items() if n < 2)
        if single:
            problems.append(f"only one version of {', '.join(single)} exists, so that stack "
                            "cannot be rolled back (versioning must stay on across updates)")
    if problems:
        return Verdict("fail", f"Pulumi state bucket {s.name!r} is not recoverable: "
                       + "; ".join(problems) + ".", ev, fix_state_bucket(s))
    if unknown:
        return Verdict.unknown(f"The {', '.join(unknown)} of state bucket {s.name!r}", **ev)
    return Verdict.ok(f"Pulumi state bucket {s.name!r} is versioned, private and keeps "
                      f"several versions of its {len(s.checkpoints)} stack checkpoint(s).", **ev)


MANAGED = "resource-managed-by-code"


def managed_by_code(r: Resource, stack: str | None, urn: str | None,
                    backends: list[str], unread: Sequence[str] = ()) -> Verdict:
    """A stateful resource found live is managed by a Pulumi stack (its ARN or physical id is
    in a current checkpoint of the backends read). In no checkpoint read while some could not
    be read (`unread`): unknown, since an unread one may manage it."""
    ev: dict[str, Any] = {"backends": list(backends)}
    if stack is not None:
        return Verdict.ok(f"{r.name} is managed by the Pulumi stack {stack} ({urn}).",
                          stack=stack, urn=urn, **ev)
    if unread:
        ev["unread"] = list(unread)
        return Verdict("error", f"{r.name} is in no Pulumi stack read, but {len(unread)} "
                                "checkpoint(s) or backend(s) could not be read (see "
                                "run.backends.unread): one of them may manage it.", ev)
    return Verdict("fail", f"{r.name} is managed by no Pulumi stack in the "
                           f"{len(backends)} backend(s) read: it cannot be rebuilt from code.",
                   ev, Remediation(
                       f"Bring {r.name} under code: `pulumi import` it into the stack of its "
                       "application, then protect it.",
                       f"# in the stack that should own it:\n"
                       f"#   pulumi import <type token> {r.name} <id> --protect",
                       None))


CONTROLS: tuple[Control, ...] = (
    Control(
        id=PROTECT,
        gap=("Not protected from pulumi destroy",),
        why=("An unprotected stateful resource is deleted, with its data, by `pulumi destroy` or "
            "by a change that forces a replacement."),
        console=(
            "In the program: add opts=pulumi.ResourceOptions(protect=True) to the resource (or "
            "run `pulumi state protect <urn>`).",
            "On backup buckets leave forceDestroy unset or false.",
            "Run `pulumi up` to record it.",
        ),
        cannot_remediate=("only forceDestroy is fixed; `protect` is a resource option, not an "
                          "input, so it stays a violation until the program sets "
                          "opts=pulumi.ResourceOptions(protect=True)."),
        title="Stateful resources are protected from pulumi destroy",
        severity="high",
        exposure=DESTROYABLE,
        tier=1,
        description="RDS instances and clusters (Aurora, DocumentDB, Neptune), Redshift "
                    "clusters, DynamoDB tables, EFS file systems, ElastiCache Redis/Valkey "
                    "replication groups and clusters, backup buckets and backup vaults carry "
                    "the Pulumi protect option; backup buckets do not set forceDestroy.",
        remediation="Pass opts=pulumi.ResourceOptions(protect=True) and leave forceDestroy "
                    "unset or false on backup buckets.",
        sources=DEPLOY,
    ),
    Control(
        id="pulumi-state-backend",
        gap=("State backend cannot be recovered",),
        why=("A lost or corrupted state file leaves Pulumi unable to manage (or to safely "
            "recreate) every resource of the stack."),
        console=(
            "S3 console: select the state bucket, Properties, Bucket Versioning, Enable.",
            "Permissions, Block public access, Edit, turn all four on, Save.",
        ),
        title="The Pulumi state backend can be recovered",
        severity="critical",
        exposure=DESTROYABLE,
        tier=2,
        description="The Pulumi state bucket is versioned, not public, and keeps more than one "
                    "version of each stack checkpoint.",
        remediation="Enable versioning and the public access block on the state bucket.",
        sources=frozenset({"live"}),
    ),
    Control(
        id="resource-drift-deleted",
        gap=("Gone from the account; still in Pulumi state",),
        why=("A stateful resource in Pulumi state no longer exists: its data is gone unless a "
            "backup restores it."),
        console=(
            "Restore the resource from its newest recovery point (RDS snapshot, AWS Backup, S3 "
            "replica).",
            "Then run `pulumi refresh` (or import the restored resource) so state matches the "
            "account.",
        ),
        title="Resources in Pulumi state still exist",
        severity="critical",
        exposure=DESTROYABLE,
        tier=3,
        description="A stateful resource recorded in Pulumi state no longer exists in the "
                    "account (accidental deletion).",
        remediation="Restore the resource from its backups, then `pulumi refresh`.",
        sources=frozenset({"live", "logs"}),
        detections=(
            on(S3, "DeleteBucket", backup_scoped=True, resource=s3_bucket,
               message="{principal} deleted the backup bucket {name} ({event})."),
            on(DYNAMODB, "DeleteTable", resource=dynamodb_table,
               message="{principal} deleted the DynamoDB table {name} ({event}); with "
                       "point-in-time recovery on, AWS keeps a system backup for 35 days."),
        ),
    ),
    Control(
        id=MANAGED,
        gap=("Not managed by any Pulumi stack",),
        why=("A resource made by hand cannot be rebuilt from code after an accidental delete "
             "or the loss of the account: nobody knows its exact settings."),
        console=(
            "Bring the resource under a stack: `pulumi import <type> <name> <id>` in the "
            "project that owns it, then commit the generated code.",
        ),
        title="Stateful resources are managed by a Pulumi stack",
        severity="high",
        exposure=DESTROYABLE,
        tier=2,
        description="Every stateful resource found live (databases, tables, file systems, "
                    "buckets, backup vaults) appears in a current checkpoint of a Pulumi "
                    "state backend (`--backend`, `stateBucket`): what no stack manages "
                    "cannot be rebuilt from code. Not judged when no backend was read; "
                    "`error` for a resource in no checkpoint read while a checkpoint or "
                    "backend could not be read (it may manage the resource).",
        remediation="`pulumi import` the resource into the stack of its application.",
        sources=frozenset({"live"}),
        mapping=Mapping(frameworks=((fw.NIST, "CM-8"), (fw.NIST, "CP-10"), (fw.ISO, "A.8.32"),
                                    (fw.SOC2, "CC8.1"), (fw.DORA, "Art. 11"),
                                    (fw.WAF, "REL09"))),
    ),
)
