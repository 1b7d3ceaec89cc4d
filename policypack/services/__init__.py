"""One module per service: Pulumi type tokens, adapters (resource -> fact), split-resource
links and the deploy binding of each control (`CHECKS`).

What a service module may define (all optional):
- `FACTS`: {type token: (model kind, adapter)} for resources that become facts of their own;
- `LINKED`: {type token: link kind} for resources that only configure others;
- `STEP` and `link(model, linked, scope)`: joins its linked resources into facts (in STEP order);
- `ARNS`: {fact class: (model, fact, res, region, account) -> ARN} when outputs lack one;
- `BACKUP_SELECTED`: {fact class: (fact, plan) -> None}: an AWS Backup selection covers it;
- `STATEFUL`: model kinds whose facts `stateful-resource-protect` judges;
- `CHECKS`: its deploy bindings, by control id.
A new service is a new module here; nothing else needs to list it.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from functools import cache
from types import ModuleType
from typing import Any


@cache
def modules() -> tuple[ModuleType, ...]:
    return tuple(importlib.import_module(f"{__name__}.{m.name}")
                 for m in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name)
                 if not m.name.startswith("_"))


@cache
def facts() -> dict[str, tuple[str, Callable[[Any], Any]]]:
    """type token -> (model kind, adapter), over every service."""
    return {t: spec for m in modules() for t, spec in getattr(m, "FACTS", {}).items()}


@cache
def linked() -> dict[str, str]:
    return {t: kind for m in modules() for t, kind in getattr(m, "LINKED", {}).items()}


@cache
def kinds() -> tuple[str, ...]:
    """Model kinds (fact lists), in service order."""
    return tuple(dict.fromkeys(kind for kind, _ in facts().values()))


@cache
def steps() -> tuple[Callable[..., None], ...]:
    return tuple(m.link for m in sorted((m for m in modules() if hasattr(m, "link")),
                                        key=lambda m: m.STEP))


def hooks(name: str) -> dict[type, Callable[..., Any]]:
    """A per-fact-class hook table (ARNS, BACKUP_SELECTED) merged over every service."""
    return {cls: f for m in modules() for cls, f in getattr(m, name, {}).items()}


@cache
def stateful_kinds() -> tuple[str, ...]:
    return tuple(k for m in modules() for k in getattr(m, "STATEFUL", ()))


@cache
def checks() -> tuple[Any, ...]:
    """Every deploy binding, in registry order of its control."""
    from drguard.registry import CONTROLS

    found = {c.control: c for m in modules() for c in getattr(m, "CHECKS", ())}
    return tuple(found[c.id] for c in CONTROLS if c.id in found)


def all_types() -> frozenset[str]:
    """Every Pulumi type token a service reads."""
    return frozenset(facts()) | frozenset(linked())
