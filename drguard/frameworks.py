"""Which framework requirements each control gives evidence for.

A mapping for evidence, never a claim of certification: a passing control shows the
configuration a requirement asks for; an auditor still judges the requirement. A control
names its requirements in `Mapping.frameworks`; one that names none takes those of its
exposure (what its gap exposes), below.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from .control import DESTROYABLE, HYGIENE, SINGLE_REGION, UNSEEN, Control

NIST = "NIST SP 800-53 r5"
ISO = "ISO/IEC 27001:2022"
SOC2 = "SOC 2"
DORA = "DORA"
WAF = "AWS Well-Architected"
FRAMEWORKS: tuple[str, ...] = (NIST, ISO, SOC2, DORA, WAF)
# what `--framework` accepts besides the full names (compared case-insensitively)
ALIASES: dict[str, str] = {"nist": NIST, "nist-800-53": NIST, "800-53": NIST, "iso": ISO,
                           "iso27001": ISO, "iso-27001": ISO, "soc2": SOC2, "soc-2": SOC2,
                           "dora": DORA, "well-architected": WAF, "waf": WAF}

Req = tuple[str, str]
BY_EXPOSURE: dict[str | None, tuple[Req, ...]] = {
    DESTROYABLE: ((NIST, "CP-9"), (ISO, "A.8.13"), (SOC2, "A1.2"), (DORA, "Art. 12"),
                  (WAF, "REL09")),
    SINGLE_REGION: ((NIST, "CP-6"), (NIST, "CP-9"), (ISO, "A.5.30"), (SOC2, "A1.2"),
                    (DORA, "Art. 12"), (WAF, "REL13")),
    UNSEEN: ((NIST, "AU-9"), (ISO, "A.8.15"), (SOC2, "CC7.2"), (DORA, "Art. 10"),
             (WAF, "REL09")),
    HYGIENE: ((NIST, "CP-9"), (ISO, "A.8.13"), (SOC2, "A1.2"), (WAF, "REL09")),
    None: ((NIST, "CP-9"), (ISO, "A.8.13"), (SOC2, "A1.2")),
}
DISCLAIMER = ("Evidence for these requirements, never a certification claim: a passing "
              "control shows the configuration a requirement asks for; an auditor still "
              "judges the requirement.")


def requirements(control: Control) -> tuple[Req, ...]:
    return control.mapping.frameworks or BY_EXPOSURE.get(control.exposure, BY_EXPOSURE[None])


def resolve(name: str) -> str | None:
    """The framework `name` means (full name or alias, any case), or None."""
    low = name.strip().lower()
    for f in FRAMEWORKS:
        if f.lower() == low:
            return f
    return ALIASES.get(low)


def controls_for(framework: str, controls: Iterable[Control]) -> set[str]:
    """Ids of the controls mapped to `framework` (a resolved name)."""
    return {c.id for c in controls if any(f == framework for f, _ in requirements(c))}


def summarize(findings: Iterable[dict[str, Any]], controls: dict[str, Control]
              ) -> list[dict[str, Any]]:
    """report.json `frameworks[]`: pass/fail/error per requirement over the findings (a
    waived gap counts as pass: the exception is documented; an attempt counts as nothing)."""
    counts: dict[tuple[str, Any], int] = {}
    for f in findings:
        key = (f.get("control", ""), f.get("status"))
        counts[key] = counts.get(key, 0) + 1
    return summarize_counts(counts, controls)


def summarize_counts(counts: Mapping[tuple[str, Any], int], controls: dict[str, Control]
                     ) -> list[dict[str, Any]]:
    """summarize over {(control id, status): number of findings} (what a report written in
    pieces keeps instead of its findings)."""
    rows: dict[Req, dict[str, Any]] = {}
    for (control, raw), n in counts.items():
        c = controls.get(control)
        status = "pass" if raw == "waived" else raw
        if c is None or status not in ("pass", "fail", "error") or n <= 0:
            continue
        for req in requirements(c):
            row = rows.setdefault(req, {"name": req[0], "requirement": req[1], "controls": [],
                                        "pass": 0, "fail": 0, "error": 0})
            if c.id not in row["controls"]:
                row["controls"].append(c.id)
            row[status] += n
    order = {f: i for i, f in enumerate(FRAMEWORKS)}
    return [{**r, "controls": sorted(r["controls"])} for _, r in
            sorted(rows.items(), key=lambda kv: (order.get(kv[0][0], 99), kv[0][1]))]
