"""OCSF report (`report.ocsf.json`): a JSON array of OCSF 1.x Compliance Finding objects.

Class `Compliance Finding` (class_uid 2003, category Findings), OCSF schema 1.5.0 with the
`cloud` profile, the shape Prowler and Amazon Security Lake read. One object per finding:

- `finding_info.uid` is the finding's stable id (the same gap keeps it across runs/formats);
- `compliance.control` the control id, `compliance.status_id` Pass/Fail/Warning/Unknown,
  `compliance.requirements` the AWS Config rules / Security Hub controls it lines up with;
- `status_id` the workflow state: New (gap, error, attempt), Suppressed (waived), Resolved
  (pass);
- `remediation.desc` the one-sentence fix; the Pulumi snippet and CLI command, the source,
  the waiver and the CloudTrail events go in `unmapped.dr_guard`.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from drguard.control import remedy_text
from drguard.findings import Finding
from drguard.registry import BY_ID

OCSF_VERSION = "1.5.0"
CLASS_UID = 2003
CATEGORY_UID = 2
ACTIVITY_CREATE = 1
PRODUCT = "DR Guard"

SEVERITY_ID = {"low": 2, "medium": 3, "high": 4, "critical": 5}
SEVERITY_NAME = {2: "Low", 3: "Medium", 4: "High", 5: "Critical", 0: "Unknown"}
# finding status -> (OCSF finding status_id, its name), (compliance status_id)
WORKFLOW = {"fail": (1, "New"), "error": (1, "New"), "attempt": (1, "New"),
            "waived": (3, "Suppressed"), "pass": (4, "Resolved")}
COMPLIANCE_STATUS = {"pass": 1, "waived": 2, "attempt": 2, "fail": 3, "error": 0}
AWS_ACCOUNT_TYPE_ID = 10  # OCSF account type "AWS Account"


def epoch_ms(value: Any) -> int:
    """An ISO 8601 time of the run as OCSF's epoch milliseconds (now when absent or bad)."""
    if isinstance(value, str) and value:
        try:
            dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            dt = datetime.now(UTC)
        else:
            if dt.tzinfo is None:
                dt = dt.replace(tzinfo=UTC)
    else:
        dt = datetime.now(UTC)
    return int(dt.timestamp() * 1000)


def _short(resource: str) -> str:
    return resource.rsplit(":", 1)[-1].rsplit("/", 1)[-1] if resource.startswith("arn:") \
        else resource.rsplit("::", 1)[-1]


def _partition(resource: str) -> str:
    return resource.split(":", 2)[1] if resource.startswith("arn:") else "aws"


def _requirements(control: str) -> list[str]:
    mapping = getattr(BY_ID.get(control), "mapping", None)
    if not mapping:
        return []
    return [*getattr(mapping, "aws_config", ()), *getattr(mapping, "security_hub", ())]


def finding_object(f: Finding, run: dict[str, Any], time_ms: int) -> dict[str, Any]:
    """One OCSF Compliance Finding for one DR Guard finding."""
    control = BY_ID.get(f.control)
    title = getattr(control, "title", "") or f.control
    severity_id = SEVERITY_ID.get(f.severity, 0)
    status_id, status_name = WORKFLOW.get(f.status, (99, "Other"))
    rem = f.remediation or {}
    remediation_text = remedy_text(rem, code=False) if rem.get("summary") else (
        remedy_text(control.remedy(), code=False) if control is not None else "")
    resource: dict[str, Any] = {"uid": f.resource, "name": _short(f.resource),
                                "cloud_partition": _partition(f.resource)}
    if f.region:
        resource["region"] = f.region
    if f.evidence:
        resource["data"] = f.evidence
    obj: dict[str, Any] = {
        "activity_id": ACTIVITY_CREATE,
        "activity_name": "Create",
        "category_uid": CATEGORY_UID,
        "category_name": "Findings",
        "class_uid": CLASS_UID,
        "class_name": "Compliance Finding",
        "type_uid": CLASS_UID * 100 + ACTIVITY_CREATE,
        "type_name": "Compliance Finding: Create",
        "time": time_ms,
        "severity_id": severity_id,
        "severity": SEVERITY_NAME[severity_id],
        "status_id": status_id,
        "status": status_name,
        "status_code": f.status.upper(),
        "message": f.message,
        "metadata": {
            "version": OCSF_VERSION,
            "uid": f.id,
            "event_code": f.control,
            "profiles": ["cloud"],
            "product": {"name": PRODUCT, "vendor_name": PRODUCT, "uid": "dr-guard",
                        "version": str(run.get("tool_version") or "")},
        },
        "finding_info": {
            "uid": f.id,
            "title": title,
            "desc": getattr(control, "description", "") or f.message,
            "types": [f"dr-guard/{f.control}"],
            "data_sources": list(f.sources or [f.source]),
            "created_time": time_ms,
        },
        "compliance": {
            "control": f.control,
            "standards": ["DR Guard"],
            "status_id": COMPLIANCE_STATUS.get(f.status, 0),
            "requirements": _requirements(f.control),
        },
        "resources": [resource],
        "cloud": {"provider": "AWS"},
        "unmapped": {"dr_guard": {
            "source": f.source, "status": f.status,
            "pulumi": rem.get("pulumi"), "cli": rem.get("cli"),
            "waiver": f.waiver, "event": f.event, "events": f.events or None,
        }},
    }
    if remediation_text:
        obj["remediation"] = {"desc": remediation_text}
    if f.region:
        obj["cloud"]["region"] = f.region
    if f.account:
        obj["cloud"]["account"] = {"uid": f.account, "name": f.account, "type": "AWS Account",
                                   "type_id": AWS_ACCOUNT_TYPE_ID}
    obj["unmapped"]["dr_guard"] = {k: v for k, v in obj["unmapped"]["dr_guard"].items()
                                   if v is not None}
    return obj


def build(run: dict[str, Any], findings: list[Finding]) -> list[dict[str, Any]]:
    """Every finding as an OCSF Compliance Finding, in report order."""
    time_ms = epoch_ms(run.get("finished") or run.get("started"))
    return [finding_object(f, run, time_ms) for f in findings]


def render(run: dict[str, Any], findings: list[Finding]) -> str:
    return json.dumps(build(run, findings), indent=2, ensure_ascii=False, default=str) + "\n"
