"""The stack model: resources of one stack joined into facts.

Split S3 resources (BucketVersioning, BucketObjectLockConfiguration, ...) are folded into the
bucket they configure, linked by the property dependency of `bucket` on the bucket's URN (what
the engine records even when the bucket name is still unknown during preview) or, failing
that, by bucket name/id. A split resource that cannot be linked is kept, so a bucket lacking
that setting is judged "unknown during preview" instead of falsely failing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from drguard.facts import UNKNOWN, Bucket, Database, Trail
from drguard.scope import Scope

from . import adapters
from .adapters import Res


@dataclass
class StackModel:
    databases: list[Database] = field(default_factory=list)
    buckets: list[Bucket] = field(default_factory=list)
    trails: list[Trail] = field(default_factory=list)
    # split resource kind -> number of resources of that kind not linked to any bucket
    unlinked: dict[str, int] = field(default_factory=dict)
    resources: list[Res] = field(default_factory=list)
    by_urn: dict[str, Any] = field(default_factory=dict)
    res_of: dict[int, Res] = field(default_factory=dict)  # id(fact) -> its resource

    @classmethod
    def build(cls, resources: Iterable[Res], scope: Scope) -> StackModel:
        m = cls()
        split: list[Res] = []
        for r in resources:
            m.resources.append(r)
            if r.type in adapters.BUCKET_TYPES:
                b = adapters.bucket(r)
                if b is not None:
                    m.buckets.append(b)
                    m.by_urn[r.urn] = b
            elif r.type in adapters.DATABASE_TYPES:
                db = adapters.database(r)
                if db is not None:
                    m.databases.append(db)
                    m.by_urn[r.urn] = db
            elif r.type in adapters.TRAIL_TYPES:
                t = adapters.trail(r)
                if t is not None:
                    m.trails.append(t)
                    m.by_urn[r.urn] = t
                    m.res_of[id(t)] = r
            elif (r.type in adapters.VERSIONING_TYPES or r.type in adapters.LOCK_TYPES
                  or r.type in adapters.PAB_TYPES):
                split.append(r)
        m._index_names()
        for r in split:
            target = m.bucket_for(r, "bucket")
            if target is None:
                kind = ("versioning" if r.type in adapters.VERSIONING_TYPES else
                        "lock" if r.type in adapters.LOCK_TYPES else "pab")
                m.unlinked[kind] = m.unlinked.get(kind, 0) + 1
                continue
            m._fold(target, r)
        m._scope(scope)
        return m

    def _index_names(self) -> None:
        self._by_name: dict[str, Bucket] = {}
        for b in self.buckets:
            if b.evidence.get("name_known"):
                self._by_name[b.name] = b

    def bucket_for(self, r: Res, prop: str) -> Bucket | None:
        """The stack's bucket that `r.<prop>` refers to, if any."""
        for urn in r.property_deps.get(prop, ()):
            target = self.by_urn.get(urn)
            if isinstance(target, Bucket):
                return target
        name = r.get(prop)
        if isinstance(name, str):
            name = name.removeprefix("arn:aws:s3:::")
            return self._by_name.get(name)
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

    def _scope(self, scope: Scope) -> None:
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
