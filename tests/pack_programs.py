"""Pulumi programs used by the pack tests (captured under mocks by tests.harness.capture)."""

from __future__ import annotations

import pulumi
import pulumi_aws as aws
import pulumi_aws_native as aws_native


def seven_day_db() -> None:
    """A protected, deletion-protected instance keeping 7 days of backups: passes the
    default minimum, fails a raised one."""
    aws.rds.Instance("reports-db", engine="postgres", instance_class="db.t4g.micro",
                     allocated_storage=20, username="app",
                     password=pulumi.Output.secret("s3cr3t-pa55"),
                     backup_retention_period=7, deletion_protection=True,
                     skip_final_snapshot=False, final_snapshot_identifier="reports-final",
                     delete_automated_backups=False,
                     opts=pulumi.ResourceOptions(protect=True))


def scratch_db() -> None:
    """An unprotected scratch database, for waivers."""
    aws.rds.Instance("scratch-db", identifier="scratch-db-1", engine="postgres",
                     instance_class="db.t4g.micro", allocated_storage=20, username="app",
                     password=pulumi.Output.secret("pw-123456"), backup_retention_period=7,
                     deletion_protection=False, skip_final_snapshot=False,
                     final_snapshot_identifier="scratch-final", delete_automated_backups=False,
                     opts=pulumi.ResourceOptions(protect=True))


def unknown_retention() -> None:
    """Retention computed from another resource's output: unknown during preview."""
    param_group = aws.rds.ParameterGroup("pg", family="postgres16")
    aws.rds.Instance("computed-db", engine="postgres", instance_class="db.t4g.micro",
                     allocated_storage=20, username="app",
                     password=pulumi.Output.secret("pw-123456"),
                     backup_retention_period=param_group.arn.apply(lambda _: 3),
                     deletion_protection=True, skip_final_snapshot=False,
                     final_snapshot_identifier="computed-final", delete_automated_backups=False,
                     opts=pulumi.ResourceOptions(protect=True))


def v6_tokens() -> None:
    """pulumi-aws v6 shapes: BucketV2 with its V2 split resources, one compliant and one not."""
    ok = aws.s3.BucketV2("ledger-backups", object_lock_enabled=True,
                         opts=pulumi.ResourceOptions(protect=True))
    aws.s3.BucketVersioningV2("ledger-backups-versioning", bucket=ok.id,
                              versioning_configuration={"status": "Enabled"})
    aws.s3.BucketObjectLockConfigurationV2(
        "ledger-backups-lock", bucket=ok.id,
        rule={"default_retention": {"mode": "COMPLIANCE", "years": 1}})
    bad = aws.s3.BucketV2("media-backups", opts=pulumi.ResourceOptions(protect=True))
    aws.s3.BucketVersioningV2("media-backups-versioning", bucket=bad.id,
                              versioning_configuration={"status": "Suspended"})


def native_only() -> None:
    """aws-native resources carry the settings inline."""
    aws_native.s3.Bucket("vault-backups", versioning_configuration={"status": "Enabled"},
                         object_lock_enabled=True,
                         object_lock_configuration={
                             "object_lock_enabled": "Enabled",
                             "rule": {"default_retention": {"mode": "COMPLIANCE", "days": 45}}},
                         opts=pulumi.ResourceOptions(protect=True))
    aws_native.rds.DbCluster("native-aurora", engine="aurora-postgresql",
                             backup_retention_period=3, deletion_protection=True,
                             opts=pulumi.ResourceOptions(protect=True))
    aws_native.cloudtrail.Trail("native-trail", is_logging=True, is_multi_region_trail=True,
                                enable_log_file_validation=False, s3_bucket_name="vault-backups")
