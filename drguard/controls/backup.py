"""AWS Backup vaults are locked."""

from __future__ import annotations

import datetime as dt
import json
import shlex
from dataclasses import field
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
    # "compliance" (AWS removes it for no one once its grace time is over), "governance" (an
    # admin allowed backup:DeleteBackupVaultLockConfiguration removes it), UNKNOWN
    lock_mode: Any = None
    lock_date: Any = None  # live: when a compliance lock became (or becomes) immutable
    changeable_for_days: Any = None  # deploy: the grace time of a compliance lock
    as_of: dt.datetime = field(default_factory=lambda: dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    # deploy: the lock resource judged when several write this vault's lock (the weakest)
    lock_by: str = ""

    def stateful(self) -> bool:
        return True

    def on_delete(self, replace: bool) -> OnDelete:
        d = OnDelete("backup vault")
        d.saves.append("AWS Backup refuses to delete a vault that still holds recovery points")
        d.kept.append("its recovery points (a vault that holds any cannot be deleted)")
        return d


# ---- remediation: the fix for one vault -----------------------------------------------------

def fix_vault_lock(v: Vault, minimum: int, new: bool) -> Remediation:
    """A compliance-mode lock (a grace time of 3 days, then no one can remove it) keeping
    recovery points at least `minimum` days (or the lock's own minimum when longer)."""
    name = v.name if isinstance(v.name, str) else "my-vault"
    have = v.lock_min_retention_days
    keep = max(minimum, have) if isinstance(have, int) and not isinstance(have, bool) \
        else minimum
    if new:
        what = f"Lock backup vault {name} with a minimum retention of {keep} days"
    elif isinstance(have, int | float) and have < minimum:
        what = f"Raise the vault lock minimum retention of {name} to {keep} days"
    else:
        what = (f"Put the vault lock of {name} in compliance mode, keeping recovery points "
                f"{keep} days")
    return Remediation(
        what + " (changeable for 3 days, then the lock is permanent).",
        f"aws.backup.VaultLockConfiguration(\"{name}-lock\",\n"
        f"    backup_vault_name={json.dumps(name)},\n"
        f"    min_retention_days={keep}, changeable_for_days=3)",
        f"aws backup put-backup-vault-lock-configuration --backup-vault-name {shlex.quote(name)} "
        f"--min-retention-days {keep} --changeable-for-days 3")


# ---- rules --------------------------------------------------------------------------------

def _day(when: Any) -> str:
    return when.isoformat() if isinstance(when, dt.datetime) else "its lock date"


def vault_lock(v: Vault, params: dict[str, Any]) -> Verdict:
    """A lock an admin of the account cannot remove: compliance mode, past its grace time
    (live), keeping recovery points at least minRetentionDays. A governance-mode lock is
    removed by anyone allowed backup:DeleteBackupVaultLockConfiguration, so it fails."""
    minimum = params["minRetentionDays"]
    ev: dict[str, Any] = {"minRetentionDays": v.lock_min_retention_days, "required": minimum}
    if v.lock_min_retention_days is UNKNOWN:
        return Verdict.unknown(f"The vault lock of {v.name!r}", **ev)
    if v.lock_min_retention_days is None:
        return Verdict("fail", f"Backup vault {v.name!r} has no vault lock: recovery points "
                               "can be deleted.", ev, fix_vault_lock(v, minimum, new=True))
    ev.update(lockMode=v.lock_mode, lockDate=v.lock_date, changeableForDays=v.changeable_for_days)
    if v.lock_mode is UNKNOWN or v.changeable_for_days is UNKNOWN:
        return Verdict.unknown(f"The vault lock mode of {v.name!r}", **ev)
    problems: list[str] = []
    grace = ""
    n = v.lock_min_retention_days
    if not isinstance(n, int | float) or isinstance(n, bool) or n < minimum:
        problems.append(f"keeps recovery points only {n} day{'' if n == 1 else 's'}, "
                        f"below {minimum}")
    if v.lock_mode != "compliance":
        ev["removable"] = "governance mode"
        problems.append("is in governance mode: anyone allowed "
                        "backup:DeleteBackupVaultLockConfiguration (an account admin) can "
                        "remove it, then delete the recovery points")
    elif isinstance(v.lock_date, dt.datetime) and v.lock_date > v.as_of:
        ev["removable"] = f"until {v.lock_date.isoformat()}"
        grace = (f"is still in its grace time until {v.lock_date.isoformat()}: until then an "
                 "admin can remove it")
        problems.append(grace)
    if problems:
        # only the grace time left: putting the lock again would restart it; wait instead
        waiting = bool(grace) and problems == [grace]
        fix = fix_vault_lock(v, minimum, new=False) if not waiting else Remediation(
                f"Nothing to change on vault {v.name}: its compliance-mode lock becomes "
                f"permanent on {_day(v.lock_date)} (putting it again would restart the grace "
                "time). Until then, watch for DeleteBackupVaultLockConfiguration on it.", "")
        which = (f" (VaultLockConfiguration {v.lock_by!r}, the weakest of the locks written "
                 "for this vault: AWS keeps whichever is applied last)") if v.lock_by else ""
        return Verdict("fail", f"Backup vault {v.name!r} lock{which} "
                               f"{'; it '.join(problems)}.", ev, fix)
    if v.lock_date is None:  # deploy: immutable once its grace time has passed
        when = (f"{v.changeable_for_days} days after it is applied"
                if v.changeable_for_days is not None else "from the start (air-gapped vault)")
        return Verdict.ok(f"Backup vault {v.name!r} has a compliance-mode lock keeping "
                          f"recovery points >= {n} days, immutable {when}.", **ev)
    return Verdict.ok(f"Backup vault {v.name!r} is locked in compliance mode since "
                      f"{_day(v.lock_date)}: recovery points are kept >= {n} days.", **ev)


CONTROLS: tuple[Control, ...] = (
    Control(
        id="backup-vault-lock",
        gap=(
            "Vault lock removable by an admin ({removable})",
            "Vault lock keeps {minRetentionDays|day}; needs {required}",
            "Vault not locked; needs a lock of {required|day}",
            "Vault not locked",
        ),
        why=("Without a vault lock, an administrator can delete recovery points or shorten their "
            "retention; a governance-mode lock, or one still in its grace time, an administrator "
            "can remove first."),
        console=(
            "AWS Backup console: Backup vaults, select the vault.",
            "Vault lock, Create vault lock: mode Compliance, minimum retention at least "
            "minRetentionDays days, a grace period (3 days), Create.",
        ),
        cannot_remediate=("a vault lock is a resource of its own (VaultLockConfiguration); a "
                          "remediation cannot add resources."),
        title="AWS Backup vaults are locked",
        severity="high",
        exposure=DESTROYABLE,
        tier=3,
        description="AWS Backup vaults have a vault lock in compliance mode (past its grace "
                    "time) with a minimum retention of at least minRetentionDays. A "
                    "governance-mode lock does not count: an account admin can remove it.",
        remediation="Add an aws.backup.VaultLockConfiguration with minRetentionDays >= the "
                    "parameter and changeableForDays (compliance mode).",
        params=(days("minRetentionDays", 7, "Minimum vault lock retention, in days."),),
        detections=(
            on(BACKUP, "DeleteBackupVault", "DeleteBackupVaultLockConfiguration",
               "DeleteRecoveryPoint", "DeleteBackupPlan", resource=backup_resource,
               message="{principal} called {event} on {name}: AWS Backup recovery points or "
                       "their lock are gone."),
        ),
    ),
)
