"""Recorded reports that a speed-up must not change.

Each golden is a report.json recorded from the code before an optimisation, stored gzipped with
its exit code. Regenerate them all when a change of output is intended (a new control, a
reworded message), and review the diff:

    PYTHONPATH=. .venv/bin/python tests/goldens.py
"""

from __future__ import annotations

import datetime as dt
import gzip
import io
import json
import random
import shutil
import sys
import tempfile
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent
GOLDEN = ROOT / "data" / "goldens"
STATE_CASES = {"export": GOLDEN / "export.json",
               "drifting": ROOT / "data" / "nasty-state" / "drifting-show-secrets.json"}
# The demo runs on a stopped clock with fixed ids, so its whole report is stable but for how
# its log reader got there; a state run records when it started and which files it read.
VOLATILE_STATE_RUN_KEYS = ("started", "finished", "sources")
# How the reader got there (records decoded, inflate library) may change; what it read, skipped
# and found may not.
VOLATILE_LOGS_RUN_KEYS = VOLATILE_STATE_RUN_KEYS + (
    "records_decoded", "fallback_full_parse", "inflate", "output_dir")
LOGS_START = dt.datetime(2024, 5, 1, tzinfo=dt.UTC)


def state_report(path: Path, out: Path) -> tuple[int, dict[str, Any]]:
    """`dr-audit state --format json` on one export, without the run's volatile keys."""
    from auditor.cli import main

    code = main(["state", "--file", str(path), "--output-dir", str(out), "--format", "json"])
    doc: dict[str, Any] = json.loads((out / "report.json").read_text(encoding="utf-8"))
    for key in VOLATILE_STATE_RUN_KEYS:
        doc["run"].pop(key, None)
    return code, doc


def demo_report(out: Path) -> tuple[int, dict[str, Any]]:
    """`dr-audit demo` (every format), and its report.json."""
    from auditor.cli import main

    with redirect_stdout(io.StringIO()), redirect_stderr(io.StringIO()):
        code = main(["demo", "--output-dir", str(out)])
    doc: dict[str, Any] = json.loads((out / "report.json").read_text(encoding="utf-8"))
    return code, _without_reader_counters(doc)


def logs_corpus(root: Path) -> Path:
    """Realistic trail files with violations and near misses, beside the hostile corpus."""
    from auditor.logs import samples

    rng = random.Random(26)
    folder = root / "trail"
    shutil.copytree(ROOT / "data" / "nasty-logs", folder / "nasty",
                    ignore=shutil.ignore_patterns("*.py", "*.txt"))
    for i in range(12):
        t = LOGS_START + dt.timedelta(minutes=37 * i)
        account, region = rng.choice(("111122223333", "444455556666")), rng.choice(
            ("us-east-1", "eu-west-1"))
        recs = samples.mixed_records(rng, 1500, t, account, region, violation_rate=0.01)
        path = folder / samples.key(t, account, region, suffix=f"{i:04x}").rsplit("/", 1)[-1]
        path.write_bytes(samples.log_file(recs))
    return folder


def logs_report(out: Path) -> tuple[int, dict[str, Any]]:
    """`dr-audit logs --format json` over `logs_corpus`, without the volatile run keys."""
    from auditor.cli import main

    corpus = logs_corpus(out / "in")
    with redirect_stdout(io.StringIO()), redirect_stderr(io.StringIO()):
        code = main(["logs", str(corpus), "--output-dir", str(out / "out"), "--format", "json"])
    text = (out / "out" / "report.json").read_text(encoding="utf-8")
    # skipped files are named by their path: keep only the part inside the corpus
    doc: dict[str, Any] = json.loads(text.replace(json.dumps(str(corpus))[1:-1], "<corpus>"))
    for key in VOLATILE_LOGS_RUN_KEYS:
        doc["run"].pop(key, None)
    return code, doc


def _without_reader_counters(doc: dict[str, Any]) -> dict[str, Any]:
    """A scan's report with its log reader's record (`run.logs`) kept to what it read,
    skipped and found."""
    logs = doc.get("run", {}).get("logs")
    if isinstance(logs, dict):
        doc = {**doc, "run": {**doc["run"], "logs": {
            k: v for k, v in logs.items() if k not in VOLATILE_LOGS_RUN_KEYS}}}
    return doc


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(gzip.decompress(
        (GOLDEN / f"{name}.report.json.gz").read_bytes()))
    return data


def assert_same(name: str, code: int, doc: dict[str, Any]) -> None:
    """The report equals the recorded one; a difference names the part that changed first."""
    golden = load(name)
    doc = _without_reader_counters(doc)
    assert code == golden.pop("exit_code")
    assert doc["findings"], name  # something was judged
    for key in ("summary", "run", "applications", "frameworks"):
        assert doc.get(key) == golden.get(key), key
    by_id = {f["id"]: f for f in golden["findings"]}
    for f in doc["findings"]:
        assert f == by_id.get(f["id"]), f["id"]
    assert doc == golden


def _write(name: str, code: int, doc: dict[str, Any]) -> None:
    doc["exit_code"] = code
    text = json.dumps(doc, indent=1, sort_keys=True).encode()
    (GOLDEN / f"{name}.report.json.gz").write_bytes(gzip.compress(text, 9, mtime=0))
    print(f"{name}: {len(doc['findings'])} findings, exit {code}")


def regenerate() -> None:
    for name, path in STATE_CASES.items():
        with tempfile.TemporaryDirectory() as tmp:
            _write(name, *state_report(path, Path(tmp)))
    with tempfile.TemporaryDirectory() as tmp:
        _write("demo", *demo_report(Path(tmp)))
    with tempfile.TemporaryDirectory() as tmp:
        _write("logs", *logs_report(Path(tmp)))


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT.parent))
    regenerate()
