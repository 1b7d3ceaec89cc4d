"""A synthetic but realistic Pulumi program for the benchmarks: `resources` (config) resources
of many pulumi-aws kinds, most of them not DR-related, as in real stacks."""

import json

import pulumi
import pulumi_aws as aws

target = pulumi.Config().get_int("resources") or 1000
count = 0


def made(n: int = 1) -> None:
    global count
    count += n


unit = 0
while count < target:
    u = f"u{unit}"
    role = aws.iam.Role(f"{u}-role", assume_role_policy=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                "Principal": {"Service": "ec2.amazonaws.com"}}]}))
    aws.iam.RolePolicyAttachment(f"{u}-attach", role=role.name,
                                 policy_arn="arn:aws:iam::aws:policy/ReadOnlyAccess")
    sg = aws.ec2.SecurityGroup(f"{u}-sg", description="app", ingress=[{
        "protocol": "tcp", "from_port": 443, "to_port": 443, "cidr_blocks": ["10.0.0.0/8"]}])
    aws.ec2.Instance(f"{u}-vm", ami="ami-0123456789abcdef0", instance_type="t3.micro",
                     vpc_security_group_ids=[sg.id], tags={"Name": f"{u}-vm", "team": "app"})
    aws.sqs.Queue(f"{u}-queue", visibility_timeout_seconds=60)
    aws.sns.Topic(f"{u}-topic")
    aws.cloudwatch.LogGroup(f"{u}-logs", retention_in_days=30)
    assets = aws.s3.Bucket(f"{u}-assets", tags={"team": "web"})
    aws.s3.BucketPublicAccessBlock(f"{u}-assets-pab", bucket=assets.id, block_public_acls=True,
                                   block_public_policy=True, ignore_public_acls=True,
                                   restrict_public_buckets=True)
    made(9)
    if unit % 3 == 0:
        backups = aws.s3.Bucket(f"{u}-backups", object_lock_enabled=True,
                                tags={"dr:backup": "true"},
                                opts=pulumi.ResourceOptions(protect=True))
        aws.s3.BucketVersioning(f"{u}-backups-versioning", bucket=backups.id,
                                versioning_configuration={"status": "Enabled"})
        aws.s3.BucketObjectLockConfiguration(
            f"{u}-backups-lock", bucket=backups.id,
            rule={"default_retention": {"mode": "COMPLIANCE", "days": 30}})
        aws.rds.Instance(f"{u}-db", engine="postgres", instance_class="db.t4g.micro",
                         allocated_storage=20, username="app",
                         password=pulumi.Output.secret("bench-password"),
                         backup_retention_period=7 if unit % 2 else 1,
                         deletion_protection=True, skip_final_snapshot=False,
                         final_snapshot_identifier=f"{u}-final", delete_automated_backups=False,
                         opts=pulumi.ResourceOptions(protect=True))
        aws.dynamodb.Table(f"{u}-table", hash_key="id", billing_mode="PAY_PER_REQUEST",
                           attributes=[{"name": "id", "type": "S"}],
                           point_in_time_recovery={"enabled": True})
        made(5)
    unit += 1
