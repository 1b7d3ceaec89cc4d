"""The report's words: one name for each finding status and for the run's verdict, the same in
every format (terminal, JSON, HTML, Markdown, SARIF, JUnit, OCSF, ASFF).

A finding's status is named as the finding says it (`fail`, `pass`, `waived`, `error`,
`attempt`): badges, filters, table heads and count lines all use those names, and
`STATUS_MEANING` says once what each means. The run's verdict is one of `VERDICTS`: the
headline of every report opens with it and report.json keeps it in `summary.verdict`.
Formats with their own fixed vocabulary keep it beside ours: SARIF levels, JUnit
<failure>/<error>/<skipped>, OCSF `status_code` PASS/FAIL and ASFF `Compliance.Status`
PASSED/FAILED/WARNING/NOT_AVAILABLE; each also carries our status name.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, overload

from drguard.findings import STATUSES, Finding, merge

GAPS_FOUND, INCOMPLETE, NO_GAPS = "gaps found", "run incomplete", "no gaps"
VERDICTS: tuple[str, ...] = (GAPS_FOUND, INCOMPLETE, NO_GAPS)

STATUS_MEANING: dict[str, str] = {
    "fail": "the control is not met: a gap to fix",
    "pass": "the control is met",
    "waived": "not met, but a valid waiver accepts it",
    "error": "could not be checked (not read): never counted as pass",
    "attempt": "the call was refused; had it succeeded it would have broken the control; "
               "nothing changed",
}
assert tuple(STATUS_MEANING) == STATUSES


def verdict(summary: Mapping[str, Any]) -> str:
    """`gaps found` when any gap is open, else `run incomplete` when something was not read,
    else `no gaps` (exit codes and --fail-on are reported beside it, not folded in)."""
    if summary.get("gaps"):
        return GAPS_FOUND
    if summary.get("incomplete"):
        return INCOMPLETE
    return NO_GAPS


def status_counts(by_status: Mapping[str, int], sep: str = ", ",
                  skip_zero: bool = False) -> str:
    """`52 fail, 68 pass, 0 waived, 0 error, 1 attempt`: every status by its name."""
    return sep.join(f"{int(by_status.get(s, 0))} {s}" for s in STATUSES
                    if by_status.get(s) or not skip_zero)


def severity_counts(by_severity: Mapping[str, Mapping[str, int]], order: tuple[str, ...]
                    ) -> str:
    """`9 critical, 42 high, 1 medium`: the gaps by severity, most severe first, zeros left
    out."""
    return ", ".join(f"{by_severity[s]['fail']} {s}" for s in order
                     if by_severity.get(s, {}).get("fail"))


def _short(resource: str) -> str:
    return (re.split(r"::|[:/]", resource)[-1] or resource) if resource else "-"


def critical_gaps(findings: Iterable[Finding]) -> list[str]:
    """The critical gaps by name (`control on resource (account, region)`), one per gap as
    the reports count them (merged), in a stable order."""
    gaps = sorted((critical_line(f) for f in merge(findings) if f.status == "fail"
                   and f.severity == "critical"), key=lambda kv: kv[0])
    return [text for _, text in gaps]


class NamedGaps(Sequence[str]):
    """critical_gaps's list made from the gaps' sort keys, (control, account, region,
    resource), in that order: each gap is named when it is read (a closing summary reads
    the first ten of what can be thousands)."""

    def __init__(self, keys: list[tuple[str, str, str, str]]) -> None:
        self._keys = keys

    def __len__(self) -> int:
        return len(self._keys)

    @overload
    def __getitem__(self, i: int) -> str: ...

    @overload
    def __getitem__(self, i: slice) -> list[str]: ...

    def __getitem__(self, i: int | slice) -> str | list[str]:
        if isinstance(i, slice):
            return [critical_words(k[0], k[3], k[1], k[2]) for k in self._keys[i]]
        k = self._keys[i]
        return critical_words(k[0], k[3], k[1], k[2])

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Sequence) and not isinstance(other, str) \
            and list(self) == list(other)

    __hash__ = None  # type: ignore[assignment]


def critical_line(f: Finding) -> tuple[tuple[str, str, str, str], str]:
    """(sort key, words) of one critical gap, as critical_gaps lists it."""
    return ((f.control, f.account or "", f.region or "", f.resource),
            critical_words(f.control, f.resource, f.account, f.region))


def critical_words(control: str, resource: str, account: str | None,
                   region: str | None) -> str:
    """`control on resource (account, region)`: one critical gap named."""
    where = ", ".join(x for x in (account, region) if x)
    return f"{control} on {_short(resource)}" + (f" ({where})" if where else "")
