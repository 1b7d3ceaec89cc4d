"""Organization mode: the accounts to scan and a session in each (role assumed per account).
The organization view is read by `auditor.services.organizations`, which judges SCP coverage
on it."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterable
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from drguard.errors import ConfigError
from drguard.records import record

from . import aws
from .collectors import ReadError
from .live import Target
from .services import organizations as orgs

log = logging.getLogger(__name__)

# What --org sends from the account the scan runs in, beside the scan's own calls: the
# organization's accounts and OU tree (read_org), then the role it assumes in each account.
CALLS = ("organizations:ListAccounts", "organizations:ListRoots",
         "organizations:ListOrganizationalUnitsForParent", "organizations:ListAccountsForParent",
         aws.ASSUME_ROLE)

Mapper = Callable[[Callable[..., Any], Iterable[tuple[Any, ...]]], list[Any]]


@record(frozen=True)
class Shard:
    """`--shard I/N`: the I-th of N stable, disjoint subsets of the organization's accounts.

    An account belongs to shard 1 + (first 8 bytes of sha256(account id)) mod N, so the split
    depends on nothing but the account id: the same account lands in the same shard on every
    machine and every night, and adding accounts does not move the others.
    """

    index: int
    count: int

    @classmethod
    def parse(cls, value: str) -> Shard:
        try:
            i, n = (int(part) for part in value.split("/"))
        except ValueError:
            raise ConfigError(f"--shard {value!r}: expected I/N, e.g. 2/4") from None
        if not 1 <= i <= n:
            raise ConfigError(f"--shard {value!r}: I must be between 1 and N")
        return cls(i, n)

    def holds(self, account_id: str) -> bool:
        digest = hashlib.sha256(account_id.encode()).digest()
        return int.from_bytes(digest[:8], "big") % self.count == self.index - 1

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def role_arn(account_id: str, role_name: str) -> str:
    if role_name.startswith("arn:"):
        return role_name.replace("{account}", account_id)
    return f"arn:aws:iam::{account_id}:role/{role_name.strip('/')}"


def open_account(base: aws.Account, account_id: str, name: str | None, role_name: str,
                 external_id: str | None) -> Target:
    """The base account itself, or the role assumed in `account_id` (an error Target if that
    fails: role missing, AccessDenied, ...)."""
    if account_id == base.id:
        return Target(account_id, name, base)
    arn = role_arn(account_id, role_name)
    try:
        session = aws.assume_role(base.session, arn, base.options, external_id)
    except (ClientError, BotoCoreError) as e:
        err = ReadError.of(f"sts:AssumeRole {arn}", e)
        log.warning("account %s: %s", account_id, err)
        return Target(account_id, name, error=err)
    return Target(account_id, name, aws.Account(session, account_id, base.options, base.pool))


def read_org(base: aws.Account) -> orgs.OrgView:
    """The organization (accounts and OU tree) for --org; ConfigError if it cannot be read."""
    try:
        return orgs.read(base, policies=False)
    except (ClientError, BotoCoreError) as e:
        raise ConfigError(f"--org: cannot list the organization's accounts from account "
                          f"{base.id}: {ReadError.of('organizations', e)}") from None


def open_accounts(base: aws.Account, view: orgs.OrgView, role_name: str,
                  external_id: str | None, mapper: Mapper,
                  shard: Shard | None = None) -> list[Target]:
    accounts = [a for a in view.active_accounts() if shard is None or shard.holds(a["Id"])]
    return mapper(open_account, [(base, a["Id"], a.get("Name"), role_name, external_id)
                                 for a in accounts])
