"""What an `auditor.services.<service>` module declares for the live side.

- `GLOBAL` / `REGIONAL`: collection `Step`s run per account / per account x region in the
  scan's worker pool; a step that raises is recorded as a `ReadError` under its key (fail
  closed: the bindings report what depends on it as `error`).
- `PHASE` and `phase(scanner, live_accounts)`: later collection that needs earlier results
  (trail details, bucket discovery and backup scope), in PHASE order.
- `LIVE`: the live binding of each control the service judges, by control id.
- `DRIFT`: {Pulumi type token: `DriftKind`} for `scan --state` (resource-drift-deleted).
A new service is a new module in `auditor/services`; `auditor.scan` lists none by name.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Step:
    """One collection call: its result goes to `data[key]`, its failure to `errors[key]`."""

    key: str
    operation: str  # named in the ReadError when the step raises
    collect: Callable[..., Any]  # (scanner, account, unit) -> value; unit: AccountScan|RegionScan


@dataclass(frozen=True)
class Live:
    """The live binding of one or more controls of a service.

    `evaluate(scanner, account)` runs once per scanned account (`per_account`), else
    `evaluate(scanner)` once per run; None when another command judges the control (`scan
    --state`). `on_account_error`: an account that could not be opened gets an `error`
    finding for each of these controls.
    """

    controls: tuple[str, ...]
    evaluate: Callable[..., None] | None
    per_account: bool = True
    on_account_error: bool = True


@dataclass(frozen=True)
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
