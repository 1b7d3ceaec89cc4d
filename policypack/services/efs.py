"""Amazon EFS at deploy time: file systems, their split `BackupPolicy` resource, and the
efs-backup-enabled binding.

The trap: pulumi-aws keeps automatic backups in a separate `aws:efs/backupPolicy:BackupPolicy`
linked by `fileSystemId`, like split S3 resources. It is folded into its file system by the
property dependency of `fileSystemId` on the file system's URN (the id is unknown during
preview) or, failing that, by id; one whose target is unknown makes a missing policy
"unknown", not a false failure. aws-native carries `backupPolicy` inline.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from drguard.controls import efs as ctl
from drguard.controls.efs import FileSystem
from drguard.facts import UNKNOWN
from drguard.scope import Scope

from ..adapters import Res, base
from ..binding import Judged, StackCheck, unlinked_guard
from ..service import DeployService, Link
from ..wire import get

if TYPE_CHECKING:
    from ..stack import StackModel

FILE_SYSTEM_TYPES = frozenset({"aws:efs/fileSystem:FileSystem", "aws-native:efs:FileSystem"})
BACKUP_POLICY_TYPES = frozenset({"aws:efs/backupPolicy:BackupPolicy"})
UNLINKED = "efs-backup-policy"


def _status(policy: Any) -> Any:
    if policy is UNKNOWN:
        return UNKNOWN
    status = get(policy, "status")
    return status.upper() if isinstance(status, str) else status


def file_system(r: Res) -> FileSystem | None:
    if r.type not in FILE_SYSTEM_TYPES:
        return None
    if r.type.startswith("aws-native"):
        fs = FileSystem(**base(r, r.get("fileSystemId"), "fileSystemTags"),
                        backup_policy=_status(r.get("backupPolicy")),
                        props={"backup_policy": "backupPolicy.status"})
    else:
        fs = FileSystem(**base(r, r.get("id")))
    fs.covered_by = []
    return fs


def _fold(m: StackModel, r: Res) -> bool:
    """Fold one BackupPolicy into its file system; False when it cannot be linked."""
    deps = m.deps(r, "fileSystemId", FileSystem)
    fs = deps[0] if deps else None
    target = r.get("fileSystemId")
    if fs is None and isinstance(target, str):
        fs = next((f for f in m.filesystems if m.res_of[id(f)].get("id") == target), None)
    if fs is None:
        return False
    fs.backup_policy = _status(r.get("backupPolicy"))
    fs.props["backup_policy"] = f"BackupPolicy {r.name!r} backupPolicy.status"
    fs.evidence.setdefault("configuredBy", []).append(r.urn)
    return True


def _link(m: StackModel, linked: dict[str, list[Res]], _scope: Scope) -> None:
    for r in linked.get("backup-policy", ()):
        if not _fold(m, r):
            m.unlinked_if_unknown(r, UNLINKED, "fileSystemId")


def _arn(m: StackModel, fs: FileSystem, r: Res | None, region: str, acct: str) -> str:
    fid = r.get("id") if r is not None else None
    return (f"arn:aws:elasticfilesystem:{region}:{acct}:file-system/"
            f"{fid if isinstance(fid, str) else '*'}")


def _selected(fs: FileSystem, plan: Any) -> None:
    fs.covered_by = [*(fs.covered_by if isinstance(fs.covered_by, list) else []),
                     f"backup:{plan.name}"]


def _backup_enabled(model: StackModel, _params: dict[str, Any]) -> Iterable[Judged]:
    for fs in model.filesystems:
        yield fs, unlinked_guard(model, (UNLINKED, "backup-selection"),
                                 ctl.backup_enabled(fs))


SERVICE = DeployService(
    facts={t: ("filesystems", file_system) for t in FILE_SYSTEM_TYPES},
    linked={t: "backup-policy" for t in BACKUP_POLICY_TYPES},
    link=Link(25, _link),
    arns={FileSystem: _arn},
    backup_selected={FileSystem: _selected},
    stateful=("filesystems",),
    checks=(StackCheck(ctl.BACKUP_ENABLED, _backup_enabled),),
)
