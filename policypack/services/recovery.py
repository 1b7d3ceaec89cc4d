"""Recoverability under attack at deploy time: backup plans (schedules, retention, copy
actions), the selections that link them to the stack's databases, tables, file systems and
backup buckets, cross-account bucket replication, the vaults that receive cross-account copies
(air-gapped or compliance-locked) and vault access policies.

Reads the plans, selections, vault locks and bucket replication resources the backup and s3
services already link (`linked[...]`), after them (STEP 40); adds only `VaultPolicy`. A
selection links a resource by its ARN output (or the property dependency on it, when the ARN
is unknown during preview) or by tag conditions on its tags.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from drguard.controls import recovery as ctl
from drguard.controls.backup import Vault
from drguard.controls.recovery import (
    AIR_GAPPED_TYPE,
    BackupPlan,
    CopyAction,
    CopyVault,
    Link,
    PlanRule,
    Protected,
    VaultPolicy,
    arn_account,
)
from drguard.facts import UNKNOWN
from drguard.scope import Scope

from ..adapters import Res, base, items, maps
from ..binding import Judged, StackCheck, unlinked_guard
from ..service import DeployService
from ..service import Link as LinkStep
from ..wire import get, num
from . import dynamodb, efs, rds, redshift, s3
from .backup import (
    BACKUP_PLAN_TYPES,
    BACKUP_SELECTION_TYPES,
    VAULT_LOCK_TYPES,
    VAULT_TYPES,
    _tag_holds,
    plan_name,
    selection,
    selection_name,
    weakest_lock,
)
from .s3 import bucket_for, kms_objects

if TYPE_CHECKING:
    from ..stack import StackModel

VAULT_POLICY_TYPES = frozenset({"aws:backup/vaultPolicy:VaultPolicy"})
UNLINKED_SELECTION = "recovery-selection"
UNLINKED_POLICY = "vault-policy"
_KEY = "recovery"

# The kinds of recovery data, by model kind, as messages name them.
KINDS = {"databases": "database", "tables": "DynamoDB table", "filesystems": "EFS file system",
         "warehouses": "Redshift cluster"}


# ---- adapters --------------------------------------------------------------------------------

def _copies(rule: Any, native: bool) -> Any:
    actions = items(get(rule, "copyActions"))
    if actions is UNKNOWN:
        return UNKNOWN
    out = []
    for a in actions:
        if a is UNKNOWN:
            return UNKNOWN
        dest = get(a, "destinationBackupVaultArn" if native else "destinationVaultArn")
        keep = num(get(a, "lifecycle", "deleteAfterDays" if native else "deleteAfter"))
        out.append(CopyAction(dest, keep))
    return out


def backup_plan(r: Res, today: dt.date) -> BackupPlan:
    native = r.type.startswith("aws-native")
    raw_rules = items(r.get("backupPlan", "backupPlanRule") if native else r.get("rules"))
    plan = BackupPlan(**base(r, plan_name(r), "backupPlanTags" if native else "tags"),
                      as_of=today)
    if raw_rules is UNKNOWN or UNKNOWN in raw_rules:
        plan.rules = UNKNOWN
        return plan
    plan.rules = [PlanRule(
        name=str(get(x, "ruleName")),
        schedule=get(x, "scheduleExpression" if native else "schedule"),
        delete_after=num(get(x, "lifecycle", "deleteAfterDays" if native else "deleteAfter")),
        copies=_copies(x, native)) for x in raw_rules]
    plan.props["rules"] = "backupPlan.backupPlanRule" if native else "rules"
    return plan


def _replication(m: StackModel, linked: dict[str, list[Res]]) -> dict[int, Any]:
    """Backup buckets' replication rules with account and replica owner: id(bucket) -> list
    (UNKNOWN when a rule list is unknown)."""
    out: dict[int, Any] = {}
    sources: list[tuple[Any, Any, str]] = []
    for b in m.buckets:
        r = m.res_of[id(b)]
        if r.type == "aws:s3/bucketV2:BucketV2":
            cfg = r.get("replicationConfigurations")
            rules = UNKNOWN if cfg is UNKNOWN else get(cfg, 0, "rules")
        else:
            rules = r.get("replicationConfiguration", "rules")
        if rules is not None:
            sources.append((b, rules, r.type))
    for r in linked.get("replication", ()):
        b = bucket_for(m, r, "bucket")
        if b is not None:
            sources.append((b, r.get("rules"), r.type))
    for b, rules, token in sources:
        got = maps(rules)
        if got is UNKNOWN or out.get(id(b)) is UNKNOWN:
            out[id(b)] = UNKNOWN
            continue
        for rule in got:
            dest = get(rule, "destination") or get(rule, "destinations", 0) or {}
            status = get(rule, "status")
            out.setdefault(id(b), []).append({
                "id": get(rule, "id"), "status": "Enabled" if status is None else status,
                "bucket": get(dest, "bucket"), "account": _dest_account(dest),
                "owner": _dest_owner(dest),
                "replicaKey": _replica_key(dest), "kmsObjects": kms_objects(rule, token)})
    return out


def _dest_account(dest: Any) -> Any:
    """The account a rule replicates to: `account` in BucketReplicationConfig and aws-native,
    `accountId` in the inline rules of a pulumi-aws Bucket or BucketV2."""
    account = get(dest, "account")
    return get(dest, "accountId") if account is None else account


def _dest_owner(dest: Any) -> Any:
    """The replicas' owner override: one block, or (inline rules of a BucketV2) a list."""
    owner = get(dest, "accessControlTranslation", "owner")
    return get(dest, "accessControlTranslations", 0, "owner") if owner is None else owner


def _replica_key(dest: Any) -> Any:
    """The KMS key a rule's destination encrypts its replicas with (pulumi-aws
    BucketReplicationConfig and aws-native name it under encryptionConfiguration; an inline
    rule of a Bucket or BucketV2 on the destination itself)."""
    key = get(dest, "encryptionConfiguration", "replicaKmsKeyId")
    return get(dest, "replicaKmsKeyId") if key is None else key


# ---- the link step ---------------------------------------------------------------------------

def _account(m: StackModel, fact: Any) -> str | None:
    """The account of a fact: from its ARN output, else the stack's (None in a first
    preview: nothing tells yet)."""
    r = m.res_of.get(id(fact))
    for key in ("arn", "dbInstanceArn", "dbClusterArn"):
        found = arn_account(r.get(key)) if r is not None else None
        if found:
            return found
    return m.account


def _candidates(m: StackModel) -> list[tuple[Any, str]]:
    out = []
    for kind, label in KINDS.items():
        for f in m.facts.get(kind, ()):
            if getattr(f, "cluster_member", False) or getattr(f, "read_replica", False) is True:
                continue
            out.append((f, label))
    return out


def _selects(m: StackModel, r: Res, sel: dict[str, Any], fact: Any) -> bool:
    """AWS semantics: (resources or any tag condition), every condition, minus
    notResources; a resource referenced by its ARN output is linked by the dependency."""
    urn = m.res_of[id(fact)].urn
    arn = m.arn_of(fact)
    by_dep = any(urn in r.property_deps.get(p, ()) for p in ("resources", "backupSelection"))
    patterns = [p for p in sel["resources"] or () if isinstance(p, str)] \
        if sel["resources"] is not UNKNOWN else []
    by_arn = isinstance(arn, str) and any(fnmatch.fnmatchcase(arn, p) for p in patterns)
    by_tag = any(_tag_holds(op, k, v, fact.tags) for op, k, v in sel["tags"])
    if not (by_dep or by_arn or by_tag):
        return False
    excluded = [p for p in sel["not_resources"] or () if isinstance(p, str)] \
        if sel["not_resources"] is not UNKNOWN else []
    if isinstance(arn, str) and any(fnmatch.fnmatchcase(arn, p) for p in excluded):
        return False
    return all(_tag_holds(op, k, v, fact.tags) for op, k, v in sel["conditions"])


def _plans(m: StackModel, linked: dict[str, list[Res]], today: dt.date) -> dict[str, Any]:
    plans: dict[str, Any] = {}
    for r in linked.get("plan", ()):
        p = backup_plan(r, today)
        m.index.setdefault(_KEY + ":plans", []).append(p)
        m.res_of[id(p)] = r
        plans[r.urn] = p
        for key in ("id", "backupPlanId"):
            if isinstance(r.get(key), str):
                plans[r.get(key)] = p
    return plans


def _plan_of(r: Res, sel: dict[str, Any], plans: dict[str, Any]) -> Any:
    for prop in ("planId", "backupPlanId"):
        for urn in r.property_deps.get(prop, ()):
            if urn in plans:
                return plans[urn]
    if isinstance(sel["plan"], str):
        return plans.get(sel["plan"], sel["plan"])  # a plan outside the stack: its id
    return None


def _protected(m: StackModel, linked: dict[str, list[Res]], plans: dict[str, Any]) -> None:
    facts: list[Protected] = []
    cands = _candidates(m)
    by_fact: dict[int, Protected] = {}
    for f, label in cands:
        arn = m.arn_of(f)
        p = Protected(ref=f.ref, name=f.name, type=f.type, region=f.region, tags=f.tags,
                      account=_account(m, f), kind=label, arn=arn)
        by_fact[id(f)] = p
        facts.append(p)
    for r in linked.get("selection", ()):
        sel = selection(r)
        plan = None if sel.get("unknown") else _plan_of(r, sel, plans)
        if plan is None:
            m.count_unlinked(UNLINKED_SELECTION)
            continue
        sel_name = selection_name(r)
        for f, _ in cands:
            if not _selects(m, r, sel, f):
                continue
            p = by_fact[id(f)]
            if isinstance(plan, str):  # outside the stack: what it copies is not known here
                p.links = UNKNOWN
                continue
            if plan.rules is UNKNOWN or any(x.copies is UNKNOWN for x in plan.rules):
                p.links = UNKNOWN
                continue
            links = [Link(plan.name, sel_name, x.name, c) for x in plan.rules for c in x.copies]
            if p.links is not UNKNOWN:
                p.links += links
            if not links:
                p.selected_by.append(f"{plan.name}/{sel_name}")
    repl = _replication(m, linked)
    for b in m.buckets:
        if not b.scope_reasons:
            continue
        arn = m.arn_of(b)
        facts.append(Protected(ref=b.ref, name=b.name, type=b.type, region=b.region,
                               tags=b.tags, account=_account(m, b), kind="backup bucket", arn=arn,
                               replication=repl.get(id(b), []), sse=b.sse,
                               replica_of=list(b.replica_of)))
    m.index[_KEY + ":protected"] = facts


def _vaults(m: StackModel, linked: dict[str, list[Res]]) -> None:
    by_name = {v.name: v for v in m.vaults}
    policies: dict[int, Any] = {}
    writers: dict[int, list[tuple[str, Any]]] = {}
    for r in linked.get("vault-policy", ()):
        deps = m.deps(r, "backupVaultName", Vault)
        name = r.get("backupVaultName")
        v = deps[0] if deps else by_name.get(name) if isinstance(name, str) else None
        if v is None:
            m.unlinked_if_unknown(r, UNLINKED_POLICY, "backupVaultName")
            continue
        policies[id(v)] = (r.get("policy"), r)
        writers.setdefault(id(v), []).append((r.name, r.get("policy")))
    out: list[VaultPolicy] = []
    copy_vaults: list[CopyVault] = []
    locks: dict[int, Res] = {}
    for r in linked.get("vault-lock", ()):
        deps = m.deps(r, "backupVaultName", Vault)
        name = r.get("backupVaultName")
        v = deps[0] if deps else by_name.get(name) if isinstance(name, str) else None
        if v is not None:
            locks[id(v)] = weakest_lock(r, locks.get(id(v)))
    destinations: dict[str, str] = {}
    for p in m.index.get(_KEY + ":plans", ()):
        for rule in p.rules if p.rules is not UNKNOWN else ():
            for c in rule.copies if rule.copies is not UNKNOWN else ():
                if isinstance(c.destination, str) and arn_account(c.destination) not in (
                        None, m.account):
                    destinations[c.destination] = f"copy destination of plan {p.name!r}"
    for v in m.vaults:
        policy, pres = policies.get(id(v), (None, None))
        arn = m.arn_of(v)
        # whose recovery points a Resource pattern must name: the vault's ARN tells, else the
        # stack's account (unknown in a preview: then only a wildcard covers them)
        vp = VaultPolicy(ref=v.ref, name=v.name, type=v.type, region=v.region, tags=v.tags,
                         account=arn_account(arn) or m.account, policy=policy,
                         writers=writers.get(id(v), []))
        if pres is not None:
            vp.evidence["policyResource"] = pres.urn
        out.append(vp)
        why = ""
        if v.type.endswith("LogicallyAirGappedVault"):
            why = "logically air-gapped vault"
        elif isinstance(arn, str) and arn in destinations:
            why = destinations[arn]
        elif policy is not None and policy is not UNKNOWN and ctl.accepts_cross_account_copies(
                policy, m.account):
            why = "its access policy lets other accounts copy into it"
        if not why:
            continue
        cv = CopyVault(ref=v.ref, name=v.name, type=v.type, region=v.region, tags=v.tags,
                       why=why, min_retention_days=v.lock_min_retention_days)
        if v.type.endswith("LogicallyAirGappedVault"):
            cv.vault_type = AIR_GAPPED_TYPE
        lock = locks.get(id(v))
        if lock is not None:
            grace = num(lock.get("changeableForDays"))
            cv.changeable_for_days = grace
            cv.lock_mode = UNKNOWN if grace is UNKNOWN else \
                "compliance" if grace is not None else "governance"
            cv.min_retention_days = num(lock.get("minRetentionDays"))
            cv.evidence["lockResource"] = lock.urn
        copy_vaults.append(cv)
    m.index[_KEY + ":policies"] = out
    m.index[_KEY + ":copy-vaults"] = copy_vaults


def _link(m: StackModel, linked: dict[str, list[Res]], _scope: Scope) -> None:
    today = dt.datetime.now(dt.UTC).date()
    plans = _plans(m, linked, today)
    _protected(m, linked, plans)
    _vaults(m, linked)


# ---- deploy bindings --------------------------------------------------------------------------

def _cross_account(model: StackModel, params: dict) -> Iterable[Judged]:
    for p in model.index.get(_KEY + ":protected", ()):
        v = ctl.cross_account_copy(p, params)
        # an encryption set by a resource not linked yet may change the bucket's default: only
        # the verdict that rests on it (SSE-KMS objects left out) waits for it
        rests_on_sse = v is not None and "defaultEncryption" in v.evidence
        kinds = (UNLINKED_SELECTION, "sse") if rests_on_sse else UNLINKED_SELECTION
        yield p, unlinked_guard(model, kinds, v)


def _air_gapped(model: StackModel, params: dict) -> Iterable[Judged]:
    for v in model.index.get(_KEY + ":copy-vaults", ()):
        yield v, unlinked_guard(model, "vault-lock", ctl.air_gapped(v, params))


def _deny_delete(model: StackModel, params: dict) -> Iterable[Judged]:
    for v in model.index.get(_KEY + ":policies", ()):
        yield v, unlinked_guard(model, UNLINKED_POLICY, ctl.deny_delete(v, params))


def _frequency(model: StackModel, params: dict) -> Iterable[Judged]:
    for p in model.index.get(_KEY + ":plans", ()):
        yield p, ctl.frequency_retention(p, params)


# The types each binding reads (for the control reference): most belong to other services.
_TYPES_READ = {
    ctl.CROSS_ACCOUNT: BACKUP_PLAN_TYPES | BACKUP_SELECTION_TYPES | rds.DATABASE_TYPES
    | dynamodb.TABLE_TYPES | efs.FILE_SYSTEM_TYPES | redshift.CLUSTER_TYPES | s3.BUCKET_TYPES
    | s3.REPLICATION_TYPES | s3.SSE_TYPES,
    ctl.AIR_GAPPED: VAULT_TYPES | VAULT_LOCK_TYPES | VAULT_POLICY_TYPES | BACKUP_PLAN_TYPES,
    ctl.DENY_DELETE: VAULT_TYPES | VAULT_POLICY_TYPES,
    ctl.FREQUENCY: BACKUP_PLAN_TYPES,
}

SERVICE = DeployService(
    linked={t: "vault-policy" for t in VAULT_POLICY_TYPES},
    link=LinkStep(40, _link),  # after s3 (10: backup scope) and backup (30)
    checks=(StackCheck(ctl.CROSS_ACCOUNT, _cross_account),
            StackCheck(ctl.AIR_GAPPED, _air_gapped),
            StackCheck(ctl.DENY_DELETE, _deny_delete),
            StackCheck(ctl.FREQUENCY, _frequency)),
    types_read=_TYPES_READ,
)
