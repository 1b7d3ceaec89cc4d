"""Organizations: accounts, the OU tree and the service control policies with their targets."""

from __future__ import annotations

import json
from dataclasses import field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from drguard.controls import organizations as ctl
from drguard.controls.organizations import Scp, fix_scp
from drguard.facts import Resource
from drguard.records import record
from drguard.verdict import Remediation, Verdict

from ..aws import Account, paginate
from ..collectors import ReadError, error_code, root_arn
from ..live import Live, LiveService, ScanContext, base_region

SCP_TYPE = "SERVICE_CONTROL_POLICY"


@record
class OrgView:
    """An AWS Organization as read: its accounts and the tree of OUs above them."""

    id: str
    management_account: str
    accounts: list[dict[str, Any]] = field(default_factory=list)  # Id, Name, Status/State, Arn
    parents: dict[str, str] = field(default_factory=dict)  # account or OU id -> parent id
    names: dict[str, str] = field(default_factory=dict)  # root/OU id -> name
    scp_enabled: bool = False  # SCP policy type enabled on the root
    scps: list[Scp] = field(default_factory=list)

    def active_accounts(self) -> list[dict[str, Any]]:
        return [a for a in self.accounts
                if (a.get("State") or a.get("Status") or "ACTIVE") == "ACTIVE"]

    def path(self, account_id: str) -> list[str]:
        """The account, then its OUs up to the root: the targets whose SCPs apply to it."""
        out = [account_id]
        while out[-1] in self.parents and len(out) < 10:
            out.append(self.parents[out[-1]])
        return out

    def label(self, target: str) -> str:
        name = self.names.get(target)
        return f"{target} ({name})" if name else target


def describe(account: Account) -> dict[str, Any]:
    """DescribeOrganization; raises (AWSOrganizationsNotInUseException, AccessDenied...)."""
    return account.client("organizations").describe_organization()["Organization"]


def read(account: Account, policies: bool = True) -> OrgView:
    """The whole organization as the management account sees it; raises on AWS errors."""
    org = account.client("organizations")
    info = describe(account)
    view = OrgView(info["Id"], info["MasterAccountId"])
    view.accounts = list(paginate(org, "list_accounts", "Accounts"))
    queue = []
    for root in paginate(org, "list_roots", "Roots"):
        view.names[root["Id"]] = root.get("Name", "Root")
        view.scp_enabled |= any(t.get("Type") == SCP_TYPE and t.get("Status") == "ENABLED"
                                for t in root.get("PolicyTypes") or ())
        queue.append(root["Id"])
    while queue:
        parent = queue.pop()
        for ou in paginate(org, "list_organizational_units_for_parent",
                           "OrganizationalUnits", ParentId=parent):
            view.parents[ou["Id"]] = parent
            view.names[ou["Id"]] = ou.get("Name", "")
            queue.append(ou["Id"])
        for acct in paginate(org, "list_accounts_for_parent", "Accounts", ParentId=parent):
            view.parents[acct["Id"]] = parent
    if policies:
        view.scps = scps(account)
    return view


def scps(account: Account) -> list[Scp]:
    org = account.client("organizations")
    out = []
    for p in paginate(org, "list_policies", "Policies", Filter=SCP_TYPE):
        content = org.describe_policy(PolicyId=p["Id"])["Policy"].get("Content", "")
        targets = [t["TargetId"] for t in
                   paginate(org, "list_targets_for_policy", "Targets", PolicyId=p["Id"])]
        try:
            document: Any = json.loads(content)
        except json.JSONDecodeError as e:
            document = None
            evidence = {"parseError": str(e)}
        else:
            evidence = {}
        out.append(Scp(ref=p["Arn"], name=p.get("Name", p["Id"]), type=SCP_TYPE,
                       document=document, targets=targets, arn=p["Arn"],
                       evidence={"id": p["Id"], "awsManaged": p.get("AwsManaged"), **evidence}))
    return out


@record
class OrgState:
    """What SCP coverage can be judged on: the org view, or why not (fail or error)."""

    view: OrgView | None = None
    not_in_org: bool = False
    error: str | None = None
    read_errors: list[ReadError] | None = None


def scp_state(base: Account, view: OrgView | None) -> OrgState:
    """The organization with its SCPs, as far as `base` can read it."""
    if view is None:
        try:
            info = describe(base)
        except (ClientError, BotoCoreError) as e:
            if error_code(e) == "AWSOrganizationsNotInUseException":
                return OrgState(not_in_org=True)
            err = ReadError.of("organizations:DescribeOrganization", e)
            return OrgState(error=f"Organizations could not be read: {err}", read_errors=[err])
        if info.get("MasterAccountId") != base.id:
            return OrgState(error=f"Organizations could not be read: account {base.id} is a "
                                  f"member of {info.get('Id')}, and SCPs are only visible from "
                                  f"the management account {info.get('MasterAccountId')} "
                                  "(scan with --org from it)")
        try:
            view = read(base, policies=False)
        except (ClientError, BotoCoreError) as e:
            err = ReadError.of("organizations", e)
            return OrgState(error=f"Organizations could not be read: {err}", read_errors=[err])
    try:
        view.scps = scps(base)
    except (ClientError, BotoCoreError) as e:
        err = ReadError.of("organizations:ListPolicies", e)
        return OrgState(view=view, error=f"The SCPs could not be read: {err}", read_errors=[err])
    return OrgState(view=view)


# ---- live binding ----------------------------------------------------------------------------

SCP_DENY = "scp-deny-backup-deletion"


def _evaluate(scanner: ScanContext) -> None:
    """Once per run, from the organization's view: every member account's SCP coverage."""
    assert scanner.base is not None
    st = scp_state(scanner.base, scanner.org_view)
    params = scanner.settings.of(SCP_DENY)
    if st.view is None or st.error:
        for a in scanner.accounts:
            # SCPs are read from the management account: one that could not be opened is
            # judged too (it is `error` below when they could not be read)
            if a.target.error is None or not st.not_in_org:
                if st.not_in_org:
                    fact = Resource(ref=root_arn(a.id, base_region(scanner)),
                                    name=f"account {a.id}", account=a.id)
                    fix = fix_scp(a.id, params["requiredDenyActions"])
                    scanner.add(SCP_DENY, fact, Verdict(
                        "fail", f"Account {a.id} is not in an AWS Organization, so no SCP can "
                        "stop anyone in it from destroying backups.", {"organization": None},
                        Remediation("Bring the account into an AWS Organization, then "
                                    + fix.summary[0].lower() + fix.summary[1:],
                                    fix.pulumi, None)))  # no root to attach to yet
                else:
                    scanner.error(SCP_DENY, root_arn(a.id, base_region(scanner)),
                                  f"account {a.id}",
                                  a.id, None, f"{st.error}.", st.read_errors or [])
        if scanner.org_view is None and st.read_errors:
            # scanning one account: the other accounts of its organization are judged from
            # here too, and which they are is unknown
            scanner.error(SCP_DENY, "arn:aws:iam::*:root", "the organization's accounts",
                          scanner.base.id, None, f"{st.error}.", st.read_errors or [])
        return
    view = st.view
    for acct in sorted(view.active_accounts(), key=lambda x: x["Id"]):
        if acct["Id"] == view.management_account:
            continue  # SCPs never restrict the management account
        if not scanner.owns(acct["Id"]):
            continue  # another --shard judges it
        label = f"account {acct['Id']}" + (f" ({acct['Name']})" if acct.get("Name") else "")
        fact = Resource(ref=root_arn(acct["Id"], base_region(scanner)), name=label,
                        account=acct["Id"], type="AWS::Organizations::Account")
        v = ctl.coverage(acct["Id"], view.path(acct["Id"]), view.scps, params,
                         view.scp_enabled, label, management=view.management_account)
        v.evidence["path"] = [view.label(t) for t in view.path(acct["Id"])]
        scanner.add(SCP_DENY, fact, v)
    scanner.notes.append(f"{SCP_DENY}: management account {view.management_account} not "
                         "judged (SCPs never apply to it)")


SERVICE = LiveService(
    calls=("organizations:DescribeOrganization", "organizations:ListAccounts",
           "organizations:ListRoots", "organizations:ListOrganizationalUnitsForParent",
           "organizations:ListAccountsForParent", "organizations:ListPolicies",
           "organizations:DescribePolicy", "organizations:ListTargetsForPolicy"),
    # Judged from the management account: an account that could not be opened changes nothing.
    live=(Live((SCP_DENY,), _evaluate, per_account=False, on_account_error=False),),
)
