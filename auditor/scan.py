"""The live scan: collect facts from every account x region with a bounded worker pool, apply
the shared rules, and return findings (fail closed: what could not be read is `error`).

Phases (each one spread over the pool):
1. open the accounts (org mode: assume the role in each; one failing does not stop the rest);
2. per account: IAM and the bucket list; per account x region: RDS, trails, EventBridge
   rules, DynamoDB, AWS Backup;
3. trail status/selectors (once per trail), region and tags of every bucket;
4. settings of the buckets in backup scope, then of the replication destinations they add;
5. deletion-alert targets; then every rule is applied in the calling thread.
"""

from __future__ import annotations

import datetime as dt
import logging
import sys
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from drguard import __version__, registry
from drguard.errors import ConfigError
from drguard.evaluate import finding
from drguard.facts import UNKNOWN, AccessKey, Bucket, Resource, Trail
from drguard.findings import Finding
from drguard.rules import Verdict, cloudtrail, protection, rds, s3, scp, state_backend
from drguard.settings import Settings

from . import alerts, aws, org
from .collectors import ReadError
from .collectors import backup as backup_c
from .collectors import cloudtrail as cloudtrail_c
from .collectors import dynamodb as dynamodb_c
from .collectors import ec2 as ec2_c
from .collectors import events as events_c
from .collectors import iam as iam_c
from .collectors import rds as rds_c
from .collectors import s3 as s3_c
from .collectors import state_backend as state_c

log = logging.getLogger(__name__)

LIVE_CONTROLS = tuple(c.id for c in registry.CONTROLS
                      if "live" in c.sources and c.id != "resource-drift-deleted")
BUCKET_CONTROLS = ("backup-bucket-versioning", "backup-bucket-object-lock",
                   "backup-bucket-public-access-block", "backup-bucket-replication",
                   "backup-bucket-deletion-alerts")
RDS_CONTROLS = ("rds-backup-retention", "rds-deletion-protection", "rds-cross-region-backup")
# Failures of a unit of work are not expected beyond AWS errors, but a malformed response
# (KeyError/TypeError/ValueError) must still end as `error`, never as a crash or a pass.
UNIT_ERRORS = (ClientError, BotoCoreError, KeyError, TypeError, ValueError, AttributeError)


@dataclass
class ScanOptions:
    aws: aws.AwsOptions = field(default_factory=aws.AwsOptions)
    regions: list[str] | None = None
    org: bool = False
    role_name: str | None = None
    workers: int = 8
    now: dt.datetime | None = None  # injectable clock (key and snapshot ages)
    progress: bool = False


@dataclass
class ScanResult:
    findings: list[Finding]
    run: dict[str, Any]
    session: Any = None  # the base boto3 session (read-only guarded), for --logs


@dataclass
class RegionScan:
    region: str
    rds: rds_c.RdsRegion | None = None
    trails: list[dict[str, Any]] = field(default_factory=list)
    rules: Any = UNKNOWN
    tables: list[Any] = field(default_factory=list)
    table_errors: dict[str, dict[str, ReadError]] = field(default_factory=dict)
    vaults: list[Any] = field(default_factory=list)
    ec2: ec2_c.Ec2Region | None = None
    errors: dict[str, ReadError] = field(default_factory=dict)


@dataclass
class AccountScan:
    target: org.Target
    regions: dict[str, RegionScan] = field(default_factory=dict)
    iam: iam_c.IamRead | None = None
    listed: list[dict[str, Any]] = field(default_factory=list)
    buckets: dict[str, s3_c.BucketRead] = field(default_factory=dict)
    trails: dict[str, cloudtrail_c.TrailRead] = field(default_factory=dict)
    errors: dict[str, ReadError] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return self.target.id


def enabled_regions(account: aws.Account) -> list[str]:
    """The regions enabled for the account (DescribeRegions without opted-out ones)."""
    try:
        resp = account.client("ec2").describe_regions()
    except (ClientError, BotoCoreError) as e:
        raise ConfigError(f"cannot list the enabled regions "
                          f"({ReadError.of('ec2:DescribeRegions', e)}); pass --regions") from None
    return sorted(r["RegionName"] for r in resp.get("Regions", ())
                  if r.get("OptInStatus") != "not-opted-in")


def clean(value: Any) -> Any:
    """Evidence as plain JSON: UNKNOWN -> "unreadable", datetimes -> ISO strings."""
    if value is UNKNOWN:
        return "unreadable"
    if isinstance(value, dict):
        return {str(k): clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        items = [clean(v) for v in value]
        return sorted(items, key=str) if isinstance(value, (set, frozenset)) else items
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


class Scanner:
    def __init__(self, options: ScanOptions, settings: Settings) -> None:
        self.o = options
        self.settings = settings
        self.now = options.now or dt.datetime.now(dt.UTC)
        self.findings: list[Finding] = []
        self.accounts: list[AccountScan] = []
        self.regions: list[str] = []
        self.notes: list[str] = []
        self.skipped: dict[str, int] = {"accounts": 0, "regions": 0,
                                        "bucketsOutsideRegions": 0}
        self._pool: ThreadPoolExecutor | None = None
        self._state = None  # (bucket, prefix, origin) of the Pulumi state backend

    # ---- pool ----------------------------------------------------------------------------

    def _map(self, label: str, fn: Callable[..., Any],
             items: Iterable[tuple[Any, ...]]) -> list[Any]:
        items = list(items)
        if not items:
            return []
        assert self._pool is not None
        futures = [self._pool.submit(fn, *it) for it in items]
        if self.o.progress:
            for done, _ in enumerate(as_completed(futures), 1):
                sys.stderr.write(f"\rdr-audit: {label} {done}/{len(items)}   ")
                sys.stderr.flush()
            sys.stderr.write("\n")
        return [f.result() for f in futures]

    # ---- findings ------------------------------------------------------------------------

    def _add(self, control: str, fact: Resource, verdict: Verdict | None,
             errors: Iterable[ReadError] = ()) -> None:
        if verdict is None or control not in self.settings.enabled:
            return
        errs = list(dict.fromkeys(e for e in errors if e is not None))
        if verdict.status == "unknown":
            why = "; ".join(str(e) for e in errs) or "a value could not be read"
            what = registry.BY_ID[control].title.lower()
            verdict = Verdict("error", f"Could not check that {what} for {fact.name}: {why}.",
                              verdict.evidence)
        if verdict.status == "error" and errs:
            verdict.evidence = {**verdict.evidence, "readErrors": [e.to_dict() for e in errs]}
        f = finding(control, fact, verdict, "live", self.settings, self.now.date())
        f.evidence = clean(f.evidence)
        self.findings.append(f)

    def _error(self, control: str, ref: str, name: str, account: str | None,
               region: str | None, message: str, errors: Iterable[ReadError] = ()) -> None:
        fact = Resource(ref=ref, name=name, account=account, region=region)
        self._add(control, fact, Verdict("error", message, {}), errors)

    # ---- phases ---------------------------------------------------------------------------

    def run(self) -> ScanResult:
        started = dt.datetime.now(dt.UTC)
        base = aws.connect(self.o.aws)
        self.regions = list(self.o.regions or enabled_regions(base))
        self._state = state_c.location(self.settings.scope.state_bucket)
        with ThreadPoolExecutor(max_workers=max(1, self.o.workers),
                                thread_name_prefix="dr-audit") as pool:
            self._pool = pool
            view = None
            if self.o.org:
                if not self.o.role_name:
                    raise ConfigError("--org needs --role-name")
                view = org.read_org(base)
                targets = org.open_accounts(base, view, self.o.role_name,
                                            self.o.aws.external_id, self._map_accounts)
            else:
                targets = [org.Target(base.id, None, base)]
            self.accounts = [AccountScan(t) for t in targets]
            live = [a for a in self.accounts if a.target.account is not None]
            self._map("accounts", self._global_unit, [(a,) for a in live])
            self._map("regions", self._region_unit,
                      [(a, r) for a in live for r in self.regions])
            self._phase_trails_and_buckets(live)
            self._phase_scope(live)
            scp_state = org.scp_state(base, view)
            self._evaluate(live, scp_state)
            self._pool = None
        finished = dt.datetime.now(dt.UTC)
        self.findings.sort(key=lambda f: (f.account or "", f.region or "", f.control,
                                          f.resource))
        return ScanResult(self.findings, self._run_info(base, started, finished), base.session)

    def _map_accounts(self, fn: Callable[..., Any], items: Iterable[tuple[Any, ...]]) -> list[Any]:
        return self._map("open accounts", fn, items)

    def _global_unit(self, a: AccountScan) -> None:
        acct = a.target.account
        assert acct is not None
        try:
            a.iam = iam_c.collect(acct, self.now)
        except UNIT_ERRORS as e:
            a.errors["iam"] = ReadError.of("iam", e)
        try:
            a.listed = s3_c.list_buckets(acct)
        except UNIT_ERRORS as e:
            a.errors["s3"] = ReadError.of("s3:ListBuckets", e)

    def _region_unit(self, a: AccountScan, region: str) -> None:
        acct = a.target.account
        assert acct is not None
        rs = a.regions.setdefault(region, RegionScan(region))
        steps: list[tuple[str, str, Callable[[], None]]] = [
            ("rds", "rds", lambda: setattr(rs, "rds", rds_c.collect(acct, region))),
            ("cloudtrail", "cloudtrail:DescribeTrails",
             lambda: setattr(rs, "trails", cloudtrail_c.describe(acct, region))),
            ("events", "events:ListRules",
             lambda: setattr(rs, "rules", events_c.rules(acct, region))),
            ("dynamodb", "dynamodb:ListTables", lambda: self._tables(acct, rs)),
            ("backup", "backup:ListBackupVaults", lambda: self._vaults(acct, rs)),
            ("ec2", "ec2:DescribeVolumes", lambda: setattr(rs, "ec2", ec2_c.collect(
                acct, region, self.now,
                self.settings.of("ebs-snapshot-coverage")["maxSnapshotAgeHours"]))),
        ]
        for key, op, step in steps:
            try:
                step()
            except UNIT_ERRORS as e:
                rs.errors[key] = ReadError.of(op, e)

    @staticmethod
    def _tables(acct: aws.Account, rs: RegionScan) -> None:
        rs.tables, rs.table_errors = dynamodb_c.collect(acct, rs.region)

    @staticmethod
    def _vaults(acct: aws.Account, rs: RegionScan) -> None:
        errs: dict[str, ReadError] = {}
        rs.vaults = backup_c.collect(acct, rs.region, errs)
        for v in rs.vaults:
            if f"tags:{v.ref}" in errs:
                v.evidence["readErrors"] = [errs[f"tags:{v.ref}"].to_dict()]

    def _phase_trails_and_buckets(self, live: list[AccountScan]) -> None:
        trail_units = []
        for a in live:
            seen: dict[str, dict[str, Any]] = {}
            for rs in a.regions.values():
                for raw in rs.trails:
                    seen.setdefault(raw["TrailARN"], raw)
            trail_units += [(a, raw) for raw in seen.values()]
        bucket_units = [(a, b) for a in live for b in a.listed]
        results = self._map("trails", self._trail_unit, trail_units)
        for (a, raw), read in zip(trail_units, results, strict=True):
            a.trails[raw["TrailARN"]] = read
        results = self._map("buckets", self._discover_unit, bucket_units)
        for (a, _), read in zip(bucket_units, results, strict=True):
            a.buckets[read.name] = read

    @staticmethod
    def _trail_unit(a: AccountScan, raw: dict[str, Any]) -> cloudtrail_c.TrailRead:
        assert a.target.account is not None
        try:
            return cloudtrail_c.details(a.target.account, raw)
        except UNIT_ERRORS as e:
            read = cloudtrail_c.TrailRead(Trail(ref=raw["TrailARN"], name=raw.get(
                "Name", raw["TrailARN"]), account=a.id, region=raw.get("HomeRegion"),
                multi_region=UNKNOWN, logging=UNKNOWN, log_validation=UNKNOWN))
            read.errors["status"] = ReadError.of("cloudtrail", e)
            return read

    @staticmethod
    def _discover_unit(a: AccountScan, listed: dict[str, Any]) -> s3_c.BucketRead:
        assert a.target.account is not None
        try:
            return s3_c.discover(a.target.account, listed)
        except UNIT_ERRORS as e:
            read = s3_c.BucketRead(Bucket(ref=s3_c.bucket_arn(listed["Name"]),
                                          name=listed["Name"], account=a.id))
            read.errors["location"] = ReadError.of("s3", e)
            return read

    # ---- scope ---------------------------------------------------------------------------

    def _auto_reasons(self, live: list[AccountScan]) -> dict[str, list[str]]:
        auto: dict[str, list[str]] = {}
        for a in live:
            for t in a.trails.values():
                if t.fact.s3_bucket:
                    auto.setdefault(t.fact.s3_bucket, []).append(
                        f"CloudTrail destination of trail {t.fact.name}")
            for rs in a.regions.values():
                for bucket in rs.rds.exports if rs.rds else ():
                    auto.setdefault(bucket, []).append(
                        f"destination of RDS snapshot exports in {rs.region}")
                if rs.rds and "exports" in rs.rds.errors:
                    self.notes.append(f"account {a.id} {rs.region}: RDS snapshot export "
                                      f"destinations unknown ({rs.rds.errors['exports']}); "
                                      "buckets only they would put in backup scope were not "
                                      "checked")
        if self._state and self._state[2] != "stateBucket setting":
            auto.setdefault(self._state[0], []).append("Pulumi state bucket (PULUMI_BACKEND_URL)")
        return auto

    def _in_regions(self, read: s3_c.BucketRead) -> bool:
        return read.fact.region in self.regions

    def _phase_scope(self, live: list[AccountScan]) -> None:
        auto = self._auto_reasons(live)
        by_name = self._bucket_index()
        for read in by_name.values():
            b = read.fact
            b.scope_reasons = self.settings.scope.reasons(b.name, b.tags, auto.get(b.name, ()))
            if self._state and b.name == self._state[0]:
                b.is_state_bucket = True
                if "Pulumi state bucket" not in b.scope_reasons:
                    b.scope_reasons.append("Pulumi state bucket")
        todo = [r for r in by_name.values() if self._wants_details(r)]
        while todo:
            self._map("bucket settings", self._details_unit,
                      [(self._account_of(r), r) for r in todo])
            todo = self._replication_destinations(todo, by_name)

    def _bucket_index(self) -> dict[str, s3_c.BucketRead]:
        return {name: read for a in self.accounts for name, read in a.buckets.items()}

    def _account_of(self, read: s3_c.BucketRead) -> AccountScan:
        return next(a for a in self.accounts if a.id == read.fact.account)

    def _wants_details(self, read: s3_c.BucketRead) -> bool:
        if read.detailed or not read.fact.scope_reasons or "location" in read.errors:
            return False
        if not self._in_regions(read):
            return False
        return True

    def _details_unit(self, a: AccountScan, read: s3_c.BucketRead) -> None:
        assert a.target.account is not None
        prefix = self._state[1] if self._state and read.fact.is_state_bucket else None
        try:
            s3_c.read_details(a.target.account, read, prefix)
        except UNIT_ERRORS as e:
            read.errors["details"] = ReadError.of("s3", e)
            for attr in ("versioning", "object_lock_enabled", "lock_mode", "lock_days",
                         "public_access_block", "replication"):
                setattr(read.fact, attr, UNKNOWN)
            read.notifications = UNKNOWN
            read.detailed = True

    def _replication_destinations(self, done: list[s3_c.BucketRead],
                                  by_name: dict[str, s3_c.BucketRead]) -> list[s3_c.BucketRead]:
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
                    acct = self._account_of(read).target.account
                    assert acct is not None
                    region, err = s3_c.region_of(acct, r["bucket"])
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
                    if self._wants_details(dest) and dest not in new:
                        new.append(dest)
        return new

    # ---- evaluation ----------------------------------------------------------------------

    def _evaluate(self, live: list[AccountScan], scp_state: org.OrgState) -> None:
        for a in self.accounts:
            if a.target.error is not None:
                self._account_failed(a)
        targets = self._alert_targets(live)
        for a in live:
            self._eval_rds(a)
            self._eval_buckets(a, targets)
            self._eval_trails(a)
            self._eval_iam(a)
            self._eval_regional(a)
        self._eval_state_backend()
        self._eval_scp(scp_state)

    def _account_failed(self, a: AccountScan) -> None:
        self.skipped["accounts"] += 1
        err = a.target.error
        for control in LIVE_CONTROLS:
            if control == "scp-deny-backup-deletion":
                continue  # judged from the management account
            self._error(control, f"arn:aws:iam::{a.id}:root", a.target.name or a.id, a.id,
                        None, f"Account {a.id} could not be scanned: {err}.", [err] if err else [])

    # RDS
    def _eval_rds(self, a: AccountScan) -> None:
        params = self.settings.of
        rds_regions = {r: rs.rds for r, rs in a.regions.items() if rs.rds is not None}
        for region, rs in sorted(a.regions.items()):
            if rs.rds is None:
                err = rs.errors.get("rds")
                for c in RDS_CONTROLS:
                    self._error(c, f"arn:aws:rds:{region}:{a.id}:db:*", f"RDS in {region}", a.id,
                                region, f"RDS in {region} could not be read: {err}.", [err])
                continue
            data = rs.rds
            for key, kind in (("instances", "db"), ("clusters", "cluster")):
                if key in data.errors:
                    err = data.errors[key]
                    for c in RDS_CONTROLS:
                        self._error(c, f"arn:aws:rds:{region}:{a.id}:{kind}:*",
                                    f"RDS {key} in {region}", a.id, region,
                                    f"The RDS {key} of {region} could not be listed: {err}.",
                                    [err])
            for db in data.databases:
                self._add("rds-backup-retention", db,
                          rds.backup_retention(db, params("rds-backup-retention")))
                self._add("rds-deletion-protection", db, rds.deletion_protection(db))
                points, unread = rds_c.cross_region(db, data.meta.get(db.ref, {}), rds_regions,
                                                    self.now)
                db.cross_region = points
                v = rds.cross_region_backup(db, params("rds-cross-region-backup"))
                errs: list[ReadError] = []
                others = [r for r in self.regions if r != region]
                if v is not None and v.status == "fail":
                    if not others:
                        v = Verdict("error", f"Cannot look for recovery points of {db.name!r} "
                                    f"in other regions: only {region} was scanned (add the DR "
                                    "region to --regions).", v.evidence)
                    elif unread:
                        errs = [e for r in unread for e in rds_regions[r].errors.values()]
                        v = Verdict("unknown", "", v.evidence)
                    missing = [r for r in others if r not in rds_regions]
                    if missing and v.status == "fail":
                        errs = [a.regions[r].errors.get("rds") for r in missing]
                        v = Verdict("unknown", "", v.evidence)
                self._add("rds-cross-region-backup", db, v, errs)

    # Buckets
    def _alert_targets(self, live: list[AccountScan]) -> dict[str, alerts.TargetLookup]:
        """A cached targets lookup per account (ListTargetsByRule only for matching rules)."""
        out: dict[str, alerts.TargetLookup] = {}
        for a in live:
            acct = a.target.account
            assert acct is not None
            cache: dict[tuple[str, str], tuple[Any, ReadError | None]] = {}

            def lookup(region: str, rule: str, acct: aws.Account = acct,
                       cache: dict[tuple[str, str], tuple[Any, ReadError | None]] = cache
                       ) -> tuple[Any, ReadError | None]:
                if (region, rule) not in cache:
                    try:
                        cache[(region, rule)] = (events_c.targets(acct, region, rule), None)
                    except UNIT_ERRORS as e:
                        cache[(region, rule)] = (UNKNOWN,
                                                 ReadError.of("events:ListTargetsByRule", e))
                return cache[(region, rule)]
            out[a.id] = lookup
        return out

    def _eval_buckets(self, a: AccountScan, targets: dict[str, alerts.TargetLookup]) -> None:
        if "s3" in a.errors:
            err = a.errors["s3"]
            for c in (*BUCKET_CONTROLS, "cloudtrail-bucket-protected"):
                self._error(c, "arn:aws:s3:::*", f"S3 buckets of {a.id}", a.id, None,
                            f"The S3 buckets of account {a.id} could not be listed: {err}.",
                            [err])
            return
        trails = list(a.trails.values())
        trails_unreadable = [rs.errors["cloudtrail"] for rs in a.regions.values()
                             if "cloudtrail" in rs.errors]
        for read in sorted(a.buckets.values(), key=lambda r: r.name):
            b = read.fact
            if not b.scope_reasons:
                if "tags" in read.errors and (b.region is None or self._in_regions(read)):
                    for c in BUCKET_CONTROLS:
                        self._error(c, b.ref, b.name, a.id, b.region,
                                    f"Could not tell whether {b.name!r} is a backup bucket: its "
                                    f"tags could not be read ({read.errors['tags']}).",
                                    [read.errors["tags"]])
                continue
            if b.region is None:
                err = read.errors.get("location")
                for c in BUCKET_CONTROLS:
                    self._error(c, b.ref, b.name, a.id, None, f"Backup bucket {b.name!r} could "
                                f"not be read: {err}.", [err] if err else [])
                continue
            if not self._in_regions(read):
                self.skipped["bucketsOutsideRegions"] += 1
                continue
            errs = read.errors
            rs = a.regions.get(b.region)
            check = alerts.check(read, rs.rules if rs else UNKNOWN,
                                 rs.errors.get("events") if rs else None, trails,
                                 trails_unreadable, targets[a.id])
            if check.notes:
                b.evidence["alertNotes"] = check.notes
            p = self.settings.of
            self._add("backup-bucket-versioning", b, s3.versioning(b),
                      [errs.get("versioning"), errs.get("objectLock"), errs.get("details")])
            self._add("backup-bucket-object-lock", b,
                      s3.object_lock(b, p("backup-bucket-object-lock")),
                      [errs.get("objectLock"), errs.get("details")])
            self._add("backup-bucket-public-access-block", b, s3.public_access_block(b),
                      [errs.get("publicAccessBlock"), errs.get("details")])
            self._add("backup-bucket-replication", b, self._replication_verdict(b),
                      [errs.get("replication"), errs.get("details"),
                       *[ReadError(**r["regionError"]) for r in self._rules_of(b)
                         if r.get("regionError")]])
            self._add("backup-bucket-deletion-alerts", b, s3.deletion_alerts(b),
                      [*check.errors, errs.get("details")])

    @staticmethod
    def _rules_of(b: Bucket) -> list[dict[str, Any]]:
        return b.replication if isinstance(b.replication, list) else []

    @staticmethod
    def _replication_verdict(b: Bucket) -> Verdict | None:
        v = s3.replication(b)
        if v is not None and v.status == "fail" and any(
                r.get("regionError") and r.get("status", "Enabled") == "Enabled"
                for r in Scanner._rules_of(b)):
            return Verdict("unknown", "", v.evidence)  # a destination's region is unreadable
        return v

    # CloudTrail
    def _eval_trails(self, a: AccountScan) -> None:
        facts = [t.fact for t in a.trails.values()]
        unreadable = [rs.errors["cloudtrail"] for rs in a.regions.values()
                      if "cloudtrail" in rs.errors]
        root = Resource(ref=f"arn:aws:iam::{a.id}:root", name=f"account {a.id}", account=a.id,
                        type="AWS::::Account")
        v = cloudtrail.account(facts)
        if v.status == "fail":
            unsure = [e for t in a.trails.values() if t.fact.logging is UNKNOWN
                      for e in t.errors.values()]
            if unreadable or unsure:
                v = Verdict("unknown", "", v.evidence)
                unreadable += unsure
        self._add("cloudtrail-enabled", root, v, unreadable)
        index = self._bucket_index()
        for t in a.trails.values():
            if t.fact.account != a.id or not t.fact.s3_bucket:
                continue  # another account's (organization) trail: judged there
            read = index.get(t.fact.s3_bucket)
            bucket = read.fact if read is not None and read.detailed else None
            v = cloudtrail.bucket_protected(t.fact, bucket)
            errs = list(read.errors.values()) if read is not None else []
            if bucket is None:
                where = ("is not in a scanned account" if read is None else
                         f"is in {read.fact.region}, outside the scanned regions"
                         if read.fact.region and not self._in_regions(read)
                         else "could not be read")
                v = Verdict("error", f"The bucket {t.fact.s3_bucket!r} of trail "
                            f"{t.fact.name!r} {where}.", v.evidence)
            self._add("cloudtrail-bucket-protected", t.fact, v, errs)

    # IAM
    def _eval_iam(self, a: AccountScan) -> None:
        params = self.settings.of("iam-access-key-rotation")
        root_ref = f"arn:aws:iam::{a.id}:root"
        if a.iam is None:
            err = a.errors.get("iam")
            self._error("iam-access-key-rotation", root_ref, f"IAM of {a.id}", a.id, None,
                        f"IAM of account {a.id} could not be read: {err}.", [err])
            return
        if "users" in a.iam.errors:
            err = a.iam.errors["users"]
            self._error("iam-access-key-rotation", f"arn:aws:iam::{a.id}:user/*",
                        f"IAM users of {a.id}", a.id, None,
                        f"The IAM users of account {a.id} could not be listed: {err}.", [err])
        for user_arn, err in a.iam.user_errors.items():
            self._error("iam-access-key-rotation", user_arn, user_arn.split("/")[-1], a.id,
                        None, f"The access keys of {user_arn} could not be listed: {err}.",
                        [err])
        for k in a.iam.keys:
            self._add("iam-access-key-rotation", k, protection.access_key(k, params))
        root = Resource(ref=root_ref, name="root user", account=a.id, type="AWS::IAM::Root")
        present = a.iam.root_keys
        if present is UNKNOWN:
            err = a.iam.errors.get("summary")
            self._add("iam-access-key-rotation", root,
                      Verdict("error", f"Whether the root user of {a.id} has access keys "
                              f"could not be read: {err}.", {}), [err] if err else [])
        elif present:
            root_key = AccessKey(ref=root_ref, name="root access key", account=a.id,
                                       root=True, user="root", active=True)
            self._add("iam-access-key-rotation", root_key,
                      protection.access_key(root_key, params),)
        else:
            self._add("iam-access-key-rotation", root,
                      Verdict.ok("The root user has no access keys.",
                                 AccountAccessKeysPresent=0))

    # DynamoDB, AWS Backup
    def _eval_regional(self, a: AccountScan) -> None:
        vault_params = self.settings.of("backup-vault-lock")
        ebs_params = self.settings.of("ebs-snapshot-coverage")
        for region, rs in sorted(a.regions.items()):
            if "dynamodb" in rs.errors:
                err = rs.errors["dynamodb"]
                self._error("dynamodb-recovery", f"arn:aws:dynamodb:{region}:{a.id}:table/*",
                            f"DynamoDB tables in {region}", a.id, region,
                            f"The DynamoDB tables of {region} could not be listed: {err}.",
                            [err])
            for t in rs.tables:
                errs = rs.table_errors.get(t.ref, {})
                if errs:
                    t.evidence["readErrors"] = [e.to_dict() for e in errs.values()]
                self._add("dynamodb-recovery", t, protection.dynamodb(t),
                          [errs.get("table"), errs.get("pitr")])
            if "backup" in rs.errors:
                err = rs.errors["backup"]
                self._error("backup-vault-lock", f"arn:aws:backup:{region}:{a.id}:backup-vault:*",
                            f"backup vaults in {region}", a.id, region,
                            f"The AWS Backup vaults of {region} could not be listed: {err}.",
                            [err])
            for v in rs.vaults:
                self._add("backup-vault-lock", v, protection.vault_lock(v, vault_params))
            if rs.ec2 is None:
                err = rs.errors.get("ec2")
                self._error("ebs-snapshot-coverage", f"arn:aws:ec2:{region}:{a.id}:volume/*",
                            f"EBS volumes in {region}", a.id, region,
                            f"The EBS volumes of {region} could not be listed: {err}.", [err])
                continue
            for vol in rs.ec2.volumes:
                self._add("ebs-snapshot-coverage", vol, protection.ebs(vol, ebs_params),
                          rs.ec2.errors.values())

    # Pulumi state
    def _eval_state_backend(self) -> None:
        if self._state is None:
            self.notes.append("pulumi-state-backend: no state bucket configured (stateBucket "
                              "setting or an s3:// PULUMI_BACKEND_URL); not checked")
            return
        name = self._state[0]
        read = self._bucket_index().get(name)
        if read is None or not read.detailed:
            where = ("was not found in the scanned accounts" if read is None else
                     f"is in {read.fact.region}, outside the scanned regions"
                     if read.fact.region and not self._in_regions(read) else
                     "could not be read")
            errs = list(read.errors.values()) if read is not None else []
            self._error("pulumi-state-backend", s3_c.bucket_arn(name), name,
                        read.fact.account if read else None, read.fact.region if read else None,
                        f"The Pulumi state bucket {name!r} ({self._state[2]}) {where}.", errs)
            return
        fact = state_c.fact(read)
        self._add("pulumi-state-backend", fact, state_backend.state_backend(fact),
                  [read.errors.get(k) for k in ("versioning", "publicAccessBlock",
                                                "policyStatus", "checkpoints", "details")])

    # SCPs
    def _eval_scp(self, st: org.OrgState) -> None:
        control = "scp-deny-backup-deletion"
        params = self.settings.of(control)
        if st.view is None or st.error:
            for a in self.accounts:
                if a.target.error is None:
                    if st.not_in_org:
                        fact = Resource(ref=f"arn:aws:iam::{a.id}:root", name=f"account {a.id}",
                                        account=a.id)
                        self._add(control, fact, Verdict.fail(
                            f"Account {a.id} is not in an AWS Organization, so no SCP can stop "
                            "anyone in it from destroying backups. Fix: join an organization "
                            "and attach an SCP denying " + ", ".join(
                                params["requiredDenyActions"]) + ".", organization=None))
                    else:
                        self._error(control, f"arn:aws:iam::{a.id}:root", f"account {a.id}",
                                    a.id, None, f"{st.error}.", st.read_errors or [])
            return
        view = st.view
        for acct in sorted(view.active_accounts(), key=lambda x: x["Id"]):
            if acct["Id"] == view.management_account:
                continue  # SCPs never restrict the management account
            label = f"account {acct['Id']}" + (f" ({acct['Name']})" if acct.get("Name") else "")
            fact = Resource(ref=f"arn:aws:iam::{acct['Id']}:root", name=label,
                            account=acct["Id"], type="AWS::Organizations::Account")
            v = scp.coverage(acct["Id"], view.path(acct["Id"]), view.scps, params,
                             view.scp_enabled, label)
            v.evidence["path"] = [view.label(t) for t in view.path(acct["Id"])]
            self._add(control, fact, v)
        self.notes.append(f"scp-deny-backup-deletion: management account "
                          f"{view.management_account} not judged (SCPs never apply to it)")

    # ---- run metadata ----------------------------------------------------------------------

    def _run_info(self, base: aws.Account, started: dt.datetime,
                  finished: dt.datetime) -> dict[str, Any]:
        for a in self.accounts:
            self.skipped["regions"] += sum(1 for rs in a.regions.values() if rs.errors)
        ops: dict[str, int] = {}
        for f in self.findings:
            if f.status == "error":
                for e in f.evidence.get("readErrors") or ():
                    ops[e["operation"]] = ops.get(e["operation"], 0) + 1
        return {
            "command": "scan", "tool_version": __version__,
            "started": started.isoformat(), "finished": finished.isoformat(),
            "accounts": [a.id for a in self.accounts],
            "account_status": [{"id": a.id, "name": a.target.name,
                                "status": "error" if a.target.error else "scanned",
                                **({"error": str(a.target.error)} if a.target.error else {})}
                               for a in self.accounts],
            "regions": list(self.regions), "endpoint_url": self.o.aws.endpoint_url,
            "mode": "org" if self.o.org else "account", "principal_account": base.id,
            "skipped": {**self.skipped,
                        "resources": sum(1 for f in self.findings if f.status == "error"),
                        "operations": dict(sorted(ops.items())), "notes": self.notes},
        }


def scan(options: ScanOptions, settings: Settings) -> ScanResult:
    """Scan live AWS; raises ConfigError when nothing can be scanned at all."""
    return Scanner(options, settings).run()
