"""Every property the deploy-side adapters read exists, under that name, on the type token they
read it from, per the pulumi_aws / pulumi_aws_native / pulumi_mongodbatlas SDKs.

A misspelt name, or a name another type or provider uses, reads None without a word, and the
check then passes or fails for the wrong reason. `tests.propnames.collect` finds what the
adapters read statically (its docstring says what it follows and what it cannot see: reads
through values it lost track of, keys computed at run time, `policypack.stack` itself);
`tests.propnames.check_path` resolves each (token, path) against the SDK: top-level names from
the resource class's getters and its `*Args` class, nested names through the `outputs` /
`_inputs` classes the getter annotations name (list items too); below a map, `Any` or a type
the SDK does not describe nothing is checked. The SDK sources are read as text (no import).

Reads the SDK does not name but that are right on purpose are listed in `EXPECTED`, each with
its reason; one that is no longer read is reported too, so the list stays exact.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from drguard.registry import SETTINGS_POLICY
from tests import propnames
from tests.harness.analyzer import run_stack

_NATIVE_FIELD_OPS = ("startsWiths", "endsWiths", "notStartsWiths", "notEndsWiths")
_AWS_FIELD_OPS = ("startsWith", "endsWith", "notStartsWith", "notEndsWith")
_SEL = "advancedEventSelectors.[].fieldSelectors.[]."
_AWS_BUCKETS = ("aws:s3/bucket:Bucket", "aws:s3/bucketV2:BucketV2")

# (token, dotted path: "[]" steps into list items) -> why reading it is right. "*" as the token:
# any token whose SDK lacks the name.
EXPECTED: dict[tuple[str, str], str] = {
    ("*", "region"): "Res.region: the resource's own region output where the type has one, "
                     "else its provider's region",
    ("*", "arn"): "ARN probe (arn, dbInstanceArn, dbClusterArn) over every fact: most "
                  "aws-native types name it otherwise or have none",
    ("*", "dbInstanceArn"): "ARN probe (arn, dbInstanceArn, dbClusterArn) over every fact: "
                            "aws-native RDS names its ARN output so",
    ("*", "dbClusterArn"): "ARN probe (arn, dbInstanceArn, dbClusterArn) over every fact: "
                           "aws-native RDS names its ARN output so",
    ("aws:ec2/snapshotCreateVolumePermission:SnapshotCreateVolumePermission", "tags"):
        "base() reads tags of every fact; this type has none",
    ("aws:iam/accessKey:AccessKey", "tags"): "base() reads tags of every fact; this type has none",
    ("aws-native:neptune:DbCluster", "engine"): "no engine property: the adapter falls back to "
                                                "neptune, the only engine of the type",
    # property dependencies and ids probed under both providers' names
    ("aws-native:backup:BackupPlan", "rules"): "property-dependency probe: pulumi-aws's name "
                                               "(rules / backupPlan)",
    ("aws:backup/plan:Plan", "backupPlan"): "property-dependency probe: aws-native's name "
                                            "(rules / backupPlan)",
    ("aws:backup/plan:Plan", "backupPlanId"): "plan id probe (id / backupPlanId): aws-native's "
                                              "name",
    ("aws:backup/selection:Selection", "backupPlanId"): "plan reference probe (planId / "
                                                        "backupPlanId): aws-native's name",
    ("aws-native:backup:BackupSelection", "planId"): "plan reference probe (planId / "
                                                     "backupPlanId): pulumi-aws's name",
    ("aws:backup/selection:Selection", "backupSelection"): "property-dependency probe "
                                                           "(resources / backupSelection)",
    ("aws-native:backup:BackupSelection", "resources"): "property-dependency probe "
                                                        "(resources / backupSelection)",
    # CloudTrail field selectors: every operator under both providers' spellings
    **{("aws:cloudtrail/trail:Trail", _SEL + op): "field-selector operator probe: aws-native's "
       "spelling (pulumi-aws adds an s)" for op in _AWS_FIELD_OPS},
    **{("aws-native:cloudtrail:Trail", _SEL + op): "field-selector operator probe: pulumi-aws's "
       "spelling" for op in _NATIVE_FIELD_OPS},
    # S3 buckets: pulumi-aws v7 Bucket (single blocks) and v6 BucketV2 (lists of blocks) are
    # read with one code path that tries each shape
    ("aws:s3/bucket:Bucket", "versionings"): "v6 BucketV2 shape, tried when versioning is unset",
    ("aws:s3/bucketV2:BucketV2", "versioning"): "v7 Bucket shape, tried first",
    ("aws:s3/bucket:Bucket", "objectLockConfiguration.rules"): "v6 BucketV2 shape, tried when "
                                                               "rule is unset",
    ("aws:s3/bucketV2:BucketV2", "objectLockConfiguration.rule"): "v7 Bucket shape, tried first",
    ("aws:s3/bucketV2:BucketV2", "replicationConfigurations.[].rules.[].destination"):
        "single-destination shape, tried before destinations",
    **{(t, p): "v6 BucketV2 destinations[] shape, tried when destination is unset"
       for t, p in (("aws:s3/bucket:Bucket", "replicationConfiguration.rules.[].destinations"),
                    ("aws-native:s3:Bucket", "replicationConfiguration.rules.[].destinations"),
                    ("aws:s3/bucketReplicationConfig:BucketReplicationConfig",
                     "rules.[].destinations"))},
    **{(t, "notificationConfiguration"): "aws-native's inline notifications, read on every "
       "bucket; pulumi-aws keeps them in BucketNotification (None here)" for t in _AWS_BUCKETS},
}


def _expected(token: str, path: str) -> str | None:
    return EXPECTED.get((token, path)) or EXPECTED.get(("*", path))


@pytest.fixture(scope="module")
def reads() -> propnames.Reads:
    return propnames.collect()


def test_every_property_read_is_named_so_by_the_sdk(reads: propnames.Reads) -> None:
    bad = propnames.mismatches(reads)
    unexpected = {k: v for k, v in bad.items() if _expected(*k) is None}
    assert not unexpected, "\n".join(
        f"{token} {path}: {why} (read in {', '.join(sorted(where))})"
        for (token, path), (why, where) in sorted(unexpected.items()))
    # an exception nothing needs any more is removed, so the list stays exact
    used = {k for k in EXPECTED if k in bad or (k[0] == "*" and any(
        p == k[1] for _, p in bad))}
    assert not set(EXPECTED) - used, sorted(set(EXPECTED) - used)


def test_the_collector_sees_the_reads_it_is_meant_to(reads: propnames.Reads) -> None:
    """What the check rests on: nested reads, per-token branches, helpers, fixers, links;
    and no read whose key it could not tell (such a read would go unchecked)."""
    assert reads.dynamic == set()
    found = reads.found
    for token, path in [
        ("aws:rds/instance:Instance", ("backupRetentionPeriod",)),  # adapter, per token
        ("aws-native:rds:DbInstance", ("dbInstanceIdentifier",)),
        ("aws-native:s3:Bucket", ("objectLockConfiguration", "rule", "defaultRetention",
                                  "days")),  # through a helper (retention)
        ("aws-native:dynamodb:GlobalTable", ("replicas", "[]", "pointInTimeRecoverySpecification",
                                             "pointInTimeRecoveryEnabled")),  # list items
        ("aws:s3/bucketNotification:BucketNotification", ("lambdaFunctions", "[]",
                                                          "lambdaFunctionArn")),  # zipped loop
        ("aws:backup/vaultLockConfiguration:VaultLockConfiguration", ("minRetentionDays",)),
        ("aws-native:backup:BackupSelection", ("backupSelection", "selectionName")),
        ("aws:redshift/cluster:Cluster", ("automatedSnapshotRetentionPeriod",)),  # a fixer
        ("aws:efs/backupPolicy:BackupPolicy", ("fileSystemId",)),  # model.deps in a link
        ("aws-native:dynamodb:GlobalTable", ("replicas", "[]", "tags")),  # remediation's tags
    ]:
        assert (token, path) in found, (token, path)
    # branches on the type are followed as they run: no aws-native name on a pulumi-aws type
    assert ("aws:rds/instance:Instance", ("dbInstanceIdentifier",)) not in found
    assert ("aws:dynamodb/table:Table", ("pointInTimeRecoverySpecification",)) not in found
    assert ("aws:s3/bucketNotification:BucketNotification", ("lambdaFunctions", "[]",
                                                             "topicArn")) not in found


def test_a_misspelt_name_fails_the_check() -> None:
    reads = propnames.Reads()
    reads.add("aws:rds/instance:Instance", ("backupRetentionPeriodInDays",), "x")
    reads.add("aws-native:s3:Bucket", ("objectLockConfiguration", "rule", "defaultRetention",
                                       "dayz"), "y")
    reads.add("aws:dynamodb/table:Table", ("pointInTimeRecovery", "enabled"), "z")
    bad = propnames.mismatches(reads)
    assert set(bad) == {
        ("aws:rds/instance:Instance", "backupRetentionPeriodInDays"),
        ("aws-native:s3:Bucket", "objectLockConfiguration.rule.defaultRetention.dayz")}
    assert "no property 'dayz'" in bad[("aws-native:s3:Bucket",
                                        "objectLockConfiguration.rule.defaultRetention.dayz")][0]


# ---- the defects the check found, through the real pack ------------------------------------------

def native_tagged() -> None:
    """aws-native resources whose tags live under their own names: backupVaultTags,
    backupPlanTags, the replicas' tags of a global table; and a selection whose AWS name is
    backupSelection.selectionName."""
    import pulumi_aws_native as aws_native

    aws_native.backup.BackupVault("ledger-vault", backup_vault_name="ledger-vault",
                                  backup_vault_tags={"team": "ledger"})
    plan = aws_native.backup.BackupPlan("ledger-plan", backup_plan={
        "backup_plan_name": "ledger-weekly",
        "backup_plan_rule": [{"rule_name": "weekly", "target_backup_vault": "ledger-vault",
                              "schedule_expression": "cron(0 3 ? * 1 *)"}]},
        backup_plan_tags={"team": "ledger"})
    aws_native.dynamodb.GlobalTable(
        "ledger-table", table_name="ledger", billing_mode="PAY_PER_REQUEST",
        attribute_definitions=[{"attribute_name": "id", "attribute_type": "S"}],
        key_schema=[{"attribute_name": "id", "key_type": "HASH"}],
        replicas=[{"region": "us-east-1", "tags": [{"key": "team", "value": "ledger"}]}])
    db = aws_native.rds.DbInstance("ledger-db", db_instance_identifier="ledger-db",
                                   engine="postgres", db_instance_class="db.t4g.micro",
                                   allocated_storage="20", backup_retention_period=7,
                                   deletion_protection=True)
    aws_native.backup.BackupSelection("ledger-selection", backup_plan_id=plan.id,
                                      backup_selection={
                                          "selection_name": "ledger-databases",
                                          "iam_role_arn": "arn:aws:iam::123456789012:role/b",
                                          "resources": [db.db_instance_arn]})


_TAGGED = {"backup-vault-lock": "ledger-vault", "backup-plan-frequency-retention": "ledger-plan",
           "dynamodb-recovery": "ledger-table"}


def _tag_waivers() -> dict[str, Any]:
    expires = (dt.date.today() + dt.timedelta(days=30)).isoformat()
    return {SETTINGS_POLICY: {"waivers": [
        {"control": c, "tags": {"team": "ledger"}, "reason": "ledger is rebuilt from the journal",
         "owner": "ledger-team", "expires": expires} for c in _TAGGED]}}


def test_native_tags_under_their_own_names_match_tag_waivers(analyzer, capture) -> None:  # noqa: ANN001
    cap = capture(native_tagged, preview=False)
    run = run_stack(analyzer, cap)
    for control, name in _TAGGED.items():
        assert any(name in d.urn for d in run.by_policy(control)), (control, run.names())
    analyzer.configure(_tag_waivers())
    run = run_stack(analyzer, cap)
    left = [c for c, name in _TAGGED.items() if any(name in d.urn for d in run.by_policy(c))]
    assert left == []


def test_native_selection_is_named_by_its_selection_name(analyzer, capture) -> None:  # noqa: ANN001
    run = run_stack(analyzer, capture(native_tagged, preview=False))
    (d,) = [d for d in run.by_policy("backup-cross-account-copy") if "ledger-db" in d.urn]
    assert "ledger-weekly/ledger-databases" in d.message, d.message


def test_remediation_leaves_a_global_table_waived_by_its_replicas_tags(analyzer, capture) -> None:  # noqa: ANN001
    from tests.test_remediate import REMEDIATE_ALL

    table = capture(native_tagged, preview=False).get("ledger-table")
    analyzer.configure(REMEDIATE_ALL)
    assert "dynamodb-recovery" in {r["policy_name"] for r in analyzer.remediate(table)
                                   .remediations}
    analyzer.configure({**REMEDIATE_ALL, **_tag_waivers()})
    rr = analyzer.remediate(table)
    assert "dynamodb-recovery" not in {r["policy_name"] for r in rr.remediations}
