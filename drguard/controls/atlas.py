"""MongoDB Atlas clusters are backed up."""

from __future__ import annotations

import json
import shlex
from typing import Any

from ..control import DEPLOY, DESTROYABLE, Control
from ..facts import UNKNOWN, Resource
from ..records import record
from ..verdict import Remediation, Verdict, show


@record
class AtlasCluster(Resource):
    """A MongoDB Atlas cluster: whether cloud backup is on."""

    cloud_backup: Any = None


# ---- rules --------------------------------------------------------------------------------

def atlas(c: AtlasCluster) -> Verdict:
    prop = c.prop("cloud_backup", "cloudBackup")
    ev = {prop: c.cloud_backup}
    if c.cloud_backup is UNKNOWN:
        return Verdict.unknown(f"{prop} of Atlas cluster {c.name!r}", **ev)
    if c.cloud_backup is True:
        return Verdict.ok(f"Atlas cluster {c.name!r} has cloud backup.", **ev)
    advanced = prop == "backupEnabled"  # mongodbatlas.AdvancedCluster's name for it
    code = (f"mongodbatlas.AdvancedCluster({json.dumps(str(c.name))}, ...,\n"
            "    backup_enabled=True)" if advanced else
            f"mongodbatlas.Cluster({json.dumps(str(c.name))}, ...,\n    cloud_backup=True)")
    return Verdict("fail", f"MongoDB Atlas cluster {c.name!r} has no cloud backup ({prop} is "
                           f"{show(c.cloud_backup)}).", ev, Remediation(
                               f"Turn cloud backup on for Atlas cluster {c.name}: set {prop} to "
                               "true.", code,
                               f"atlas clusters update {shlex.quote(str(c.name))} --backup"))


CONTROLS: tuple[Control, ...] = (
    Control(
        id="mongodb-atlas-backup",
        gap=("Atlas cluster not backed up",),
        why="Without Cloud Backup an Atlas cluster has no snapshot to restore from.",
        console=(
            "Atlas UI: Database, select the cluster, Edit configuration.",
            "Additional Settings, turn Cloud Backup on, Review changes, Apply.",
        ),
        title="MongoDB Atlas clusters are backed up",
        severity="high",
        exposure=DESTROYABLE,
        tier=3,
        description="MongoDB Atlas clusters have cloud backup enabled.",
        remediation="Set cloudBackup (backupEnabled for advanced clusters) to true.",
        sources=DEPLOY,
    ),
)
