"""Pulumi itself, live: the state bucket can be recovered (pulumi-state-backend), and the
binding of resource-drift-deleted, which `scan --state` judges (auditor.drift)."""

from __future__ import annotations

from drguard.controls import pulumi as ctl
from drguard.controls.pulumi import StateBackend

from ..live import Live, LiveService, ScanContext
from . import s3
from .s3 import BucketRead, location

__all__ = ["DRIFT_CONTROL", "MANAGED_CONTROL", "SERVICE", "fact", "location"]


def fact(read: BucketRead) -> StateBackend:
    b = read.fact
    return StateBackend(ref=b.ref, name=b.name, type="AWS::S3::Bucket", account=b.account,
                        region=b.region, tags=b.tags, versioning=b.versioning,
                        public_access_block=b.public_access_block,
                        policy_public=read.policy_public, checkpoints=read.checkpoints,
                        evidence=dict(b.evidence))


# ---- live bindings ---------------------------------------------------------------------------

STATE_BACKEND = "pulumi-state-backend"
# Stateful resources recorded in Pulumi state still exist: `dr-audit scan --state`.
DRIFT_CONTROL = "resource-drift-deleted"
# Stateful resources found live are in a checkpoint of the state backends: `scan --backend`.
MANAGED_CONTROL = ctl.MANAGED


def _evaluate(scanner: ScanContext) -> None:
    state = s3.state_location(scanner)
    if state is None:
        scanner.notes.append(f"{STATE_BACKEND}: no state bucket configured (stateBucket "
                             "setting, an s3:// PULUMI_BACKEND_URL, or --project with an "
                             "s3:// backend.url); not checked")
        return
    name = state[0]
    read = s3.bucket_index(scanner).get(name)
    if read is None or not read.detailed:
        where = ("was not found in the scanned accounts" if read is None else
                 f"is in {read.fact.region}, outside the scanned regions"
                 if read.fact.region and not s3.in_regions(scanner, read) else
                 "could not be read")
        errs = list(read.errors.values()) if read is not None else []
        if read is None:  # it may be in an account whose buckets could not be listed
            errs = [a.errors["s3"] for a in scanner.accounts if "s3" in a.errors]
            if errs:
                where = "could not be looked for: the buckets of some accounts could not be listed"
        scanner.error(STATE_BACKEND, s3.bucket_arn(name), name,
                      read.fact.account if read else None, read.fact.region if read else None,
                      f"The Pulumi state bucket {name!r} ({state[2]}) {where}.", errs)
        return
    backend = fact(read)
    scanner.add(STATE_BACKEND, backend, ctl.state_backend(backend),
                [read.errors.get(k) for k in ("versioning", "publicAccessBlock",
                                              "policyStatus", "checkpoints", "details")])


SERVICE = LiveService(
    live=(Live((STATE_BACKEND,), _evaluate, per_account=False),
          Live((DRIFT_CONTROL,), None),
          Live((MANAGED_CONTROL,), None)),
)
