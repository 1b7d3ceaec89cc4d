"""AWS Organizations at deploy time: SCPs and their attachments, scp-deny-backup-deletion."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from drguard import iampolicy
from drguard.controls import organizations as ctl
from drguard.controls.organizations import Scp
from drguard.facts import UNKNOWN
from drguard.scope import Scope

from ..adapters import Res, base, has_unknown, strings
from ..binding import Judged, StackCheck, unlinked_guard
from ..service import DeployService, Link

if TYPE_CHECKING:
    from ..stack import StackModel


ORG_POLICY_TYPES = frozenset({"aws:organizations/policy:Policy",
                              "aws-native:organizations:Policy"})


ORG_ATTACHMENT_TYPES = frozenset({"aws:organizations/policyAttachment:PolicyAttachment"})


def scp(r: Res) -> Scp | None:
    """An Organizations SCP (other policy types are not SCPs: None)."""
    if r.type not in ORG_POLICY_TYPES:
        return None
    kind = r.get("type")
    if kind is not None and kind is not UNKNOWN and kind != "SERVICE_CONTROL_POLICY":
        return None
    s = Scp(**base(r, r.get("name")))
    arn = r.get("arn")
    s.arn = arn if isinstance(arn, str) else None
    content = r.get("content")
    if has_unknown(content):
        s.document = UNKNOWN
    else:
        try:
            s.document = iampolicy.parse(content)
        except (ValueError, TypeError) as e:
            s.evidence["parseError"] = f"the policy content is not a JSON object ({e})"
    if r.type.startswith("aws-native"):
        ids = strings(r.get("targetIds"))
        s.targets = UNKNOWN if ids is UNKNOWN or UNKNOWN in ids else list(ids)
    else:
        s.targets = []  # filled from PolicyAttachment resources by the stack model
    return s


def _scp_attachments(m: StackModel, attachments: Iterable[Res]) -> None:
    if not m.scps:
        return
    by_id: dict[str, Scp] = {}
    for s in m.scps:
        pid = m.res_of[id(s)].get("id")
        if isinstance(pid, str):
            by_id[pid] = s
    for r in attachments:
        deps = m.deps(r, "policyId", Scp)
        s = deps[0] if deps else by_id.get(r.get("policyId"))
        if s is None:
            m.unlinked_if_unknown(r, "scp-attachment", "policyId")
            continue
        target = r.get("targetId")
        if target is UNKNOWN:
            # An OU or account created in the same stack: named by its resource.
            urns = r.property_deps.get("targetId", ())
            target = f"(pending {urns[0].rsplit('::', 1)[-1]})" if urns else UNKNOWN
        if target is UNKNOWN or s.targets is UNKNOWN:
            s.targets = UNKNOWN
        elif isinstance(target, str):
            s.targets.append(target)
        s.evidence.setdefault("attachments", []).append(r.urn)


def _link(m: StackModel, linked: dict[str, list[Res]], _scope: Scope) -> None:
    _scp_attachments(m, linked.get("attachment", ()))


def _scp(model: StackModel, params: dict[str, Any]) -> Iterable[Judged]:
    judged = ctl.declared(model.scps, params)
    if judged is not None:
        yield judged[0], unlinked_guard(model, "scp-attachment", judged[1])


# ---- declaration ------------------------------------------------------------------------------

SERVICE = DeployService(
    facts={t: ("scps", scp) for t in ORG_POLICY_TYPES},
    linked={t: "attachment" for t in ORG_ATTACHMENT_TYPES},
    link=Link(50, _link),
    checks=(StackCheck("scp-deny-backup-deletion", _scp),),
)
