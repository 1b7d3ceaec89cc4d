"""Remediate latency, measured the way the engine calls the pack (gRPC, separate process).

The engine calls Remediate once per resource, before Analyze. Prints the per-resource
Remediate latency (mean, p50, p95) of:
- the DR Guard pack with every policy at `remediate` that may be (`all`, the advisory controls
  it cannot remediate left advisory, as the pack requires), on a typical stack
  (benchmarks/stack_program.py: mostly resources no DR control remediates) and on DR
  resources that every remediation rewrites (tests/test_remediate.py `weak`: RDS, Aurora,
  DocumentDB, Neptune, Redshift, DynamoDB, backup buckets);
- the same pack at its default levels (nothing at remediate: the call returns at once);
- a no-op pack with the same number of resource policies, all at `remediate` (the SDK's own
  Remediate: one not-applicable entry per policy), as the baseline;
and the ratio DR Guard / no-op on each stack.

    .venv/bin/python benchmarks/remediate_latency.py [--resources 1000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.policy_latency import fmt_ms, replicate  # noqa: E402
from policypack.remediate import fixes  # noqa: E402
from tests.harness.analyzer import PolicyPackProcess, analyze_request  # noqa: E402
from tests.harness.capture import capture  # noqa: E402

SECRETS = {"config": {"dbPassword": "bench-password-1"}, "secrets": ["dbPassword"]}


def remediate_latency(client: Any, resources: list[dict[str, Any]],
                      rounds: int) -> tuple[list[float], int]:
    """Wall time of each Remediate RPC (requests built beforehand, as the engine has them),
    and how many responses carried new properties."""
    requests = [analyze_request(r) for r in resources]
    for req in requests[:50]:  # warm-up
        client.stub.Remediate(req, timeout=60)
    samples: list[float] = []
    changed = 0
    for _ in range(rounds):
        for req in requests:
            t = time.perf_counter()
            resp = client.stub.Remediate(req, timeout=60)
            samples.append(time.perf_counter() - t)
            changed += any(r.HasField("properties") for r in resp.remediations)
    return samples, changed // rounds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--resources", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()

    t = time.perf_counter()
    typical = capture(ROOT / "benchmarks" / "stack_program.py", preview=False,
                      config={"resources": str(args.resources)})
    weak = capture("tests.test_remediate:weak", preview=True, **SECRETS)
    stacks = {
        "typical": replicate(list(typical.resources), args.resources),
        "dr": replicate([r for r in weak.resources if r["custom"]
                         and not r["type"].startswith("pulumi:")], args.resources // 4),
    }
    print(f"captured {len(typical.resources)} + {len(weak.resources)} resources in "
          f"{time.perf_counter() - t:.1f}s")

    probe = PolicyPackProcess(ROOT)
    with probe:
        info = probe.client().get_analyzer_info()
    n_resource = sum(p.policy_type == "resource" for p in info.policies)
    n_stack = len(info.policies) - n_resource
    print(f"DR Guard: {n_resource} resource + {n_stack} stack policies; no-op pack the same, "
          "every policy at remediate")

    runs = [
        ("dr-guard remediate", ROOT, None,
         {"all": "remediate", **{p.name: "advisory" for p in info.policies
                                 if p.enforcement_level == "advisory"
                                 and p.name not in fixes()}}),
        ("dr-guard default", ROOT, None, None),
        ("no-op remediate", ROOT / "tests" / "harness" / "noop_pack",
         {"NOOP_POLICIES": str(n_resource), "NOOP_STACK_POLICIES": str(n_stack)},
         {"all": "remediate"}),
    ]
    results: dict[tuple[str, str], tuple[list[float], int]] = {}
    for name, pack, env, cfg in runs:
        with PolicyPackProcess(pack, env=env) as proc:
            client = proc.client(timeout=600)
            client.configure(cfg)
            for stack, resources in stacks.items():
                results[(name, stack)] = remediate_latency(client, resources, args.rounds)

    for stack, resources in stacks.items():
        print(f"\nRemediate, per resource, {stack} stack ({len(resources)} resources x "
              f"{args.rounds} rounds, gRPC round trip included):")
        for name, *_ in runs:
            samples, changed = results[(name, stack)]
            print(f"  {name:19s} {fmt_ms(samples)}  ({changed} resources rewritten)")
        ours, noop = results[("dr-guard remediate", stack)][0], \
            results[("no-op remediate", stack)][0]
        print(f"  ratio dr-guard remediate / no-op remediate: mean "
              f"{statistics.mean(ours) / statistics.mean(noop):.2f}x, p50 "
              f"{statistics.median(ours) / statistics.median(noop):.2f}x (on a shared machine "
              "the p50 is the steadier figure)")


if __name__ == "__main__":
    main()
