"""Amazon EFS: file systems have automatic backups on, or an AWS Backup plan selects them
(efs-backup-enabled); a file system is stateful for stateful-resource-protect."""

from __future__ import annotations

import json
import re
from typing import Any

from ..control import DESTROYABLE, ConfigMapping, Control
from ..detections import Context, Params, Record, get_in, named_arn, on, request_parameters
from ..facts import UNKNOWN, OnDelete, Resource
from ..records import record
from ..verdict import Remediation, Verdict, show

EFS = "elasticfilesystem.amazonaws.com"
BACKUP_ENABLED = "efs-backup-enabled"


@record
class FileSystem(Resource):
    """An EFS file system with its backup policy (a split resource at deploy time)."""

    # automatic backups: "ENABLED" | "ENABLING" | "DISABLED" | "DISABLING" | None (never set:
    # off, the API default) | UNKNOWN
    backup_policy: Any = None
    # AWS Backup plans whose selection covers it: ["backup:<plan>", ...], [] or UNKNOWN
    covered_by: Any = None

    def stateful(self) -> bool:
        return True

    def on_delete(self, replace: bool) -> OnDelete:
        """EFS has no deletion protection nor final backup: only recovery points already in
        an AWS Backup vault (automatic backups, or a plan selecting it) outlive it."""
        d = OnDelete("EFS file system", evidence={"backupPolicy": self.backup_policy,
                                                  "coveredBy": self.covered_by})
        d.lost.append("EFS has no deletion protection and takes no backup on delete")
        plans = self.covered_by if isinstance(self.covered_by, list) else []
        if self.backup_policy in ("ENABLED", "ENABLING") or plans:
            how = ("automatic backups" if self.backup_policy in ("ENABLED", "ENABLING")
                   else f"AWS Backup plan {plans[0].split(':', 1)[-1]}")
            d.saves.append(f"recovery points from {how} stay in their vault after the delete "
                           "(data written since the last one is lost)")
            d.kept.append(f"its AWS Backup recovery points ({how})")
        elif self.backup_policy is UNKNOWN or self.covered_by is UNKNOWN:
            d.lost.append("whether it is backed up is unknown in this preview")
        else:
            d.lost.append("it is not backed up (no automatic backups, no AWS Backup plan)")
        return d


# ---- rules --------------------------------------------------------------------------------

FIX = Remediation(
    summary="Turn on EFS automatic backups (a BackupPolicy with status ENABLED), or select the "
            "file system in an AWS Backup plan.",
    pulumi='fs = aws.efs.FileSystem("data", encrypted=True,\n'
           '                        opts=pulumi.ResourceOptions(protect=True))\n'
           'aws.efs.BackupPolicy("data-backups", file_system_id=fs.id,\n'
           '                     backup_policy={"status": "ENABLED"})',
    cli="aws efs put-backup-policy --file-system-id <file-system-id> "
        "--backup-policy Status=ENABLED")


def file_system_id(fs: FileSystem) -> str | None:
    """The file system's id (fs-...), from what was read or its ARN; None when not known
    (a deploy-side file system not created yet)."""
    fid = fs.evidence.get("fileSystemId")
    if isinstance(fid, str) and fid.startswith("fs-"):
        return fid
    tail = str(fs.ref).rsplit("file-system/", 1)
    return tail[1] if len(tail) == 2 and tail[1].startswith("fs-") else None


def fix_backup(fs: FileSystem) -> Remediation:
    """The fix for this file system: its real id in the CLI call, or no CLI call when the id
    is not known yet."""
    fid = file_system_id(fs)
    region = f" --region {fs.region}" if isinstance(fs.region, str) and fs.region else ""
    var = re.sub(r"[^0-9a-zA-Z-]+", "-", str(fs.name)).strip("-") or "data"
    target = json.dumps(fid) if fid else "fs.id  # the aws.efs.FileSystem"
    return Remediation(
        f"Turn on automatic backups for EFS file system {fs.name} (a BackupPolicy with status "
        "ENABLED), or select it in an AWS Backup plan.",
        f'aws.efs.BackupPolicy("{var}-backups",\n'
        '    backup_policy={"status": "ENABLED"},\n'
        f"    file_system_id={target})",
        f"aws efs put-backup-policy --file-system-id {fid} --backup-policy Status=ENABLED"
        f"{region}" if fid else None)


def backup_enabled(fs: FileSystem) -> Verdict:
    """Automatic backups ENABLED (ENABLING counts: it is being turned on), or an AWS Backup
    selection covers the file system."""
    prop = fs.prop("backup_policy", "aws.efs.BackupPolicy backupPolicy.status")
    ev = {"backupPolicy": fs.backup_policy, "coveredBy": fs.covered_by}
    label = f"EFS file system {fs.name!r}"
    if fs.backup_policy in ("ENABLED", "ENABLING"):
        return Verdict.ok(f"{label} has automatic backups on.", **ev)
    if isinstance(fs.covered_by, list) and fs.covered_by:
        return Verdict.ok(f"{label} is backed up by {', '.join(fs.covered_by)}.", **ev)
    if fs.backup_policy is UNKNOWN or fs.covered_by is UNKNOWN:
        return Verdict("unknown", f"{label}: whether it is backed up cannot be known yet "
                                  f"({prop} {show(fs.backup_policy)}).", ev)
    state = "off (no backup policy)" if fs.backup_policy is None else \
        f"{show(fs.backup_policy)}"
    v = Verdict.fail(f"{label} is not backed up: automatic backups are {state} and no AWS "
                     f"Backup plan selects it. Fix: set {prop} to \"ENABLED\", or select it "
                     "in an AWS Backup plan.", **ev)
    v.remediation = fix_backup(fs)
    return v


# ---- logs side ----------------------------------------------------------------------------

def file_system(record: dict[str, Any]) -> str:
    fs = request_parameters(record).get("fileSystemId")
    return named_arn(record, "elasticfilesystem", "file-system", fs, "/")


def backups_disabled(rp: Record, record: Record, params: Params, ctx: Context) -> bool:
    status = get_in(rp, "backupPolicy", "status")
    return isinstance(status, str) and status.upper() in ("DISABLED", "DISABLING")


CONTROLS: tuple[Control, ...] = (
    Control(
        id=BACKUP_ENABLED,
        gap=("No backup covers the file system",),
        why=("A file system without backups is lost with everything in it when it is deleted or "
            "corrupted."),
        console=(
            "EFS console: File systems, select the file system, Edit.",
            "Automatic backups: Enable, Save changes (or add it to an AWS Backup plan).",
        ),
        title="EFS file systems are backed up",
        severity="high",
        exposure=DESTROYABLE,
        tier=3,
        description="EFS file systems have automatic backups on (backup policy ENABLED) or "
                    "are selected by an AWS Backup plan.",
        remediation="Add an aws.efs.BackupPolicy with backupPolicy.status = \"ENABLED\" for "
                    "the file system, or select it in an AWS Backup plan.",
        mapping=ConfigMapping(("EFS_IN_BACKUP_PLAN",), ("EFS.2",)),
        detections=(
            on(EFS, "PutBackupPolicy", when=backups_disabled, resource=file_system,
               message="{principal} turned automatic backups of the EFS file system {name} "
                       "{rp[backupPolicy][status]} ({event}): no new recovery points unless "
                       "an AWS Backup plan selects it."),
            on(EFS, "DeleteFileSystem", resource=file_system,
               message="{principal} deleted the EFS file system {name} ({event}); only "
                       "its backups are left."),
        ),
        fix=FIX,
    ),
)
