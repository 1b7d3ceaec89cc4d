"""One module per service: its facts, its `Control` declarations (with their log detections
and remediation) and its rules. `drguard.registry` collects every module's `CONTROLS`.

A new service is a new module here that defines `CONTROLS`; nothing else needs to list it.
"""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType


def modules() -> list[ModuleType]:
    """Every service module of this package, by name."""
    return [importlib.import_module(f"{__name__}.{m.name}")
            for m in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name)
            if not m.name.startswith("_")]
