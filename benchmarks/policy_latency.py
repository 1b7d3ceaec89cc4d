"""Policy-pack latency, measured the way the engine calls the pack (gRPC, separate process).

Prints, in one run:
- per-resource Analyze latency (mean, p50, p95) of the DR Guard pack and of a no-op pack with
  the same number of resource and stack policies, on a 1,000-resource stack, and their ratio;
- AnalyzeStack wall time for 1,000 and 10,000 resources, for both packs.

The stack is a real Pulumi program (benchmarks/stack_program.py, pulumi-aws resources of many
kinds, most of them not DR-related, as in real stacks) captured under mocks, replicated with
fresh URNs to reach 10,000.

    .venv/bin/python benchmarks/policy_latency.py [--resources 1000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pulumi.runtime.proto import analyzer_pb2 as pb  # noqa: E402

from policypack.checks import CHECKS, ResourceCheck  # noqa: E402
from tests.harness.analyzer import (  # noqa: E402
    PolicyPackProcess,
    analyze_request,
    stack_resource,
)
from tests.harness.capture import capture  # noqa: E402


def replicate(resources: list[dict[str, Any]], n: int) -> list[dict[str, Any]]:
    """`n` resources: copies of `resources` whose URNs (and references to them) are renamed."""
    out: list[dict[str, Any]] = []
    k = 0
    while len(out) < n:
        suffix = f"-r{k}"
        rename = {r["urn"]: r["urn"] + suffix for r in resources}
        for r in resources:
            if len(out) == n:
                break
            c = copy.deepcopy(r)
            c["urn"] = rename[r["urn"]]
            c["name"] = r["name"] + suffix
            c["dependencies"] = [rename.get(d, d) for d in r.get("dependencies", [])]
            c["propertyDependencies"] = {p: [rename.get(d, d) for d in ds]
                                         for p, ds in r.get("propertyDependencies", {}).items()}
            if c.get("parent"):
                c["parent"] = rename.get(c["parent"], c["parent"])
            out.append(c)
        k += 1
    return out


def analyze_latency(client: Any, resources: list[dict[str, Any]], rounds: int) -> list[float]:
    """Wall time of each Analyze RPC; requests are built beforehand, as the engine has them."""
    requests = [analyze_request(r) for r in resources]
    for req in requests[:50]:  # warm-up
        client.stub.Analyze(req, timeout=60)
    samples: list[float] = []
    for _ in range(rounds):
        for req in requests:
            t = time.perf_counter()
            client.stub.Analyze(req, timeout=60)
            samples.append(time.perf_counter() - t)
    return samples


def stack_time(client: Any, resources: list[dict[str, Any]], rounds: int = 3) -> float:
    """Best wall time of the AnalyzeStack RPC (request built beforehand)."""
    request = pb.AnalyzeStackRequest(resources=[stack_resource(r) for r in resources])
    client.stub.AnalyzeStack(pb.AnalyzeStackRequest(resources=request.resources[:100]),
                             timeout=600)  # warm-up
    best = float("inf")
    for _ in range(rounds):
        t = time.perf_counter()
        client.stub.AnalyzeStack(request, timeout=600)
        best = min(best, time.perf_counter() - t)
    return best


def fmt_ms(samples: list[float]) -> str:
    qs = statistics.quantiles(samples, n=20)
    return (f"mean {statistics.mean(samples) * 1e3:6.3f} ms  p50 {qs[9] * 1e3:6.3f} ms  "
            f"p95 {qs[18] * 1e3:6.3f} ms")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--resources", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()

    t = time.perf_counter()
    cap = capture(ROOT / "benchmarks" / "stack_program.py", preview=False,
                  config={"resources": str(args.resources)})
    stack_1k = replicate(list(cap.resources), args.resources)
    stack_10k = replicate(list(cap.resources), 10 * args.resources)
    print(f"captured {len(cap.resources)} resources of "
          f"{len({r['type'] for r in cap.resources})} types in {time.perf_counter() - t:.1f}s")

    n_resource = sum(isinstance(c, ResourceCheck) for c in CHECKS)
    n_stack = len(CHECKS) - n_resource + 1  # + the dr-guard-settings stack policy
    print(f"policies: {n_resource} resource + {n_stack} stack (no-op pack: the same)")

    results: dict[str, dict[str, Any]] = {}
    packs = {
        "dr-guard": PolicyPackProcess(ROOT),
        "no-op": PolicyPackProcess(ROOT / "tests" / "harness" / "noop_pack",
                                   env={"NOOP_POLICIES": str(n_resource),
                                        "NOOP_STACK_POLICIES": str(n_stack)}),
    }
    for name, proc in packs.items():
        with proc:
            client = proc.client(timeout=600)
            client.configure()
            results[name] = {
                "analyze": analyze_latency(client, stack_1k, args.rounds),
                "stack_1k": stack_time(client, stack_1k),
                "stack_10k": stack_time(client, stack_10k, rounds=2),
            }

    print(f"\nAnalyze, per resource ({len(stack_1k)} resources x {args.rounds} rounds, gRPC "
          "round trip included):")
    for name, r in results.items():
        print(f"  {name:9s} {fmt_ms(r['analyze'])}")
    ratio = statistics.mean(results["dr-guard"]["analyze"]) / statistics.mean(
        results["no-op"]["analyze"])
    print(f"  ratio dr-guard / no-op (mean): {ratio:.2f}x  (goal <= 1.5x)")
    print("\nAnalyzeStack (best of runs):")
    for size in ("stack_1k", "stack_10k"):
        n = len(stack_1k) if size == "stack_1k" else len(stack_10k)
        ours, noop = results["dr-guard"][size], results["no-op"][size]
        print(f"  {n:6d} resources: dr-guard {ours:6.3f} s   no-op {noop:6.3f} s")
    growth = results["dr-guard"]["stack_10k"] / results["dr-guard"]["stack_1k"]
    print(f"  dr-guard 10x resources -> {growth:.1f}x time (linear = 10x); "
          f"10k goal < 2 s: {'met' if results['dr-guard']['stack_10k'] < 2 else 'NOT met'}")


if __name__ == "__main__":
    main()
