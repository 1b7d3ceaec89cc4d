"""Amazon EFS, live: file systems, their backup policy and the AWS Backup selections that cover
them (efs-backup-enabled), and how `scan --state` tells a file system still exists."""

from __future__ import annotations

from dataclasses import field

from drguard.arns import partition_of
from drguard.controls import efs as ctl
from drguard.controls.efs import FileSystem
from drguard.facts import UNKNOWN
from drguard.records import record

from ..aws import Account, paginate
from ..collectors import Errors, ReadError, guarded, tag_dict
from ..live import AccountScan, DriftKind, Live, LiveService, RegionScan, ScanContext, Step
from . import backup


@record
class EfsRegion:
    """One region's EFS file systems, and what could not be read."""

    file_systems: list[FileSystem] = field(default_factory=list)
    errors: Errors = field(default_factory=dict)  # per-file-system keys: "policy:<id>"


def collect(account: Account, region: str) -> EfsRegion:
    """File systems of the region (raises on a DescribeFileSystems error); a backup policy
    that cannot be read is UNKNOWN, with its error under `policy:<arn>`. AWS Backup selections
    are asked about only when some file system has automatic backups off."""
    efs = account.client("efs", region)
    out = EfsRegion()
    for raw in paginate(efs, "describe_file_systems", "FileSystems"):
        fid = raw["FileSystemId"]
        arn = raw.get("FileSystemArn") or \
            f"arn:{partition_of(region)}:elasticfilesystem:{region}:{account.id}:file-system/{fid}"
        tags = tag_dict(raw.get("Tags"))
        # PolicyNotFound: automatic backups were never turned on (off).
        policy = guarded(out.errors, f"policy:{arn}", "efs:DescribeBackupPolicy",
                         lambda f=fid: efs.describe_backup_policy(FileSystemId=f),
                         absent={"PolicyNotFound": {}})
        status = UNKNOWN if policy is UNKNOWN else \
            (policy.get("BackupPolicy") or {}).get("Status")
        out.file_systems.append(FileSystem(
            ref=arn, name=raw.get("Name") or tags.get("Name") or fid,
            type="AWS::EFS::FileSystem", account=account.id, region=region, tags=tags,
            backup_policy=status, covered_by=[],
            evidence={"fileSystemId": fid, "lifeCycleState": raw.get("LifeCycleState"),
                      "kmsKeyId": raw.get("KmsKeyId")}))
    uncovered = [f for f in out.file_systems if f.backup_policy not in ("ENABLED", "ENABLING")]
    if uncovered:
        selections = backup.selections(account, region, out.errors)
        for f in uncovered:
            if selections is UNKNOWN:
                f.covered_by = UNKNOWN
                continue
            f.covered_by = [f"backup:{plan}/{sel.get('SelectionName', '')}"
                            for plan, sel in selections
                            if backup.selection_covers(sel, f.ref, f.tags)]
    return out


# ---- live binding ----------------------------------------------------------------------------

def _collect(scanner: ScanContext, acct: Account, rs: RegionScan) -> EfsRegion:
    return collect(acct, rs.region)


def _evaluate(scanner: ScanContext, a: AccountScan) -> None:
    for region, rs in sorted(a.regions.items()):
        data: EfsRegion | None = rs.data.get("efs")
        if data is None:
            err = rs.errors.get("efs")
            scanner.error(ctl.BACKUP_ENABLED,
                          f"arn:aws:elasticfilesystem:{region}:{a.id}:file-system/*",
                          f"EFS file systems in {region}", a.id, region,
                          f"The EFS file systems of {region} could not be listed: {err}.", [err])
            continue
        for fs in data.file_systems:
            errs: list[ReadError | None] = [data.errors.get(f"policy:{fs.ref}")]
            if fs.covered_by is UNKNOWN:
                errs.append(data.errors.get("backupSelections"))
            scanner.add(ctl.BACKUP_ENABLED, fs, ctl.backup_enabled(fs), errs)


SERVICE = LiveService(
    calls=("efs:DescribeFileSystems", "efs:DescribeBackupPolicy"),
    regional_steps=(Step("efs", "efs:DescribeFileSystems", _collect),),
    live=(Live((ctl.BACKUP_ENABLED,), _evaluate),),
    drift={
        "aws:efs/fileSystem:FileSystem": DriftKind(
            label="EFS file system", service="efs", operation="efs:DescribeFileSystems",
            names=(), use_id=True,  # the resource id is the file system id (fs-...)
            call=lambda c, n: c.describe_file_systems(FileSystemId=n),
            gone=frozenset({"FileSystemNotFound"}),
            arn=lambda r, a, n: f"arn:{partition_of(r)}:elasticfilesystem:{r}:{a}:"
                                f"file-system/{n}",
            delete_event="DeleteFileSystem"),
    },
)
