"""IAM: access keys of users and of the root user (iam-access-key-rotation)."""

from __future__ import annotations

import datetime as dt
from dataclasses import field
from typing import Any

from drguard.controls import iam as ctl
from drguard.controls.iam import AccessKey
from drguard.facts import UNKNOWN, Resource
from drguard.records import record
from drguard.verdict import Verdict

from ..aws import Account, paginate
from ..collectors import Errors, ReadError, guarded
from ..live import AccountScan, Live, LiveService, ScanContext, Step


@record
class IamRead:
    """The account's access keys and root keys, and what could not be read."""

    keys: list[AccessKey] = field(default_factory=list)
    root_keys: Any = UNKNOWN  # AccountAccessKeysPresent, or UNKNOWN
    errors: Errors = field(default_factory=dict)
    # user ARN -> error listing that user's keys
    user_errors: dict[str, ReadError] = field(default_factory=dict)


def _key(k: dict[str, Any], user: dict[str, Any], account: str, now: dt.datetime) -> AccessKey:
    created = k.get("CreateDate")
    age = (now - created).days if isinstance(created, dt.datetime) else None
    key_id = k["AccessKeyId"]
    return AccessKey(ref=f"{user['Arn']}/access-key/{key_id}", name=key_id,
                     type="AWS::IAM::AccessKey", account=account, user=user["UserName"],
                     active=k.get("Status") == "Active", age_days=age,
                     evidence={"createDate": created.isoformat() if created else None,
                               "status": k.get("Status")})


def collect(account: Account, now: dt.datetime) -> IamRead:
    iam = account.client("iam")
    out = IamRead()
    users = guarded(out.errors, "users", "iam:ListUsers",
                    lambda: list(paginate(iam, "list_users", "Users")))
    for user in users if users is not UNKNOWN else ():
        errs: Errors = {}
        keys = guarded(errs, "keys", "iam:ListAccessKeys", lambda u=user: list(
            paginate(iam, "list_access_keys", "AccessKeyMetadata", UserName=u["UserName"])))
        if keys is UNKNOWN:
            out.user_errors[user["Arn"]] = errs["keys"]
            continue
        out.keys += [_key(k, user, account.id, now) for k in keys]
    summary = guarded(out.errors, "summary", "iam:GetAccountSummary",
                      lambda: iam.get_account_summary()["SummaryMap"])
    out.root_keys = UNKNOWN if summary is UNKNOWN else int(
        summary.get("AccountAccessKeysPresent", 0))
    return out


# ---- live binding ----------------------------------------------------------------------------

ROTATION = "iam-access-key-rotation"


def _collect(scanner: ScanContext, acct: Account, _a: AccountScan) -> IamRead:
    return collect(acct, scanner.now)


def _evaluate(scanner: ScanContext, a: AccountScan) -> None:
    params = scanner.settings.of(ROTATION)
    root_ref = f"arn:aws:iam::{a.id}:root"
    iam: IamRead | None = a.data.get("iam")
    if iam is None:
        err = a.errors.get("iam")
        scanner.error(ROTATION, root_ref, f"IAM of {a.id}", a.id, None,
                      f"IAM of account {a.id} could not be read: {err}.", [err])
        return
    if "users" in iam.errors:
        err = iam.errors["users"]
        scanner.error(ROTATION, f"arn:aws:iam::{a.id}:user/*", f"IAM users of {a.id}", a.id,
                      None, f"The IAM users of account {a.id} could not be listed: {err}.",
                      [err])
    for user_arn, err in iam.user_errors.items():
        scanner.error(ROTATION, f"{user_arn}/access-key/*", user_arn.split("/")[-1], a.id, None,
                      f"The access keys of {user_arn} could not be listed: {err}.", [err])
    for k in iam.keys:
        scanner.add(ROTATION, k, ctl.access_key(k, params))
    root = Resource(ref=root_ref, name="root user", account=a.id, type="AWS::IAM::Root")
    present = iam.root_keys
    if present is UNKNOWN:
        err = iam.errors.get("summary")
        scanner.add(ROTATION, root,
                    Verdict("error", f"Whether the root user of {a.id} has access keys "
                            f"could not be read: {err}.", {}), [err] if err else [])
    elif present:
        root_key = AccessKey(ref=root_ref, name="root access key", account=a.id, root=True,
                             user="root", active=True)
        scanner.add(ROTATION, root_key, ctl.access_key(root_key, params))
    else:
        scanner.add(ROTATION, root, Verdict.ok("The root user has no access keys.",
                                               AccountAccessKeysPresent=0))


SERVICE = LiveService(
    calls=("iam:GetAccountSummary", "iam:ListUsers", "iam:ListAccessKeys"),
    global_steps=(Step("iam", "iam", _collect),),
    live=(Live((ROTATION,), _evaluate),),
)
