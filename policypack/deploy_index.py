"""Which deploy check each control has, without importing the checks: the pack starts serving
from this table and imports a control's check (`policypack.services`) on its first use.

The table is `deploy_index.json` beside this module, GENERATED from `policypack.checks.CHECKS`
by `python -m policypack.deploy_index` (never edited by hand); tests/test_pack_start.py fails
when it no longer matches the services' declarations.
"""

from __future__ import annotations

import json
from pathlib import Path

TABLE = Path(__file__).with_name("deploy_index.json")


def _load() -> tuple[tuple[str, str, frozenset[str]], ...]:
    rows = json.loads(TABLE.read_text(encoding="utf-8"))
    return tuple((str(r["control"]), str(r["kind"]), frozenset(r.get("types") or ()))
                 for r in rows)


# (control id, "resource" or "stack", the Pulumi types a resource check judges), in CHECKS order
CHECKS: tuple[tuple[str, str, frozenset[str]], ...] = _load()


def generate() -> str:
    """The table's text, read from the services."""
    from .checks import CHECKS as REAL
    from .checks import ResourceCheck

    rows = [{"control": c.control, "kind": "resource", "types": sorted(c.types)}
            if isinstance(c, ResourceCheck) else {"control": c.control, "kind": "stack"}
            for c in REAL]
    return json.dumps(rows, indent=1) + "\n"


if __name__ == "__main__":
    TABLE.write_text(generate(), encoding="utf-8")
