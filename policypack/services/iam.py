"""IAM at deploy time: access keys declared in a stack (iam-access-key-rotation)."""

from __future__ import annotations

from drguard.controls import iam as ctl
from drguard.controls.iam import AccessKey
from drguard.facts import UNKNOWN

from ..adapters import Res, base
from ..binding import ResourceCheck
from ..service import DeployService

ACCESS_KEY_TYPES = frozenset({"aws:iam/accessKey:AccessKey"})


def access_key(r: Res) -> AccessKey | None:
    if r.type not in ACCESS_KEY_TYPES:
        return None
    status = r.get("status")
    user = r.get("user")
    if not isinstance(user, str):  # e.g. the name of a user created alongside, not known yet
        deps = r.property_deps.get("user") or ()
        user = deps[0].rsplit("::", 1)[-1] if deps else "(not known yet)"
    return AccessKey(**base(r, r.name), user=user,
                     active=UNKNOWN if status is UNKNOWN else status in (None, "Active"))


SERVICE = DeployService(
    checks=(ResourceCheck("iam-access-key-rotation", ACCESS_KEY_TYPES, access_key,
                          ctl.access_key),),
)
