"""Pulumi programs (pulumi-aws v7) for the recoverability controls: good and bad twins."""

from __future__ import annotations

import json

OTHER = "210987654321"  # the backup account
ROLE = "arn:aws:iam::123456789012:role/backup"
RECORD_VAULT = f"arn:aws:backup:us-east-1:{OTHER}:backup-vault:vault-of-record"
SAME_VAULT = "arn:aws:backup:us-west-2:123456789012:backup-vault:dr-west"

DENY = {"Version": "2012-10-17", "Statement": [{
    "Sid": "DenyDelete", "Effect": "Deny", "Principal": {"AWS": "*"},
    "Action": ["backup:DeleteRecoveryPoint", "backup:UpdateRecoveryPointLifecycle",
               "backup:PutBackupVaultAccessPolicy", "backup:DeleteBackupVaultAccessPolicy"],
    "Resource": "*"}]}
ACCEPT_COPIES = {"Sid": "AcceptCopies", "Effect": "Allow",
                 "Principal": {"AWS": "arn:aws:iam::111122223333:root"},
                 "Action": "backup:CopyIntoBackupVault", "Resource": "*"}


def recovery_good() -> None:
    """A database (by ARN) and a table (by tag) selected by a plan copying daily to another
    account, kept 35 days; a backup bucket replicated to another account's bucket it owns; a
    destination vault (accepts copies) compliance-locked; every vault denies deletion."""
    import pulumi
    import pulumi_aws as aws

    keep = pulumi.ResourceOptions(protect=True)
    db = aws.rds.Instance("orders", engine="postgres", instance_class="db.t4g.micro",
                          allocated_storage=20, username="app", password="pw-Zq81-secret",
                          backup_retention_period=7, deletion_protection=True,
                          final_snapshot_identifier="orders-final", opts=keep)
    aws.dynamodb.Table("ledger", hash_key="id", attributes=[{"name": "id", "type": "S"}],
                       billing_mode="PAY_PER_REQUEST", tags={"dr:copy": "cross-account"},
                       opts=keep)
    vault = aws.backup.Vault("local-vault", opts=keep)
    aws.backup.VaultPolicy("local-vault-policy", backup_vault_name=vault.name,
                           policy=json.dumps(DENY))
    plan = aws.backup.Plan("cross-account", rules=[{
        "rule_name": "daily", "target_vault_name": vault.name,
        "schedule": "cron(0 5 ? * * *)", "lifecycle": {"delete_after": 35},
        "copy_actions": [{"destination_vault_arn": RECORD_VAULT,
                          "lifecycle": {"delete_after": 35}}]}, {
        "rule_name": "twice-daily", "target_vault_name": vault.name,
        "schedule": "rate(12 hours)", "lifecycle": {"delete_after": 40}}])
    aws.backup.Selection("by-arn", plan_id=plan.id, iam_role_arn=ROLE, resources=[db.arn])
    aws.backup.Selection("by-tag", plan_id=plan.id, iam_role_arn=ROLE, selection_tags=[{
        "type": "STRINGEQUALS", "key": "dr:copy", "value": "cross-account"}])
    bucket = aws.s3.BucketV2("backups-primary", opts=keep)
    aws.s3.BucketReplicationConfig("backups-primary-replication", bucket=bucket.id, role=ROLE,
                                   rules=[{"id": "to-backup-account", "status": "Enabled",
                                           "destination": {
                                               "bucket": "arn:aws:s3:::backups-of-record",
                                               "account": OTHER,
                                               "access_control_translation": {
                                                   "owner": "Destination"}}}])
    record = aws.backup.Vault("vault-of-record", opts=keep)
    aws.backup.VaultLockConfiguration("vault-of-record-lock", backup_vault_name=record.name,
                                      min_retention_days=35, changeable_for_days=3)
    aws.backup.VaultPolicy("vault-of-record-policy", backup_vault_name=record.name,
                           policy=json.dumps({**DENY, "Statement": DENY["Statement"]
                                              + [ACCEPT_COPIES]}))
    gapped = aws.backup.LogicallyAirGappedVault("air-gapped", name="air-gapped",
                                                min_retention_days=7,
                                                max_retention_days=35, opts=keep)
    aws.backup.VaultPolicy("air-gapped-policy", backup_vault_name=gapped.name,
                           policy=json.dumps(DENY))


def recovery_bad() -> None:
    """A database copied only to another region of its own account; a table no selection
    selects (its tag does not match); a bucket replicated to another account but replicas
    owned here; a weekly plan keeping 7 days; a plan with an unreadable schedule; a destination
    vault with a governance lock; vaults without or with a narrowed deny."""
    import pulumi
    import pulumi_aws as aws

    keep = pulumi.ResourceOptions(protect=True)
    db = aws.rds.Instance("orders", engine="postgres", instance_class="db.t4g.micro",
                          allocated_storage=20, username="app", password="pw-Zq81-secret",
                          backup_retention_period=7, deletion_protection=True,
                          final_snapshot_identifier="orders-final", opts=keep)
    aws.dynamodb.Table("ledger", hash_key="id", attributes=[{"name": "id", "type": "S"}],
                       billing_mode="PAY_PER_REQUEST", tags={"dr:copy": "none"}, opts=keep)
    vault = aws.backup.Vault("local-vault", opts=keep)
    narrowed = {**DENY, "Statement": [{**DENY["Statement"][0], "Condition": {
        "ArnNotLike": {"aws:PrincipalArn": "arn:aws:iam::123456789012:role/admin-*"}}}]}
    aws.backup.VaultPolicy("local-vault-policy", backup_vault_name=vault.name,
                           policy=json.dumps(narrowed))
    plan = aws.backup.Plan("same-account", rules=[{
        "rule_name": "weekly", "target_vault_name": vault.name,
        "schedule": "cron(0 5 ? * SUN *)", "lifecycle": {"delete_after": 7},
        "copy_actions": [{"destination_vault_arn": SAME_VAULT,
                          "lifecycle": {"delete_after": 7}}]}])
    aws.backup.Selection("by-arn", plan_id=plan.id, iam_role_arn=ROLE, resources=[db.arn])
    aws.backup.Selection("by-tag", plan_id=plan.id, iam_role_arn=ROLE, selection_tags=[{
        "type": "STRINGEQUALS", "key": "dr:copy", "value": "cross-account"}])
    aws.backup.Plan("garbled", rules=[{"rule_name": "hourly", "target_vault_name": vault.name,
                                       "schedule": "cron(0 * * * * *)"}])
    bucket = aws.s3.BucketV2("backups-primary", opts=keep)
    aws.s3.BucketReplicationConfig("backups-primary-replication", bucket=bucket.id, role=ROLE,
                                   rules=[{"id": "to-backup-account", "status": "Enabled",
                                           "destination": {
                                               "bucket": "arn:aws:s3:::backups-of-record",
                                               "account": OTHER}}])
    record = aws.backup.Vault("vault-of-record", opts=keep)
    aws.backup.VaultLockConfiguration("vault-of-record-lock", backup_vault_name=record.name,
                                      min_retention_days=35)
    aws.backup.VaultPolicy("vault-of-record-policy", backup_vault_name=record.name,
                           policy=json.dumps({"Version": "2012-10-17",
                                              "Statement": [ACCEPT_COPIES]}))


def vault_policies_hostile() -> None:
    """Vault access policies an admin of the account could write that look like the deny but
    leave the recovery points deletable: a deny on this account's AWS Backup recovery points
    only (not the vault, not EBS/RDS points), a wildcard action (vault access policies do not
    support them); and a sound twin."""
    import pulumi
    import pulumi_aws as aws

    keep = pulumi.ResourceOptions(protect=True)
    stmt = DENY["Statement"][0]
    variants = {
        "sound": DENY,
        "rp-only": {**DENY, "Statement": [{
            **stmt, "Resource": "arn:aws:backup:us-east-1:123456789012:recovery-point:*"}]},
        "wildcard": {**DENY, "Statement": [{**stmt, "Action": "backup:*"}]},
    }
    for name, doc in variants.items():
        v = aws.backup.Vault(name, name=name, opts=keep)
        aws.backup.VaultPolicy(f"{name}-policy", backup_vault_name=v.name,
                               policy=json.dumps(doc))


def vault_locks_admin() -> None:
    """Vault locks an admin of the account can or cannot remove: governance mode (no
    changeableForDays) on pulumi-aws and on aws-native, and a compliance-mode twin of each."""
    import pulumi
    import pulumi_aws as aws
    import pulumi_aws_native as native

    keep = pulumi.ResourceOptions(protect=True)
    for name, grace in (("governance", None), ("compliance", 3)):
        v = aws.backup.Vault(f"{name}-vault", name=f"{name}-vault", opts=keep)
        aws.backup.VaultLockConfiguration(f"{name}-vault-lock", backup_vault_name=v.name,
                                          min_retention_days=35, changeable_for_days=grace)
        lock: dict = {"min_retention_days": 35}
        if grace:
            lock["changeable_for_days"] = grace
        native.backup.BackupVault(f"native-{name}", backup_vault_name=f"native-{name}",
                                  lock_configuration=lock, opts=keep)


def vault_written_twice() -> None:
    """Two VaultPolicy resources and two VaultLockConfiguration resources for one vault: AWS
    keeps whichever is applied last, which the program does not decide. The weak one is
    registered first, the sound one last."""
    import pulumi
    import pulumi_aws as aws

    v = aws.backup.Vault("twice", name="twice", opts=pulumi.ResourceOptions(protect=True))
    weak = {**DENY, "Statement": [{**DENY["Statement"][0], "Action": "backup:*"}]}
    aws.backup.VaultPolicy("twice-weak-policy", backup_vault_name=v.name,
                           policy=json.dumps(weak))
    aws.backup.VaultPolicy("twice-policy", backup_vault_name=v.name, policy=json.dumps(DENY))
    aws.backup.VaultLockConfiguration("twice-weak-lock", backup_vault_name=v.name,
                                      min_retention_days=35)
    aws.backup.VaultLockConfiguration("twice-lock", backup_vault_name=v.name,
                                      min_retention_days=35, changeable_for_days=3)
