"""CloudTrail: trails seen from each region (shadow trails once), status and selectors, and
the bindings of cloudtrail-enabled and cloudtrail-bucket-protected."""

from __future__ import annotations

from dataclasses import field
from typing import Any

from drguard import eventpattern
from drguard.controls import cloudtrail as ctl
from drguard.controls.cloudtrail import Trail
from drguard.facts import UNKNOWN, Resource
from drguard.records import record
from drguard.verdict import Verdict

from ..aws import Account
from ..collectors import UNIT_ERRORS, Errors, ReadError, arn_account, guarded, root_arn
from ..live import (
    AccountScan,
    Live,
    LiveService,
    Phase,
    Read,
    RegionScan,
    ScanContext,
    Step,
    base_region,
)
from . import s3


@record
class TrailRead:
    """A trail as read: its fact, its event selectors, and what could not be read."""

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


# ---- collection phase ------------------------------------------------------------------------

def _trail_unit(scanner: ScanContext, a: AccountScan, raw: dict[str, Any]) -> TrailRead:
    assert a.target.account is not None
    try:
        return details(a.target.account, raw)
    except UNIT_ERRORS as e:
        read = TrailRead(Trail(ref=raw["TrailARN"], name=raw.get("Name", raw["TrailARN"]),
                               account=a.id, region=raw.get("HomeRegion"),
                               multi_region=UNKNOWN, logging=UNKNOWN, log_validation=UNKNOWN))
        read.errors["status"] = ReadError.of("cloudtrail", e)
        return read


def _phase(scanner: ScanContext, live: list[AccountScan]) -> None:
    """Status and selectors of each trail, once per trail (shadow trails seen from every
    region are one trail)."""
    units = []
    for a in live:
        seen: dict[str, dict[str, Any]] = {}
        for rs in a.regions.values():
            for raw in rs.data.get("cloudtrail", ()):
                seen.setdefault(raw["TrailARN"], raw)
        units += [(scanner, a, raw) for raw in seen.values()]
    for (_, a, raw), read in zip(units, scanner.map("trails", _trail_unit, units), strict=True):
        a.data.setdefault("trails", {})[raw["TrailARN"]] = read


# ---- live bindings ---------------------------------------------------------------------------

ENABLED, BUCKET_PROTECTED = "cloudtrail-enabled", "cloudtrail-bucket-protected"


def _evaluate(scanner: ScanContext, a: AccountScan) -> None:
    trails: dict[str, TrailRead] = a.data.get("trails", {})
    facts = [t.fact for t in trails.values()]
    unreadable = [rs.errors["cloudtrail"] for rs in a.regions.values()
                  if "cloudtrail" in rs.errors]
    root = Resource(ref=root_arn(a.id, base_region(scanner)), name=f"account {a.id}",
                    account=a.id, type="AWS::::Account")
    v = ctl.account(facts)
    if v.status == "fail":
        unsure = [e for t in trails.values() if t.fact.logging is UNKNOWN
                  for e in t.errors.values()]
        if unreadable or unsure:
            v = Verdict("unknown", "", v.evidence)
            unreadable += unsure
    scanner.add(ENABLED, root, v, unreadable)
    if "s3" in a.errors:
        err = a.errors["s3"]
        scanner.error(BUCKET_PROTECTED, "arn:aws:s3:::*", f"S3 buckets of {a.id}", a.id, None,
                      f"The S3 buckets of account {a.id} could not be listed: {err}.", [err])
    index = s3.bucket_index(scanner)
    for t in trails.values():
        if t.fact.account != a.id or not t.fact.s3_bucket:
            continue  # another account's (organization) trail: judged there
        read = index.get(t.fact.s3_bucket)
        bucket = read.fact if read is not None and read.detailed else None
        v = ctl.bucket_protected(t.fact, bucket)
        errs = list(read.errors.values()) if read is not None else []
        if bucket is None:
            where = ("is not in a scanned account" if read is None else
                     f"is in {read.fact.region}, outside the scanned regions"
                     if read.fact.region and not s3.in_regions(scanner, read)
                     else "could not be read")
            v = Verdict("error", f"The bucket {t.fact.s3_bucket!r} of trail "
                        f"{t.fact.name!r} {where}.", v.evidence)
        scanner.add(BUCKET_PROTECTED, t.fact, v, errs)


def _describe(scanner: ScanContext, acct: Account, rs: RegionScan) -> list[dict[str, Any]]:
    return describe(acct, rs.region)


SERVICE = LiveService(
    calls=("cloudtrail:DescribeTrails", "cloudtrail:GetTrailStatus",
           "cloudtrail:GetEventSelectors"),
    regional_steps=(Step("cloudtrail", "cloudtrail:DescribeTrails", _describe),),
    phase=Phase(10, _phase),
    live=(Live((ENABLED, BUCKET_PROTECTED), _evaluate, reads=(
        Read("cloudtrail:DescribeTrails", "arn:aws:cloudtrail:{region}:{account}:trail/*",
             (BUCKET_PROTECTED,)),)),),
)
