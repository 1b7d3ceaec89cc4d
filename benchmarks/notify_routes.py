"""`notify.routes`: cutting a large report into one document per owner, before sending.

Builds a report.json document of FINDINGS findings spread over OWNERS owners (a tenth with no
owner), with a baseline diff, routes every owner to a target plus a --notify default, and times
auditor.notify.plan (every part's findings, summary and diff). The floor is the summary of the
whole report computed once (what the report itself already costs), so the ratio says what
routing adds. Nothing is sent.

    python benchmarks/notify_routes.py                      # 100,000 findings, 20 owners
    python benchmarks/notify_routes.py --findings 20000 --owners 200
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from auditor import notify
from auditor.reports._common import build_summary
from drguard.findings import Finding

CONTROLS = ("backup-bucket-versioning", "rds-deletion-protection", "dynamodb-pitr")
SEVERITIES = ("critical", "high", "medium", "low")


def report(n: int, owners: int) -> dict[str, Any]:
    findings = []
    for i in range(n):
        owner = None if i % 10 == 0 else f"team-{i % owners:03d}"
        findings.append({
            "id": f"drg-{i:08x}", "control": CONTROLS[i % 3], "severity": SEVERITIES[i % 4],
            "status": "fail" if i % 3 else "pass", "source": "live",
            "account": "123456789012", "region": "us-east-1",
            "resource": f"arn:aws:s3:::bucket-{i}", "message": "m", "owner": owner})
    gaps = [f for f in findings if f["status"] == "fail"]
    new, still = gaps[: len(gaps) // 10], gaps[len(gaps) // 10:]
    diff = {"counts": {"new": len(new), "resolved": 0, "still_failing": len(still)},
            "new_by_severity": {s: sum(1 for f in new if f["severity"] == s)
                                for s in SEVERITIES},
            "new": new, "resolved": [], "still_failing": still}
    run = {"fail_on": "high", "accounts": ["123456789012"]}
    return {"run": run, "summary": {"gaps": len(gaps), "fail_on": "high", "diff": diff},
            "findings": findings}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--findings", type=int, default=100_000)
    ap.add_argument("--owners", type=int, default=20)
    args = ap.parse_args()
    doc = report(args.findings, args.owners)
    default = [notify.Target("slack", "https://hooks.example/services/T/B/x", "slack:<webhook>")]
    routes = [(f"team-{i:03d}", notify.Target("sns", f"arn:aws:sns:us-east-1:123456789012:t{i}",
                                             f"sns:t{i}")) for i in range(args.owners)]
    t0 = time.perf_counter()
    build_summary([Finding.from_dict(f) for f in doc["findings"]], doc["summary"]["diff"],
                  fail_on="high", run=doc["run"])
    floor = time.perf_counter() - t0
    t0 = time.perf_counter()
    parts = notify.plan(doc, routes, default, 1)
    took = time.perf_counter() - t0
    assert sum(len(p[2]["findings"]) for p in parts) == args.findings
    print(f"findings {args.findings:,}, owners {args.owners} (+ the --notify part): "
          f"{len(parts)} parts")
    print(f"  plan (split, summaries, diffs): {took:.3f} s")
    print(f"  floor (one summary of the whole report): {floor:.3f} s")
    print(f"  ratio: {took / floor:.2f}x")


if __name__ == "__main__":
    main()
