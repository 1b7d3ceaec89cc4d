"""AWS Backup at deploy time: vaults and their lock, backup plans (copy actions to other
regions) and selections (which databases, volumes, file systems... a plan covers), and the
backup-vault-lock binding. A selection tells the covered fact's service through its
`backup_selected` hook, so a new service needs no change here.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from drguard.controls import backup as ctl
from drguard.controls.backup import Vault
from drguard.facts import UNKNOWN
from drguard.records import record
from drguard.scope import Scope

from ..adapters import Res, arn_region, base, items, maps, strings
from ..binding import Judged, StackCheck, unlinked_guard
from ..service import DeployService, Link
from ..wire import get, num

if TYPE_CHECKING:
    from ..stack import StackModel

_SELECTABLE = "backup:selectable"


BACKUP_PLAN_TYPES = frozenset({"aws:backup/plan:Plan", "aws-native:backup:BackupPlan"})


BACKUP_SELECTION_TYPES = frozenset({"aws:backup/selection:Selection",
                                    "aws-native:backup:BackupSelection"})


VAULT_TYPES = frozenset({"aws:backup/vault:Vault", "aws-native:backup:BackupVault",
                         "aws:backup/logicallyAirGappedVault:LogicallyAirGappedVault"})


VAULT_LOCK_TYPES = frozenset({"aws:backup/vaultLockConfiguration:VaultLockConfiguration"})


def plan_copy_arns(r: Res) -> Any:
    """Destination vault ARNs of every copy action of a backup plan (UNKNOWN items kept)."""
    native = r.type.startswith("aws-native")
    rules = items(r.get("backupPlan", "backupPlanRule") if native else r.get("rules"))
    if rules is UNKNOWN:
        return UNKNOWN
    out: list[Any] = []
    for rule in rules:
        if rule is UNKNOWN:
            out.append(UNKNOWN)
            continue
        actions = items(get(rule, "copyActions"))
        if actions is UNKNOWN:
            out.append(UNKNOWN)
            continue
        for a in actions:
            out.append(get(a, "destinationBackupVaultArn" if native else "destinationVaultArn"))
    return out


def plan_name(r: Res) -> str:
    n = r.get("backupPlan", "backupPlanName") if r.type.startswith("aws-native") \
        else r.get("name")
    return n if isinstance(n, str) else r.name


def selection_name(r: Res) -> str:
    """A selection's AWS name (aws-native: inside backupSelection), else its logical name."""
    n = r.get("backupSelection", "selectionName") if r.type.startswith("aws-native") \
        else r.get("name")
    return n if isinstance(n, str) else r.name


def selection(r: Res) -> dict[str, Any]:
    """{"plan": id, "resources", "not_resources", "tags": [(op, key, value)], "conditions":
    [(op, key, value)]} of an AWS Backup selection (AWS semantics: resources OR tags, then
    every condition, minus notResources)."""
    if r.type.startswith("aws-native"):
        sel = r.get("backupSelection")
        if sel is UNKNOWN:
            return {"plan": r.get("backupPlanId"), "unknown": True}
        tag_list = maps(get(sel, "listOfTags"))
        groups = [(maps(get(sel, "conditions", op)), key)
                  for op, key in (("stringEquals", "STRINGEQUALS"), ("stringLike", "STRINGLIKE"),
                                  ("stringNotEquals", "STRINGNOTEQUALS"),
                                  ("stringNotLike", "STRINGNOTLIKE"))]
        names = ("conditionType", "conditionKey", "conditionValue", "conditionKey",
                 "conditionValue")
        plan, resources, not_resources = (r.get("backupPlanId"), get(sel, "resources"),
                                          get(sel, "notResources"))
    else:
        tag_list = maps(r.get("selectionTags"))
        blocks = maps(r.get("conditions"))
        groups = [(UNKNOWN, "")] if blocks is UNKNOWN else [
            (maps(get(c, op)), key) for c in blocks
            for op, key in (("stringEquals", "STRINGEQUALS"), ("stringLikes", "STRINGLIKE"),
                            ("stringNotEquals", "STRINGNOTEQUALS"),
                            ("stringNotLikes", "STRINGNOTLIKE"))]
        names = ("type", "key", "value", "key", "value")
        plan, resources, not_resources = (r.get("planId"), r.get("resources"),
                                          r.get("notResources"))
    if tag_list is UNKNOWN or any(g is UNKNOWN for g, _ in groups):
        return {"plan": plan, "unknown": True}
    tags = [(str(get(t, names[0])).upper(), get(t, names[1]), get(t, names[2]))
            for t in tag_list]
    conds = [(key, get(c, names[3]), get(c, names[4])) for g, key in groups for c in g]
    return {"plan": plan, "resources": strings(resources),
            "not_resources": strings(not_resources), "tags": tags, "conditions": conds,
            "unknown": False}


def vault(r: Res) -> Vault | None:
    if r.type not in VAULT_TYPES:
        return None
    if r.type == "aws-native:backup:BackupVault":
        v = Vault(**base(r, r.get("backupVaultName"), "backupVaultTags"))
        lock = r.get("lockConfiguration")
        v.lock_min_retention_days = UNKNOWN if lock is UNKNOWN else \
            num(get(lock, "minRetentionDays")) if lock is not None else None
        if lock is not None:
            _lock_mode(v, UNKNOWN if lock is UNKNOWN else num(get(lock, "changeableForDays")))
        v.props["lock"] = "lockConfiguration.minRetentionDays"
        return v
    v = Vault(**base(r, r.get("name")))
    if r.type.endswith("LogicallyAirGappedVault"):
        # Logically air-gapped vaults are always locked (compliance mode) for minRetentionDays.
        v.lock_min_retention_days = num(r.get("minRetentionDays"))
        v.lock_mode = "compliance"
    return v


def _lock_mode(v: Vault, grace: Any) -> None:
    """A lock with a grace time (changeableForDays) is in compliance mode; without one, in
    governance mode."""
    v.changeable_for_days = grace
    v.lock_mode = UNKNOWN if grace is UNKNOWN else \
        "compliance" if grace is not None else "governance"


@record
class _Plan:
    """An AWS Backup plan of the stack and the regions its copies go to."""

    res: Res
    name: str
    copy_regions: list[Any]  # regions (str) or UNKNOWN


def _tag_holds(op: str, key: Any, value: Any, tags: Mapping[str, str]) -> bool:
    """An AWS Backup tag condition (key may be written aws:ResourceTag/<key>)."""
    if not isinstance(key, str):
        return False
    key = key.removeprefix("aws:ResourceTag/")
    have = tags.get(key)
    want = value if isinstance(value, str) else ""
    if op in ("STRINGEQUALS", "STRINGLIKE"):
        return have is not None and (have == want if op == "STRINGEQUALS"
                                     else fnmatch.fnmatchcase(have, want))
    if op in ("STRINGNOTEQUALS", "STRINGNOTLIKE"):
        return have is None or not (have == want if op == "STRINGNOTEQUALS"
                                    else fnmatch.fnmatchcase(have, want))
    return False


def _plans(m: StackModel, plan_res: Iterable[Res]) -> dict[str, _Plan]:
    """Backup plans by URN and by id, with the regions their copy actions write to."""
    out: dict[str, _Plan] = {}
    for r in plan_res:
        deps = [v for prop in ("rules", "backupPlan") for v in m.deps(r, prop, Vault)]
        regions: list[Any] = []
        arns = plan_copy_arns(r)
        for arn in arns if arns is not UNKNOWN else [UNKNOWN]:
            region = arn_region(arn)
            if region is UNKNOWN:
                other = [v.region for v in deps if v.region != r.region]
                region = other or ([r.region] if deps else [UNKNOWN])
                regions += region
            elif region is not None:
                regions.append(region)
        plan = _Plan(r, plan_name(r), regions)
        out[r.urn] = plan
        for key in ("id", "backupPlanId"):
            pid = r.get(key)
            if isinstance(pid, str):
                out[pid] = plan
    return out


def _selection(m: StackModel, r: Res, plans: dict[str, _Plan]) -> None:
    sel = selection(r)
    if sel.get("unknown"):
        # What it selects is not known yet: whatever seems uncovered may be covered.
        m.count_unlinked("backup-selection")
        return
    plan = None
    for prop in ("planId", "backupPlanId"):
        for urn in r.property_deps.get(prop, ()):
            plan = plans.get(urn) or plan
    if plan is None and isinstance(sel["plan"], str):
        plan = plans.get(sel["plan"])
    if plan is None:
        if sel["plan"] is UNKNOWN:
            m.count_unlinked("backup-selection")
            return
        # A plan outside this stack: its copy actions cannot be seen from here.
        plan = _Plan(r, str(sel["plan"]), [None])
    hooks = m.catalog.backup_selected
    for fact in _selected(m, r, sel):
        hooks[type(fact)](fact, plan)


def _selectable(m: StackModel) -> tuple[dict[str, Any], dict[tuple[str, str], list[Any]]]:
    """Facts an AWS Backup selection can cover (a service declares `backup_selected` for
    them), by ARN and by tag (built once, for every selection)."""
    if _SELECTABLE not in m.index:
        kinds = tuple(m.catalog.backup_selected)
        by_arn: dict[str, Any] = {}
        by_tag: dict[tuple[str, str], list[Any]] = {}
        for fact in m.all_facts():
            if not isinstance(fact, kinds):
                continue
            arn = m.arn_of(fact)
            if isinstance(arn, str):
                by_arn[arn] = fact
            for k, v in getattr(fact, "tags", {}).items():
                by_tag.setdefault((k, v), []).append(fact)
        m.index[_SELECTABLE] = by_arn, by_tag
    return m.index[_SELECTABLE]


def _selected(m: StackModel, r: Res, sel: dict[str, Any]) -> list[Any]:
    """The databases and volumes an AWS Backup selection covers (AWS semantics:
    `resources` or any tag condition; then every condition; minus `notResources`).
    Exact ARNs and STRINGEQUALS tags are looked up; only wildcards and other operators
    scan the candidates."""
    by_arn, by_tag = _selectable(m)
    chosen: dict[int, Any] = {}
    for prop in ("resources", "backupSelection"):
        for urn in r.property_deps.get(prop, ()):
            fact = m.by_urn.get(urn)
            if isinstance(fact, tuple(m.catalog.backup_selected)):
                chosen[id(fact)] = fact
    patterns = [p for p in sel["resources"] or () if isinstance(p, str)] \
        if sel["resources"] is not UNKNOWN else []
    excluded = [p for p in sel["not_resources"] or () if isinstance(p, str)] \
        if sel["not_resources"] is not UNKNOWN else []
    globs = [p for p in patterns if any(c in p for c in "*?[")]
    for p in patterns:
        if p not in globs and p in by_arn:
            chosen[id(by_arn[p])] = by_arn[p]
    scan_tags = []
    for op, k, v in sel["tags"]:
        if op == "STRINGEQUALS" and isinstance(k, str) and isinstance(v, str):
            for fact in by_tag.get((k.removeprefix("aws:ResourceTag/"), v), ()):
                chosen[id(fact)] = fact
        else:
            scan_tags.append((op, k, v))
    if globs or scan_tags:
        for arn, fact in by_arn.items():
            if any(fnmatch.fnmatchcase(arn, p) for p in globs) or any(
                    _tag_holds(op, k, v, fact.tags) for op, k, v in scan_tags):
                chosen[id(fact)] = fact
    out = []
    for fact in chosen.values():
        arn = m.arn_of(fact)
        if isinstance(arn, str) and any(fnmatch.fnmatchcase(arn, p) for p in excluded):
            continue
        if all(_tag_holds(op, k, v, fact.tags) for op, k, v in sel["conditions"]):
            out.append(fact)
    return out


def _lock_strength(r: Res) -> tuple[int, float]:
    """Governance mode, then a grace time not known yet, then compliance; within each, the
    shorter (or unknown) minimum retention first."""
    grace, keep = num(r.get("changeableForDays")), num(r.get("minRetentionDays"))
    mode = 0 if grace is None else 1 if grace is UNKNOWN else 2
    return mode, keep if isinstance(keep, int | float) else -1.0


def weakest_lock(r: Res, other: Res | None) -> Res:
    """Of two VaultLockConfiguration resources for one vault, the one to judge: AWS keeps
    whichever is applied last, which the program does not decide, so the weaker."""
    return r if other is None or _lock_strength(r) < _lock_strength(other) else other


def _vault_locks(m: StackModel, locks: Iterable[Res]) -> None:
    chosen: dict[int, tuple[Vault, Res]] = {}
    for r in locks:
        deps = m.deps(r, "backupVaultName", Vault)
        v = deps[0] if deps else None
        name = r.get("backupVaultName")
        if v is None and isinstance(name, str):
            v = {x.name: x for x in m.vaults}.get(name)
        if v is None:
            m.unlinked_if_unknown(r, "vault-lock", "backupVaultName")
            continue
        v.evidence.setdefault("configuredBy", []).append(r.urn)
        prev = chosen.get(id(v))
        chosen[id(v)] = v, weakest_lock(r, prev[1] if prev else None)
    for v, r in chosen.values():
        v.lock_min_retention_days = num(r.get("minRetentionDays"))
        _lock_mode(v, num(r.get("changeableForDays")))
        v.props["lock"] = f"VaultLockConfiguration {r.name!r} minRetentionDays"
        if len(v.evidence["configuredBy"]) > 1:
            v.lock_by = r.name


def _link(m: StackModel, linked: dict[str, list[Res]], _scope: Scope) -> None:
    plans = _plans(m, linked.get("plan", ()))
    for r in linked.get("selection", ()):
        _selection(m, r, plans)
    _vault_locks(m, linked.get("vault-lock", ()))


def _vault_lock(model: StackModel, params: dict[str, Any]) -> Iterable[Judged]:
    for v in model.vaults:
        yield v, unlinked_guard(model, "vault-lock", ctl.vault_lock(v, params))


# ---- declaration ------------------------------------------------------------------------------

SERVICE = DeployService(
    facts={t: ("vaults", vault) for t in VAULT_TYPES},
    linked={**{t: "plan" for t in BACKUP_PLAN_TYPES},
            **{t: "selection" for t in BACKUP_SELECTION_TYPES},
            **{t: "vault-lock" for t in VAULT_LOCK_TYPES}},
    link=Link(30, _link),
    stateful=("vaults",),
    checks=(StackCheck("backup-vault-lock", _vault_lock),),
)
