"""The recoverability controls at deploy time: good and bad twins (tests/controls/
recovery_programs.py) through the Analyzer gRPC protocol, preview and update. Unknown values
in preview (the stack's account, ARNs) are advisory notes, never violations."""

from __future__ import annotations

import pytest

from drguard.controls.recovery import AIR_GAPPED, CROSS_ACCOUNT, DENY_DELETE, FREQUENCY
from tests.controls.recovery_programs import OTHER, RECORD_VAULT, recovery_bad, recovery_good
from tests.harness.analyzer import run_stack

CONTROLS = (CROSS_ACCOUNT, AIR_GAPPED, DENY_DELETE, FREQUENCY)


@pytest.fixture(scope="module", params=[True, False], ids=["preview", "update"])
def mode(request: pytest.FixtureRequest) -> bool:
    return request.param


def _mandatory(run, control):  # noqa: ANN001, ANN202
    return [d for d in run.by_policy(control) if d.enforcement_level == "mandatory"]


def test_good_twin_passes(analyzer, capture, mode) -> None:  # noqa: ANN001
    cap = capture(recovery_good, preview=mode)
    run = run_stack(analyzer, cap)
    for c in CONTROLS:
        assert _mandatory(run, c) == [], (c, [d.message for d in run.by_policy(c)])
    notes = run.by_policy(CROSS_ACCOUNT)
    if mode:  # the stack's account is not known yet: one advisory note, no violation
        (d,) = notes
        assert d.enforcement_level == "advisory" and "during preview" in d.message
    else:
        assert notes == []
    for c in CONTROLS:
        assert c in analyzer.get_analyzer_info().names


def test_bad_twin_fails(analyzer, capture, mode) -> None:  # noqa: ANN001
    cap = capture(recovery_bad, preview=mode)
    run = run_stack(analyzer, cap)
    by = {c: {d.urn: d.message for d in _mandatory(run, c)} for c in CONTROLS}
    urn = lambda name: cap.get(name)["urn"]  # noqa: E731
    # the table: no selection selects it (in preview as in update)
    table = by[CROSS_ACCOUNT][urn("ledger")]
    assert "no AWS Backup selection selects it" in table
    bucket = by[CROSS_ACCOUNT][urn("backups-primary")]
    assert "owned by this account" in bucket and "accessControlTranslation" in bucket
    if not mode:  # update: the database's account is known, its copy stays in it
        db = by[CROSS_ACCOUNT][urn("orders")]
        assert "copy only within its own account" in db and "'same-account'" in db
        assert "selection 'by-arn'" in db and "dr-west" in db
    weekly = by[FREQUENCY][urn("same-account")]
    assert "cron(0 5 ? * SUN *)" in weekly and "168 hours" in weekly and "7 days" in weekly
    garbled = by[FREQUENCY][urn("garbled")]
    assert "exactly one of day-of-month and day-of-week must be '?'" in garbled
    record = by[AIR_GAPPED][urn("vault-of-record")]
    assert "governance-mode lock" in record
    local = by[DENY_DELETE][urn("local-vault")]
    assert "does not deny" in local
    assert "no access policy" in by[DENY_DELETE][urn("vault-of-record")] or \
        "does not deny" in by[DENY_DELETE][urn("vault-of-record")]


def test_good_twin_evidence_names_the_links(analyzer, capture) -> None:  # noqa: ANN001
    """Update: the pass verdicts name the selection, copy action and destination account
    (checked through the rules on the model the pack builds)."""
    from drguard.controls import recovery as ctl
    from drguard.scope import Scope
    from policypack.adapters import Res
    from policypack.services import CATALOG
    from policypack.stack import StackModel

    cap = capture(recovery_good, preview=False)
    res = [Res(type=r["type"], urn=r["urn"], name=r["name"], props=r["outputs"],
               property_deps=r.get("propertyDependencies") or {}) for r in cap.resources
           if r.get("custom") and not r["type"].startswith("pulumi:")]
    m = StackModel.build(res, Scope(), CATALOG)
    by_name = {p.name: p for p in m.index["recovery:protected"]}
    db = next(p for n, p in by_name.items() if n.startswith("orders"))
    v = ctl.cross_account_copy(db, {"maxCopyAgeHours": 26})
    assert v.status == "pass" and "selection 'by-arn'" in v.message and OTHER in v.message
    assert v.evidence["copyActions"][0]["destinationVaultArn"] == RECORD_VAULT
    vaults = {x.name: ctl.air_gapped(x, {"minRetentionDays": 7}) for x in
              m.index["recovery:copy-vaults"]}
    assert {x.status for x in vaults.values()} == {"pass"} and len(vaults) == 2


def test_native_plan_and_selection_link_like_the_aws_ones() -> None:
    """aws-native BackupPlan/BackupSelection (CloudFormation shapes) on the same model."""
    from drguard.controls import recovery as ctl
    from drguard.scope import Scope
    from policypack.adapters import Res
    from policypack.services import CATALOG
    from policypack.stack import StackModel

    db_arn = "arn:aws:rds:us-east-1:123456789012:db:orders"
    res = [
        Res("aws-native:rds:DbInstance", "urn:db", "orders",
            {"dbInstanceIdentifier": "orders", "dbInstanceArn": db_arn,
             "backupRetentionPeriod": 7.0}),
        Res("aws-native:backup:BackupPlan", "urn:plan", "plan", {
            "backupPlanId": "plan-1", "backupPlan": {"backupPlanName": "nightly",
                                                     "backupPlanRule": [{
                "ruleName": "nightly", "targetBackupVault": "local",
                "scheduleExpression": "cron(0 5 ? * MON-FRI *)",
                "lifecycle": {"deleteAfterDays": 35.0},
                "copyActions": [{"destinationBackupVaultArn": RECORD_VAULT,
                                 "lifecycle": {"deleteAfterDays": 35.0}}]}]}}),
        Res("aws-native:backup:BackupSelection", "urn:sel", "sel", {
            "backupPlanId": "plan-1", "backupSelection": {
                "selectionName": "dbs", "iamRoleArn": "arn:aws:iam::123456789012:role/b",
                "resources": [db_arn]}}),
    ]
    m = StackModel.build(res, Scope(), CATALOG)
    (p,) = m.index["recovery:protected"]
    v = ctl.cross_account_copy(p, {"maxCopyAgeHours": 26})
    assert v.status == "pass" and OTHER in v.message
    (plan,) = m.index["recovery:plans"]
    v = ctl.frequency_retention(plan, {"maxIntervalHours": 24, "minRetentionDays": 35})
    assert v.status == "fail" and "72 hours" in v.message
