"""snapshot-not-public, every side: the rule, the pack over gRPC (programs captured from
pulumi-aws, preview and update), the live scan against the moto server (RDS snapshot
attributes and EBS snapshot attributes are served), and CloudTrail.
"""

from __future__ import annotations

from typing import Any

import pytest

from auditor.aws import CallCounter, observe
from auditor.logs.samples import record
from drguard.controls.snapshots import NOT_PUBLIC, Snapshot, not_public
from drguard.facts import UNKNOWN
from tests.faulty_proxy import Fault, FaultyProxy
from tests.harness.analyzer import run_stack
from tests.live_support import db, one, pick, run_scan

RDS = "rds.amazonaws.com"
EC2 = "ec2.amazonaws.com"
FOREIGN = "444455556666"
PARTNER = "777788889999"


# ---- the rule ----------------------------------------------------------------------------------

def _snap(shared: Any, kind: str = "db-snapshot", org: frozenset[str] | None = None) -> Snapshot:
    return Snapshot(ref="arn:aws:rds:us-east-1:111122223333:snapshot:s", name="s",
                    account="111122223333", kind=kind, shared_with=shared,  # type: ignore[arg-type]
                    org_accounts=org, evidence={"snapshotId": "s"})


def test_rule() -> None:
    none: dict[str, Any] = {"trustedAccounts": []}
    assert not_public(_snap([]), none).status == "pass"
    v = not_public(_snap(["all"]), none)
    assert v.status == "fail" and "public" in v.message and v.remediation is not None
    assert "--values-to-remove all" in (v.remediation.cli or "")
    v = not_public(_snap([FOREIGN]), none)
    assert v.status == "fail" and FOREIGN in v.message and "not in trustedAccounts" in v.message
    assert not_public(_snap([FOREIGN]), {"trustedAccounts": [FOREIGN]}).status == "pass"
    org = frozenset({"111122223333", FOREIGN})
    assert not_public(_snap([FOREIGN], org=org), none).status == "pass"
    v = not_public(_snap([PARTNER], org=org), none)
    assert v.status == "fail" and "outside the Organization" in v.message
    assert not_public(_snap(["111122223333"]), none).status == "pass"  # its own account
    assert not_public(_snap(UNKNOWN), none).status == "unknown"
    assert not_public(_snap([UNKNOWN]), none).status == "unknown"
    assert not_public(_snap([UNKNOWN, "all"]), none).status == "fail"
    v = not_public(_snap(["all"], kind="ebs-snapshot"), none)
    assert v.status == "fail" and "modify-snapshot-attribute" in (v.remediation.cli or "")
    assert "Remove=[{Group=all}]" in (v.remediation.cli or "")


# ---- deploy side: programs captured from pulumi-aws ----------------------------------------

def snapshots_private() -> None:
    """A manual snapshot shared with nobody, a cluster snapshot shared with a trusted partner
    account, an EBS snapshot permission for the same partner."""
    import pulumi_aws as aws

    aws.rds.Snapshot("orders-manual", db_instance_identifier="orders",
                     db_snapshot_identifier="orders-manual")
    aws.rds.ClusterSnapshot("ledger-manual", db_cluster_identifier="ledger",
                            db_cluster_snapshot_identifier="ledger-manual",
                            shared_accounts=[PARTNER])
    aws.ec2.SnapshotCreateVolumePermission("data-partner", snapshot_id="snap-0123456789abcdef0",
                                           account_id=PARTNER)


def snapshots_shared_out() -> None:
    """Public and foreign shares on every type; one account id known only after the update."""
    import pulumi_aws as aws

    aws.rds.Snapshot("orders-public", db_instance_identifier="orders",
                     db_snapshot_identifier="orders-public", shared_accounts=["all"])
    aws.rds.SnapshotCopy("orders-copy", source_db_snapshot_identifier="orders-manual",
                         target_db_snapshot_identifier="orders-copy",
                         shared_accounts=[FOREIGN])
    aws.rds.ClusterSnapshotCopy("ledger-copy",
                                source_db_cluster_snapshot_identifier="ledger-manual",
                                target_db_cluster_snapshot_identifier="ledger-copy",
                                shared_accounts=["all", PARTNER])
    aws.ec2.SnapshotCreateVolumePermission("data-foreign", snapshot_id="snap-0123456789abcdef0",
                                           account_id=FOREIGN)
    # an SSM parameter's value is always a secret: not the account id, or redaction hides it
    acct = aws.ssm.Parameter("share-with", type="String", value="snapshot share target")
    aws.ec2.SnapshotCreateVolumePermission("data-later", snapshot_id="snap-0fedcba987654321",
                                           account_id=acct.arn.apply(lambda _: FOREIGN))


CONFIG = {NOT_PUBLIC: {"trustedAccounts": [PARTNER]}}


@pytest.fixture(scope="module", params=[True, False], ids=["preview", "update"])
def mode(request: pytest.FixtureRequest) -> bool:
    return request.param


def test_pack_passes_private_and_trusted(analyzer, capture, mode) -> None:  # noqa: ANN001
    cap = capture(snapshots_private, preview=mode)
    analyzer.configure(CONFIG)
    run = run_stack(analyzer, cap)
    assert run.by_policy(NOT_PUBLIC) == [], [d.message for d in run.by_policy(NOT_PUBLIC)]
    assert NOT_PUBLIC in analyzer.get_analyzer_info().names
    # without trustedAccounts the partner is foreign
    analyzer.configure()
    urns = {d.urn for d in run_stack(analyzer, cap).by_policy(NOT_PUBLIC)}
    assert urns == {cap.get("ledger-manual")["urn"], cap.get("data-partner")["urn"]}


def test_pack_fails_public_and_foreign(analyzer, capture, mode) -> None:  # noqa: ANN001
    cap = capture(snapshots_shared_out, preview=mode)
    analyzer.configure(CONFIG)
    run = run_stack(analyzer, cap)
    by_urn = {d.urn: d for d in run.by_policy(NOT_PUBLIC)}
    d = by_urn[cap.get("orders-public")["urn"]]
    assert "public" in d.message and "sharedAccounts" in d.message
    assert d.enforcement_level == "mandatory"
    assert FOREIGN in by_urn[cap.get("orders-copy")["urn"]].message
    d = by_urn[cap.get("ledger-copy")["urn"]]
    assert "public" in d.message and PARTNER not in d.message.split("(")[0]
    d = by_urn[cap.get("data-foreign")["urn"]]
    assert FOREIGN in d.message and "accountId" in d.message
    if mode:  # preview: the account is not known yet: one advisory note, no failure
        note = by_urn[cap.stack_urn]
        assert note.enforcement_level == "advisory" and "during preview" in note.message
        assert "data-later" not in {u.rsplit("::", 1)[-1] for u in by_urn}
    else:
        later = by_urn[cap.get("data-later")["urn"]]
        assert later.enforcement_level == "mandatory" and FOREIGN in later.message


# ---- live side: the moto server ----------------------------------------------------------------

def _rds_snapshots(aws: Any) -> None:
    db(aws, "orders")
    rds = aws.client("rds")
    for sid, share in (("orders-public", ["all"]), ("orders-foreign", [FOREIGN]),
                       ("orders-partner", [PARTNER]), ("orders-private", [])):
        rds.create_db_snapshot(DBInstanceIdentifier="orders", DBSnapshotIdentifier=sid)
        if share:
            rds.modify_db_snapshot_attribute(DBSnapshotIdentifier=sid, AttributeName="restore",
                                             ValuesToAdd=share)
    rds.create_db_cluster(DBClusterIdentifier="ledger", Engine="aurora-postgresql",
                          MasterUsername="admin", MasterUserPassword="password-123")
    for sid, share in (("ledger-public", ["all"]), ("ledger-private", [])):
        rds.create_db_cluster_snapshot(DBClusterIdentifier="ledger",
                                       DBClusterSnapshotIdentifier=sid)
        if share:
            rds.modify_db_cluster_snapshot_attribute(
                DBClusterSnapshotIdentifier=sid, AttributeName="restore", ValuesToAdd=share)


def _ebs_snapshots(aws: Any) -> dict[str, str]:
    ec2 = aws.client("ec2")
    vol = ec2.create_volume(Size=1, AvailabilityZone="us-east-1a")["VolumeId"]
    out = {}
    for name in ("public", "private"):
        out[name] = ec2.create_snapshot(VolumeId=vol, TagSpecifications=[{
            "ResourceType": "snapshot", "Tags": [{"Key": "Name", "Value": f"vol-{name}"}]}])[
            "SnapshotId"]
    ec2.modify_snapshot_attribute(SnapshotId=out["public"], Attribute="createVolumePermission",
                                  OperationType="add", GroupNames=["all"])
    return out


def test_live_rds_and_ebs_snapshots(aws) -> None:  # noqa: ANN001
    _rds_snapshots(aws)
    ebs = _ebs_snapshots(aws)
    counter = CallCounter()
    with observe(counter):
        findings = run_scan(aws, regions=["us-east-1"],
                            config={"controls": {NOT_PUBLIC: {"trustedAccounts": [PARTNER]}}}
                            ).findings
    f = one(findings, NOT_PUBLIC, ":snapshot:orders-public")
    assert f.status == "fail" and "public" in f.message and f.severity == "critical"
    assert f.evidence["outside"] == ["all"]
    f = one(findings, NOT_PUBLIC, ":snapshot:orders-foreign")
    assert f.status == "fail" and FOREIGN in f.message and f.evidence["outside"] == [FOREIGN]
    assert one(findings, NOT_PUBLIC, ":snapshot:orders-partner").status == "pass"
    assert one(findings, NOT_PUBLIC, ":snapshot:orders-private").status == "pass"
    f = one(findings, NOT_PUBLIC, ":cluster-snapshot:ledger-public")
    assert f.status == "fail" and "cluster snapshot" in f.message
    assert "modify-db-cluster-snapshot-attribute" in f.remediation["cli"]
    assert one(findings, NOT_PUBLIC, ":cluster-snapshot:ledger-private").status == "pass"
    f = one(findings, NOT_PUBLIC, f"snapshot/{ebs['public']}")
    assert f.status == "fail" and "vol-public" in f.message and "EBS" in f.message
    assert one(findings, NOT_PUBLIC, f"snapshot/{ebs['private']}").status == "pass"
    # automated snapshots cannot be shared: not asked about; moto's public AMI snapshots
    # (other owners) are not the account's: never asked about either
    assert not pick(findings, NOT_PUBLIC, "rds:orders-")
    assert counter.calls[("rds", "DescribeDBSnapshotAttributes")] == 4
    assert counter.calls[("rds", "DescribeDBClusterSnapshotAttributes")] == 2
    assert counter.calls[("ec2", "DescribeSnapshotAttribute")] == 2
    assert len(pick(findings, NOT_PUBLIC)) == 8


def test_live_refused_attribute_is_error_naming_the_call(aws, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    _rds_snapshots(aws)
    ebs = _ebs_snapshots(aws)
    faults = [Fault("denied", "rds", "DescribeDBSnapshotAttributes"),
              Fault("denied", "ec2", "DescribeSnapshotAttribute")]
    with FaultyProxy(aws.url, faults) as proxy:
        findings = run_scan(aws, regions=["us-east-1"], endpoint=proxy.url).findings
    f = one(findings, NOT_PUBLIC, ":snapshot:orders-private")
    assert f.status == "error" and "rds:DescribeDBSnapshotAttributes" in f.message
    f = one(findings, NOT_PUBLIC, f"snapshot/{ebs['private']}")
    assert f.status == "error" and "ec2:DescribeSnapshotAttribute" in f.message
    # the cluster snapshots were still read
    assert one(findings, NOT_PUBLIC, ":cluster-snapshot:ledger-public").status == "fail"


def test_live_refused_listing_is_error(aws, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    faults = [Fault("denied", "rds", "DescribeDBSnapshots"),
              Fault("denied", "ec2", "DescribeSnapshots")]
    with FaultyProxy(aws.url, faults) as proxy:
        findings = run_scan(aws, regions=["us-east-1"], endpoint=proxy.url).findings
    errs = pick(findings, NOT_PUBLIC)
    assert {f.status for f in errs} == {"error"}
    text = " ".join(f.message for f in errs)
    assert "rds:DescribeDBSnapshots" in text and "ec2:DescribeSnapshots" in text


# ---- logs side ---------------------------------------------------------------------------------

def _rds_share(values: list[str], cluster: bool = False, **kw: Any) -> dict[str, Any]:
    key = "dBClusterSnapshotIdentifier" if cluster else "dBSnapshotIdentifier"
    return record("ModifyDBClusterSnapshotAttribute" if cluster else "ModifyDBSnapshotAttribute",
                  RDS, {key: "orders-final", "attributeName": "restore",
                        "valuesToAdd": values}, **kw)


def _ebs_share(items: list[dict[str, str]], **kw: Any) -> dict[str, Any]:
    return record("ModifySnapshotAttribute", EC2, {
        "snapshotId": "snap-0123456789abcdef0", "attributeType": "CREATE_VOLUME_PERMISSION",
        "createVolumePermission": {"add": {"items": items}}}, **kw)


LOG_CASES: list[tuple[str, dict[str, Any], set[tuple[str, str]]]] = [
    ("rds snapshot made public", _rds_share(["all"]), {(NOT_PUBLIC, "fail")}),
    ("rds snapshot shared with a foreign account", _rds_share([FOREIGN]),
     {(NOT_PUBLIC, "fail")}),
    ("rds snapshot made public, refused", _rds_share(["all"], error_code="AccessDenied"),
     {(NOT_PUBLIC, "attempt")}),
    ("rds cluster snapshot made public", _rds_share(["all"], cluster=True),
     {(NOT_PUBLIC, "fail")}),
    ("rds snapshot shared with its own account (near miss)", _rds_share(["111122223333"]),
     set()),
    ("rds snapshot share removed (near miss)", record("ModifyDBSnapshotAttribute", RDS, {
        "dBSnapshotIdentifier": "orders-final", "attributeName": "restore",
        "valuesToRemove": ["all"]}), set()),
    ("ebs snapshot made public", _ebs_share([{"group": "all"}]), {(NOT_PUBLIC, "fail")}),
    ("ebs snapshot made public, refused", _ebs_share([{"group": "all"}],
                                                     error_code="Client.UnauthorizedOperation"),
     {(NOT_PUBLIC, "attempt")}),
    ("ebs snapshot shared with a foreign account", _ebs_share([{"userId": FOREIGN}]),
     {(NOT_PUBLIC, "fail")}),
    ("ebs snapshot permission removed (near miss)", record("ModifySnapshotAttribute", EC2, {
        "snapshotId": "snap-0123456789abcdef0", "attributeType": "CREATE_VOLUME_PERMISSION",
        "createVolumePermission": {"remove": {"items": [{"group": "all"}]}}}), set()),
]


@pytest.mark.parametrize("rec,expected", [(r, e) for _, r, e in LOG_CASES],
                         ids=[c[0] for c in LOG_CASES])
def test_logs(rec: dict[str, Any], expected: set[tuple[str, str]]) -> None:
    from auditor.logs import reader
    from auditor.logs.detect import Detector
    from drguard.settings import Settings

    assert reader.check(rec) is None
    hits = list(Detector(Settings()).hits(rec))
    assert {(h.control, h.status) for h in hits} == expected
    for h in hits:
        assert h.resource in (
            "arn:aws:rds:us-east-1:111122223333:snapshot:orders-final",
            "arn:aws:rds:us-east-1:111122223333:cluster-snapshot:orders-final",
            "arn:aws:ec2:us-east-1:111122223333:snapshot/snap-0123456789abcdef0")


def test_logs_trusted_account_is_not_a_detection() -> None:
    from auditor.logs.detect import Detector
    from drguard.settings import from_mapping

    settings = from_mapping({"controls": {NOT_PUBLIC: {"trustedAccounts": [FOREIGN]}}})
    assert list(Detector(settings).hits(_rds_share([FOREIGN]))) == []
    assert list(Detector(settings).hits(_ebs_share([{"userId": FOREIGN}]))) == []
    assert len(list(Detector(settings).hits(_rds_share([FOREIGN, "all"])))) == 1




def test_live_org_accounts_are_allowed_under_org(aws) -> None:  # noqa: ANN001
    from tests.test_live_org import ROLE, make_org

    ids = make_org(aws)
    db(aws, "orders")
    rds = aws.client("rds")
    for sid, share in (("to-prod", [ids["prod"]]), ("to-outsider", [FOREIGN])):
        rds.create_db_snapshot(DBInstanceIdentifier="orders", DBSnapshotIdentifier=sid)
        rds.modify_db_snapshot_attribute(DBSnapshotIdentifier=sid, AttributeName="restore",
                                         ValuesToAdd=share)
    findings = run_scan(aws, regions=["us-east-1"], org=True, role_name=ROLE).findings
    f = one(findings, NOT_PUBLIC, ":snapshot:to-prod")
    assert f.status == "pass" and ids["prod"] in f.message  # a member of the Organization
    f = one(findings, NOT_PUBLIC, ":snapshot:to-outsider")
    assert f.status == "fail" and "outside the Organization and trustedAccounts" in f.message
    # a single-account scan does not know the Organization: the member is not trusted
    alone = run_scan(aws, regions=["us-east-1"]).findings
    f = one(alone, NOT_PUBLIC, ":snapshot:to-prod")
    assert f.status == "fail" and "Organization's accounts are not known" in f.message
