"""Recoverability under attack: copies in another account, air-gapped or locked destination
vaults, vault policies that deny deleting recovery points, backup plan schedules and retention,
and backup/copy jobs that failed.

Facts (built by the deploy adapters and the live collectors alike):
- `BackupPlan`: its rules (schedule, retention, copy actions);
- `Protected`: a database, table, file system or backup bucket with the copy actions of the
  plans whose selections select it (linked, never counted), and for a bucket its replication;
- `CopyVault`: a vault that receives (or should receive) cross-account copies;
- `VaultPolicy`: a vault and its access policy;
- `JobHistory`: the backup and copy jobs of one resource in the window.

Decisions the table leaves open, made here once:
- Logs: a record carries the plan as it is after the call, not before, so an UpdateBackupPlan
  without a rule copying to another account counts (whether or not it had one), as does every
  DeleteBackupPlan; a bucket replication change counts when no enabled rule writes to another
  account with the replicas owned there.
- A backup bucket that is itself a replica of another backup bucket is judged at its source.
- At deploy time a compliance-mode lock (changeableForDays set) counts: when it was applied
  cannot be known there; the live scan requires its lock date to have passed.
- An AWS Backup rule without a schedule runs on AWS Backup's default, daily at 05:00 UTC.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import shlex
from collections.abc import Iterable, Mapping
from dataclasses import field
from typing import Any

from .. import iampolicy, patterns
from ..arns import partition_of
from ..control import DESTROYABLE, Control, Param, days, hours, strings
from ..control import Mapping as Refs
from ..detections import (
    BACKUP,
    S3,
    as_list,
    backup_resource,
    get_in,
    on,
    request_parameters,
    s3_bucket,
)
from ..facts import UNKNOWN, Resource
from ..records import record
from ..schedule import ScheduleError
from ..schedule import parse as parse_schedule
from ..verdict import Remediation, Verdict
from .s3 import skips_kms_objects

CROSS_ACCOUNT = "backup-cross-account-copy"
AIR_GAPPED = "backup-air-gapped"
DENY_DELETE = "backup-vault-deny-delete"
FREQUENCY = "backup-plan-frequency-retention"
JOBS = "backup-jobs-healthy"

# AWS Backup's schedule when a rule sets none (daily at 05:00 UTC).
DEFAULT_SCHEDULE = "cron(0 5 ? * * *)"
# What a vault's policy must deny: the three the spec names, and deleting the policy itself
# (else an admin deletes it, then the recovery points: the deny only stands while it does).
PROTECTED_ACTIONS = ("backup:DeleteRecoveryPoint", "backup:UpdateRecoveryPointLifecycle",
                     "backup:PutBackupVaultAccessPolicy", "backup:DeleteBackupVaultAccessPolicy")
# What the policy a remediation writes denies.
FIX_DENIED_ACTIONS = PROTECTED_ACTIONS
BAD_JOB_STATES = frozenset({"FAILED", "ABORTED", "EXPIRED", "PARTIAL"})
AIR_GAPPED_TYPE = "LOGICALLY_AIR_GAPPED_BACKUP_VAULT"


def arn_account(arn: Any) -> str | None:
    if not isinstance(arn, str) or not arn.startswith("arn:"):
        return None
    parts = arn.split(":", 5)
    return parts[4] if len(parts) > 4 and parts[4].isdigit() and len(parts[4]) == 12 else None


def _plural(n: float, unit: str) -> str:
    n = int(n) if float(n).is_integer() else round(n, 1)
    return f"{n} {unit}{'' if n == 1 else 's'}"


# ---- facts ----------------------------------------------------------------------------------

@record
class CopyAction:
    """A backup rule's copy to another vault, and how long the copy is kept."""

    destination: Any  # vault ARN | UNKNOWN
    delete_after: Any = None  # days | None (kept forever) | UNKNOWN

    @property
    def account(self) -> Any:
        return UNKNOWN if self.destination is UNKNOWN else arn_account(self.destination)


@record
class PlanRule:
    """One rule of an AWS Backup plan: schedule, retention and copy actions."""

    name: str
    schedule: Any = None  # expression | None (AWS default) | UNKNOWN
    delete_after: Any = None  # days | None (kept forever) | UNKNOWN
    copies: Any = field(default_factory=list)  # [CopyAction] | UNKNOWN


@record
class BackupPlan(Resource):
    """An AWS Backup plan and its rules (UNKNOWN when they are not known yet)."""

    rules: Any = field(default_factory=list)
    as_of: dt.date = field(default_factory=lambda: dt.date(2026, 1, 1))


@record
class Link:
    """A copy action that protects a resource: the plan, the selection that selects the
    resource, the rule, and where the copy goes."""

    plan: str
    selection: str
    rule: str
    copy: CopyAction


@record
class Protected(Resource):
    """Recovery data (database, table, file system, backup bucket) and its cross-account
    copies. `links` are the copy actions of the plans whose selections select it."""

    kind: str = "resource"
    arn: Any = None
    links: Any = field(default_factory=list)  # [Link] | UNKNOWN
    selected_by: list[str] = field(default_factory=list)  # "plan/selection" without copies
    # buckets: [{"bucket", "account", "owner", "status", "replicaKey", "kmsObjects"}] | UNKNOWN
    replication: Any = None
    sse: Any = None  # buckets: the default encryption's algorithm (Bucket.sse)
    # buckets: the backup buckets that replicate into this one (it is a copy: the source is
    # judged, not the copy)
    replica_of: list[Any] = field(default_factory=list)
    # Live: the newest COMPLETED copy job / recovery point per destination account
    # ({account: {"when": datetime, "kind": ..., "destination": arn}}), UNKNOWN if unread;
    # None on the deploy side (configuration only).
    copied: Any = None
    as_of: dt.datetime = field(default_factory=lambda: dt.datetime(2026, 1, 1, tzinfo=dt.UTC))


@record
class CopyVault(Resource):
    """A vault that holds cross-account copies."""

    vault_type: Any = "BACKUP_VAULT"  # or AIR_GAPPED_TYPE, UNKNOWN
    lock_mode: Any = None  # "compliance" | "governance" | None (no lock) | UNKNOWN
    locked: Any = None  # live: Locked; deploy: None
    lock_date: Any = None  # live: when the compliance lock became immutable
    changeable_for_days: Any = None  # deploy: the grace time of a compliance lock
    min_retention_days: Any = None
    why: str = ""  # why it counts as a cross-account copy destination
    as_of: dt.datetime = field(default_factory=lambda: dt.datetime(2026, 1, 1, tzinfo=dt.UTC))


@record
class VaultPolicy(Resource):
    """A backup vault and its access policy (None: no policy)."""

    policy: Any = None  # JSON text or mapping | None | UNKNOWN
    # deploy: (resource name, policy) of each VaultPolicy resource for this vault when there
    # are several; AWS keeps whichever is applied last, so each must pass
    writers: list[tuple[str, Any]] = field(default_factory=list)


@record
class Job:
    """A completed (or failed) backup or copy job."""

    kind: str  # "backup" | "copy"
    state: str
    when: dt.datetime  # completion (or creation) time
    job_id: str = ""
    message: str = ""


@record
class JobHistory(Resource):
    """The backup and copy jobs of one resource in the window (UNKNOWN: unread)."""

    jobs: Any = field(default_factory=list)


def accepts_cross_account_copies(policy: Any, account: str | None) -> bool:
    """Whether a vault access policy lets another account (or everyone in an organization)
    copy into the vault."""
    try:
        stmts = iampolicy.statements(policy)
    except (ValueError, TypeError):
        return False
    for s in stmts:
        acts = iampolicy._as_list(s.get("Action"))
        if s.get("Effect") != "Allow" or not any(
                iampolicy.action_matches(a, "backup:CopyIntoBackupVault") for a in acts):
            continue
        p = s.get("Principal")
        principals = [p] if isinstance(p, str) else iampolicy._as_list(
            p.get("AWS")) if isinstance(p, dict) else []
        if any(x == "*" or (arn_account(x) or (x if x.isdigit() else None)) != account
               for x in principals):
            return True
    return False


# ---- remediation ----------------------------------------------------------------------------

def _py(s: str) -> str:
    return json.dumps(s)


def fix_cross_account(p: Protected, allowed: frozenset[str] = frozenset(),
                      keyed_here: bool = False, kms_objects: bool = False) -> Remediation:
    """Copy into another account: one of `allowed` (destinationAccounts) when set.
    `keyed_here`: the replicas must be encrypted with a key of the destination account;
    `kms_objects`: the rule must opt in to replicating SSE-KMS objects."""
    account = min(allowed) if allowed else "BACKUP_ACCOUNT_ID"
    where = (f"account {account} (destinationAccounts)" if allowed else "another account")
    if p.kind == "backup bucket":
        key = (f",\n        \"encryption_configuration\": {{\"replica_kms_key_id\": "
               f"\"arn:aws:kms:REGION:{account}:key/KEY_ID\"}}" if keyed_here else "")
        opt_in = ("\n        \"source_selection_criteria\": {\"sse_kms_encrypted_objects\": "
                  "{\"status\": \"Enabled\"}}," if kms_objects else "")
        return Remediation(
            f"Replicate backup bucket {p.name} to a bucket in {where}, with the "
            "replicas owned by that account"
            + (" and encrypted with a KMS key of that account" if keyed_here else "")
            + (", SSE-KMS objects included." if kms_objects else "."),
            f"aws.s3.BucketReplicationConfig(\"{p.name}-cross-account\", bucket={_py(p.name)},\n"
            "    role=replication_role.arn,\n"
            "    rules=[{\"id\": \"cross-account\", \"status\": \"Enabled\","
            f"{opt_in} \"destination\": {{\n"
            "        \"bucket\": \"arn:aws:s3:::BACKUP_ACCOUNT_BUCKET\", "
            f"\"account\": \"{account}\",\n"
            "        \"access_control_translation\": {\"owner\": \"Destination\"}"
            f"{key}}}}}])",
            f"aws s3api put-bucket-replication --bucket {shlex.quote(p.name)} "
            "--replication-configuration file://cross-account-replication.json")
    target = _py(p.arn) if isinstance(p.arn, str) else "resource.arn"
    return Remediation(
        f"Add a copy action to a vault in {where if allowed else 'another AWS account'} to a "
        f"backup plan that selects {p.name} (and a selection for it if none does).",
        "aws.backup.Plan(\"cross-account\", rules=[{\n"
        "    \"rule_name\": \"daily\", \"target_vault_name\": vault.name,\n"
        "    \"schedule\": \"cron(0 5 ? * * *)\", \"lifecycle\": {\"delete_after\": 35},\n"
        "    \"copy_actions\": [{\"destination_vault_arn\": "
        f"\"arn:aws:backup:REGION:{account}:backup-vault:NAME\",\n"
        "                      \"lifecycle\": {\"delete_after\": 35}}]}])\n"
        f"aws.backup.Selection(\"{p.name}-backup\", plan_id=plan.id, "
        f"iam_role_arn=backup_role.arn,\n    resources=[{target}])",
        # which plan should copy it is a decision (and its vault lives in another account):
        # no one-line CLI call can be safe, the console steps say how
        None)


def fix_air_gapped(v: CopyVault, minimum: int) -> Remediation:
    name = v.name
    return Remediation(
        f"Lock vault {name} in compliance mode (minimum retention {minimum} days), or copy "
        "into a logically air-gapped vault instead.",
        f"aws.backup.VaultLockConfiguration(\"{name}-lock\", backup_vault_name={_py(name)},\n"
        f"    min_retention_days={minimum}, changeable_for_days=3)",
        f"aws backup put-backup-vault-lock-configuration --backup-vault-name "
        f"{shlex.quote(name)} --min-retention-days {minimum} --changeable-for-days 3")


def deny_delete_policy(allowed: Iterable[str]) -> dict[str, Any]:
    stmt: dict[str, Any] = {"Sid": "DenyRecoveryPointDeletion", "Effect": "Deny",
                            "Principal": {"AWS": "*"}, "Action": list(FIX_DENIED_ACTIONS),
                            "Resource": "*"}
    allowed = list(allowed)
    if allowed:
        stmt["Condition"] = {"ArnNotLike": {"aws:PrincipalArn": allowed}}
    return {"Version": "2012-10-17", "Statement": [stmt]}


def fix_deny_delete(v: VaultPolicy, allowed: Iterable[str]) -> Remediation:
    doc = json.dumps(deny_delete_policy(allowed))
    return Remediation(
        f"Give vault {v.name} an access policy that denies deleting recovery points, changing "
        "their lifecycle and changing or deleting the policy to every principal but the "
        "allowed ones.",
        f"aws.backup.VaultPolicy(\"{v.name}-deny-delete\", backup_vault_name={_py(v.name)},\n"
        f"    policy=json.dumps({deny_delete_policy(allowed)!r}))",
        f"aws backup put-backup-vault-access-policy --backup-vault-name {shlex.quote(v.name)} "
        f"--policy {shlex.quote(doc)}")


def fix_frequency(p: BackupPlan, params: Mapping[str, Any]) -> Remediation:
    return Remediation(
        f"Run every rule of backup plan {p.name} at least every {params['maxIntervalHours']} "
        f"hours and keep its recovery points (and their copies) {params['minRetentionDays']} "
        "days or more.",
        f"aws.backup.Plan({_py(p.name)}, rules=[{{\"rule_name\": \"daily\", "
        "\"schedule\": \"cron(0 5 ? * * *)\",\n"
        f"    \"lifecycle\": {{\"delete_after\": {params['minRetentionDays']}}}, ...}}])",
        _update_plan_cli(p))


def _update_plan_cli(p: BackupPlan) -> str | None:
    """The plan's own id (live: the last part of its ARN); none known, no CLI line. plan.json
    is the plan as `aws backup get-backup-plan --query BackupPlan` prints it, rules edited."""
    if not isinstance(p.ref, str) or ":backup-plan:" not in p.ref:
        return None
    plan_id = p.ref.rsplit(":", 1)[-1]
    return (f"aws backup update-backup-plan --backup-plan-id {shlex.quote(plan_id)} "
            "--backup-plan file://plan.json")


def fix_jobs(h: JobHistory) -> Remediation:
    return Remediation(
        f"Find why the job of {h.name} failed (its StatusMessage), fix it and start an "
        "on-demand backup so a COMPLETED one follows.",
        "# not a configuration change: re-run the backup once the cause is fixed",
        f"aws backup start-backup-job --backup-vault-name VAULT --resource-arn "
        f"{shlex.quote(h.ref)} --iam-role-arn BACKUP_ROLE_ARN")


# ---- rules ----------------------------------------------------------------------------------

def _link_text(link: Link) -> str:
    return (f"plan {link.plan!r} rule {link.rule!r} (selection {link.selection!r}) copies to "
            f"{link.copy.destination} (account {link.copy.account})")


def _kind(p: Protected) -> str:
    return p.kind[:1].upper() + p.kind[1:]


def destinations(params: Mapping[str, Any]) -> frozenset[str]:
    """The accounts a copy must go to (`destinationAccounts`); empty: any other account."""
    return frozenset(str(a) for a in params.get("destinationAccounts") or ())


def _counts(account: Any, own: str | None, allowed: frozenset[str]) -> bool:
    """A copy into `account` counts as a copy in another account: not the resource's own,
    and one of `destinationAccounts` when that is set."""
    return isinstance(account, str) and bool(account) and account != own \
        and (not allowed or account in allowed)


def _not_allowed(accounts: Iterable[Any], allowed: frozenset[str]) -> str:
    return (f"account {', '.join(sorted({str(a) for a in accounts}))}, which is not one of "
            f"destinationAccounts ({', '.join(sorted(allowed))})")


def replica_key_account(key: Any) -> Any:
    """The account of the KMS key a replication rule encrypts its replicas with: None when
    the rule names none (the destination bucket's own encryption applies), "" for a key id or
    alias name (KMS resolves those in the account that replicates: the source), UNKNOWN when
    unknown."""
    if key is None or key == "":
        return None
    if not isinstance(key, str):
        return UNKNOWN
    return arn_account(key) or ""


def _keyed_here(rule: Mapping[str, Any], own: str | None) -> Any:
    """True when the replicas of `rule` are encrypted with a key of the source account `own`
    (whose admin can disable or delete it, and every replica with it); UNKNOWN if unknown."""
    acct = replica_key_account(rule.get("replicaKey"))
    if acct is UNKNOWN:
        return UNKNOWN
    return acct is not None and (acct == "" or acct == own)


def cross_account_copy(p: Protected, params: Mapping[str, Any]) -> Verdict | None:
    ev: dict[str, Any] = {"account": p.account}
    allowed = destinations(params)
    if allowed:
        ev["destinationAccounts"] = sorted(allowed)
    if p.kind == "backup bucket" and p.replica_of:
        return None
    if p.kind == "backup bucket":
        ev["replication"] = p.replication
        if p.replication is UNKNOWN:
            return Verdict.unknown(f"The replication of {p.name!r}", **ev)
        rules = p.replication or []
        owned = [r for r in rules if r.get("status") == "Enabled"
                 and r.get("owner") == "Destination"
                 and _counts(r.get("account"), p.account, allowed)]
        copying = [r for r in owned if skips_kms_objects(r, p.sse) is not True]
        good = [r for r in copying if _keyed_here(r, p.account) is False
                and skips_kms_objects(r, p.sse) is False]
        if good and p.account is not None:
            r = good[0]
            return Verdict.ok(f"Backup bucket {p.name!r} replicates to bucket {r['bucket']} in "
                              f"account {r['account']}, owned by that account.",
                              **ev, destinationAccount=r["account"])
        maybe = [r for r in rules if r.get("status") in ("Enabled", UNKNOWN)
                 and r.get("owner") in ("Destination", UNKNOWN)]
        if maybe and (p.account is None or any(
                r.get("account") is UNKNOWN or r.get("owner") is UNKNOWN
                or r.get("status") is UNKNOWN for r in maybe)):
            return Verdict.unknown(f"The replication destination account of {p.name!r}", **ev)
        if any(skips_kms_objects(r, p.sse) is UNKNOWN for r in owned):
            ev["defaultEncryption"] = p.sse
            return Verdict.unknown(f"Whether the replication of {p.name!r} copies the objects "
                                   "it encrypts with SSE-KMS", **ev)
        if any(_keyed_here(r, p.account) is UNKNOWN for r in copying):
            return Verdict.unknown(f"The key that encrypts the replicas of {p.name!r}", **ev)
        if owned and not copying:
            r = owned[0]
            ev["defaultEncryption"] = p.sse
            return Verdict("fail", f"Backup bucket {p.name!r} has no copy in another AWS "
                                   f"account: its replication to bucket {r['bucket']} in account "
                                   f"{r['account']} leaves out SSE-KMS objects (no "
                                   "sourceSelectionCriteria sseKmsEncryptedObjects Enabled), "
                                   f"and the bucket encrypts every new object with {p.sse} by "
                                   "default: none of them is replicated.", ev,
                           fix_cross_account(p, allowed, keyed_here=True, kms_objects=True))
        if copying:
            r = copying[0]
            return Verdict("fail", f"Backup bucket {p.name!r} has no copy out of this account's "
                                   f"reach: it replicates to bucket {r['bucket']} in account "
                                   f"{r['account']}, but encrypts the replicas with KMS key "
                                   f"{r['replicaKey']} of this account: whoever controls this "
                                   "account can disable or delete that key, and every replica "
                                   "with it.", ev, fix_cross_account(p, allowed, keyed_here=True))
        foreign = [r for r in rules if isinstance(r.get("account"), str)
                   and r.get("account") != p.account]
        elsewhere = [r["account"] for r in foreign if not _counts(r["account"], p.account,
                                                                  allowed)]
        if elsewhere and len(elsewhere) == len(foreign):
            return Verdict("fail", f"Backup bucket {p.name!r} has no copy in an account of "
                                   f"destinationAccounts: it replicates only to "
                                   f"{_not_allowed(elsewhere, allowed)}, one nobody listed "
                                   "(maybe one an intruder controls).", ev,
                           fix_cross_account(p, allowed))
        why = ("its cross-account replication leaves the replicas owned by this account "
               "(accessControlTranslation owner is not Destination)" if foreign else
               "no replication rule writes to another account")
        return Verdict("fail", f"Backup bucket {p.name!r} has no copy in another AWS account: "
                               f"{why}.", ev, fix_cross_account(p, allowed))
    if p.links is UNKNOWN:
        return Verdict.unknown(f"The backup plans that select {p.name!r}", **ev)
    ev["selectedBy"] = p.selected_by
    ev["copyActions"] = [{"plan": k.plan, "selection": k.selection, "rule": k.rule,
                          "destinationVaultArn": k.copy.destination,
                          "destinationAccount": k.copy.account} for k in p.links]
    if any(k.copy.account is UNKNOWN for k in p.links):
        return Verdict.unknown(f"The copy destination of the plans that select {p.name!r}", **ev)
    if p.account is None and p.links:
        return Verdict.unknown(f"The account of {p.name!r}", **ev)
    cross = [k for k in p.links if _counts(k.copy.account, p.account, allowed)]
    elsewhere = [k for k in p.links if k.copy.account and k.copy.account != p.account
                 and k not in cross]
    if not cross:
        if elsewhere:
            to = _not_allowed((k.copy.account for k in elsewhere), allowed)
            return Verdict("fail", f"{_kind(p)} {p.name!r} has no copy in an account of "
                                   f"destinationAccounts: its backup plans copy only to {to}, "
                                   "one nobody listed (maybe one an intruder controls) ("
                                   + "; ".join(_link_text(k) for k in elsewhere) + ").",
                           ev, fix_cross_account(p, allowed))
        if p.links:
            why = ("its backup plans copy only within its own account (" +
                   "; ".join(_link_text(k) for k in p.links) + ")")
        elif p.selected_by:
            why = f"the plans that select it ({', '.join(p.selected_by)}) have no copy action"
        else:
            why = "no AWS Backup selection selects it"
        return Verdict("fail", f"{_kind(p)} {p.name!r} has no copy in another AWS account: "
                               f"{why}. Whoever controls this account can delete every copy.",
                       ev, fix_cross_account(p, allowed))
    if p.copied is None:  # deploy side: the configuration is what can be judged
        return Verdict.ok(f"{_kind(p)} {p.name!r} is copied to another account: "
                          f"{_link_text(cross[0])}.", **ev)
    if p.copied is UNKNOWN:
        return Verdict.unknown(f"The copy jobs of {p.name!r}", **ev)
    max_age = params["maxCopyAgeHours"]
    for k in cross:
        seen = p.copied.get(k.copy.account)
        if seen is not None:
            age = (p.as_of - seen["when"]).total_seconds() / 3600
            ev["newestCopy"] = {**seen, "ageHours": round(age, 1)}
            if age <= max_age:
                return Verdict.ok(f"{_kind(p)} {p.name!r} was copied to account "
                                  f"{k.copy.account} {round(age, 1)} h ago ({seen['kind']} "
                                  f"in {seen['destination']}); {_link_text(k)}.", **ev)
    newest = ev.get("newestCopy")
    when = (f"the newest is {newest['ageHours']} h old" if newest else "none was found")
    return Verdict("fail", f"{_kind(p)} {p.name!r} is set to be copied to another account "
                           f"({_link_text(cross[0])}) but no copy completed within "
                           f"{max_age} h: {when}.", ev, fix_cross_account(p, allowed))


def air_gapped(v: CopyVault, params: Mapping[str, Any]) -> Verdict:
    minimum = params["minRetentionDays"]
    ev = {"vaultType": v.vault_type, "lockMode": v.lock_mode, "locked": v.locked,
          "lockDate": v.lock_date, "changeableForDays": v.changeable_for_days,
          "minRetentionDays": v.min_retention_days, "required": minimum, "why": v.why}
    if v.vault_type is UNKNOWN or v.lock_mode is UNKNOWN:
        return Verdict.unknown(f"The type and lock of vault {v.name!r}", **ev)
    if v.vault_type == AIR_GAPPED_TYPE:
        return Verdict.ok(f"Vault {v.name!r} ({v.why}) is logically air-gapped.", **ev)
    head = f"Vault {v.name!r} ({v.why})"
    if v.lock_mode is None:
        return Verdict("fail", f"{head} is neither air-gapped nor locked: an admin of its "
                               "account can delete the copies.", ev, fix_air_gapped(v, minimum))
    if v.lock_mode == "governance":
        return Verdict("fail", f"{head} has a governance-mode lock only, which a privileged "
                               "user can remove; use compliance mode.", ev,
                       fix_air_gapped(v, minimum))
    if v.min_retention_days is UNKNOWN:
        return Verdict.unknown(f"The lock retention of vault {v.name!r}", **ev)
    if not isinstance(v.min_retention_days, int) or v.min_retention_days < minimum:
        return Verdict("fail", f"{head} lock keeps recovery points only "
                               f"{v.min_retention_days} days, below {minimum}.", ev,
                       fix_air_gapped(v, minimum))
    if v.locked is None:  # deploy: the lock is configured; it becomes immutable after its grace
        if v.changeable_for_days is UNKNOWN:
            return Verdict.unknown(f"The lock mode of vault {v.name!r}", **ev)
        return Verdict.ok(f"{head} has a compliance-mode lock (min {v.min_retention_days} "
                          f"days), immutable {v.changeable_for_days} days after it is "
                          "applied.", **ev)
    lock_date = v.lock_date
    if v.locked is True and (not isinstance(lock_date, dt.datetime) or lock_date <= v.as_of):
        return Verdict.ok(f"{head} is locked in compliance mode since "
                          f"{lock_date.isoformat() if lock_date else 'its lock date'} "
                          f"(min {v.min_retention_days} days).", **ev)
    until = lock_date.isoformat() if isinstance(lock_date, dt.datetime) else "its lock date"
    return Verdict("fail", f"{head} has a compliance-mode lock still in its grace time (until "
                           f"{until}): it can still be removed.", ev,
                   fix_air_gapped(v, minimum))


def _principal_is_everyone(stmt: Mapping[str, Any]) -> bool:
    p = stmt.get("Principal")
    if p == "*":
        return True
    return isinstance(p, Mapping) and "*" in _strs(p.get("AWS"))


def _strs(value: Any) -> list[str]:
    """A policy element's values (one string or a list); what is not a string is dropped."""
    if isinstance(value, str):
        return [value]
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def _exemptions(stmt: Mapping[str, Any]) -> list[str] | None:
    """Principals a Deny statement exempts (negated conditions on aws:PrincipalArn), or None
    when a condition narrows it otherwise."""
    out: list[str] = []
    cond = stmt.get("Condition") or {}
    if not isinstance(cond, Mapping):
        return None
    for op, clauses in cond.items():
        if op.lower() not in ("arnnotlike", "arnnotequals", "stringnotlike", "stringnotequals"):
            return None
        if not isinstance(clauses, Mapping):
            return None
        for key, values in clauses.items():
            if key.lower() != "aws:principalarn" or not _strs(values) \
                    or len(_strs(values)) != (len(values) if isinstance(values, list) else 1):
                return None
            out += _strs(values)
    return out


def _within_allowed(exempt: str, allowed: Iterable[str]) -> bool:
    """Whether every principal the exemption pattern matches is matched by an allowed glob
    (`role/bg?` allows `role/bgx`, not `role/bg*`)."""
    for a in allowed:
        glob = patterns.iam_wildcard_within(a)
        if glob is not None and glob.match(exempt):
            return True
    return False


# What a vault's recovery points are called: AWS Backup's own ARN for the resource types it
# fully manages, the snapshot or image of the source service for the others (EBS, EC2, RDS,
# Aurora...). A deny must name them all, so only a pattern matching every one of these counts.
_POINT_ARNS = ("arn:{p}:backup:{r}:{a}:recovery-point:0a1b2c3d-aaaa-bbbb-cccc-0123456789ab",
               "arn:{p}:ec2:{r}::snapshot/snap-0123456789abcdef0",
               "arn:{p}:ec2:{r}::image/ami-0123456789abcdef0",
               "arn:{p}:rds:{r}:{a}:snapshot:awsbackup:job-0a1b2c3d",
               "arn:{p}:rds:{r}:{a}:cluster-snapshot:awsbackup:job-0a1b2c3d",
               "arn:{p}:fsx:{r}:{a}:backup/backup-0123456789abcdef0",
               "arn:{p}:redshift:{r}:{a}:snapshot:cluster/awsbackup:job-0a1b2c3d")
# PutBackupVaultAccessPolicy (and DeleteBackupVaultAccessPolicy) act on the vault itself.
_VAULT_ACTIONS = frozenset({"backup:putbackupvaultaccesspolicy",
                            "backup:deletebackupvaultaccesspolicy"})
# Where the vault's region or account is not known (a preview), a pattern naming one cannot
# be told to be this vault's: only a wildcard matches these.
_NO_REGION, _NO_ACCOUNT = "region-not-known", "account-not-known"


def _targets(v: VaultPolicy, action: str) -> list[str]:
    """The ARNs `action` may act on in vault `v`."""
    region = v.region if isinstance(v.region, str) and v.region else _NO_REGION
    account = v.account if isinstance(v.account, str) and v.account else _NO_ACCOUNT
    fill = {"p": partition_of(region), "r": region, "a": account}
    if action.lower() in _VAULT_ACTIONS:
        return [f"arn:{fill['p']}:backup:{region}:{account}:backup-vault:{v.name}"]
    return [t.format(**fill) for t in _POINT_ARNS]


def _arn_like(pattern: str, arn: str) -> bool:
    """IAM's match of a Resource pattern: `*` alone matches anything; otherwise each of the
    six colon-separated parts is matched on its own (a wildcard does not run across a colon
    of the first five), case-sensitively."""
    pattern = pattern.strip()
    if pattern == "*":
        return True
    want, have = pattern.split(":", 5), arn.split(":", 5)
    if len(want) != 6:
        return False
    for w, h in zip(want, have, strict=True):
        glob = patterns.value_wildcard(w)
        if glob is None or not glob.match(h):
            return False
    return True


def _covers(stmt: Mapping[str, Any], targets: list[str]) -> bool:
    resources = _strs(stmt.get("Resource"))
    return all(any(_arn_like(r, t) for r in resources) for t in targets)


def _names(patterns_: list[str], action: str) -> bool:
    """AWS Backup vault access policies do not support wildcards in Action: only an action
    named in full (case-insensitively) is denied."""
    return any(p.strip().lower() == action.lower() for p in patterns_)


def _wildcards(patterns_: list[str]) -> list[str]:
    return [p for p in patterns_ if "*" in p or "?" in p]


def _statement_denies(v: VaultPolicy, s: Mapping[str, Any], allowed: list[str],
                      actions: tuple[str, ...]) -> tuple[set[str], str | None]:
    """(the actions of `actions` a Deny statement denies to every principal but `allowed`,
    why it denies fewer of them)."""
    if "NotPrincipal" in s or not _principal_is_everyone(s):
        return set(), "does not apply to every principal (Principal must be \"*\")"
    exempt = _exemptions(s)
    if exempt is None:
        return set(), ("a condition limits when it applies (only a negated aws:PrincipalArn "
                       "condition naming allowedPrincipals may)")
    extra = [e for e in exempt if not _within_allowed(e, allowed)]
    if extra:
        return set(), f"exempts {', '.join(extra)} (not in allowedPrincipals)"
    if "NotResource" in s:
        return set(), "NotResource exempts resources"
    why: list[str] = []
    if "NotAction" in s:
        nots = _strs(s["NotAction"])
        if _wildcards(nots):
            return set(), (f"NotAction has wildcards ({', '.join(_wildcards(nots))}), which "
                           "vault access policies do not support")
        named = {a for a in actions if not _names(nots, a)}
        if kept := [a for a in actions if a not in named]:
            why = [f"NotAction leaves {', '.join(kept)} out of the deny"]
    else:
        named = {a for a in actions if _names(_strs(s.get("Action")), a)}
    denied = {a for a in named if _covers(s, _targets(v, a))}
    if wild := [w for w in _wildcards(_strs(s.get("Action"))) if any(
            iampolicy.action_matches(w, a) for a in actions if a not in named)]:
        why.append(f"Action wildcards ({', '.join(wild)}) do not count: vault access policies "
                   "do not support them, name each action")
    if short := [a for a in actions if a in named - denied]:
        points = [a for a in short if a.lower() not in _VAULT_ACTIONS]
        vault = [a for a in short if a.lower() in _VAULT_ACTIONS]
        if points:
            why.append(f"Resource does not cover every recovery point of the vault (AWS Backup, "
                       f"EBS, EC2 and RDS ARNs alike) for {', '.join(points)}: use \"*\"")
        if vault:
            why.append(f"Resource does not cover the vault itself for {', '.join(vault)}: "
                       "use \"*\"")
    return denied, "; ".join(why) or None


_RANK = {"fail": 0, "error": 1, "unknown": 2}


def deny_delete(v: VaultPolicy, params: Mapping[str, Any]) -> Verdict:
    if len(v.writers) < 2:
        return _deny_delete(v, params)
    judged = [(name, _deny_delete(VaultPolicy(ref=v.ref, name=v.name, type=v.type,
                                              account=v.account, region=v.region,
                                              tags=v.tags, policy=policy), params))
              for name, policy in v.writers]
    name, worst = min(judged, key=lambda j: _RANK.get(j[1].status, 3))
    worst.evidence["policyResource"] = name
    worst.evidence["policyResources"] = [n for n, _ in v.writers]
    if worst.status == "pass":
        return worst
    worst.message = (f"{worst.message[:-1]} (VaultPolicy {name!r}, one of "
                     f"{len(v.writers)} for this vault: AWS keeps whichever is applied last, so "
                     "each must pass).")
    return worst


def _deny_delete(v: VaultPolicy, params: Mapping[str, Any]) -> Verdict:
    allowed = list(params["allowedPrincipals"])
    ev: dict[str, Any] = {"allowedPrincipals": allowed}
    if v.policy is UNKNOWN:
        return Verdict.unknown(f"The access policy of vault {v.name!r}", **ev)
    if v.policy is None:
        return Verdict("fail", f"Backup vault {v.name!r} has no access policy: any admin of the "
                               "account can delete its recovery points.", ev,
                       fix_deny_delete(v, allowed))
    try:
        stmts = iampolicy.statements(v.policy)
    except (ValueError, TypeError) as e:
        return Verdict("error", f"The access policy of vault {v.name!r} cannot be read: {e}.",
                       ev)
    denied: set[str] = set()
    ignored: list[dict[str, str]] = []
    for i, s in enumerate(stmts):
        if s.get("Effect") != "Deny":
            continue
        sid = str(s.get("Sid") or f"#{i + 1}")
        hits, why = _statement_denies(v, s, allowed, PROTECTED_ACTIONS)
        if why:
            ignored.append({"statement": sid, "reason": why})
        for a in sorted(hits - denied):
            ev.setdefault("deniedBy", {})[a] = sid
        denied |= hits
    missing = [a for a in PROTECTED_ACTIONS if a not in denied]
    ev.update(missing=missing, ignoredStatements=ignored)
    if missing:
        because = "".join(f"; statement {x['statement']}: {x['reason']}" for x in ignored)
        return Verdict("fail", f"Backup vault {v.name!r}'s access policy does not deny "
                               f"{', '.join(missing)} to every principal"
                               f"{' but ' + ', '.join(allowed) if allowed else ''}{because}.",
                       ev, fix_deny_delete(v, allowed))
    by = sorted(set(ev["deniedBy"].values()))
    return Verdict.ok(f"Backup vault {v.name!r}'s access policy denies deleting and expiring "
                      f"recovery points and changing the policy (statement"
                      f"{'s' if len(by) > 1 else ''} {', '.join(by)}).", **ev)


def _days(v: Any) -> Any:
    """A retention in days as written (None, UNKNOWN, a number); anything else is "bad"."""
    if v is None or v is UNKNOWN:
        return v
    if isinstance(v, str) and v.strip().isdigit():
        return int(v)
    if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
        return v
    return _BAD


_BAD = object()


def rule_problems(rule: PlanRule, params: Mapping[str, Any], year: int) -> tuple[
        list[str], list[str], dict[str, Any]]:
    """(problems, unreadable, evidence) of one plan rule."""
    problems: list[str] = []
    unreadable: list[str] = []
    schedule = DEFAULT_SCHEDULE if rule.schedule is None else rule.schedule
    ev: dict[str, Any] = {"rule": rule.name, "schedule": schedule,
                          "deleteAfterDays": rule.delete_after}
    if schedule is UNKNOWN:
        unreadable.append("schedule")
    else:
        try:
            interval = parse_schedule(schedule, year).max_interval_hours
        except ScheduleError as e:
            ev["scheduleError"] = str(e)
            return problems, unreadable, ev
        ev["maxIntervalHours"] = interval if math.isfinite(interval) else "never again"
        if interval > params["maxIntervalHours"]:
            problems.append(f"rule {rule.name!r} runs {schedule}: up to "
                            f"{_plural(interval, 'hour') if math.isfinite(interval) else 'forever'}"
                            f" between backups (max {params['maxIntervalHours']})")
    minimum = params["minRetentionDays"]

    def retention(value: Any, subject: str, kept: str, unread: str) -> None:
        keep = _days(value)
        if keep is UNKNOWN:
            unreadable.append(unread)
        elif keep is _BAD:
            problems.append(f"{subject} has an unreadable lifecycle {value!r}")
        elif keep is not None and keep < minimum:
            problems.append(f"{subject} keeps {kept} {_plural(keep, 'day')} (min {minimum})")

    retention(rule.delete_after, f"rule {rule.name!r}", "recovery points", "lifecycle")
    if rule.copies is UNKNOWN:
        unreadable.append("copy actions")
    else:
        for c in rule.copies:
            retention(c.delete_after, f"rule {rule.name!r} copy to {c.destination}", "it",
                      "copy lifecycle")
    return problems, unreadable, ev


def frequency_retention(p: BackupPlan, params: Mapping[str, Any]) -> Verdict:
    ev: dict[str, Any] = {"maxIntervalHours": params["maxIntervalHours"],
                          "minRetentionDays": params["minRetentionDays"]}
    if p.rules is UNKNOWN:
        return Verdict.unknown(f"The rules of backup plan {p.name!r}", **ev)
    problems: list[str] = []
    unreadable: list[str] = []
    ev["rules"] = []
    for r in p.rules:
        probs, unk, rev = rule_problems(r, params, p.as_of.year)
        ev["rules"].append(rev)
        if "scheduleError" in rev:
            return Verdict("error", f"Backup plan {p.name!r}: {rev['scheduleError']}; "
                                    "it cannot be judged.", ev)
        problems += probs
        unreadable += [f"{r.name}: {u}" for u in unk]
    if problems:
        return Verdict("fail", f"Backup plan {p.name!r}: " + "; ".join(problems) + ".", ev,
                       fix_frequency(p, params))
    if unreadable:
        return Verdict.unknown(f"The {', '.join(unreadable)} of backup plan {p.name!r}", **ev)
    if not p.rules:
        return Verdict("fail", f"Backup plan {p.name!r} has no rule: it never backs up.", ev,
                       fix_frequency(p, params))
    return Verdict.ok(f"Every rule of backup plan {p.name!r} runs at least every "
                      f"{params['maxIntervalHours']} h and keeps recovery points >= "
                      f"{params['minRetentionDays']} days.", **ev)


def jobs_healthy(h: JobHistory, params: Mapping[str, Any]) -> Verdict:
    ev: dict[str, Any] = {"windowHours": params["windowHours"]}
    if h.jobs is UNKNOWN:
        return Verdict.unknown(f"The backup and copy jobs of {h.name!r}", **ev)
    bad: list[Job] = []
    for kind in ("backup", "copy"):
        jobs = sorted((j for j in h.jobs if j.kind == kind), key=lambda j: j.when)
        last_ok = max((j.when for j in jobs if j.state == "COMPLETED"), default=None)
        bad += [j for j in jobs if j.state in BAD_JOB_STATES
                and (last_ok is None or last_ok < j.when)]
    ev["jobs"] = [{"kind": j.kind, "state": j.state, "when": j.when, "jobId": j.job_id,
                   "message": j.message} for j in sorted(h.jobs, key=lambda j: j.when)]
    if bad:
        j = max(bad, key=lambda j: j.when)
        return Verdict("fail", f"The {j.kind} job {j.job_id} of {h.name!r} ended {j.state} at "
                               f"{j.when.isoformat()} and no later {j.kind} job COMPLETED"
                               f"{': ' + j.message if j.message else ''}.", ev, fix_jobs(h))
    return Verdict.ok(f"No backup or copy job of {h.name!r} failed without a later COMPLETED "
                      f"one in the last {params['windowHours']} h.", **ev)


# ---- logs side ------------------------------------------------------------------------------

def _plan_rules(rp: Mapping[str, Any]) -> list[dict[str, Any]]:
    plan = rp.get("backupPlan")
    return [r for r in as_list(get_in(plan, "rules")) if isinstance(r, dict)] \
        if isinstance(plan, dict) else []


def drops_cross_account_copy(rp: dict[str, Any], record: dict[str, Any],
                             params: Mapping[str, Any], _ctx: Any) -> bool:
    if record.get("eventName") == "DeleteBackupPlan":
        return True
    own = str(record.get("recipientAccountId") or get_in(record, "userIdentity", "accountId"))
    allowed = destinations(params)
    return not any(_counts(arn_account(c.get("destinationBackupVaultArn")), own, allowed)
                   for r in _plan_rules(rp) for c in as_list(r.get("copyActions"))
                   if isinstance(c, dict))


def replication_not_cross_account_owned(rp: dict[str, Any], record: dict[str, Any],
                                        params: Mapping[str, Any], _ctx: Any) -> bool:
    if record.get("eventName") == "DeleteBucketReplication":
        return True
    own = str(record.get("recipientAccountId") or get_in(record, "userIdentity", "accountId"))
    allowed = destinations(params)
    cfg = rp.get("ReplicationConfiguration") or {}
    for rule in as_list(get_in(cfg, "Rule")):
        dest = get_in(rule, "Destination") or {}
        if get_in(rule, "Status") == "Enabled" \
                and _counts(get_in(dest, "Account"), own, allowed) \
                and get_in(dest, "AccessControlTranslation", "Owner") == "Destination" \
                and _keyed_here({"replicaKey": get_in(dest, "EncryptionConfiguration",
                                                      "ReplicaKmsKeyID")}, own) is False:
            return False
    return True


def removes_vault_deny(rp: dict[str, Any], record: dict[str, Any], params: Mapping[str, Any],
                  _ctx: Any) -> bool:
    if record.get("eventName") == "DeleteBackupVaultAccessPolicy":
        return True
    region, account = record.get("awsRegion"), record.get("recipientAccountId")
    v = VaultPolicy(ref="", name=str(rp.get("backupVaultName")), policy=rp.get("policy"),
                    region=region if isinstance(region, str) else None,
                    account=account if isinstance(account, str) else None)
    return deny_delete(v, params).status != "pass"


def lowers_frequency_or_retention(rp: dict[str, Any], record: dict[str, Any],
                                  params: Mapping[str, Any], _ctx: Any) -> bool:
    stamp = str(record.get("eventTime") or "")[:4]
    year = int(stamp) if stamp.isdigit() else dt.datetime.now(dt.UTC).year
    for r in _plan_rules(rp):
        rule = PlanRule(
            name=str(r.get("ruleName")), schedule=r.get("scheduleExpression"),
            delete_after=get_in(r, "lifecycle", "deleteAfterDays"),
            copies=[CopyAction(c.get("destinationBackupVaultArn"),
                               get_in(c, "lifecycle", "deleteAfterDays"))
                    for c in as_list(r.get("copyActions")) if isinstance(c, dict)])
        problems, _, ev = rule_problems(rule, params, year)
        if problems or "scheduleError" in ev:
            return True
    return False


def _plan_resource(record: dict[str, Any]) -> str:
    rp = request_parameters(record)
    pid = rp.get("backupPlanId") or get_in(record, "responseElements", "backupPlanId")
    if pid:
        return backup_resource({**record, "requestParameters": {"backupPlanId": pid}})
    return backup_resource({**record, "requestParameters": {
        "backupVaultName": f"plan/{get_in(rp, 'backupPlan', 'backupPlanName')}"}})


CONTROLS: tuple[Control, ...] = (
    Control(
        id=CROSS_ACCOUNT,
        gap=("No copy in another account",),
        why=("Every copy in the production account can be deleted by whoever owns that "
             "account: ransomware, a leaked CI key or an insider. Only a copy in another "
             "account survives them."),
        console=(
            "AWS Backup console: Backup plans, select the plan that covers the resource, Edit "
            "the rule: add a copy to a vault ARN in your backup account.",
            "S3 console (backup buckets): Management, Replication rules: a destination bucket "
            "in another account, with 'Change object ownership to destination bucket owner'.",
        ),
        cannot_remediate=("a copy in another account needs a plan, a selection and a vault "
                          "there: resources a remediation cannot add."),
        title="Recovery data has a copy in another AWS account",
        severity="high", tier=2, exposure=DESTROYABLE,
        description="Each database, DynamoDB table, EFS file system and backup bucket has a copy "
                    "in another AWS account: an AWS Backup plan whose selection selects it with a "
                    "copy action to a vault of another account (live: a COMPLETED copy job, or "
                    "with --org a recovery point in the destination vault, within "
                    "maxCopyAgeHours); for a backup bucket, replication to a bucket of another "
                    "account owned by that account, its replicas not encrypted with a KMS key "
                    "of the bucket's own account (whose admin could delete the key), and, when "
                    "the bucket encrypts with SSE-KMS by default, a rule that replicates "
                    "SSE-KMS objects.",
        remediation="Add a copy action to a vault in another account to a plan that selects the "
                    "resource; replicate backup buckets to another account with "
                    "accessControlTranslation owner Destination.",
        params=(hours("maxCopyAgeHours", 26, "Newest cross-account copy allowed, in hours "
                                             "(live)."),
                Param("destinationAccounts", [], {"type": "array", "uniqueItems": True,
                                                  "items": {"type": "string",
                                                            "pattern": "^[0-9]{12}$"}},
                      "AWS account ids the copies must go to (your backup or vault "
                      "accounts); empty: any account other than the resource's own. Set, a "
                      "copy redirected to any other account (one an intruder controls) no "
                      "longer counts.")),
        detections=(
            on(BACKUP, "UpdateBackupPlan", "DeleteBackupPlan", resource=_plan_resource,
               when=drops_cross_account_copy,
               message="{principal} called {event} on backup plan {name}: no rule copies "
                       "to another account any more."),
            on(S3, "DeleteBucketReplication", "PutBucketReplication", resource=s3_bucket,
               when=replication_not_cross_account_owned, backup_scoped=True,
               message="{principal} called {event} on backup bucket {name}: it has no "
                       "replication to another account owned by that account."),
        ),
    ),
    Control(
        id=AIR_GAPPED,
        gap=(
            "Vault lock still removable until {lockDate|date}",
            "Copy vault neither air-gapped nor locked",
        ),
        why=("A vault an administrator can unlock or empty is not out of an attacker's reach; a "
             "compliance-mode Vault Lock past its grace time, or a logically air-gapped vault, "
             "cannot be emptied before its retention ends, not even by the root user."),
        console=(
            "AWS Backup console: Backup vaults, select the destination vault, Vault lock: "
            "Create, mode Compliance, minimum retention at least the required days.",
            "Or create a logically air-gapped vault and point the copy actions at it.",
        ),
        cannot_remediate="a vault lock is a resource of its own (VaultLockConfiguration).",
        title="Cross-account copies land in an air-gapped or compliance-locked vault",
        severity="high", tier=3, exposure=DESTROYABLE,
        description="The vaults that receive cross-account copies are logically air-gapped, or "
                    "have a Vault Lock in compliance mode, past its grace time, with a minimum "
                    "retention of at least minRetentionDays. Governance mode does not count.",
        remediation="Copy into a logically air-gapped vault, or lock the destination vault in "
                    "compliance mode (VaultLockConfiguration with changeableForDays).",
        params=(days("minRetentionDays", 7, "Minimum lock retention, in days."),),
        detections=(
            on(BACKUP, "DeleteBackupVaultLockConfiguration", resource=backup_resource,
               message="{principal} removed the vault lock of {name}: its copies can be "
                       "deleted."),
        ),
    ),
    Control(
        id=DENY_DELETE,
        gap=("Vault policy lets recovery points be deleted",),
        why=("Without an explicit deny, anyone with backup permissions can delete recovery "
             "points or shorten their lifecycle, and the vault's own policy can be rewritten."),
        console=(
            "AWS Backup console: Backup vaults, select the vault, Access policy, Edit: add a "
            "Deny of backup:DeleteRecoveryPoint, backup:UpdateRecoveryPointLifecycle, "
            "backup:PutBackupVaultAccessPolicy and backup:DeleteBackupVaultAccessPolicy, "
            "Principal \"*\", Resource \"*\", for every principal but the allowed ones.",
        ),
        cannot_remediate="a vault access policy is a resource of its own (VaultPolicy).",
        title="Backup vault policies deny deleting recovery points",
        severity="high", tier=2, exposure=DESTROYABLE,
        mapping=Refs(aws_config=("backup-recovery-point-manual-deletion-disabled",)),
        description="Each backup vault's access policy denies backup:DeleteRecoveryPoint, "
                    "backup:UpdateRecoveryPointLifecycle, backup:PutBackupVaultAccessPolicy and "
                    "backup:DeleteBackupVaultAccessPolicy (else an admin deletes the policy, "
                    "then the recovery points) to every principal except allowedPrincipals, "
                    "naming each action (vault access policies do not support wildcards in "
                    "Action) for every resource (\"*\": recovery points of EBS, EC2 and RDS "
                    "have those services' ARNs). No policy fails.",
        remediation="Add an aws.backup.VaultPolicy with a Deny statement for those actions, "
                    "Principal *, Resource *, exempting only allowedPrincipals by "
                    "aws:PrincipalArn.",
        params=(strings("allowedPrincipals", [], "Principal ARN globs the deny may exempt."),),
        detections=(
            on(BACKUP, "PutBackupVaultAccessPolicy", "DeleteBackupVaultAccessPolicy",
               resource=backup_resource, when=removes_vault_deny,
               message="{principal} called {event} on vault {name}: its recovery points can "
                       "be deleted by an admin."),
        ),
    ),
    Control(
        id=FREQUENCY,
        gap=(
            "Plan runs less often than every {maxIntervalHours} h or keeps under "
            "{minRetentionDays|day}",
            "Plan runs too rarely or keeps too briefly",
        ),
        why=("A plan that runs too rarely loses more than the objective allows; one that keeps "
             "points too briefly leaves nothing to restore from when a problem is noticed late."),
        console=(
            "AWS Backup console: Backup plans, select the plan, Edit each rule: a schedule at "
            "least as often as required and a retention (and copy retention) at least as long.",
        ),
        cannot_remediate=("lowering the interval or raising retention changes what the plan "
                          "costs; the owner decides."),
        title="Backup plans run often enough and keep recovery points long enough",
        severity="high", tier=2, exposure=DESTROYABLE,
        mapping=Refs(aws_config=("backup-plan-min-frequency-and-min-retention-check",)),
        description="Every AWS Backup plan rule runs at least every maxIntervalHours (its cron or "
                    "rate schedule read to the longest gap between runs; one that cannot be read "
                    "is an error) and keeps recovery points, and their copies, at least "
                    "minRetentionDays.",
        remediation="Tighten the rule's schedule and raise lifecycle.deleteAfter (and the copy "
                    "actions' lifecycle).",
        params=(hours("maxIntervalHours", 24, "Longest time between two backups, in hours."),
                days("minRetentionDays", 35, "Shortest retention of recovery points and copies, "
                                             "in days.")),
        detections=(
            on(BACKUP, "CreateBackupPlan", "UpdateBackupPlan", resource=_plan_resource,
               when=lowers_frequency_or_retention,
               message="{principal} called {event} on backup plan {name}: a rule runs less "
                       "often than every {params[maxIntervalHours]} h or keeps backups less "
                       "than {params[minRetentionDays]} days."),
        ),
    ),
    Control(
        id=JOBS,
        gap=("Backup or copy jobs failed",),
        why=("A plan only protects data when its jobs succeed: a failed backup or copy job "
             "means the newest recovery point is older than everyone believes."),
        console=(
            "AWS Backup console: Jobs, Backup jobs and Copy jobs, filter by Failed/Aborted/"
            "Expired: open the job for its status message, fix the cause (permissions, KMS key, "
            "resource state), then Create on-demand backup to get a fresh point.",
        ),
        title="Backup and copy jobs succeed",
        severity="high", tier=2, exposure=DESTROYABLE,
        sources=frozenset({"live"}),
        description="No AWS Backup backup or copy job of a resource ended FAILED, ABORTED, "
                    "EXPIRED or PARTIAL in the last windowHours without a later COMPLETED one.",
        remediation="Fix the cause in the job's status message and re-run the backup.",
        params=(hours("windowHours", 26, "How far back jobs are read, in hours."),),
    ),
)
