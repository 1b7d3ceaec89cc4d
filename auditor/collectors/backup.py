"""AWS Backup: vaults and their vault lock."""

from __future__ import annotations

from typing import Any

from drguard.facts import Vault

from ..aws import Account, paginate
from . import Errors, guarded


def collect(account: Account, region: str, errors: Errors) -> list[Vault]:
    """Vaults of the region; raises on a listing error, records tag errors in `errors`."""
    backup = account.client("backup", region)
    out = []
    for v in paginate(backup, "list_backup_vaults", "BackupVaultList"):
        arn = v["BackupVaultArn"]
        tags: Any = guarded(errors, f"tags:{arn}", "backup:ListTags",
                            lambda a=arn: backup.list_tags(ResourceArn=a).get("Tags") or {})
        locked = v.get("Locked") is True or v.get("MinRetentionDays") is not None
        out.append(Vault(
            ref=arn, name=v["BackupVaultName"], type="AWS::Backup::BackupVault",
            account=account.id, region=region, tags=tags if isinstance(tags, dict) else {},
            lock_min_retention_days=v.get("MinRetentionDays") if locked else None,
            evidence={"locked": v.get("Locked"), "minRetentionDays": v.get("MinRetentionDays"),
                      "maxRetentionDays": v.get("MaxRetentionDays"),
                      "lockDate": v["LockDate"].isoformat() if v.get("LockDate") else None}))
    return out
