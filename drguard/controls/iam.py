"""IAM: access keys are rotated, the root user has none."""

from __future__ import annotations

import json
import shlex
from typing import Any

from ..control import HYGIENE, ConfigMapping, Control, days
from ..detections import IAM, Context, Params, Record, get_in, iam_root, on
from ..facts import Resource
from ..records import record
from ..verdict import Remediation, Verdict


@record
class AccessKey(Resource):
    """An IAM access key: its user, whether it is active, and its age."""

    user: Any = None
    active: Any = None
    age_days: Any = None
    root: bool = False


# ---- remediation ---------------------------------------------------------------------------

def fix_key(k: AccessKey, max_age: int, in_stack: bool = False) -> Remediation:
    user = str(k.user)
    if in_stack:
        return Remediation(
            f"Replace access key {k.name} of {user} with an IAM role its workload assumes; if a "
            f"key is unavoidable, rotate it within {max_age} days.",
            f"aws.iam.Role(\"{user}-role\", assume_role_policy=trust_policy)  # instead of\n"
            f"# aws.iam.AccessKey({json.dumps(str(k.name))}, user={json.dumps(user)})",
            None)
    return Remediation(
        f"Rotate access key {k.name} of {user}: create a new key, move its users to it, then "
        "deactivate and delete the old one (or replace it with a role).",
        f"aws.iam.AccessKey(\"{user}-key-v2\", user={json.dumps(user)})  # then remove the old "
        "key's resource",
        f"aws iam create-access-key --user-name {shlex.quote(user)} && \\\n"
        f"aws iam update-access-key --user-name {shlex.quote(user)} --access-key-id "
        f"{shlex.quote(str(k.name))} --status Inactive && \\\n"
        f"aws iam delete-access-key --user-name {shlex.quote(user)} --access-key-id "
        f"{shlex.quote(str(k.name))}")


# ---- rules --------------------------------------------------------------------------------

def access_key(k: AccessKey, params: dict[str, Any]) -> Verdict | None:
    max_age = params["maxKeyAgeDays"]
    ev = {"user": k.user, "active": k.active, "ageDays": k.age_days, "maxKeyAgeDays": max_age}
    if k.root:
        return Verdict("fail", "The root user has an access key.", ev, Remediation(
            "Delete the root user's access key (signed in as root: Security credentials); use "
            "IAM roles instead.",
            "# Root access keys are not Pulumi resources: delete the key as root, and give\n"
            "# automation an aws.iam.Role to assume instead.",
            "aws iam delete-access-key --access-key-id "
            f"{shlex.quote(str(k.name))}  # with the root user's own credentials"))
    if k.active is False:
        return None
    if k.age_days is None:
        # Deploy side: a long-lived key declared in a stack (advisory by design).
        return Verdict("fail", f"Access key {k.name!r} for user {k.user!r} is a long-lived "
                               "credential in the stack.", ev, fix_key(k, max_age, in_stack=True))
    if k.age_days > max_age:
        return Verdict("fail", f"Access key {k.name!r} of {k.user!r} is {k.age_days} days old "
                               f"(max {max_age}).", ev, fix_key(k, max_age))
    return Verdict.ok(f"Access key {k.name!r} is {k.age_days} days old.", **ev)


# ---- logs side: predicates on CloudTrail records ------------------------------------------


def root_access_key(rp: Record, record: Record, params: Params, ctx: Context) -> bool:
    return get_in(record, "userIdentity", "type") == "Root" and not rp.get("userName")


CONTROLS: tuple[Control, ...] = (
    Control(
        id="iam-access-key-rotation",
        gap=("Access key {ageDays|day} old; max {maxKeyAgeDays}", "Long-lived access key"),
        why="A long-lived access key is the usual way credentials that can destroy backups leak.",
        console=(
            "IAM console: Users, select the user, Security credentials.",
            "Create a new access key, move its users to it (or to an IAM role), then Deactivate "
            "and Delete the old key.",
        ),
        title="Access keys are rotated",
        severity="medium",
        exposure=HYGIENE,
        tier=2,
        description="No active access key is older than maxKeyAgeDays; the root user has no "
                    "access keys. Long-lived keys in a stack are discouraged.",
        remediation="Rotate or delete old keys; prefer IAM roles over aws.iam.AccessKey.",
        params=(days("maxKeyAgeDays", 90, "Maximum age of an active access key, in days."),),
        mapping=ConfigMapping(("ACCESS_KEYS_ROTATED",), ("IAM.3", "IAM.4")),
        detections=(
            on(IAM, "CreateAccessKey", when=root_access_key, resource=iam_root,
               links_by="account",
               message="{principal} created an access key for the root user ({event}): a "
                       "long-lived key with unlimited rights."),
        ),
    ),
)
