"""Snapshots stay private (snapshot-not-public): manual RDS instance and cluster snapshots and
EBS snapshots are neither public nor shared with an account outside the Organization and
`trustedAccounts`. A public snapshot is a full copy of the data for anyone; one shared with a
foreign account is a copy the account's owner no longer controls.

Decisions made here once:
- Allowed accounts: the snapshot's own account, `trustedAccounts`, and the Organization's
  accounts where the side knows them (a live `--org` scan). Without the Organization's list
  (deploy side, a single-account scan, the logs) an account not in `trustedAccounts` is
  foreign: the message says so, and listing it in `trustedAccounts` accepts it.
- EBS: `createVolumePermission` group `all` is public; a user id is a share like an RDS
  `restore` account.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from dataclasses import field
from typing import Any, Literal

from ..control import DESTROYABLE, ConfigMapping, Control, Param
from ..detections import (
    RDS,
    Context,
    Params,
    Record,
    account_of,
    as_list,
    get_in,
    named_arn,
    on,
    rds_recovery_point,
    request_parameters,
)
from ..facts import UNKNOWN, Resource
from ..records import record
from ..verdict import Remediation, Verdict

EC2 = "ec2.amazonaws.com"
NOT_PUBLIC = "snapshot-not-public"
PUBLIC = "all"

SnapshotKind = Literal["db-snapshot", "cluster-snapshot", "ebs-snapshot"]
_LABEL = {"db-snapshot": "RDS snapshot", "cluster-snapshot": "RDS cluster snapshot",
          "ebs-snapshot": "EBS snapshot"}


@record
class Snapshot(Resource):
    """A manual RDS (instance or cluster) snapshot or an EBS snapshot, and who may restore it."""

    kind: SnapshotKind = "db-snapshot"
    # account ids and/or "all" that may restore / create volumes from it; [] = private;
    # UNKNOWN (preview, or the attribute could not be read); items may be UNKNOWN (preview)
    shared_with: Any = field(default_factory=list)
    # the Organization's account ids when this side knows them, else None
    org_accounts: frozenset[str] | None = None


def trusted(params: Mapping[str, Any]) -> set[str]:
    return {str(a) for a in params.get("trustedAccounts") or ()}


def foreign(accounts: Any, own: str | None, params: Mapping[str, Any],
            org: frozenset[str] | None = None) -> list[str]:
    """The known accounts (and "all") in `accounts` outside own/trusted/Organization."""
    ok = trusted(params) | ({own} if own else set()) | set(org or ())
    return [a for a in as_list(accounts) if isinstance(a, str) and a not in ok]


# ---- remediation ------------------------------------------------------------------------------

def fix_share(s: Snapshot, bad: list[str]) -> Remediation:
    ident = s.evidence.get("snapshotId") or (s.name if isinstance(s.name, str) else "SNAPSHOT")
    q = shlex.quote(str(ident))
    if s.kind == "ebs-snapshot":
        perms = ",".join("{Group=all}" if a == PUBLIC else f"{{UserId={a}}}" for a in bad)
        return Remediation(
            f"Stop sharing EBS snapshot {ident} with {', '.join(bad)}.",
            "# remove the aws.ec2.SnapshotCreateVolumePermission resources for accounts "
            "outside the Organization",
            f"aws ec2 modify-snapshot-attribute --snapshot-id {q} "
            "--attribute createVolumePermission --operation-type remove "
            f"--create-volume-permission {shlex.quote(f'Remove=[{perms}]')}")
    cluster = s.kind == "cluster-snapshot"
    cmd = "modify-db-cluster-snapshot-attribute --db-cluster-snapshot-identifier" if cluster \
        else "modify-db-snapshot-attribute --db-snapshot-identifier"
    cls = "aws.rds.ClusterSnapshot" if cluster else "aws.rds.Snapshot"
    return Remediation(
        f"Stop sharing {_LABEL[s.kind]} {ident} with {', '.join(bad)}.",
        f"{cls}(\"{ident}\", ...,\n    shared_accounts=[]  # only accounts of the "
        "Organization or trustedAccounts)",
        f"aws rds {cmd} {q} --attribute-name restore --values-to-remove "
        + " ".join(shlex.quote(a) for a in bad))


# ---- rules ------------------------------------------------------------------------------------

def not_public(s: Snapshot, params: Mapping[str, Any]) -> Verdict | None:
    label = f"{_LABEL[s.kind]} {s.name!r}"
    prop = s.prop("shared_with", "restore attribute" if s.kind != "ebs-snapshot"
                  else "createVolumePermission")
    ev: dict[str, Any] = {"snapshot": s.name, "sharedWith": s.shared_with,
                          "trustedAccounts": sorted(trusted(params))}
    if s.shared_with is UNKNOWN:
        return Verdict.unknown(f"Who may restore {label}", **ev)
    bad = foreign(s.shared_with, s.account, params, s.org_accounts)
    ev["outside"] = bad
    if bad:
        public = PUBLIC in bad
        accounts = [a for a in bad if a != PUBLIC]
        what = []
        if public:
            what.append("public (anyone can restore it)")
        if accounts:
            where = ("outside the Organization and trustedAccounts" if s.org_accounts is not None
                     else "not in trustedAccounts (the Organization's accounts are not known "
                          "here)")
            what.append(f"shared with account{'s' if len(accounts) > 1 else ''} "
                        f"{', '.join(accounts)}, {where}")
        v = Verdict.fail(f"{label} is " + " and ".join(what) + f" ({prop}): a full copy of the "
                         "data leaves the account's control.", **ev)
        v.remediation = fix_share(s, bad)
        return v
    if any(a is UNKNOWN for a in as_list(s.shared_with)):
        return Verdict.unknown(f"Who may restore {label}", **ev)
    shared = [a for a in as_list(s.shared_with) if isinstance(a, str)]
    return Verdict.ok(f"{label} is private" + (f" (shared only with {', '.join(shared)})"
                                               if shared else "") + ".", **ev)


# ---- logs side --------------------------------------------------------------------------------

def restore_shared_outside(rp: Record, record: Record, params: Params, ctx: Context) -> bool:
    if str(rp.get("attributeName", "")).lower() != "restore":
        return False
    return bool(foreign(rp.get("valuesToAdd"), account_of(record), params))


def ebs_added(rp: dict[str, Any]) -> list[str]:
    """The groups/users a ModifySnapshotAttribute adds (`createVolumePermission.add.items`)."""
    items = as_list(get_in(rp, "createVolumePermission", "add", "items"))
    return [str(i.get("group") or i.get("userId")) for i in items
            if isinstance(i, dict) and (i.get("group") or i.get("userId"))]


def volume_permission_shared_outside(rp: Record, record: Record, params: Params,
                                     ctx: Context) -> bool:
    return bool(foreign(ebs_added(rp), account_of(record), params))


def ebs_snapshot(record: dict[str, Any]) -> str:
    return named_arn(record, "ec2", "snapshot", request_parameters(record).get("snapshotId"),
                     "/")


CONTROLS: tuple[Control, ...] = (
    Control(
        id=NOT_PUBLIC,
        gap=("Restorable by {outside}", "Shared outside the Organization"),
        why=("A public snapshot, or one shared with an account you do not control, is a full "
             "copy of the data anyone with that access can restore: a leak, not a backup."),
        console=(
            "RDS console: Snapshots, Manual, select the snapshot, Actions, Share snapshot: "
            "set visibility Private and remove accounts that are not yours.",
            "EC2 console: Snapshots, select the snapshot, Actions, Snapshot settings, Modify "
            "permissions: Private, and remove foreign accounts.",
        ),
        cannot_remediate=("a snapshot's sharing is a resource of its own or set outside the "
                          "stack; a remediation cannot remove it."),
        title="Snapshots are not public or shared outside the Organization",
        severity="critical",
        exposure=DESTROYABLE,
        tier=1,
        description="No manual RDS instance or cluster snapshot and no EBS snapshot is public "
                    "or shared with an account outside the Organization / trustedAccounts.",
        remediation="Remove `all` and foreign accounts from the snapshot's restore attribute "
                    "(RDS) or createVolumePermission (EBS); list accounts you share with on "
                    "purpose in trustedAccounts.",
        params=(
            Param("trustedAccounts", [], {"type": "array", "uniqueItems": True, "items": {
                "type": "string", "pattern": "^[0-9]{12}$"}},
                "AWS account ids a snapshot may be shared with besides the Organization's "
                "accounts (the only ones the deploy side and the logs know)."),
        ),
        mapping=ConfigMapping(("RDS_SNAPSHOTS_PUBLIC_PROHIBITED",
                               "EBS_SNAPSHOT_PUBLIC_RESTORABLE_CHECK"),
                              ("RDS.1", "RDS.4", "EC2.1")),
        detections=(
            on(RDS, "ModifyDBSnapshotAttribute", "ModifyDBClusterSnapshotAttribute",
               when=restore_shared_outside, resource=rds_recovery_point,
               message="{principal} shared the snapshot {name} with {rp[valuesToAdd]} "
                       "({event}): `all` makes it public; another account is outside the "
                       "Organization's trusted accounts."),
            on(EC2, "ModifySnapshotAttribute", when=volume_permission_shared_outside,
               resource=ebs_snapshot,
               message="{principal} added {rp[createVolumePermission][add][items]} to the "
                       "createVolumePermission of EBS snapshot {name} ({event}): group `all` "
                       "makes it public; a user id outside trustedAccounts can copy it."),
        ),
        fix=Remediation(
            "Stop sharing the snapshot publicly or with foreign accounts.",
            "aws.rds.Snapshot(\"SNAPSHOT\", ...,\n    shared_accounts=[])",
            "aws rds modify-db-snapshot-attribute --db-snapshot-identifier SNAPSHOT "
            "--attribute-name restore --values-to-remove all"),
    ),
)
