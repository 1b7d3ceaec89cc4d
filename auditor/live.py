"""What an `auditor.services.<service>` module declares for the live side, and the scan
context it is given.

Each service module ends with one declaration, `SERVICE = LiveService(...)`:
- `global_steps` / `regional_steps`: collection `Step`s run per account / per account x region
  in the scan's worker pool; a step that raises is recorded as a `ReadError` under its key
  (fail closed: the bindings report what depends on it as `error`);
- `phase`: later collection that needs earlier results (trail details, bucket discovery and
  backup scope), run in `Phase.order`;
- `live`: the live binding of each control the service judges, by control id;
- `drift`: {Pulumi type token: `DriftKind`} for `scan --state` (resource-drift-deleted);
- `calls`: every AWS operation its steps, phase, bindings and drift checks send, as botocore
  names them (`efs:DescribeBackupPolicy`): the scan's IAM policy is generated from them
  (`auditor.iam_policy`), and a test fails on a call a scan makes that no service declares.
`auditor.services` lists the service modules; `auditor.scan` lists none by name.

A service is a leaf: it reads with the account it is handed and reports through the
`ScanContext` the scan passes in; it never imports the scan, the organization fan-out,
reports or drills.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping
from dataclasses import field
from typing import TYPE_CHECKING, Any, Protocol

from drguard.records import record

from .aws import Account
from .collectors import ReadError

if TYPE_CHECKING:
    from drguard.facts import Resource
    from drguard.settings import Settings
    from drguard.verdict import Verdict


@record
class Target:
    """An account to scan: its clients, or why it could not be opened."""

    id: str
    name: str | None = None
    account: Account | None = None
    error: ReadError | None = None


@record
class RegionScan:
    """What the regional steps read in one account x region: data and errors by step key."""

    region: str
    data: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, ReadError] = field(default_factory=dict)


@record
class AccountScan:
    """What the steps read in one account: global data and errors, and each region's."""

    target: Target
    regions: dict[str, RegionScan] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, ReadError] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return self.target.id


class ScanContext(Protocol):
    """What a service may use of the running scan (`auditor.scan.Scanner` provides it)."""

    settings: Settings
    now: dt.datetime
    accounts: list[AccountScan]
    regions: list[str]
    notes: list[str]  # run notes shown in the report
    skipped: dict[str, int]  # counts of what was not scanned, by kind
    base: Account | None  # the account the scan runs from
    org_view: Any  # the organization read for --org (None in single-account mode)
    # what one service reads and another needs (e.g. the Pulumi state bucket location)
    shared: dict[str, Any]

    @property
    def project_backend(self) -> str | None:
        """backend.url of the project's Pulumi.yaml (`scan --project`), if given."""
        ...

    def map(self, label: str, fn: Callable[..., Any],
            items: Iterable[tuple[Any, ...]]) -> list[Any]:
        """fn(*item) for every item on the worker pool; results in item order."""
        ...

    def add(self, control: str, fact: Resource, verdict: Verdict | None,
            errors: Iterable[ReadError | None] = ()) -> None:
        """Record a verdict as a finding."""
        ...

    def error(self, control: str, ref: str, name: str, account: str | None,
              region: str | None, message: str,
              errors: Iterable[ReadError | None] = ()) -> None:
        """Record an `error` finding for a resource that could not be judged."""
        ...

    def owns(self, account_id: str) -> bool:
        """Whether this run judges the account (all of them, unless --shard)."""
        ...


def base_region(scanner: ScanContext) -> str | None:
    """The region the scan's own account defaults to (the partition of what it names)."""
    return scanner.base.region if scanner.base is not None else None


@record(frozen=True)
class Step:
    """One collection call: its result goes to `data[key]`, its failure to `errors[key]`."""

    key: str
    operation: str  # named in the ReadError when the step raises
    collect: Callable[..., Any]  # (context, account, unit) -> value; unit: AccountScan|RegionScan


@record(frozen=True)
class Live:
    """The live binding of one or more controls of a service.

    `evaluate(context, account)` runs once per scanned account (`per_account`), else
    `evaluate(context)` once per run; None when another command judges the control (`scan
    --state`). `on_account_error`: an account that could not be opened gets an `error`
    finding for each of these controls. `reads`: see below.
    """

    controls: tuple[str, ...]
    evaluate: Callable[..., None] | None
    per_account: bool = True
    on_account_error: bool = True
    reads: tuple[Read, ...] = ()


@record(frozen=True)
class Read:
    """A read that decides WHICH resources a binding's controls judge (a listing, a read that
    puts a bucket in backup scope), with the wildcard ARN of what a failed call of it leaves
    unknown ("{account}" and "{region}" are filled in).

    When a call of `operation` fails past its retries, the scan reports each of `controls`
    (all of the binding's when empty) `error` on that wildcard, unless the binding already
    said `error` there or named the failed read in an `error` of that control: a resource the
    read would have shown is never just missing. What a read of one resource feeds, the
    binding passes to `ScanContext.add` with the verdict.
    """

    operation: str  # service:Operation, as AWS names it
    wildcard: str  # e.g. "arn:aws:rds:{region}:{account}:db:*"
    controls: tuple[str, ...] = ()


@record(frozen=True)
class DriftKind:
    """How to tell whether one kind of stateful resource still exists (`scan --state`)."""

    label: str
    service: str
    operation: str  # for evidence and error messages
    names: tuple[str, ...]  # output properties holding the physical name, in order
    use_id: bool  # whether the resource id is the physical name too
    call: Callable[[Any, str], Any]
    gone: frozenset[str]  # error codes that mean "does not exist"
    arn: Callable[[str, str, str], str]  # (region, account, name) -> ARN
    delete_event: str  # the CloudTrail event that deletes it (links a deletion to who did it)


@record(frozen=True)
class Phase:
    """Collection after the steps, in `order` across services: `run(context, accounts)`."""

    order: int
    run: Callable[[ScanContext, list[AccountScan]], None]


@record(frozen=True)
class LiveService:
    """Everything one service module declares for the live side: its `SERVICE`."""

    global_steps: tuple[Step, ...] = ()
    regional_steps: tuple[Step, ...] = ()
    phase: Phase | None = None
    live: tuple[Live, ...] = ()
    drift: Mapping[str, DriftKind] = field(default_factory=dict)
    calls: tuple[str, ...] = ()
