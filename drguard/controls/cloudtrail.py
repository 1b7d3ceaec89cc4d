"""CloudTrail: the Trail fact, cloudtrail-enabled and cloudtrail-bucket-protected."""

from __future__ import annotations

import json
import shlex
from collections.abc import Iterable
from typing import Any

from ..control import UNSEEN, ConfigMapping, Control
from ..detections import CLOUDTRAIL, Context, Params, Record, cloudtrail_trail, is_false, on
from ..facts import UNKNOWN, Resource
from ..records import record
from ..verdict import Remediation, Verdict, show
from .s3 import Bucket


@record
class Trail(Resource):
    """A CloudTrail trail: where and what it logs."""

    multi_region: Any = None
    logging: Any = None
    log_validation: Any = None
    s3_bucket: Any = None
    organization: Any = None
    # buckets whose write data events the trail logs: bucket names, or "*" for all buckets
    data_event_buckets: Any = None


# ---- remediation ---------------------------------------------------------------------------

def fix_new_trail() -> Remediation:
    return Remediation(
        "Create a multi-region trail with log file validation in this account, and start it "
        "(CloudTrail console: Trails, Create trail, which also creates its log bucket with the "
        "bucket policy CloudTrail needs).",
        "aws.cloudtrail.Trail(\"audit\", s3_bucket_name=audit_bucket.id,\n"
        "    is_multi_region_trail=True, include_global_service_events=True,\n"
        "    enable_log_file_validation=True, enable_logging=True)",
        # The trail needs a log bucket whose policy lets CloudTrail write: one CLI line cannot
        # create both safely; the console's Create trail does.
        None)


def fix_trail(t: Trail) -> Remediation:
    """Turn on whatever this trail lacks: multi-region, log file validation, logging."""
    name = t.name if isinstance(t.name, str) else "audit"
    args, flags, what = [], [], []
    if t.multi_region is not True:
        what.append("multi-region")
        args.append("is_multi_region_trail=True")
        flags.append("--is-multi-region-trail")
    if t.log_validation is not True:
        what.append("log file validation")
        args.append("enable_log_file_validation=True")
        flags.append("--enable-log-file-validation")
    cli = []
    if flags:
        cli.append(f"aws cloudtrail update-trail --name {shlex.quote(name)} {' '.join(flags)}")
    if t.logging is not True:
        what.append("logging")
        args.append("enable_logging=True")
        cli.append(f"aws cloudtrail start-logging --name {shlex.quote(name)}")
    return Remediation(f"Make trail {name} complete: turn on {', '.join(what)}.",
                       f"aws.cloudtrail.Trail({json.dumps(name)}, ...,\n    "
                       + ", ".join(args) + ")",
                       " && \\\n".join(cli) or None)


def fix_trail_bucket(bucket: Bucket, missing: list[str]) -> Remediation:
    from .s3 import fix_object_lock, fix_versioning

    if "Object Lock" in missing:
        r = fix_object_lock(bucket, "COMPLIANCE", 365, enable=True)
        return Remediation(f"Protect the audit log in bucket {bucket.name}: "
                           + r.summary[0].lower() + r.summary[1:], r.pulumi, r.cli)
    return fix_versioning(bucket)


# ---- rules --------------------------------------------------------------------------------

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
        return Verdict("fail", f"Trail {t.name!r} does not give a complete audit log: "
                               f"{'; '.join(problems)}.", ev, fix_trail(t))
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
        return Verdict("fail", "The account has no CloudTrail trail: nothing records who "
                               "deletes backups.", {"trails": seen}, fix_new_trail())
    return Verdict("fail", "No trail in the account is multi-region, logging and validated: "
                   + " | ".join(s["detail"] for s in seen), {"trails": seen}, fix_trail(trails[0]))


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
        return Verdict("fail", f"Trail {t.name!r} writes to bucket {name!r}, which lacks "
                               f"{' and '.join(missing)}: the audit log can be erased.", ev,
                       fix_trail_bucket(bucket, missing))
    return Verdict.ok(f"Trail bucket {name!r} is versioned and locked.", **ev)


# ---- logs side: predicates on CloudTrail records ------------------------------------------


def trail_weakened(rp: Record, record: Record, params: Params, ctx: Context) -> bool:
    return is_false(rp.get("isMultiRegionTrail")) or is_false(rp.get("enableLogFileValidation"))


CONTROLS: tuple[Control, ...] = (
    Control(
        id="cloudtrail-enabled",
        gap=("No multi-region trail is logging",),
        why=("Without a trail nobody can tell who deleted a backup or when, and the logs side of "
            "DR Guard has nothing to read."),
        console=(
            "CloudTrail console: Trails, Create trail (or open the existing trail).",
            "Apply the trail to all regions, turn log file validation on and pick (or let it "
            "create) the log bucket.",
            "Save, and make sure Logging shows On.",
        ),
        title="A multi-region CloudTrail trail is logging",
        severity="high",
        exposure=UNSEEN,
        tier=1,
        description="At least one multi-region trail is logging, with log file validation.",
        remediation="Create an aws.cloudtrail.Trail with isMultiRegionTrail = true, "
                    "enableLogFileValidation = true and enableLogging = true.",
        mapping=ConfigMapping((), ("CloudTrail.1", "CloudTrail.4")),
        detections=(
            on(CLOUDTRAIL, "StopLogging", "DeleteTrail", resource=cloudtrail_trail,
               links_by="account",
               message="{principal} stopped the trail {name} ({event}): API activity is no "
                       "longer recorded."),
            on(CLOUDTRAIL, "UpdateTrail", when=trail_weakened, resource=cloudtrail_trail,
               links_by="account",
               message="{principal} updated the trail {name} with isMultiRegionTrail="
                       "{rp[isMultiRegionTrail]}, enableLogFileValidation="
                       "{rp[enableLogFileValidation]} ({event}): regions go unrecorded or log "
                       "files can be altered undetected."),
        ),
    ),
    Control(
        id="cloudtrail-bucket-protected",
        gap=("Trail bucket {s3BucketName} can be erased", "Trail bucket can be erased"),
        why=("An attacker who can delete the trail's log objects erases the evidence of what they "
            "did."),
        console=(
            "S3 console: select the trail's log bucket, Properties.",
            "Enable Bucket Versioning, then Object Lock with a default retention.",
            "Add a bucket policy that denies s3:DeleteObject* to everyone but a break-glass role.",
        ),
        title="The trail's bucket is itself protected",
        severity="high",
        exposure=UNSEEN,
        tier=2,
        description="The trail's S3 bucket is versioned and locked with Object Lock.",
        remediation="Treat the trail bucket as a backup bucket: versioning and Object Lock.",
        sources=frozenset({"deploy", "state", "live"}),
    ),
)
