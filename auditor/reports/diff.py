"""Compare two findings lists (a previous report.json and this run) by the stable finding id."""

from __future__ import annotations

from typing import Any

from drguard.findings import Finding

from ._common import SEVERITIES_DESC, sorted_findings


def diff(baseline: list[Finding], current: list[Finding]) -> dict[str, Any]:
    """New gaps, resolved gaps and still-failing gaps, keyed by the finding id (control,
    resource, account, region: drguard.findings.finding_id). Both lists are merged findings.

    A gap is an unwaived `fail`. `new`: failing now, not failing (or absent) before.
    `resolved`: failing before, not failing now; each entry carries `now`, the current status
    or `"absent"` (not reported this run). `still_failing`: failing in both (current finding).
    All lists hold finding dicts (Finding.to_dict()), sorted like the reports.
    """
    before = {f.key(): f for f in baseline}
    now = {f.key(): f for f in current}
    new = [f for k, f in now.items() if f.is_gap and not (k in before and before[k].is_gap)]
    still = [f for k, f in now.items() if f.is_gap and k in before and before[k].is_gap]
    resolved = [f for k, f in before.items() if f.is_gap and not (k in now and now[k].is_gap)]
    resolved_rows = []
    for f in sorted_findings(resolved):
        row = f.to_dict()
        row["now"] = now[f.key()].status if f.key() in now else "absent"
        resolved_rows.append(row)
    new_sorted = sorted_findings(new)
    return {
        "counts": {"new": len(new), "resolved": len(resolved), "still_failing": len(still)},
        "new_by_severity": {s: sum(1 for f in new if f.severity == s) for s in SEVERITIES_DESC},
        "new": [f.to_dict() for f in new_sorted],
        "resolved": resolved_rows,
        "still_failing": [f.to_dict() for f in sorted_findings(still)],
    }
