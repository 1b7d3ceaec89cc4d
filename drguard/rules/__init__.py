"""Rule logic, written once on facts.

Each rule takes a fact (and the control's resolved parameters) and returns a `Verdict`, or
None when the control does not apply to that fact. The deploy side turns verdicts into policy
violations, the auditor into findings.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

VerdictStatus = Literal["pass", "fail", "unknown", "error"]


@dataclass
class Verdict:
    status: VerdictStatus
    message: str
    evidence: dict[str, Any] = field(default_factory=dict)

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


def show(value: Any) -> str:
    from ..facts import UNKNOWN

    if value is UNKNOWN:
        return "unknown"
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
