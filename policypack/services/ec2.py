"""EBS volumes at deploy time: volumes, DLM lifecycle policies, ebs-snapshot-coverage."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from drguard.controls import ec2 as ctl
from drguard.controls.ec2 import Volume
from drguard.facts import UNKNOWN
from drguard.scope import Scope

from ..adapters import Res, base, strings
from ..binding import Judged, StackCheck, unlinked_guard
from ..service import DeployService, Link
from ..wire import get, val

if TYPE_CHECKING:
    from ..stack import StackModel


VOLUME_TYPES = frozenset({"aws:ebs/volume:Volume", "aws-native:ec2:Volume"})


DLM_TYPES = frozenset({"aws:dlm/lifecyclePolicy:LifecyclePolicy",
                       "aws-native:dlm:LifecyclePolicy"})


def volume(r: Res) -> Volume | None:
    if r.type not in VOLUME_TYPES:
        return None
    return Volume(**base(r, r.name))


def dlm_policy(r: Res) -> dict[str, Any]:
    """{"enabled", "volumes" (resourceTypes include VOLUME), "default" (default policy for
    every volume), "tags": {key: value} or UNKNOWN, "name"}."""
    state = r.get("state")
    details = r.get("policyDetails")
    types = strings(get(details, "resourceTypes"))
    kind = get(details, "policyType")
    tags_: Any = get(details, "targetTags")
    if isinstance(tags_, list):  # aws-native: [{key, value}]
        tags_ = {get(t, "key"): get(t, "value") for t in tags_}
    elif isinstance(tags_, Mapping):
        tags_ = {k: val(v) for k, v in tags_.items()}
    default = r.get("defaultPolicy")
    return {"name": r.name,
            "enabled": UNKNOWN if state is UNKNOWN else state in (None, "ENABLED"),
            "volumes": UNKNOWN if types is UNKNOWN else
            ("VOLUME" in types and kind in (None, "EBS_SNAPSHOT_MANAGEMENT")),
            "default": default == "VOLUME",
            "tags": tags_ if tags_ is UNKNOWN or isinstance(tags_, dict) else {}}


def _link(m: StackModel, linked: dict[str, list[Res]], _scope: Scope) -> None:
    """EBS coverage by DLM policies: a region's default policy covers every volume there,
    others the volumes carrying one of their target tags (indexed by region and tag)."""
    if not m.volumes:
        return
    default: dict[Any, list[str]] = {}
    by_tag: dict[tuple[Any, str, Any], list[str]] = {}
    unsure: set[Any] = set()  # regions with a policy whose settings are not known yet
    for r in linked.get("dlm", ()):
        p = dlm_policy(r)
        if UNKNOWN in (p["enabled"], p["volumes"]) or p["tags"] is UNKNOWN:
            unsure.add(r.region)
        elif p["enabled"] and p["default"]:
            default.setdefault(r.region, []).append(f"dlm:{p['name']}")
        elif p["enabled"] and p["volumes"]:
            for k, want in p["tags"].items():
                by_tag.setdefault((r.region, k, want), []).append(f"dlm:{p['name']}")
    for v in m.volumes:
        covered: list[str] = list(v.covered_by or []) + default.get(v.region, [])
        for k, have in v.tags.items():
            covered += by_tag.get((v.region, k, have), [])
        covered = list(dict.fromkeys(covered))
        v.covered_by = covered if covered or v.region not in unsure else UNKNOWN


def _arn(m: StackModel, v: Volume, r: Res | None, region: str, acct: str) -> str:
    vid = r.get("id") if r is not None else None
    return f"arn:aws:ec2:{region}:{acct}:volume/{vid if isinstance(vid, str) else '*'}"


def _selected(v: Volume, plan: Any) -> None:
    if isinstance(v.covered_by, list):
        v.covered_by.append(f"backup:{plan.name}")
    else:
        v.covered_by = [f"backup:{plan.name}"]


def _ebs(model: StackModel, params: dict) -> Iterable[Judged]:
    for v in model.volumes:
        yield v, unlinked_guard(model, "backup-selection", ctl.ebs(v, params))


SERVICE = DeployService(
    facts={t: ("volumes", volume) for t in VOLUME_TYPES},
    linked={t: "dlm" for t in DLM_TYPES},
    link=Link(40, _link),  # after AWS Backup selections, whose coverage it extends
    arns={Volume: _arn},
    backup_selected={Volume: _selected},
    checks=(StackCheck("ebs-snapshot-coverage", _ebs),),
)
