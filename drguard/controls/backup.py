"""AWS Backup vaults are locked."""

from __future__ import annotations

import json
import shlex
from typing import Any

from ..control import DESTROYABLE, Control, days
from ..detections import BACKUP, backup_resource, on
from ..facts import UNKNOWN, OnDelete, Resource
from ..records import record
from ..verdict import Remediation, Verdict


@record
class Vault(Resource):
    """An AWS Backup vault."""

    lock_min_retention_days: Any = None  # None = no vault lock

    def stateful(self) -> bool:
        return True

    def on_delete(self, replace: bool) -> OnDelete:
        d = OnDelete("backup vault")
        d.saves.append("AWS Backup refuses to delete a vault that still holds recovery points")
        d.kept.append("its recovery points (a vault that holds any cannot be deleted)")
        return d


# ---- remediation: the fix for one vault -----------------------------------------------------

def fix_vault_lock(v: Vault, minimum: int, new: bool) -> Remediation:
    name = v.name if isinstance(v.name, str) else "my-vault"
    what = (f"Lock backup vault {name} with a minimum retention of {minimum} days"
            if new else f"Raise the vault lock minimum retention of {name} to {minimum} days")
    return Remediation(
        what + " (changeable for 3 days, then the lock is permanent).",
        f"aws.backup.VaultLockConfiguration(\"{name}-lock\",\n"
        f"    backup_vault_name={json.dumps(name)},\n"
        f"    min_retention_days={minimum}, changeable_for_days=3)",
        f"aws backup put-backup-vault-lock-configuration --backup-vault-name {shlex.quote(name)} "
        f"--min-retention-days {minimum} --changeable-for-days 3")


# ---- rules --------------------------------------------------------------------------------

def vault_lock(v: Vault, params: dict[str, Any]) -> Verdict:
    minimum = params["minRetentionDays"]
    ev = {"minRetentionDays": v.lock_min_retention_days, "required": minimum}
    if v.lock_min_retention_days is UNKNOWN:
        return Verdict.unknown(f"The vault lock of {v.name!r}", **ev)
    if v.lock_min_retention_days is None:
        return Verdict("fail", f"Backup vault {v.name!r} has no vault lock: recovery points "
                               "can be deleted.", ev, fix_vault_lock(v, minimum, new=True))
    if v.lock_min_retention_days < minimum:
        n = v.lock_min_retention_days
        return Verdict("fail", f"Backup vault {v.name!r} lock keeps recovery points only "
                               f"{n} day{'' if n == 1 else 's'}, below {minimum}.", ev,
                       fix_vault_lock(v, minimum, new=False))
    return Verdict.ok(f"Backup vault {v.name!r} is locked for >= "
                      f"{v.lock_min_retention_days} days.", **ev)


CONTROLS: tuple[Control, ...] = (
    Control(
        id="backup-vault-lock",
        gap=(
            "Vault lock keeps {minRetentionDays|day}; needs {required}",
            "Vault not locked; needs a lock of {required|day}",
            "Vault not locked",
        ),
        why=("Without a vault lock, an administrator can delete recovery points or shorten their "
            "retention."),
        console=(
            "AWS Backup console: Backup vaults, select the vault.",
            "Vault lock, Create vault lock: minimum retention at least minRetentionDays days, a "
            "grace period, Create.",
        ),
        cannot_remediate=("a vault lock is a resource of its own (VaultLockConfiguration); a "
                          "remediation cannot add resources."),
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
