"""AWS KMS: the keys that encrypt recovery data stay usable (backup-kms-key-usable).

A key scheduled for deletion or disabled makes every database, table, file system, vault,
snapshot and backup object it encrypts unreadable: deleting the key destroys those backups
as surely as deleting them. A key is judged only when something that holds recovery data is
encrypted with it (`Key.encrypts`); the rule is the same on every side.
"""

from __future__ import annotations

import shlex
from dataclasses import field
from typing import Any

from ..control import DESTROYABLE, ConfigMapping, Control
from ..detections import get_in, named_arn, on, request_parameters
from ..facts import UNKNOWN, Resource
from ..records import record
from ..verdict import Remediation, Verdict, show

KMS = "kms.amazonaws.com"
KEY_USABLE = "backup-kms-key-usable"

# KeyState values that leave the key able to decrypt (DescribeKey); anything else is a gap.
USABLE_STATES = frozenset({"Enabled"})


@record
class Key(Resource):
    """A KMS key (deploy: `aws:kms/key:Key`, `aws:kms/replicaKey:ReplicaKey`; live: DescribeKey)
    and the recovery data it encrypts."""

    # KeyState: "Enabled" | "Disabled" | "PendingDeletion" | "PendingReplicaDeletion" |
    # "Unavailable" | ... | UNKNOWN (preview, or DescribeKey refused)
    key_state: Any = None
    deletion_date: Any = None  # when a PendingDeletion key goes (live), else None
    # what it encrypts: labels such as "DB instance 'orders'" (the evidence names them)
    encrypts: list[str] = field(default_factory=list)


# ---- remediation ------------------------------------------------------------------------------

def _key_id(k: Key) -> str:
    ref = k.ref if isinstance(k.ref, str) and k.ref.startswith("arn:") else None
    return ref or (k.name if isinstance(k.name, str) else "KEY_ID")


def fix_key(k: Key) -> Remediation:
    key = shlex.quote(_key_id(k))
    pending = k.key_state in ("PendingDeletion", "PendingReplicaDeletion")
    cli = (f"aws kms cancel-key-deletion --key-id {key} && \\\naws kms enable-key --key-id {key}"
           if pending else f"aws kms enable-key --key-id {key}")
    return Remediation(
        ("Cancel the scheduled deletion of the key and enable it again: " if pending else
         "Enable the key again: ") + "every backup it encrypts is unreadable while it is not "
        "Enabled, and lost for good once it is deleted.",
        'key = aws.kms.Key("backups", description="encrypts recovery data",\n'
        '                  is_enabled=True, deletion_window_in_days=30,\n'
        '                  opts=pulumi.ResourceOptions(protect=True))',
        cli)


# ---- rules ------------------------------------------------------------------------------------

def key_usable(k: Key) -> Verdict | None:
    """Enabled, when it encrypts recovery data; None when nothing judged uses it."""
    if not k.encrypts:
        return None
    uses = ", ".join(k.encrypts[:5]) + (f" and {len(k.encrypts) - 5} more"
                                        if len(k.encrypts) > 5 else "")
    ev = {"keyId": _key_id(k), "keyState": k.key_state, "deletionDate": k.deletion_date,
          "encrypts": list(k.encrypts)}
    label = f"KMS key {k.name}"
    prop = k.prop("key_state", "KeyState")
    if k.key_state is UNKNOWN:
        return Verdict.unknown(f"Whether {label} (encrypting {uses}) is enabled", **ev)
    if k.key_state in USABLE_STATES:
        return Verdict.ok(f"{label} is Enabled; it encrypts {uses}.", **ev)
    if k.key_state in ("PendingDeletion", "PendingReplicaDeletion"):
        when = f" on {k.deletion_date}" if k.deletion_date else ""
        what = f"is scheduled for deletion{when} ({prop} {k.key_state})"
    elif k.key_state == "NotFound":
        what = "no longer exists (DescribeKey answers NotFoundException: it was deleted)"
    elif k.key_state == "Disabled":
        what = ("is disabled (" + (f"{prop} is false" if prop != "KeyState" else
                                   f"{prop} {show(k.key_state)}") + ")")
    else:
        what = f"cannot be used ({prop} {show(k.key_state)})"
    v = Verdict.fail(f"{label} {what}: it encrypts {uses}, whose backups cannot be read while "
                     "it is not Enabled and are lost when it is deleted.", **ev)
    v.remediation = fix_key(k)
    return v


# ---- logs side --------------------------------------------------------------------------------

def kms_key(record: dict[str, Any]) -> str:
    """The key an event acted on: the ARN KMS answers with, else the requested key id/ARN
    (an alias names the alias)."""
    arn = get_in(record, "responseElements", "keyId")
    if isinstance(arn, str) and arn.startswith("arn:"):
        return arn
    key = request_parameters(record).get("keyId")
    if isinstance(key, str) and key.startswith("alias/"):
        return named_arn(record, "kms", "alias", key.removeprefix("alias/"), "/")
    return named_arn(record, "kms", "key", key, "/")


FIX = fix_key(Key(ref="arn:aws:kms:REGION:ACCOUNT_ID:key/KEY_ID", name="KEY_ID",
                  key_state="PendingDeletion"))

CONTROLS: tuple[Control, ...] = (
    Control(
        id=KEY_USABLE,
        gap=("Backup key {keyState}; needs Enabled", "Backup key not usable"),
        why=("A backup encrypted with a key that is deleted can never be decrypted again: "
             "scheduling the deletion of that one key destroys every copy it protects, in "
             "every region and vault, without touching the backups themselves."),
        console=(
            "KMS console: Customer managed keys, select the key.",
            "Pending deletion: Key actions, Cancel key deletion.",
            "Disabled: Key actions, Enable.",
        ),
        cannot_remediate=("cancelling a key's deletion or enabling it is an operation on the "
                          "live key; the pack can only report it."),
        title="KMS keys that encrypt recovery data are usable",
        severity="critical",
        exposure=DESTROYABLE,
        tier=1,
        description="Every KMS key that encrypts recovery data (database storage and "
                    "snapshots, DynamoDB tables, EFS file systems, backup vaults, SSE-KMS of "
                    "backup buckets and the state bucket, copy destinations: copy vaults and "
                    "the replicas of backup buckets) is Enabled, not "
                    "PendingDeletion or Disabled: deleting the key destroys every backup it "
                    "encrypts.",
        remediation="Cancel the key's scheduled deletion (aws kms cancel-key-deletion) and "
                    "enable it (isEnabled = true on aws.kms.Key); protect the key resource.",
        mapping=ConfigMapping(("KMS_CMK_NOT_SCHEDULED_FOR_DELETION",), ("KMS.3",)),
        # From the logs alone no one can tell which key encrypts backups, so any key counts:
        # the ransomware pattern is exactly a key nobody thought of. CancelKeyDeletion is not
        # a detection (it undoes one).
        detections=(
            on(KMS, "ScheduleKeyDeletion", resource=kms_key,
               message="{principal} scheduled the KMS key {name} for deletion in "
                       "{rp[pendingWindowInDays]} days ({event}; unset: 30): every backup it "
                       "encrypts is lost when the key goes."),
            on(KMS, "DisableKey", resource=kms_key,
               message="{principal} disabled the KMS key {name} ({event}): what it encrypts, "
                       "backups included, cannot be read or restored until it is enabled."),
        ),
        fix=FIX,
    ),
)
