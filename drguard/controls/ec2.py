"""EBS volumes are backed up (DLM policy, AWS Backup selection or a recent snapshot)."""

from __future__ import annotations

import shlex
from typing import Any

from ..control import DESTROYABLE, Control, hours
from ..facts import UNKNOWN, Resource
from ..records import record
from ..verdict import Remediation, Verdict


@record
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
    name = v.name if isinstance(v.name, str) else "vol-..."
    return Verdict("fail", f"EBS volume {v.name!r} is not backed up: no DLM policy or AWS Backup "
                           f"selection covers it and no snapshot is younger than {max_age} h.",
                   ev, Remediation(
                       f"Back up volume {name} daily: tag it for a Data Lifecycle Manager policy "
                       "(or an AWS Backup selection), and take a snapshot now.",
                       "aws.dlm.LifecyclePolicy(\"daily-ebs\", description=\"daily EBS "
                       "snapshots\",\n    execution_role_arn=dlm_role.arn, state=\"ENABLED\",\n"
                       "    policy_details={\"resource_types\": [\"VOLUME\"],\n"
                       "        \"target_tags\": {\"dr:backup\": \"daily\"},\n"
                       "        \"schedules\": [{\"name\": \"daily\", \"create_rule\": "
                       "{\"interval\": 24},\n"
                       "                       \"retain_rule\": {\"count\": 14}}]})\n"
                       "# and tags={\"dr:backup\": \"daily\"} on the volume",
                       f"aws ec2 create-tags --resources {shlex.quote(name)} --tags "
                       "Key=dr:backup,Value=daily && \\\n"
                       f"aws ec2 create-snapshot --volume-id {shlex.quote(name)} "
                       "--description 'dr-guard: first backup'"))


CONTROLS: tuple[Control, ...] = (
    Control(
        id="ebs-snapshot-coverage",
        gap=("Volume not backed up within {maxSnapshotAgeHours} h", "Volume not backed up"),
        why="A volume no snapshot policy covers has no recovery point if it fails or is deleted.",
        console=(
            "EC2 console: Lifecycle Manager, Create lifecycle policy (EBS snapshot policy) "
            "targeting the volume's tags.",
            "Or AWS Backup console: add the volume to a backup plan's resource assignment.",
        ),
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
