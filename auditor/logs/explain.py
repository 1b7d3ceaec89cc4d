"""Link live failures to the CloudTrail event that explains them (`dr-audit scan --logs`)."""

from __future__ import annotations

from collections.abc import Iterable

from drguard.detections import short_name
from drguard.findings import Finding

from .detect import Hit


def explain(findings: list[Finding], events: Iterable[Hit]) -> None:
    """Set `finding.event` on each `fail` finding to the most recent change that explains it.

    A hit explains a finding when both name the same control and, in this order:
    - the same resource (same ARN, or same account and same resource name), or
    - the same account, for detections of account-wide settings (`links_by="account"`:
      trails, SCPs, alert rules, root keys); the event then also names its `resource`.
    Only changes count (hit status `fail`), never failed attempts. Findings without such an
    event are left as they are; `events` is any iterable of hits (e.g. from `collect`).
    """
    by_arn: dict[tuple[str, str], Hit] = {}
    by_name: dict[tuple[str, str, str], Hit] = {}
    by_account: dict[tuple[str, str], Hit] = {}

    def keep(table: dict, key: tuple, hit: Hit) -> None:
        if key not in table or table[key].time <= hit.time:
            table[key] = hit

    for h in events:
        if h.status != "fail":
            continue
        keep(by_arn, (h.control, h.resource), h)
        keep(by_name, (h.control, h.account, short_name(h.resource)), h)
        if h.detection.links_by == "account":
            keep(by_account, (h.control, h.account), h)
    for f in findings:
        if f.status != "fail":
            continue
        hit = (by_arn.get((f.control, f.resource))
               or by_name.get((f.control, f.account or "", short_name(f.resource))))
        if hit is None:
            hit = by_account.get((f.control, f.account or ""))
            if hit is not None:
                f.event = {**hit.event, "resource": hit.resource}
            continue
        f.event = dict(hit.event)
