"""`dr-audit drill next`: which resource to drill, and why (reads only).

Candidates are the stateful resources of one region that a drill can restore:
- RDS DB instances (not the members of a cluster: restored with it) -> `drill rds`;
- DB clusters (Aurora, DocumentDB, Neptune) -> `drill cluster`;
- DynamoDB tables -> `drill dynamodb`;
- backup buckets, as the scan scopes them (the `dr:backup` tag, a name pattern) -> `drill s3`;
- the Pulumi state backend (the `stateBucket` setting) -> `drill state`, on the stack whose
  checkpoint changed last (the one a state loss would hurt most).

A resource is left out when it is a drill's own scratch resource, or when a waiver covers it
for the `restore-time-objective` control (or `*`). Its tier is the `dr:tier` tag, else the
tier of the application its `dr:app` tag names in the config.

Restore evidence is the scan's (drguard.restore_evidence, read by auditor.services.restore):
the drills of the history (`--history`) and AWS Backup's completed restore jobs; a source
that cannot be read is unknown evidence, and the explanation says so (an emulator that does
not serve ListRestoreJobs is one such case).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping
from dataclasses import field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from drguard import applications as apps_mod
from drguard import restore_evidence as rev
from drguard import waivers as waivers_mod
from drguard.controls.objectives import RESTORE, target_rto
from drguard.records import record
from drguard.settings import Settings

from ..aws import paginate
from ..collectors import ReadError, bucket_arn
from ..services import restore as restore_service
from .guard import NAME_PREFIX
from .plan import aws_error, error_code
from .state import parse_backend

log = logging.getLogger(__name__)

EVIDENCE_CONTROL = RESTORE
_S3_REGION = {None: "us-east-1", "": "us-east-1", "EU": "eu-west-1"}


def _tags(tag_list: Any) -> dict[str, str]:
    return {str(t.get("Key")): str(t.get("Value")) for t in tag_list or ()
            if isinstance(t, Mapping)}


@record
class Found:
    """The candidates of a region, and what was left out and why."""

    resources: list[rev.Resource] = field(default_factory=list)
    left_out: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    # (kind, name) -> (target RTO minutes, where it came from), as the scan judges it
    targets: dict[tuple[str, str], tuple[float, str]] = field(default_factory=dict)


def _admit(found: Found, settings: Settings, kind: str, name: str, region: str, arn: str,
           tags: dict[str, str], today: dt.date, account: str | None = None,
           detail: str = "") -> None:
    if name.startswith(NAME_PREFIX):
        return
    match = waivers_mod.find(settings.waivers, EVIDENCE_CONTROL, [arn, name], tags, today)
    if match is not None and not match.expired:
        found.left_out.append(f"{kind} {name}: waived by {match.waiver.owner} until "
                              f"{match.waiver.expires} ({match.waiver.reason})")
        return
    tier = apps_mod.tier_of(tags, settings.apps)
    try:
        minutes, source, _ = target_rto(tags, tier, dict(settings.apps.objectives(tier)),
                                        settings.of(RESTORE)["targetRtoMinutes"],
                                        apps_mod.undefined_tier(tier, settings.apps))
    except ValueError:  # a dr:rto tag that is no duration, or a tier the config does not
        # define (UndefinedTier): no target, as the scan says
        pass
    else:
        found.targets[(kind, name)] = (minutes, source)
    found.resources.append(rev.Resource(kind, name, region, arn, tier.lower() if tier else None,
                                        account, detail))


def _databases(found: Found, account: Any, region: str, settings: Settings,
               today: dt.date) -> None:
    """RDS instances, DB clusters and DynamoDB tables of `region`."""
    owner = getattr(account, "id", None)
    rds = account.client("rds", region)
    try:
        for c in paginate(rds, "describe_db_clusters", "DBClusters"):
            _admit(found, settings, "cluster", str(c["DBClusterIdentifier"]), region,
                   str(c.get("DBClusterArn") or ""), _tags(c.get("TagList")), today, owner)
        for d in paginate(rds, "describe_db_instances", "DBInstances"):
            if d.get("DBClusterIdentifier"):
                continue  # restored with its cluster
            _admit(found, settings, "rds", str(d["DBInstanceIdentifier"]), region,
                   str(d.get("DBInstanceArn") or ""), _tags(d.get("TagList")), today, owner)
    except (ClientError, BotoCoreError) as e:
        found.errors.append(f"RDS in {region}: {aws_error(e)}")
    ddb = account.client("dynamodb", region)
    try:
        for name in paginate(ddb, "list_tables", "TableNames"):
            arn = str(ddb.describe_table(TableName=name)["Table"].get("TableArn") or "")
            tags = _tags(paginate(ddb, "list_tags_of_resource", "Tags", ResourceArn=arn)) \
                if arn else {}
            _admit(found, settings, "dynamodb", str(name), region, arn, tags, today, owner)
    except (ClientError, BotoCoreError) as e:
        found.errors.append(f"DynamoDB in {region}: {aws_error(e)}")


def discover(account: Any, regions: list[str], settings: Settings,
             today: dt.date | None = None) -> Found:
    """Every restorable resource of `regions` in scope, as one list of candidates (reads
    only; the buckets are listed once, whatever the number of regions)."""
    today = today or dt.date.today()
    found = Found()
    for region in regions:
        _databases(found, account, region, settings, today)
    _buckets(found, account, regions, settings, today, getattr(account, "id", None))
    return found


def _state_backend(settings: Settings) -> tuple[str, str] | None:
    """(bucket, prefix) of the stateBucket setting (a name or an s3:// URL), else None."""
    value = settings.scope.state_bucket
    if not value:
        return None
    try:
        return parse_backend(value if value.startswith("s3://") else f"s3://{value}")
    except ValueError:
        return None


def _bucket_region(s3: Any, b: Mapping[str, Any]) -> str:
    if b.get("BucketRegion"):
        return str(b["BucketRegion"])
    loc = s3.get_bucket_location(Bucket=b["Name"]).get("LocationConstraint")
    return _S3_REGION.get(loc, loc)


def _bucket_tags(s3: Any, name: str) -> dict[str, str]:
    try:
        return _tags(s3.get_bucket_tagging(Bucket=name).get("TagSet"))
    except ClientError as e:
        if error_code(e) == "NoSuchTagSet":
            return {}
        raise


def newest_stack(s3: Any, bucket: str, prefix: str) -> str | None:
    """PROJECT/STACK of the checkpoint under `.pulumi/stacks/` that changed last (`.bak`
    files and `.pulumi/history/` are not checkpoints), else None."""
    root = f"{prefix}/.pulumi/stacks/" if prefix else ".pulumi/stacks/"
    best: tuple[Any, str] | None = None
    for o in paginate(s3, "list_objects_v2", "Contents", Bucket=bucket, Prefix=root):
        rest = str(o["Key"])[len(root):]
        project, _, file = rest.partition("/")
        stack = file.removesuffix(".gz").removesuffix(".json")
        if not project or "/" in file or stack == file or not stack:
            continue
        if best is None or o["LastModified"] > best[0]:
            best = (o["LastModified"], f"{project}/{stack}")
    return best[1] if best else None


def _buckets(found: Found, account: Any, regions: list[str], settings: Settings,
             today: dt.date, owner: str | None) -> None:
    """Backup buckets (drill s3) and the state backend (drill state) of `regions`."""
    state = _state_backend(settings)
    s3 = account.client("s3", regions[0])
    try:
        buckets = list(paginate(s3, "list_buckets", "Buckets"))
    except (ClientError, BotoCoreError) as e:
        found.errors.append(f"S3 buckets: {aws_error(e)}")
        return
    for b in buckets:
        name = str(b["Name"])
        if name.startswith(NAME_PREFIX):
            continue
        try:
            region = _bucket_region(s3, b)
            if region not in regions:
                continue
            tags = _bucket_tags(s3, name)
            arn = bucket_arn(name, region)
            if state is not None and name == state[0]:
                url = f"s3://{name}" + (f"/{state[1]}" if state[1] else "")
                stack = newest_stack(s3, name, state[1])
                if stack is None:
                    found.left_out.append(f"state {url}: no checkpoint under .pulumi/stacks/")
                else:
                    _admit(found, settings, "state", name, region, arn, tags, today, owner,
                           f"{url} {stack}")
            elif settings.scope.reasons(name, tags):
                _admit(found, settings, "s3", name, region, arn, tags, today, owner)
        except (ClientError, BotoCoreError) as e:
            found.errors.append(f"S3 bucket {name}: {aws_error(e)}")


def restore_jobs(account: Any, region: str) -> tuple[list[dict[str, Any]], str | None]:
    """AWS Backup's completed restore jobs in `region`; (jobs, why unknown or None)."""
    try:
        return restore_service.restore_jobs(account.client("backup", region)), None
    except (ClientError, BotoCoreError) as e:
        error = ReadError.of("backup:ListRestoreJobs", e)
        why = restore_service.jobs_unread(region, error)
        log.warning("drill next: %s: counted as unknown evidence (%s)", why,
                    " ".join(str(error).split())[:200])
        return [], why
