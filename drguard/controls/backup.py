"""AWS Backup vaults are locked."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..control import DESTROYABLE, Control, days
from ..detections import BACKUP, backup_resource, on
from ..facts import UNKNOWN, Resource
from ..verdict import Verdict


@dataclass
class Vault(Resource):
    """An AWS Backup vault."""

    lock_min_retention_days: Any = None  # None = no vault lock

    def stateful(self) -> bool:
        return True


# ---- rules --------------------------------------------------------------------------------

def vault_lock(v: Vault, params: dict[str, Any]) -> Verdict:
    minimum = params["minRetentionDays"]
    ev = {"minRetentionDays": v.lock_min_retention_days, "required": minimum}
    if v.lock_min_retention_days is UNKNOWN:
        return Verdict.unknown(f"The vault lock of {v.name!r}", **ev)
    if v.lock_min_retention_days is None:
        return Verdict.fail(f"Backup vault {v.name!r} has no vault lock: recovery points can be "
                            "deleted. Fix: add an aws.backup.VaultLockConfiguration with "
                            f"minRetentionDays >= {minimum}.", **ev)
    if v.lock_min_retention_days < minimum:
        return Verdict.fail(f"Backup vault {v.name!r} lock keeps recovery points only "
                            f"{v.lock_min_retention_days} days, below {minimum}. Fix: raise "
                            "minRetentionDays.", **ev)
    return Verdict.ok(f"Backup vault {v.name!r} is locked for >= "
                      f"{v.lock_min_retention_days} days.", **ev)


CONTROLS: tuple[Control, ...] = (
    Control(
        id="backup-vault-lock",
        title="AWS Backup vaults are locked",
        severity="high",
        exposure=DESTROYABLE,
        tier=3,
        description="AWS Backup vaults have vault lock with a minimum retention of at least "
                    "minRetentionDays.",
        remediation="Add an aws.backup.VaultLockConfiguration with minRetentionDays >= the "
                    "parameter.",
        params=(days("minRetentionDays", 7, "Minimum vault lock retention, in days."),),
        detections=(
            on(BACKUP, "DeleteBackupVault", "DeleteBackupVaultLockConfiguration",
               "DeleteRecoveryPoint", "DeleteBackupPlan", resource=backup_resource,
               message="{principal} called {event} on {name}: AWS Backup recovery points or "
                       "their lock are gone."),
        ),
    ),
)
