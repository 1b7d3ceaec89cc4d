"""The stack model: resources of one stack joined into facts.

Generic machinery only, built from a `Catalog` of the services' declarations
(`policypack.services.CATALOG`): each resource whose type a service declares in `facts` becomes
a fact of that service's kind (`model.buckets`, `model.databases`, ...); resources that only
configure others (`linked`) are handed to the service's `link` step, which folds them into the
facts they configure (split S3 resources, replication rules, backup selections, vault locks,
...). Links go by the property dependency on the target's URN (what the engine records even when
a name is still unknown during preview) or, failing that, by name/ARN. A linked resource that
cannot be linked is counted in `unlinked`, so a fact lacking that setting is judged "unknown
during preview" instead of falsely failing. Every step indexes by URN or name first, so building
the model stays linear in the number of resources.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import field
from typing import Any

from drguard.facts import UNKNOWN
from drguard.records import record
from drguard.scope import Scope

from .adapters import Res, arn_account
from .service import Catalog

_EMPTY = Catalog(())


@record
class StackModel:
    """The facts of one stack, their resources, and the indexes the link steps share."""

    # model kind (e.g. "buckets") -> facts of that kind; also readable as `model.buckets`
    facts: dict[str, list[Any]] = field(default_factory=dict)
    # linked resource kind -> number of resources of that kind not linked to their target
    unlinked: dict[str, int] = field(default_factory=dict)
    resources: list[Res] = field(default_factory=list)
    by_urn: dict[str, Any] = field(default_factory=dict)
    res_of: dict[int, Res] = field(default_factory=dict)  # id(fact) -> its resource
    account: str | None = None  # the stack's AWS account, when an ARN tells
    # indexes a service builds once per model (e.g. buckets by name)
    index: dict[str, Any] = field(default_factory=dict)
    # the services the model was built from (their hooks: ARNs, backup selections, ...)
    catalog: Catalog = _EMPTY

    def __getattr__(self, name: str) -> list[Any]:
        if name in self.__dict__.get("catalog", _EMPTY).kinds:
            return self.__dict__.setdefault("facts", {}).setdefault(name, [])
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    @classmethod
    def build(cls, resources: Iterable[Res], scope: Scope, catalog: Catalog) -> StackModel:
        m = cls(catalog=catalog)
        fact_specs = catalog.facts
        linked_kinds = catalog.linked
        linked: dict[str, list[Res]] = {}
        for r in resources:
            m.resources.append(r)
            spec = fact_specs.get(r.type)
            if spec is not None:
                fact = spec[1](r)
                if fact is not None:
                    m.facts.setdefault(spec[0], []).append(fact)
                    m.by_urn[r.urn] = fact
                    m.res_of[id(fact)] = r
            else:
                kind = linked_kinds.get(r.type)
                if kind is not None:
                    linked.setdefault(kind, []).append(r)
            if m.account is None:
                m.account = arn_account(r.get("arn"))
        for step in catalog.links:
            step(m, linked, scope)
        return m

    def all_facts(self) -> list[Any]:
        """Every fact, by kind in service order."""
        return [f for kind in self.catalog.kinds for f in self.facts.get(kind, ())]

    # ---- helpers for the services' link steps -----------------------------------------------

    def count_unlinked(self, kind: str) -> None:
        self.unlinked[kind] = self.unlinked.get(kind, 0) + 1

    def unlinked_if_unknown(self, r: Res, kind: str, prop: str) -> None:
        """Count `r` as unlinked when its reference is unknown (preview). A known reference
        to something outside the stack is not ours to judge and changes nothing."""
        if r.get(prop) is UNKNOWN:
            self.count_unlinked(kind)

    def deps(self, r: Res, prop: str, kind: type | tuple[type, ...]) -> list[Any]:
        """The facts of type `kind` that `r.<prop>` depends on (property dependencies)."""
        out = []
        for urn in r.property_deps.get(prop, ()):
            target = self.by_urn.get(urn)
            if isinstance(target, kind):
                out.append(target)
        return out

    def arn_of(self, fact: Any) -> Any:
        """A fact's ARN: from its outputs, else built from region, account and name by the
        fact's service (the shape AWS Backup selections and IAM-style globs are written
        against)."""
        r = self.res_of.get(id(fact))
        if r is not None:
            for key in ("arn", "dbInstanceArn", "dbClusterArn"):
                arn = r.get(key)
                if isinstance(arn, str):
                    return arn
        build = self.catalog.arns.get(type(fact))
        if build is None:
            return None
        return build(self, fact, r, fact.region or "*", self.account or "000000000000")
