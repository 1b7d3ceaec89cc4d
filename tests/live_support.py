"""Helpers for the live-scan tests: seeding moto through boto3, running a scan, picking
findings."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from auditor.aws import AwsOptions
from auditor.demo_seed import create_bucket
from auditor.scan import ScanOptions, ScanResult, scan
from auditor.services.recovery import EMULATOR_CONTROLS
from drguard.findings import Finding
from drguard.settings import from_mapping

ACCOUNT = "123456789012"  # moto's default account
REGIONS = ["us-east-1", "us-west-2"]
# moto serves no AWS Backup job listings and no vault access policies: scans of it leave the
# controls that read only those off, as `dr-audit demo` does, unless a test passes a config
# (`config={}` turns every control on).
EMULATOR_CONFIG: dict[str, Any] = {"controls": EMULATOR_CONTROLS}
PAB = {"BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True,
       "RestrictPublicBuckets": True}


def run_scan(aws: Any, regions: list[str] | None = None, config: dict[str, Any] | None = None,
             endpoint: str | None = None, now: dt.datetime | None = None,
             **options: Any) -> ScanResult:
    settings = from_mapping(EMULATOR_CONFIG if config is None else config)
    opts = ScanOptions(aws=AwsOptions(endpoint_url=endpoint or aws.url),
                       regions=regions or list(REGIONS), workers=4, now=now, **options)
    return scan(opts, settings)


def pick(findings: list[Finding], control: str, resource: str | None = None) -> list[Finding]:
    return [f for f in findings if f.control == control
            and (resource is None or f.resource.endswith(resource))]


def one(findings: list[Finding], control: str, resource: str) -> Finding:
    hits = pick(findings, control, resource)
    assert len(hits) == 1, (control, resource, [(f.resource, f.status) for f in
                                                pick(findings, control)])
    return hits[0]


def bucket(aws: Any, name: str, region: str = "us-east-1", lock: bool = False,
           tags: dict[str, str] | None = None, versioned: bool = False,
           pab: dict[str, bool] | None = None) -> Any:
    s3 = create_bucket(aws.client("s3", region), name, region, lock, tags)
    if versioned:
        s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    if pab is not None:
        s3.put_public_access_block(Bucket=name, PublicAccessBlockConfiguration=pab)
    return s3


def lock(s3: Any, name: str, mode: str = "COMPLIANCE", days: int | None = 30,
         years: int | None = None) -> None:
    ret: dict[str, Any] = {"Mode": mode}
    if years:
        ret["Years"] = years
    else:
        ret["Days"] = days
    s3.put_object_lock_configuration(Bucket=name, ObjectLockConfiguration={
        "ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": ret}})


def replicate(s3: Any, source: str, dest: str) -> None:
    s3.put_bucket_replication(Bucket=source, ReplicationConfiguration={
        "Role": f"arn:aws:iam::{ACCOUNT}:role/replication",
        "Rules": [{"ID": "dr", "Status": "Enabled", "Priority": 1, "Filter": {},
                   "DeleteMarkerReplication": {"Status": "Disabled"},
                   "Destination": {"Bucket": f"arn:aws:s3:::{dest}"}}]})


def db(aws: Any, name: str, region: str = "us-east-1", retention: int = 14,
       protect: bool = True, engine: str = "postgres", **kw: Any) -> None:
    aws.client("rds", region).create_db_instance(
        DBInstanceIdentifier=name, DBInstanceClass="db.t3.micro", Engine=engine,
        MasterUsername="admin", MasterUserPassword="password-123", AllocatedStorage=20,
        BackupRetentionPeriod=retention, DeletionProtection=protect, **kw)


def copy_snapshot(aws: Any, db_name: str, source: str = "us-east-1",
                  dest: str = "us-west-2") -> None:
    aws.client("rds", source).create_db_snapshot(DBInstanceIdentifier=db_name,
                                                 DBSnapshotIdentifier=f"{db_name}-snap")
    aws.client("rds", dest).copy_db_snapshot(
        SourceDBSnapshotIdentifier=f"arn:aws:rds:{source}:{ACCOUNT}:snapshot:{db_name}-snap",
        TargetDBSnapshotIdentifier=f"{db_name}-snap-dr", SourceRegion=source)


def trail(aws: Any, name: str, bucket_name: str, multi_region: bool = True,
          validation: bool = True, logging: bool = True,
          data_buckets: list[str] | None = None, region: str = "us-east-1") -> Any:
    ct = aws.client("cloudtrail", region)
    ct.create_trail(Name=name, S3BucketName=bucket_name, IsMultiRegionTrail=multi_region,
                    EnableLogFileValidation=validation)
    if logging:
        ct.start_logging(Name=name)
    if data_buckets is not None:
        ct.put_event_selectors(TrailName=name, EventSelectors=[{
            "ReadWriteType": "WriteOnly", "IncludeManagementEvents": True,
            "DataResources": [{"Type": "AWS::S3::Object",
                               "Values": [f"arn:aws:s3:::{b}/" for b in data_buckets]}]}])
    return ct


def deletion_rule(aws: Any, name: str, buckets: list[str], target: bool = True,
                  state: str = "ENABLED", events: list[str] | None = None,
                  region: str = "us-east-1") -> None:
    ev = aws.client("events", region)
    ev.put_rule(Name=name, State=state, EventPattern=json.dumps({
        "source": ["aws.s3"], "detail-type": ["AWS API Call via CloudTrail"],
        "detail": {"eventSource": ["s3.amazonaws.com"],
                   "eventName": events or ["DeleteObject", "DeleteObjects", "DeleteBucket"],
                   "requestParameters": {"bucketName": buckets}}}))
    if target:
        topic = aws.client("sns", region).create_topic(Name=f"{name}-topic")["TopicArn"]
        ev.put_targets(Rule=name, Targets=[{"Id": "alert", "Arn": topic}])
