"""Amazon Redshift: provisioned clusters keep automated snapshots long enough and take a final
snapshot on delete (redshift-snapshot-retention); a cluster is stateful for
stateful-resource-protect."""

from __future__ import annotations

import json
import shlex
from typing import Any

from .. import typed
from ..control import DESTROYABLE, ConfigMapping, Control, days
from ..detections import Context, Params, Record, is_true, named_arn, on, request_parameters, to_int
from ..facts import UNKNOWN, OnDelete, Resource, final_snapshot_on_delete
from ..records import record
from ..verdict import Remediation, Verdict, plural_days

REDSHIFT = "redshift.amazonaws.com"
SNAPSHOT_RETENTION = "redshift-snapshot-retention"
AWS_DEFAULT_RETENTION = 1  # days, when automatedSnapshotRetentionPeriod is unset


@record
class Warehouse(Resource):
    """A provisioned Redshift cluster."""

    retention: Any = None  # automated snapshot retention, days; None = unset (AWS default 1)
    skip_final_snapshot: Any = None  # effective value, provider default (false) resolved
    final_snapshot_identifier: Any = None
    final_snapshot_applies: bool = True  # False where delete-time settings are not visible

    def stateful(self) -> bool:
        return True

    def on_delete(self, replace: bool) -> OnDelete:
        """A named final snapshot outlives the cluster; its automated snapshots do not."""
        d = OnDelete("Redshift cluster", evidence={
            "skipFinalSnapshot": self.skip_final_snapshot,
            "finalSnapshotIdentifier": self.final_snapshot_identifier})
        if self.final_snapshot_applies:
            final_snapshot_on_delete(d, self.skip_final_snapshot,
                                     self.final_snapshot_identifier, replace)
        d.lost.append("Redshift deletes the cluster's automated snapshots with it")
        return d


# ---- remediation --------------------------------------------------------------------------

def fix(wh: Warehouse, minimum: int) -> Remediation:
    name = wh.name if isinstance(wh.name, str) else "warehouse"
    keep = min(max(minimum, 1), 35)
    return Remediation(
        f"Keep automated snapshots of Redshift cluster {name} for {plural_days(keep)} (AWS "
        "allows up to 35) and take a final snapshot when it is deleted.",
        f"aws.redshift.Cluster({json.dumps(name)}, ...,\n"
        f"    automated_snapshot_retention_period={keep},\n"
        f"    skip_final_snapshot=False, final_snapshot_identifier=\"{name}-final\")",
        f"aws redshift modify-cluster --cluster-identifier {shlex.quote(name)} "
        f"--automated-snapshot-retention-period {keep}")


# ---- rule ---------------------------------------------------------------------------------

def snapshot_retention(wh: Warehouse, params: dict[str, Any]) -> Verdict | None:
    """Retention >= minRetentionDays (unset: 1 day) and, where visible, a final snapshot on
    delete (skipFinalSnapshot false with a finalSnapshotIdentifier)."""
    minimum = params["minRetentionDays"]
    label = f"Redshift cluster {wh.name!r}"
    prop = wh.prop("retention", "automatedSnapshotRetentionPeriod")
    skip_p = wh.prop("skip_final_snapshot", "skipFinalSnapshot")
    ident_p = wh.prop("final_snapshot_identifier", "finalSnapshotIdentifier")
    evidence = {"automatedSnapshotRetentionPeriod": wh.retention, "minRetentionDays": minimum}
    if wh.final_snapshot_applies:
        evidence |= {"skipFinalSnapshot": wh.skip_final_snapshot,
                     "finalSnapshotIdentifier": wh.final_snapshot_identifier}
    if wh.retention is not UNKNOWN:
        bad = typed.wrong(wh, prop, wh.retention, "int")
        if bad is not None:
            return bad
    problems: list[str] = []
    if wh.retention is not UNKNOWN:
        effective = AWS_DEFAULT_RETENTION if wh.retention is None else int(wh.retention)
        evidence["effectiveDays"] = effective
        if effective < minimum:
            why = (f"{prop} is unset, so AWS keeps automated snapshots for "
                   f"{AWS_DEFAULT_RETENTION} day" if wh.retention is None
                   else f"{prop} is {effective} day{'s' if effective != 1 else ''}")
            if effective == 0:
                why += " (automated snapshots are disabled)"
            problems.append(f"{why}, below the minimum of {minimum}")
    if wh.final_snapshot_applies:
        if wh.skip_final_snapshot is True:
            problems.append(f"{skip_p} is true, so deleting it takes no final snapshot")
        elif wh.skip_final_snapshot is False and wh.final_snapshot_identifier is None:
            problems.append(f"{ident_p} is unset, so a delete cannot take the final snapshot")
    if problems:
        return Verdict("fail", f"{label} can lose its recovery points: " + "; ".join(problems)
                       + ".", evidence, fix(wh, minimum))
    pending = [wh.retention]
    if wh.final_snapshot_applies:
        pending += [wh.skip_final_snapshot, wh.final_snapshot_identifier]
    if any(v is UNKNOWN for v in pending):
        return Verdict.unknown(f"The snapshot settings of {label}", **evidence)
    tail = " and takes a final snapshot on delete" if wh.final_snapshot_applies else ""
    return Verdict("pass", f"{label} keeps automated snapshots for {evidence['effectiveDays']} "
                           f"days{tail}.", evidence)


# ---- logs side ----------------------------------------------------------------------------

def cluster(record: dict[str, Any]) -> str:
    return named_arn(record, "redshift", "cluster",
                     request_parameters(record).get("clusterIdentifier"))


def snapshot(record: dict[str, Any]) -> str:
    rp = request_parameters(record)
    owner = rp.get("snapshotClusterIdentifier")
    snap = rp.get("snapshotIdentifier")
    return named_arn(record, "redshift", "snapshot",
                     f"{owner}/{snap}" if owner and snap else snap)


def retention_below_minimum(rp: Record, record: Record, params: Params, ctx: Context) -> bool:
    days_ = to_int(rp.get("automatedSnapshotRetentionPeriod"))
    return days_ is not None and days_ < params["minRetentionDays"]


def skips_final_snapshot(rp: Record, record: Record, params: Params, ctx: Context) -> bool:
    return is_true(rp.get("skipFinalClusterSnapshot"))


CONTROLS: tuple[Control, ...] = (
    Control(
        id=SNAPSHOT_RETENTION,
        gap=(
            "Snapshots kept {effectiveDays|day}; needs {minRetentionDays}",
            "Snapshots not kept long enough",
        ),
        why=("Automated snapshots are the restore points of the warehouse; a delete without a "
            "final snapshot loses the data."),
        console=(
            "Redshift console: Clusters, select the cluster, Actions, Modify (Backup).",
            "Set Automated snapshot retention period to at least minRetentionDays days and save.",
            "When deleting it, keep Create final snapshot ticked.",
        ),
        title="Redshift automated snapshots are kept long enough",
        severity="high",
        exposure=DESTROYABLE,
        tier=1,
        description="Redshift clusters keep automated snapshots for at least minRetentionDays "
                    "days (the service default is 1) and take a final snapshot when deleted.",
        remediation="Set automatedSnapshotRetentionPeriod to at least minRetentionDays (max "
                    "35), and skipFinalSnapshot false with a finalSnapshotIdentifier.",
        params=(days("minRetentionDays", 7, "Minimum automated snapshot retention, in days.",
                     maximum=35),),
        mapping=ConfigMapping(("REDSHIFT_BACKUP_ENABLED",), ("Redshift.3",)),
        detections=(
            on(REDSHIFT, "ModifyCluster", when=retention_below_minimum, resource=cluster,
               message="{principal} set automatedSnapshotRetentionPeriod of the Redshift "
                       "cluster {name} to {rp[automatedSnapshotRetentionPeriod]} ({event}), "
                       "below minRetentionDays ({params[minRetentionDays]}): older automated "
                       "snapshots are dropped."),
            on(REDSHIFT, "DeleteCluster", when=skips_final_snapshot, resource=cluster,
               message="{principal} deleted the Redshift cluster {name} with "
                       "skipFinalClusterSnapshot=true ({event}): no final snapshot."),
            on(REDSHIFT, "DeleteClusterSnapshot", resource=snapshot,
               message="{principal} deleted the Redshift snapshot {name} ({event})."),
        ),
        fix=Remediation(
            "Keep automated snapshots for at least minRetentionDays days and take a final "
            "snapshot on delete.",
            'aws.redshift.Cluster("warehouse", ...,\n    automated_snapshot_retention_period=7,\n'
            '    skip_final_snapshot=False, final_snapshot_identifier="warehouse-final")',
            "aws redshift modify-cluster --cluster-identifier warehouse "
            "--automated-snapshot-retention-period 7"),
    ),
)
