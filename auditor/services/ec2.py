"""EC2: EBS volumes and what backs them up (recent snapshots, DLM policies, AWS Backup)."""

from __future__ import annotations

import datetime as dt
from dataclasses import field
from typing import Any

from drguard.controls import ec2 as ctl
from drguard.controls.ec2 import Volume
from drguard.facts import UNKNOWN
from drguard.records import record

from ..aws import Account, paginate
from ..collectors import Errors, age_hours, guarded, tag_dict
from ..live import AccountScan, Live, LiveService, RegionScan, ScanContext, Step
from . import backup


@record
class Ec2Region:
    """One region's EBS volumes and snapshots, and what could not be read."""

    volumes: list[Volume] = field(default_factory=list)
    # the account's own snapshots (DescribeSnapshots, owner self), or UNKNOWN
    snapshots: Any = field(default_factory=list)
    errors: Errors = field(default_factory=dict)


def _dlm_targets(account: Account, region: str, errors: Errors) -> Any:
    """[(policy id, resource types, target tags)] of enabled DLM policies, or UNKNOWN."""
    dlm = account.client("dlm", region)

    def read() -> list[tuple[str, set[str], dict[str, str]]]:
        out = []
        for p in dlm.get_lifecycle_policies(State="ENABLED").get("Policies") or ():
            details = dlm.get_lifecycle_policy(PolicyId=p["PolicyId"])["Policy"].get(
                "PolicyDetails") or {}
            out.append((p["PolicyId"], set(details.get("ResourceTypes") or ()),
                        tag_dict(details.get("TargetTags"))))
        return out

    return guarded(errors, "dlm", "dlm:GetLifecyclePolicies", read)


def collect(account: Account, region: str, now: dt.datetime, max_age_hours: float) -> Ec2Region:
    """Volumes of the region; raises on a DescribeVolumes error. DLM and AWS Backup are only
    asked about when some volume has no recent snapshot."""
    ec2 = account.client("ec2", region)
    out = Ec2Region()
    raw = list(paginate(ec2, "describe_volumes", "Volumes"))
    # Owner self only, never every public snapshot. The owner-id filter says the same again
    # for endpoints that ignore OwnerIds (and would answer with every public snapshot).
    snaps = guarded(out.errors, "snapshots", "ec2:DescribeSnapshots", lambda: [
        s for s in paginate(ec2, "describe_snapshots", "Snapshots", OwnerIds=["self"],
                            Filters=[{"Name": "owner-id", "Values": [account.id]}])
        if s.get("OwnerId") in (None, account.id)])
    out.snapshots = snaps
    if not raw:
        return out
    ids = {v["VolumeId"] for v in raw}
    newest: dict[str, dt.datetime] = {}
    for s in snaps if snaps is not UNKNOWN else ():
        vid, when = s.get("VolumeId"), s.get("StartTime")
        if vid in ids and s.get("State") == "completed" and isinstance(when, dt.datetime):
            newest[vid] = max(newest.get(vid, when), when)
    for v in raw:
        vid = v["VolumeId"]
        tags = tag_dict(v.get("Tags"))
        age = age_hours(newest.get(vid), now) if snaps is not UNKNOWN else UNKNOWN
        out.volumes.append(Volume(
            ref=f"arn:aws:ec2:{region}:{account.id}:volume/{vid}", name=tags.get("Name", vid),
            type="AWS::EC2::Volume", account=account.id, region=region, tags=tags,
            newest_snapshot_age_hours=age, covered_by=[],
            evidence={"volumeId": vid, "attachedTo": [a.get("InstanceId") for a in
                                                      v.get("Attachments") or ()]}))
    stale = [v for v in out.volumes if v.newest_snapshot_age_hours is UNKNOWN
             or v.newest_snapshot_age_hours is None or v.newest_snapshot_age_hours > max_age_hours]
    if stale:
        _coverage(account, region, stale, out.errors)
    return out


def _instance_tags(account: Account, region: str, ids: list[str],
                   errors: Errors) -> dict[str, dict[str, str]]:
    if not ids:
        return {}
    ec2 = account.client("ec2", region)

    def read() -> dict[str, dict[str, str]]:
        out = {}
        for r in paginate(ec2, "describe_instances", "Reservations", InstanceIds=ids):
            for i in r.get("Instances") or ():
                out[i["InstanceId"]] = tag_dict(i.get("Tags"))
        return out

    found = guarded(errors, "instances", "ec2:DescribeInstances", read)
    return found if found is not UNKNOWN else {}


def _coverage(account: Account, region: str, volumes: list[Volume], errors: Errors) -> None:
    dlm = _dlm_targets(account, region, errors)
    selections = backup.selections(account, region, errors)
    instance_ids = sorted({i for v in volumes for i in v.evidence["attachedTo"] if i})
    needs_instances = dlm is not UNKNOWN and any("INSTANCE" in t for _, t, _ in dlm)
    itags = _instance_tags(account, region, instance_ids, errors) if needs_instances else {}
    for v in volumes:
        covered: list[str] = []
        for policy, types, target in dlm if dlm is not UNKNOWN else ():
            tagged = [v.tags] if "VOLUME" in types else []
            if "INSTANCE" in types:
                tagged += [itags.get(i, {}) for i in v.evidence["attachedTo"] if i]
            if target and any(all(t.get(k) == val for k, val in target.items()) for t in tagged):
                covered.append(f"dlm:{policy}")
        for plan, sel in selections if selections is not UNKNOWN else ():
            if backup.selection_covers(sel, v.ref, v.tags):
                covered.append(f"backup:{plan}/{sel.get('SelectionName', '')}")
        if covered:
            v.covered_by = covered
        elif dlm is UNKNOWN or selections is UNKNOWN or v.newest_snapshot_age_hours is UNKNOWN:
            v.covered_by = UNKNOWN
            v.evidence["readErrors"] = [e.to_dict() for e in errors.values()]


# ---- live binding ----------------------------------------------------------------------------

COVERAGE = "ebs-snapshot-coverage"


def _collect(scanner: ScanContext, acct: Account, rs: RegionScan) -> Ec2Region:
    return collect(acct, rs.region, scanner.now,
                   scanner.settings.of(COVERAGE)["maxSnapshotAgeHours"])


def _evaluate(scanner: ScanContext, a: AccountScan) -> None:
    params = scanner.settings.of(COVERAGE)
    for region, rs in sorted(a.regions.items()):
        data: Ec2Region | None = rs.data.get("ec2")
        if data is None:
            err = rs.errors.get("ec2")
            scanner.error(COVERAGE, f"arn:aws:ec2:{region}:{a.id}:volume/*",
                          f"EBS volumes in {region}", a.id, region,
                          f"The EBS volumes of {region} could not be listed: {err}.", [err])
            continue
        for vol in data.volumes:
            scanner.add(COVERAGE, vol, ctl.ebs(vol, params), data.errors.values())


SERVICE = LiveService(
    calls=("ec2:DescribeVolumes", "ec2:DescribeSnapshots", "ec2:DescribeInstances",
           "dlm:GetLifecyclePolicies", "dlm:GetLifecyclePolicy"),
    regional_steps=(Step("ec2", "ec2:DescribeVolumes", _collect),),
    live=(Live((COVERAGE,), _evaluate),),
)
