"""report.json `applications[]` and `frameworks[]`: computed once from the report's findings,
so every format shows the same rows and the same score (docs/applications.md)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from drguard import frameworks
from drguard.control import SINGLE_REGION
from drguard.controls import objectives, recovery, rpo
from drguard.controls import pulumi as pulumi_controls
from drguard.registry import BY_ID

from ..terminal import shown

# Score: 100 minus these points per distinct failing (control, resource), minus ERROR_POINTS
# per check that could not be made; never below 0. Documented in docs/applications.md.
GAP_POINTS: dict[str, int] = {"critical": 25, "high": 10, "medium": 4, "low": 1}
ERROR_POINTS = 5
MANAGED = pulumi_controls.MANAGED
CROSS_ACCOUNT = recovery.CROSS_ACCOUNT
AIR_GAPPED = recovery.AIR_GAPPED
RESTORE = objectives.RESTORE
RPO = rpo.CONTROL_ID
# rto.evidence of an application none of whose restores is known while one could not be
# checked (the reports then say "unknown", not "never restored")
UNKNOWN_RESTORE = "unknown: restore evidence could not be read"


def score(gaps: Mapping[str, int], errors: int) -> int:
    """0-100: 100 - sum(GAP_POINTS[severity] x gaps) - ERROR_POINTS x errors, at least 0."""
    lost = sum(GAP_POINTS.get(sev, 0) * n for sev, n in gaps.items()) + ERROR_POINTS * errors
    return max(0, 100 - lost)


def _isolation(rows: list[dict[str, Any]], pred: Any) -> bool | None:
    """False when a finding of the matching controls failed; else None when none judged it
    or one could not be checked (what was not read is never called isolated); else True."""
    mine = [f.get("status") for f in rows if pred(f)]
    if "fail" in mine:
        return False
    if "error" in mine or not any(s in ("pass", "waived") for s in mine):
        return None
    return True


def _rpo(rows: list[dict[str, Any]], target: float | None) -> dict[str, Any]:
    """The application's RPO row: its target; the oldest newest-recovery-point of its
    resources (None when one of them has none or could not be read: its age is not the
    best); how many resources have no recovery point at all, and how many could not be read
    or have recovery points of no known age."""
    ages: list[float] = []
    none: set[str] = set()
    unknown: set[str] = set()
    for f in rows:
        ev = f.get("evidence") or {}
        a = _num(ev.get("achievedRpoHours"))
        if a is not None:
            ages.append(a)
        elif f.get("control") == RPO:
            # a gap with recovery points, none of a known age, has some: its age is unknown
            found = _num(ev.get("recoveryPoints"))
            (none if f.get("status") in ("fail", "waived") and not found else unknown).add(
                str(f.get("resource")))
    return {"target_hours": target,
            "worst_achieved_hours": None if none or unknown or not ages else max(ages),
            "without_recovery_point": len(none), "unknown": len(unknown - none)}


def _num(v: Any) -> float | None:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None


def applications(findings: Iterable[dict[str, Any]],
                 tiers: Mapping[str, Mapping[str, Any]] | None = None,
                 config: Mapping[str, Mapping[str, Any]] | None = None
                 ) -> list[dict[str, Any]]:
    """One row per application the findings name, worst (lowest score) first."""
    tiers, config = tiers or {}, config or {}
    groups: dict[str, list[dict[str, Any]]] = {}
    for f in findings:
        if f.get("application"):
            groups.setdefault(f["application"], []).append(f)
    out = []
    for name, rows in groups.items():
        conf = config.get(name, {})
        tier = conf.get("tier") or next((f["tier"] for f in rows if f.get("tier")), None)
        owner = conf.get("owner") or next((f["owner"] for f in rows if f.get("owner")), None)
        objectives = tiers.get(tier or "", {})
        gaps = {sev: 0 for sev in GAP_POINTS}
        seen: set[tuple[str, str, str]] = set()
        errors = 0
        for f in rows:  # distinct (control, resource): merged or not, the same score
            key = (f.get("status", ""), f.get("control", ""), f.get("resource", ""))
            if key in seen:
                continue
            seen.add(key)
            if f.get("status") == "fail":
                gaps[f.get("severity") or "low"] = gaps.get(f.get("severity") or "low", 0) + 1
            elif f.get("status") == "error":
                errors += 1
        restores = [f for f in rows if f.get("control") == RESTORE]
        last = max(((f.get("evidence") or {}) for f in restores),
                   key=lambda e: str(e.get("restoredAt") or ""), default={})
        if not last.get("restoredAt") and any(f.get("status") == "error" for f in restores):
            # no restore known, and one could not be checked: unknown, never "never restored"
            last = {"restoreEvidence": UNKNOWN_RESTORE}
        out.append({
            "name": name, "tier": tier, "owner": owner,
            "resources": len({f.get("resource") for f in rows}),
            "gaps": gaps,
            "rpo": _rpo(rows, _num(objectives.get("targetRpoHours"))),
            "rto": {"target_minutes": _num(objectives.get("targetRtoMinutes")),
                    "last_restore_minutes": _num(last.get("restoreMinutes")),
                    "last_restore_at": last.get("restoredAt"),
                    "evidence": last.get("restoreEvidence")},
            "isolation": {
                "cross_region": _isolation(rows, lambda f: getattr(
                    BY_ID.get(f.get("control", "")), "exposure", None) == SINGLE_REGION),
                "cross_account": _isolation(rows, lambda f: f.get("control") == CROSS_ACCOUNT),
                "air_gapped": _isolation(rows, lambda f: f.get("control") == AIR_GAPPED)},
            "unmanaged": sum(1 for f in rows
                             if f.get("control") == MANAGED and f.get("status") == "fail"),
            "score": score(gaps, errors),
        })
    out.sort(key=lambda a: (a["score"], a["name"]))
    return out


def framework_rows(findings: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    return frameworks.summarize(findings, BY_ID)


def framework_counts(counts: Mapping[tuple[Any, ...], int]) -> list[dict[str, Any]]:
    """framework_rows from a report's counts ({(status, severity, control, ...): findings},
    reports._common.Tally), for a report that keeps no findings."""
    pairs: dict[tuple[str, Any], int] = {}
    for (status, _severity, control, *_rest), n in counts.items():
        pairs[(control, status)] = pairs.get((control, status), 0) + n
    return frameworks.summarize_counts(pairs, BY_ID)


# What `applications` reads of a finding (the rest of it need not be kept).
APP_KEYS: tuple[str, ...] = ("application", "tier", "owner", "status", "control", "resource",
                             "severity")
APP_EVIDENCE: tuple[str, ...] = ("achievedRpoHours", "recoveryPoints", "restoredAt",
                                 "restoreMinutes", "restoreEvidence")


def app_row(f: Mapping[str, Any]) -> dict[str, Any]:
    """The part of a finding's JSON `applications` reads (the same rows from it)."""
    row = {k: f[k] for k in APP_KEYS if k in f}
    ev = f.get("evidence")
    if ev:
        row["evidence"] = {k: ev[k] for k in APP_EVIDENCE if k in ev} \
            if isinstance(ev, Mapping) else ev
    return row


def worst_line(rows: list[dict[str, Any]], limit: int = 3) -> str | None:
    """`worst applications: shop/prod 40/100 (1 critical, 2 high gaps), ...` (None if none)."""
    if not rows:
        return None
    parts = []
    for a in rows[:limit]:
        gaps = ", ".join(f"{n} {sev}" for sev, n in a["gaps"].items() if n)
        parts.append(f"{shown(a['name'])} {a['score']}/100" + (f" ({gaps} gaps)" if gaps
                                                               else ""))
    more = f" (+{len(rows) - limit} more)" if len(rows) > limit else ""
    return "worst applications: " + "; ".join(parts) + more
