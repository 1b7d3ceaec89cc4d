"""Start-up cost of `dr-audit` commands, as a ratio to a bare `python -c pass` in the same run.

Each command runs in a fresh interpreter, interleaved with the bare one (round-robin, so a busy
shared machine slows both alike); the figure is the median of the rounds.

    python benchmarks/startup.py             # 15 rounds
    python benchmarks/startup.py --rounds 40
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _bytecode import compile_checkout  # benchmarks/, next to this script

ROOT = Path(__file__).resolve().parents[1]
STACK = "urn:pulumi:prod::app"


def _small_export(path: Path) -> Path:
    """A 3-resource export (stack, bucket, database)."""
    def res(type_: str, name: str, outputs: dict) -> dict:
        return {"urn": f"{STACK}::{type_}::{name}", "custom": True, "id": name, "type": type_,
                "outputs": outputs, "inputs": outputs}

    path.write_text(json.dumps({"version": 3, "deployment": {"resources": [
        {"urn": f"{STACK}::pulumi:pulumi:Stack::app-prod", "custom": False,
         "type": "pulumi:pulumi:Stack"},
        res("aws:s3/bucket:Bucket", "b", {"bucket": "b", "tags": {"dr:backup": "true"}}),
        res("aws:rds/instance:Instance", "db", {"identifier": "db",
                                                "backupRetentionPeriod": 1})]}}))
    return path


def _time(cmd: list[str], env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   check=False)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=15,
                    help="rounds of each command, interleaved (default 15; --full: 50)")
    ap.add_argument("--full", action="store_true", help="more rounds (50)")
    args = ap.parse_args()
    rounds = 50 if args.full else args.rounds
    compile_checkout(ROOT)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    tmp = Path(tempfile.mkdtemp(prefix="dr-guard-startup-"))
    export = _small_export(tmp / "state.json")
    cli = [sys.executable, "-m", "auditor"]
    out = ["--output-dir", str(tmp / "out")]
    cases = {
        "python -c pass (floor)": [sys.executable, "-c", "pass"],
        "dr-audit --version": [*cli, "--version"],
        "dr-audit state --help": [*cli, "state", "--help"],
        "dr-audit plan --help": [*cli, "plan", "--help"],
        "dr-audit repo --help": [*cli, "repo", "--help"],
        "dr-audit state (json)": [*cli, "state", "--file", str(export), *out, "--format", "json"],
        "dr-audit state (default formats)": [*cli, "state", "--file", str(export), *out],
        "dr-audit scan --help": [*cli, "scan", "--help"],
    }
    times: dict[str, list[float]] = {name: [] for name in cases}
    for cmd in cases.values():  # warm the page cache and bytecode once
        _time(cmd, env)
    for _ in range(rounds):
        for name, cmd in cases.items():
            times[name].append(_time(cmd, env))
    floor = statistics.median(times["python -c pass (floor)"])
    print(f"{'command':<36} {'median ms':>10} {'x floor':>8}   ({rounds} rounds, interleaved; "
          f"{os.cpu_count()} cores)")
    for name, ts in times.items():
        med = statistics.median(ts)
        print(f"{name:<36} {med * 1e3:10.1f} {med / floor:8.1f}")


if __name__ == "__main__":
    main()
