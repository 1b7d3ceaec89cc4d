"""The stack model: resources of one stack joined into facts.

Split S3 resources (BucketVersioning, BucketObjectLockConfiguration, ...) are folded into the
bucket they configure, linked by the property dependency of `bucket` on the bucket's URN (what
the engine records even when the bucket name is still unknown during preview) or, failing
that, by bucket name/id. A split resource that cannot be linked is kept, so a bucket lacking
that setting is judged "unknown during preview" instead of falsely failing.

Tier 2/3 relations use the same link-by-property-dependency-or-name approach: replication
rules to their destination bucket (by `arn:aws:s3:::name`), EventBridge targets to rules,
automated-backup replications and AWS Backup selections to databases and volumes, vault lock
configurations to vaults, SCP attachments to policies. Every step indexes by URN or name
first, so building the model stays linear in the number of resources.
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from drguard import eventpattern
from drguard.facts import UNKNOWN, Bucket, Database, Scp, Table, Trail, Vault, Volume
from drguard.rules import alerts
from drguard.scope import Scope

from . import adapters
from .adapters import Res

# type -> (model list, adapter) for resources that become facts of their own
_FACTS: dict[str, tuple[str, Any]] = {
    **{t: ("buckets", adapters.bucket) for t in adapters.BUCKET_TYPES},
    **{t: ("databases", adapters.database) for t in adapters.DATABASE_TYPES},
    **{t: ("trails", adapters.trail) for t in adapters.TRAIL_TYPES},
    **{t: ("tables", adapters.table) for t in adapters.TABLE_TYPES},
    **{t: ("vaults", adapters.vault) for t in adapters.VAULT_TYPES},
    **{t: ("volumes", adapters.volume) for t in adapters.VOLUME_TYPES},
    **{t: ("scps", adapters.scp) for t in adapters.ORG_POLICY_TYPES},
}
# type -> kind, for resources that only configure others
_LINKED: dict[str, str] = {
    **{t: "split" for t in adapters.VERSIONING_TYPES | adapters.LOCK_TYPES
       | adapters.PAB_TYPES},
    **{t: "replication" for t in adapters.REPLICATION_TYPES},
    **{t: "notification" for t in adapters.NOTIFICATION_TYPES},
    **{t: "rule" for t in adapters.EVENT_RULE_TYPES},
    **{t: "target" for t in adapters.EVENT_TARGET_TYPES},
    **{t: "rds-backup-replication" for t in adapters.RDS_BACKUP_REPLICATION_TYPES},
    **{t: "plan" for t in adapters.BACKUP_PLAN_TYPES},
    **{t: "selection" for t in adapters.BACKUP_SELECTION_TYPES},
    **{t: "vault-lock" for t in adapters.VAULT_LOCK_TYPES},
    **{t: "dlm" for t in adapters.DLM_TYPES},
    **{t: "attachment" for t in adapters.ORG_ATTACHMENT_TYPES},
}


@dataclass
class _Plan:
    res: Res
    name: str
    copy_regions: list[Any]  # regions (str) or UNKNOWN


@dataclass
class _Repl:
    """One replication rule of a bucket, resolved to its destination."""

    source: Bucket
    dest: Bucket | None
    entry: dict[str, Any]


@dataclass
class StackModel:
    databases: list[Database] = field(default_factory=list)
    buckets: list[Bucket] = field(default_factory=list)
    trails: list[Trail] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    vaults: list[Vault] = field(default_factory=list)
    volumes: list[Volume] = field(default_factory=list)
    scps: list[Scp] = field(default_factory=list)
    # linked resource kind -> number of resources of that kind not linked to their target
    unlinked: dict[str, int] = field(default_factory=dict)
    resources: list[Res] = field(default_factory=list)
    by_urn: dict[str, Any] = field(default_factory=dict)
    res_of: dict[int, Res] = field(default_factory=dict)  # id(fact) -> its resource
    account: str | None = None  # the stack's AWS account, when an ARN tells

    @classmethod
    def build(cls, resources: Iterable[Res], scope: Scope) -> StackModel:
        m = cls()
        linked: dict[str, list[Res]] = {}
        for r in resources:
            m.resources.append(r)
            spec = _FACTS.get(r.type)
            if spec is not None:
                fact = spec[1](r)
                if fact is not None:
                    getattr(m, spec[0]).append(fact)
                    m.by_urn[r.urn] = fact
                    m.res_of[id(fact)] = r
            else:
                kind = _LINKED.get(r.type)
                if kind is not None:
                    linked.setdefault(kind, []).append(r)
            if m.account is None:
                m.account = adapters.arn_account(r.get("arn"))
        m._index_names()
        for r in linked.get("split", ()):
            target = m.bucket_for(r, "bucket")
            if target is None:
                kind = ("versioning" if r.type in adapters.VERSIONING_TYPES else
                        "lock" if r.type in adapters.LOCK_TYPES else "pab")
                m._unlinked(kind)
                continue
            m._fold(target, r)
        repl = m._replication(linked.get("replication", ()))
        m._scope(scope, repl)
        m._deletion_alerts(linked)
        m._rds_cross_region(linked)
        m._vault_locks(linked.get("vault-lock", ()))
        m._ebs(linked)
        m._scp_attachments(linked.get("attachment", ()))
        return m

    # ---- indexes and links ------------------------------------------------------------------

    def _unlinked(self, kind: str) -> None:
        self.unlinked[kind] = self.unlinked.get(kind, 0) + 1

    def _unlinked_if_unknown(self, r: Res, kind: str, prop: str) -> None:
        """Count `r` as unlinked when its reference is unknown (preview). A known reference
        to something outside the stack is not ours to judge and changes nothing."""
        if r.get(prop) is UNKNOWN:
            self._unlinked(kind)

    def _index_names(self) -> None:
        self._by_name: dict[str, Bucket] = {}
        for b in self.buckets:
            if b.evidence.get("name_known"):
                self._by_name[b.name] = b
        self._vault_by_name = {v.name: v for v in self.vaults}
        self._db_by_key: dict[str, Database] = {}
        for db in self.databases:
            self._db_by_key[db.name] = db
            arn = self._arn_of(db)
            if isinstance(arn, str):
                self._db_by_key[arn] = db

    def _deps(self, r: Res, prop: str, kind: type) -> list[Any]:
        """The facts of type `kind` that `r.<prop>` depends on (property dependencies)."""
        out = []
        for urn in r.property_deps.get(prop, ()):
            target = self.by_urn.get(urn)
            if isinstance(target, kind):
                out.append(target)
        return out

    def bucket_for(self, r: Res, prop: str) -> Bucket | None:
        """The stack's bucket that `r.<prop>` refers to, if any."""
        deps = self._deps(r, prop, Bucket)
        if deps:
            return deps[0]
        name = r.get(prop)
        if isinstance(name, str):
            return self._by_name.get(_bucket_name(name))
        return None

    def _arn_of(self, fact: Any) -> Any:
        """A fact's ARN: from its outputs, else built from region, account and name (the
        shape AWS Backup selections and IAM-style globs are written against)."""
        r = self.res_of.get(id(fact))
        if r is not None:
            for key in ("arn", "dbInstanceArn", "dbClusterArn"):
                arn = r.get(key)
                if isinstance(arn, str):
                    return arn
        region, acct = fact.region or "*", self.account or "000000000000"
        if isinstance(fact, Database):
            kind = "cluster" if fact.kind == "cluster" else "db"
            return f"arn:aws:rds:{region}:{acct}:{kind}:{fact.name}"
        if isinstance(fact, Volume):
            vid = r.get("id") if r is not None else None
            return f"arn:aws:ec2:{region}:{acct}:volume/{vid if isinstance(vid, str) else '*'}"
        if isinstance(fact, Table):
            return f"arn:aws:dynamodb:{region}:{acct}:table/{fact.name}"
        return None

    @staticmethod
    def _fold(b: Bucket, r: Res) -> None:
        linked = b.evidence.setdefault("configuredBy", [])
        linked.append(r.urn)
        if r.type in adapters.VERSIONING_TYPES:
            status = r.get("versioningConfiguration", "status")
            # "Suspended" wins over an inline "Enabled": it is what S3 ends up with.
            if b.versioning != "Suspended":
                b.versioning = status
            b.props["versioning"] = f"{r.type.split(':')[-1]} {r.name!r} " \
                                    "versioningConfiguration.status"
        elif r.type in adapters.LOCK_TYPES:
            enabled = r.get("objectLockEnabled")
            # The v7 resource defaults objectLockEnabled to "Enabled"; S3 now lets it switch
            # Object Lock on for an existing versioned bucket.
            if enabled is UNKNOWN:
                if b.object_lock_enabled is not True:
                    b.object_lock_enabled = UNKNOWN
            elif enabled in (None, "Enabled"):
                b.object_lock_enabled = True
            b.lock_mode, b.lock_days = adapters.retention(r.get("rule", "defaultRetention"))
            b.props["lock_rule"] = f"{r.type.split(':')[-1]} {r.name!r} rule.defaultRetention"
        elif r.type in adapters.PAB_TYPES:
            b.public_access_block = adapters.public_access_block(r.props)

    # ---- S3 replication and scope -------------------------------------------------------------

    def _replication(self, configs: Iterable[Res]) -> list[_Repl]:
        """Fill `Bucket.replication` from inline blocks and BucketReplicationConfig resources;
        every rule's destination is looked up by ARN/name, or by the property dependency of
        the rules on the destination bucket (its ARN is unknown during preview)."""
        sources: list[tuple[Bucket, Any, Res, str]] = []
        for b in self.buckets:
            r = self.res_of[id(b)]
            rules, prop = adapters.inline_replication(r)
            if rules is not None and prop is not None:
                sources.append((b, rules, r, prop))
        for r in configs:
            b = self.bucket_for(r, "bucket")
            if b is None:
                self._unlinked_if_unknown(r, "replication", "bucket")
                continue
            sources.append((b, adapters.replication_rules(r.get("rules")), r, "rules"))
        out: list[_Repl] = []
        for b, rules, r, prop in sources:
            if rules is UNKNOWN or b.replication is UNKNOWN:
                b.replication = UNKNOWN
                continue
            b.replication = b.replication or []
            b.props["replication"] = f"{r.type.split(':')[-1]} {r.name!r} {prop}"
            deps = [d for d in self._deps(r, prop, Bucket) if d is not b]
            for rule in rules:
                dest, region, name = self._destination(rule["dest"], deps)
                entry = {"id": rule["id"], "status": rule["status"], "bucket": name,
                         "region": region, "via": r.urn}
                b.replication.append(entry)
                out.append(_Repl(b, dest, entry))
        return out

    def _destination(self, dest: Any, deps: list[Bucket]) -> tuple[Bucket | None, Any, str]:
        """(destination bucket in the stack or None, its region, a name for messages)."""
        if isinstance(dest, str):
            name = _bucket_name(dest)
            found = self._by_name.get(name)
            if found is None:
                return None, None, name  # outside this stack: region not known
            return found, found.region, found.name
        if len(deps) == 1:
            return deps[0], deps[0].region, deps[0].name
        regions = {d.region for d in deps}
        if deps and len(regions) == 1:  # several candidates, one region: that is enough
            return None, deps[0].region, " or ".join(d.name for d in deps)
        return None, UNKNOWN, "(not known yet)"

    def _scope(self, scope: Scope, repl: list[_Repl]) -> None:
        auto: dict[int, list[str]] = {}
        for t in self.trails:
            target = self.bucket_for(self.res_of[id(t)], "s3BucketName")
            if target is not None:
                auto.setdefault(id(target), []).append(f"destination of CloudTrail trail "
                                                        f"{t.name!r}")
        for b in self.buckets:
            name = b.name if b.evidence.get("name_known") else None
            reasons = scope.reasons(name, b.tags, auto.get(id(b), ()))
            logical = b.ref.rsplit("::", 1)[-1]
            # The logical name states intent too, and is all we have while the bucket name is
            # still unknown during preview.
            if not any(r.startswith("name matches") for r in reasons) and logical != name:
                for p in scope.patterns:
                    if p.search(logical):
                        reasons.append(f"logical name {logical!r} matches {p.pattern!r}")
                        break
            b.scope_reasons = reasons
            b.is_state_bucket = "Pulumi state bucket" in reasons
        # Destinations of replication from a backup bucket hold recovery data too (and are
        # that bucket's cross-region copy); follow chains with a worklist, once per link.
        by_source: dict[int, list[_Repl]] = {}
        for link in repl:
            if link.dest is not None and link.dest is not link.source:
                by_source.setdefault(id(link.source), []).append(link)
        todo = [b for b in self.buckets if b.scope_reasons and id(b) in by_source]
        while todo:
            src = todo.pop()
            for link in by_source.pop(id(src), ()):
                dest = link.dest
                assert dest is not None
                if link.entry["status"] == "Enabled":
                    dest.replica_of.append({"bucket": src.name, "region": src.region})
                reason = f"replication destination of backup bucket {src.name}"
                if reason not in dest.scope_reasons:
                    dest.scope_reasons.append(reason)
                if id(dest) in by_source:
                    todo.append(dest)

    # ---- deletion alerts ------------------------------------------------------------------------

    def _deletion_alerts(self, linked: dict[str, list[Res]]) -> None:
        scoped = [b for b in self.buckets if b.scope_reasons]
        if not scoped:
            return
        notifications: dict[int, list[Any]] = {}
        for b in scoped:
            cfg = adapters.notification_config(self.res_of[id(b)])
            if cfg is not None:
                notifications.setdefault(id(b), []).append(cfg)
        for r in linked.get("notification", ()):
            b = self.bucket_for(r, "bucket")
            if b is None:
                self._unlinked_if_unknown(r, "notification", "bucket")
            elif b.scope_reasons:
                notifications.setdefault(id(b), []).append(adapters.notification_config(r))
        rules = {region: alerts.RuleIndex(views, region, self.account) for region, views in
                 self._event_rules(linked.get("rule", ()), linked.get("target", ())).items()}
        trails = [self._trail_view(t) for t in self.trails]
        for b in scoped:
            out = alerts.Alerts()
            s3_eventbridge: Any = False
            for cfg in notifications.get(id(b), ()):
                if cfg is UNKNOWN:
                    out.unknown = True
                    continue
                alerts.notification_alerts(cfg, out)
                eb = cfg.get("EventBridgeConfiguration")
                if eb is UNKNOWN and s3_eventbridge is not True:
                    s3_eventbridge = UNKNOWN
                elif eb is not None and eb is not UNKNOWN:
                    s3_eventbridge = True
            region = b.region
            if not b.evidence.get("name_known") or not isinstance(region, str):
                out.unknown = True  # patterns name buckets: cannot match an unknown name
            else:
                views = [alerts.Trail(t.name, logs(b, region)) for t, logs in trails]
                index = rules.get(region)
                alerts.eventbridge_alerts(b.name, region, self.account,
                                          index.for_bucket(b.name) if index else (), views,
                                          s3_eventbridge, out)
            b.deletion_alerts = out.value()
            if out.notes:
                b.evidence["alertNotes"] = out.notes

    def _event_rules(self, rule_res: Iterable[Res],
                     targets: Iterable[Res]) -> dict[str, list[alerts.Rule]]:
        """Enabled-or-not rules on the default bus, by region, with their targets linked."""
        views: dict[str, alerts.Rule] = {}  # rule URN -> view
        by_name: dict[tuple[Any, str], alerts.Rule] = {}
        by_region: dict[str, list[alerts.Rule]] = {}
        for r in rule_res:
            info = adapters.event_rule(r)
            if adapters.default_bus(info["bus"]) is False:
                continue  # a custom bus never receives S3 or CloudTrail events
            pattern = info["pattern"]
            if isinstance(pattern, str):  # parse once, not once per bucket
                try:
                    pattern = json.loads(pattern)
                except ValueError:
                    pass  # kept as text: the alert check notes the invalid pattern
            view = alerts.Rule(info["name"], pattern, info["enabled"],
                               info["targets"] if info["targets"] is not None else [])
            views[r.urn] = view
            by_name[(r.region, info["name"])] = view
            if isinstance(r.region, str):
                by_region.setdefault(r.region, []).append(view)
        for t in targets:
            view = None
            for urn in t.property_deps.get("rule", ()):
                view = views.get(urn) or view
            if view is None and isinstance(t.get("rule"), str):
                view = by_name.get((t.region, t.get("rule")))
            if view is None:
                self._unlinked_if_unknown(t, "event-target", "rule")
                continue
            if isinstance(view.targets, list):
                arn = t.get("arn")
                view.targets.append(arn if arn is not None else t.urn)
        return by_region

    def _trail_view(self, t: Trail) -> tuple[Trail, Any]:
        """(trail, function bucket, region -> True/False/UNKNOWN: does the trail log the
        bucket's S3 write data events)."""
        r = self.res_of[id(t)]
        basic, advanced = adapters.trail_selectors(r)
        candidates = [f"arn:aws:s3:::{b.name}/" for prop in ("eventSelectors",
                                                              "advancedEventSelectors")
                      for b in self._deps(r, prop, Bucket) if b.evidence.get("name_known")]
        # During preview a selector value built from a bucket's ARN is unknown; the property
        # dependency says which buckets it was built from.
        basic, basic_unknown = _substitute(basic, candidates)
        advanced, advanced_unknown = _substitute(advanced, candidates)
        unknown = basic_unknown or advanced_unknown

        def logs(b: Bucket, region: str) -> Any:
            if t.logging is UNKNOWN or t.multi_region is UNKNOWN:
                return UNKNOWN
            if t.logging is not True or not (t.multi_region is True or t.region == region):
                return False
            if unknown:
                return UNKNOWN
            return eventpattern.selectors_log_writes(basic, advanced, b.name)

        return t, logs

    # ---- RDS cross-region recovery points and AWS Backup ------------------------------------

    def _rds_cross_region(self, linked: dict[str, list[Res]]) -> None:
        for r in linked.get("rds-backup-replication", ()):
            deps = self._deps(r, "sourceDbInstanceArn", Database)
            db = deps[0] if deps else None
            arn = r.get("sourceDbInstanceArn")
            if db is None and isinstance(arn, str):
                db = self._db_by_key.get(arn) or self._db_by_key.get(arn.rsplit(":", 1)[-1])
            if db is None:
                self._unlinked_if_unknown(r, "rds-backup-replication", "sourceDbInstanceArn")
                continue
            db.cross_region.append({"kind": "automated-backup-replication",
                                    "region": r.region, "via": r.urn})
        for db in self.databases:
            region = adapters.native_backup_replication(self.res_of[id(db)])
            if region is not None:
                db.cross_region.append({"kind": "automated-backup-replication",
                                        "region": region,
                                        "via": "automaticBackupReplicationRegion"})
        plans = self._plans(linked.get("plan", ()))
        for r in linked.get("selection", ()):
            self._selection(r, plans)

    def _plans(self, plan_res: Iterable[Res]) -> dict[str, _Plan]:
        """Backup plans by URN and by id, with the regions their copy actions write to."""
        out: dict[str, _Plan] = {}
        for r in plan_res:
            deps = [v for prop in ("rules", "backupPlan") for v in self._deps(r, prop, Vault)]
            regions: list[Any] = []
            arns = adapters.plan_copy_arns(r)
            for arn in arns if arns is not UNKNOWN else [UNKNOWN]:
                region = adapters.arn_region(arn)
                if region is UNKNOWN:
                    other = [v.region for v in deps if v.region != r.region]
                    region = other or ([r.region] if deps else [UNKNOWN])
                    regions += region
                elif region is not None:
                    regions.append(region)
            plan = _Plan(r, adapters.plan_name(r), regions)
            out[r.urn] = plan
            for key in ("id", "backupPlanId"):
                pid = r.get(key)
                if isinstance(pid, str):
                    out[pid] = plan
        return out

    def _selection(self, r: Res, plans: dict[str, _Plan]) -> None:
        sel = adapters.selection(r)
        if sel.get("unknown"):
            # What it selects is not known yet: whatever seems uncovered may be covered.
            self._unlinked("backup-selection")
            return
        plan = None
        for prop in ("planId", "backupPlanId"):
            for urn in r.property_deps.get(prop, ()):
                plan = plans.get(urn) or plan
        if plan is None and isinstance(sel["plan"], str):
            plan = plans.get(sel["plan"])
        if plan is None:
            if sel["plan"] is UNKNOWN:
                self._unlinked("backup-selection")
                return
            # A plan outside this stack: its copy actions cannot be seen from here.
            plan = _Plan(r, str(sel["plan"]), [None])
        covered = self._selected(r, sel)
        for fact in covered:
            if isinstance(fact, Database):
                for region in plan.copy_regions:
                    point = {"kind": "backup-copy", "region": region, "via": plan.res.urn}
                    if region is None:
                        point["note"] = (f"backup plan {plan.name} is not in this stack; its "
                                         "copy actions cannot be checked here")
                    fact.cross_region.append(point)
            elif isinstance(fact, Volume):
                if isinstance(fact.covered_by, list):
                    fact.covered_by.append(f"backup:{plan.name}")
                else:
                    fact.covered_by = [f"backup:{plan.name}"]

    def _selectable(self) -> tuple[dict[str, Any], dict[tuple[str, str], list[Any]]]:
        """Databases and volumes by ARN and by tag (built once, for every selection)."""
        if not hasattr(self, "_by_arn"):
            self._by_arn: dict[str, Any] = {}
            self._by_tag: dict[tuple[str, str], list[Any]] = {}
            for fact in (*self.databases, *self.volumes):
                arn = self._arn_of(fact)
                if isinstance(arn, str):
                    self._by_arn[arn] = fact
                for k, v in fact.tags.items():
                    self._by_tag.setdefault((k, v), []).append(fact)
        return self._by_arn, self._by_tag

    def _selected(self, r: Res, sel: dict[str, Any]) -> list[Any]:
        """The databases and volumes an AWS Backup selection covers (AWS semantics:
        `resources` or any tag condition; then every condition; minus `notResources`).
        Exact ARNs and STRINGEQUALS tags are looked up; only wildcards and other operators
        scan the candidates."""
        by_arn, by_tag = self._selectable()
        chosen: dict[int, Any] = {}
        for prop in ("resources", "backupSelection"):
            for urn in r.property_deps.get(prop, ()):
                fact = self.by_urn.get(urn)
                if isinstance(fact, (Database, Volume)):
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
            arn = self._arn_of(fact)
            if isinstance(arn, str) and any(fnmatch.fnmatchcase(arn, p) for p in excluded):
                continue
            if all(_tag_holds(op, k, v, fact.tags) for op, k, v in sel["conditions"]):
                out.append(fact)
        return out

    # ---- backup vaults, EBS, SCPs --------------------------------------------------------------

    def _vault_locks(self, locks: Iterable[Res]) -> None:
        for r in locks:
            deps = self._deps(r, "backupVaultName", Vault)
            v = deps[0] if deps else None
            name = r.get("backupVaultName")
            if v is None and isinstance(name, str):
                v = self._vault_by_name.get(name)
            if v is None:
                self._unlinked_if_unknown(r, "vault-lock", "backupVaultName")
                continue
            v.lock_min_retention_days = adapters.num(r.get("minRetentionDays"))
            v.props["lock"] = f"VaultLockConfiguration {r.name!r} minRetentionDays"
            v.evidence.setdefault("configuredBy", []).append(r.urn)

    def _ebs(self, linked: dict[str, list[Res]]) -> None:
        """EBS coverage by DLM policies: a region's default policy covers every volume there,
        others the volumes carrying one of their target tags (indexed by region and tag)."""
        if not self.volumes:
            return
        default: dict[Any, list[str]] = {}
        by_tag: dict[tuple[Any, str, Any], list[str]] = {}
        unsure: set[Any] = set()  # regions with a policy whose settings are not known yet
        for r in linked.get("dlm", ()):
            p = adapters.dlm_policy(r)
            if UNKNOWN in (p["enabled"], p["volumes"]) or p["tags"] is UNKNOWN:
                unsure.add(r.region)
            elif p["enabled"] and p["default"]:
                default.setdefault(r.region, []).append(f"dlm:{p['name']}")
            elif p["enabled"] and p["volumes"]:
                for k, want in p["tags"].items():
                    by_tag.setdefault((r.region, k, want), []).append(f"dlm:{p['name']}")
        for v in self.volumes:
            covered: list[str] = list(v.covered_by or []) + default.get(v.region, [])
            for k, have in v.tags.items():
                covered += by_tag.get((v.region, k, have), [])
            covered = list(dict.fromkeys(covered))
            v.covered_by = covered if covered or v.region not in unsure else UNKNOWN

    def _scp_attachments(self, attachments: Iterable[Res]) -> None:
        if not self.scps:
            return
        by_id: dict[str, Scp] = {}
        for s in self.scps:
            pid = self.res_of[id(s)].get("id")
            if isinstance(pid, str):
                by_id[pid] = s
        for r in attachments:
            deps = self._deps(r, "policyId", Scp)
            s = deps[0] if deps else by_id.get(r.get("policyId"))  # type: ignore[arg-type]
            if s is None:
                self._unlinked_if_unknown(r, "scp-attachment", "policyId")
                continue
            target = r.get("targetId")
            if target is UNKNOWN:
                # An OU or account created in the same stack: named by its resource.
                urns = r.property_deps.get("targetId", ())
                target = f"(pending {urns[0].rsplit('::', 1)[-1]})" if urns else UNKNOWN
            if target is UNKNOWN or s.targets is UNKNOWN:
                s.targets = UNKNOWN
            elif isinstance(target, str):
                s.targets.append(target)
            s.evidence.setdefault("attachments", []).append(r.urn)


def _bucket_name(ref: str) -> str:
    """A bucket name from a name or an S3 ARN (any partition): arn:aws:s3:::name."""
    return ref.split(":::", 1)[1] if ref.startswith("arn:") and ":::" in ref else ref


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


def _substitute(value: Any, candidates: list[str]) -> tuple[Any, bool]:
    """`value` with every UNKNOWN string in a list replaced by `candidates`; (value, whether
    something stays unknown)."""
    if value is UNKNOWN:
        return None, True
    if isinstance(value, list):
        out: list[Any] = []
        unknown = False
        for item in value:
            if item is UNKNOWN:
                if not candidates:
                    unknown = True
                out.extend(candidates)
                continue
            sub, u = _substitute(item, candidates)
            unknown |= u
            out.append(sub)
        return out, unknown
    if isinstance(value, dict):
        res: dict[str, Any] = {}
        unknown = False
        for k, item in value.items():
            res[k], u = _substitute(item, candidates)
            unknown |= u
        return res, unknown
    return value, False
