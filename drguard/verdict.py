"""What a rule returns: a `Verdict` on one fact, optionally with the `Remediation` that fixes it.

Rules (in `drguard.controls.<service>`) take a fact and the control's resolved parameters and
return a Verdict, or None when the control does not apply to that fact. The deploy side turns
verdicts into policy violations, the auditor into findings.
"""

from __future__ import annotations

import re
from dataclasses import field
from typing import Any, Literal

from .facts import UNKNOWN
from .records import record

VerdictStatus = Literal["pass", "fail", "unknown", "error"]


@record(frozen=True)
class Remediation:
    """How to fix a failing control: one sentence, the Pulumi (Python) code, an AWS CLI call."""

    summary: str
    pulumi: str
    cli: str | None = None


@record
class Verdict:
    """A rule's judgement of one fact: status, message, the values read, and the fix."""

    status: VerdictStatus
    message: str
    evidence: dict[str, Any] = field(default_factory=dict)
    remediation: Remediation | None = None

    @classmethod
    def ok(cls, message: str, **evidence: Any) -> Verdict:
        return cls("pass", message, evidence)

    @classmethod
    def fail(cls, message: str, **evidence: Any) -> Verdict:
        return cls("fail", message, evidence)

    @classmethod
    def unknown(cls, what: str, **evidence: Any) -> Verdict:
        return cls("unknown", f"{what} cannot be checked during preview (the value is not "
                              "known yet); it will be checked on update.", evidence)


def plural(n: int, word: str) -> str:
    """`1 day`, `2 days`, `3 log files`."""
    if n == 1:
        return f"1 {word}"
    if word.endswith("y") and word[-2:-1] not in "aeiou":
        return f"{n} {word[:-1]}ies"
    if word.endswith(("s", "x", "ch", "sh")):
        return f"{n} {word}es"
    return f"{n} {word}s"


def plural_days(n: Any) -> str:
    """`1 day`, `7 days`."""
    return f"{n} day" if n == 1 else f"{n} days"


def show(value: Any) -> str:
    """A fact value as a message shows it: unknown, unset, true/false or the value."""
    if value is UNKNOWN:
        return "unknown"
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


NOT_NAME = re.compile(r"[^0-9a-zA-Z.-]+")  # what a logical name made by logical_name lacks


def logical_name(name: str) -> str:
    """The Pulumi logical name a remediation snippet makes of a resource's name (every run of
    other characters a dash); redaction hides this spelling of a secret name too."""
    return NOT_NAME.sub("-", name).strip("-")
