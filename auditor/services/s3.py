"""S3: buckets, their region and tags, the settings backup-bucket controls judge, the
deletion-alert paths of each backup bucket (notifications, EventBridge rules and their
targets, trails logging its data events), backup scope, and the bucket controls' bindings."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import field
from typing import Any, Protocol
from urllib.parse import urlparse

from drguard import alerts as shared
from drguard.controls import s3 as ctl
from drguard.controls.cloudtrail import Trail
from drguard.controls.s3 import Bucket
from drguard.facts import UNKNOWN, retention_days
from drguard.records import record
from drguard.verdict import Verdict

from ..aws import Account, paginate
from ..collectors import UNIT_ERRORS, Errors, ReadError, bucket_arn, guarded, tag_dict
from ..live import AccountScan, DriftKind, Live, LiveService, Phase, Read, ScanContext, Step


class TrailRead(Protocol):
    """What the alert check reads of a trail (`auditor.services.cloudtrail.TrailRead`)."""

    fact: Trail
    errors: Errors

    def logs_writes_of(self, bucket: str) -> Any: ...


_PAB_KEYS = {"BlockPublicAcls": "blockPublicAcls", "BlockPublicPolicy": "blockPublicPolicy",
             "IgnorePublicAcls": "ignorePublicAcls",
             "RestrictPublicBuckets": "restrictPublicBuckets"}


@record
class BucketRead:
    """One bucket as read: the fact plus raw settings other controls look at."""

    fact: Bucket
    errors: Errors = field(default_factory=dict)
    notifications: Any = UNKNOWN  # GetBucketNotificationConfiguration, or UNKNOWN
    policy_public: Any = None  # GetBucketPolicyStatus IsPublic (state bucket only)
    checkpoints: Any = None  # {key: versions} (state bucket only)
    # GetBucketEncryption as answered (None: no configuration), UNKNOWN when unread
    encryption: Any = UNKNOWN
    detailed: bool = False

    @property
    def name(self) -> str:
        return self.fact.name


def normalize_region(constraint: str | None) -> str:
    if not constraint:
        return "us-east-1"
    return "eu-west-1" if constraint == "EU" else constraint


def list_buckets(account: Account) -> list[dict[str, Any]]:
    """ListBuckets (paginated); raises on AWS errors (the caller records them)."""
    return list(paginate(account.client("s3"), "list_buckets", "Buckets"))


def region_of(account: Account, name: str) -> tuple[str | None, ReadError | None]:
    s3 = account.client("s3")
    errors: Errors = {}
    loc = guarded(errors, "location", "s3:GetBucketLocation",
                  lambda: s3.get_bucket_location(Bucket=name))
    if loc is UNKNOWN:
        return None, errors["location"]
    return normalize_region(loc.get("LocationConstraint")), None


def discover(account: Account, listed: dict[str, Any]) -> BucketRead:
    """Region (from ListBuckets' BucketRegion, else GetBucketLocation) and tags."""
    name = listed["Name"]
    b = Bucket(ref=bucket_arn(name, account.region), name=name, type="AWS::S3::Bucket",
               account=account.id)
    read = BucketRead(b)
    region = listed.get("BucketRegion")
    if not region:
        region, err = region_of(account, name)
        if err:
            read.errors["location"] = err
    b.region = region
    s3 = account.client("s3", region)
    tags = guarded(read.errors, "tags", "s3:GetBucketTagging",
                   lambda: s3.get_bucket_tagging(Bucket=name).get("TagSet"),
                   absent={"NoSuchTagSet": []})
    b.tags = tag_dict(tags) if tags is not UNKNOWN else {}
    b.evidence["region"] = region
    return read


def _lock(resp: Any) -> tuple[Any, Any, Any]:
    """(enabled, mode, days) from GetObjectLockConfiguration."""
    if resp is UNKNOWN:
        return UNKNOWN, UNKNOWN, UNKNOWN
    if resp is None:
        return False, None, None
    cfg = resp.get("ObjectLockConfiguration") or {}
    enabled = cfg.get("ObjectLockEnabled") == "Enabled"
    ret = (cfg.get("Rule") or {}).get("DefaultRetention") or {}
    return enabled, ret.get("Mode"), retention_days(ret.get("Days"), ret.get("Years"))


def _replication(resp: Any) -> Any:
    if resp is UNKNOWN:
        return UNKNOWN
    rules: list[dict[str, Any]] = []
    if resp is None:
        return rules
    for r in (resp.get("ReplicationConfiguration") or {}).get("Rules") or ():
        dest = r.get("Destination") or {}
        arn = dest.get("Bucket", "")
        rules.append({"id": r.get("ID"), "status": r.get("Status"),
                      "bucket": arn.split(":::", 1)[-1], "account": dest.get("Account"),
                      "owner": (dest.get("AccessControlTranslation") or {}).get("Owner"),
                      "replicaKey": (dest.get("EncryptionConfiguration") or {}).get(
                          "ReplicaKmsKeyID"),
                      "kmsObjects": ((r.get("SourceSelectionCriteria") or {}).get(
                          "SseKmsEncryptedObjects") or {}).get("Status"),
                      "region": None})
    return rules


def sse_of(resp: Any) -> Any:
    """The default encryption algorithm of a GetBucketEncryption answer: an SSE-KMS one when
    any rule names one, else the first rule's; None without a configuration."""
    if resp is UNKNOWN or resp is None:
        return resp
    names = [str((rule.get("ApplyServerSideEncryptionByDefault") or {}).get("SSEAlgorithm"))
             for rule in (resp.get("ServerSideEncryptionConfiguration") or {}).get("Rules") or ()
             if isinstance(rule, dict)
             and (rule.get("ApplyServerSideEncryptionByDefault") or {}).get("SSEAlgorithm")]
    return next((a for a in names if a.startswith("aws:kms")), names[0] if names else None)


def _pab(resp: Any) -> Any:
    if resp is UNKNOWN or resp is None:
        return resp
    cfg = resp.get("PublicAccessBlockConfiguration") or {}
    return {camel: cfg.get(key) is True for key, camel in _PAB_KEYS.items()}


def read_details(account: Account, read: BucketRead, state_prefix: str | None = None) -> None:
    """The settings of a backup bucket; with `state_prefix` also the Pulumi state checks."""
    b, errors, name = read.fact, read.errors, read.name
    s3 = account.client("s3", b.region)
    ver = guarded(errors, "versioning", "s3:GetBucketVersioning",
                  lambda: s3.get_bucket_versioning(Bucket=name))
    b.versioning = UNKNOWN if ver is UNKNOWN else ver.get("Status")
    if ver is not UNKNOWN and ver.get("MFADelete"):
        b.evidence["mfaDelete"] = ver["MFADelete"]
    lock = guarded(errors, "objectLock", "s3:GetObjectLockConfiguration",
                   lambda: s3.get_object_lock_configuration(Bucket=name),
                   absent={"ObjectLockConfigurationNotFoundError": None})
    b.object_lock_enabled, b.lock_mode, b.lock_days = _lock(lock)
    b.public_access_block = _pab(guarded(
        errors, "publicAccessBlock", "s3:GetPublicAccessBlock",
        lambda: s3.get_public_access_block(Bucket=name),
        absent={"NoSuchPublicAccessBlockConfiguration": None}))
    b.replication = _replication(guarded(
        errors, "replication", "s3:GetBucketReplication",
        lambda: s3.get_bucket_replication(Bucket=name),
        absent={"ReplicationConfigurationNotFoundError": None}))
    read.encryption = guarded(
        errors, "encryption", "s3:GetBucketEncryption",
        lambda: s3.get_bucket_encryption(Bucket=name),
        absent={"ServerSideEncryptionConfigurationNotFoundError": None})
    b.sse = sse_of(read.encryption)
    notif = guarded(errors, "notifications", "s3:GetBucketNotificationConfiguration",
                    lambda: s3.get_bucket_notification_configuration(Bucket=name))
    if isinstance(notif, dict):
        notif.pop("ResponseMetadata", None)
    read.notifications = notif
    if state_prefix is not None:
        read_state(account, read, state_prefix)
    read.detailed = True


def read_state(account: Account, read: BucketRead, prefix: str) -> None:
    """Bucket policy status and the versions of each stack checkpoint under `prefix`."""
    s3 = account.client("s3", read.fact.region)
    name = read.name
    status = guarded(read.errors, "policyStatus", "s3:GetBucketPolicyStatus",
                     lambda: s3.get_bucket_policy_status(Bucket=name),
                     absent={"NoSuchBucketPolicy": None})
    read.policy_public = (False if status is None else UNKNOWN if status is UNKNOWN
                          else (status.get("PolicyStatus") or {}).get("IsPublic") is True)
    read.checkpoints = guarded(read.errors, "checkpoints", "s3:ListObjectVersions",
                               lambda: checkpoint_versions(s3, name, prefix))


def checkpoint_versions(s3: Any, bucket: str, prefix: str) -> dict[str, int]:
    """{checkpoint key: number of versions} for stack checkpoints (not .bak files) that are
    not currently deleted."""
    root = f"{prefix.strip('/')}/.pulumi/stacks/" if prefix.strip("/") else ".pulumi/stacks/"
    counts: dict[str, int] = {}
    deleted: set[str] = set()
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=root):
        for v in page.get("Versions") or ():
            key = v["Key"]
            if key.endswith((".json", ".json.gz")):
                counts[key] = counts.get(key, 0) + 1
        for m in page.get("DeleteMarkers") or ():
            if m.get("IsLatest"):
                deleted.add(m["Key"])
    return {k: n for k, n in sorted(counts.items()) if k not in deleted}


# ---- the Pulumi state bucket ---------------------------------------------------------------

def location(configured: str | None, env: Mapping[str, str] | None = None,
             project: str | None = None) -> tuple[str, str, str] | None:
    """(bucket, key prefix, where it came from) of the state backend, or None.

    `configured` is the `stateBucket` setting (a name or an s3:// URL); otherwise
    PULUMI_BACKEND_URL when it is an s3:// URL (as for the Pulumi CLI, it overrides the
    project); otherwise `project`, the `backend.url` of the project's Pulumi.yaml."""
    env = os.environ if env is None else env
    url = env.get("PULUMI_BACKEND_URL", "")
    if configured:
        if configured.startswith("s3://"):
            p = urlparse(configured)
            return p.netloc, p.path.strip("/"), "stateBucket setting"
        env_p = urlparse(url) if url.startswith("s3://") else None
        prefix = env_p.path.strip("/") if env_p and env_p.netloc == configured else ""
        return configured, prefix, "stateBucket setting"
    if url.startswith("s3://"):
        p = urlparse(url)
        if p.netloc:
            return p.netloc, p.path.strip("/"), "PULUMI_BACKEND_URL"
    if project and project.startswith("s3://"):
        p = urlparse(project)
        if p.netloc:
            return p.netloc, p.path.strip("/"), "Pulumi.yaml backend.url"
    return None


def state_location(scanner: ScanContext) -> tuple[str, str, str] | None:
    """(bucket, prefix, origin) of the Pulumi state backend for this scan (read once)."""
    if "s3:state" not in scanner.shared:
        scanner.shared["s3:state"] = location(scanner.settings.scope.state_bucket,
                                              project=scanner.project_backend)
    return scanner.shared["s3:state"]


# ---- EventBridge: rules on the default bus and their targets ------------------------------

def event_rules(account: Account, region: str) -> list[dict[str, Any]]:
    """Rules with an event pattern on the default bus; raises on AWS errors."""
    events = account.client("events", region)
    return [r for r in paginate(events, "list_rules", "Rules") if r.get("EventPattern")]


def event_targets(account: Account, region: str, rule: str) -> list[dict[str, Any]]:
    """Targets of one rule; raises on AWS errors."""
    events = account.client("events", region)
    return [{"id": t.get("Id"), "arn": t.get("Arn")}
            for t in paginate(events, "list_targets_by_rule", "Targets", Rule=rule)]


# ---- deletion alerts of a bucket, live ------------------------------------------------------
#
# Feeds what was read to drguard.alerts (shared with the policy pack) and keeps the read
# errors that make an answer unknown.

# (region, rule name) -> (targets or UNKNOWN, the error when UNKNOWN); cached by the caller
TargetLookup = Callable[[str, str], tuple[Any, ReadError | None]]


@record
class AlertCheck:
    """The deletion alerts found for a bucket, with notes and read errors."""

    alerts: Any = field(default_factory=list)  # list of {"kind", "detail"} or UNKNOWN
    notes: list[str] = field(default_factory=list)
    errors: list[ReadError] = field(default_factory=list)


class _LiveRule(shared.Rule):
    """A rule whose targets are only listed (ListTargetsByRule) if its pattern matches."""

    def __init__(self, raw: dict[str, Any], region: str, lookup: TargetLookup,
                 errors: list[ReadError]) -> None:
        self.name = raw["Name"]
        self.pattern = raw.get("EventPattern")
        self.enabled = raw.get("State") == "ENABLED"
        self._fetch = lambda: lookup(region, self.name)
        self._errors = errors

    @property
    def targets(self) -> Any:
        found, err = self._fetch()
        if err is not None and err not in self._errors:
            self._errors.append(err)
        return found


def _trails(trails: list[TrailRead], bucket: str, region: str | None,
            unreadable: list[ReadError], errors: list[ReadError]) -> list[shared.Trail]:
    out = []
    for t in trails:
        if not (t.fact.multi_region or t.fact.region == region):
            continue  # a single-region trail elsewhere never sees this bucket's calls
        logs = t.logs_writes_of(bucket)
        if t.fact.logging is False or logs is False:
            out.append(shared.Trail(t.fact.ref, False))
        elif t.fact.logging is UNKNOWN or logs is UNKNOWN:
            out.append(shared.Trail(t.fact.ref, UNKNOWN))
            errors += list(t.errors.values())
        else:
            out.append(shared.Trail(t.fact.ref, True))
    if unreadable:  # trails of some region could not be listed: one of them might log it
        out.append(shared.Trail("(unlisted trails)", UNKNOWN))
        errors += unreadable
    return out


def alert_check(read: BucketRead, rules: Any, rules_error: ReadError | None,
          trails: list[TrailRead], trails_unreadable: list[ReadError],
          targets: TargetLookup) -> AlertCheck:
    """Set `read.fact.deletion_alerts` from notifications, rules and trails."""
    b = read.fact
    result = shared.Alerts()
    errors: list[ReadError] = []
    n = read.notifications
    if n is UNKNOWN:
        result.unknown = True
        if "notifications" in read.errors:
            errors.append(read.errors["notifications"])
    else:
        shared.notification_alerts(n, result)
    if rules is UNKNOWN:
        result.unknown = True
        if rules_error:
            errors.append(rules_error)
    else:
        s3_eventbridge = UNKNOWN if n is UNKNOWN else "EventBridgeConfiguration" in n
        live = [_LiveRule(r, b.region or "", targets, errors) for r in rules]
        shared.eventbridge_alerts(b.name, b.region or "", b.account, live,
                                  _trails(trails, b.name, b.region, trails_unreadable, errors),
                                  s3_eventbridge, result)
    b.deletion_alerts = result.value()
    return AlertCheck(b.deletion_alerts, result.notes,
                      errors if b.deletion_alerts is UNKNOWN else [])


# ---- collection phases -----------------------------------------------------------------------

def bucket_index(scanner: ScanContext) -> dict[str, BucketRead]:
    """Every bucket read, by name, over the scanned accounts."""
    return {name: read for a in scanner.accounts
            for name, read in a.data.get("buckets", {}).items()}


def in_regions(scanner: ScanContext, read: BucketRead) -> bool:
    return read.fact.region in scanner.regions


def unjudged(scanner: ScanContext, read: BucketRead) -> tuple[str, list[ReadError]] | None:
    """Why a bucket that may be a backup bucket of the scanned regions cannot be judged (its
    tags, so whether it is one, or its region could not be read), or None. Every control over
    backup buckets reports such a bucket `error` with this message and these errors."""
    b = read.fact
    if not b.scope_reasons:
        err = read.errors.get("tags")
        if err is not None and (b.region is None or in_regions(scanner, read)):
            return (f"Could not tell whether {b.name!r} is a backup bucket: its tags could not "
                    f"be read ({err}).", [err])
        return None
    if b.region is None:
        err = read.errors.get("location")
        return f"Backup bucket {b.name!r} could not be read: {err}.", [err] if err else []
    return None


def _account_of(scanner: ScanContext, read: BucketRead) -> AccountScan:
    return next(a for a in scanner.accounts if a.id == read.fact.account)


def _discover_unit(scanner: ScanContext, a: AccountScan, listed: dict[str, Any]) -> BucketRead:
    assert a.target.account is not None
    try:
        return discover(a.target.account, listed)
    except UNIT_ERRORS as e:
        read = BucketRead(Bucket(ref=bucket_arn(listed["Name"], a.target.account.region),
                                 name=listed["Name"],
                                 account=a.id))
        read.errors["location"] = ReadError.of("s3", e)
        return read


def _auto_reasons(scanner: ScanContext, live: list[AccountScan]) -> dict[str, list[str]]:
    auto: dict[str, list[str]] = {}
    for a in live:
        for t in a.data.get("trails", {}).values():
            if t.fact.s3_bucket:
                auto.setdefault(t.fact.s3_bucket, []).append(
                    f"CloudTrail destination of trail {t.fact.name}")
        for rs in a.regions.values():
            rds = rs.data.get("rds")
            for bucket in rds.exports if rds else ():
                auto.setdefault(bucket, []).append(
                    f"destination of RDS snapshot exports in {rs.region}")
            if rds and "exports" in rds.errors:
                scanner.notes.append(f"account {a.id} {rs.region}: RDS snapshot export "
                                     f"destinations unknown ({rds.errors['exports']}); "
                                     "buckets only they would put in backup scope were not "
                                     "checked")
    state = state_location(scanner)
    if state and state[2] != "stateBucket setting":
        auto.setdefault(state[0], []).append(f"Pulumi state bucket ({state[2]})")
    return auto


def _wants_details(scanner: ScanContext, read: BucketRead) -> bool:
    if read.detailed or not read.fact.scope_reasons or "location" in read.errors:
        return False
    return in_regions(scanner, read)


def _details_unit(scanner: ScanContext, a: AccountScan, read: BucketRead) -> None:
    assert a.target.account is not None
    state = state_location(scanner)
    prefix = state[1] if state and read.fact.is_state_bucket else None
    try:
        read_details(a.target.account, read, prefix)
    except UNIT_ERRORS as e:
        read.errors["details"] = ReadError.of("s3", e)
        for attr in ("versioning", "object_lock_enabled", "lock_mode", "lock_days",
                     "public_access_block", "replication"):
            setattr(read.fact, attr, UNKNOWN)
        read.notifications = UNKNOWN
        read.detailed = True


def _replication_destinations(scanner: ScanContext, done: list[BucketRead],
                              by_name: dict[str, BucketRead]) -> list[BucketRead]:
    """Fill destination regions; return destinations newly brought into scope."""
    new = []
    for read in done:
        rules = read.fact.replication
        if rules is UNKNOWN or not rules:
            continue
        for r in rules:
            dest = by_name.get(r["bucket"])
            if dest is not None and dest.fact.region:
                r["region"] = dest.fact.region
            else:
                acct = _account_of(scanner, read).target.account
                assert acct is not None
                region, err = region_of(acct, r["bucket"])
                r["region"] = region
                if err:
                    r["regionError"] = err.to_dict()
            if dest is not None and read.fact.scope_reasons:
                if r.get("status", "Enabled") == "Enabled":
                    source = {"bucket": read.name, "region": read.fact.region}
                    if source not in dest.fact.replica_of:
                        dest.fact.replica_of.append(source)
                reason = f"replication destination of backup bucket {read.name}"
                if reason not in dest.fact.scope_reasons:
                    dest.fact.scope_reasons.append(reason)
                if _wants_details(scanner, dest) and dest not in new:
                    new.append(dest)
    return new


def _phase(scanner: ScanContext, live: list[AccountScan]) -> None:
    """Region and tags of every bucket; backup scope; then the settings of the buckets in
    scope, and of the replication destinations they add."""
    units = [(scanner, a, b) for a in live for b in a.data.get("s3", ())]
    for (_, a, _), read in zip(units, scanner.map("buckets", _discover_unit, units),
                               strict=True):
        a.data.setdefault("buckets", {})[read.name] = read
    auto = _auto_reasons(scanner, live)
    by_name = bucket_index(scanner)
    state = state_location(scanner)
    for read in by_name.values():
        b = read.fact
        b.scope_reasons = scanner.settings.scope.reasons(b.name, b.tags, auto.get(b.name, ()))
        if state and b.name == state[0]:
            b.is_state_bucket = True
            if "Pulumi state bucket" not in b.scope_reasons:
                b.scope_reasons.append("Pulumi state bucket")
    todo = [r for r in by_name.values() if _wants_details(scanner, r)]
    while todo:
        scanner.map("bucket settings", _details_unit,
                    [(scanner, _account_of(scanner, r), r) for r in todo])
        todo = _replication_destinations(scanner, todo, by_name)


# ---- live bindings ---------------------------------------------------------------------------

# The reads that decide which buckets there are and which of them are backup buckets (trail
# destinations, RDS export destinations): every control over backup buckets declares them.
ALL_BUCKETS = "arn:aws:s3:::*"
BUCKET_READS = (Read("s3:ListBuckets", ALL_BUCKETS), Read("cloudtrail:DescribeTrails", ALL_BUCKETS),
                Read("rds:DescribeExportTasks", ALL_BUCKETS))

_BUCKET = ("backup-bucket-versioning", "backup-bucket-object-lock",
           "backup-bucket-public-access-block", "backup-bucket-replication",
           "backup-bucket-deletion-alerts")
VERSIONING, OBJECT_LOCK, PUBLIC_ACCESS_BLOCK, REPLICATION, DELETION_ALERTS = _BUCKET


def _target_lookup(scanner: ScanContext, a: AccountScan) -> TargetLookup:
    """A cached targets lookup for the account (ListTargetsByRule only for matching rules)."""
    acct = a.target.account
    assert acct is not None
    cache: dict[tuple[str, str], tuple[Any, ReadError | None]] = {}

    def lookup(region: str, rule: str) -> tuple[Any, ReadError | None]:
        if (region, rule) not in cache:
            try:
                cache[(region, rule)] = (event_targets(acct, region, rule), None)
            except UNIT_ERRORS as e:
                cache[(region, rule)] = (UNKNOWN, ReadError.of("events:ListTargetsByRule", e))
        return cache[(region, rule)]

    return lookup


def _rules_of(b: Bucket) -> list[dict[str, Any]]:
    return b.replication if isinstance(b.replication, list) else []


def _replication_verdict(b: Bucket, unread_sources: list[ReadError]) -> Verdict | None:
    v = ctl.replication(b)
    if v is not None and v.status == "fail" and any(
            r.get("regionError") and r.get("status", "Enabled") == "Enabled"
            for r in _rules_of(b)):
        return Verdict("unknown", "", v.evidence)  # a destination's region is unreadable
    if v is not None and v.status == "fail" and not b.replica_of and unread_sources:
        # it may be the copy of a bucket whose replication rules could not be read
        return Verdict("unknown", "", v.evidence)
    return v


def _unread_replication(scanner: ScanContext) -> list[ReadError]:
    """Why the replication rules of some (possible) backup bucket are unknown: their read
    failed, or the bucket itself could not be judged; any bucket may be its copy."""
    out: list[ReadError] = []
    for r in bucket_index(scanner).values():
        why = unjudged(scanner, r)
        if why is not None:
            out += why[1]
        elif r.fact.scope_reasons and r.fact.replication is UNKNOWN:
            e = r.errors.get("replication") or r.errors.get("details")
            if e is not None:
                out.append(e)
    return list(dict.fromkeys(out))


def _evaluate(scanner: ScanContext, a: AccountScan) -> None:
    if "s3" in a.errors:
        err = a.errors["s3"]
        for c in _BUCKET:
            scanner.error(c, "arn:aws:s3:::*", f"S3 buckets of {a.id}", a.id, None,
                          f"The S3 buckets of account {a.id} could not be listed: {err}.",
                          [err])
        return
    targets = _target_lookup(scanner, a)
    unread_sources = _unread_replication(scanner)
    trails = list(a.data.get("trails", {}).values())
    trails_unreadable = [rs.errors["cloudtrail"] for rs in a.regions.values()
                         if "cloudtrail" in rs.errors]
    for read in sorted(a.data.get("buckets", {}).values(), key=lambda r: r.name):
        b = read.fact
        why = unjudged(scanner, read)
        if why is not None:
            for c in _BUCKET:
                scanner.error(c, b.ref, b.name, a.id, b.region, *why)
            continue
        if not b.scope_reasons:
            continue
        if not in_regions(scanner, read):
            scanner.skipped["bucketsOutsideRegions"] += 1
            continue
        errs = read.errors
        rs = a.regions.get(b.region)
        check = alert_check(read, rs.data.get("events", UNKNOWN) if rs else UNKNOWN,
                            rs.errors.get("events") if rs else None, trails,
                            trails_unreadable, targets)
        if check.notes:
            b.evidence["alertNotes"] = check.notes
        scanner.add(VERSIONING, b, ctl.versioning(b),
                    [errs.get("versioning"), errs.get("objectLock"), errs.get("details")])
        scanner.add(OBJECT_LOCK, b, ctl.object_lock(b, scanner.settings.of(OBJECT_LOCK)),
                    [errs.get("objectLock"), errs.get("details")])
        scanner.add(PUBLIC_ACCESS_BLOCK, b, ctl.public_access_block(b),
                    [errs.get("publicAccessBlock"), errs.get("details")])
        rv = _replication_verdict(b, unread_sources)
        scanner.add(REPLICATION, b, rv,
                    [errs.get("replication"), errs.get("details"),
                     *(unread_sources if rv is not None and rv.status == "unknown" else ()),
                     *[ReadError(**r["regionError"]) for r in _rules_of(b)
                       if r.get("regionError")]])
        scanner.add(DELETION_ALERTS, b, ctl.deletion_alerts(b),
                    [*check.errors, errs.get("details")])


def _list(scanner: ScanContext, acct: Account, _a: AccountScan) -> list[dict[str, Any]]:
    return list_buckets(acct)


def _rules(scanner: ScanContext, acct: Account, rs: Any) -> list[dict[str, Any]]:
    return event_rules(acct, rs.region)


_S3_GONE = frozenset({"404", "NoSuchBucket", "NotFound"})
_KIND: dict[str, Any] = dict(
    label="S3 bucket", service="s3", operation="s3:HeadBucket",
    call=lambda c, n: c.head_bucket(Bucket=n), gone=_S3_GONE,
    arn=lambda r, a, n: bucket_arn(n, r), delete_event="DeleteBucket")


SERVICE = LiveService(
    calls=("s3:ListBuckets", "s3:GetBucketLocation", "s3:HeadBucket", "s3:GetBucketTagging",
           "s3:GetBucketVersioning", "s3:GetObjectLockConfiguration", "s3:GetBucketReplication",
           "s3:GetPublicAccessBlock", "s3:GetBucketEncryption", "s3:GetBucketPolicyStatus",
           "s3:GetBucketNotificationConfiguration", "s3:ListObjectVersions", "events:ListRules",
           "events:ListTargetsByRule"),
    global_steps=(Step("s3", "s3:ListBuckets", _list),),
    regional_steps=(Step("events", "events:ListRules", _rules),),
    phase=Phase(20, _phase),  # after the trail details: trail destinations are backup buckets
    live=(Live(_BUCKET, _evaluate, reads=BUCKET_READS),),
    drift={
        "aws:s3/bucket:Bucket": DriftKind(names=("bucket",), use_id=True, **_KIND),
        "aws:s3/bucketV2:BucketV2": DriftKind(names=("bucket",), use_id=True, **_KIND),
        "aws-native:s3:Bucket": DriftKind(names=("bucketName",), use_id=True, **_KIND),
    },
)
