"""`dr-audit plan`: deleting a KMS key that encrypts recovery data destroys that data.

A key is not stateful itself, so `stateful-resource-protect` does not see it; yet once KMS
deletes it (after its pending window) every database, table, vault, snapshot and backup object
encrypted with it is unreadable. A delete or replacement of an `aws:kms/key:Key` or
`aws:kms/replicaKey:ReplicaKey` is `plan-destroys-data` when, on the stack as it is today,
a resource holding recovery data references the key (the pack's own link,
`policypack.services.kms`), and also when who uses the key cannot be determined from the
document: unchanged resources left out (`--show-sames` missing), an unreadable step, or a key
reference still unknown. A key nothing in the complete stack uses passes, with a note that
other stacks may still use it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from typing import Any

from drguard.controls.plan import DESTROYS_DATA
from drguard.evaluate import apply_waiver
from drguard.findings import Finding, Status
from drguard.settings import Settings

KEY_TYPES = frozenset({"aws:kms/key:Key", "aws:kms/replicaKey:ReplicaKey",
                       "aws-native:kms:Key", "aws-native:kms:ReplicaKey"})
DEFAULT_WINDOW = 30  # days KMS waits before deleting a key (deletionWindowInDays unset)


def key_findings(steps_by_urn: Mapping[str, list[Any]], old_states: Mapping[str, Any],
                 old_model: Callable[[], Any], incomplete: list[str], destroying: Mapping[str, str],
                 severity: str, settings: Settings, today: dt.date | None) -> list[Finding]:
    """A finding per KMS key the plan deletes or replaces. `old_model()` builds the stack
    model of the state before the update; `incomplete` says why users may be missing."""
    from policypack.services.kms import UNLINKED

    gone = {urn: steps for urn, steps in steps_by_urn.items()
            if steps[0].type in KEY_TYPES and any(s.op in destroying for s in steps)}
    if not gone:
        return []
    model = old_model()
    why_unknown = list(incomplete)
    if model.unlinked.get(UNLINKED):
        why_unknown.append(f"{model.unlinked[UNLINKED]} resource(s) holding recovery data name "
                           "a key whose value is not known in this document")
    out = []
    for urn, steps in gone.items():
        state = old_states.get(urn) or next(s.old or s.new for s in steps)
        key = model.by_urn.get(urn)
        encrypts = list(getattr(key, "encrypts", None) or [])
        op = "replace" if any(destroying.get(s.op) == "replace" for s in steps) else "delete"
        window = state.props.get("deletionWindowInDays")
        window = int(window) if isinstance(window, (int, float)) and not isinstance(
            window, bool) and window >= 1 else DEFAULT_WINDOW
        name = urn.rsplit("::", 1)[-1]
        saves = [f"KMS waits {window} days before deleting the key: `aws kms "
                 "cancel-key-deletion` within that window keeps it"]
        if state.protect:
            saves.insert(0, "`protect` is set: the engine refuses to delete it")
        if state.retain_on_delete:
            saves.insert(0, "`retainOnDelete` is set: Pulumi forgets the key but leaves it "
                            "in the account")
        ev: dict[str, Any] = {"operation": op, "type": state.type, "name": name,
                              "encrypts": encrypts, "deletionWindowInDays": window,
                              "wouldSaveData": saves, "protect": state.protect,
                              "retainOnDelete": state.retain_on_delete}
        arn = state.props.get("arn")
        if isinstance(arn, str) and arn.startswith("arn:"):
            ev["arn"] = arn
        verb = "replaces" if op == "replace" else "deletes"
        if encrypts:
            status: Status = "fail"
            head = (f"This plan {verb} KMS key {name!r}, which encrypts "
                    f"{', '.join(encrypts)}: once KMS deletes it, that data and every backup "
                    "encrypted with it can no longer be read")
        elif why_unknown:
            status = "fail"
            ev["usersUnknownBecause"] = why_unknown
            head = (f"This plan {verb} KMS key {name!r}, and what it encrypts cannot be "
                    f"determined from this document ({'; '.join(why_unknown)}): a key that "
                    "encrypts backups destroys them when it is deleted")
        else:
            status = "pass"
            head = (f"This plan {verb} KMS key {name!r}; no resource of this stack that holds "
                    "recovery data uses it (other stacks or accounts may: check its grants "
                    "and recent Decrypt events before the window ends)")
        message = head + ". What would save the data: " + "; ".join(saves) + "."
        f = Finding(control=DESTROYS_DATA, status=status, source="deploy", resource=urn,
                    message=message, account=None, region=None, evidence=ev, severity=severity)
        if status == "fail":
            f.remediation = {
                "summary": f"Keep KMS key {name!r}: revert the change that {verb} it, or "
                           "re-encrypt what it encrypts with another key first.",
                "pulumi": "opts=pulumi.ResourceOptions(protect=True)  # on the aws.kms.Key",
                "cli": "aws kms cancel-key-deletion --key-id KEY_ID  # within the window"}
            apply_waiver(f, settings, refs=[urn, name], tags={}, today=today)
        out.append(f)
    return out
