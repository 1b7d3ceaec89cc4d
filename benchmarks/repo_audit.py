"""`dr-audit repo` figures: a generated repository (many stacks and workflows), a 1 MiB stack
file, a billion-laughs document, and a long stack history. Prints wall times; asserts nothing.

    .venv/bin/python benchmarks/repo_audit.py [--stacks 400] [--workflows 100] [--updates 5000]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from auditor.repo import RepoOptions, audit, parse_history_arg
from auditor.repo.files import MAX_FILE_BYTES, RepoInputError, load_yaml
from drguard.settings import Settings

STACK = """encryptionsalt: v1:Ub1vTQdTWpA=:v1:dd4MUb9jBmzX/kwn:9xlAtUT3i5o4eQL/bGpMdqKcMG7sMw==
config:
  aws:region: us-east-1
  app{i}:dbPassword:
    secure: v1:x9E3h8bWjQqZ0k6V:Tmxt8Wq3wqGqC8c2s0k0Pp9eXyBdlz7Yp1Rj9Zf0uVm3aHc=
  app{i}:clusterName: ProdDatabaseCluster{i}
  app{i}:apiUrl: https://api{i}.example.com/v1
  app{i}:db:
    instanceClass: db.r6g.large
    allocatedStorage: 100
    tags: {{team: payments, costCenter: "{i}"}}
"""
WORKFLOW = """name: Deploy {i}
on: {{push: {{branches: [main]}}}}
permissions: {{contents: read, id-token: write}}
jobs:
  up:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - uses: aws-actions/configure-aws-credentials@v4
        with: {{role-to-assume: "arn:aws:iam::123456789012:role/d{i}", aws-region: us-east-1}}
      - uses: pulumi/actions@v6
        with: {{command: up, stack-name: acme/app{i}/prod}}
"""


def timed(label: str, fn) -> object:  # type: ignore[no-untyped-def]
    t = time.perf_counter()
    out = fn()
    print(f"{label}: {time.perf_counter() - t:.3f} s")
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--stacks", type=int, default=400)
    ap.add_argument("--workflows", type=int, default=100)
    ap.add_argument("--updates", type=int, default=5000)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "repo"
        for i in range(a.stacks):
            d = root / "stacks" / f"app{i}"
            d.mkdir(parents=True)
            (d / "Pulumi.yaml").write_text(f"name: app{i}\nruntime: python\n"
                                           "backend: {url: s3://acme-state}\n")
            (d / "Pulumi.prod.yaml").write_text(STACK.format(i=i))
        wf = root / ".github" / "workflows"
        wf.mkdir(parents=True)
        for i in range(a.workflows):
            (wf / f"deploy{i}.yml").write_text(WORKFLOW.format(i=i))
        env = {"ci.system": "GitHub Actions", "git.dirty": "false",
               "git.headName": "refs/heads/main", "exec.kind": "cli"}
        hist = Path(tmp) / "history.json"
        hist.write_text(json.dumps([
            {"version": n, "kind": "update", "startTime": f"2026-11-{1 + n % 28:02d}T10:00:00.000Z",
             "environment": env, "config": {}, "result": "succeeded"}
            for n in range(a.updates, 0, -1)]))
        o = RepoOptions(root, histories=[parse_history_arg(f"acme/app/prod={hist}")])
        findings, run = timed(f"audit {a.stacks} projects + {a.stacks} stacks, "
                              f"{a.workflows} workflows, {a.updates} updates",
                              lambda: audit(o, Settings()))  # type: ignore[misc]
        print(f"  findings: {len(findings)}; stack files {run['stackFiles']}, "
              f"workflows {run['workflows']}")
    lines, size, i = ["config:\n"], 8, 0
    while size < MAX_FILE_BYTES - 64:  # the largest stack file read (read_text's cap)
        line = f"  app:key{i}: value-{i}\n"
        lines.append(line)
        size, i = size + len(line), i + 1
    big = "".join(lines)
    print(f"largest stack file read: {len(big)} bytes, {i} keys")
    timed("  load_yaml", lambda: load_yaml(big))
    bomb = "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
        f"{n}: &{n} [{', '.join(['*' + p] * 9)}]\n"
        for p, n in zip("abcdefgh", "bcdefghi", strict=True))

    def refuse() -> None:
        try:
            load_yaml(bomb)
        except RepoInputError:
            return

    timed("billion laughs refused", refuse)


if __name__ == "__main__":
    main()
