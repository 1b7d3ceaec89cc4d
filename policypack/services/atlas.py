"""MongoDB Atlas at deploy time: clusters (mongodb-atlas-backup)."""

from __future__ import annotations

from typing import Any

from drguard.controls import atlas as ctl
from drguard.controls.atlas import AtlasCluster
from drguard.facts import UNKNOWN

from ..adapters import Res, base
from ..binding import ResourceCheck
from ..service import DeployService
from ..wire import boolean

ATLAS_TYPES = frozenset({"mongodbatlas:index/cluster:Cluster",
                         "mongodbatlas:index/advancedCluster:AdvancedCluster"})


def atlas_cluster(r: Res) -> AtlasCluster | None:
    if r.type == "mongodbatlas:index/cluster:Cluster":
        cloud, legacy = boolean(r.get("cloudBackup")), boolean(r.get("backupEnabled"))
        value: Any = True if True in (cloud, legacy) else \
            UNKNOWN if UNKNOWN in (cloud, legacy) else cloud
        return AtlasCluster(**base(r, r.get("name")), cloud_backup=value,
                            props={"cloud_backup": "cloudBackup"})
    if r.type == "mongodbatlas:index/advancedCluster:AdvancedCluster":
        return AtlasCluster(**base(r, r.get("name")),
                            cloud_backup=boolean(r.get("backupEnabled")),
                            props={"cloud_backup": "backupEnabled"})
    return None


SERVICE = DeployService(
    checks=(ResourceCheck("mongodb-atlas-backup", ATLAS_TYPES, atlas_cluster,
                          lambda c, _p: ctl.atlas(c)),),
)
