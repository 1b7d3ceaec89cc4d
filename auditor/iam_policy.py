"""The least-privilege IAM policies of the read-only commands, generated from the AWS calls
each part declares it sends.

- `scan`: every live service's `LiveService.calls`, the session's and the scan's own
  (`auditor.aws.CALLS`, `auditor.scan.CALLS`): read-only, `Resource: "*"` (describing every
  resource of an account is the scan), and never a data read (no object, item or secret);
- `logs`: the trail bucket, `s3://BUCKET[/PREFIX]`: list it and fetch the log files under the
  prefix (`auditor.logs.sources.CALLS`, `auditor.logs.pipeline.CALLS`); `logs_athena` adds the
  query, the table's Glue entry and Athena's own reads and result writes;
- `backend`: a Pulumi state bucket, `s3://BUCKET[/PREFIX]`: list and fetch the stack
  checkpoints only (`auditor.backends.S3_CALLS`);
- `org`: what `--org` sends from the account it runs in (`auditor.org.CALLS`): list the
  organization and assume the scan role in each account (that role holds the `scan` policy).

Calls are named as botocore names them (`s3:ListObjectsV2`); `action()` turns one into the IAM
action AWS authorizes it with (`s3:ListBucket`).
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Iterable
from typing import Any

from drguard.records import record

from . import aws, backends, org, scan
from .logs import athena, pipeline, sources
from .services import SERVICES

VERSION = "2012-10-17"

# botocore's service name -> IAM's service prefix, where they differ
PREFIX = {"efs": "elasticfilesystem"}
# Operations authorized by an IAM action of another name (None: needs no permission).
ACTIONS: dict[str, str | None] = {
    "s3:ListBuckets": "s3:ListAllMyBuckets",
    "s3:ListObjects": "s3:ListBucket",
    "s3:ListObjectsV2": "s3:ListBucket",
    "s3:HeadBucket": "s3:ListBucket",
    "s3:HeadObject": "s3:GetObject",
    "s3:ListObjectVersions": "s3:ListBucketVersions",
    "s3:GetBucketEncryption": "s3:GetEncryptionConfiguration",
    "s3:GetBucketNotificationConfiguration": "s3:GetBucketNotification",
    "s3:GetBucketReplication": "s3:GetReplicationConfiguration",
    "s3:GetObjectLockConfiguration": "s3:GetBucketObjectLockConfiguration",
    "s3:GetPublicAccessBlock": "s3:GetBucketPublicAccessBlock",
    "s3:GetBucketLifecycleConfiguration": "s3:GetLifecycleConfiguration",
    "sts:GetCallerIdentity": None,  # every principal may ask who it is
}
# IAM actions that read or write the data itself (objects, items, secrets, parameters): never
# in the scan's policy. The logs and backend policies read objects, each under one prefix.
DATA_ACTIONS = frozenset({
    "s3:GetObject", "s3:GetObjectVersion", "s3:GetObjectAcl", "s3:GetObjectTagging",
    "s3:GetObjectAttributes", "s3:PutObject", "s3:DeleteObject", "s3:RestoreObject",
    "dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query", "dynamodb:Scan",
    "dynamodb:PartiQLSelect", "dynamodb:ExportTableToPointInTime", "dynamodb:GetRecords",
    "secretsmanager:GetSecretValue", "ssm:GetParameter", "ssm:GetParameters",
    "ssm:GetParametersByPath", "kms:Decrypt", "rds-data:ExecuteStatement",
    "redshift-data:ExecuteStatement", "redshift-data:GetStatementResult",
    "ec2:GetPasswordData", "elasticache:DescribeUsers", "iam:GetCredentialReport",
    "athena:GetQueryResults", "backup:GetRecoveryPointRestoreMetadata", "ebs:GetSnapshotBlock",
    "ebs:ListSnapshotBlocks"})
# S3 actions on objects (their resource is bucket/key), the others are on the bucket.
OBJECT_ACTIONS = frozenset({"s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload",
                            "s3:ListMultipartUploadParts", "s3:GetObjectVersion"})
READ_PREFIXES = ("Describe", "Get", "List")

# What the example files name when no bucket is given: the demo's bucket names.
EXAMPLE_TRAIL = "s3://acme-cloudtrail-logs/"
EXAMPLE_STATE = "s3://acme-pulumi-state/"
EXAMPLE_ATHENA_OUTPUT = "s3://acme-athena-results/dr-audit/"
EXAMPLE_ROLE = "dr-audit-scan"
EXAMPLE_HISTORY = "s3://acme-dr-evidence/dr-guard/payments/"


def action(call: str) -> str | None:
    """The IAM action that authorizes a botocore call (`s3:ListObjectsV2` -> `s3:ListBucket`);
    None when it needs no permission."""
    if call in ACTIONS:
        return ACTIONS[call]
    service, _, operation = call.partition(":")
    return f"{PREFIX.get(service, service)}:{operation}"


def actions(calls: Iterable[str]) -> list[str]:
    return sorted({a for a in map(action, calls) if a is not None})


def scan_calls() -> list[str]:
    """Every call `dr-audit scan` (one account, no --logs/--backend) declares."""
    found = {c for svc in SERVICES for c in svc.calls} | set(aws.CALLS) | set(scan.CALLS)
    return sorted(found)


@record(frozen=True)
class Bucket:
    """An s3://BUCKET[/PREFIX] location."""

    name: str
    prefix: str = ""

    @classmethod
    def parse(cls, url: str, what: str) -> Bucket:
        p = urllib.parse.urlparse(url)
        if p.scheme != "s3" or not p.netloc or any(c in url for c in "*?\"'"):
            raise ValueError(f"{what} {url!r}: expected s3://BUCKET[/PREFIX]")
        prefix = p.path.strip("/")
        return cls(p.netloc, f"{prefix}/" if prefix else "")

    @property
    def arn(self) -> str:
        return f"arn:aws:s3:::{self.name}"

    def objects(self, under: str = "") -> str:
        return f"{self.arn}/{self.prefix}{under}*"


def _statement(sid: str, acts: Iterable[str], resource: str | list[str],
               condition: dict[str, Any] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"Sid": sid, "Effect": "Allow", "Action": sorted(set(acts)),
                           "Resource": resource}
    if condition:
        out["Condition"] = condition
    return out


def _bucket_reads(sid: str, calls: Iterable[str], bucket: Bucket,
                  under: str = "") -> list[dict[str, Any]]:
    """List the bucket (only under the prefix, where a prefix is given) and fetch the objects
    under it."""
    acts = actions(calls)
    on_objects = [a for a in acts if a in OBJECT_ACTIONS]
    on_bucket = [a for a in acts if a not in OBJECT_ACTIONS]
    out = []
    if on_bucket:
        out.append(_statement(f"{sid}List", on_bucket, bucket.arn))
    if on_objects:
        out.append(_statement(f"{sid}Objects", on_objects, bucket.objects(under)))
    return out


def scan_statements() -> list[dict[str, Any]]:
    acts = actions(scan_calls())
    bad = [a for a in acts if a in DATA_ACTIONS or "*" in a
           or not a.split(":", 1)[1].startswith(READ_PREFIXES)]
    if bad:  # a declaration error: the scan must never need these
        raise ValueError(f"the scan declares calls that are not metadata reads: {bad}")
    return [_statement("DrAuditScanReads", acts, "*")]


def logs_statements(trail: str = EXAMPLE_TRAIL) -> list[dict[str, Any]]:
    bucket = Bucket.parse(trail, "--logs")
    return _bucket_reads("DrAuditTrailBucket", (*sources.CALLS, *pipeline.CALLS), bucket)


def athena_statements(trail: str = EXAMPLE_TRAIL, output: str = EXAMPLE_ATHENA_OUTPUT,
                      workgroup: str = "primary", database: str = "*",
                      table: str = "*") -> list[dict[str, Any]]:
    """`logs --athena`: the query in the workgroup, the table's Glue entry, and what Athena
    does with the caller's rights: read the trail bucket, write the results."""
    trail_bucket = Bucket.parse(trail, "--logs")
    results = Bucket.parse(output, "--athena-output")
    wanted = [action(c) for c in athena.CALLS]
    return [
        _statement("DrAuditAthenaQuery", [a for a in wanted if a and a.startswith("athena:")],
                   f"arn:aws:athena:*:*:workgroup/{workgroup}"),
        # Athena reads the table's schema (and its partitions when it has no projection)
        _statement("DrAuditAthenaTable",
                   [*(a for a in wanted if a and a.startswith("glue:")), "glue:GetDatabase",
                    "glue:GetPartitions"],
                   ["arn:aws:glue:*:*:catalog", f"arn:aws:glue:*:*:database/{database}",
                    f"arn:aws:glue:*:*:table/{database}/{table}"]),
        _statement("DrAuditAthenaReadsTrailBucket", ["s3:GetBucketLocation", "s3:ListBucket"],
                   trail_bucket.arn),
        _statement("DrAuditAthenaReadsTrailObjects", ["s3:GetObject"], trail_bucket.objects()),
        _statement("DrAuditAthenaResultsBucket", ["s3:GetBucketLocation", "s3:ListBucket"],
                   results.arn),
        _statement("DrAuditAthenaResults",
                   ["s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload",
                    "s3:ListMultipartUploadParts"], results.objects()),
    ]


def backend_statements(state: str = EXAMPLE_STATE) -> list[dict[str, Any]]:
    bucket = Bucket.parse(state, "--backend")
    return _bucket_reads("DrAuditStateBucket", backends.S3_CALLS, bucket,
                         under=backends.STACKS_DIR)


def history_statements(history: str = EXAMPLE_HISTORY) -> list[dict[str, Any]]:
    """`--history s3://BUCKET/PREFIX` (scan, drill, drill next): list and read what is under
    the prefix, and add one new object per run there (the store's own guard allows nothing
    else: auditor.history_store)."""
    bucket = Bucket.parse(history, "--history")
    return [_statement("HistoryRead", ["s3:ListBucket"], bucket.arn,
                       {"StringLike": {"s3:prefix": [f"{bucket.prefix}*"]}}),
            _statement("HistoryReadAndAppend", ["s3:GetObject", "s3:PutObject"],
                       bucket.objects())]


def org_statements(role_name: str = EXAMPLE_ROLE) -> list[dict[str, Any]]:
    calls = [c for c in org.CALLS if c != aws.ASSUME_ROLE]
    role = org.role_arn("*", role_name)
    return [_statement("DrAuditListOrganization", actions(calls), "*"),
            _statement("DrAuditAssumeScanRole", actions([aws.ASSUME_ROLE]), role)]


def trust(principal: str, external_id: str | None = None) -> dict[str, Any]:
    """The trust policy of the scan role: who may assume it (an account id, or a role or user
    ARN), with the external id `--external-id` passes when given."""
    if principal.isdigit() and len(principal) == 12:
        principal = f"arn:aws:iam::{principal}:root"
    elif not principal.startswith("arn:aws") or any(c in principal for c in "*?\"'"):
        raise ValueError(f"--trust {principal!r}: expected a 12-digit account id or an IAM "
                         "role/user ARN")
    stmt: dict[str, Any] = {"Sid": "DrAuditAssumedBy", "Effect": "Allow",
                            "Principal": {"AWS": principal}, "Action": aws.ASSUME_ROLE}
    if external_id:
        stmt["Condition"] = {"StringEquals": {"sts:ExternalId": external_id}}
    return document([stmt])


def document(statements: list[dict[str, Any]]) -> dict[str, Any]:
    return {"Version": VERSION, "Statement": statements}


def policy(scan_reads: bool = True, logs: str | None = None, athena_output: str | None = None,
           workgroup: str = "primary", backend: str | None = None,
           org_role: str | None = None, history: str | None = None) -> dict[str, Any]:
    """One policy for what a run needs: the scan's reads, and the trail bucket (with
    `athena_output`: the Athena query), the state bucket and the organization when asked."""
    out: list[dict[str, Any]] = scan_statements() if scan_reads else []
    if logs is not None:
        out += (athena_statements(logs, athena_output, workgroup) if athena_output is not None
                else logs_statements(logs))
    if backend is not None:
        out += backend_statements(backend)
    if org_role is not None:
        out += org_statements(org_role)
    if history is not None:
        out += history_statements(history)
    return document(out)


# The files of examples/iam/ this module generates (docs/gen_iam_policies.py writes them).
def examples() -> dict[str, dict[str, Any]]:
    return {"scan-policy.json": document(scan_statements()),
            "logs-policy.json": document(logs_statements()),
            "logs-athena-policy.json": document(athena_statements()),
            "backend-policy.json": document(backend_statements()),
            "org-policy.json": document(org_statements()),
            "history-policy.json": document(history_statements())}


def dumps(doc: dict[str, Any]) -> str:
    return json.dumps(doc, indent=2) + "\n"
