"""Turn rule verdicts into findings, applying waivers (auditor side: live, state, logs)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import TYPE_CHECKING, Any

from . import applications as apps_mod
from . import waivers as waivers_mod
from .controls.objectives import RTO_TAG
from .controls.rpo import RecoveryPoints
from .findings import Finding
from .settings import Settings
from .verdict import Remediation

if TYPE_CHECKING:
    from .facts import Resource
    from .verdict import Verdict

# a verdict's status -> its finding's
STATUS = {"pass": "pass", "fail": "fail", "unknown": "error", "error": "error"}


def finding(control_id: str, fact: Resource, verdict: Verdict, source: str,
            settings: Settings, today: dt.date | None = None,
            also: str | None = None) -> Finding:
    """A finding for `fact`; a fail covered by an unexpired waiver becomes `waived`. A
    waiver's `resource` glob is matched with the fact's ref (ARN, or URN) and name, and with
    `also` when given (a stack export's resource: its ARN, beside the URN)."""
    f = Finding(control=control_id, status=STATUS[verdict.status], source=source,  # type: ignore[arg-type]
                resource=fact.ref, message=verdict.message, account=fact.account,
                region=fact.region, evidence={**fact.evidence, **verdict.evidence},
                remediation=remediation_dict(getattr(verdict, "remediation", None)))
    apps = getattr(settings, "apps", None) or apps_mod.Apps()
    f.tag_owner, f.tag_tier = apps_mod.from_tags(f, fact.tags, apps)
    rto = fact.tags.get(RTO_TAG) if isinstance(fact.tags, dict) else None
    f.rto_tag = rto if isinstance(rto, str) and rto else None
    if isinstance(fact, RecoveryPoints):  # judged again once a checkpoint names its tier
        f.fact = fact
    if f.status == "fail":
        apply_waiver(f, settings, refs=[fact.ref, fact.name, also], tags=fact.tags,
                     today=today)
    elif settings.waivers:  # a pass: judged; an error: its waivers cannot be told stale
        use = settings.waiver_use
        (use.judged if f.status == "pass" else use.errored).add(control_id)
    return f


def remediation_dict(r: Any) -> dict[str, Any] | None:
    """A verdict's Remediation (summary, pulumi, cli) as the finding's JSON field."""
    if r is None:
        return None
    if type(r) is Remediation:  # the common case: its three string fields, no deep copy
        return {"summary": r.summary or "", "pulumi": r.pulumi or None, "cli": r.cli or None}
    d = dataclasses.asdict(r) if dataclasses.is_dataclass(r) and not isinstance(r, type) \
        else dict(r)
    return {"summary": d.get("summary") or "", "pulumi": d.get("pulumi") or None,
            "cli": d.get("cli") or None}


def apply_waiver(f: Finding, settings: Settings, refs: list[str | None],
                 tags: dict[str, str] | None, today: dt.date | None = None) -> None:
    if not settings.waivers:  # the common case: nothing to match (find would say None)
        return
    use = settings.waiver_use
    use.judged.add(f.control)
    match = waivers_mod.find(settings.waivers, f.control, refs, tags, today)
    if match is None:
        return
    use.record(match)  # counted here, where it applies: the run's end names the unused ones
    f.waiver = {**match.waiver.to_dict(), "expired": match.expired}
    if match.expired:
        f.message += match.expiry_note()
    else:
        f.status = "waived"
