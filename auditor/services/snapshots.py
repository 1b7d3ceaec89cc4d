"""Snapshots, live: who may restore the account's manual RDS instance and cluster snapshots and
its EBS snapshots (snapshot-not-public).

No listing of its own: the RDS step already lists the region's snapshots (DescribeDBSnapshots,
DescribeDBClusterSnapshots: the account's own, automated and manual) and the EC2 step the
account's own EBS snapshots (DescribeSnapshots, owner self). This phase asks only for the
sharing attributes: DescribeDBSnapshotAttributes / DescribeDBClusterSnapshotAttributes for each
manual snapshot (automated ones cannot be shared) and DescribeSnapshotAttribute
(createVolumePermission) for each EBS snapshot.
"""

from __future__ import annotations

from dataclasses import field
from typing import TYPE_CHECKING, Any

from drguard.controls import snapshots as ctl
from drguard.controls.snapshots import PUBLIC, Snapshot, SnapshotKind
from drguard.facts import UNKNOWN
from drguard.records import record

from ..collectors import UNIT_ERRORS, Errors, ReadError, guarded
from ..live import AccountScan, Live, LiveService, Phase, Read, ScanContext

if TYPE_CHECKING:
    from ..aws import Account

_TYPES = {"db-snapshot": "AWS::RDS::DBSnapshot", "cluster-snapshot": "AWS::RDS::DBClusterSnapshot",
          "ebs-snapshot": "AWS::EC2::Snapshot"}


@record
class SnapshotRegion:
    """One region's snapshots and their sharing, and what could not be read."""

    snapshots: list[Snapshot] = field(default_factory=list)
    errors: Errors = field(default_factory=dict)  # per snapshot: "attr:<arn>"


def rds_shared_with(resp: Any, cluster: bool) -> Any:
    """The `restore` attribute values of a Describe(DB|DBCluster)SnapshotAttributes reply."""
    if resp is UNKNOWN:
        return UNKNOWN
    result = resp.get("DBClusterSnapshotAttributesResult" if cluster
                      else "DBSnapshotAttributesResult") or {}
    attrs = result.get("DBClusterSnapshotAttributes" if cluster else "DBSnapshotAttributes")
    return [str(v) for a in attrs or () if a.get("AttributeName") == "restore"
            for v in a.get("AttributeValues") or ()]


def ebs_shared_with(resp: Any) -> Any:
    if resp is UNKNOWN:
        return UNKNOWN
    return [PUBLIC if p.get("Group") == "all" else str(p.get("UserId"))
            for p in resp.get("CreateVolumePermissions") or ()
            if p.get("Group") == "all" or p.get("UserId")]


def collect(account: Account, region: str, rds_snaps: Any, ebs_snaps: Any,
            org: frozenset[str] | None) -> SnapshotRegion:
    """The sharing attribute of each manual RDS snapshot and each own EBS snapshot listed by
    the RDS and EC2 steps (UNKNOWN listings are skipped; the binding reports them)."""
    out = SnapshotRegion()
    if rds_snaps is not UNKNOWN and rds_snaps:
        rds = account.client("rds", region)
        for s in rds_snaps:
            if s.get("snapshot_type") != "manual" or not s.get("snapshot_id"):
                continue
            cluster = s["kind"] == "cluster"
            sid, arn = s["snapshot_id"], s.get("arn") or ""
            op = ("rds:DescribeDBClusterSnapshotAttributes" if cluster
                  else "rds:DescribeDBSnapshotAttributes")
            resp = guarded(out.errors, f"attr:{arn}", op, (
                lambda i=sid: rds.describe_db_cluster_snapshot_attributes(
                    DBClusterSnapshotIdentifier=i)) if cluster else (
                lambda i=sid: rds.describe_db_snapshot_attributes(DBSnapshotIdentifier=i)))
            kind: SnapshotKind = "cluster-snapshot" if cluster else "db-snapshot"
            out.snapshots.append(Snapshot(
                ref=arn, name=sid, type=_TYPES[kind], account=account.id, region=region,
                kind=kind, shared_with=rds_shared_with(resp, cluster), org_accounts=org,
                evidence={"snapshotId": sid, "source": s.get("identifier")}))
    if ebs_snaps is not UNKNOWN and ebs_snaps:
        ec2 = account.client("ec2", region)
        for s in ebs_snaps:
            sid = s["SnapshotId"]
            arn = f"arn:aws:ec2:{region}:{account.id}:snapshot/{sid}"
            resp = guarded(out.errors, f"attr:{arn}", "ec2:DescribeSnapshotAttribute",
                           lambda i=sid: ec2.describe_snapshot_attribute(
                               SnapshotId=i, Attribute="createVolumePermission"))
            tags = {t["Key"]: t.get("Value", "") for t in s.get("Tags") or () if "Key" in t}
            out.snapshots.append(Snapshot(
                ref=arn, name=tags.get("Name", sid), type=_TYPES["ebs-snapshot"],
                account=account.id, region=region, tags=tags, kind="ebs-snapshot",
                shared_with=ebs_shared_with(resp), org_accounts=org,
                evidence={"snapshotId": sid, "volumeId": s.get("VolumeId")}))
    return out


# ---- collection phase and live binding -------------------------------------------------------


def _org_accounts(scanner: ScanContext) -> frozenset[str] | None:
    view = scanner.org_view
    return frozenset(a["Id"] for a in view.accounts) if view is not None else None


def _unit(scanner: ScanContext, a: AccountScan, region: str) -> None:
    rs = a.regions.get(region)
    if rs is None or a.target.account is None:
        return
    rds, ec2 = rs.data.get("rds"), rs.data.get("ec2")
    try:
        rs.data["snapshots"] = collect(
            a.target.account, region, rds.snapshots if rds is not None else UNKNOWN,
            ec2.snapshots if ec2 is not None else UNKNOWN, _org_accounts(scanner))
    except UNIT_ERRORS as e:
        rs.errors["snapshots"] = ReadError.of("snapshot attributes", e)


def _phase(scanner: ScanContext, live: list[AccountScan]) -> None:
    if ctl.NOT_PUBLIC not in scanner.settings.enabled:
        return
    scanner.map("snapshot sharing", _unit,
                [(scanner, a, r) for a in live for r in sorted(a.regions)])


def _listing_errors(a: AccountScan, region: str) -> list[tuple[str, ReadError | None]]:
    """(what, error) for each listing this region's snapshots depend on that failed."""
    rs = a.regions[region]
    out: list[tuple[str, ReadError | None]] = []
    rds, ec2 = rs.data.get("rds"), rs.data.get("ec2")
    if rds is None:
        out.append(("RDS snapshots", rs.errors.get("rds")))
    else:
        out += [(f"RDS {what}", rds.errors[key]) for key, what in
                (("snapshots", "snapshots"), ("clusterSnapshots", "cluster snapshots"))
                if key in rds.errors]
    if ec2 is None:
        out.append(("EBS snapshots", rs.errors.get("ec2")))
    elif "snapshots" in ec2.errors:
        out.append(("EBS snapshots", ec2.errors["snapshots"]))
    if "snapshots" in rs.errors:
        out.append(("snapshot attributes", rs.errors["snapshots"]))
    return out


def _evaluate(scanner: ScanContext, a: AccountScan) -> None:
    params = scanner.settings.of(ctl.NOT_PUBLIC)
    for region in sorted(a.regions):
        for what, err in _listing_errors(a, region):
            scanner.error(ctl.NOT_PUBLIC, f"arn:aws:ec2:{region}:{a.id}:snapshot/*"
                          if what.startswith("EBS") else f"arn:aws:rds:{region}:{a.id}:snapshot:*",
                          f"{what} in {region}", a.id, region,
                          f"The {what} of {region} could not be listed, so whether they are "
                          f"public is unknown: {err}.", [err])
        data: SnapshotRegion | None = a.regions[region].data.get("snapshots")
        if data is None:
            continue
        for s in data.snapshots:
            scanner.add(ctl.NOT_PUBLIC, s, ctl.not_public(s, params),
                        [data.errors.get(f"attr:{s.ref}")])


SERVICE = LiveService(
    calls=("rds:DescribeDBSnapshotAttributes", "rds:DescribeDBClusterSnapshotAttributes",
           "ec2:DescribeSnapshotAttribute"),
    phase=Phase(40, _phase),  # after the regional steps that list the snapshots
    # the RDS snapshots of a region are known only when both listings are read
    live=(Live((ctl.NOT_PUBLIC,), _evaluate, reads=tuple(
        Read(op, f"arn:aws:rds:{{region}}:{{account}}:{kind}:*")
        for op in ("rds:DescribeDBSnapshots", "rds:DescribeDBClusterSnapshots")
        for kind in ("snapshot", "cluster-snapshot"))),),
)
