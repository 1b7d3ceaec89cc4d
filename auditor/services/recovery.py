"""Recoverability under attack, live: AWS Backup plans (schedules, retention, copy actions), the
selections linking them to the databases, tables, file systems and backup buckets the other
services read, copy and backup jobs, vault access policies and the vaults receiving
cross-account copies.

Read after the other services (PHASE 45), per account x region: ListBackupPlans, GetBackupPlan,
ListBackupSelections/GetBackupSelection, GetBackupVaultAccessPolicy per vault, ListBackupJobs
and ListCopyJobs over the window; then DescribeBackupVault for every vault that receives
cross-account copies (in its own account when the scan covers it, else asked from the source
account with BackupVaultAccountId) and, when the scan covers a copy's destination account,
ListRecoveryPointsByBackupVault there. Every read that fails is `error` for the controls it
feeds, naming the call. Read-only.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import field
from typing import Any

from drguard.controls import recovery as ctl
from drguard.controls.recovery import (
    AIR_GAPPED_TYPE,
    BackupPlan,
    CopyAction,
    CopyVault,
    Job,
    JobHistory,
    Link,
    PlanRule,
    Protected,
    VaultPolicy,
    arn_account,
)
from drguard.detections import short_name
from drguard.facts import UNKNOWN
from drguard.records import record

from ..aws import paginate
from ..collectors import UNIT_ERRORS, Errors, ReadError, guarded
from ..live import AccountScan, Live, LiveService, Phase, Read, ScanContext
from . import rpo
from . import s3 as s3svc
from .backup import selection_covers

log = logging.getLogger(__name__)

# Settings for the embedded emulator (`dr-audit demo`): it serves no vault access policies and
# no job listings, so the controls that only read those are off there.
EMULATOR_CONTROLS: dict[str, dict[str, Any]] = {ctl.DENY_DELETE: {"enabled": False},
                                                ctl.JOBS: {"enabled": False}}
_KEY = "recovery"
_NOT_FOUND = {"ResourceNotFoundException": None}


@record
class PlanRead:
    """A backup plan as read, its selections, and why they are unknown if they are."""

    plan: BackupPlan
    selections: Any = field(default_factory=list)  # [(name, selection dict)] | UNKNOWN
    error: ReadError | None = None  # why the selections are unknown


@record
class RegionRecovery:
    """What one account x region holds for these controls (UNKNOWN where a read failed)."""

    plans: Any = field(default_factory=list)  # [PlanRead] | UNKNOWN
    policies: dict[str, Any] = field(default_factory=dict)  # vault ARN -> policy|None|UNKNOWN
    backup_jobs: Any = field(default_factory=list)  # raw BackupJobs | UNKNOWN
    copy_jobs: Any = field(default_factory=list)  # raw CopyJobs | UNKNOWN
    errors: Errors = field(default_factory=dict)


# ---- collection -------------------------------------------------------------------------------

def _rule(r: dict[str, Any]) -> PlanRule:
    return PlanRule(
        name=str(r.get("RuleName")), schedule=r.get("ScheduleExpression"),
        delete_after=(r.get("Lifecycle") or {}).get("DeleteAfterDays"),
        copies=[CopyAction(c.get("DestinationBackupVaultArn"),
                           (c.get("Lifecycle") or {}).get("DeleteAfterDays"))
                for c in r.get("CopyActions") or ()])


def _plans(acct: Any, account: str, region: str, now: dt.datetime,
           errors: Errors) -> Any:
    bk = acct.client("backup", region)
    listed = guarded(errors, "plans", "backup:ListBackupPlans",
                     lambda: list(paginate(bk, "list_backup_plans", "BackupPlansList")))
    if listed is UNKNOWN:
        return UNKNOWN
    out = []
    for p in listed:
        pid = p["BackupPlanId"]
        arn = p.get("BackupPlanArn") or f"arn:aws:backup:{region}:{account}:backup-plan:{pid}"
        plan = BackupPlan(ref=arn, name=p.get("BackupPlanName") or pid,
                          type="AWS::Backup::BackupPlan", account=account, region=region,
                          as_of=now.date(), evidence={"backupPlanId": pid})
        errs: Errors = {}
        got = guarded(errs, "plan", "backup:GetBackupPlan",
                      lambda i=pid: bk.get_backup_plan(BackupPlanId=i))
        if got is UNKNOWN:
            plan.rules = UNKNOWN
            errors[f"plan:{arn}"] = errs["plan"]
        else:
            plan.rules = [_rule(r) for r in (got.get("BackupPlan") or {}).get("Rules") or ()]

        def sels(i: str = pid) -> list[tuple[str, dict[str, Any]]]:
            found = []
            for s in paginate(bk, "list_backup_selections", "BackupSelectionsList",
                              BackupPlanId=i):
                sel = bk.get_backup_selection(BackupPlanId=i, SelectionId=s["SelectionId"])
                body = sel.get("BackupSelection") or {}
                found.append((body.get("SelectionName") or s.get("SelectionName")
                              or s["SelectionId"], body))
            return found

        read = PlanRead(plan)
        read.selections = guarded(errs, "selections", "backup:ListBackupSelections", sels)
        read.error = errs.get("selections")
        out.append(read)
    return out


def _region(scanner: ScanContext, a: AccountScan, region: str) -> RegionRecovery:
    try:
        return _read(scanner, a, region)
    except UNIT_ERRORS as e:  # a malformed answer: unreadable, never a crash or a pass
        err = ReadError.of("backup", e)
        return RegionRecovery(plans=UNKNOWN, backup_jobs=UNKNOWN, copy_jobs=UNKNOWN,
                              errors={"plans": err, "backupJobs": err, "copyJobs": err})


def _read(scanner: ScanContext, a: AccountScan, region: str) -> RegionRecovery:
    acct = a.target.account
    assert acct is not None
    bk = acct.client("backup", region)
    out = RegionRecovery()
    out.plans = _plans(acct, a.id, region, scanner.now, out.errors)
    enabled = scanner.settings.enabled
    if ctl.DENY_DELETE in enabled or ctl.AIR_GAPPED in enabled:
        for v in a.regions[region].data.get("backup") or ():
            out.policies[v.ref] = guarded(
                out.errors, f"policy:{v.ref}", "backup:GetBackupVaultAccessPolicy",
                lambda n=v.name: bk.get_backup_vault_access_policy(BackupVaultName=n)["Policy"],
                absent=_NOT_FOUND)
    window = scanner.settings.of(ctl.JOBS)["windowHours"]
    copy_age = scanner.settings.of(ctl.CROSS_ACCOUNT)["maxCopyAgeHours"]
    since = scanner.now - dt.timedelta(hours=max(window, copy_age))
    if ctl.JOBS in enabled:
        out.backup_jobs = guarded(out.errors, "backupJobs", "backup:ListBackupJobs",
                                  lambda: list(paginate(bk, "list_backup_jobs", "BackupJobs",
                                                        ByCreatedAfter=since)))
    if ctl.JOBS in enabled or ctl.CROSS_ACCOUNT in enabled:
        out.copy_jobs = guarded(out.errors, "copyJobs", "backup:ListCopyJobs",
                                lambda: list(paginate(bk, "list_copy_jobs", "CopyJobs",
                                                      ByCreatedAfter=since)))
    return out


def _describe(scanner: ScanContext, acct: Any, arn: str, region: str,
              foreign: str | None) -> Any:
    """DescribeBackupVault (UNKNOWN and the error when refused)."""
    errs: Errors = {}
    bk = acct.client("backup", region)
    kw: dict[str, Any] = {"BackupVaultName": short_name(arn)}
    if foreign:
        kw["BackupVaultAccountId"] = foreign
    got = guarded(errs, "vault", "backup:DescribeBackupVault",
                  lambda: bk.describe_backup_vault(**kw))
    return got, errs.get("vault")


def _points(scanner: ScanContext, acct: Any, arn: str, region: str) -> Any:
    errs: Errors = {}
    bk = acct.client("backup", region)

    def read() -> dict[str, dict[str, Any]]:
        newest: dict[str, dict[str, Any]] = {}
        for p in paginate(bk, "list_recovery_points_by_backup_vault", "RecoveryPoints",
                          BackupVaultName=short_name(arn)):
            when = p.get("CompletionDate") or p.get("CreationDate")
            src = p.get("ResourceArn")
            if p.get("Status") == "COMPLETED" and src and isinstance(when, dt.datetime):
                if src not in newest or newest[src]["when"] < when:
                    newest[src] = {"when": when, "kind": "recovery point",
                                   "destination": arn,
                                   "recoveryPoint": p.get("RecoveryPointArn")}
        return newest

    got = guarded(errs, "points", "backup:ListRecoveryPointsByBackupVault", read)
    return got, errs.get("points")


def _phase(scanner: ScanContext, live: list[AccountScan]) -> None:
    mine = (ctl.CROSS_ACCOUNT, ctl.AIR_GAPPED, ctl.DENY_DELETE, ctl.FREQUENCY, ctl.JOBS)
    if not any(c in scanner.settings.enabled for c in mine):
        return
    units = [(scanner, a, r) for a in live for r in sorted(a.regions)]
    for (_, a, r), res in zip(units, scanner.map("backup plans and jobs", _region, units),
                              strict=True):
        a.regions[r].data[_KEY] = res
    by_id = {a.id: a for a in live}
    # destination vaults of cross-account copies, and the account that asks about each
    vaults: dict[str, tuple[Any, str, str | None, str]] = {}
    points: dict[str, tuple[Any, str]] = {}
    for a in live:
        for r, rs in a.regions.items():
            for read in _plan_reads(rs):
                for rule in read.plan.rules if read.plan.rules is not UNKNOWN else ():
                    for c in rule.copies:
                        dest = c.destination
                        owner = arn_account(dest)
                        if not isinstance(dest, str) or owner in (None, a.id):
                            continue
                        region = dest.split(":")[3] or r
                        why = f"copy destination of plan {read.plan.name!r} in {a.id}"
                        if owner in by_id and by_id[owner].target.account is not None:
                            vaults.setdefault(dest, (by_id[owner].target.account, region, None,
                                                     why))
                            points[dest] = (by_id[owner].target.account, region)
                        else:
                            vaults.setdefault(dest, (a.target.account, region, owner, why))
        # the account's own vaults that let other accounts copy into them
        for r, rs in a.regions.items():
            data = rs.data.get(_KEY)
            for v in rs.data.get("backup") or ():
                policy = data.policies.get(v.ref) if data else None
                if policy not in (None, UNKNOWN) and ctl.accepts_cross_account_copies(policy, a.id):
                    vaults.setdefault(v.ref, (a.target.account, r, None,
                                              "its access policy lets other accounts copy "
                                              "into it"))
    keys = list(vaults)
    described = scanner.map("copy destination vaults", _describe,
                            [(scanner, vaults[k][0], k, vaults[k][1], vaults[k][2])
                             for k in keys])
    pkeys = list(points)
    listed = scanner.map("destination recovery points", _points,
                         [(scanner, points[k][0], k, points[k][1]) for k in pkeys])
    scanner.shared[_KEY] = {
        "vaults": {k: (described[i], vaults[k][3], vaults[k][2]) for i, k in enumerate(keys)},
        "points": dict(zip(pkeys, listed, strict=True)),
        # the scanned account that asked about each vault (auditor.services.kms judges the
        # key that encrypts the copies through it)
        "askedBy": {k: vaults[k][0].id for k in keys},
    }


def _plan_reads(rs: Any) -> list[PlanRead]:
    data = rs.data.get(_KEY)
    if data is None or data.plans is UNKNOWN:
        return []
    return data.plans


# ---- facts ------------------------------------------------------------------------------------

def _recovery_data(scanner: ScanContext, a: AccountScan, region: str) -> tuple[
        list[tuple[Any, str]], list[tuple[str, ReadError | None]]]:
    """(facts of recovery data, [(what, error)] of listings that failed) in one region."""
    rs = a.regions[region]
    out: list[tuple[Any, str]] = []
    failed: list[tuple[str, ReadError | None]] = []
    rds = rs.data.get("rds")
    if rds is None:
        failed.append(("RDS", rs.errors.get("rds")))
    else:
        out += [(d, "database") for d in rds.databases
                if not d.cluster_member and d.read_replica is not True]
    if "dynamodb" in rs.errors:
        failed.append(("DynamoDB", rs.errors["dynamodb"]))
    out += [(t, "DynamoDB table") for t in (rs.data.get("dynamodb") or ([], {}))[0]]
    efs = rs.data.get("efs")
    if efs is None:
        failed.append(("EFS", rs.errors.get("efs")))
    else:
        out += [(f, "EFS file system") for f in efs.file_systems]
    if rs.data.get("redshift") is None:
        failed.append(("Redshift", rs.errors.get("redshift")))
    else:
        out += [(w, "Redshift cluster") for w in rs.data["redshift"]]
    return out, failed


_LISTED = {"RDS": "arn:aws:rds:{region}:{account}:db:*",
           "DynamoDB": "arn:aws:dynamodb:{region}:{account}:table/*",
           "EFS": "arn:aws:elasticfilesystem:{region}:{account}:file-system/*",
           "Redshift": "arn:aws:redshift:{region}:{account}:cluster:*"}


def _copied(scanner: ScanContext, a: AccountScan, arn: str, links: list[Link],
            copy_jobs: Any) -> tuple[Any, list[ReadError]]:
    """{destination account: newest copy} from the destination vault's recovery points when
    the scan covers it, else from COMPLETED copy jobs."""
    shared = scanner.shared.get(_KEY, {})
    out: dict[str, dict[str, Any]] = {}
    errs: list[ReadError] = []
    unknown = False
    for k in links:
        dest, owner = k.copy.destination, k.copy.account
        if not isinstance(owner, str) or owner == a.id:
            continue
        if dest in shared.get("points", {}):
            got, err = shared["points"][dest]
            if got is UNKNOWN:
                unknown = True
                errs += [err] if err else []
                continue
            seen = got.get(arn)
        else:
            if copy_jobs is UNKNOWN:
                unknown = True
                continue
            seen = None
            for j in copy_jobs:
                when = j.get("CompletionDate") or j.get("CreationDate")
                if (j.get("State") == "COMPLETED" and j.get("ResourceArn") == arn
                        and arn_account(j.get("DestinationBackupVaultArn")) == owner
                        and isinstance(when, dt.datetime)
                        and (seen is None or seen["when"] < when)):
                    seen = {"when": when, "kind": "copy job", "copyJobId": j.get("CopyJobId"),
                            "destination": j.get("DestinationBackupVaultArn")}
        if seen is not None and (owner not in out or out[owner]["when"] < seen["when"]):
            out[owner] = seen
    if unknown:
        # a destination that could not be read may hold the fresh copy: only a copy known to
        # be within maxCopyAgeHours decides without it
        max_age = scanner.settings.of(ctl.CROSS_ACCOUNT)["maxCopyAgeHours"]
        if not any((scanner.now - v["when"]).total_seconds() / 3600 <= max_age
                   for v in out.values()):
            return UNKNOWN, errs
    return out, errs


def _tag_error(rs: Any, arn: str) -> ReadError | None:
    """The error reading a resource's tags (DynamoDB reads them one call per table)."""
    errors: dict[str, Any] = (rs.data.get("dynamodb") or ([], {}))[1]
    found: dict[str, Any] = errors.get(arn) or {}
    return found.get("tags")


def _protected(scanner: ScanContext, a: AccountScan, region: str,
               data: RegionRecovery) -> list[tuple[Protected, list[ReadError | None]]]:
    facts, _ = _recovery_data(scanner, a, region)
    out = []
    for f, label in facts:
        p = Protected(ref=f.ref, name=f.name, type=f.type, account=a.id, region=region,
                      tags=f.tags, kind=label, arn=f.ref, as_of=scanner.now)
        errs: list[ReadError | None] = []
        if data.plans is UNKNOWN:
            p.links = UNKNOWN
            errs.append(data.errors.get("plans"))
        else:
            for read in data.plans:
                if read.selections is UNKNOWN:
                    p.links = UNKNOWN
                    errs.append(read.error)
                    continue
                for sel_name, sel in read.selections:
                    if not selection_covers(sel, f.ref, f.tags):
                        continue
                    if read.plan.rules is UNKNOWN:
                        p.links = UNKNOWN
                        errs.append(data.errors.get(f"plan:{read.plan.ref}"))
                        continue
                    links = [Link(read.plan.name, sel_name, r.name, c)
                             for r in read.plan.rules for c in r.copies]
                    if p.links is not UNKNOWN:
                        p.links += links
                    if not links:
                        p.selected_by.append(f"{read.plan.name}/{sel_name}")
        tag_err = _tag_error(a.regions[region], f.ref)
        if tag_err is not None and p.links is not UNKNOWN and not any(
                k.copy.account not in (None, a.id) for k in p.links):
            p.links = UNKNOWN  # a tag condition might select it: its tags are unreadable
            errs.append(tag_err)
        if p.links is not UNKNOWN and any(k.copy.account not in (None, a.id)
                                          for k in p.links):
            p.copied, more = _copied(scanner, a, f.ref, p.links, data.copy_jobs)
            errs += more
            if p.copied is UNKNOWN and data.copy_jobs is UNKNOWN:
                errs.append(data.errors.get("copyJobs"))
        else:
            p.copied = {}
        out.append((p, errs))
    return out


def _buckets(scanner: ScanContext, a: AccountScan) -> list[tuple[Protected, list[Any]]]:
    out = []
    for read in s3svc.bucket_index(scanner).values():
        b = read.fact
        why = s3svc.unjudged(scanner, read) if b.account == a.id else None
        if why is not None:
            scanner.error(ctl.CROSS_ACCOUNT, b.ref, b.name, a.id, b.region, *why)
            continue
        if b.account != a.id or not b.scope_reasons or not s3svc.in_regions(scanner, read):
            continue
        p = Protected(ref=b.ref, name=b.name, type=b.type, account=a.id, region=b.region,
                      tags=b.tags, kind="backup bucket", arn=b.ref, as_of=scanner.now,
                      replication=b.replication if b.replication is UNKNOWN else [
                          {**r, "bucket": r.get("bucket"), "owner": r.get("owner")}
                          for r in b.replication or ()],
                      replica_of=list(b.replica_of), sse=b.sse)
        out.append((p, [read.errors.get("replication"), read.errors.get("encryption")]))
    return out


def _vault(scanner: ScanContext, arn: str, got: Any, err: ReadError | None, why: str,
           foreign: str | None) -> tuple[CopyVault, list[Any]]:
    v = CopyVault(ref=arn, name=short_name(arn), type="AWS::Backup::BackupVault",
                  account=arn_account(arn), region=arn.split(":")[3] or None, why=why,
                  as_of=scanner.now)
    if got is UNKNOWN:
        v.vault_type = v.lock_mode = UNKNOWN
        if foreign:  # asked from the source account: the backup account was not scanned
            v.evidence["hint"] = (f"scan account {v.account} too (--org) to read this vault "
                                  "in its own account")
        return v, [err]
    v.vault_type = got.get("VaultType") or "BACKUP_VAULT"
    v.locked = got.get("Locked") is True
    v.lock_date = got.get("LockDate")
    v.min_retention_days = got.get("MinRetentionDays")
    v.lock_mode = ("compliance" if v.lock_date else "governance"
                   if v.min_retention_days is not None else None)
    if v.vault_type == AIR_GAPPED_TYPE:
        v.lock_mode = "compliance"
    return v, []


# ---- live binding ------------------------------------------------------------------------------

def _jobs(scanner: ScanContext, a: AccountScan, region: str, data: RegionRecovery,
          protected: list[Protected]) -> list[tuple[JobHistory, list[Any]]]:
    window = scanner.settings.of(ctl.JOBS)["windowHours"]
    since = scanner.now - dt.timedelta(hours=window)
    unread = [data.errors.get(k) for k, v in (("backupJobs", data.backup_jobs),
                                              ("copyJobs", data.copy_jobs)) if v is UNKNOWN]
    hist: dict[str, JobHistory] = {
        p.ref: JobHistory(ref=p.ref, name=p.name, type=p.type, account=a.id, region=region,
                          tags=p.tags) for p in protected if p.kind != "backup bucket"}
    if unread:
        for h in hist.values():
            h.jobs = UNKNOWN
        return [(h, unread) for h in hist.values()]
    for kind, jobs, key in (("backup", data.backup_jobs, "BackupJobId"),
                            ("copy", data.copy_jobs, "CopyJobId")):
        for j in jobs:
            arn = j.get("ResourceArn")
            when = j.get("CompletionDate") or j.get("CreationDate")
            if not arn or not isinstance(when, dt.datetime) or when < since:
                continue
            h = hist.setdefault(arn, JobHistory(ref=arn, name=short_name(arn),
                                                type=j.get("ResourceType") or "",
                                                account=a.id, region=region))
            h.jobs.append(Job(kind, str(j.get("State")), when, str(j.get(key) or ""),
                              str(j.get("StatusMessage") or "")))
    return [(h, []) for h in hist.values()]


def _evaluate(scanner: ScanContext, a: AccountScan) -> None:
    s = scanner.settings
    shared = scanner.shared.get(_KEY, {"vaults": {}, "points": {}})
    for region, rs in sorted(a.regions.items()):
        data: RegionRecovery | None = rs.data.get(_KEY)
        if data is None:
            continue
        prefix = f"arn:aws:backup:{region}:{a.id}"
        if data.plans is UNKNOWN:
            err = data.errors.get("plans")
            for c in (ctl.FREQUENCY, ctl.CROSS_ACCOUNT):
                scanner.error(c, f"{prefix}:backup-plan:*", f"backup plans in {region}", a.id,
                              region, f"The AWS Backup plans of {region} could not be read: "
                                      f"{err}.", [err])
        for read in _plan_reads(rs):
            p = read.plan
            scanner.add(ctl.FREQUENCY, p, ctl.frequency_retention(p, s.of(ctl.FREQUENCY)),
                        [data.errors.get(f"plan:{p.ref}")])
        _, failed = _recovery_data(scanner, a, region)
        for what, err in failed:
            scanner.error(ctl.CROSS_ACCOUNT, _LISTED[what].format(region=region, account=a.id),
                          f"{what} in {region}",
                          a.id, region, f"{what} in {region} could not be listed: {err}.",
                          [err])
        protected = _protected(scanner, a, region, data)
        for prot, errs in protected:
            scanner.add(ctl.CROSS_ACCOUNT, prot,
                        ctl.cross_account_copy(prot, s.of(ctl.CROSS_ACCOUNT)), errs)
        for h, errs in _jobs(scanner, a, region, data, [prot for prot, _ in protected]):
            scanner.add(ctl.JOBS, h, ctl.jobs_healthy(h, s.of(ctl.JOBS)), errs)
        if "backup" in rs.errors:
            err = rs.errors["backup"]
            scanner.error(ctl.DENY_DELETE, f"{prefix}:backup-vault:*", f"backup vaults in {region}",
                          a.id, region, f"The AWS Backup vaults of {region} could not be "
                                        f"listed: {err}.", [err])
        for v in rs.data.get("backup") or ():
            vp = VaultPolicy(ref=v.ref, name=v.name, type=v.type, account=a.id, region=region,
                             tags=v.tags, policy=data.policies.get(v.ref, UNKNOWN))
            scanner.add(ctl.DENY_DELETE, vp, ctl.deny_delete(vp, s.of(ctl.DENY_DELETE)),
                        [data.errors.get(f"policy:{v.ref}")])
    for b, errs in _buckets(scanner, a):
        scanner.add(ctl.CROSS_ACCOUNT, b, ctl.cross_account_copy(b, s.of(ctl.CROSS_ACCOUNT)),
                    errs)
    # each copy destination vault once, under the account that found it first
    for arn, ((got, err), why, foreign) in sorted(shared["vaults"].items()):
        if scanner.shared.setdefault(_KEY + ":judged", set()).__contains__(arn):
            continue
        if not _found_by(scanner, a, arn, why):
            continue
        scanner.shared[_KEY + ":judged"].add(arn)
        v, errs = _vault(scanner, arn, got, err, why, foreign)
        scanner.add(ctl.AIR_GAPPED, v, ctl.air_gapped(v, s.of(ctl.AIR_GAPPED)), errs)


def _found_by(scanner: ScanContext, a: AccountScan, arn: str, why: str) -> bool:
    """Whether account `a` reports the vault: its own, or a foreign one its plans copy to."""
    return arn_account(arn) == a.id or why.endswith(f" in {a.id}")


SERVICE = LiveService(
    calls=("backup:ListBackupPlans", "backup:GetBackupPlan", "backup:ListBackupSelections",
           "backup:GetBackupSelection", "backup:ListBackupJobs", "backup:ListCopyJobs",
           "backup:ListRecoveryPointsByBackupVault", "backup:DescribeBackupVault",
           "backup:GetBackupVaultAccessPolicy"),
    # after backup scope (s3, 20) and the services whose resources plans select; before
    # the KMS keys (45), which include the keys of the copy destination vaults
    phase=Phase(44, _phase),
    live=(Live((ctl.CROSS_ACCOUNT, ctl.AIR_GAPPED, ctl.DENY_DELETE, ctl.FREQUENCY, ctl.JOBS),
               _evaluate, reads=(
                   *(Read(r.operation, r.wildcard, (ctl.CROSS_ACCOUNT,))
                     for r in (*s3svc.BUCKET_READS, *rpo.RECOVERABLE_READS)),
                   Read("efs:DescribeFileSystems",
                        "arn:aws:elasticfilesystem:{region}:{account}:file-system/*",
                        (ctl.CROSS_ACCOUNT,)),
                   # the vaults judged are the ones plans copy into, in any account
                   Read("backup:ListBackupPlans", "arn:aws:backup:*:*:backup-vault:*",
                        (ctl.AIR_GAPPED,)),
                   Read("backup:GetBackupPlan", "arn:aws:backup:*:*:backup-vault:*",
                        (ctl.AIR_GAPPED,)))),),
)
