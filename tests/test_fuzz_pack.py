"""Fuzz: the policy pack over the Analyzer gRPC protocol (the harness in tests/harness).

- Configure: any config either installs or is refused with INVALID_ARGUMENT and one line;
  never UNKNOWN ("Exception calling application").
- Analyze / AnalyzeStack: a resource with hostile property values never makes the pack answer
  an error: every call returns diagnostics, and a violation on another resource (or on the
  same resource beside an unrelated hostile property) is still reported.
- Afterwards the pack still answers (no hang, no dead server).

Resources are those of examples/drifting-stack (tests/data/nasty-state's export, secrets
decoded), sent as the engine sends them."""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path
from typing import Any

import grpc
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pulumi.runtime.proto import analyzer_pb2 as pb

from auditor import state
from drguard.registry import BY_ID, SETTINGS_POLICY
from tests.fuzzing import fuzz
from tests.harness.analyzer import make_resource
from tests.test_fuzz_config import TRICKY_TEXT, nest

EXPORT = json.loads((Path(__file__).parent / "data" / "nasty-state" /
                     "drifting-show-secrets.json").read_text())


def _resources() -> list[dict[str, Any]]:
    out = []
    for r in EXPORT["deployment"]["resources"]:
        if r["type"].startswith("pulumi:"):
            continue
        props = state.decode({**(r.get("inputs") or {}), **(r.get("outputs") or {})})
        name = r["urn"].rsplit("::", 1)[-1]
        out.append(make_resource(r["type"], name, props, protect=bool(r.get("protect")),
                                 project="drifting-stack", urn=r["urn"]))
    return out


BASE = _resources()
BY_NAME = {r["name"]: r for r in BASE}

# Struct-compatible hostile values: numbers are doubles, nesting within protobuf's limit.
scalars = st.one_of(st.none(), st.booleans(), st.integers(-(2 ** 53), 2 ** 53),
                    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12),
                    st.sampled_from(TRICKY_TEXT[:-1]))
hostile = st.recursive(
    scalars, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                     st.dictionaries(st.text(max_size=8), inner, max_size=3)),
    max_leaves=8)
_SIG = "4dabf18193072939515e22adb298388d"
# Pulumi envelopes the engine could send malformed: each is one unreadable property
ENVELOPES = [{_SIG: "1b47061264138c4ac30d75fd1eb44270"},
             {_SIG: "1b47061264138c4ac30d75fd1eb44270", "value": {_SIG: "bogus"}},
             {_SIG: "c44067f5952c0a294b673a41bacd8c17"},
             {_SIG: "0def7320c3a5731c473e5ecbe6d01bc7", "assets": {"a": 1}},
             {_SIG: "5cf8f73096256a8f31e491e813e4eb8e", "urn": 5}, {_SIG: 7}]
values = st.one_of(hostile, st.integers(20, 40).map(nest), st.sampled_from(ENVELOPES),
                   st.lists(st.sampled_from(ENVELOPES), min_size=1, max_size=2))

FUZZ = fuzz(60)  # fixed seed; `make fuzz` runs more, at random
POLICIES = sorted(BY_ID) + [SETTINGS_POLICY]


def _struct_ok(value: Any) -> bool:
    from google.protobuf import struct_pb2
    try:
        struct_pb2.Struct().update({"v": value})
    except (ValueError, TypeError, OverflowError):
        return False
    return True


@FUZZ
@given(name=st.sampled_from([*POLICIES, "all", "no-such-policy"]),
       props=st.dictionaries(st.sampled_from(["minRetentionDays", "allowedLockModes",
                                              "backupBucketPatterns", "waivers", "waiversFile",
                                              "backupTagKey", "stateBucket", "minLockDays",
                                              "x"]), values, max_size=3))
def test_configure_answers_ok_or_invalid_argument(analyzer, name, props) -> None:  # noqa: ANN001
    if not _struct_ok(props):
        return
    req = pb.ConfigureAnalyzerRequest()
    req.policyConfig[name].enforcementLevel = pb.ADVISORY
    req.policyConfig[name].properties.update(props)
    try:
        analyzer.stub.Configure(req, timeout=30)
    except grpc.RpcError as e:
        assert e.code() == grpc.StatusCode.INVALID_ARGUMENT, (e.code(), e.details())
        assert "\n" not in e.details() and e.details().startswith("invalid policy pack config")
    finally:
        analyzer.configure()  # back to the defaults for the next example


def _mutate(resource: dict[str, Any], key: str, value: Any) -> dict[str, Any]:
    r = copy.deepcopy(resource)
    for side in ("properties", "outputs", "inputs"):
        r[side][key] = value
    return r


TARGETS = [r["name"] for r in BASE]


@st.composite
def mutation(draw: st.DrawFn) -> tuple[str, str, Any]:
    name = draw(st.sampled_from(TARGETS))
    keys = sorted(BY_NAME[name]["properties"]) + ["tags", "bucket", "x"]
    return name, draw(st.sampled_from(keys)), draw(values)


@FUZZ
@given(change=mutation())
def test_analyze_never_fails_and_keeps_unrelated_violations(analyzer, change) -> None:  # noqa: ANN001
    name, key, value = change
    if not _struct_ok(value):
        return
    result = analyzer.analyze(_mutate(BY_NAME[name], key, value))  # raises on a gRPC error
    assert all(d.message and d.policy_name for d in result.diagnostics)
    # The same hostile value on an unrelated key beside a known violation loses nothing.
    orders = _mutate(BY_NAME["orders-db"], "xUnrelated", value)
    got = {d.policy_name for d in analyzer.analyze(orders).diagnostics}
    assert {"rds-backup-retention", "rds-deletion-protection"} <= got, got


@FUZZ
@given(change=mutation())
def test_analyze_stack_never_fails_and_keeps_other_resources_violations(analyzer,  # noqa: ANN001
                                                                       change) -> None:
    name, key, value = change
    if not _struct_ok(value):
        return
    resources = [(_mutate(r, key, value) if r["name"] == name else r) for r in BASE]
    result = analyzer.analyze_stack(resources)  # raises on a gRPC error
    native = BY_NAME["native-backups"]["urn"]
    if name != "native-backups":  # still reported: as a violation, or as not checkable yet
        kept = [d for d in result.diagnostics if d.policy_name == "backup-bucket-versioning"
                and (d.urn == native or "native-backups" in d.message)]
        assert kept, (name, key, [d.message for d in result.diagnostics][:5])


def test_pack_still_answers_after_hostile_input(analyzer) -> None:  # noqa: ANN001
    deep = _mutate(BY_NAME["db-backups"], "tags", nest(40))
    huge = _mutate(BY_NAME["orders-db"], "backupRetentionPeriod", math.inf)
    for r in (deep, huge):
        analyzer.analyze(r)
    analyzer.analyze_stack([deep, huge, *BASE])
    assert analyzer.get_analyzer_info().name == "dr-guard"


@pytest.mark.parametrize("value", ["seven", [7], math.nan, {"days": 7}, True, -1, ""])
def test_wrongly_typed_retention_is_a_violation_not_an_error(analyzer, value) -> None:  # noqa: ANN001
    result = analyzer.analyze(_mutate(BY_NAME["orders-db"], "backupRetentionPeriod", value))
    (retention,) = [d for d in result.diagnostics if d.policy_name == "rds-backup-retention"]
    assert "backupRetentionPeriod" in retention.message or "could not evaluate" in \
        retention.message, retention.message
