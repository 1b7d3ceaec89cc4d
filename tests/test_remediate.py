"""The `remediate` enforcement level, over the Analyzer gRPC protocol as the engine drives it.

Programs are real pulumi_aws / pulumi_aws_native code captured under mocks; the pack runs as
the CLI runs it (tests/harness). The engine calls Remediate before Analyze for every resource
and sends the remediated inputs on; `run_stack` plays that.
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_aws_native as native
import pytest

from drguard.registry import BY_ID
from policypack.remediate import cannot, fixes, snapshot_identifier
from tests.harness.analyzer import make_resource, run_stack
from tests.harness.wire import SECRET_SIG, SIG_KEY, UNKNOWN, is_secret

PASSWORD = "pw-Remediate-77-secret"
SECRETS = {"config": {"dbPassword": PASSWORD}, "secrets": ["dbPassword"]}
# Everything at remediate that may be: the advisory controls the pack cannot remediate keep
# their own level (remediate there is refused, see test_all_remediate_is_refused...).
ADVISORY_UNFIXABLE = sorted(c.id for c in BY_ID.values()
                            if c.severity not in ("critical", "high") and c.id not in fixes())
REMEDIATE_ALL = {"all": "remediate", **{c: "advisory" for c in ADVISORY_UNFIXABLE}}
DB_CONTROLS = ("rds-backup-retention", "rds-deletion-protection", "rds-final-snapshot")


def weak() -> None:
    """Every remediable setting left weak, plus what remediation cannot fix."""
    pw = pulumi.Config().require_secret("dbPassword")
    aws.rds.Instance("weak-db", identifier="Weak_DB.01", engine="postgres",
                     instance_class="db.t4g.micro", allocated_storage=20, username="app",
                     password=pw, backup_retention_period=1, deletion_protection=False,
                     skip_final_snapshot=True)
    aws.rds.Instance("long-db", identifier="long-db", engine="postgres",
                     instance_class="db.t4g.micro", allocated_storage=20, username="app",
                     password=pw, backup_retention_period=30, deletion_protection=True,
                     skip_final_snapshot=False, final_snapshot_identifier="long-db-last",
                     delete_automated_backups=False, copy_tags_to_snapshot=True)
    aws.rds.Instance("replica-db", identifier="replica-db", replicate_source_db="long-db",
                     instance_class="db.t4g.micro", skip_final_snapshot=True)
    aws.rds.Cluster("aurora", cluster_identifier="aurora", engine="aurora-postgresql",
                    master_username="app", master_password=pw, skip_final_snapshot=True)
    aws.rds.ClusterInstance("aurora-1", cluster_identifier="aurora",
                            instance_class="db.r6g.large", engine="aurora-postgresql")
    aws.docdb.Cluster("docs", cluster_identifier="docs", master_username="app",
                      master_password=pw, skip_final_snapshot=True)
    aws.neptune.Cluster("graph", cluster_identifier="graph", skip_final_snapshot=True)
    aws.redshift.Cluster("warehouse", cluster_identifier="warehouse", node_type="ra3.xlplus",
                         master_username="app", master_password=pw,
                         automated_snapshot_retention_period=1, skip_final_snapshot=True)
    aws.dynamodb.Table("events", name="events", hash_key="id", billing_mode="PAY_PER_REQUEST",
                       attributes=[{"name": "id", "type": "S"}])
    aws.s3.BucketV2("legacy-backups", bucket="legacy-backups", force_destroy=True,
                    versionings=[{"enabled": False}])
    aws.s3.Bucket("inline-backups", bucket="inline-backups", versioning={"enabled": False})
    aws.s3.Bucket("split-backups", bucket="split-backups", force_destroy=True)
    aws.s3.Bucket("assets", bucket="assets", force_destroy=True)
    native.s3.Bucket("native-backups", bucket_name="native-backups",
                     versioning_configuration={"status": "Suspended"})


def unknowns() -> None:
    """Preview: values known only after the update, and secrets."""
    pw = pulumi.Config().require_secret("dbPassword")
    flag = aws.ssm.Parameter("retention", type="String", value="7")
    aws.rds.Instance("pending-db", identifier="pending-db", engine="postgres",
                     instance_class="db.t4g.micro", allocated_storage=20, username="app",
                     password=pw, backup_retention_period=flag.id.apply(lambda _: 3),
                     deletion_protection=pulumi.Output.secret(False),
                     skip_final_snapshot=True)
    holder = aws.s3.Bucket("tagged", tags={"dr:backup": "true"})
    aws.s3.Bucket("maybe-backups", force_destroy=True,
                  tags={"dr:backup": holder.id.apply(lambda _: "true")})


@pytest.fixture(scope="module")
def weak_stack(capture) -> Any:  # noqa: ANN001
    return capture(weak, preview=True, timeout=600, **SECRETS)


def _props(rr: Any) -> dict[str, Any]:
    """The inputs after the last remediation of one Remediate response."""
    with_props = [r for r in rr.remediations if r["properties"] is not None]
    assert with_props, rr
    return with_props[-1]["properties"]


def _by_name(rr: Any) -> dict[str, dict[str, Any]]:
    return {r["policy_name"]: r for r in rr.remediations}


def test_every_remediable_control_is_a_registry_control() -> None:
    missing = [c for c in fixes() if c not in BY_ID and c != "redshift-snapshot-retention"]
    assert not missing
    assert set(cannot()) <= set(BY_ID)
    assert {"rds-backup-retention", "rds-deletion-protection", "rds-final-snapshot",
            "dynamodb-recovery", "backup-bucket-versioning",
            "stateful-resource-protect"} <= set(fixes())
    assert {"backup-bucket-object-lock", "stateful-resource-protect",
            "backup-bucket-versioning"} <= set(cannot())
    assert snapshot_identifier("Weak_DB.01") == "weak-db-01-final"
    assert snapshot_identifier("9lives") == "db-9lives-final"


def test_rds_instance_is_fixed_in_wire_form_secrets_kept(analyzer, weak_stack) -> None:  # noqa: ANN001
    analyzer.configure(REMEDIATE_ALL)
    db = weak_stack.get("weak-db")
    rr = analyzer.remediate(db)
    assert set(_by_name(rr)) >= set(DB_CONTROLS)
    props = _props(rr)
    assert props["backupRetentionPeriod"] == 7
    assert props["deletionProtection"] is True
    assert props["skipFinalSnapshot"] is False
    assert props["finalSnapshotIdentifier"] == "weak-db-01-final"
    assert props["deleteAutomatedBackups"] is False
    assert "copyTagsToSnapshot" not in props  # not part of the control: never touched
    # The secret goes back as the same wire-form secret, never as plaintext.
    assert props["password"] == db["properties"]["password"]
    assert is_secret(props["password"]) and props["password"][SIG_KEY] == SECRET_SIG
    # Each remediation names what it set.
    assert "backupRetentionPeriod: 1 -> 7" in _by_name(rr)["rds-backup-retention"][
        "description"]
    # Analyzing the remediated inputs passes those controls.
    after = analyzer.analyze({**db, "properties": props})
    assert not [d for d in after.diagnostics if d.policy_name in DB_CONTROLS], after


def test_analyzing_the_remediated_stack_passes_what_was_fixed(analyzer, weak_stack) -> None:  # noqa: ANN001
    analyzer.configure(REMEDIATE_ALL)
    run = run_stack(analyzer, weak_stack)
    fixed = ("rds-backup-retention", "rds-deletion-protection", "rds-final-snapshot",
             "dynamodb-recovery")
    left = [(d.policy_name, d.urn.rsplit("::", 1)[-1]) for d in run.diagnostics
            if d.policy_name in fixed]
    assert not left, left
    # Inline versioning was fixed; the bucket that needs a BucketVersioning resource was not.
    versioning = {d.message.split("'")[1] for d in run.by_policy("backup-bucket-versioning")
                  for _ in [0] if "'" in d.message}
    assert "split-backups" in " ".join(d.message for d in
                                       run.by_policy("backup-bucket-versioning"))
    assert not versioning & {"legacy-backups", "inline-backups", "native-backups"}
    # protect cannot be remediated: it stays a (mandatory) violation with its message.
    protect = run.by_policy("stateful-resource-protect")
    assert protect and all(d.enforcement_level == "mandatory" for d in protect)
    assert any("not protected" in d.message for d in protect)
    assert not any("forceDestroy is true" in d.message for d in protect)
    # Object Lock cannot be remediated either.
    assert run.by_policy("backup-bucket-object-lock")


def test_mandatory_controls_do_not_remediate(analyzer, weak_stack) -> None:  # noqa: ANN001
    db = weak_stack.get("weak-db")
    assert analyzer.remediate(db).remediations == []  # default config: nothing at remediate
    analyzer.configure({**REMEDIATE_ALL, "rds-deletion-protection": "mandatory"})
    rr = analyzer.remediate(db)
    assert "rds-deletion-protection" not in _by_name(rr)
    assert _props(rr)["deletionProtection"] is False
    after = analyzer.analyze({**db, "properties": _props(rr)})
    dp = [d for d in after.diagnostics if d.policy_name == "rds-deletion-protection"]
    assert dp and dp[0].enforcement_level == "mandatory"


def test_parameters_are_respected_and_passing_values_never_lowered(analyzer, weak_stack) -> None:  # noqa: ANN001
    analyzer.configure({"rds-backup-retention": {"enforcementLevel": "remediate",
                                                 "minRetentionDays": 14}})
    rr = analyzer.remediate(weak_stack.get("weak-db"))
    assert set(_by_name(rr)) == {"rds-backup-retention"}
    assert _props(rr)["backupRetentionPeriod"] == 14
    analyzer.configure(REMEDIATE_ALL)
    assert analyzer.remediate(weak_stack.get("long-db")).remediations == []  # 30 days stays
    # A read replica is exempt from retention (checkReadReplicas false) and not raised.
    rr = analyzer.remediate(weak_stack.get("replica-db"))
    assert "rds-backup-retention" not in _by_name(rr)


def test_waived_resources_are_left_alone(analyzer, weak_stack) -> None:  # noqa: ANN001
    analyzer.configure({**REMEDIATE_ALL, "dr-guard-settings": {"waivers": [
        {"control": "rds-deletion-protection", "resource": "*::weak-db",
         "reason": "scratch database, rebuilt nightly", "owner": "platform-team",
         "expires": "2099-12-31"}]}})
    rr = analyzer.remediate(weak_stack.get("weak-db"))
    assert "rds-deletion-protection" not in _by_name(rr)
    assert _props(rr)["deletionProtection"] is False
    assert _props(rr)["backupRetentionPeriod"] == 7  # other controls still remediate


def test_unknowns_and_secrets_are_untouched(analyzer, capture) -> None:  # noqa: ANN001
    cap = capture(unknowns, preview=True, timeout=600, **SECRETS)
    analyzer.configure(REMEDIATE_ALL)
    db = cap.get("pending-db")
    assert db["properties"]["backupRetentionPeriod"] == UNKNOWN
    assert is_secret(db["properties"]["deletionProtection"])
    rr = analyzer.remediate(db)
    props = _props(rr)  # the final-snapshot settings are still fixed
    assert props["backupRetentionPeriod"] == UNKNOWN
    assert props["deletionProtection"] == db["properties"]["deletionProtection"]
    assert "rds-backup-retention" not in _by_name(rr)
    assert "rds-deletion-protection" not in _by_name(rr)
    assert props["skipFinalSnapshot"] is False
    # A bucket whose backup tag is not known yet is not decided on.
    rr = analyzer.remediate(cap.get("maybe-backups"))
    assert "stateful-resource-protect" not in _by_name(rr)


def test_clusters_tables_and_buckets(analyzer, weak_stack) -> None:  # noqa: ANN001
    analyzer.configure(REMEDIATE_ALL)
    aurora = _props(analyzer.remediate(weak_stack.get("aurora")))
    assert aurora["backupRetentionPeriod"] == 7 and aurora["deletionProtection"] is True
    assert aurora["finalSnapshotIdentifier"] == "aurora-final"
    assert aurora["deleteAutomatedBackups"] is False
    assert analyzer.remediate(weak_stack.get("aurora-1")).remediations == []  # a member
    docs = _props(analyzer.remediate(weak_stack.get("docs")))
    assert docs["skipFinalSnapshot"] is False and docs["finalSnapshotIdentifier"] == \
        "docs-final" and "deleteAutomatedBackups" not in docs
    graph = _props(analyzer.remediate(weak_stack.get("graph")))
    assert graph["skipFinalSnapshot"] is False and graph["deletionProtection"] is True
    assert "copyTagsToSnapshot" not in graph
    table = _props(analyzer.remediate(weak_stack.get("events")))
    assert table["pointInTimeRecovery"] == {"enabled": True}
    assert table["deletionProtectionEnabled"] is True
    # pulumi_aws_native's Table cannot register under the Python SDK's mocks (its key_schema
    # type is a Union the serializer rejects): a hand-built resource in the same wire shape.
    ntable = _props(analyzer.remediate(make_resource(
        "aws-native:dynamodb:Table", "native-events",
        {"tableName": "native-events", "billingMode": "PAY_PER_REQUEST",
         "keySchema": [{"attributeName": "id", "keyType": "HASH"}]})))
    assert ntable["pointInTimeRecoverySpecification"] == {"pointInTimeRecoveryEnabled": True}
    legacy = _props(analyzer.remediate(weak_stack.get("legacy-backups")))
    assert legacy["versionings"][0]["enabled"] is True and legacy["forceDestroy"] is False
    inline = _props(analyzer.remediate(weak_stack.get("inline-backups")))
    assert inline["versioning"]["enabled"] is True
    nbucket = _props(analyzer.remediate(weak_stack.get("native-backups")))
    assert nbucket["versioningConfiguration"] == {"status": "Enabled"}
    split = analyzer.remediate(weak_stack.get("split-backups"))
    assert _props(split)["forceDestroy"] is False and "versioning" not in _props(split)
    # Not a backup bucket: forceDestroy is the owner's business.
    assert analyzer.remediate(weak_stack.get("assets")).remediations == []
    if "redshift-snapshot-retention" in analyzer.get_analyzer_info().names:
        wh = _props(analyzer.remediate(weak_stack.get("warehouse")))
        assert wh["automatedSnapshotRetentionPeriod"] == 7
        assert wh["skipFinalSnapshot"] is False
        assert wh["finalSnapshotIdentifier"] == "warehouse-final"


def test_what_cannot_be_fixed_says_why(analyzer, weak_stack) -> None:  # noqa: ANN001
    analyzer.configure(REMEDIATE_ALL)
    rr = analyzer.remediate(weak_stack.get("split-backups"))
    reasons = {n.policy_name: n.reason for n in rr.not_applicable}
    # Each reason is the control's declared one, word for word.
    for control in ("backup-bucket-object-lock", "stateful-resource-protect",
                    "backup-bucket-versioning", "backup-bucket-replication",
                    "backup-bucket-public-access-block"):
        declared = BY_ID[control].cannot_remediate
        assert declared and reasons[control].endswith(declared), (control, reasons[control])
    assert "BucketObjectLockConfiguration" in reasons["backup-bucket-object-lock"]


def test_all_remediate_is_refused_in_one_line_naming_the_advisory_controls(analyzer) -> None:  # noqa: ANN001
    import grpc

    assert ADVISORY_UNFIXABLE  # else `all: remediate` would be safe and this test moot
    with pytest.raises(grpc.RpcError) as e:
        analyzer.configure({"all": "remediate"})
    details = e.value.details()
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "\n" not in details
    served = [c for c in ADVISORY_UNFIXABLE if c in analyzer.get_analyzer_info().names]
    assert served and all(c in details for c in served), details
    assert '"all": "remediate"' in details and "blocking" in details
    # Per control, or with the advisory ones at their own level, it is accepted.
    analyzer.configure(REMEDIATE_ALL)
    analyzer.configure({"rds-final-snapshot": "remediate", served[0]: "mandatory"})


def compliant_db() -> None:
    aws.rds.Instance("tidy-db", identifier="tidy-db", engine="postgres",
                     instance_class="db.t4g.micro", allocated_storage=20, username="app",
                     password="not-a-real-password", backup_retention_period=14,
                     deletion_protection=True, skip_final_snapshot=False,
                     final_snapshot_identifier="tidy-db-last", delete_automated_backups=False,
                     copy_tags_to_snapshot=False)


def test_a_compliant_database_is_not_changed(analyzer, capture) -> None:  # noqa: ANN001
    cap = capture(compliant_db, preview=True, timeout=600)
    analyzer.configure(REMEDIATE_ALL)
    db = cap.get("tidy-db")
    rr = analyzer.remediate(db)
    assert rr.remediations == [], [r.description for r in rr.remediations]
    assert db["properties"]["copyTagsToSnapshot"] is False
