"""MongoDB Atlas clusters are backed up."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..control import DEPLOY, DESTROYABLE, Control
from ..facts import UNKNOWN, Resource
from ..verdict import Verdict, show


@dataclass
class AtlasCluster(Resource):
    cloud_backup: Any = None


# ---- rules --------------------------------------------------------------------------------

def atlas(c: AtlasCluster) -> Verdict:
    prop = c.prop("cloud_backup", "cloudBackup")
    ev = {prop: c.cloud_backup}
    if c.cloud_backup is UNKNOWN:
        return Verdict.unknown(f"{prop} of Atlas cluster {c.name!r}", **ev)
    if c.cloud_backup is True:
        return Verdict.ok(f"Atlas cluster {c.name!r} has cloud backup.", **ev)
    return Verdict.fail(f"MongoDB Atlas cluster {c.name!r} has no cloud backup ({prop} is "
                        f"{show(c.cloud_backup)}). Fix: set {prop} to true.", **ev)


CONTROLS: tuple[Control, ...] = (
    Control(
        id="mongodb-atlas-backup",
        title="MongoDB Atlas clusters are backed up",
        severity="high",
        exposure=DESTROYABLE,
        tier=3,
        description="MongoDB Atlas clusters have cloud backup enabled.",
        remediation="Set cloudBackup (backupEnabled for advanced clusters) to true.",
        sources=DEPLOY,
    ),
)
