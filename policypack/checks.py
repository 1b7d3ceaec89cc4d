"""Deploy-side checks of a whole stack: every service's bindings (`policypack.services`).

The policy pack turns each check into one CrossGuard policy; `dr-audit state` runs the same
checks on a stack export with `evaluate`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

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
    for check in CHECKS:
        if check.control not in settings.enabled:
            continue
        params = settings.of(check.control)
        if isinstance(check, ResourceCheck):
            found = [i for t in check.types for i in by_type.get(t, ())]
            if len(check.types) > 1:
                found.sort()
            judged: Iterable[Judged | None] = (
                check.run(model.resources[i], params) for i in found)
        else:
            judged = check.rule(model, params)
        for item in judged:
            if item is not None and item[1] is not None:
                yield check.control, item[0], item[1]
