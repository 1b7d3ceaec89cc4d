"""Snapshots at deploy time: RDS snapshots and snapshot copies (`sharedAccounts`, pulumi-aws v7
`aws:rds/snapshot:Snapshot`, `snapshotCopy`, `clusterSnapshot`, `clusterSnapshotCopy`) and EBS
create-volume permissions (`aws:ec2/snapshotCreateVolumePermission`, one account per resource),
and the snapshot-not-public binding.

The deploy side does not know the Organization's accounts: an account is allowed when it is
the stack's own account or in `trustedAccounts`. An account id unknown during preview is
"unknown", not a failure.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from drguard.controls import snapshots as ctl
from drguard.controls.snapshots import Snapshot, SnapshotKind
from drguard.facts import UNKNOWN

from ..adapters import Res, base, strings
from ..binding import Judged, StackCheck
from ..service import DeployService

if TYPE_CHECKING:
    from ..stack import StackModel

# type token -> (kind, property holding the snapshot identifier)
RDS_TYPES: dict[str, tuple[SnapshotKind, str]] = {
    "aws:rds/snapshot:Snapshot": ("db-snapshot", "dbSnapshotIdentifier"),
    "aws:rds/snapshotCopy:SnapshotCopy": ("db-snapshot", "targetDbSnapshotIdentifier"),
    "aws:rds/clusterSnapshot:ClusterSnapshot": ("cluster-snapshot",
                                                "dbClusterSnapshotIdentifier"),
    "aws:rds/clusterSnapshotCopy:ClusterSnapshotCopy": ("cluster-snapshot",
                                                        "targetDbClusterSnapshotIdentifier"),
}
EBS_PERMISSION = "aws:ec2/snapshotCreateVolumePermission:SnapshotCreateVolumePermission"


def snapshot(r: Res) -> Snapshot | None:
    if r.type in RDS_TYPES:
        kind, ident = RDS_TYPES[r.type]
        name = r.get(ident)
        s = Snapshot(**base(r, name if isinstance(name, str) else r.name), kind=kind,
                     shared_with=strings(r.get("sharedAccounts")),
                     props={"shared_with": "sharedAccounts"})
        s.evidence["snapshotId"] = s.name
        return s
    if r.type == EBS_PERMISSION:
        sid = r.get("snapshotId")
        account = r.get("accountId")
        s = Snapshot(**base(r, sid if isinstance(sid, str) else r.name), kind="ebs-snapshot",
                     shared_with=UNKNOWN if account is UNKNOWN else
                     [account] if isinstance(account, str) else [],
                     props={"shared_with": f"SnapshotCreateVolumePermission {r.name!r} "
                                           "accountId"})
        s.evidence["snapshotId"] = s.name
        return s
    return None


def _not_public(model: StackModel, params: dict[str, Any]) -> Iterable[Judged]:
    for s in model.snapshots:
        if s.account is None:
            s.account = model.account  # the stack's own account may restore its snapshots
        yield s, ctl.not_public(s, params)


SERVICE = DeployService(
    facts={t: ("snapshots", snapshot) for t in (*RDS_TYPES, EBS_PERMISSION)},
    checks=(StackCheck(ctl.NOT_PUBLIC, _not_public),),
)
