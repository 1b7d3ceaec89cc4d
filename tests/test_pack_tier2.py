"""Tier 2 and 3 controls in the policy pack, driven over gRPC as the Pulumi engine drives it.

Programs: examples/dr-ready-stack (passes everything), examples/drifting-stack (fails, with the
traps), examples/org-guardrails, and tests/pack_programs_tier2.py; all captured under mocks,
in preview and in update mode."""

from __future__ import annotations

import json

import pytest
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE as UNKNOWN_STRING

from drguard import alerts
from drguard.registry import BY_ID
from drguard.scope import Scope
from drguard.settings import Settings
from policypack.adapters import Res
from policypack.checks import evaluate
from policypack.services import CATALOG
from policypack.stack import StackModel
from tests import pack_programs_tier2 as programs
from tests.harness.analyzer import StackRun, run_stack

TIER23 = ["backup-bucket-replication", "rds-cross-region-backup",
          "backup-bucket-deletion-alerts", "scp-deny-backup-deletion",
          "backup-bucket-public-access-block", "iam-access-key-rotation",
          "ebs-snapshot-coverage", "dynamodb-recovery", "backup-vault-lock",
          "mongodb-atlas-backup", "cloudtrail-bucket-protected"]
STACK_POLICIES = {"cloudtrail-bucket-protected", "backup-bucket-replication",
                  "rds-cross-region-backup",
                  "backup-bucket-deletion-alerts", "scp-deny-backup-deletion",
                  "backup-bucket-public-access-block", "ebs-snapshot-coverage",
                  "backup-vault-lock"}
DB_SECRET = {"config": {"dbPassword": "pw-Zq81-secret"}, "secrets": ["dbPassword"]}


@pytest.fixture(scope="module", params=[True, False], ids=["preview", "update"])
def mode(request: pytest.FixtureRequest) -> bool:
    return request.param


def _one(run: StackRun, policy: str, urn: str) -> str:
    found = [d for d in run.by_policy(policy) if d.urn == urn]
    assert len(found) == 1, (policy, urn, [(d.urn, d.message) for d in run.by_policy(policy)])
    return found[0].message


def _urns(run: StackRun, policy: str) -> set[str]:
    return {d.urn for d in run.by_policy(policy)}


def test_policies_come_from_the_registry(analyzer) -> None:  # noqa: ANN001
    info = analyzer.get_analyzer_info()
    for name in TIER23:
        p = info.policy(name)
        control = BY_ID[name]
        assert p.severity == control.severity
        assert p.enforcement_level == ("mandatory" if control.severity in ("high", "critical")
                                       else "advisory")
        assert p.policy_type == ("stack" if name in STACK_POLICIES else "resource")
        for param in control.params:
            assert p.config_schema[param.name]["default"] == param.default
    scp = info.policy("scp-deny-backup-deletion").config_schema["requiredDenyActions"]
    assert "s3:DeleteBucket" in scp["default"] and scp["minItems"] == 1


def test_dr_ready_stack_passes_every_deploy_control(analyzer, capture, mode) -> None:  # noqa: ANN001
    run = run_stack(analyzer, capture("examples/dr-ready-stack", preview=mode, **DB_SECRET))
    notes = run.diagnostics
    if mode:
        # Preview: the stack's own account is not known yet (no ARN is), so whether the backup
        # account's vault is "another" account is one advisory note, never a violation.
        notes = [d for d in notes if not (d.policy_name == "backup-cross-account-copy"
                                          and d.enforcement_level == "advisory"
                                          and "during preview" in d.message)]
    assert notes == [], "\n".join(f"{d.policy_name}: {d.message}" for d in notes)


def test_drifting_stack_fails_with_the_traps(analyzer, capture, mode) -> None:  # noqa: ANN001
    cap = capture("examples/drifting-stack", preview=mode, **DB_SECRET)
    run = run_stack(analyzer, cap)
    urn = {name: cap.get(name)["urn"] for name in (
        "db-backups", "db-backups-copy", "archive-backups", "orders-db", "ledger", "native-db",
        "orders-ledger", "primary-vault", "app-data", "ci-deployer-key", "native-backups")}
    # Replication to a bucket in the same region is no cross-region copy.
    msg = _one(run, "backup-bucket-replication", urn["db-backups"])
    assert "replicates only within us-east-1" in msg and "db-backups-copy" in msg
    assert "is not replicated" in _one(run, "backup-bucket-replication", urn["archive-backups"])
    # The copy is a backup bucket too (replication destination), but not a cross-region one.
    assert urn["db-backups-copy"] in _urns(run, "backup-bucket-replication")
    # An EventBridge rule on PutObject only alerts on nothing that deletes.
    msg = _one(run, "backup-bucket-deletion-alerts", urn["db-backups"])
    assert "notify no one" in msg
    assert "matches PutObject on the bucket but none of DeleteObject, DeleteObjects, " \
           "DeleteBucket" in msg
    assert urn["native-backups"] in _urns(run, "backup-bucket-public-access-block")
    assert {urn["orders-db"], urn["ledger"], urn["native-db"]} <= _urns(
        run, "rds-cross-region-backup")
    assert "pointInTimeRecovery.enabled is unset" in _one(run, "dynamodb-recovery",
                                                          urn["orders-ledger"])
    assert "has no vault lock" in _one(run, "backup-vault-lock", urn["primary-vault"])
    assert "is not backed up" in _one(run, "ebs-snapshot-coverage", urn["app-data"])
    assert "long-lived credential" in _one(run, "iam-access-key-rotation",
                                           urn["ci-deployer-key"])
    # The trail writes to a bucket of the same stack that is neither versioned nor locked.
    msg = _one(run, "cloudtrail-bucket-protected", cap.get("org-audit")["urn"])
    assert "which lacks versioning and Object Lock: the audit log can be erased" in msg
    levels = {d.policy_name: d.enforcement_level for d in run if d.policy_name in TIER23}
    assert levels["iam-access-key-rotation"] == levels["ebs-snapshot-coverage"] == "advisory"
    assert levels["backup-bucket-replication"] == "mandatory"
    assert not [d for d in run if "preview" in d.message]


def test_scp_content_is_parsed_and_must_be_attached(analyzer, capture, mode) -> None:  # noqa: ANN001
    partial = run_stack(analyzer, capture(programs.scp_partial, preview=mode))
    (d,) = partial.by_policy("scp-deny-backup-deletion")
    assert d.enforcement_level == "mandatory"
    assert "The organization root r-a1b2 is not covered: no attached SCP denies " \
           "s3:DeleteBucket (SCPs considered: partial-scp)" in d.message

    lonely = run_stack(analyzer, capture(programs.scp_unattached, preview=mode))
    (d,) = lonely.by_policy("scp-deny-backup-deletion")
    assert "SCP 'lonely-scp' is defined but attached to nothing" in d.message

    for program in (programs.scp_wildcards, programs.scp_not_action):
        run = run_stack(analyzer, capture(program, preview=mode))
        assert run.by_policy("scp-deny-backup-deletion") == [], program.__name__
    org = run_stack(analyzer, capture("examples/org-guardrails", preview=mode,
                                      config={"rootId": "r-a1b2"}))
    assert org.diagnostics == []


def test_scp_break_glass_a_member_admin_can_create_fails(analyzer, capture, mode) -> None:  # noqa: ANN001
    """A break-glass exemption counts only when a member account's admin cannot become the
    exempted role; the fix keeps the break-glass and guards it."""
    run = run_stack(analyzer, capture(programs.scp_takeover_break_glass, preview=mode))
    (d,) = run.by_policy("scp-deny-backup-deletion")
    assert d.enforcement_level == "mandatory"
    assert ("Statement DenyBackupDestruction of SCP break-glass-scp exempts "
            "arn:aws:iam::*:role/BreakGlass, which an admin of a covered account can create or "
            "take over: also deny iam:CreateRole, iam:UpdateAssumeRolePolicy, "
            "iam:AttachRolePolicy, iam:PutRolePolicy on it to every other principal.") \
        in d.message


def test_required_actions_are_a_parameter(analyzer, capture) -> None:  # noqa: ANN001
    cap = capture(programs.scp_partial, preview=False)
    analyzer.configure({"scp-deny-backup-deletion": {
        "requiredDenyActions": ["s3:DeleteObjectVersion", "rds:DeleteDBSnapshot"]}})
    assert run_stack(analyzer, cap).by_policy("scp-deny-backup-deletion") == []


def test_replication_region_comes_from_the_destination(analyzer, capture, mode) -> None:  # noqa: ANN001
    cap = capture(programs.replication_regions, preview=mode)
    run = run_stack(analyzer, cap)
    failing = _urns(run, "backup-bucket-replication")
    # Destination with its own `region` (pulumi-aws v7): cross-region, and the replica itself
    # is that copy.
    assert cap.get("ledger-backups")["urn"] not in failing
    assert cap.get("ledger-backups-eu")["urn"] not in failing
    msg = _one(run, "backup-bucket-replication", cap.get("audit-backups")["urn"])
    assert "someone-elses-bucket, whose region is not known" in msg
    assert "is not replicated" in _one(run, "backup-bucket-replication",
                                       cap.get("paused-backups")["urn"])


def test_deletion_alert_paths(analyzer, capture, mode) -> None:  # noqa: ANN001
    cap = capture(programs.deletion_alert_paths, preview=mode)
    run = run_stack(analyzer, cap)
    failing = _urns(run, "backup-bucket-deletion-alerts")
    assert cap.get("notified-backups")["urn"] not in failing
    assert cap.get("watched-backups")["urn"] not in failing
    assert cap.get("created-only-backups")["urn"] in failing
    assert "has no target" in _one(run, "backup-bucket-deletion-alerts",
                                   cap.get("untargeted-backups")["urn"])
    assert "no logging trail records S3 write data events" in _one(
        run, "backup-bucket-deletion-alerts", cap.get("unlogged-backups")["urn"])
    assert not [d for d in run if "preview" in d.message]


def test_unknown_pattern_is_advisory_in_preview_and_judged_on_update(analyzer,
                                                                     capture) -> None:  # noqa: ANN001
    preview = run_stack(analyzer, capture(programs.s3_eventbridge_alert, preview=True))
    (d,) = preview.by_policy("backup-bucket-deletion-alerts")
    assert d.enforcement_level == "advisory" and "cannot be checked during preview" in d.message
    update = run_stack(analyzer, capture(programs.s3_eventbridge_alert, preview=False))
    assert update.by_policy("backup-bucket-deletion-alerts") == []


def test_tier3_tables_vaults_volumes(analyzer, capture, mode) -> None:  # noqa: ANN001
    cap = capture(programs.tier3_resources, preview=mode)
    run = run_stack(analyzer, cap)
    assert _urns(run, "dynamodb-recovery") == {cap.get("no-pitr-table")["urn"]}
    msg = _one(run, "backup-vault-lock", cap.get("short-vault")["urn"])
    assert "keeps recovery points only 1 day, below 7" in msg
    assert _urns(run, "backup-vault-lock") == {cap.get("short-vault")["urn"]}
    # Covered through an AWS Backup selection by tag.
    assert _urns(run, "ebs-snapshot-coverage") == {cap.get("bare-volume")["urn"]}
    assert not run.by_policy("stateful-resource-protect")

    analyzer.configure({"backup-vault-lock": {"minRetentionDays": 60}})
    raised = run_stack(analyzer, cap)
    assert len(raised.by_policy("backup-vault-lock")) == 2


def test_atlas_clusters(analyzer, capture, mode) -> None:  # noqa: ANN001
    cap = capture(programs.atlas_clusters, preview=mode)
    run = run_stack(analyzer, cap)
    assert _urns(run, "mongodb-atlas-backup") == {cap.get("no-backup")["urn"],
                                                  cap.get("advanced-no-backup")["urn"]}
    assert "set backupEnabled to true" in _one(run, "mongodb-atlas-backup",
                                               cap.get("advanced-no-backup")["urn"])


def test_backup_copy_to_the_same_region_is_no_cross_region_copy(analyzer, capture,
                                                                 mode) -> None:  # noqa: ANN001
    cap = capture(programs.backup_copy_same_region, preview=mode)
    run = run_stack(analyzer, cap)
    msg = _one(run, "rds-cross-region-backup", cap.get("billing-db")["urn"])
    assert "has no recovery point outside us-east-1" in msg


# ---- the stack model's links, on hand-built resources (shapes the programs above do not
# reach: chains, aws-native inline settings, default policies, custom buses) -----------------

def _res(type_: str, name: str, props: dict, deps: dict | None = None,
         region: str = "us-east-1") -> Res:
    return Res(type=type_, urn=f"urn:pulumi:dev::p::{type_}::{name}", name=name,
               props={"region": region, **props} if type_.startswith("aws:") else props,
               protect=True, provider_props={"region": region}, property_deps=deps or {})


def _verdicts(resources: list[Res], control: str) -> dict[str, str]:
    return {fact.name: v.status for c, fact, v in evaluate(resources, Settings())
            if c == control}


def test_replication_chain_scopes_every_copy() -> None:
    a = _res("aws:s3/bucket:Bucket", "a", {"bucket": "ledger-backups"})
    b = _res("aws:s3/bucket:Bucket", "b", {"bucket": "ledger-copy"}, region="us-west-2")
    c = _res("aws:s3/bucket:Bucket", "c", {"bucket": "ledger-copy-2"}, region="eu-west-1")
    ab = _res("aws:s3/bucketReplicationConfig:BucketReplicationConfig", "ab", {
        "bucket": "ledger-backups",
        "rules": [{"status": "Enabled", "destination": {"bucket": "arn:aws:s3:::ledger-copy"}}]})
    bc = _res("aws:s3/bucketReplicationConfig:BucketReplicationConfig", "bc", {
        "bucket": "ledger-copy",
        "rules": [{"status": "Enabled",
                   "destination": {"bucket": "arn:aws:s3:::ledger-copy-2"}}]})
    model = StackModel.build([a, b, c, ab, bc], Scope(), CATALOG)
    scoped = {x.name: x.scope_reasons for x in model.buckets}
    assert scoped["ledger-copy-2"] == ["replication destination of backup bucket ledger-copy"]
    assert _verdicts([a, b, c, ab, bc], "backup-bucket-replication") == {
        "ledger-backups": "pass", "ledger-copy": "pass", "ledger-copy-2": "pass"}


def test_aws_native_inline_settings_and_default_dlm_policy() -> None:
    table = _res("aws-native:dynamodb:GlobalTable", "g", {"tableName": "orders", "replicas": [
        {"region": "us-east-1", "deletionProtectionEnabled": True,
         "pointInTimeRecoverySpecification": {"pointInTimeRecoveryEnabled": True}},
        {"region": "us-west-2", "deletionProtectionEnabled": True}]})
    vault = _res("aws-native:backup:BackupVault", "v", {
        "backupVaultName": "vault", "lockConfiguration": {"minRetentionDays": 30.0,
                                                          "changeableForDays": 3.0}})
    volume = _res("aws:ebs/volume:Volume", "vol", {"size": 10.0})
    dlm = _res("aws:dlm/lifecyclePolicy:LifecyclePolicy", "d", {"defaultPolicy": "VOLUME"})
    resources = [table, vault, volume, dlm]
    assert _verdicts(resources, "dynamodb-recovery") == {"orders": "fail"}
    assert _verdicts(resources, "backup-vault-lock") == {"vault": "pass"}
    # without a grace time the lock is in governance mode: an admin removes it
    governance = _res("aws-native:backup:BackupVault", "v", {
        "backupVaultName": "vault", "lockConfiguration": {"minRetentionDays": 30.0}})
    assert _verdicts([governance], "backup-vault-lock") == {"vault": "fail"}
    assert _verdicts(resources, "ebs-snapshot-coverage") == {"vol": "pass"}
    elsewhere = _res("aws:dlm/lifecyclePolicy:LifecyclePolicy", "d", {"defaultPolicy": "VOLUME"},
                     region="eu-west-1")
    assert _verdicts([volume, elsewhere], "ebs-snapshot-coverage") == {"vol": "fail"}


def test_rules_on_a_custom_bus_never_see_s3_events() -> None:
    bucket = _res("aws:s3/bucket:Bucket", "b", {"bucket": "x-backups"})
    pattern = json.dumps({"source": ["aws.s3"]})
    rule = _res("aws:cloudwatch/eventRule:EventRule", "r", {
        "name": "r", "eventPattern": pattern, "eventBusName": "audit-bus"})
    target = _res("aws:cloudwatch/eventTarget:EventTarget", "t", {"rule": "r", "arn": "arn:t"})
    notif = _res("aws:s3/bucketNotification:BucketNotification", "n", {
        "bucket": "x-backups", "eventbridge": True})
    assert _verdicts([bucket, rule, target, notif],
                     "backup-bucket-deletion-alerts") == {"x-backups": "fail"}
    rule.props.pop("eventBusName")
    assert _verdicts([bucket, rule, target, notif],
                     "backup-bucket-deletion-alerts") == {"x-backups": "pass"}


def test_scp_attached_to_an_ou_created_alongside_counts_as_attached() -> None:
    """During preview the OU's id is unknown: the attachment names it by its resource."""
    def program(actions: list[str]) -> list[Res]:
        doc = json.dumps({"Statement": [{"Effect": "Deny", "Action": actions,
                                         "Resource": "*"}]})
        policy = _res("aws:organizations/policy:Policy", "p", {"content": doc})
        ou = "urn:pulumi:dev::p::aws:organizations/organizationalUnit:OrganizationalUnit::wl"
        att = _res("aws:organizations/policyAttachment:PolicyAttachment", "a",
                   {"policyId": UNKNOWN_STRING, "targetId": UNKNOWN_STRING},
                   {"policyId": [policy.urn], "targetId": [ou]})
        return [policy, att]

    def verdict(resources: list[Res]):  # noqa: ANN202
        (v,) = [v for c, _, v in evaluate(resources, Settings())
                if c == "scp-deny-backup-deletion"]
        return v

    partial = verdict(program(["s3:DeleteBucket"]))
    assert partial.status == "fail"
    assert partial.message.startswith("Target (pending wl) is not covered: no attached SCP "
                                      "denies s3:PutBucketVersioning")
    full = verdict(program(list(BY_ID["scp-deny-backup-deletion"].defaults()
                                ["requiredDenyActions"])))
    assert full.status == "pass" and "attached to target (pending wl) only" in \
        full.evidence["note"]


def test_scp_break_glass_in_the_management_account_counts_once_its_arn_is_known() -> None:
    """Deploy side: the accounts under the root are unknown, but the SCP's ARN names the
    management account, which no SCP governs: a break-glass role there is out of reach of
    every member admin. Before the SCP exists (no ARN) that account is unknown: it fails."""
    mgmt = "999999999999"
    bg = f"arn:aws:iam::{mgmt}:role/BreakGlass"
    doc = json.dumps({"Statement": [{
        "Effect": "Deny", "Action": BY_ID["scp-deny-backup-deletion"].defaults()[
            "requiredDenyActions"], "Resource": "*",
        "Condition": {"ArnNotLike": {"aws:PrincipalArn": bg}}}]})

    def verdict(props: dict):  # noqa: ANN202
        policy = _res("aws:organizations/policy:Policy", "p", {"content": doc, **props})
        att = _res("aws:organizations/policyAttachment:PolicyAttachment", "a",
                   {"policyId": UNKNOWN_STRING, "targetId": "r-a1b2"},
                   {"policyId": [policy.urn]})
        (v,) = [v for c, _, v in evaluate([policy, att], Settings())
                if c == "scp-deny-backup-deletion"]
        return v

    arn = f"arn:aws:organizations::{mgmt}:policy/o-a1b2/service_control_policy/p-1"
    assert verdict({"arn": arn}).status == "pass"
    unknown = verdict({})
    assert unknown.status == "fail"
    assert (f"exempts {bg}, which an admin of account {mgmt} (unless it is the management "
            "account) can create or take over") in unknown.message


def test_rule_index_answers_like_every_rule() -> None:
    """The per-region rule index (linear time) must judge each bucket exactly as passing all
    rules would."""
    deletes = ["DeleteObject", "DeleteObjects", "DeleteBucket"]
    patterns = [
        {"source": ["aws.s3"], "detail": {"eventName": deletes,
                                          "requestParameters": {"bucketName": ["a-backups"]}}},
        {"source": ["aws.s3"], "detail": {"eventName": deletes, "requestParameters": {
            "bucketName": [{"prefix": "b-"}]}}},
        {"source": ["aws.s3"], "detail": {"eventName": deletes, "requestParameters": {
            "bucketName": [{"anything-but": ["c-backups"]}]}}},
        {"$or": [{"resources": ["arn:aws:s3:::d-backups"]},
                 {"detail": {"requestParameters": {"bucketName": ["e-backups"]}}}],
         "source": ["aws.s3"]},
        {"source": ["aws.s3"], "detail": {"eventName": ["PutObject"]}},
        {"source": ["aws.s3"], "account": ["123456789012"],
         "detail": {"eventName": deletes}},
        {"source": ["aws.ec2"]},
    ]
    names = ["a-backups", "b-backups", "c-backups", "d-backups", "e-backups", "z-backups"]
    trails = [alerts.Trail("t", True)]
    alerted = set()
    for account in ("123456789012", None):
        for s3_eventbridge in (True, False):
            rules = [alerts.Rule(f"r{i}", json.dumps(p), True, ["arn:t"])
                     for i, p in enumerate(patterns)]
            index = alerts.RuleIndex(rules, "us-east-1", account)
            for name in names:
                a, b = alerts.Alerts(), alerts.Alerts()
                alerts.eventbridge_alerts(name, "us-east-1", account, rules, trails,
                                          s3_eventbridge, a)
                alerts.eventbridge_alerts(name, "us-east-1", account, index.for_bucket(name),
                                          trails, s3_eventbridge, b)
                key = (name, account, s3_eventbridge)
                assert sorted(map(str, a.alerts)) == sorted(map(str, b.alerts)), key
                assert sorted(a.notes) == sorted(b.notes) and a.unknown == b.unknown, key
                if a.alerts:
                    alerted.add(name)
    assert alerted == set(names)  # each bucket is alerted on by at least one kind of rule


def test_a_region_unknown_at_preview_is_said_not_decided(analyzer, capture) -> None:  # noqa: ANN001
    cap = capture(programs.region_from_environment, preview=True)
    assert cap.get("env-db-west")["outputs"]["region"] == UNKNOWN_STRING
    run = run_stack(analyzer, cap)
    blocking = {d.urn for d in run.by_policy("rds-cross-region-backup")
                if d.enforcement_level == "mandatory"}
    # With copies whose placement cannot be decided: not blocked, said to be unknown.
    for name in ("env-db-west", "env-db-env"):
        assert cap.get(name)["urn"] not in blocking, name
    notes = " ".join(d.message for d in run.diagnostics
                     if d.policy_name == "rds-cross-region-backup"
                     and d.enforcement_level == "advisory")
    assert "env-db-west" in notes and "env-db-env" in notes
    assert "region unknown at preview" in notes
    # Without any copy there is nothing outside its region, whatever that region is.
    msg = _one(run, "rds-cross-region-backup", cap.get("env-db-alone")["urn"])
    assert "has no recovery point outside its region" in msg
    # On update the region is known: the copy through the same provider is no other region.
    done = capture(programs.region_from_environment, preview=False)
    run = run_stack(analyzer, done)
    assert _urns(run, "rds-cross-region-backup") == {done.get("env-db-env")["urn"],
                                                     done.get("env-db-alone")["urn"]}


def test_destination_accounts_pin_where_copies_must_go(analyzer, capture) -> None:  # noqa: ANN001
    """dr-ready-stack copies to its backup account (111122223333). Pinned to that account, it
    still passes; pinned to another one (the vault account an intruder would not control),
    every copy it makes is one that does not count, and the policy says where they go."""
    cap = capture("examples/dr-ready-stack", preview=False, **DB_SECRET)
    try:
        analyzer.configure({"backup-cross-account-copy": {
            "destinationAccounts": ["111122223333"]}})
        assert run_stack(analyzer, cap).by_policy("backup-cross-account-copy") == []
        analyzer.configure({"backup-cross-account-copy": {
            "destinationAccounts": ["444455556666"]}})
        found = run_stack(analyzer, cap).by_policy("backup-cross-account-copy")
        assert found and all(d.enforcement_level == "mandatory" for d in found)
        assert all("account 111122223333, which is not one of destinationAccounts "
                   "(444455556666)" in d.message for d in found), [d.message for d in found]
    finally:
        analyzer.configure()
