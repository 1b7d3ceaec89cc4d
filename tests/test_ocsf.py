"""--format ocsf and asff: OCSF 1.x Compliance Findings (validated with py-ocsf-models, the
OCSF models Prowler uses) and ASFF, both keyed by the finding's stable id."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from py_ocsf_models.events.findings.compliance_finding import ComplianceFinding
from py_ocsf_models.objects.cloud import Cloud

from auditor.reports import FILENAMES, render_reports, write_reports
from auditor.reports import asff as asff_mod
from drguard.control import remedy_text
from drguard.findings import Finding
from drguard.registry import BY_ID

RUN = {"command": "scan", "started": "2026-12-01T03:00:00+00:00",
       "finished": "2026-12-01T03:05:00+00:00", "accounts": ["123456789012"],
       "regions": ["us-west-2", "us-east-1"], "fail_on": "high"}
BUCKET = "arn:aws:s3:::acme-backups"
DB = "arn:aws:rds:us-west-2:123456789012:db:orders"
REMEDIATION = {"summary": "Turn on versioning for acme-backups.",
               "pulumi": "aws.s3.BucketVersioning('v', bucket=b.id, ...)",
               "cli": "aws s3api put-bucket-versioning --bucket acme-backups ..."}
# OCSF attributes of the `cloud` profile (metadata.profiles) that the class model leaves out
PROFILE_ATTRIBUTES = {"cloud"}


def findings() -> list[Finding]:
    return [
        Finding("backup-bucket-versioning", "fail", "live", BUCKET,
                "Versioning is suspended on acme-backups.", "123456789012", "us-east-1",
                evidence={"Status": "Suspended"}, remediation=REMEDIATION),
        Finding("rds-deletion-protection", "waived", "live", DB, "Deletion protection is off.",
                "123456789012", "us-west-2",
                waiver={"owner": "platform", "reason": "scratch <db> \"quoted\"",
                        "expires": "2027-01-01"}),
        Finding("rds-backup-retention", "pass", "live", DB, "Retention is 14 days.",
                "123456789012", "us-west-2"),
        Finding("cloudtrail-enabled", "error", "live", "arn:aws:iam::123456789012:root",
                "Could not check: AccessDenied.", "123456789012", None),
        Finding("stateful-resource-protect", "fail", "state",
                "urn:pulumi:prod::app::aws:rds/instance:Instance::db", "Not protected."),
    ]


def _strip_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_strip_nulls(v) for v in value]
    return value


def test_ocsf_objects_validate_against_the_ocsf_models(tmp_path: Path) -> None:
    paths = write_reports(findings(), RUN, tmp_path, ["ocsf", "json"])
    assert paths["ocsf"].name == FILENAMES["ocsf"] == "report.ocsf.json"
    objs = json.loads(paths["ocsf"].read_text())
    report = json.loads(paths["json"].read_text())
    assert isinstance(objs, list) and len(objs) == len(report["findings"]) == 5
    for obj in objs:
        model = ComplianceFinding.model_validate(obj)  # raises on a missing/invalid field
        dumped = _strip_nulls(json.loads(model.model_dump_json(exclude_none=True)))
        # nothing misnamed: every attribute we wrote survives the model's round trip
        ours = {k: v for k, v in obj.items() if k not in PROFILE_ATTRIBUTES}
        assert _strip_nulls(ours) == dumped, obj["finding_info"]["uid"]
        assert set(obj) - set(dumped) <= PROFILE_ATTRIBUTES
        assert "cloud" in obj["metadata"]["profiles"]
        Cloud.model_validate(obj["cloud"])
        assert obj["class_uid"] == 2003 and obj["type_uid"] == 200301
        assert obj["metadata"]["version"].startswith("1.")


def test_ocsf_uses_the_stable_id_remediation_and_statuses() -> None:
    objs = json.loads(render_reports(findings(), RUN, ["ocsf"])["ocsf"])
    by_uid = {o["finding_info"]["uid"]: o for o in objs}
    assert set(by_uid) == {f.id for f in findings()}
    gap = by_uid[findings()[0].id]
    assert gap["compliance"]["control"] == "backup-bucket-versioning"
    assert gap["compliance"]["status_id"] == 3 and gap["status_id"] == 1  # Fail, New
    assert gap["severity_id"] in (3, 4, 5)
    declared = BY_ID["backup-bucket-versioning"]  # summary here, why and steps declared
    assert gap["remediation"]["desc"] == remedy_text(
        {**REMEDIATION, "why": declared.why, "console": declared.console}, code=False)
    assert gap["unmapped"]["dr_guard"]["pulumi"] == REMEDIATION["pulumi"]
    assert gap["resources"][0]["uid"] == BUCKET and gap["resources"][0]["region"] == "us-east-1"
    assert gap["cloud"]["account"]["uid"] == "123456789012"
    finished = datetime.fromisoformat(RUN["finished"])
    assert gap["time"] == int(finished.timestamp()) * 1000  # the run's finish, epoch ms
    waived = by_uid[findings()[1].id]
    assert waived["status_id"] == 3 and waived["compliance"]["status_id"] == 2
    assert waived["unmapped"]["dr_guard"]["waiver"]["reason"] == 'scratch <db> "quoted"'
    passed = by_uid[findings()[2].id]
    assert passed["status_id"] == 4 and passed["compliance"]["status_id"] == 1
    error = by_uid[findings()[3].id]
    assert error["compliance"]["status_id"] == 0 and "region" not in error["cloud"]


def test_ocsf_ids_are_the_same_in_every_run() -> None:
    a = json.loads(render_reports(findings(), RUN, ["ocsf"])["ocsf"])
    later = {**RUN, "finished": "2026-12-02T03:05:00+00:00"}
    b = json.loads(render_reports(list(reversed(findings())), later, ["ocsf"])["ocsf"])
    assert sorted(o["finding_info"]["uid"] for o in a) == \
        sorted(o["finding_info"]["uid"] for o in b)


def test_asff_findings() -> None:
    doc = json.loads(render_reports(findings(), RUN, ["asff"])["asff"])
    items = {f["Id"]: f for f in doc["Findings"]}
    fs = findings()
    # gaps, waivers and errors with an account; no pass, no account-less deploy finding
    assert set(items) == {fs[0].id, fs[1].id, fs[3].id}
    gap = items[fs[0].id]
    assert gap["ProductArn"] == ("arn:aws:securityhub:us-west-2:123456789012:product/"
                                 "123456789012/default")  # the run's first region
    assert gap["AwsAccountId"] == "123456789012" and gap["Region"] == "us-east-1"
    assert gap["Resources"] == [{"Type": "AwsS3Bucket", "Id": BUCKET, "Partition": "aws",
                                 "Region": "us-east-1"}]
    assert gap["Compliance"]["Status"] == "FAILED" and gap["RecordState"] == "ACTIVE"
    assert gap["Workflow"] == {"Status": "NEW"}
    text = gap["Remediation"]["Recommendation"]["Text"]
    assert text.startswith(REMEDIATION["summary"] + "\nWhy: "
                           + BY_ID["backup-bucket-versioning"].why) and len(text) <= 512
    assert gap["GeneratorId"] == "dr-guard/backup-bucket-versioning"
    assert gap["CreatedAt"] == RUN["finished"]
    assert items[fs[1].id]["Workflow"] == {"Status": "SUPPRESSED"}
    assert items[fs[1].id]["Resources"][0]["Type"] == "AwsRdsDbInstance"
    assert items[fs[3].id]["Compliance"]["Status"] == "NOT_AVAILABLE"
    assert items[fs[3].id]["Resources"][0]["Type"] == "AwsAccount"
    for f in doc["Findings"]:
        assert len(f["Title"]) <= 256 and len(f["Description"]) <= 1024


@pytest.mark.parametrize("arn,kind", [
    ("arn:aws:s3:::b", "AwsS3Bucket"), ("arn:aws:rds:us-east-1:1:cluster:c", "AwsRdsDbCluster"),
    ("arn:aws:dynamodb:us-east-1:1:table/t", "AwsDynamoDbTable"),
    ("arn:aws:ec2:us-east-1:1:volume/vol-1", "AwsEc2Volume"), ("not-an-arn", "Other"),
    ("arn:aws:backup:us-east-1:1:backup-vault:v", "AwsBackupBackupVault")])
def test_asff_resource_types(arn: str, kind: str) -> None:
    assert asff_mod.resource_type(arn) == kind


def test_long_messages_are_cut_to_the_api_limits() -> None:
    f = Finding("backup-bucket-versioning", "fail", "live", BUCKET, "x" * 5000, "123456789012",
                "us-east-1", remediation={"summary": "y" * 900, "pulumi": "", "cli": None})
    (item,) = json.loads(render_reports([f], RUN, ["asff"])["asff"])["Findings"]
    assert len(item["Description"]) == 1024
    assert len(item["Remediation"]["Recommendation"]["Text"]) == 512
