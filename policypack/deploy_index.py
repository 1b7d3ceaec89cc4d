"""What the pack serves, without importing the registry or the checks: each policy's metadata
and which deploy check it runs. The pack builds its policies from this table and imports the
registry and a control's check (`policypack.services`) on their first use.

The table is `deploy_index.json` beside this module, GENERATED from the registry and
`policypack.checks.CHECKS` by `python -m policypack.policies` (never edited by hand);
tests/test_pack_start.py fails when it no longer matches the declarations.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

TABLE = Path(__file__).with_name("deploy_index.json")


def _load() -> dict[str, Any]:
    try:
        data = json.loads(TABLE.read_text(encoding="utf-8"))
    except (OSError, ValueError):  # a checkout without the table: built from the registry
        return {}
    return data if isinstance(data, dict) else {}


_DATA = _load()
# (control id, "resource" or "stack", the Pulumi types a resource check judges), in CHECKS order
CHECKS: tuple[tuple[str, str, frozenset[str]], ...] = tuple(
    (str(r["control"]), str(r["kind"]), frozenset(r.get("types") or ()))
    for r in _DATA.get("checks") or ())
# control id -> the policy's metadata as JSON data (policypack.policies turns it into SDK types)
POLICIES: dict[str, dict[str, Any]] = {str(r["control"]): r["policy"]
                                       for r in _DATA.get("checks") or ()}
# the settings carrier: {"name", "config_schema"}
SETTINGS: dict[str, Any] = _DATA.get("settings") or {}
