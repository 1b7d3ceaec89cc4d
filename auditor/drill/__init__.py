"""Recovery drills: restore a backup into scratch resources, verify it, time it, delete it.

`dr-audit drill rds|state|s3` is the one part of DR Guard that creates and deletes, and it is
kept apart from the read-only scan:

    guard.py    the mutating guard: reads, plus the drill's own create/restore/delete calls on
                names and tags carrying the run id (`drguard-drill-<run id>...`, `dr:drill`)
    plan.py     plan of API calls (--dry-run), timed steps, cleanup stack, signal handling
    rds.py      restore a DB instance from its newest snapshot or a point in time
    state.py    restore the previous version of a Pulumi checkpoint and validate it
    s3.py       restore earlier versions of deleted/overwritten objects, verify checksums
    report.py   the report section, history (--history DIR) and report files

`prepare` reads through the auditor's read-only session; `execute` writes through a drill
session whose guard refuses anything else. Cleanup runs on every path.
"""

from __future__ import annotations

import datetime as dt
import secrets

from .guard import NAME_PREFIX, TAG_KEY, DrillAccount, DrillGuard, scratch_prefix
from .plan import CannotRun, Context, Outcome, Plan, VerificationFailed, run

__all__ = ["NAME_PREFIX", "TAG_KEY", "CannotRun", "Context", "DrillAccount", "DrillGuard",
           "Outcome", "Plan", "VerificationFailed", "new_run_id", "run", "scratch_prefix"]


def new_run_id(now: dt.datetime | None = None) -> str:
    """`YYYYMMDDhhmmss-xxxxxx` (UTC, 6 random hex digits): unique, sortable, and short enough
    for RDS identifiers (63 characters)."""
    now = now or dt.datetime.now(dt.UTC)
    return f"{now:%Y%m%d%H%M%S}-{secrets.token_hex(3)}"
