"""ASFF report (`report.asff.json`): `{"Findings": [...]}` in the AWS Security Finding Format.

What `dr-audit scan --security-hub` imports (auditor.securityhub), written to a file so it can
also be imported by other means. One ASFF finding per gap, error and waiver; passes and failed
attempts from the logs are not Security Hub findings and are left out (a pass only closes a
finding imported earlier, see `closing`). `Id` is the finding's stable id, so importing the
next night's report updates each finding in place.
"""

from __future__ import annotations

import json
import re
from typing import Any

from drguard.control import remedy_text
from drguard.findings import Finding
from drguard.registry import BY_ID

SCHEMA_VERSION = "2018-10-08"
PRODUCT = "DR Guard"
TYPES = ["Software and Configuration Checks/Industry and Regulatory Standards/DR Guard"]
GENERATOR_PREFIX = "dr-guard/"
EXPORTED_STATUSES = ("fail", "error", "waived")
DEFAULT_REGION = "us-east-1"
_ACCOUNT = re.compile(r"^\d{12}$")

SEVERITY_LABEL = {"low": "LOW", "medium": "MEDIUM", "high": "HIGH", "critical": "CRITICAL"}
COMPLIANCE = {"fail": "FAILED", "waived": "FAILED", "error": "NOT_AVAILABLE", "pass": "PASSED"}
WORKFLOW = {"fail": "NEW", "error": "NEW", "waived": "SUPPRESSED", "pass": "RESOLVED"}
# (ARN service, resource-type prefix) -> ASFF resource type
RESOURCE_TYPES = {("s3", ""): "AwsS3Bucket", ("rds", "db"): "AwsRdsDbInstance",
                  ("rds", "cluster"): "AwsRdsDbCluster", ("dynamodb", "table"): "AwsDynamoDbTable",
                  ("cloudtrail", "trail"): "AwsCloudTrailTrail", ("ec2", "volume"): "AwsEc2Volume",
                  ("backup", "backup-vault"): "AwsBackupBackupVault",
                  ("iam", "root"): "AwsAccount", ("iam", "user"): "AwsIamUser",
                  ("events", "rule"): "AwsEventsEventbus", ("organizations", "policy"): "Other"}
# Field limits of BatchImportFindings.
LIMITS = {"Title": 256, "Description": 1024, "Text": 512}


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "\u2026"


def resource_type(arn: str) -> str:
    if not arn.startswith("arn:"):
        return "Other"
    parts = arn.split(":", 5)
    if len(parts) < 6:
        return "Other"
    service, rest = parts[2], parts[5]
    kind = re.split(r"[:/]", rest, maxsplit=1)[0] if ("/" in rest or ":" in rest) else rest
    if service == "s3":
        return "AwsS3Bucket"
    return RESOURCE_TYPES.get((service, kind), "Other")


def product_arn(account: str, region: str, partition: str = "aws") -> str:
    """The default product of a custom integration: findings a team imports itself."""
    return f"arn:{partition}:securityhub:{region}:{account}:product/{account}/default"


def exportable(f: Finding) -> bool:
    """A (control, resource) state Security Hub can hold: a 12-digit account is required."""
    return f.status in EXPORTED_STATUSES and bool(f.account and _ACCOUNT.match(f.account))


def to_asff(f: Finding, now: str, home_region: str, product_account: str | None = None,
            status: str | None = None) -> dict[str, Any]:
    """One ASFF finding. `status` overrides the finding's own (e.g. "pass" to close it);
    `product_account`/`home_region` name the Security Hub that receives it."""
    status = status or f.status
    control = BY_ID.get(f.control)
    account = str(f.account)
    partition = f.resource.split(":", 2)[1] if f.resource.startswith("arn:") else "aws"
    rem = f.remediation or {}
    text = (remedy_text(rem, code=False) if rem.get("summary") else
            remedy_text(control.remedy(), code=False) if control is not None else
            f"Fix {f.control}.")
    mapping = getattr(control, "mapping", None)
    related = list(getattr(mapping, "security_hub", ()) or ())[:32]
    resource: dict[str, Any] = {"Type": resource_type(f.resource), "Id": f.resource,
                                "Partition": partition}
    if f.region:
        resource["Region"] = f.region
    out: dict[str, Any] = {
        "SchemaVersion": SCHEMA_VERSION,
        "Id": f.id,
        "ProductArn": product_arn(product_account or account, home_region, partition),
        "ProductName": PRODUCT,
        "CompanyName": PRODUCT,
        "GeneratorId": GENERATOR_PREFIX + f.control,
        "AwsAccountId": account,
        "Types": list(TYPES),
        "CreatedAt": now,
        "UpdatedAt": now,
        "Severity": {"Label": SEVERITY_LABEL.get(f.severity, "INFORMATIONAL"),
                     "Original": f.severity or "unknown"},
        "Title": _cut(f"{getattr(control, 'title', '') or f.control}", LIMITS["Title"]),
        "Description": _cut(f.message or f.control, LIMITS["Description"]),
        "Remediation": {"Recommendation": {"Text": _cut(text, LIMITS["Text"])}},
        "ProductFields": {"drguard/control": f.control, "drguard/source": f.source,
                          "drguard/status": status},
        "Resources": [resource],
        "Compliance": {"Status": COMPLIANCE.get(status, "NOT_AVAILABLE")},
        "Workflow": {"Status": WORKFLOW.get(status, "NEW")},
        "RecordState": "ARCHIVED" if status == "pass" else "ACTIVE",
    }
    if f.region:
        out["Region"] = f.region
    if related:
        out["Compliance"]["RelatedRequirements"] = related
    if f.waiver:
        note = f"waived by {f.waiver.get('owner') or '?'}: {f.waiver.get('reason') or ''}"
        out["Note"] = {"Text": _cut(note, 512), "UpdatedBy": "dr-audit", "UpdatedAt": now}
    return out


def home_region(run: dict[str, Any]) -> str:
    regions = run.get("regions") or []
    return str(regions[0]) if regions else DEFAULT_REGION


def build(run: dict[str, Any], findings: list[Finding]) -> dict[str, Any]:
    """{"Findings": [...]} for every exportable finding of the run."""
    now = str(run.get("finished") or run.get("started") or "")
    if not now:
        from datetime import UTC, datetime

        now = datetime.now(UTC).isoformat()
    region = home_region(run)
    return {"Findings": [to_asff(f, now, region) for f in findings if exportable(f)]}


def render(run: dict[str, Any], findings: list[Finding]) -> str:
    return json.dumps(build(run, findings), indent=2, ensure_ascii=False, default=str) + "\n"
