"""`dr-audit state` keeps its findings while it gets faster: the report of each fixture export
equals the one recorded from the reader and checks before they were optimised.

The goldens hold report.json without the run's timestamps and paths. When a change of output is
intended (a new control, a reworded message), regenerate them and review the diff:

    PYTHONPATH=. .venv/bin/python tests/test_state_golden.py
"""

from __future__ import annotations

import gc
import gzip
import json
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent
GOLDEN = ROOT / "data" / "state-golden"
CASES = {"export": GOLDEN / "export.json",
         "drifting": ROOT / "data" / "nasty-state" / "drifting-show-secrets.json"}
VOLATILE_RUN_KEYS = ("started", "finished", "sources")


def _report(path: Path, out: Path) -> tuple[int, dict[str, Any]]:
    from auditor.cli import main

    code = main(["state", "--file", str(path), "--output-dir", str(out), "--format", "json"])
    doc = json.loads((out / "report.json").read_text(encoding="utf-8"))
    for key in VOLATILE_RUN_KEYS:
        doc["run"].pop(key, None)
    return code, doc


def _golden(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(gzip.decompress(
        (GOLDEN / f"{name}.report.json.gz").read_bytes()))
    return data


@pytest.mark.parametrize("name", sorted(CASES))
def test_state_report_equals_the_recorded_one(name: str, tmp_path: Path) -> None:
    code, doc = _report(CASES[name], tmp_path)
    assert gc.isenabled()  # the run turns the cyclic collector off for itself only
    golden = _golden(name)
    assert code == golden.pop("exit_code")
    assert doc["findings"], name  # something was judged
    # field by field first, so a difference names the part that changed
    for key in ("summary", "run", "applications", "frameworks"):
        assert doc.get(key) == golden.get(key), key
    by_id = {f["id"]: f for f in golden["findings"]}
    for f in doc["findings"]:
        assert f == by_id.get(f["id"]), f["id"]
    assert doc == golden


def _regenerate() -> None:
    import tempfile

    for name, path in CASES.items():
        with tempfile.TemporaryDirectory() as tmp:
            code, doc = _report(path, Path(tmp))
        doc["exit_code"] = code
        text = json.dumps(doc, indent=1, sort_keys=True).encode()
        (GOLDEN / f"{name}.report.json.gz").write_bytes(gzip.compress(text, 9, mtime=0))
        print(f"{name}: {len(doc['findings'])} findings, exit {code}")


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT.parent))
    _regenerate()
