"""CloudTrail rules: a logging multi-region trail with validation; its bucket protected."""

from __future__ import annotations

from collections.abc import Iterable

from ..facts import UNKNOWN, Bucket, Trail
from . import Verdict, show


def trail_problems(t: Trail) -> tuple[list[str], list[str]]:
    """(problems, unknown settings) of one trail, in the trail's own property names."""
    checks = (("multi_region", "isMultiRegionTrail", t.multi_region),
              ("log_validation", "enableLogFileValidation", t.log_validation),
              ("logging", "enableLogging", t.logging))
    problems, unknown = [], []
    for attr, default, value in checks:
        prop = t.prop(attr, default)
        if value is UNKNOWN:
            unknown.append(prop)
        elif value is not True:
            problems.append(f"{prop} is {show(value)}")
    return problems, unknown


def trail(t: Trail) -> Verdict:
    """A trail declared in a stack must be multi-region, validated and logging."""
    problems, unknown = trail_problems(t)
    ev = {"isMultiRegionTrail": t.multi_region, "enableLogFileValidation": t.log_validation,
          "logging": t.logging, "s3BucketName": t.s3_bucket}
    if problems:
        fixes = ", ".join(p.split(" is ")[0] + " = true" for p in problems)
        return Verdict.fail(f"Trail {t.name!r} does not give a complete audit log: "
                            f"{'; '.join(problems)}. Fix: set {fixes}.", **ev)
    if unknown:
        return Verdict.unknown(f"{', '.join(unknown)} of trail {t.name!r}", **ev)
    return Verdict.ok(f"Trail {t.name!r} is multi-region, logging, with log file validation.",
                      **ev)


def account(trails: Iterable[Trail]) -> Verdict:
    """Live side: the account has at least one trail that passes `trail`."""
    trails = list(trails)
    seen = []
    for t in trails:
        v = trail(t)
        seen.append({"trail": t.ref, "status": v.status, "detail": v.message})
        if v.status == "pass":
            return Verdict.ok(f"Trail {t.name!r} covers the account: multi-region, logging, "
                              "with log file validation.", trails=seen)
    if not trails:
        return Verdict.fail("The account has no CloudTrail trail: nothing records who deletes "
                            "backups. Fix: create a multi-region trail with log file "
                            "validation (aws.cloudtrail.Trail isMultiRegionTrail = true, "
                            "enableLogFileValidation = true).", trails=seen)
    return Verdict.fail("No trail in the account is multi-region, logging and validated: "
                        + " | ".join(s["detail"] for s in seen), trails=seen)


def bucket_protected(t: Trail, bucket: Bucket | None) -> Verdict:
    """The trail's bucket is versioned and locked (cloudtrail-bucket-protected)."""
    ev = {"trail": t.ref, "s3BucketName": t.s3_bucket}
    if bucket is None:
        if t.s3_bucket is UNKNOWN:
            return Verdict.unknown(f"The bucket of trail {t.name!r}", **ev)
        return Verdict("error", f"The bucket {t.s3_bucket!r} of trail {t.name!r} could not be "
                                "read.", ev)
    name = bucket.name
    if bucket.versioning is UNKNOWN or bucket.object_lock_enabled is UNKNOWN:
        return Verdict.unknown(f"The protection of trail bucket {name!r}", **ev)
    ev.update(versioning=bucket.versioning, objectLockEnabled=bucket.object_lock_enabled)
    versioned = bucket.versioning == "Enabled" or (
        bucket.object_lock_enabled is True and bucket.versioning != "Suspended")
    missing = []
    if not versioned:
        missing.append("versioning")
    if bucket.object_lock_enabled is not True:
        missing.append("Object Lock")
    if missing:
        return Verdict.fail(f"Trail {t.name!r} writes to bucket {name!r}, which lacks "
                            f"{' and '.join(missing)}: the audit log can be erased. Fix: "
                            "enable versioning and Object Lock on it.", **ev)
    return Verdict.ok(f"Trail bucket {name!r} is versioned and locked.", **ev)
