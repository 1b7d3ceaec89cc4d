"""AWS Organizations: service control policies that deny destroying backups."""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Iterable, Sequence
from typing import Any

from .. import iampolicy
from ..control import UNSEEN, Control, strings
from ..detections import ORGANIZATIONS, Context, Params, Record, get_in, on, organizations_policy
from ..facts import Resource
from ..records import record
from ..verdict import Remediation, Verdict

# Destructive actions an SCP must deny (the default of scp-deny-backup-deletion's parameter).
BACKUP_DELETION_ACTIONS: list[str] = [
    "s3:DeleteBucket",
    "s3:PutBucketVersioning",
    "s3:PutBucketObjectLockConfiguration",
    "s3:BypassGovernanceRetention",
    "s3:DeleteObjectVersion",
    "rds:DeleteDBSnapshot",
    "rds:DeleteDBClusterSnapshot",
    "backup:DeleteRecoveryPoint",
    "backup:DeleteBackupVault",
    "cloudtrail:StopLogging",
    "cloudtrail:DeleteTrail",
]


@record
class Scp(Resource):
    """An Organizations service control policy."""

    document: Any = None  # parsed JSON policy document
    targets: Any = None  # list of target ids (root r-..., OU ou-..., account ids)
    # the policy's ARN when known: it names the management account, which no SCP governs
    arn: str | None = None


def management_account(scps: Iterable[Scp]) -> str | None:
    """The management account, from an SCP's ARN (arn:aws:organizations::<account>:policy/...)."""
    for s in scps:
        parts = (s.arn or "").split(":")
        if len(parts) >= 6 and parts[2] == "organizations" and parts[4].isdigit():
            return parts[4]
    return None


# ---- remediation ---------------------------------------------------------------------------

def _py_name(name: Any) -> str:
    ident = re.sub(r"[^0-9a-zA-Z]+", "_", str(name)).strip("_").lower() or "scp"
    return "scp_" + ident if ident[0].isdigit() else ident


SCP_NAME = "deny-backup-destruction"


def _is_role_action(action: str) -> bool:
    """Takeover actions naming Role apply to role ARNs, the others to user ARNs."""
    return "role" in action.split(":", 1)[-1].lower()


def fix_document(actions: Sequence[str], break_glass: Sequence[str] = (),
                 guard_actions: Sequence[str] = iampolicy.TAKEOVER_ACTIONS) -> dict[str, Any]:
    """The SCP content: deny `actions` to everyone but the `break_glass` role or user ARNs,
    and deny everyone else the actions that would let them become one of those principals."""
    deny: dict[str, Any] = {"Sid": "DenyBackupDestruction", "Effect": "Deny",
                            "Action": list(actions), "Resource": "*"}
    stmts = [deny]
    if break_glass:
        exempt = {"ArnNotLike": {"aws:PrincipalArn": list(break_glass)}}
        deny["Condition"] = exempt
        for sid, kind, role in (("ProtectBreakGlassRoles", ":role/", True),
                                ("ProtectBreakGlassUsers", ":user/", False)):
            arns = [a for a in break_glass if kind in a]
            acts = [a for a in guard_actions if _is_role_action(a) == role]
            if arns and acts:
                stmts.append({"Sid": sid, "Effect": "Deny", "Action": acts, "Resource": arns,
                              "Condition": exempt})
    return {"Version": "2012-10-17", "Statement": stmts}


def fix_scp(target: str, actions: Sequence[str], enable: bool = False,
            break_glass: Sequence[str] = (),
            guard_actions: Sequence[str] = iampolicy.TAKEOVER_ACTIONS,
            dropped: Sequence[str] = ()) -> Remediation:
    """An SCP denying `actions`, attached to `target` (the organization root when known, else
    an OU or the account), that keeps the break-glass exemption of the `break_glass` ARNs and
    keeps them out of a member admin's reach (fix_document); `dropped`: the exemptions it does
    not keep (no SCP can keep them out of that reach). The CLI script is idempotent: it
    reuses the policy of that name (setting its content) or creates it, and attaches it only
    where it is not attached."""
    doc = json.dumps(fix_document(actions, break_glass, guard_actions), indent=4)
    where = _target_label(target)
    kept = ""
    if break_glass:
        guarded = [a for a in guard_actions
                   if any(_is_role_action(a) == (":role/" in b) for b in break_glass)]
        kept = (f", keeping the break-glass exemption of {', '.join(break_glass)} and denying "
                f"{', '.join(guarded)} on {'them' if len(break_glass) > 1 else 'it'} to every "
                "other principal")
    if dropped:
        kept += (f", without the exemption of {', '.join(dropped)} (an admin of a member "
                 "account could use it)")
    summary = (("Enable service control policies on the root, then a" if enable else "A")
               + f"ttach an SCP denying {', '.join(actions)} to {where}{kept}"
               + (" (it covers every member account)." if target.startswith("r-")
                  else " (or to the root, to cover every member account)."))
    pulumi = (f"deny = aws.organizations.Policy(\"{SCP_NAME}\",\n"
              "    type=\"SERVICE_CONTROL_POLICY\",\n"
              f"    content=json.dumps({doc}))\n"
              f"aws.organizations.PolicyAttachment(\"{SCP_NAME}-attachment\",\n"
              f"    policy_id=deny.id, target_id={json.dumps(target)})")
    content = shlex.quote(json.dumps(json.loads(doc)))
    t = shlex.quote(target)
    lines = []
    if enable and target.startswith("r-"):
        lines.append(f"aws organizations enable-policy-type --root-id {t} "
                     "--policy-type SERVICE_CONTROL_POLICY")
    lines += [
        "policy_id=$(aws organizations list-policies --filter SERVICE_CONTROL_POLICY "
        f"--query \"Policies[?Name=='{SCP_NAME}'].Id | [0]\" --output text)",
        "if [ \"$policy_id\" = None ]; then policy_id=$(aws organizations create-policy "
        f"--name {SCP_NAME} --type SERVICE_CONTROL_POLICY --description "
        f"'Deny destroying backups' --content {content} --query Policy.PolicySummary.Id "
        "--output text); else aws organizations update-policy --policy-id \"$policy_id\" "
        f"--content {content}; fi",
        "{ aws organizations list-targets-for-policy --policy-id \"$policy_id\" --query "
        f"\"Targets[?TargetId=='{target}'].TargetId\" --output text | grep -q . || "
        f"aws organizations attach-policy --policy-id \"$policy_id\" --target-id {t}; }}"]
    return Remediation(summary, pulumi, " && \\\n".join(lines))


def _root(path: Sequence[str]) -> str | None:
    """The root id at the end of an account's path (account, OUs..., root), if there."""
    return path[-1] if path and str(path[-1]).startswith("r-") else None


# ---- rules --------------------------------------------------------------------------------

def _statements(scps: Iterable[Scp]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for s in scps:
        if isinstance(s.document, dict):
            try:
                out += iampolicy.statements(s.document)
            except ValueError:
                continue
    return out


def principals(account: str | None, scps: Sequence[Scp], params: dict[str, Any],
               management: str | None = None) -> iampolicy.Principals:
    """Whose principals the SCPs `scps` (every one that applies together) govern: `account`
    (None: the accounts under a root or OU), guarded by all their statements."""
    return iampolicy.Principals(
        account=account, management=management or management_account(scps),
        guards=_statements(scps),
        takeover_actions=list(params.get("breakGlassGuardActions",
                                         iampolicy.TAKEOVER_ACTIONS)))


def _break_glass(analyses: Iterable[tuple[Scp, iampolicy.PolicyAnalysis]]
                 ) -> tuple[list[str], list[str]]:
    """(the exactly named break-glass roles and users the SCPs exempt, for the fix to keep;
    the exemptions it drops, as `key value`)."""
    analyses = list(analyses)
    keep = sorted({t.value for _, a in analyses for t in a.takeovers if t.guardable}
                  | {v for _, a in analyses for v in a.break_glass})
    drop = sorted({t.value if t.key.lower() == "aws:principalarn" else f"{t.key} {t.value}"
                   for _, a in analyses for t in a.takeovers if not t.guardable})
    return keep, drop


def coverage(account_id: str, path: Sequence[str], scps: Iterable[Scp],
             params: dict[str, Any], scp_enabled: bool = True,
             label: str | None = None, management: str | None = None) -> Verdict:
    """Union of what every SCP attached to the account, its OUs or the root denies.

    `path` is the account id followed by its OU ids up to the root id (deploy side: one
    target, a root or OU when `account_id` is not an account id). A statement with a
    break-glass exemption counts only when an admin of the account cannot become the exempted
    principal (iampolicy)."""
    required = list(params["requiredDenyActions"])
    guard_actions = list(params.get("breakGlassGuardActions", iampolicy.TAKEOVER_ACTIONS))
    who = label or f"account {account_id}"
    targets = set(path)
    applied = [s for s in scps if any(t in targets for t in s.targets or ())]
    p = principals(account_id if account_id.isdigit() else None, applied, params, management)
    considered: list[dict[str, Any]] = []
    analyses: list[tuple[Scp, iampolicy.PolicyAnalysis]] = []
    denied: set[str] = set()
    for scp in applied:
        attached = [t for t in scp.targets or () if t in targets]
        if scp.document is None:
            considered.append({"scp": scp.name, "attachedTo": attached,
                               "error": scp.evidence.get("parseError", "unreadable")})
            continue
        a = iampolicy.analyze(scp.document, required, p)
        analyses.append((scp, a))
        denied |= a.denied
        considered.append({"scp": scp.name, "attachedTo": attached, "denies": sorted(a.denied),
                           "ignoredStatements": a.ignored})
    missing = [a for a in required if a not in denied]
    ev = {"account": account_id, "scpsConsidered": considered, "missingActions": missing,
          "requiredDenyActions": required, "scpPolicyTypeEnabled": scp_enabled}
    fix_target = _root(path) or account_id
    bg, dropped = _break_glass(analyses)
    if not scp_enabled:
        return Verdict("fail", f"Service control policies are not enabled in the "
                               f"organization, so nothing stops {who} from destroying backups.",
                       ev, fix_scp(fix_target, required, enable=True, break_glass=bg,
                                   guard_actions=guard_actions, dropped=dropped))
    names = ", ".join(sorted({c["scp"] for c in considered})) or "none"
    if not missing:
        return Verdict.ok(f"SCPs attached to {who} ({names}) deny all {len(required)} "
                          "destructive backup actions.", **ev)
    why = "".join(f" Statement {t.statement} of SCP {scp.name} {t.reason}."
                  for scp, a in analyses for t in a.takeovers)
    return Verdict("fail", f"{who[0].upper()}{who[1:]} is not covered: no attached SCP denies "
                           f"{', '.join(missing)} (SCPs considered: {names}).{why}", ev,
                   fix_scp(fix_target, required, break_glass=bg, guard_actions=guard_actions,
                           dropped=dropped))


def _target_label(target: str) -> str:
    if target.startswith("r-"):
        return f"the organization root {target}"
    if target.startswith("ou-"):
        return f"OU {target}"
    if target.isdigit():
        return f"account {target}"
    return f"target {target}"


def declared(scps: Sequence[Scp], params: dict[str, Any]) -> tuple[Scp, Verdict] | None:
    """Deploy side: the SCPs one stack declares, with the targets it attaches them to.

    Passes when the SCPs attached to one target (the root preferred) together deny every
    required action; a stack that declares SCPs but attaches none of them fails. Which
    accounts sit under an OU is not in the stack: `dr-audit scan --org` checks every account.
    Returns (the SCP the verdict is reported on, verdict), or None without SCPs."""
    from ..facts import UNKNOWN

    if not scps:
        return None
    required = list(params["requiredDenyActions"])
    pending = [s for s in scps if s.document is UNKNOWN or s.targets is UNKNOWN]
    known = [s for s in scps if s not in pending]
    by_target: dict[str, list[Scp]] = {}
    for s in known:
        for t in s.targets or ():
            by_target.setdefault(t, []).append(s)
    results = []
    for target, attached in by_target.items():
        v = coverage(target, [target], attached, params, label=_target_label(target))
        results.append((len(v.evidence["missingActions"]), not target.startswith("r-"),
                        target, attached, v))
    results.sort(key=lambda x: x[:3])

    def best_scp(candidates: Sequence[Scp]) -> Scp:
        def denied(s: Scp) -> int:
            if s.document is None or s.document is UNKNOWN:
                return -1
            return len(iampolicy.analyze(s.document, required,
                                         principals(None, [s], params)).denied)
        return max(candidates, key=denied)

    if results and results[0][0] == 0:
        _, _, target, attached, v = results[0]
        if not target.startswith("r-"):
            v.evidence["note"] = (f"attached to {_target_label(target)} only; accounts outside "
                                  "it are not covered (dr-audit scan --org checks each account)")
        return best_scp(attached), v
    if pending:
        s = pending[0]
        return s, Verdict.unknown(f"The content or attachments of SCP {s.name!r}",
                                  requiredDenyActions=required)
    if not results:
        s = best_scp(known)
        a = (iampolicy.analyze(s.document, required, principals(None, [s], params))
             if s.document is not None else iampolicy.PolicyAnalysis())
        missing = [x for x in required if x not in a.denied]
        also = (f" It would also leave {', '.join(missing)} allowed." if missing else "")
        return s, Verdict(
            "fail",
            f"SCP {s.name!r} is defined but attached to nothing, so it protects no account."
            f"{also}",
            {"scp": s.name, "attachedTo": [], "deniedActions": sorted(a.denied),
             "missingActions": missing, "requiredDenyActions": required,
             "ignoredStatements": a.ignored},
            Remediation(f"Attach SCP {s.name} to the organization root (or to the OU of every "
                        "member account).",
                        f"aws.organizations.PolicyAttachment(\"{s.name}-root\",\n"
                        f"    policy_id={_py_name(s.name)}.id, target_id=root_id)",
                        None))  # declared in this stack: attach it there
    _, _, target, attached, v = results[0]
    loose = [s.name for s in known if not s.targets]
    if loose:
        v.message += f" SCP(s) {', '.join(loose)} are defined but attached to nothing."
        v.evidence["unattachedScps"] = loose
    return best_scp(attached), v


# ---- logs side: predicates on CloudTrail records ------------------------------------------


def backup_scp(rp: Record, record: Record, params: Params, ctx: Context) -> bool:
    pid = rp.get("policyId")
    kind = get_in(record, "responseElements", "policy", "policySummary", "type")
    if pid == "p-FullAWSAccess" or (kind is not None and kind != "SERVICE_CONTROL_POLICY"):
        return False
    ids = params.get("backupPolicyIds") or []
    return not ids or pid in ids


CONTROLS: tuple[Control, ...] = (
    Control(
        id="scp-deny-backup-deletion",
        gap=("No SCP denies {missingActions}", "No SCP denies destroying backups"),
        why=("Without an SCP, an administrator of a member account (or an attacker holding such a "
            "role) can delete every backup in it."),
        console=(
            "AWS Organizations console (management account): Policies, Service control policies "
            "(enable them if asked).",
            "Create policy deny-backup-destruction denying every action of requiredDenyActions on "
            "\"*\" (or edit the existing one). To keep a break-glass role, exempt its exact ARN "
            "(ArnNotLike aws:PrincipalArn, no wildcard in the name) and add a second Deny "
            "statement of breakGlassGuardActions on that ARN with the same exemption.",
            "Targets, Attach: the Root (or every OU that holds member accounts).",
        ),
        cannot_remediate=("an SCP's statements are a policy decision, not a setting."),
        title="An attached SCP denies destroying backups",
        severity="high",
        exposure=UNSEEN,
        tier=2,
        description="An attached Organizations SCP covering every member account denies the "
                    "destructive actions on backup data, to every principal an administrator "
                    "of that account could become. A Deny statement may exempt break-glass "
                    "principals by aws:PrincipalArn: the exemption counts only when it names "
                    "IAM roles or users exactly (no wildcard in the name) and the SCPs over "
                    "the account also deny everyone else breakGlassGuardActions on those ARNs "
                    "(so no member admin can create the role, rewrite its trust policy or give "
                    "the user credentials), or when it names principals of another account "
                    "(an SCP governs only the principals of the accounts it covers; on the "
                    "deploy side, of the management account named by the SCP's ARN). "
                    "Exemptions by aws:PrincipalAccount of a covered account, aws:PrincipalType, "
                    "aws:PrincipalTag, aws:SourceIdentity, aws:userid or aws:username never "
                    "count: such an admin can make, tag or name a principal to match them.",
        remediation="Attach an SCP (root, OU or account) whose Deny statement lists every "
                    "action of requiredDenyActions; to keep a break-glass, exempt its exact "
                    "role ARN and deny everyone else breakGlassGuardActions on it.",
        params=(
            strings("requiredDenyActions", BACKUP_DELETION_ACTIONS,
                     "Actions the SCP must deny.", min_items=1),
            strings("breakGlassGuardActions", list(iampolicy.TAKEOVER_ACTIONS),
                    "Actions an SCP over the account must deny, to every principal but the "
                    "break-glass, on each role or user ARN a deny statement exempts (those "
                    "naming Role on roles, the others on users): without them an admin of a "
                    "member account could create or take over the exempted principal."),
            strings("backupPolicyIds", [],
                     "Logs side: ids (p-...) of the SCPs that protect backups; empty means "
                     "any SCP change is reported."),
        ),
        detections=(
            on(ORGANIZATIONS, "DetachPolicy", "DeletePolicy", "UpdatePolicy",
               when=backup_scp, resource=organizations_policy, links_by="account",
               message="{principal} changed the SCP {rp[policyId]} ({event}): the guard "
                       "against destroying backups may be gone."),
        ),
    ),
)
