"""The pure parts of the live side: SCP evaluation, EventBridge matching, trail selectors,
the state-backend and SCP rules, and collector helpers."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from auditor.aws import is_read_only
from auditor.services import pulumi as state_c
from auditor.services import rds as rds_c
from auditor.services import s3 as s3_c
from drguard import eventpattern as ep
from drguard import iampolicy
from drguard.controls import organizations as scp_rule
from drguard.controls.organizations import Scp
from drguard.controls.pulumi import StateBackend, state_backend
from drguard.controls.rds import Database
from drguard.facts import UNKNOWN
from drguard.registry import BACKUP_DELETION_ACTIONS

REQ = BACKUP_DELETION_ACTIONS


def doc(*statements):
    return {"Version": "2012-10-17", "Statement": list(statements)}


# ---- iampolicy ---------------------------------------------------------------------------

def test_explicit_actions_and_wildcards_case_insensitive():
    d = doc({"Effect": "Deny", "Action": ["S3:delete*", "rds:DeleteDB*Snapshot"],
             "Resource": "*"})
    assert iampolicy.denied_actions(d, REQ) == {"s3:DeleteBucket", "s3:DeleteObjectVersion",
                                                "rds:DeleteDBSnapshot",
                                                "rds:DeleteDBClusterSnapshot"}


def test_not_action_denies_everything_else():
    d = doc({"Effect": "Deny", "NotAction": ["s3:*", "cloudtrail:StopLogging"],
             "Resource": "*"})
    assert iampolicy.denied_actions(d, REQ) == {a for a in REQ if not a.startswith("s3:")
                                                and a != "cloudtrail:StopLogging"}


def test_allow_statements_and_json_text():
    text = json.dumps(doc({"Effect": "Allow", "Action": "*", "Resource": "*"},
                          {"Effect": "Deny", "Action": "backup:*", "Resource": "*"}))
    assert iampolicy.denied_actions(text, REQ) == {"backup:DeleteRecoveryPoint",
                                                   "backup:DeleteBackupVault"}


@pytest.mark.parametrize("condition, counts", [
    # a break-glass counts only when no member account admin can become it (test_scp_breakglass)
    ({"ArnNotLike": {"aws:PrincipalArn": "arn:aws:iam::*:role/break-glass"}}, False),
    ({"ArnNotLike": {"aws:PrincipalArn": "arn:aws:iam::999999999999:role/break-glass"}},
     False),
    ({"StringNotEqualsIfExists": {"aws:PrincipalTag/role": "break-glass"}}, False),
    ({"Bool": {"aws:PrincipalIsAWSService": "false"}}, True),
    ({"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::*:role/dev"}}, False),
    ({"StringEquals": {"aws:RequestedRegion": "us-east-1"}}, False),
    ({"Bool": {"aws:MultiFactorAuthPresent": "false"}}, False),
])
def test_conditions_only_exempting_principals_count(condition, counts):
    d = doc({"Effect": "Deny", "Action": "s3:DeleteBucket", "Resource": "*",
             "Condition": condition})
    a = iampolicy.analyze(d, REQ)
    assert (a.denied == {"s3:DeleteBucket"}) is counts
    assert bool(a.ignored) is not counts


@pytest.mark.parametrize("resource, counts", [
    ("*", True), ("arn:aws:s3:::*", True), (["arn:aws:s3:::*/*", "x"], True),
    ("arn:*:s3:::*", True), ("arn:aws:s3:::*backup*", False), ("arn:aws:rds:*:*:*", False),
])
def test_resource_must_cover_every_resource(resource, counts):
    d = doc({"Effect": "Deny", "Action": "s3:DeleteBucket", "Resource": resource})
    assert (iampolicy.denied_actions(d, REQ) == {"s3:DeleteBucket"}) is counts


def test_not_resource_is_ignored():
    d = doc({"Effect": "Deny", "Action": "*", "NotResource": "arn:aws:s3:::logs"})
    a = iampolicy.analyze(d, REQ)
    assert a.denied == set() and a.ignored[0]["reason"].startswith("NotResource")


@given(st.sampled_from(REQ), st.booleans())
def test_star_wildcard_matches_exactly_the_service(action, upper):
    service = action.split(":")[0]
    pattern = (service.upper() if upper else service) + ":*"
    d = doc({"Effect": "Deny", "Action": pattern, "Resource": "*"})
    assert iampolicy.denied_actions(d, REQ) == {a for a in REQ if a.startswith(service + ":")}


# ---- SCP coverage rule -------------------------------------------------------------------

def _scp(name, statements, targets):
    return Scp(ref=f"arn:{name}", name=name, document=doc(*statements), targets=targets)


def test_scp_coverage_unions_the_path():
    params = {"requiredDenyActions": REQ}
    s1 = _scp("a", [{"Effect": "Deny", "Action": "s3:*", "Resource": "*"}], ["r-root"])
    s2 = _scp("b", [{"Effect": "Deny", "Action": ["rds:*", "backup:*", "cloudtrail:*"],
                     "Resource": "*"}], ["ou-2"])
    s3 = _scp("c", [{"Effect": "Deny", "Action": "*", "Resource": "*"}], ["999"])
    ok = scp_rule.coverage("111", ["111", "ou-2", "ou-1", "r-root"], [s1, s2, s3], params)
    assert ok.status == "pass" and {c["scp"] for c in ok.evidence["scpsConsidered"]} == {"a", "b"}
    bad = scp_rule.coverage("222", ["222", "ou-1", "r-root"], [s1, s2, s3], params)
    assert bad.status == "fail"
    assert bad.evidence["missingActions"] == [a for a in REQ if not a.startswith("s3:")]
    off = scp_rule.coverage("111", ["111", "ou-2", "r-root"], [s1, s2], params,
                            scp_enabled=False)
    assert off.status == "fail" and "not enabled" in off.message


# ---- EventBridge patterns ------------------------------------------------------------------

EVENT = ep.s3_api_event("DeleteObject", "bk", "us-east-1", "111")


@pytest.mark.parametrize("pattern, expected", [
    ({"source": ["aws.s3"]}, True),
    ({"source": ["aws.ec2"]}, False),
    ({"detail": {"eventName": [{"prefix": "Delete"}]}}, True),
    ({"detail": {"eventName": [{"suffix": "Objects"}]}}, False),
    ({"detail": {"eventName": [{"anything-but": ["PutObject", "GetObject"]}]}}, True),
    ({"detail": {"eventName": [{"anything-but": {"prefix": "Delete"}}]}}, False),
    ({"detail": {"requestParameters": {"bucketName": [{"wildcard": "b*"}]}}}, True),
    ({"detail": {"requestParameters": {"bucketName": [{"equals-ignore-case": "BK"}]}}}, True),
    ({"detail": {"requestParameters": {"key": [{"exists": False}]}}}, True),
    ({"detail": {"requestParameters": {"key": [{"exists": True}]}}}, False),
    ({"detail": {"requestParameters": {"key": [{"prefix": "x/"}]}}}, False),
    ({"detail": {"readOnly": [False]}}, True),
    ({"detail": {"readOnly": ["false"]}}, False),
    ({"$or": [{"source": ["aws.ec2"]}, {"detail-type": ["AWS API Call via CloudTrail"]}]}, True),
    ({"detail": {"resources": {"type": ["AWS::S3::Object"]}}}, True),
    ({"detail": {"eventName": []}}, False),
])
def test_event_pattern_semantics(pattern, expected):
    assert ep.matches(json.dumps(pattern), EVENT) is expected


def test_numeric_and_cidr():
    e = {"detail": {"n": 5, "ip": "10.0.0.7"}}
    assert ep.matches({"detail": {"n": [{"numeric": [">", 1, "<=", 5]}]}}, e)
    assert not ep.matches({"detail": {"n": [{"numeric": [">", 5]}]}}, e)
    assert ep.matches({"detail": {"ip": [{"cidr": "10.0.0.0/24"}]}}, e)
    assert not ep.matches({"detail": {"ip": [{"cidr": "10.0.1.0/24"}]}}, e)


@given(st.text(alphabet="abcdefghij-.", min_size=3, max_size=20))
def test_exact_bucket_match_only_for_that_bucket(name):
    pattern = {"source": ["aws.s3"], "detail": {"eventName": list(ep.DELETE_EVENTS),
                                                "requestParameters": {"bucketName": [name]}}}
    assert ep.deletion_coverage(pattern, name, "eu-west-1", "1") == list(ep.DELETE_EVENTS)
    assert ep.deletion_coverage(pattern, name + "x", "eu-west-1", "1") == []


# ---- trail selectors -------------------------------------------------------------------------

@pytest.mark.parametrize("values, rw, covered", [
    (["arn:aws:s3"], "All", True), (["arn:aws:s3:::"], "WriteOnly", True),
    (["arn:aws:s3:::bk/"], "WriteOnly", True), (["arn:aws:s3:::bk"], "All", True),
    (["arn:aws:s3:::bk/logs/"], "All", False), (["arn:aws:s3:::other/"], "All", False),
    (["arn:aws:s3:::bk/"], "ReadOnly", False),
])
def test_basic_selectors(values, rw, covered):
    sel = [{"ReadWriteType": rw, "DataResources": [{"Type": "AWS::S3::Object",
                                                     "Values": values}]}]
    assert ep.selectors_log_writes(sel, [], "bk") is covered


def _adv(*fields):
    return [{"Name": "x", "FieldSelectors": [
        {"Field": "eventCategory", "Equals": ["Data"]},
        {"Field": "resources.type", "Equals": ["AWS::S3::Object"]}, *fields]}]


@pytest.mark.parametrize("fields, covered", [
    ((), True),
    (({"Field": "readOnly", "Equals": ["false"]},), True),
    (({"Field": "readOnly", "Equals": ["true"]},), False),
    (({"Field": "resources.ARN", "StartsWith": ["arn:aws:s3:::bk/"]},), True),
    (({"Field": "resources.ARN", "StartsWith": ["arn:aws:s3:::bk/tmp/"]},), False),
    (({"Field": "resources.ARN", "NotStartsWith": ["arn:aws:s3:::other/"]},), True),
    (({"Field": "resources.ARN", "NotStartsWith": ["arn:aws:s3:::bk/"]},), False),
    (({"Field": "eventName", "Equals": ["DeleteObject"]},), False),
    (({"Field": "eventName", "Equals": ["DeleteObject", "DeleteObjects"]},), True),
    (({"Field": "userIdentity.arn", "NotStartsWith": ["arn:aws:sts::1:assumed-role/etl"]},),
     True),
    (({"Field": "userIdentity.arn", "StartsWith": ["arn:aws:iam::1:user/"]},), False),
])
def test_advanced_selectors(fields, covered):
    assert ep.selectors_log_writes([], _adv(*fields), "bk") is covered


# ---- state backend ---------------------------------------------------------------------------

FLAGS_ON = {"blockPublicAcls": True, "blockPublicPolicy": True, "ignorePublicAcls": True,
            "restrictPublicBuckets": True}


def _state(**kw):
    base = dict(ref="arn:aws:s3:::st", name="st", versioning="Enabled",
                public_access_block=FLAGS_ON, policy_public=False,
                checkpoints={"p/.pulumi/stacks/a/dev.json": 2})
    return StateBackend(**{**base, **kw})


@pytest.mark.parametrize("kw, status, text", [
    ({}, "pass", "versioned, private"),
    ({"versioning": "Suspended"}, "fail", "versioning is Suspended"),
    ({"public_access_block": None}, "fail", "public access block"),
    ({"policy_public": True}, "fail", "bucket policy makes it public"),
    ({"checkpoints": {}}, "fail", "no stack checkpoint"),
    ({"checkpoints": {"a.json": 1, "b.json": 4}}, "fail", "only one version of a.json"),
    ({"checkpoints": UNKNOWN}, "unknown", "checkpoint versions"),
])
def test_state_backend_rule(kw, status, text):
    v = state_backend(_state(**kw))
    assert v.status == status and text in v.message


@pytest.mark.parametrize("configured, env, expected", [
    (None, {}, None),
    (None, {"PULUMI_BACKEND_URL": "file://~"}, None),
    (None, {"PULUMI_BACKEND_URL": "s3://st/a/b?region=x"}, ("st", "a/b", "PULUMI_BACKEND_URL")),
    ("st", {"PULUMI_BACKEND_URL": "s3://st/pre"}, ("st", "pre", "stateBucket setting")),
    ("st", {"PULUMI_BACKEND_URL": "s3://other/pre"}, ("st", "", "stateBucket setting")),
    ("s3://st/x/", {}, ("st", "x", "stateBucket setting")),
])
def test_state_location(configured, env, expected):
    assert state_c.location(configured, env) == expected


# ---- collector helpers -----------------------------------------------------------------------

def test_object_lock_years_and_days():
    cfg = {"ObjectLockConfiguration": {"ObjectLockEnabled": "Enabled", "Rule": {
        "DefaultRetention": {"Mode": "COMPLIANCE", "Days": 0, "Years": 2}}}}
    assert s3_c._lock(cfg) == (True, "COMPLIANCE", 730)
    assert s3_c._lock(None) == (False, None, None)
    assert s3_c._lock({"ObjectLockConfiguration": {"ObjectLockEnabled": "Enabled"}}) == (
        True, None, None)
    assert s3_c.normalize_region(None) == "us-east-1" and s3_c.normalize_region("EU") == \
        "eu-west-1"


def test_cross_region_points_match_copies_and_ages():
    now = dt.datetime(2024, 5, 2, 12, tzinfo=dt.UTC)
    dbf = Database(ref="arn:aws:rds:us-east-1:1:db:orders", name="orders", region="us-east-1")
    west = rds_c.RdsRegion("us-west-2")
    west.snapshots = [
        {"kind": "instance", "identifier": "orders", "resource_id": "db-A",
         "source_region": "us-east-1", "time": now - dt.timedelta(hours=5), "arn": "s1"},
        {"kind": "instance", "identifier": "orders", "resource_id": "db-B",
         "source_region": None, "time": now, "arn": "other-db"},
        {"kind": "cluster", "identifier": "orders", "resource_id": None,
         "source_region": None, "time": now, "arn": "cluster"},
    ]
    west.automated = [{"db_arn": dbf.ref, "region": "us-west-2", "arn": "ab",
                       "latest": now - dt.timedelta(minutes=30)}]
    east = rds_c.RdsRegion("us-east-1")
    points, unread = rds_c.cross_region(dbf, {"resource_id": "db-A", "replications": [
        "arn:aws:rds:eu-west-1:1:auto-backup:ab-1"]}, {"us-east-1": east, "us-west-2": west},
        now)
    assert unread == []
    assert [(p["kind"], p["region"], p["age_hours"]) for p in points] == [
        ("automated-backup-replication", "us-west-2", 0.5), ("snapshot", "us-west-2", 5.0),
        ("automated-backup-replication", "eu-west-1", None)]
    west.snapshots = UNKNOWN
    assert rds_c.cross_region(dbf, {}, {"us-west-2": west}, now)[1] == ["us-west-2"]


@pytest.mark.parametrize("op, ok", [
    ("DescribeDBInstances", True), ("GetBucketVersioning", True), ("ListPolicies", True),
    ("HeadBucket", True), ("AssumeRole", True), ("PutBucketVersioning", False),
    ("DeleteBucket", False), ("CreateBucket", False), ("StartLogging", False),
    ("GenerateCredentialReport", False), ("AssumeRoleWithSAML", False),
])
def test_read_only_operations(op, ok):
    assert is_read_only(op) is ok
