"""IAM: access keys of users and of the root user."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from drguard.facts import UNKNOWN, AccessKey

from ..aws import Account, paginate
from . import Errors, ReadError, guarded


@dataclass
class IamRead:
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
