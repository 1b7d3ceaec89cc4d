"""The live scan: collect facts from every account x region with a bounded worker pool, apply
the shared rules through each service's live bindings, and return findings (fail closed: what
could not be read is `error`).

Phases (each one spread over the pool); what runs in each comes from `auditor.services`:
1. open the accounts (org mode: assume the role in each; one failing does not stop the rest);
2. per account the services' global steps, per account x region their regional steps;
3. the services' later phases in order (trail details; bucket discovery, backup scope and
   the settings of the buckets in scope);
4. every live binding, in the calling thread.
This module names no control and no AWS service.
"""

from __future__ import annotations

import datetime as dt
import logging
import sys
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import field
from fnmatch import fnmatchcase
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from drguard import __version__, registry
from drguard.errors import ConfigError
from drguard.evaluate import finding
from drguard.facts import UNKNOWN, Resource
from drguard.findings import Finding
from drguard.records import record
from drguard.settings import Settings
from drguard.verdict import Verdict

from . import aws, org, services
from .aws import AccountClock
from .collectors import UNIT_ERRORS, ReadError
from .live import AccountScan, RegionScan, Step, Target
from .org import Shard

log = logging.getLogger(__name__)

# The scan's own calls beside its services' (`LiveService.calls`): the enabled regions, when
# --regions is not given.
CALLS = ("ec2:DescribeRegions",)


@record
class ScanOptions:
    """What `dr-audit scan` reads: credentials, regions, organization mode, workers."""

    aws: aws.AwsOptions = field(default_factory=aws.AwsOptions)
    regions: list[str] | None = None
    org: bool = False
    role_name: str | None = None
    workers: int = 8
    now: dt.datetime | None = None  # injectable clock (key and snapshot ages)
    progress: bool = False
    # backend.url of the project's Pulumi.yaml (scan --project): where the state bucket is
    project_backend: str | None = None
    shard: Shard | None = None  # --shard I/N: only the accounts of that shard
    # Busy time one account may take before its remaining reads are `error` (None: no limit)
    account_timeout: float | None = 900.0
    # Units of one account scanned at once, so one account cannot take every worker
    per_account: int = 4
    # Accounts whose clients are kept at once (0: twice the workers); the others' are dropped
    # and made again when needed, so memory does not grow with the Organization
    client_accounts: int = 0


@record
class ScanResult:
    """A scan's findings and run metadata."""

    findings: list[Finding]
    run: dict[str, Any]
    session: Any = None  # the base boto3 session (read-only guarded), for --logs


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
    """Runs one scan; services see it as their `auditor.live.ScanContext`."""

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
        self.base: aws.Account | None = None
        self.org_view: Any = None
        # what one service reads and another needs (e.g. the Pulumi state bucket location)
        self.shared: dict[str, Any] = {}
        self._pool: ThreadPoolExecutor | None = None

    # ---- pool ----------------------------------------------------------------------------

    def map(self, label: str, fn: Callable[..., Any],
            items: Iterable[tuple[Any, ...]]) -> list[Any]:
        """fn(*item) for every item on the worker pool; results in item order."""
        items = list(items)
        if not items:
            return []
        assert self._pool is not None
        futures = [self._pool.submit(fn, *it) for it in items]
        if self.o.progress:
            # a counter redrawn in place on a terminal; one line per phase in a log file
            tty = sys.stderr.isatty()
            for done, _ in enumerate(as_completed(futures), 1):
                if tty:
                    sys.stderr.write(f"\rdr-audit: {label} {done}/{len(items)}   ")
                    sys.stderr.flush()
            sys.stderr.write("\n" if tty else f"dr-audit: {label} {len(items)}/{len(items)}\n")
        return [f.result() for f in futures]

    # ---- findings ------------------------------------------------------------------------

    def add(self, control: str, fact: Resource, verdict: Verdict | None,
            errors: Iterable[ReadError | None] = ()) -> None:
        """Record a verdict as a finding; `unknown` becomes `error` naming the read errors."""
        if verdict is None or control not in self.settings.enabled:
            return
        errs = list(dict.fromkeys(e for e in errors if e is not None))
        if verdict.status == "unknown":
            why = "; ".join(str(e) for e in errs) or "a value could not be read"
            what = registry.BY_ID[control].title.lower()
            verdict = Verdict("error", f"Could not check that {what} for {fact.name}: {why}.",
                              verdict.evidence, verdict.remediation)
        if verdict.status == "error" and errs:
            verdict.evidence = {**verdict.evidence, "readErrors": [e.to_dict() for e in errs]}
        f = finding(control, fact, verdict, "live", self.settings, self.now.date())
        f.evidence = clean(f.evidence)
        self.findings.append(f)

    def error(self, control: str, ref: str, name: str, account: str | None,
              region: str | None, message: str,
              errors: Iterable[ReadError | None] = ()) -> None:
        fact = Resource(ref=ref, name=name, account=account, region=region)
        self.add(control, fact, Verdict("error", message, {}), errors)

    # ---- phases ---------------------------------------------------------------------------

    def run(self) -> ScanResult:
        started = dt.datetime.now(dt.UTC)
        base = self.base = aws.connect(self.o.aws)
        # accounts holding clients at once: those the workers are on, and as many waiting
        base.pool.capacity = self.o.client_accounts or max(4, 2 * self.o.workers)
        self.regions = list(self.o.regions or enabled_regions(base))
        with ThreadPoolExecutor(max_workers=max(1, self.o.workers),
                                thread_name_prefix="dr-audit") as pool:
            self._pool = pool
            if self.o.org:
                if not self.o.role_name:
                    raise ConfigError("--org needs --role-name")
                self.org_view = org.read_org(base)
                targets = org.open_accounts(base, self.org_view, self.o.role_name,
                                            self.o.aws.external_id, self._map_accounts,
                                            self.o.shard)
            else:
                targets = [Target(base.id, None, base)]
            self.accounts = [AccountScan(t) for t in targets]
            live = [a for a in self.accounts if a.target.account is not None]
            for a in live:
                assert a.target.account is not None
                a.target.account.clock = AccountClock(self.o.account_timeout,
                                                      self.o.per_account)
            self._read("account reads", [(a, a) for a in live], services.global_steps())
            # region-major order: the pool moves across accounts instead of draining one
            self._read("region reads",
                       [(a, a.regions.setdefault(r, RegionScan(r)))
                        for r in self.regions for a in live],
                       services.regional_steps())
            for phase in services.phases():
                phase.run(self, live)
            self._evaluate(live)
            self._pool = None
        finished = dt.datetime.now(dt.UTC)
        self.findings.sort(key=lambda f: (f.account or "", f.region or "", f.control,
                                          f.resource))
        return ScanResult(self.findings, self._run_info(base, started, finished), base.session)

    def _map_accounts(self, fn: Callable[..., Any], items: Iterable[tuple[Any, ...]]) -> list[Any]:
        return self.map("open accounts", fn, items)

    def _read(self, label: str, units: list[tuple[AccountScan, AccountScan | RegionScan]],
              steps: list[Step]) -> None:
        """Every step of every unit (an account, or one of its regions) as its own task on
        the pool: the steps read different services and none reads another's result, so a
        scan of one account and region waits for its slowest service, not for their sum.
        Results land in the unit in step order, as if the steps had run one after another."""
        items = [(a, unit, step) for a, unit in units for step in steps]
        for (_, unit, step), (ok, value) in zip(items, self.map(label, self._step, items),
                                                strict=True):
            if ok:
                unit.data[step.key] = value
            else:
                unit.errors[step.key] = value

    def _step(self, a: AccountScan, unit: AccountScan | RegionScan,
              step: Step) -> tuple[bool, Any]:
        acct = a.target.account
        assert acct is not None
        with acct.clock.unit():
            try:
                return True, step.collect(self, acct, unit)
            except UNIT_ERRORS as e:
                return False, ReadError.of(step.operation, e)

    @property
    def project_backend(self) -> str | None:
        return self.o.project_backend

    def owns(self, account_id: str) -> bool:
        """Whether this run judges the account (all of them, unless --shard)."""
        return self.o.shard is None or self.o.shard.holds(account_id)

    # ---- evaluation ----------------------------------------------------------------------

    def _evaluate(self, live: list[AccountScan]) -> None:
        bindings = [b for b in services.bindings() if b.evaluate is not None]
        for a in self.accounts:
            if a.target.error is not None:
                self._account_failed(a, bindings)
        for b in bindings:
            if b.per_account:
                for a in live:
                    b.evaluate(self, a)  # type: ignore[misc]
        for b in bindings:
            if not b.per_account:
                b.evaluate(self)  # type: ignore[misc]
        self._fail_closed(live, bindings)

    def _fail_closed(self, live: list[AccountScan], bindings: list[Any]) -> None:
        """Every failed call of a read a binding declares (`Live.reads`) makes the controls it
        feeds `error` on the wildcard that read covers, where no `error` of the binding covers
        that wildcard already."""
        said = {(f.control, f.account, f.resource) for f in self.findings
                if f.status == "error"}
        wild = [k for k in said if "*" in k[2]]

        def covered(control: str, account: str, ref: str) -> bool:
            return (control, account, ref) in said or any(
                c == control and acc == account and fnmatchcase(ref, r) for c, acc, r in wild)

        for a in live:
            acct = a.target.account
            if acct is None or not self.owns(a.id):
                continue
            for (op, region), (_, code, message) in sorted(acct.failed.by_read.items()):
                err = ReadError(op, code, message)
                for b in bindings:
                    for read in b.reads:
                        if read.operation != op:
                            continue
                        ref = read.wildcard.format(account=a.id, region=region)
                        where = region if "{region}" in read.wildcard else None
                        for control in read.controls or b.controls:
                            if control in self.settings.enabled and \
                                    not covered(control, a.id, ref):
                                self.error(control, ref, ref, a.id, where,
                                           f"Could not tell which resources to check "
                                           f"({ref}): {err}.", [err])
                                said.add((control, a.id, ref))

    def _account_failed(self, a: AccountScan, bindings: list[Any]) -> None:
        self.skipped["accounts"] += 1
        err = a.target.error
        for b in bindings:
            if not b.on_account_error:
                continue
            for control in b.controls:
                self.error(control, f"arn:aws:iam::{a.id}:root", a.target.name or a.id, a.id,
                           None, f"Account {a.id} could not be scanned: {err}.",
                           [err] if err else [])
            # what its reads would have found in other accounts (a plan's copy vaults)
            wide = {(c, r.wildcard) for r in b.reads if r.wildcard.split(":")[4:5] == ["*"]
                    for c in r.controls or b.controls}
            for control, wildcard in sorted(wide):
                self.error(control, wildcard, wildcard, a.id, None,
                           f"Account {a.id} could not be scanned, and what it would show of "
                           f"other accounts is unknown: {err}.", [err] if err else [])

    # ---- run metadata ----------------------------------------------------------------------

    def _run_info(self, base: aws.Account, started: dt.datetime,
                  finished: dt.datetime) -> dict[str, Any]:
        for a in self.accounts:
            self.skipped["regions"] += sum(1 for rs in a.regions.values() if rs.errors)
            clock = a.target.account.clock if a.target.account is not None else None
            if clock is not None and clock.expired:
                self.skipped["timedOutAccounts"] = self.skipped.get("timedOutAccounts", 0) + 1
                self.notes.append(f"account {a.id}: stopped after {clock.busy():.0f} s of "
                                  f"scanning (--account-timeout); what it did not read is "
                                  "`error`")
        # failed calls by operation; a read error no call shows (a malformed reply, the
        # account's time budget) counts once per check it made unknowable
        ops: dict[str, int] = {}
        calls = 0
        for a in self.accounts:
            if a.target.account is not None:
                for op, n in a.target.account.failed.operations().items():
                    ops[op] = ops.get(op, 0) + n
                    calls += n
        unknowable: dict[str, set[str]] = {op: set() for op in ops}
        by_finding: dict[str, int] = {}
        for f in self.findings:
            if f.status == "error":
                for e in f.evidence.get("readErrors") or ():
                    unknowable.setdefault(e["operation"], set()).add(f.control)
                    by_finding[e["operation"]] = by_finding.get(e["operation"], 0) + 1
        for op, n in by_finding.items():
            ops.setdefault(op, n)
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
            **({"shard": str(self.o.shard)} if self.o.shard else {}),
            "skipped": {**self.skipped,
                        "resources": sum(1 for f in self.findings if f.status == "error"),
                        "calls": calls,
                        "operations": dict(sorted(ops.items())),
                        # which controls each failed read left `error` (and where)
                        "unknowable": {op: sorted(c) for op, c in sorted(unknowable.items())},
                        "notes": self.notes},
        }


def scan(options: ScanOptions, settings: Settings) -> ScanResult:
    """Scan live AWS; raises ConfigError when nothing can be scanned at all."""
    return Scanner(options, settings).run()
