"""Deploy-side checks of a whole stack: every service's bindings (`policypack.services`).

The policy pack turns each check into one CrossGuard policy; `dr-audit state` runs the same
checks on a stack export with `evaluate`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from drguard.facts import Resource
from drguard.scope import Scope
from drguard.settings import Settings
from drguard.verdict import Verdict

from . import services
from .adapters import Res
from .binding import Check, Judged, ResourceCheck, StackCheck
from .stack import StackModel

__all__ = ["CHECKS", "Check", "ResourceCheck", "StackCheck", "build_model", "evaluate"]

# One deploy binding per control that declares the deploy side, in registry order.
CHECKS: tuple[Check, ...] = services.CATALOG.checks


def build_model(resources: Iterable[Res], scope: Scope) -> StackModel:
    """The stack model of `resources`, built from every service."""
    return StackModel.build(resources, scope, services.CATALOG)


def evaluate(resources: Iterable[Res], settings: Settings,
             model: StackModel | None = None) -> Iterator[tuple[str, Resource, Verdict]]:
    """Every enabled check on a whole stack: (control id, fact, verdict) for each judgement."""
    model = model or build_model(resources, settings.scope)
    # each resource check visits the resources of its types only, in the stack's order (a
    # large stack has ~10 resource checks, each of a few types: no scan of every resource)
    by_type: dict[str, list[int]] = {}
    for i, r in enumerate(model.resources):
        by_type.setdefault(r.type, []).append(i)
    enabled = [c for c in CHECKS if c.control in settings.enabled]
    # an adapter several checks share (the three RDS checks read one Database fact) makes
    # each resource's fact once; rules read facts, never change them. Kept until the last
    # check that reads it has run.
    uses: dict[object, int] = {}
    facts: dict[object, dict[int, Any]] = {}  # adapter -> {resource index: its fact}
    for c in enabled:
        if isinstance(c, ResourceCheck):
            uses[c.adapter] = uses.get(c.adapter, 0) + 1
    for check in enabled:
        params = settings.of(check.control)
        if isinstance(check, ResourceCheck):
            found = [i for t in check.types for i in by_type.get(t, ())]
            if len(check.types) > 1:
                found.sort()
            if uses[check.adapter] > 1 or check.adapter in facts:
                judged: Iterable[Judged | None] = _shared(
                    check, model.resources, found, params,
                    facts.setdefault(check.adapter, {}))
            else:
                judged = (check.run(model.resources[i], params) for i in found)
        else:
            judged = check.rule(model, params)
        for item in judged:
            if item is not None and item[1] is not None:
                yield check.control, item[0], item[1]
        if isinstance(check, ResourceCheck):
            uses[check.adapter] -= 1
            if not uses[check.adapter]:
                facts.pop(check.adapter, None)


def _shared(check: ResourceCheck, resources: list[Res], found: list[int],
            params: dict[str, Any], facts: dict[int, Any]) -> Iterator[Judged | None]:
    """check.run over `found`, each resource's fact made once for the checks sharing the
    adapter (`facts`)."""
    for i in found:
        fact = facts.get(i, _NONE)
        if fact is _NONE:
            fact = facts[i] = check.adapter(resources[i])
        yield None if fact is None else (fact, check.rule(fact, params))


_NONE = object()
