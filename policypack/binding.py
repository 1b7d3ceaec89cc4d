"""Deploy bindings: which rule of a control runs on which resources of a stack.

Each `policypack.services.<service>` module lists its bindings in `checks` of its `SERVICE`, one
per control id the service judges at deploy time. Resource checks judge one resource alone;
stack checks need relations between resources (split S3 resources, trail destinations, ...).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from drguard.facts import Resource
from drguard.records import record
from drguard.verdict import Verdict

from .adapters import Res

if TYPE_CHECKING:
    from .stack import StackModel

Judged = tuple[Resource, Verdict | None]


@record(frozen=True)
class ResourceCheck:
    """A control judged on one resource at a time, by its type."""

    control: str
    types: frozenset[str]
    adapter: Callable[[Res], Any]
    rule: Callable[[Any, dict[str, Any]], Verdict | None]

    def run(self, res: Res, params: dict[str, Any]) -> Judged | None:
        if res.type not in self.types:
            return None
        fact = self.adapter(res)
        if fact is None:
            return None
        return fact, self.rule(fact, params)


@record(frozen=True)
class StackCheck:
    """A control judged on the whole stack model (relations between resources)."""

    control: str
    rule: Callable[[StackModel, dict[str, Any]], Iterable[Judged]]


Check = ResourceCheck | StackCheck


def unlinked_guard(model: StackModel, kind: str | tuple[str, ...],
                   verdict: Verdict | None) -> Verdict | None:
    """A fact that seems to lack a setting while a resource of that kind could not be linked
    to its target (the target unknown in preview) cannot be judged yet."""
    kinds = (kind,) if isinstance(kind, str) else kind
    orphans = [k for k in kinds if model.unlinked.get(k)]
    if verdict is not None and verdict.status == "fail" and orphans:
        return Verdict("unknown", f"{verdict.message.split('.')[0]}, but a {orphans[0]} "
                                  "resource whose target is not known yet may configure it; "
                                  "cannot be checked during preview.", verdict.evidence)
    return verdict
