"""The pack's Configure runs the same validation pass as `dr-audit --config`: each class of
malformed config is refused with INVALID_ARGUMENT and one line naming the policy, the path to
the value and what was expected; never UNKNOWN, and the pack keeps answering."""

from __future__ import annotations

import math

import grpc
import pytest
from pulumi.runtime.proto import analyzer_pb2 as pb

from drguard.registry import SETTINGS_POLICY

WAIVER = {"control": "rds-deletion-protection", "resource": "*scratch-*", "reason": "r",
          "owner": "o", "expires": "2027-03-31"}
S = SETTINGS_POLICY

CASES = [
    (S, {"waivers": [{**WAIVER, "expires": "2027-02-30"}]},
     f"policy '{S}': parameter 'waivers': waiver #1: 'expires' must be a date"),
    (S, {"waivers": [{**WAIVER, "expires": "2027-03-31garbage"}]}, "'2027-03-31garbage'"),
    (S, {"waivers": [{**WAIVER, "control": ["rds-deletion-protection"]}]},
     "waiver #1: control: expected a control id"),
    (S, {"waivers": [{**WAIVER, "expires": 20270331}]}, "'expires' must be a date"),
    (S, {"waivers": 5}, "parameter 'waivers': expected a list of waivers"),
    (S, {"waivers": [5]}, "waiver #1: expected a waiver mapping"),
    (S, {"waiversFile": 5}, "parameter 'waiversFile': expected the path of a waiver file"),
    (S, {"waiversFile": "no/such/waivers.yaml"}, "cannot read waiver file"),
    (S, {"backupBucketPatterns": ["a{1001}"]},
     "parameter 'backupBucketPatterns[0]': invalid regular expression 'a{1001}'"),
    (S, {"backupBucketPatterns": ["(?=x)"]}, "RE2"),
    (S, {"backupBucketPatterns": "(?i)backup"}, "backupBucketPatterns"),
    (S, {"backupTagKey": {"a": 1}}, "parameter 'backupTagKey'"),
    (S, {"unknownSetting": 1}, "unknown parameter 'unknownSetting'"),
    ("rds-backup-retention", {"minRetentionDays": math.nan}, "parameter 'minRetentionDays'"),
    ("rds-backup-retention", {"minRetentionDays": math.inf}, "parameter 'minRetentionDays'"),
    ("rds-backup-retention", {"minRetentionDays": 1e300}, "greater than the maximum"),
    ("rds-backup-retention", {"minRetentionDays": [7]}, "not of type 'integer'"),
    ("backup-bucket-object-lock", {"allowedLockModes": ["COMPLIANCE", {"a": 1}]},
     "parameter 'allowedLockModes[1]'"),
    ("rds-backup-retention", {"checkReadReplicas": "yes"}, "parameter 'checkReadReplicas'"),
    (S, {"waivers": [{**WAIVER, "tags": {"env": [1]}}]}, "waiver #1: tags.env"),
]


def _configure(analyzer, name: str, props: dict) -> grpc.RpcError | None:  # noqa: ANN001
    req = pb.ConfigureAnalyzerRequest()
    req.policyConfig[name].enforcementLevel = pb.MANDATORY
    req.policyConfig[name].properties.update(props)
    try:
        analyzer.stub.Configure(req, timeout=30)
    except grpc.RpcError as e:
        return e
    return None


def test_each_class_is_invalid_argument_in_one_line(analyzer) -> None:  # noqa: ANN001
    problems = []
    for name, props, fragment in CASES:
        e = _configure(analyzer, name, props)
        if e is None:
            problems.append(f"accepted: {name} {props}")
            continue
        details = e.details()
        if e.code() != grpc.StatusCode.INVALID_ARGUMENT or "\n" in details \
                or fragment not in details:
            problems.append(f"{name} {props}: {e.code()} {details}")
    assert not problems, "\n".join(problems)
    assert analyzer.get_analyzer_info().name == "dr-guard"


def test_a_good_config_still_installs(analyzer) -> None:  # noqa: ANN001
    assert _configure(analyzer, S, {"backupBucketPatterns": ["(?i)BACKUP", "^prod-dr-"],
                                    "waivers": [WAIVER]}) is None
    assert _configure(analyzer, "rds-backup-retention", {"minRetentionDays": 14.0}) is None


@pytest.mark.parametrize("pattern", ["(a+)+$", "(x|x|x)*y", "(.*a){12}"])
def test_catastrophic_scope_pattern_does_not_freeze_the_pack(analyzer, pattern) -> None:  # noqa: ANN001
    from tests.harness.analyzer import make_resource

    assert _configure(analyzer, S, {"backupBucketPatterns": [pattern]}) is None
    name = "a" * 5000 + "!"
    bucket = make_resource("aws:s3/bucket:Bucket", "b", {"bucket": name})
    analyzer.timeout = 20
    result = analyzer.analyze_stack([bucket])  # DEADLINE_EXCEEDED if the match backtracked
    assert isinstance(result.diagnostics, list)
    assert analyzer.get_analyzer_info().name == "dr-guard"
