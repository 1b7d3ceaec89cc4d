"""resource-managed-by-code: every stateful resource the live scan found is in a checkpoint.

`dr-audit scan --backend URL` (repeatable) and the `stateBucket` setting name the state
backends (auditor.backends); the resources the live scan judged are matched by ARN or
physical id against every current checkpoint. With no backend read the control is not judged,
and the run says why.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
from typing import Any

from drguard import applications as apps_mod
from drguard.controls.pulumi import managed_by_code
from drguard.controls.rpo import CONTROL_ID as RPO
from drguard.controls.rpo import RecoveryPoints, rpo
from drguard.evaluate import finding
from drguard.facts import Resource
from drguard.findings import Finding
from drguard.settings import Settings
from drguard.stateindex import Managed, StateIndex

from . import aws, backends
from .services.pulumi import MANAGED_CONTROL

log = logging.getLogger(__name__)

CONTROL = MANAGED_CONTROL

# (ARN service, resource-part prefix) of the stateful resources judged, and their label.
STATEFUL: tuple[tuple[str, str, str], ...] = (
    ("rds", "db:", "AWS::RDS::DBInstance"),
    ("rds", "cluster:", "AWS::RDS::DBCluster"),
    ("dynamodb", "table/", "AWS::DynamoDB::Table"),
    ("s3", "", "AWS::S3::Bucket"),
    ("elasticfilesystem", "file-system/", "AWS::EFS::FileSystem"),
    ("redshift", "cluster:", "AWS::Redshift::Cluster"),
    ("elasticache", "replicationgroup:", "AWS::ElastiCache::ReplicationGroup"),
    ("elasticache", "cluster:", "AWS::ElastiCache::CacheCluster"),
    ("backup", "backup-vault:", "AWS::Backup::BackupVault"),
)


def stateful_type(arn: str) -> str | None:
    """The CloudFormation-style type of a stateful resource's ARN, else None."""
    parts = arn.split(":", 5)
    if len(parts) < 6 or parts[0] != "arn":
        return None
    service, rest = parts[2], parts[5]
    for svc, prefix, label in STATEFUL:
        # a bare name after the prefix: not an object key, snapshot or sub-resource
        if service == svc and rest.startswith(prefix) and rest[len(prefix):] \
                and "/" not in rest[len(prefix):]:
            return label
    return None


def backend_urls(args: argparse.Namespace, settings: Settings) -> list[str]:
    """--backend URLs, then the stateBucket setting (a name or an s3:// URL)."""
    urls = list(getattr(args, "backend", None) or [])
    bucket = settings.scope.state_bucket
    if bucket:
        url = bucket if bucket.startswith("s3://") else f"s3://{bucket}"
        if url.rstrip("/") not in (u.rstrip("/") for u in urls):
            urls.append(url)
    return urls


def judge(live: list[Finding], index: StateIndex, run: backends.BackendRun,
          settings: Settings, today: dt.date | None = None) -> list[Finding]:
    """One finding per distinct stateful resource of `live` (the state buckets themselves are
    the backends, not resources a stack is expected to manage)."""
    if CONTROL not in settings.enabled:
        return []
    seen: dict[tuple[str, str | None], Finding] = {}
    urls = run.public_urls()  # a URL may carry a password: the findings name it without
    for f in live:
        key = (f.resource, f.account)
        if f.source != "live" or key in seen:
            continue
        kind = stateful_type(f.resource)
        if kind is None:
            continue
        name = f.resource.replace(":", "/").rsplit("/", 1)[-1]
        if kind == "AWS::S3::Bucket" and name in run.state_buckets:
            continue
        hit: Managed | None = index.lookup(f.resource)
        fact = Resource(ref=f.resource, name=name, type=kind, account=f.account,
                        region=f.region)
        verdict = managed_by_code(fact, hit.stack if hit else None, hit.urn if hit else None,
                                  urls, run.unread)
        out = finding(CONTROL, fact, verdict, "live", settings, today)
        # what the resource's tags said, as read by the finding it was found through
        out.application, out.owner, out.tier = f.application, f.owner, f.tier
        out.tag_owner, out.tag_tier = f.tag_owner, f.tag_tier
        seen[key] = out
    return list(seen.values())


def scan_hook(args: argparse.Namespace, settings: Settings, result: Any) -> list[Finding]:
    """`dr-audit scan --backend`: called by auditor.commands.scan after the live scan."""
    notes = result.run["skipped"].setdefault("notes", [])
    urls = backend_urls(args, settings)
    if not urls:
        notes.append(f"{CONTROL}: not checked: no state backend was read (give --backend "
                     "s3://BUCKET, file://DIR or https://api.pulumi.com, or the stateBucket "
                     "setting)")
        return []
    options = aws.AwsOptions(profile=args.profile, role_arn=args.role_arn,
                             external_id=args.external_id, endpoint_url=args.endpoint_url)

    def s3_client() -> Any:
        session = getattr(result, "session", None) or aws.base_session(options)
        return aws.guard_client(session.client("s3", endpoint_url=options.endpoint_url,
                                               config=options.config()))

    index, run = backends.read(urls, s3_client, getattr(args, "backend_org", None))
    result.run["backends"] = run.to_run()
    result.index = index
    return judge(result.findings, index, run, settings)


def tier_tags_overriding(findings: list[Finding], settings: Settings) -> list[str]:
    """The resources whose `dr:tier` tag names another tier than the config gives their
    application: the tag decides (it may lower the objectives, or take the cross-region and
    cross-account controls off), and a tag is something anyone with tag rights can write."""
    out: dict[str, None] = {}
    for f in findings:
        conf = settings.apps.applications.get(f.application or "", {}).get("tier")
        if f.tag_tier and conf and f.tag_tier != conf:
            out.setdefault(f"{f.resource} (dr:tier={f.tag_tier}; {f.application}: {conf})")
    return list(out)


def applicable(findings: list[Finding], settings: Settings) -> list[Finding]:
    """Without the findings of controls their tier takes off (crossRegion/crossAccount:
    false)."""
    return [f for f in findings if apps_mod.applies(f.control, f.tier, settings.apps)]


def attribute(findings: list[Finding], index: StateIndex | None, settings: Settings) -> None:
    """Name the stack (and so the application) of every finding whose resource a checkpoint
    manages; the rest keep what their tags and the config said."""
    if index is None:
        return
    for i, f in enumerate(findings):
        hit = index.lookup(f.resource) if f.resource.startswith("arn:") else None
        if hit is not None:
            apps_mod.managed_by(f, hit.stack, hit.urn, settings.apps)
            findings[i] = retarget(f, settings)


def retarget(f: Finding, settings: Settings) -> Finding:
    """A finding judged against its tier's objectives before the checkpoint named its
    application (the recovery point objective), judged again against the tier now known:
    the tier a report shows is the one its verdict used."""
    fact = f.fact
    if not isinstance(fact, RecoveryPoints) or f.control != RPO or \
            f.tier == apps_mod.tier_of(fact.tags, settings.apps):
        return f
    from .scan import clean

    params = apps_mod.tier_params(settings.of(RPO), "targetRpoHours", f.tier, settings.apps)
    out = finding(RPO, fact, rpo(fact, params), f.source, settings)
    out.evidence = clean(out.evidence)
    out.application, out.stack, out.urn = f.application, f.stack, f.urn
    out.owner, out.tier = f.owner, f.tier
    out.tag_owner, out.tag_tier = f.tag_owner, f.tag_tier
    return out
