"""AWS Backup: vaults and their vault lock (backup-vault-lock), and the backup selections
other services ask about (is this resource covered by a backup plan?)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from drguard.arns import partition_of
from drguard.controls import backup as ctl
from drguard.controls.backup import Vault
from drguard.patterns import value_wildcard

from ..aws import Account, paginate
from ..collectors import Errors, ReadError, guarded
from ..live import AccountScan, DriftKind, Live, LiveService, RegionScan, ScanContext, Step

# What ListBackupVaults calls a logically air-gapped vault (compliance-locked from the start).
AIR_GAPPED = "LOGICALLY_AIR_GAPPED_BACKUP_VAULT"


def collect(account: Account, region: str, errors: Errors) -> list[Vault]:
    """Vaults of the region; raises on a listing error, records tag errors in `errors`."""
    backup = account.client("backup", region)
    out = []
    for v in paginate(backup, "list_backup_vaults", "BackupVaultList"):
        arn = v["BackupVaultArn"]
        tags: Any = guarded(errors, f"tags:{arn}", "backup:ListTags",
                            lambda a=arn: backup.list_tags(ResourceArn=a).get("Tags") or {})
        locked = v.get("Locked") is True or v.get("MinRetentionDays") is not None
        # A lock date is set for a compliance-mode lock only (when it becomes immutable);
        # logically air-gapped vaults are compliance-locked from the start.
        compliance = v.get("LockDate") is not None or v.get("VaultType") == AIR_GAPPED
        lock_date = v.get("LockDate")
        out.append(Vault(
            ref=arn, name=v["BackupVaultName"], type="AWS::Backup::BackupVault",
            account=account.id, region=region, tags=tags if isinstance(tags, dict) else {},
            lock_min_retention_days=v.get("MinRetentionDays") if locked else None,
            lock_mode=("compliance" if compliance else "governance") if locked else None,
            lock_date=lock_date if isinstance(lock_date, dt.datetime) else None,
            evidence={"locked": v.get("Locked"), "minRetentionDays": v.get("MinRetentionDays"),
                      "maxRetentionDays": v.get("MaxRetentionDays"),
                      "lockDate": v["LockDate"].isoformat() if v.get("LockDate") else None,
                      "kmsKeyId": v.get("EncryptionKeyArn")}))
    return out


# ---- AWS Backup selections (used by the services whose resources they cover) ------------

def selections(account: Account, region: str, errors: Errors) -> Any:
    """[(plan name, selection)] of every AWS Backup plan, or UNKNOWN."""
    backup = account.client("backup", region)

    def read() -> list[tuple[str, dict[str, Any]]]:
        out = []
        for plan in paginate(backup, "list_backup_plans", "BackupPlansList"):
            for s in paginate(backup, "list_backup_selections", "BackupSelectionsList",
                              BackupPlanId=plan["BackupPlanId"]):
                sel = backup.get_backup_selection(BackupPlanId=plan["BackupPlanId"],
                                                  SelectionId=s["SelectionId"])
                out.append((plan.get("BackupPlanName", plan["BackupPlanId"]),
                            sel.get("BackupSelection") or {}))
        return out

    return guarded(errors, "backupSelections", "backup:ListBackupSelections", read)

def _condition_holds(op: str, cond: dict[str, Any], tags: Mapping[str, str]) -> bool:
    key = str(cond.get("ConditionKey", "")).removeprefix("aws:ResourceTag/")
    value, want = tags.get(key), str(cond.get("ConditionValue", ""))
    like = op.endswith("Like")
    hit = value is not None and (_like(want, value) if like else value == want)
    return not hit if op.startswith("StringNot") else hit


def _like(pattern: Any, value: str) -> bool:
    """AWS Backup's wildcard match: case-sensitive, as AWS compares ARNs and tag values."""
    glob = value_wildcard(pattern) if isinstance(pattern, str) else None
    return glob is not None and glob.match(value)


def selection_covers(sel: Mapping[str, Any], arn: str, tags: Mapping[str, str]) -> bool:
    """AWS Backup resource assignment: (Resources or ListOfTags), minus NotResources, and
    every Conditions entry."""
    by_arn = any(_like(p, arn) for p in sel.get("Resources") or ())
    by_tag = any(t.get("ConditionType", "STRINGEQUALS") == "STRINGEQUALS"
                 and tags.get(t.get("ConditionKey", "")) == t.get("ConditionValue")
                 for t in sel.get("ListOfTags") or ())
    if not (by_arn or by_tag) or any(_like(p, arn) for p in sel.get("NotResources") or ()):
        return False
    return all(_condition_holds(op, c, tags) for op, conds in (sel.get("Conditions") or {}).items()
               for c in conds or ())


# ---- live binding ----------------------------------------------------------------------------

VAULT_LOCK = "backup-vault-lock"


def _collect(scanner: ScanContext, acct: Account, rs: RegionScan) -> list[Vault]:
    errs: dict[str, ReadError] = {}
    vaults = collect(acct, rs.region, errs)
    for v in vaults:
        v.as_of = scanner.now
        if f"tags:{v.ref}" in errs:
            v.evidence["readErrors"] = [errs[f"tags:{v.ref}"].to_dict()]
    return vaults


def _evaluate(scanner: ScanContext, a: AccountScan) -> None:
    params = scanner.settings.of(VAULT_LOCK)
    for region, rs in sorted(a.regions.items()):
        if "backup" in rs.errors:
            err = rs.errors["backup"]
            scanner.error(VAULT_LOCK, f"arn:aws:backup:{region}:{a.id}:backup-vault:*",
                          f"backup vaults in {region}", a.id, region,
                          f"The AWS Backup vaults of {region} could not be listed: {err}.",
                          [err])
        for v in rs.data.get("backup", ()):
            scanner.add(VAULT_LOCK, v, ctl.vault_lock(v, params))


_KIND: dict[str, Any] = dict(
    label="AWS Backup vault", service="backup", operation="backup:DescribeBackupVault",
    call=lambda c, n: c.describe_backup_vault(BackupVaultName=n),
    gone=frozenset({"ResourceNotFoundException"}),
    arn=lambda r, a, n: f"arn:{partition_of(r)}:backup:{r}:{a}:backup-vault:{n}",
    delete_event="DeleteBackupVault")


SERVICE = LiveService(
    calls=("backup:ListBackupVaults", "backup:ListTags", "backup:ListBackupPlans",
           "backup:ListBackupSelections", "backup:GetBackupSelection",
           "backup:DescribeBackupVault"),
    regional_steps=(Step("backup", "backup:ListBackupVaults", _collect),),
    live=(Live((VAULT_LOCK,), _evaluate),),
    drift={
        "aws:backup/vault:Vault": DriftKind(names=("name",), use_id=True, **_KIND),
        "aws-native:backup:BackupVault": DriftKind(names=("backupVaultName",), use_id=True,
                                                   **_KIND),
    },
)
