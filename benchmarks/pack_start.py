"""Policy pack time-to-serve, as a ratio to a no-op pack with the same number of policies.

Runs what the Pulumi CLI runs for a Python pack, `python -u -m pulumi.policy <engine> <pack>`
in the pack's directory, and times process start to the port line the pack prints (the CLI
connects as soon as it reads it). The no-op pack (tests/harness/noop_pack) is given the same
number of resource and stack policies as DR Guard's pack; the two are interleaved round by
round so a busy machine slows both alike, and the figure is the ratio of the medians.

    python benchmarks/pack_start.py               # 15 rounds
    python benchmarks/pack_start.py --rounds 40
    python benchmarks/pack_start.py --importtime  # also: the slowest imports of our pack
    python benchmarks/pack_start.py --also ../main  # and another checkout's pack, same rounds
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from _bytecode import compile_checkout  # benchmarks/, next to this script

ROOT = Path(__file__).resolve().parents[1]
NOOP = ROOT / "tests" / "harness" / "noop_pack"


def policy_counts() -> tuple[int, int]:
    """(resource policies, stack policies) of DR Guard's pack."""
    code = ("from policypack.policies import build; from pulumi_policy import "
            "StackValidationPolicy as S; ps = build(); "
            "print(len(ps) - sum(isinstance(p, S) for p in ps), "
            "sum(isinstance(p, S) for p in ps))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, check=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    n_resource, n_stack = out.stdout.split()
    return int(n_resource), int(n_stack)


def _env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PULUMI_")}
    env.update({"PULUMI_ORGANIZATION": "organization", "PULUMI_PROJECT": "bench",
                "PULUMI_STACK": "dev", "PULUMI_DRY_RUN": "true", **(extra or {})})
    env.pop("PYTHONPATH", None)  # the pack puts its own directory on the path
    return env


def time_to_port(pack: Path, env: dict[str, str]) -> float:
    """Seconds from launching the pack to the port it prints on its first line."""
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-u", "-m", "pulumi.policy", "127.0.0.1:1", "."],
                            cwd=pack, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        elapsed = time.perf_counter() - t0
    finally:
        proc.kill()
        proc.wait()
    if not line.strip().isdigit():
        sys.exit(f"{pack}: no port printed (got {line!r})")
    return elapsed


def importtime(pack: Path, env: dict[str, str], top: int = 15) -> None:
    """The slowest imports (cumulative) of one start of `pack` (python -X importtime)."""
    proc = subprocess.Popen([sys.executable, "-X", "importtime", "-u", "-m", "pulumi.policy",
                             "127.0.0.1:1", "."], cwd=pack, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    proc.stdout.readline()
    proc.kill()
    _, err = proc.communicate()
    rows = []
    for line in err.splitlines():
        if line.startswith("import time:") and "|" in line:
            _, cum, name = (x.strip() for x in line.removeprefix("import time:").split("|"))
            if cum.isdigit():
                rows.append((int(cum), name))
    print(f"slowest imports (cumulative ms), {pack.name}:")
    for cum, name in sorted(rows, reverse=True)[:top]:
        print(f"  {cum / 1000:7.1f}  {name}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--full", action="store_true", help="more rounds (40)")
    ap.add_argument("--importtime", action="store_true")
    ap.add_argument("--also", type=Path, action="append", default=[], metavar="CHECKOUT",
                    help="also time the pack of another checkout (e.g. the code before a "
                         "change), in the same rounds")
    args = ap.parse_args()
    if args.full:
        args.rounds = 40
    n_resource, n_stack = policy_counts()
    ours_env = _env()
    noop_env = _env({"NOOP_POLICIES": str(n_resource), "NOOP_STACK_POLICIES": str(n_stack)})
    cases = {"dr-guard pack": (ROOT, ours_env), "no-op pack, same policies": (NOOP, noop_env)}
    for other in args.also:
        cases[f"dr-guard pack of {other}"] = (other.resolve(), ours_env)
    for pack, _ in cases.values():
        compile_checkout(pack)
    for pack, env in cases.values():  # page cache warm
        time_to_port(pack, env)
    times: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(args.rounds):
        for name, (pack, env) in cases.items():
            times[name].append(time_to_port(pack, env))
    base = statistics.median(times["no-op pack, same policies"])
    print(f"time to serve (start -> port printed), {n_resource} resource + {n_stack} stack "
          f"policies; median of {args.rounds} interleaved rounds; {os.cpu_count()} cores")
    for name, ts in times.items():
        med = statistics.median(ts)
        print(f"  {name:<40} {med * 1e3:7.1f} ms  {med / base:5.2f}x  "
              f"(min {min(ts) * 1e3:.0f}, max {max(ts) * 1e3:.0f})")
    if args.importtime:
        importtime(ROOT, ours_env)


if __name__ == "__main__":
    main()
