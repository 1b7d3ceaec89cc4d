"""CloudTrail: trails seen from each region (shadow trails once), status and selectors."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from drguard import eventpattern
from drguard.facts import UNKNOWN, Trail

from ..aws import Account
from . import Errors, arn_account, guarded


@dataclass
class TrailRead:
    fact: Trail
    event_selectors: Any = UNKNOWN  # EventSelectors, or UNKNOWN
    advanced_selectors: Any = UNKNOWN
    errors: Errors = field(default_factory=dict)

    def logs_writes_of(self, bucket: str) -> Any:
        """True/False, or UNKNOWN when the selectors could not be read."""
        if self.event_selectors is UNKNOWN:
            return UNKNOWN
        return eventpattern.selectors_log_writes(self.event_selectors,
                                                 self.advanced_selectors, bucket)


def describe(account: Account, region: str) -> list[dict[str, Any]]:
    """DescribeTrails with shadow trails; raises on AWS errors (the caller records them)."""
    resp = account.client("cloudtrail", region).describe_trails(includeShadowTrails=True)
    return list(resp.get("trailList") or ())


def details(account: Account, raw: dict[str, Any]) -> TrailRead:
    """Status and selectors, asked in the trail's home region."""
    arn = raw["TrailARN"]
    home = raw.get("HomeRegion")
    t = Trail(ref=arn, name=raw.get("Name", arn), type="AWS::CloudTrail::Trail",
              account=arn_account(arn) or account.id, region=home,
              multi_region=bool(raw.get("IsMultiRegionTrail")),
              log_validation=bool(raw.get("LogFileValidationEnabled")),
              s3_bucket=raw.get("S3BucketName"),
              organization=bool(raw.get("IsOrganizationTrail")))
    read = TrailRead(t)
    ct = account.client("cloudtrail", home)
    status = guarded(read.errors, "status", "cloudtrail:GetTrailStatus",
                     lambda: ct.get_trail_status(Name=arn))
    t.logging = UNKNOWN if status is UNKNOWN else bool(status.get("IsLogging"))
    sel = guarded(read.errors, "selectors", "cloudtrail:GetEventSelectors",
                  lambda: ct.get_event_selectors(TrailName=arn))
    if sel is not UNKNOWN:
        read.event_selectors = sel.get("EventSelectors") or []
        read.advanced_selectors = sel.get("AdvancedEventSelectors") or []
    t.evidence = {"homeRegion": home, "isOrganizationTrail": t.organization}
    return read
