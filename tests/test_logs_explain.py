"""explain(): link a live failure to the most recent change event behind it."""

from __future__ import annotations

import datetime as dt
from typing import Any

from auditor.logs import Detector, detect, explain
from auditor.logs.explain import fold
from auditor.logs.samples import record
from drguard.findings import Finding
from drguard.settings import Settings

A = "111122223333"


def hit_list(*recs: dict[str, Any]) -> list:
    det = Detector(Settings())
    return [h for r in recs for h in det.hits(r)]


def versioning(bucket: str, hour: int, error: str | None = None) -> dict[str, Any]:
    return record("PutBucketVersioning", "s3.amazonaws.com",
                  {"bucketName": bucket, "VersioningConfiguration": {"Status": "Suspended"}},
                  time=dt.datetime(2024, 5, 2, hour, tzinfo=dt.UTC), error_code=error)


def live(control: str, resource: str, status: str = "fail") -> Finding:
    return Finding(control=control, status=status, source="live", resource=resource,  # type: ignore[arg-type]
                   message="m", account=A, region="us-east-1")


def test_links_the_most_recent_change_on_the_same_resource() -> None:
    old, new = versioning("nightly-backups", 8), versioning("nightly-backups", 9)
    attempt = versioning("nightly-backups", 10, error="AccessDenied")
    other = versioning("db-backups", 11)
    f = live("backup-bucket-versioning", "arn:aws:s3:::nightly-backups")
    passing = live("backup-bucket-versioning", "arn:aws:s3:::db-backups", status="pass")
    unrelated = live("backup-bucket-versioning", "arn:aws:s3:::web-backups")
    explain([f, passing, unrelated], hit_list(new, attempt, old, other))
    assert f.event is not None and f.event["eventId"] == new["eventID"]
    assert passing.event is None and unrelated.event is None


def test_account_wide_controls_link_by_account() -> None:
    stop = record("StopLogging", "cloudtrail.amazonaws.com", {"name": "main"}, account=A)
    f = live("cloudtrail-enabled", f"arn:aws:iam::{A}:root")
    elsewhere = Finding(control="cloudtrail-enabled", status="fail", source="live",
                        resource="x", message="m", account="999999999999")
    explain([f, elsewhere], hit_list(stop))
    assert f.event is not None and f.event["eventName"] == "StopLogging"
    assert f.event["resource"].endswith(":trail/main")
    assert elsewhere.event is None


def test_resource_scoped_controls_do_not_link_by_account() -> None:
    mod = record("ModifyDBInstance", "rds.amazonaws.com",
                 {"dBInstanceIdentifier": "orders", "deletionProtection": False}, account=A)
    f = live("rds-deletion-protection", f"arn:aws:rds:us-east-1:{A}:db:billing")
    same = live("rds-deletion-protection", f"arn:aws:rds:us-east-1:{A}:db:orders")
    explain([f, same], hit_list(mod))
    assert f.event is None and same.event is not None


def test_a_same_named_resource_in_another_region_does_not_explain_the_gap() -> None:
    """A database `orders` in eu-west-1 and one in us-east-1 are two resources: the change
    to one never explains (nor swallows the logs row of) the gap of the other."""
    mod = record("ModifyDBInstance", "rds.amazonaws.com",
                 {"dBInstanceIdentifier": "orders", "deletionProtection": False}, account=A,
                 region="eu-west-1")
    found = hit_list(mod)
    f = live("rds-deletion-protection", f"arn:aws:rds:us-east-1:{A}:db:orders")
    used = explain([f], found)
    assert f.event is None and used == {}
    rest = fold([f], detect.findings(found, Settings()), used)
    assert [r.resource for r in rest] == [f"arn:aws:rds:eu-west-1:{A}:db:orders"]
    # a cluster and an instance of the same name in the same region still link by name
    same = live("rds-deletion-protection", f"arn:aws:rds:eu-west-1:{A}:cluster:orders")
    same.region = "eu-west-1"
    explain([same], found)
    assert same.event is not None and same.event["eventId"] == mod["eventID"]
