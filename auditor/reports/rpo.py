"""The achieved-RPO section of report.html and report.md.

One row per finding of the control that measures the age of the newest recovery point
(`drguard.controls.rpo`); its evidence carries the row (kind, newest point in the region and in
another region, target). Which control feeds the section is decided here, once; the templates
(`_rpo.html.j2`, `_rpo.md.j2`) render the rows they are given.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from drguard.controls.rpo import CONTROL_ID
from drguard.findings import Finding

from .templates import text_environment

MD_ROWS = 50
_ORDER = {"fail": 0, "error": 1, "waived": 2, "pass": 3}


def is_row(f: Finding) -> bool:
    """Whether a finding is a row of the achieved-RPO table."""
    return f.control == CONTROL_ID


def html_rows(views: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The finding views (`{"f": Finding, ...}`) of the HTML table, by status."""
    return sorted((v for v in views if is_row(v["f"])), key=lambda v: v["f"].status)


def markdown_table(findings: list[Finding]) -> str:
    """The achieved-RPO table of report.md; "" without RPO findings."""
    rows = [f for f in findings if is_row(f)]
    rows.sort(key=lambda f: (_ORDER.get(f.status, 4), f.resource))
    env = text_environment()
    return env.get_template("_rpo.md.j2").render(rows=rows[:MD_ROWS],
                                                 more=max(0, len(rows) - MD_ROWS))
