"""EBS volumes are backed up (DLM policy, AWS Backup selection or a recent snapshot)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..control import DESTROYABLE, Control, hours
from ..facts import UNKNOWN, Resource
from ..verdict import Verdict


@dataclass
class Volume(Resource):
    """An EBS volume and how it is backed up."""

    covered_by: Any = None  # list of "dlm:<id>" / "backup:<plan>" or None
    newest_snapshot_age_hours: Any = None


# ---- rules --------------------------------------------------------------------------------

def ebs(v: Volume, params: dict[str, Any]) -> Verdict:
    max_age = params["maxSnapshotAgeHours"]
    ev = {"coveredBy": v.covered_by, "newestSnapshotAgeHours": v.newest_snapshot_age_hours,
          "maxSnapshotAgeHours": max_age}
    if v.covered_by is UNKNOWN:
        return Verdict.unknown(f"The backup coverage of volume {v.name!r}", **ev)
    if v.covered_by:
        return Verdict.ok(f"Volume {v.name!r} is covered by {', '.join(v.covered_by)}.", **ev)
    age = v.newest_snapshot_age_hours
    if age is not None and age is not UNKNOWN and age <= max_age:
        return Verdict.ok(f"Volume {v.name!r} has a snapshot {age:.1f} h old.", **ev)
    return Verdict.fail(f"EBS volume {v.name!r} is not backed up: no DLM policy or AWS Backup "
                        f"selection covers it and no snapshot is younger than {max_age} h. Fix: "
                        "target it with an aws.dlm.LifecyclePolicy or AWS Backup selection.",
                        **ev)


CONTROLS: tuple[Control, ...] = (
    Control(
        id="ebs-snapshot-coverage",
        title="EBS volumes are backed up",
        severity="medium",
        exposure=DESTROYABLE,
        tier=3,
        description="EBS volumes are covered by a DLM policy or AWS Backup selection, or have "
                    "a recent snapshot.",
        remediation="Cover the volume with an aws.dlm.LifecyclePolicy or an AWS Backup "
                    "selection.",
        params=(
            hours("maxSnapshotAgeHours", 26,
                  "A snapshot younger than this counts as coverage."),
        ),
        sources=frozenset({"deploy", "state", "live"}),
    ),
)
