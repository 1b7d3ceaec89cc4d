"""Amazon Redshift at deploy time: provisioned clusters (pulumi-aws, aws-native), the
redshift-snapshot-retention binding and its remediation; clusters are stateful."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from drguard.controls import redshift as ctl
from drguard.controls.redshift import Warehouse

from ..adapters import Res, base
from ..binding import ResourceCheck
from ..fixers import Fixer, identifier, snapshot_identifier, true, untouchable
from ..service import DeployService
from ..wire import boolean, num

CLUSTER = "aws:redshift/cluster:Cluster"
NATIVE_CLUSTER = "aws-native:redshift:Cluster"
CLUSTER_TYPES = frozenset({CLUSTER, NATIVE_CLUSTER})


def warehouse(r: Res) -> Warehouse | None:
    if r.type == CLUSTER:
        skip = boolean(r.get("skipFinalSnapshot"))
        wh = Warehouse(**base(r, r.get("clusterIdentifier")),
                       retention=num(r.get("automatedSnapshotRetentionPeriod")),
                       # pulumi-aws default: skipFinalSnapshot false
                       skip_final_snapshot=False if skip is None else skip,
                       final_snapshot_identifier=r.get("finalSnapshotIdentifier"))
        if skip is None:
            wh.evidence["defaulted"] = ["skip_final_snapshot"]
        return wh
    if r.type == NATIVE_CLUSTER:
        # Cloud Control deletes without a final-snapshot switch: retention only.
        return Warehouse(**base(r, r.get("clusterIdentifier")),
                         retention=num(r.get("automatedSnapshotRetentionPeriod")),
                         final_snapshot_applies=False)
    return None


# ---- remediation (fixes built from policypack/fixers.py, served by policypack/remediate.py)

def fix_redshift(t: Any, params: Mapping[str, Any]) -> None:
    t.raise_to("automatedSnapshotRetentionPeriod", int(params["minRetentionDays"]),
               f"minimum {params['minRetentionDays']} days")
    if t.type != CLUSTER:
        return
    skip, ident = t.value("skipFinalSnapshot"), t.value("finalSnapshotIdentifier")
    if untouchable(skip) or untouchable(ident):
        return
    if true(skip):
        t.set("skipFinalSnapshot", False, "a delete leaves a final snapshot")
    if not (isinstance(ident, str) and ident):
        t.set("finalSnapshotIdentifier", snapshot_identifier(identifier(t, "clusterIdentifier")),
              "the final snapshot needs a name")


SERVICE = DeployService(
    facts={t: ("warehouses", warehouse) for t in CLUSTER_TYPES},
    stateful=("warehouses",),
    checks=(ResourceCheck(ctl.SNAPSHOT_RETENTION, CLUSTER_TYPES, warehouse,
                          ctl.snapshot_retention),),
    remediations=(Fixer(ctl.SNAPSHOT_RETENTION, CLUSTER_TYPES, fix_redshift),),
)
