"""Pulumi programs for the Tier 2/3 pack tests (captured under mocks by tests.harness.capture).

Each function is a whole program. Names say what a resource is for; buckets are backup buckets
by their `-backups` names (the default scope pattern).
"""

from __future__ import annotations

import json

import pulumi
import pulumi_aws as aws
import pulumi_mongodbatlas as mongodbatlas

from drguard.registry import BACKUP_DELETION_ACTIONS

PAB = {"block_public_acls": True, "block_public_policy": True, "ignore_public_acls": True,
       "restrict_public_buckets": True}


def _deny(actions: list[str], **extra: object) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Sid": "DenyBackupDestruction", "Effect": "Deny", "Action": actions,
         "Resource": "*", **extra}]})


def scp_partial() -> None:
    """Attached to the root, denies s3:DeleteObject (and the rest of the list) but not
    s3:DeleteBucket: a substring check on "s3:Delete" would pass it."""
    actions = [a for a in BACKUP_DELETION_ACTIONS if a != "s3:DeleteBucket"] + ["s3:DeleteObject"]
    p = aws.organizations.Policy("partial-scp", content=_deny(actions))
    aws.organizations.PolicyAttachment("partial-scp-root", policy_id=p.id, target_id="r-a1b2")


def scp_unattached() -> None:
    """Denies every required action, but nothing attaches it."""
    aws.organizations.Policy("lonely-scp", content=_deny(BACKUP_DELETION_ACTIONS))


def scp_wildcards() -> None:
    """Wildcards and NotAction, attached to an OU: passes. A tag policy is not an SCP."""
    wide = aws.organizations.Policy("wildcard-scp", content=_deny([
        "s3:Delete*", "s3:PutBucket*", "s3:PutBucketObjectLock*", "s3:Bypass*",
        "rds:Delete*Snapshot", "backup:Delete*", "cloudtrail:StopLogging",
        "cloudtrail:DeleteTrail"]))
    aws.organizations.PolicyAttachment("wildcard-scp-ou", policy_id=wide.id,
                                       target_id="ou-a1b2-c3d4e5f6")
    aws.organizations.Policy("tags-only", type="TAG_POLICY", content=json.dumps({"tags": {}}))


def scp_not_action() -> None:
    """Deny everything except reads (NotAction), attached to the root: passes."""
    doc = json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Deny", "NotAction": ["s3:Get*", "s3:List*", "rds:Describe*"],
        "Resource": "*"}]})
    p = aws.organizations.Policy("read-only-scp", content=doc)
    aws.organizations.PolicyAttachment("read-only-scp-root", policy_id=p.id, target_id="r-a1b2")


def scp_takeover_break_glass() -> None:
    """Denies every required action but exempts a role any member account admin can create
    (nothing denies iam:CreateRole on it), attached to the root: fails."""
    p = aws.organizations.Policy("break-glass-scp", content=_deny(
        BACKUP_DELETION_ACTIONS,
        Condition={"ArnNotLike": {"aws:PrincipalArn": "arn:aws:iam::*:role/BreakGlass"}}))
    aws.organizations.PolicyAttachment("break-glass-scp-root", policy_id=p.id,
                                       target_id="r-a1b2")


def atlas_clusters() -> None:
    """MongoDB Atlas: one cluster with cloud backup, two without."""
    common = {"project_id": "5f0c0ffee0c0ffee0c0ffee0", "provider_name": "AWS",
              "provider_instance_size_name": "M10", "provider_region_name": "US_EAST_1"}
    mongodbatlas.Cluster("backed-up", cloud_backup=True, **common)
    mongodbatlas.Cluster("no-backup", **common)
    mongodbatlas.AdvancedCluster(
        "advanced-no-backup", project_id=common["project_id"], cluster_type="REPLICASET",
        backup_enabled=False,
        replication_specs=[{"region_configs": [{
            "provider_name": "AWS", "region_name": "US_EAST_1", "priority": 7,
            "electable_specs": {"instance_size": "M10"}}]}])


def _backup_bucket(name: str, **kw: object) -> aws.s3.Bucket:
    b = aws.s3.Bucket(name, object_lock_enabled=True, **kw)  # type: ignore[arg-type]
    opts = pulumi.ResourceOptions(provider=kw["opts"].provider) if "opts" in kw else None
    aws.s3.BucketPublicAccessBlock(f"{name}-pab", bucket=b.id, opts=opts, **PAB)
    return b


def replication_regions() -> None:
    """Replication judged by the destination's region: through the resource's own `region`
    (pulumi-aws v7) it crosses regions; to a bucket outside the stack the region is unknown."""
    src = _backup_bucket("ledger-backups")
    dest = _backup_bucket("ledger-backups-eu", region="eu-west-1")
    aws.s3.BucketReplicationConfig(
        "ledger-backups-replication", bucket=src.id, role="arn:aws:iam::123456789012:role/r",
        rules=[{"id": "eu", "status": "Enabled", "filter": {},
                "delete_marker_replication": {"status": "Disabled"},
                "destination": {"bucket": dest.arn}}])
    other = _backup_bucket("audit-backups")
    aws.s3.BucketReplicationConfig(
        "audit-backups-replication", bucket=other.id, role="arn:aws:iam::123456789012:role/r",
        rules=[{"id": "elsewhere", "status": "Enabled", "filter": {},
                "delete_marker_replication": {"status": "Disabled"},
                "destination": {"bucket": "arn:aws:s3:::someone-elses-bucket"}}])
    off = _backup_bucket("paused-backups")
    aws.s3.BucketReplicationConfig(
        "paused-backups-replication", bucket=off.id, role="arn:aws:iam::123456789012:role/r",
        rules=[{"id": "eu", "status": "Disabled", "filter": {},
                "delete_marker_replication": {"status": "Disabled"},
                "destination": {"bucket": dest.arn}}])


def deletion_alert_paths() -> None:
    """Every alert path, one bucket each:
    - `notified-backups`: S3 notification for s3:ObjectRemoved:* to SNS (passes);
    - `created-only-backups`: notification for s3:ObjectCreated:* only (fails);
    - `watched-backups`: EventBridge rule with a target + trail data events (passes);
    - `untargeted-backups`: the rule matches, but has no target (fails);
    - `unlogged-backups`: rule and target, but no trail logs its data events (fails)."""
    topic = aws.sns.Topic("alerts")
    notified = aws.s3.Bucket("notified-backups")
    aws.s3.BucketNotification("notified-backups-notification", bucket=notified.id, topics=[
        {"topic_arn": topic.arn, "events": ["s3:ObjectRemoved:*"]}])
    created = aws.s3.Bucket("created-only-backups")
    aws.s3.BucketNotification("created-only-backups-notification", bucket=created.id, topics=[
        {"topic_arn": topic.arn, "events": ["s3:ObjectCreated:*"]}])
    watched = aws.s3.Bucket("watched-backups")
    untargeted = aws.s3.Bucket("untargeted-backups")
    unlogged = aws.s3.Bucket("unlogged-backups")
    logs = aws.s3.Bucket("trail-logs")

    def rule(name: str, bucket: aws.s3.Bucket, target: bool) -> None:
        r = aws.cloudwatch.EventRule(name, event_pattern=pulumi.Output.json_dumps({
            "source": ["aws.s3"], "detail-type": ["AWS API Call via CloudTrail"],
            "detail": {"eventName": [{"prefix": "Delete"}],
                       "requestParameters": {"bucketName": [bucket.bucket]}}}))
        if target:
            aws.cloudwatch.EventTarget(name, rule=r.name, arn=topic.arn)

    rule("watched", watched, True)
    rule("untargeted", untargeted, False)
    rule("unlogged", unlogged, True)
    aws.cloudtrail.Trail(
        "main", s3_bucket_name=logs.id, is_multi_region_trail=True,
        enable_log_file_validation=True,
        advanced_event_selectors=[{"name": "backup writes", "field_selectors": [
            {"field": "eventCategory", "equals": ["Data"]},
            {"field": "resources.type", "equals": ["AWS::S3::Object"]},
            {"field": "readOnly", "equals": ["false"]},
            {"field": "resources.ARN", "starts_withs": [
                pulumi.Output.concat(watched.arn, "/"),
                pulumi.Output.concat(untargeted.arn, "/")]}]}])


def tier3_resources() -> None:
    """DynamoDB, AWS Backup vaults and EBS volumes, one good and one bad of each; EBS coverage
    through an AWS Backup selection by tag, the vault lock on a separate resource."""
    aws.dynamodb.Table("good-table", hash_key="id", billing_mode="PAY_PER_REQUEST",
                       attributes=[{"name": "id", "type": "S"}],
                       point_in_time_recovery={"enabled": True},
                       deletion_protection_enabled=True,
                       opts=pulumi.ResourceOptions(protect=True))
    aws.dynamodb.Table("no-pitr-table", hash_key="id", billing_mode="PAY_PER_REQUEST",
                       attributes=[{"name": "id", "type": "S"}],
                       deletion_protection_enabled=True,
                       opts=pulumi.ResourceOptions(protect=True))
    locked = aws.backup.Vault("locked-vault", opts=pulumi.ResourceOptions(protect=True))
    aws.backup.VaultLockConfiguration("locked-vault-lock", backup_vault_name=locked.name,
                                      min_retention_days=30, changeable_for_days=3)
    short = aws.backup.Vault("short-vault", opts=pulumi.ResourceOptions(protect=True))
    aws.backup.VaultLockConfiguration("short-vault-lock", backup_vault_name=short.name,
                                      min_retention_days=1)
    plan = aws.backup.Plan("volumes", rules=[{"rule_name": "daily",
                                              "target_vault_name": locked.name,
                                              "schedule": "cron(0 3 * * ? *)"}])
    aws.backup.Selection("tagged-volumes", plan_id=plan.id,
                         iam_role_arn="arn:aws:iam::123456789012:role/backup",
                         selection_tags=[{"type": "STRINGEQUALS", "key": "backup",
                                          "value": "daily"}])
    aws.ebs.Volume("covered-volume", availability_zone="us-east-1a", size=10,
                   tags={"backup": "daily"})
    aws.ebs.Volume("bare-volume", availability_zone="us-east-1a", size=10)


def s3_eventbridge_alert() -> None:
    """S3 sends its own events to EventBridge; the rule selects the bucket by ARN, which is
    unknown during preview (so is the whole pattern): advisory then, judged on update."""
    topic = aws.sns.Topic("alerts")
    b = aws.s3.Bucket("events-backups")
    aws.s3.BucketNotification("events-backups-notification", bucket=b.id, eventbridge=True)
    rule = aws.cloudwatch.EventRule(
        "events-backups-deleted", event_pattern=pulumi.Output.json_dumps({
            "source": ["aws.s3"], "detail-type": ["Object Deleted"], "resources": [b.arn]}))
    aws.cloudwatch.EventTarget("events-backups-deleted", rule=rule.name, arn=topic.arn)


def backup_copy_same_region() -> None:
    """An AWS Backup plan whose copy action writes to a second vault in the same region: not
    a copy in another region."""
    db = aws.rds.Instance("billing-db", engine="postgres", instance_class="db.t4g.micro",
                          allocated_storage=20, username="app",
                          password=pulumi.Output.secret("pw-123456"),
                          backup_retention_period=7, deletion_protection=True,
                          skip_final_snapshot=False, final_snapshot_identifier="billing-final",
                          delete_automated_backups=False,
                          opts=pulumi.ResourceOptions(protect=True))
    opts = pulumi.ResourceOptions(protect=True)
    primary = aws.backup.Vault("billing-vault", opts=opts)
    copy = aws.backup.Vault("billing-copy-vault", opts=opts)
    for name, v in (("billing-vault", primary), ("billing-copy-vault", copy)):
        aws.backup.VaultLockConfiguration(f"{name}-lock", backup_vault_name=v.name,
                                          min_retention_days=7)
    plan = aws.backup.Plan("billing", rules=[{
        "rule_name": "daily", "target_vault_name": primary.name,
        "schedule": "cron(0 3 * * ? *)",
        "copy_actions": [{"destination_vault_arn": copy.arn}]}])
    aws.backup.Selection("billing-db-selection", plan_id=plan.id, resources=[db.arn],
                         iam_role_arn="arn:aws:iam::123456789012:role/backup")


def region_from_environment() -> None:
    """Databases whose provider's region is not known at preview (here the output of another
    resource; a region the provider reads from the environment reaches the pack the same way):
    one replicates to us-west-2, one through that same provider, one has no copy at all."""
    holder = aws.ssm.Parameter("dr-region", type="String", value="us-east-1")
    env = aws.Provider("from-env", region=holder.id.apply(lambda _: "us-east-1"))
    dr = aws.Provider("dr", region="us-west-2")

    def db(name: str) -> aws.rds.Instance:
        return aws.rds.Instance(name, identifier=name, engine="postgres",
                                instance_class="db.t4g.micro", allocated_storage=20,
                                username="app", password=pulumi.Output.secret("pw-123456"),
                                backup_retention_period=7, deletion_protection=True,
                                skip_final_snapshot=False,
                                final_snapshot_identifier=f"{name}-final",
                                delete_automated_backups=False,
                                opts=pulumi.ResourceOptions(protect=True, provider=env))

    west = db("env-db-west")
    aws.rds.InstanceAutomatedBackupsReplication(
        "env-db-west-copy", source_db_instance_arn=west.arn, retention_period=7,
        opts=pulumi.ResourceOptions(provider=dr))
    both = db("env-db-env")
    aws.rds.InstanceAutomatedBackupsReplication(
        "env-db-env-copy", source_db_instance_arn=both.arn, retention_period=7,
        opts=pulumi.ResourceOptions(provider=env))
    db("env-db-alone")
