"""`dr-audit drill next`: which resource to drill, and why (reads only).

Candidates are the stateful resources a drill can restore, in one region: RDS DB instances
(not the members of a cluster), DB clusters (Aurora, DocumentDB, Neptune) and DynamoDB tables.
A resource is left out when it is a drill's own scratch resource, or when a waiver covers it
for the `restore-time-objective` control (or `*`). Its tier is the `dr:tier` tag.

Restore evidence (drguard.restore_evidence) comes from the drill history (`--history`) and
AWS Backup's completed restore jobs; a source that cannot be read is unknown evidence, and the
explanation says so (an emulator that does not serve ListRestoreJobs is one such case).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from drguard import restore_evidence as rev
from drguard import waivers as waivers_mod
from drguard.applications import TIER_TAG
from drguard.controls.objectives import RESTORE
from drguard.settings import Settings

from ..aws import paginate
from .guard import NAME_PREFIX
from .plan import aws_error

log = logging.getLogger(__name__)

EVIDENCE_CONTROL = RESTORE


def _tags(tag_list: Any) -> dict[str, str]:
    return {str(t.get("Key")): str(t.get("Value")) for t in tag_list or ()
            if isinstance(t, Mapping)}


@dataclass
class Found:
    """The candidates of a region, and what was left out and why."""

    resources: list[rev.Resource] = field(default_factory=list)
    left_out: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def _admit(found: Found, settings: Settings, kind: str, name: str, region: str, arn: str,
           tags: dict[str, str], today: dt.date) -> None:
    if name.startswith(NAME_PREFIX):
        return
    match = waivers_mod.find(settings.waivers, EVIDENCE_CONTROL, [arn, name], tags, today)
    if match is not None and not match.expired:
        found.left_out.append(f"{kind} {name}: waived by {match.waiver.owner} until "
                              f"{match.waiver.expires} ({match.waiver.reason})")
        return
    tier = tags.get(TIER_TAG)
    found.resources.append(rev.Resource(kind, name, region, arn, tier.lower() if tier else None))


def discover(account: Any, region: str, settings: Settings,
             today: dt.date | None = None) -> Found:
    """Every restorable resource of `region` that is in scope (reads only)."""
    today = today or dt.date.today()
    found = Found()
    rds = account.client("rds", region)
    try:
        for c in paginate(rds, "describe_db_clusters", "DBClusters"):
            _admit(found, settings, "cluster", str(c["DBClusterIdentifier"]), region,
                   str(c.get("DBClusterArn") or ""), _tags(c.get("TagList")), today)
        for d in paginate(rds, "describe_db_instances", "DBInstances"):
            if d.get("DBClusterIdentifier"):
                continue  # restored with its cluster
            _admit(found, settings, "rds", str(d["DBInstanceIdentifier"]), region,
                   str(d.get("DBInstanceArn") or ""), _tags(d.get("TagList")), today)
    except (ClientError, BotoCoreError) as e:
        found.errors.append(f"RDS in {region}: {aws_error(e)}")
    ddb = account.client("dynamodb", region)
    try:
        for name in paginate(ddb, "list_tables", "TableNames"):
            arn = str(ddb.describe_table(TableName=name)["Table"].get("TableArn") or "")
            tags = _tags(ddb.list_tags_of_resource(ResourceArn=arn).get("Tags")) if arn else {}
            _admit(found, settings, "dynamodb", str(name), region, arn, tags, today)
    except (ClientError, BotoCoreError) as e:
        found.errors.append(f"DynamoDB in {region}: {aws_error(e)}")
    return found


def restore_jobs(account: Any, region: str) -> tuple[list[dict[str, Any]], str | None]:
    """AWS Backup's completed restore jobs in `region`; (jobs, why unknown or None)."""
    try:
        return list(paginate(account.client("backup", region), "list_restore_jobs",
                             "RestoreJobs", ByStatus="COMPLETED")), None
    except (ClientError, BotoCoreError) as e:
        detail = " ".join(aws_error(e).split())[:120]
        why = f"AWS Backup restore jobs in {region} could not be read ({detail})"
        log.warning("drill next: %s: counted as unknown evidence", why)
        return [], why
