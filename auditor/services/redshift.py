"""Amazon Redshift, live: provisioned clusters and their automated snapshot retention
(redshift-snapshot-retention)."""

from __future__ import annotations

from drguard.controls import redshift as ctl
from drguard.controls.redshift import Warehouse

from ..aws import Account, paginate
from ..collectors import tag_dict
from ..live import AccountScan, Live, LiveService, RegionScan, ScanContext, Step


def collect(account: Account, region: str) -> list[Warehouse]:
    """Clusters of the region (raises on a DescribeClusters error). Delete-time settings
    (skipFinalSnapshot) exist only in the delete call: live judges retention alone."""
    rsh = account.client("redshift", region)
    out = []
    for c in paginate(rsh, "describe_clusters", "Clusters"):
        name = c["ClusterIdentifier"]
        out.append(Warehouse(
            ref=f"arn:aws:redshift:{region}:{account.id}:cluster:{name}",
            name=name, type="AWS::Redshift::Cluster", account=account.id, region=region,
            tags=tag_dict(c.get("Tags")), retention=c.get("AutomatedSnapshotRetentionPeriod"),
            final_snapshot_applies=False,
            evidence={"clusterStatus": c.get("ClusterStatus"),
                      "manualSnapshotRetentionPeriod": c.get("ManualSnapshotRetentionPeriod"),
                      "kmsKeyId": c.get("KmsKeyId")}))
    return out


def _collect(scanner: ScanContext, acct: Account, rs: RegionScan) -> list[Warehouse]:
    return collect(acct, rs.region)


def _evaluate(scanner: ScanContext, a: AccountScan) -> None:
    params = scanner.settings.of(ctl.SNAPSHOT_RETENTION)
    for region, rs in sorted(a.regions.items()):
        data: list[Warehouse] | None = rs.data.get("redshift")
        if data is None:
            err = rs.errors.get("redshift")
            scanner.error(ctl.SNAPSHOT_RETENTION, f"arn:aws:redshift:{region}:{a.id}:cluster:*",
                          f"Redshift clusters in {region}", a.id, region,
                          f"The Redshift clusters of {region} could not be listed: {err}.", [err])
            continue
        for wh in data:
            scanner.add(ctl.SNAPSHOT_RETENTION, wh, ctl.snapshot_retention(wh, params))


SERVICE = LiveService(
    calls=("redshift:DescribeClusters",),
    regional_steps=(Step("redshift", "redshift:DescribeClusters", _collect),),
    live=(Live((ctl.SNAPSHOT_RETENTION,), _evaluate),),
)
