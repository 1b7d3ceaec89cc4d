"""CloudTrail at deploy time: trails, cloudtrail-enabled and cloudtrail-bucket-protected."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from drguard.controls import cloudtrail as ctl
from drguard.controls.cloudtrail import Trail
from drguard.facts import UNKNOWN

from ..adapters import Res, base
from ..binding import Judged, ResourceCheck, StackCheck, unlinked_guard
from ..service import DeployService
from ..wire import boolean
from .s3 import bucket_for

if TYPE_CHECKING:
    from ..stack import StackModel


TRAIL_TYPES = frozenset({"aws:cloudtrail/trail:Trail", "aws-native:cloudtrail:Trail"})


def trail(r: Res) -> Trail | None:
    if r.type == "aws:cloudtrail/trail:Trail":
        logging_ = r.get("enableLogging")
        return Trail(**base(r, r.get("name")),
                     multi_region=boolean(r.get("isMultiRegionTrail")),
                     log_validation=boolean(r.get("enableLogFileValidation")),
                     logging=True if logging_ is None else boolean(logging_),  # default true
                     s3_bucket=r.get("s3BucketName"),
                     organization=boolean(r.get("isOrganizationTrail")))
    if r.type == "aws-native:cloudtrail:Trail":
        return Trail(**base(r, r.get("trailName")),
                     multi_region=boolean(r.get("isMultiRegionTrail")),
                     log_validation=boolean(r.get("enableLogFileValidation")),
                     logging=boolean(r.get("isLogging")),
                     s3_bucket=r.get("s3BucketName"),
                     organization=boolean(r.get("isOrganizationTrail")),
                     props={"logging": "isLogging"})
    return None


def _trail_bucket(model: StackModel, _params: dict) -> Iterable[Judged]:
    """cloudtrail-bucket-protected for trails whose bucket the stack declares; a bucket
    managed elsewhere is judged by the live scan."""
    for t in model.trails:
        bucket = bucket_for(model, model.res_of[id(t)], "s3BucketName")
        if bucket is None and t.s3_bucket is not UNKNOWN:
            continue
        yield t, unlinked_guard(model, ("versioning", "lock"),
                                ctl.bucket_protected(t, bucket))


# ---- declaration ------------------------------------------------------------------------------

SERVICE = DeployService(
    facts={t: ("trails", trail) for t in TRAIL_TYPES},
    checks=(
        ResourceCheck("cloudtrail-enabled", TRAIL_TYPES, trail, lambda t, _p: ctl.trail(t)),
        StackCheck("cloudtrail-bucket-protected", _trail_bucket),
    ),
    cannot_remediate={
        "cloudtrail-enabled": "turning a trail multi-region or on is left to the program: it "
                              "changes what is logged and billed.",
    },
)
