"""What every drill shares: the plan of API calls, timed steps, the cleanup stack, signals.

A drill runs in two phases. `prepare` only reads (in a dry run through the auditor's read-only
session, so it cannot write by construction) and returns a `Plan`: what it found and the
mutating calls it would make. `execute` makes those calls inside timed steps; every scratch
resource is put on the cleanup stack *before* the call that creates it, so a lost response, an
exception or a signal still leads to its deletion. `run` ties them together: SIGINT and SIGTERM
become `Interrupted` while the drill works, and are held back while it cleans up.
"""

from __future__ import annotations

import json
import logging
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import field
from typing import Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from drguard.records import record

from ..aws import MutatingCallError

log = logging.getLogger(__name__)

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_NOT_RUN = 0, 1, 2, 3
OK, FAILED, SKIPPED, INTERRUPTED = "ok", "failed", "skipped", "interrupted"


class CannotRun(Exception):
    """The drill cannot run: nothing to restore, access denied... (exit code 3)."""


class VerificationFailed(Exception):
    """The restored copy is not what it should be (exit code 1)."""


class Interrupted(BaseException):
    """SIGINT or SIGTERM arrived while the drill was working."""


def aws_error(exc: BaseException) -> str:
    """One line for an AWS error: operation, code and message."""
    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        return (f"{exc.operation_name}: {err.get('Code', 'error')}: "
                f"{str(err.get('Message') or '')[:300]}").rstrip(": ")
    return f"{type(exc).__name__}: {str(exc)[:300]}"


def error_code(exc: BaseException) -> str:
    return str(exc.response.get("Error", {}).get("Code", "")) if isinstance(exc, ClientError) \
        else ""


@record(frozen=True)
class PlannedCall:
    """One mutating API call the drill would make (what --dry-run prints)."""

    service: str
    region: str
    operation: str
    params: dict[str, Any]
    why: str

    def line(self) -> str:
        return (f"{self.service}:{self.operation} ({self.region}) "
                f"{json.dumps(self.params, sort_keys=True, default=str)}  # {self.why}")


@record
class Plan:
    """What `prepare` found (shown in the report) and the calls `execute` will make."""

    kind: str
    target: str
    region: str
    found: dict[str, Any] = field(default_factory=dict)
    calls: list[PlannedCall] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)  # internal: ids execute needs

    def call(self, service: str, region: str, operation: str, why: str,
             **params: Any) -> None:
        self.calls.append(PlannedCall(service, region, operation, params, why))

    def text(self) -> str:
        lines = [f"drill {self.kind}: {self.target} (region {self.region})"]
        lines += [f"  found {k}: {json.dumps(v, default=str)}" for k, v in self.found.items()]
        lines += [f"  note: {n}" for n in self.notes]
        lines.append("  API calls it would make, in order (besides reads):")
        lines += [f"  {i}. {c.line()}" for i, c in enumerate(self.calls, 1)]
        return "\n".join(lines)


@record
class Step:
    """One step of a drill: what it did, how long it took, how it ended."""

    name: str
    seconds: float = 0.0
    status: str = OK
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"name": self.name, "seconds": round(self.seconds, 3),
                             "status": self.status}
        if self.detail:
            d["detail"] = self.detail
        return d


@record
class Cleanup:
    """LIFO stack of (description, action); every action runs, each retried a few times."""

    items: list[tuple[str, Callable[[], None]]] = field(default_factory=list)
    left: list[str] = field(default_factory=list)
    attempts: int = 3
    backoff: float = 1.0

    def add(self, what: str, action: Callable[[], None]) -> None:
        self.items.append((what, action))

    def run(self, steps: list[Step]) -> bool:
        """Run every action (newest first); True when all of them succeeded."""
        while self.items:
            what, action = self.items.pop()
            step = Step(f"cleanup: {what}")
            t0 = time.monotonic()
            for attempt in range(1, self.attempts + 1):
                try:
                    action()
                    step.status, step.detail = OK, ""
                    break
                except Exception as e:  # noqa: BLE001 - cleanup must try every item
                    step.status, step.detail = FAILED, aws_error(e)
                    log.warning("cleanup of %s failed (attempt %d/%d): %s", what, attempt,
                                self.attempts, step.detail)
                    if attempt < self.attempts:
                        time.sleep(self.backoff * attempt)
            step.seconds = time.monotonic() - t0
            steps.append(step)
            if step.status != OK:
                self.left.append(what)
        return not self.left


@record
class Context:
    """What a drill's `execute` works with."""

    run_id: str
    account: Any  # DrillAccount (or any object with .client(service, region))
    plan: Plan
    poll_seconds: float = 15.0
    wait_seconds: float = 3600.0
    steps: list[Step] = field(default_factory=list)
    cleanup: Cleanup = field(default_factory=Cleanup)
    marks: dict[str, float] = field(default_factory=dict)
    result: dict[str, Any] = field(default_factory=dict)  # verification details etc.

    @contextmanager
    def step(self, name: str) -> Iterator[Step]:
        """A timed step; its status follows what happens inside (ok, failed, interrupted)."""
        s = Step(name)
        t0 = time.monotonic()
        try:
            yield s
        except (Interrupted, KeyboardInterrupt):
            s.status = INTERRUPTED
            raise
        except BaseException as e:
            s.status = FAILED
            s.detail = s.detail or (aws_error(e) if not isinstance(
                e, CannotRun | VerificationFailed) else str(e))
            raise
        finally:
            s.seconds = time.monotonic() - t0
            self.steps.append(s)
            log.info("step %s: %s in %.2fs", name, s.status, s.seconds)

    def mark(self, name: str) -> None:
        """Remember a moment (e.g. restore start, available) for the RTO."""
        self.marks[name] = time.monotonic()

    def wait(self, what: str, probe: Callable[[], tuple[bool, str]]) -> str:
        """Poll `probe` until it says done; its last state. CannotRun past wait_seconds."""
        deadline = time.monotonic() + self.wait_seconds
        while True:
            done, state = probe()
            if done:
                return state
            if time.monotonic() >= deadline:
                raise CannotRun(f"{what} still {state!r} after {self.wait_seconds:.0f}s")
            time.sleep(self.poll_seconds)


# ---- signals --------------------------------------------------------------------------------

_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextmanager
def signals_raise() -> Iterator[None]:
    """While inside: SIGINT/SIGTERM raise Interrupted (main thread only; elsewhere a no-op)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, _frame: Any) -> None:
        raise Interrupted(signal.Signals(signum).name)

    old = {s: signal.signal(s, handler) for s in _SIGNALS}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)


@contextmanager
def signals_held() -> Iterator[list[str]]:
    """While inside (cleanup): SIGINT/SIGTERM are noted and logged, not raised."""
    seen: list[str] = []
    if threading.current_thread() is not threading.main_thread():
        yield seen
        return

    def handler(signum: int, _frame: Any) -> None:
        seen.append(signal.Signals(signum).name)
        log.warning("%s received: cleaning up the drill's scratch resources first",
                    signal.Signals(signum).name)

    old = {s: signal.signal(s, handler) for s in _SIGNALS}
    try:
        yield seen
    finally:
        for s, h in old.items():
            signal.signal(s, h)


class Drill(Protocol):
    kind: str

    def prepare(self, account: Any) -> Plan: ...

    def execute(self, ctx: Context) -> None: ...

    def rto_seconds(self, ctx: Context) -> float | None: ...


@record
class Outcome:
    """How a run ended."""

    status: str  # "verified" | "failed" | "not-run" | "interrupted"
    error: str = ""
    cleaned_up: bool = True
    left_behind: list[str] = field(default_factory=list)
    failed_step: str = ""  # the step that failed (or was interrupted), named in the report


def run(drill: Drill, ctx: Context) -> Outcome:
    """Execute the drill; clean up on every path (exception, SIGINT, SIGTERM)."""
    outcome = Outcome("verified")
    try:
        with signals_raise():
            drill.execute(ctx)
    except (Interrupted, KeyboardInterrupt) as e:
        outcome = Outcome("interrupted", f"interrupted by {e or type(e).__name__}")
    except VerificationFailed as e:
        outcome = Outcome("failed", str(e))
    except CannotRun as e:
        outcome = Outcome("not-run", str(e))
    except (ClientError, BotoCoreError, MutatingCallError) as e:
        outcome = Outcome("not-run", aws_error(e))
    except Exception as e:  # noqa: BLE001 - a bug must not leave scratch resources behind
        log.exception("drill failed")
        outcome = Outcome("not-run", f"unexpected error: {type(e).__name__}: {e}")
    finally:
        if outcome.status != "verified":
            outcome.failed_step = next((s.name for s in reversed(ctx.steps)
                                        if s.status in (FAILED, INTERRUPTED)), "")
        with signals_held() as held:
            outcome.cleaned_up = ctx.cleanup.run(ctx.steps)
            outcome.left_behind = list(ctx.cleanup.left)
        if held and outcome.status == "verified":
            outcome = Outcome("interrupted", f"interrupted by {held[0]} during cleanup",
                              outcome.cleaned_up, outcome.left_behind, "cleanup")
    return outcome
