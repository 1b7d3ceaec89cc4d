"""Backup buckets (S3): the Bucket fact, its controls (versioning, Object Lock, replication, public
access block, deletion alerts), rules and log detections."""

from __future__ import annotations

import fnmatch
import functools
import json
import shlex
from collections.abc import Iterable
from dataclasses import field
from typing import Any

from ..control import (
    DESTROYABLE,
    HYGIENE,
    SINGLE_REGION,
    UNSEEN,
    ConfigMapping,
    Control,
    days,
    strings,
)
from ..detections import (
    CLOUDTRAIL,
    EVENTS,
    S3,
    Context,
    Params,
    Record,
    as_list,
    cloudtrail_trail,
    events_rule,
    get_in,
    is_true,
    on,
    s3_bucket,
    to_int,
)
from ..facts import UNKNOWN, OnDelete, Resource, is_unknown, retention_days
from ..records import record
from ..verdict import Remediation, Verdict, logical_name, plural_days, show


@record
class Bucket(Resource):
    """An S3 bucket with its split configuration resources folded in."""

    versioning: Any = None  # "Enabled" | "Suspended" | None (never enabled)
    object_lock_enabled: Any = None
    lock_mode: Any = None  # default retention mode
    lock_days: Any = None  # default retention, years already turned into days
    force_destroy: Any = None
    scope_reasons: list[str] = field(default_factory=list)
    # Tier 2
    public_access_block: Any = None  # dict of the four flags, or None when absent
    replication: Any = None  # list of {"bucket", "region", "status"} or None
    # The algorithm of the default encryption: "AES256", "aws:kms", "aws:kms:dsse", None (none
    # declared: S3 encrypts with SSE-S3) or UNKNOWN
    sse: Any = None
    deletion_alerts: Any = None  # list of {"kind", "detail"} found, or None when unknown/absent
    is_state_bucket: bool = False
    # Backup buckets that replicate into this one: list of {"bucket", "region"}. A bucket that
    # is itself the cross-region copy of another needs no replication of its own.
    replica_of: list[dict[str, Any]] = field(default_factory=list)

    def stateful(self) -> bool:
        return bool(self.scope_reasons)  # only backup buckets

    def on_delete(self, replace: bool) -> OnDelete:
        """S3 refuses to delete a bucket that holds objects unless forceDestroy empties it;
        Object Lock keeps locked versions."""
        d = OnDelete("backup bucket", evidence={"forceDestroy": self.force_destroy,
                                                "objectLockEnabled": self.object_lock_enabled,
                                                "inScopeBecause": list(self.scope_reasons)})
        if self.force_destroy is True:
            d.lost.append("forceDestroy is true: every object and version is deleted first")
        elif self.force_destroy is UNKNOWN:
            d.lost.append("forceDestroy is unknown in this preview")
        else:
            d.saves.append("forceDestroy is off: S3 refuses to delete a bucket that still "
                           "holds objects, so the update fails at the delete while it is not "
                           "empty")
        if self.object_lock_enabled is True:
            d.saves.append("Object Lock keeps locked object versions until their retention "
                           "ends")
            d.kept.append("its locked object versions")
        return d


# ---- remediation: the fix for one bucket ---------------------------------------------------

# A second region for the copy, when the bucket's region has a usual partner.
DR_REGION = {"us-east-1": "us-west-2", "us-east-2": "us-west-2", "us-west-1": "us-east-1",
             "us-west-2": "us-east-1", "eu-west-1": "eu-central-1", "eu-central-1": "eu-west-1",
             "eu-west-2": "eu-west-1", "eu-west-3": "eu-central-1",
             "ap-southeast-1": "ap-southeast-2", "ap-southeast-2": "ap-southeast-1",
             "ap-northeast-1": "ap-northeast-3", "ca-central-1": "us-east-1"}


def _names(b: Bucket) -> tuple[str, str, str]:
    """(bucket name as a Python literal, as a shell word, a Pulumi logical name)."""
    name = b.name
    if type(name) is str:  # a bucket's remediations spell its name several times
        return _spelt(name)
    return _spell(name if isinstance(name, str) else "my-backup-bucket")


def _spell(name: str) -> tuple[str, str, str]:
    logical = logical_name(name) or "bucket"
    return json.dumps(name), shlex.quote(name), logical


_spelt = functools.lru_cache(maxsize=4096)(_spell)


def _known(b: Bucket, cli: str) -> str | None:
    """A CLI call only with the bucket's real name; None when it is not known (a deploy-side
    bucket whose name is decided on update)."""
    return cli if isinstance(b.name, str) and b.name else None


def fix_versioning(b: Bucket) -> Remediation:
    py, sh, var = _names(b)
    return Remediation(
        f"Turn versioning on for bucket {b.name} (Enabled), so overwritten and deleted objects "
        "can be recovered.",
        f"aws.s3.BucketVersioning(\"{var}-versioning\", bucket={py},\n"
        "    versioning_configuration={\"status\": \"Enabled\"})",
        _known(b, f"aws s3api put-bucket-versioning --bucket {sh} "
               "--versioning-configuration Status=Enabled"))


def fix_object_lock(b: Bucket, mode: str, days: int, enable: bool) -> Remediation:
    """Turn Object Lock on (`enable`: S3 allows it on an existing versioned bucket) or set a
    stronger default retention; never a new bucket."""
    py, sh, var = _names(b)
    rule = f"{{\"default_retention\": {{\"mode\": \"{mode}\", \"days\": {days}}}}}"
    lock = "\"ObjectLockEnabled\": \"Enabled\", " if enable else ""
    cli = (f"aws s3api put-object-lock-configuration --bucket {sh} "
           f"--object-lock-configuration '{{{lock}\"Rule\": {{\"DefaultRetention\": "
           f"{{\"Mode\": \"{mode}\", \"Days\": {days}}}}}}}'")
    pulumi = (f"aws.s3.BucketObjectLockConfiguration(\"{var}-lock\", bucket={py},\n"
              + ("    object_lock_enabled=\"Enabled\",\n" if enable else "")
              + f"    rule={rule})")
    if enable:
        versioned = b.versioning == "Enabled"
        summary = (f"Turn Object Lock on for bucket {b.name} with a default retention of {mode} "
                   f"mode for {plural_days(days)}" + ("" if versioned else
                                             " (enable versioning first: Object Lock needs it)")
                   + "; S3 allows this on the existing bucket.")
        if not versioned:
            pulumi = fix_versioning(b).pulumi + "\n" + pulumi
            cli = f"{fix_versioning(b).cli} && \\\n{cli}"
    elif b.lock_mode is None or b.lock_days is None:
        summary = (f"Add a default retention rule to bucket {b.name}: {mode} mode for {days} "
                   "days, so every new object is locked.")
    else:
        summary = (f"Raise the default retention of bucket {b.name} from {b.lock_mode} "
                   f"{plural_days(b.lock_days)} to {mode} mode for {plural_days(days)} (new "
                   "objects; existing versions keep their own retention).")
    return Remediation(summary, pulumi, _known(b, cli))


def fix_public_access_block(b: Bucket) -> Remediation:
    py, sh, var = _names(b)
    return Remediation(
        f"Block all public access to bucket {b.name} (all four public access block flags on).",
        f"aws.s3.BucketPublicAccessBlock(\"{var}-public-access-block\", bucket={py},\n"
        "    block_public_acls=True, block_public_policy=True,\n"
        "    ignore_public_acls=True, restrict_public_buckets=True)",
        _known(b, f"aws s3api put-public-access-block --bucket {sh} "
               "--public-access-block-configuration BlockPublicAcls=true,IgnorePublicAcls=true,"
               "BlockPublicPolicy=true,RestrictPublicBuckets=true"))


def fix_replication(b: Bucket, kms_objects: bool = False) -> Remediation:
    py, sh, var = _names(b)
    here = b.region if isinstance(b.region, str) else None
    there = DR_REGION.get(here or "", "us-west-2" if here != "us-west-2" else "us-east-1")
    replica = f"{b.name}-{there}" if isinstance(b.name, str) else "my-backup-bucket-replica"
    opt_in = ("            \"source_selection_criteria\": {\"sse_kms_encrypted_objects\": "
              "{\"status\": \"Enabled\"}},\n" if kms_objects else "")
    key = (",\n                            \"encryption_configuration\": "
           f"{{\"replica_kms_key_id\": \"arn:aws:kms:{there}:ACCOUNT_ID:key/KEY_ID\"}}"
           if kms_objects else "")
    return Remediation(
        f"Replicate bucket {b.name} to a versioned bucket in another region (e.g. {replica} in "
        f"{there}), so a regional outage does not take its only copy"
        + (", SSE-KMS objects included (with a key of that region for the replicas)."
           if kms_objects else "."),
        f"dr = aws.Provider(\"dr\", region=\"{there}\")\n"
        f"replica = aws.s3.Bucket(\"{var}-replica\", bucket=\"{replica}\",\n"
        "    opts=pulumi.ResourceOptions(provider=dr))\n"
        f"aws.s3.BucketVersioning(\"{var}-replica-versioning\", bucket=replica.id,\n"
        "    versioning_configuration={\"status\": \"Enabled\"},\n"
        "    opts=pulumi.ResourceOptions(provider=dr))\n"
        f"aws.s3.BucketReplicationConfig(\"{var}-replication\", bucket={py},\n"
        "    role=replication_role.arn,  # an IAM role S3 can assume to copy objects\n"
        "    rules=[{\"id\": \"dr-copy\", \"status\": \"Enabled\", \"filter\": {},\n"
        "            \"delete_marker_replication\": {\"status\": \"Disabled\"},\n"
        f"{opt_in}"
        f"            \"destination\": {{\"bucket\": replica.arn{key}}}}}])",
        # The destination bucket and a role S3 can assume must exist first: one CLI line
        # cannot create them safely (the declared console steps and the Pulumi code do).
        None)


def fix_deletion_alerts(b: Bucket) -> Remediation:
    py, sh, var = _names(b)
    return Remediation(
        f"Notify someone when objects in bucket {b.name} are deleted: an S3 event notification "
        "for s3:ObjectRemoved:* to an SNS topic people watch.",
        f"alerts = aws.sns.Topic(\"{var}-deletions\")  # subscribe the on-call to it\n"
        f"aws.s3.BucketNotification(\"{var}-deletion-alerts\", bucket={py},\n"
        "    topics=[{\"topic_arn\": alerts.arn, \"events\": [\"s3:ObjectRemoved:*\"]}])",
        # The topic must exist with a policy letting S3 publish, and the call replaces the
        # bucket's other notifications: not one safe CLI line (see the console steps).
        None)


# ---- rules --------------------------------------------------------------------------------

FLAGS = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")


def _label(b: Bucket) -> str:
    name = "(name not known yet)" if is_unknown(b.name) else b.name
    return f"backup bucket {name!r}"


def _scope(b: Bucket) -> dict[str, Any]:
    return {"inScopeBecause": list(b.scope_reasons)}


def versioning(b: Bucket) -> Verdict | None:
    if not b.scope_reasons:
        return None
    ev = {**_scope(b), "versioning": b.versioning, "objectLockEnabled": b.object_lock_enabled}
    if b.versioning == "Suspended":
        # Also with Object Lock: the program asks for something S3 refuses.
        return Verdict("fail", f"{_label(b)} has versioning Suspended: overwritten and "
                               "deleted objects are gone for good.", ev, fix_versioning(b))
    if b.versioning == "Enabled":
        return Verdict.ok(f"{_label(b)} is versioned.", **ev)
    if b.object_lock_enabled is True:
        return Verdict.ok(f"{_label(b)} is versioned (Object Lock turns versioning on and it "
                          "cannot be suspended).", **ev)
    if b.versioning is UNKNOWN or b.object_lock_enabled is UNKNOWN:
        return Verdict.unknown(f"Versioning of {_label(b)}", **ev)
    return Verdict("fail", f"{_label(b)} is not versioned ({show(b.versioning)}): "
                           "overwritten and deleted objects cannot be recovered.", ev,
                   fix_versioning(b))


def object_lock(b: Bucket, params: dict[str, Any]) -> Verdict | None:
    if not b.scope_reasons:
        return None
    modes = list(params["allowedLockModes"])
    min_days = params["minLockDays"]
    enable_p = b.prop("object_lock_enabled", "objectLockEnabled")
    rule_p = b.prop("lock_rule", "aws.s3.BucketObjectLockConfiguration rule.defaultRetention")
    ev = {**_scope(b), "objectLockEnabled": b.object_lock_enabled, "mode": b.lock_mode,
          "days": b.lock_days, "allowedLockModes": modes, "minLockDays": min_days}
    if b.object_lock_enabled is UNKNOWN:
        return Verdict.unknown(f"{enable_p} of {_label(b)}", **ev)
    if b.object_lock_enabled is not True:
        return Verdict("fail", f"{_label(b)} has no Object Lock: anyone with delete rights "
                               "can erase its backups.", ev,
                       fix_object_lock(b, modes[0], min_days, enable=True))
    if b.lock_mode is UNKNOWN or b.lock_days is UNKNOWN:
        return Verdict.unknown(f"The default retention of {_label(b)}", **ev)
    if b.lock_mode is None or b.lock_days is None:
        return Verdict("fail", f"{_label(b)} has Object Lock on but no default retention rule "
                               f"({rule_p}), so new objects are not locked.", ev,
                       fix_object_lock(b, modes[0], min_days, enable=False))
    problems = []
    if b.lock_mode not in modes:
        problems.append(f"mode is {b.lock_mode}, allowed: {', '.join(modes)}")
    if b.lock_days < min_days:
        problems.append(f"retention is {plural_days(b.lock_days)}, below {min_days}")
    if problems:
        mode = b.lock_mode if b.lock_mode in modes else modes[0]
        return Verdict("fail", f"{_label(b)} default retention ({rule_p}) is too weak: "
                               f"{'; '.join(problems)}.", ev,
                       fix_object_lock(b, mode, max(min_days, b.lock_days), enable=False))
    return Verdict.ok(f"{_label(b)} locks objects in {b.lock_mode} mode for {b.lock_days} "
                      "days.", **ev)


def public_access_block(b: Bucket) -> Verdict | None:
    if not b.scope_reasons:
        return None
    pab = b.public_access_block
    ev = {**_scope(b), "publicAccessBlock": pab}
    if pab is UNKNOWN:
        return Verdict.unknown(f"The public access block of {_label(b)}", **ev)
    if not pab:
        return Verdict("fail", f"{_label(b)} has no public access block.", ev,
                       fix_public_access_block(b))
    unknown = [f for f in FLAGS if pab.get(f) is UNKNOWN]
    off = [f for f in FLAGS if pab.get(f) is not True and pab.get(f) is not UNKNOWN]
    if off:
        return Verdict("fail", f"{_label(b)} public access block leaves {', '.join(off)} off.",
                       ev, fix_public_access_block(b))
    if unknown:
        return Verdict.unknown(f"{', '.join(unknown)} of {_label(b)}", **ev)
    return Verdict.ok(f"{_label(b)} blocks all public access.", **ev)


def kms_by_default(sse: Any) -> Any:
    """Whether a bucket's default encryption is SSE-KMS (or DSSE-KMS); UNKNOWN if unknown."""
    if sse is UNKNOWN:
        return UNKNOWN
    return isinstance(sse, str) and sse.startswith("aws:kms")


def skips_kms_objects(rule: dict[str, Any], sse: Any) -> Any:
    """True when `rule` leaves out the objects the bucket encrypts by default: S3 replicates
    SSE-KMS objects only for a rule that opts in (sourceSelectionCriteria
    sseKmsEncryptedObjects Enabled). UNKNOWN if either side is unknown."""
    opted = rule.get("kmsObjects")
    if opted == "Enabled":
        return False
    kms = kms_by_default(sse)
    if kms is UNKNOWN or (kms and opted is UNKNOWN):
        return UNKNOWN
    return kms


def replication(b: Bucket) -> Verdict | None:
    """Enabled replication to a bucket in another region; a bucket that is itself the
    cross-region copy of a backup bucket (`replica_of`) needs none of its own."""
    if not b.scope_reasons:
        return None
    ev = {**_scope(b), "region": b.region, "replication": b.replication}
    if b.replica_of:
        ev["replicaOf"] = b.replica_of
    if b.replication is UNKNOWN:
        return Verdict.unknown(f"The replication of {_label(b)}", **ev)
    all_rules = list(b.replication or [])
    rules = [r for r in all_rules if r.get("status", "Enabled") == "Enabled"]
    pending = [r for r in all_rules if is_unknown(r.get("status"))]
    if any(is_unknown(r.get("region")) for r in rules) or (rules and is_unknown(b.region)):
        return Verdict.unknown(f"The destination region of {_label(b)}", **ev)
    other = [r for r in rules if r.get("region") and r["region"] != b.region]
    copying = [r for r in other if skips_kms_objects(r, b.sse) is False]
    if copying:
        return Verdict.ok(f"{_label(b)} replicates to {copying[0]['bucket']} in "
                          f"{copying[0]['region']}.", **ev)
    sources = [s for s in b.replica_of
               if s.get("region") and b.region and s["region"] != b.region]
    if sources:
        return Verdict.ok(f"{_label(b)} is the cross-region copy of {sources[0]['bucket']} "
                          f"({sources[0]['region']}).", **ev)
    if other:
        ev["defaultEncryption"] = b.sse
        if any(skips_kms_objects(r, b.sse) is UNKNOWN for r in other):
            return Verdict.unknown(f"Whether the replication of {_label(b)} copies the objects "
                                   "it encrypts with SSE-KMS", **ev)
        r = other[0]
        return Verdict("fail", f"{_label(b)} replicates to {r['bucket']} in {r['region']}, but "
                               "leaves out SSE-KMS objects (no sourceSelectionCriteria "
                               f"sseKmsEncryptedObjects Enabled) while the bucket encrypts every "
                               f"new object with {b.sse} by default: none of them is "
                               "replicated.", ev, fix_replication(b, kms_objects=True))
    if pending:
        return Verdict.unknown(f"The status of the replication rules of {_label(b)}", **ev)
    if not rules:
        return Verdict("fail", f"{_label(b)} is not replicated: a regional outage takes its "
                               "only copy.", ev, fix_replication(b))
    unplaced = [r for r in rules if not r.get("region")]
    if unplaced:
        names = ", ".join(dict.fromkeys(str(r.get("bucket")) for r in unplaced))  # each once
        fix = Remediation(
            f"Declare the destination bucket {names} with its regional provider in this stack "
            "(so its region is known), or waive this check for the bucket.",
            f"aws.s3.Bucket(\"replica\", bucket=\"{unplaced[0].get('bucket')}\",\n"
            "    opts=pulumi.ResourceOptions(provider=aws.Provider(\"dr\", "
            "region=\"us-west-2\")))  # its real region")
        return Verdict("fail", f"{_label(b)} replicates to {names}, whose region is not known "
                               "(the bucket is not declared alongside it), so a copy in another "
                               "region cannot be confirmed.", ev, fix)
    dest = ", ".join(dict.fromkeys(f"{r.get('bucket')} ({r.get('region')})" for r in rules))
    return Verdict("fail", f"{_label(b)} replicates only within {b.region} ({dest}); that "
                           "does not survive a regional outage.", ev, fix_replication(b))


def deletion_alerts(b: Bucket) -> Verdict | None:
    if not b.scope_reasons:
        return None
    ev = {**_scope(b), "alerts": b.deletion_alerts}
    if b.deletion_alerts is UNKNOWN:
        return Verdict.unknown(f"The deletion alerts of {_label(b)}", **ev)
    if b.deletion_alerts:
        kinds = ", ".join(a["kind"] for a in b.deletion_alerts)
        return Verdict.ok(f"Deletions on {_label(b)} raise alerts ({kinds}).", **ev)
    notes = b.evidence.get("alertNotes") or []
    why = f" ({'; '.join(notes)})" if notes else ""
    return Verdict("fail", f"Deletions on {_label(b)} notify no one{why}.", ev,
                   fix_deletion_alerts(b))


# ---- logs side: predicates on CloudTrail records ------------------------------------------


def versioning_not_enabled(rp: Record, record: Record, params: Params, ctx: Context) -> bool:
    status = get_in(rp, "VersioningConfiguration", "Status")
    return status is not None and status != "Enabled"


def lock_weakened(rp: Record, record: Record, params: Params, ctx: Context) -> bool:
    """No default retention, a mode not allowed, or fewer than minLockDays (years = 365)."""
    retention = get_in(rp, "ObjectLockConfiguration", "Rule", "DefaultRetention")
    if not isinstance(retention, dict):
        return True
    mode = retention.get("Mode")
    if not isinstance(mode, str) or mode not in params["allowedLockModes"]:
        return True
    total = retention_days(to_int(retention.get("Days")), to_int(retention.get("Years")))
    return bool((total or 0) < params["minLockDays"])


def bypasses_governance(rp: Record, record: Record, params: Params, ctx: Context) -> bool:
    return is_true(rp.get("x-amz-bypass-governance-retention"))


def deletes_version(rp: Record, record: Record, params: Params, ctx: Context) -> bool:
    return bool(rp.get("versionId"))


def deletes_current(rp: Record, record: Record, params: Params, ctx: Context) -> bool:
    return not rp.get("versionId")


def lifecycle_expires(rp: Record, record: Record, params: Params, ctx: Context) -> bool:
    """An enabled rule expiring current objects (Days/Date) or noncurrent versions."""
    for rule in as_list(get_in(rp, "LifecycleConfiguration", "Rule")):
        if not isinstance(rule, dict) or rule.get("Status") == "Disabled":
            continue
        exp = rule.get("Expiration")
        if isinstance(exp, dict) and (exp.get("Days") is not None or exp.get("Date")):
            return True
        if rule.get("NoncurrentVersionExpiration") is not None:
            return True
    return False


PUBLIC_ACCESS_FLAGS = ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy",
                       "RestrictPublicBuckets")


def public_access_flag_off(rp: Record, record: Record, params: Params, ctx: Context) -> bool:
    """PutPublicAccessBlock replaces the configuration: an omitted flag is false."""
    cfg = rp.get("PublicAccessBlockConfiguration")
    cfg = cfg if isinstance(cfg, dict) else {}
    return not all(is_true(cfg.get(flag)) for flag in PUBLIC_ACCESS_FLAGS)


def _s3_data_buckets(resources: Iterable[str]) -> set[str] | None:
    """Bucket names from S3 data-resource ARNs; None when they cover every bucket."""
    names: set[str] = set()
    for value in resources:
        if not isinstance(value, str):
            continue
        tail = value.split(":::", 1)[1] if ":::" in value else ""
        if not tail:
            return None
        names.add(tail.split("/", 1)[0])
    return names


def drops_data_events(rp: Record, record: Record, params: Params, ctx: Context) -> bool:
    """The new selectors log no S3 write data events on any backup bucket."""
    covered: list[set[str] | None] = []
    for sel in as_list(rp.get("eventSelectors")):
        if not isinstance(sel, dict) or sel.get("readWriteType") == "ReadOnly":
            continue
        for res in as_list(sel.get("dataResources")):
            if isinstance(res, dict) and res.get("type") == "AWS::S3::Object":
                covered.append(_s3_data_buckets(as_list(res.get("values"))))
    for sel in as_list(rp.get("advancedEventSelectors")):
        fields = {f.get("field"): f for f in as_list(get_in(sel, "fieldSelectors"))
                  if isinstance(f, dict) and isinstance(f.get("field"), str)}
        if "Data" not in as_list(get_in(fields, "eventCategory", "equals")):
            continue
        if "AWS::S3::Object" not in as_list(get_in(fields, "resources.type", "equals")):
            continue
        if "true" in [str(v).lower() for v in as_list(get_in(fields, "readOnly", "equals"))]:
            continue
        prefixes = as_list(get_in(fields, "resources.ARN", "startsWith"))
        exact = as_list(get_in(fields, "resources.ARN", "equals"))
        covered.append(_s3_data_buckets(prefixes + exact) if prefixes or exact else None)
    for buckets in covered:
        if buckets is None or any(ctx.bucket_reasons(b) for b in buckets):
            return False
    return True


def alert_rule(rp: Record, record: Record, params: Params, ctx: Context) -> bool:
    name = rp.get("name") or rp.get("rule") or ""
    patterns = params.get("alertRuleNames") or []
    return not patterns or any(fnmatch.fnmatchcase(str(name), p) for p in patterns)


CONTROLS: tuple[Control, ...] = (
    Control(
        id="backup-bucket-versioning",
        gap=("Versioning {versioning}; needs Enabled", "Versioning off"),
        why="Without versioning an overwrite or a delete in a backup bucket is permanent.",
        console=(
            "S3 console: Buckets, select the bucket, Properties.",
            "Bucket Versioning, Edit, Enable, Save changes.",
        ),
        cannot_remediate=("only a bucket's own inline versioning block is fixed; a bucket "
                          "without one needs a BucketVersioning resource, and a remediation "
                          "cannot add resources."),
        title="Backup buckets are versioned",
        severity="critical",
        exposure=DESTROYABLE,
        tier=1,
        description="Backup buckets have S3 versioning Enabled (not absent, not Suspended).",
        remediation="Enable versioning: an aws.s3.BucketVersioning with "
                    "versioningConfiguration.status = \"Enabled\".",
        mapping=ConfigMapping(("S3_BUCKET_VERSIONING_ENABLED",), ("S3.14",)),
        backup_scoped=True,
        detections=(
            on(S3, "PutBucketVersioning", when=versioning_not_enabled, backup_scoped=True,
               resource=s3_bucket,
               message="{principal} set versioning of backup bucket {name} to "
                       "{rp[VersioningConfiguration][Status]} ({event}): overwrites and "
                       "deletes are now permanent."),
            on(S3, "DeleteObject", when=deletes_current, backup_scoped=True,
               resource=s3_bucket,
               message="{principal} deleted {rp[key]} from backup bucket {name} ({event}): "
                       "recoverable only while the bucket is versioned."),
            on(S3, "DeleteObjects", backup_scoped=True, resource=s3_bucket,
               message="{principal} bulk-deleted objects from backup bucket {name} ({event}): "
                       "recoverable only while the bucket is versioned."),
            on(S3, "PutBucketLifecycle", when=lifecycle_expires, backup_scoped=True,
               resource=s3_bucket,
               message="{principal} added a lifecycle expiration to backup bucket {name} "
                       "({event}): objects or their old versions will be deleted "
                       "automatically."),
        ),
    ),
    Control(
        id="backup-bucket-object-lock",
        gap=(
            "Locked {mode} {days|day}; needs {allowedLockModes} {minLockDays|day}",
            "No Object Lock",
        ),
        why=("Without Object Lock anyone with delete rights (or stolen credentials) can erase "
            "every backup version."),
        console=(
            "S3 console: Buckets, select the bucket, Properties (versioning must be Enabled "
            "first).",
            "Object Lock, Edit: enable Object Lock (S3 allows it on an existing versioned "
            "bucket).",
            "Default retention: Enable, mode as allowedLockModes (COMPLIANCE by default), at "
            "least minLockDays days, Save changes.",
        ),
        cannot_remediate=("Object Lock and its default retention are set by a "
                          "BucketObjectLockConfiguration, a resource of its own; a "
                          "remediation changes a resource's inputs and cannot add resources."),
        title="Backup buckets are locked with S3 Object Lock",
        severity="critical",
        exposure=DESTROYABLE,
        tier=1,
        description="Backup buckets have Object Lock on with a default retention rule in an "
                    "allowed mode for at least minLockDays days.",
        remediation="Turn Object Lock on (S3 allows it on an existing versioned bucket) with "
                    "an aws.s3.BucketObjectLockConfiguration (objectLockEnabled \"Enabled\") "
                    "whose rule.defaultRetention has an allowed mode (COMPLIANCE by default) "
                    "and days >= minLockDays.",
        params=(
            strings("allowedLockModes", ["COMPLIANCE"],
                     "Default retention modes accepted.", enum=["COMPLIANCE", "GOVERNANCE"],
                     min_items=1),
            days("minLockDays", 30,
                  "Minimum default retention in days (years count as 365 days)."),
        ),
        mapping=ConfigMapping(("S3_BUCKET_DEFAULT_LOCK_ENABLED",), ("S3.15",)),
        backup_scoped=True,
        detections=(
            on(S3, "PutObjectLockConfiguration", when=lock_weakened, backup_scoped=True,
               resource=s3_bucket,
               message="{principal} set the default Object Lock retention of backup bucket "
                       "{name} to mode {rp[ObjectLockConfiguration][Rule][DefaultRetention]"
                       "[Mode]}, days {rp[ObjectLockConfiguration][Rule][DefaultRetention]"
                       "[Days]}, years {rp[ObjectLockConfiguration][Rule][DefaultRetention]"
                       "[Years]} ({event}); required: mode in {params[allowedLockModes]} for "
                       ">= {params[minLockDays]} days."),
            on(S3, "DeleteObject", "DeleteObjects", when=bypasses_governance,
               backup_scoped=True, resource=s3_bucket,
               message="{principal} deleted from backup bucket {name} bypassing GOVERNANCE "
                       "retention ({event} with x-amz-bypass-governance-retention): locked "
                       "backups were destroyed."),
            on(S3, "DeleteObject", when=deletes_version, backup_scoped=True,
               resource=s3_bucket,
               message="{principal} permanently deleted version {rp[versionId]} of {rp[key]} "
                       "in backup bucket {name} ({event}): the version was not protected by "
                       "Object Lock retention."),
        ),
    ),
    Control(
        id="backup-bucket-replication",
        gap=("Not replicated to another region",),
        why="A regional outage takes the only copy of every backup in the bucket.",
        console=(
            "S3 console: create a versioned bucket in another region.",
            "Select the backup bucket, Management, Replication rules, Create replication rule to "
            "that bucket (with an IAM role S3 can assume), Save.",
        ),
        cannot_remediate=("replication needs a destination bucket and a replication "
                          "configuration: resources a remediation cannot add."),
        title="Backup buckets replicate to another region",
        severity="high",
        exposure=SINGLE_REGION,
        tier=2,
        description="Backup buckets replicate to a bucket in a different region (a bucket that "
                    "encrypts with SSE-KMS by default, with a rule that replicates SSE-KMS "
                    "objects).",
        remediation="Add an aws.s3.BucketReplicationConfig whose rule destination bucket lives "
                    "in another region (a provider with another region).",
        mapping=ConfigMapping(("S3_BUCKET_CROSS_REGION_REPLICATION_ENABLED",), ("S3.7",)),
        backup_scoped=True,
        detections=(
            on(S3, "DeleteBucketReplication", backup_scoped=True, resource=s3_bucket,
               message="{principal} removed the replication of backup bucket {name} "
                       "({event}): no copy in another region any more."),
        ),
    ),
    Control(
        id="backup-bucket-deletion-alerts",
        gap=("Deletions alert no one",),
        why="Backups deleted without an alert are found missing only when a restore is needed.",
        console=(
            "S3 console: select the bucket, Properties, Event notifications, Create event "
            "notification.",
            "Event types: All object removal events (s3:ObjectRemoved:*); destination: an SNS "
            "topic the on-call watches, Save.",
        ),
        cannot_remediate=("alerts need an EventBridge rule, a target and CloudTrail data "
                          "events: resources a remediation cannot add."),
        title="Deletions on backup buckets raise an alert",
        severity="high",
        exposure=UNSEEN,
        tier=2,
        description="An EventBridge rule with an enabled target matches deletions on the "
                    "bucket and a trail logs its S3 write data events, or S3 event "
                    "notifications for s3:ObjectRemoved:* are configured.",
        remediation="Add an aws.cloudwatch.EventRule matching DeleteObject/DeleteObjects/"
                    "DeleteBucket for the bucket with an EventTarget, plus trail data events "
                    "for it; or an aws.s3.BucketNotification for s3:ObjectRemoved:*.",
        params=(
            strings("alertRuleNames", [],
                     "Logs side: globs naming the EventBridge rules that alert on backup "
                     "deletions; empty means any rule change is reported."),
        ),
        backup_scoped=True,
        detections=(
            on(EVENTS, "DeleteRule", "DisableRule", "RemoveTargets", when=alert_rule,
               resource=events_rule, links_by="account",
               message="{principal} changed the EventBridge rule {name} ({event}): deletions "
                       "on backup buckets may no longer raise an alert."),
            on(CLOUDTRAIL, "PutEventSelectors", when=drops_data_events,
               resource=cloudtrail_trail, links_by="account",
               message="{principal} set event selectors on trail {name} that log no S3 write "
                       "data events for backup buckets ({event}): object deletions are no "
                       "longer seen."),
        ),
    ),
    Control(
        id="backup-bucket-public-access-block",
        gap=("Public access not blocked",),
        why="A backup bucket that can be made public can leak every backup in it.",
        console=(
            "S3 console: select the bucket, Permissions.",
            "Block public access (bucket settings), Edit, tick Block all public access, Save "
            "changes.",
        ),
        cannot_remediate=("the public access block is a resource of its own "
                          "(BucketPublicAccessBlock); a remediation cannot add resources."),
        title="Backup buckets block public access",
        severity="high",
        exposure=HYGIENE,
        tier=2,
        description="All four S3 public-access-block flags are on for backup buckets.",
        remediation="Add an aws.s3.BucketPublicAccessBlock with blockPublicAcls, "
                    "blockPublicPolicy, ignorePublicAcls and restrictPublicBuckets true.",
        mapping=ConfigMapping((), ("S3.8",)),
        backup_scoped=True,
        detections=(
            on(S3, "DeleteBucketPublicAccessBlock", backup_scoped=True, resource=s3_bucket,
               message="{principal} removed the public access block of backup bucket {name} "
                       "({event})."),
            on(S3, "PutBucketPublicAccessBlock", when=public_access_flag_off,
               backup_scoped=True, resource=s3_bucket,
               message="{principal} turned a public access block flag off on backup bucket "
                       "{name} ({event}): {rp[PublicAccessBlockConfiguration]}."),
        ),
    ),
)
