"""EventBridge: rules on the default bus and their targets (deletion alerts)."""

from __future__ import annotations

from typing import Any

from ..aws import Account, paginate


def rules(account: Account, region: str) -> list[dict[str, Any]]:
    """Rules with an event pattern on the default bus; raises on AWS errors."""
    events = account.client("events", region)
    return [r for r in paginate(events, "list_rules", "Rules") if r.get("EventPattern")]


def targets(account: Account, region: str, rule: str) -> list[dict[str, Any]]:
    """Targets of one rule; raises on AWS errors."""
    events = account.client("events", region)
    return [{"id": t.get("Id"), "arn": t.get("Arn")}
            for t in paginate(events, "list_targets_by_rule", "Targets", Rule=rule)]
