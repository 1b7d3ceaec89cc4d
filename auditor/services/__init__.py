"""One module per AWS service: its boto3 collectors (read-only, paginated, never raising on an
AWS error) and the live binding of each of its controls. See `auditor.live` for what a module
declares; a new service is a new module here.
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache
from types import ModuleType
from typing import Any

from ..live import DriftKind, Live, Step


@cache
def modules() -> tuple[ModuleType, ...]:
    return tuple(importlib.import_module(f"{__name__}.{m.name}")
                 for m in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name)
                 if not m.name.startswith("_"))


def global_steps() -> list[Step]:
    return [s for m in modules() for s in getattr(m, "GLOBAL", ())]


def regional_steps() -> list[Step]:
    return [s for m in modules() for s in getattr(m, "REGIONAL", ())]


def phases() -> list[Any]:
    return [m.phase for m in sorted((m for m in modules() if hasattr(m, "phase")),
                                    key=lambda m: m.PHASE)]


@cache
def bindings() -> tuple[Live, ...]:
    """Every live binding, in registry order of its first control."""
    from drguard.registry import CONTROLS

    order = {c.id: i for i, c in enumerate(CONTROLS)}
    found = [b for m in modules() for b in getattr(m, "LIVE", ())]
    return tuple(sorted(found, key=lambda b: min(order.get(c, len(order)) for c in b.controls)))


@cache
def drift_kinds() -> dict[str, DriftKind]:
    return {t: k for m in modules() for t, k in getattr(m, "DRIFT", {}).items()}
