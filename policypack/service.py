"""What a `policypack.services.<service>` module declares for the deploy side, and the catalog
of every service the stack model is built from.

Each service module ends with one declaration, `SERVICE = DeployService(...)`, every field
optional:
- `facts`: {type token: (model kind, adapter)} for resources that become facts of their own;
- `linked`: {type token: link kind} for resources that only configure others;
- `link`: `Link(order, fn)`, `fn(model, linked, scope)` joins its linked resources into facts
  (links run in `order` across services);
- `arns`: {fact class: (model, fact, res, region, account) -> ARN} when outputs lack one;
- `backup_selected`: {fact class: (fact, plan) -> None}: an AWS Backup selection covers it;
- `stateful`: model kinds whose facts `stateful-resource-protect` judges;
- `checks`: its deploy bindings (`policypack.binding.ResourceCheck`/`StackCheck`), one per
  control id;
- `remediations`: its fixes (`policypack.fixers.Fixer`), one per control id;
- `types_read`: {control id: type tokens} for a stack check that judges other services'
  types (the control reference lists them).
`policypack.services` lists the service modules.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import field
from functools import cached_property
from typing import Any

from drguard.records import record
from drguard.registry import CONTROLS


@record(frozen=True)
class Link:
    """A service's link step: `run(model, linked, scope)`, in `order` across services."""

    order: int
    run: Callable[..., None]


@record(frozen=True)
class DeployService:
    """Everything one service module declares for the deploy side: its `SERVICE`."""

    facts: Mapping[str, tuple[str, Callable[[Any], Any]]] = field(default_factory=dict)
    linked: Mapping[str, str] = field(default_factory=dict)
    link: Link | None = None
    arns: Mapping[type, Callable[..., Any]] = field(default_factory=dict)
    backup_selected: Mapping[type, Callable[..., Any]] = field(default_factory=dict)
    stateful: tuple[str, ...] = ()
    checks: tuple[Any, ...] = ()  # ResourceCheck | StackCheck (policypack.binding)
    remediations: tuple[Any, ...] = ()  # Fixer (policypack.fixers)
    types_read: Mapping[str, frozenset[str]] = field(default_factory=dict)


class Catalog:
    """Every service's declarations merged: what the stack model, the checks and the
    remediation read."""

    def __init__(self, services: Iterable[DeployService]) -> None:
        self.services = tuple(services)

    @cached_property
    def facts(self) -> dict[str, tuple[str, Callable[[Any], Any]]]:
        """type token -> (model kind, adapter)."""
        return {t: spec for s in self.services for t, spec in s.facts.items()}

    @cached_property
    def linked(self) -> dict[str, str]:
        return {t: kind for s in self.services for t, kind in s.linked.items()}

    @cached_property
    def kinds(self) -> tuple[str, ...]:
        """Model kinds (fact lists), in service order."""
        return tuple(dict.fromkeys(kind for kind, _ in self.facts.values()))

    @cached_property
    def links(self) -> tuple[Callable[..., None], ...]:
        steps = sorted((s.link for s in self.services if s.link is not None),
                       key=lambda k: k.order)
        return tuple(k.run for k in steps)

    @cached_property
    def arns(self) -> dict[type, Callable[..., Any]]:
        return {cls: f for s in self.services for cls, f in s.arns.items()}

    @cached_property
    def backup_selected(self) -> dict[type, Callable[..., Any]]:
        return {cls: f for s in self.services for cls, f in s.backup_selected.items()}

    @cached_property
    def stateful_kinds(self) -> tuple[str, ...]:
        return tuple(k for s in self.services for k in s.stateful)

    @cached_property
    def checks(self) -> tuple[Any, ...]:
        """Every deploy binding, in registry order of its control."""
        found = {c.control: c for s in self.services for c in s.checks}
        return tuple(found[c.id] for c in CONTROLS if c.id in found)

    @cached_property
    def remediations(self) -> dict[str, Any]:
        """control id -> its Fixer."""
        return {f.control: f for s in self.services for f in s.remediations}


    @cached_property
    def all_types(self) -> frozenset[str]:
        """Every Pulumi type token a service reads."""
        return frozenset(self.facts) | frozenset(self.linked)
