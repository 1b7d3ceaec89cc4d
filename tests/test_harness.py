"""The harness itself: captured wire form, engine-style URNs/providers, gRPC round trips."""

from __future__ import annotations

import importlib.metadata
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness import programs
from tests.harness.analyzer import (
    AnalyzerClient,
    PolicyConfigError,
    PolicyInfo,
    PolicyPackError,
    PolicyPackProcess,
    analyze_request,
    make_resource,
    resolve_policy_config,
    run_stack,
    stack_resource,
)
from tests.harness.capture import Capture
from tests.harness.fixtures import NOOP_PACK
from tests.harness.wire import SECRET_SIG, SIG_KEY, UNKNOWN, is_secret, is_unknown, plain

AWS_VERSION = importlib.metadata.version("pulumi_aws")
NATIVE_VERSION = importlib.metadata.version("pulumi_aws_native")
SECRET_CONFIG = {"config": {"dbPassword": "hunter2-secret"}, "secrets": ["dbPassword"]}


@pytest.fixture(scope="module")
def ready(capture) -> Capture:
    return capture("examples/dr-ready-stack", preview=True, **SECRET_CONFIG)


@pytest.fixture(scope="module")
def ready_up(capture) -> Capture:
    return capture("examples/dr-ready-stack", preview=False, **SECRET_CONFIG)


@pytest.fixture(scope="module")
def drifting(capture) -> Capture:
    return capture("examples/drifting-stack", preview=True, **SECRET_CONFIG)


@pytest.fixture(scope="module")
def report_pack() -> Iterator[PolicyPackProcess]:
    with PolicyPackProcess(NOOP_PACK, env={"NOOP_REPORT": "1", "NOOP_POLICIES": "4"}) as p:
        yield p


@pytest.fixture
def reporter(report_pack: PolicyPackProcess) -> AnalyzerClient:
    client = report_pack.client()
    client.configure()
    return client


# ---- capture --------------------------------------------------------------------------------


def test_types_urns_and_stack(ready: Capture) -> None:
    p = "urn:pulumi:dev::dr-ready-stack::"
    assert ready.resources[0]["type"] == "pulumi:pulumi:Stack"
    assert ready.resources[0]["urn"] == ready.stack_urn == \
        f"{p}pulumi:pulumi:Stack::dr-ready-stack-dev"
    expected = {
        "aws:rds/instance:Instance": 1, "aws:rds/cluster:Cluster": 1,
        "aws:rds/clusterInstance:ClusterInstance": 2, "aws:s3/bucket:Bucket": 3,
        "aws:s3/bucketVersioning:BucketVersioning": 3,
        "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration": 3,
        "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock": 3,
        "aws:cloudtrail/trail:Trail": 1, "aws-native:s3:Bucket": 1,
        "aws-native:rds:DbInstance": 1, "aws:s3/bucketReplicationConfig:BucketReplicationConfig": 2,
        "aws:cloudwatch/eventRule:EventRule": 2, "aws:cloudwatch/eventTarget:EventTarget": 2,
        "aws:sns/topic:Topic": 2,
    }
    for type_, count in expected.items():
        assert len(ready.of_type(type_)) == count, type_
    db = ready.get("orders-db")
    assert db["urn"] == f"{p}aws:rds/instance:Instance::orders-db"
    assert db["parent"] == ready.stack_urn and db["custom"] is True
    assert len({r["urn"] for r in ready}) == len(ready)


def test_properties_are_camel_case_wire_form(ready: Capture) -> None:
    db = ready.get("orders-db")["properties"]
    assert db["backupRetentionPeriod"] == 14
    assert db["deletionProtection"] is True and db["skipFinalSnapshot"] is False
    assert db["deleteAutomatedBackups"] is False
    assert db["finalSnapshotIdentifier"] == "orders-db-final"
    assert ready.get("orders-db")["protect"] is True
    assert ready.get("db-backups-object-lock")["properties"]["rule"] == {
        "defaultRetention": {"mode": "COMPLIANCE", "days": 35}}
    trail = ready.get("org-audit")["properties"]
    assert trail["isMultiRegionTrail"] and trail["enableLogFileValidation"]
    native = ready.get("native-backups")["properties"]
    assert native["versioningConfiguration"] == {"status": "Enabled"}
    assert native["objectLockConfiguration"]["rule"]["defaultRetention"]["mode"] == "COMPLIANCE"
    for r in ready:
        assert not [k for k in r["properties"] if "_" in k], (r["name"], list(r["properties"]))


def test_secrets_stay_secret_on_the_wire(ready: Capture, ready_up: Capture) -> None:
    for cap in (ready, ready_up):
        for name, prop in (("orders-db", "password"), ("ledger", "masterPassword"),
                           ("native-db", "masterUserPassword")):
            r = cap.get(name)
            for form in ("inputs", "properties", "outputs"):
                value = r[form][prop]
                assert value == {SIG_KEY: SECRET_SIG, "value": "hunter2-secret"}, (name, form)
    assert is_secret(ready.get("orders-db")["properties"]["password"])
    assert "password" in ready.get("orders-db")["options"]["additionalSecretOutputs"]


def test_preview_unknowns_and_property_dependencies(ready: Capture, ready_up: Capture) -> None:
    bucket = ready.get("db-backups")
    for split in ("db-backups-versioning", "db-backups-object-lock"):
        r = ready.get(split)
        assert r["properties"]["bucket"] == UNKNOWN
        assert r["propertyDependencies"]["bucket"] == [bucket["urn"]]
        assert bucket["urn"] in r["dependencies"]
    # Computed outputs are unknown in preview; the autonamed name is known (provider Check).
    assert is_unknown(bucket["outputs"]["id"]) and is_unknown(bucket["outputs"]["arn"])
    assert bucket["properties"]["bucket"].startswith("db-backups-")
    assert ready.get("ledger-0")["properties"]["clusterIdentifier"] == UNKNOWN
    assert bucket["providerRef"].endswith("::" + UNKNOWN)
    # The same program in an update: everything known, links by value.
    up_bucket = ready_up.get("db-backups")
    up_versioning = ready_up.get("db-backups-versioning")
    assert up_versioning["properties"]["bucket"] == up_bucket["outputs"]["id"] \
        == up_bucket["properties"]["bucket"]
    assert up_versioning["propertyDependencies"]["bucket"] == [up_bucket["urn"]]
    assert up_bucket["outputs"]["arn"] == f"arn:aws:s3:::{up_bucket['properties']['bucket']}"
    assert not any(UNKNOWN in str(r["properties"]) for r in ready_up)


def test_default_and_explicit_providers(ready: Capture) -> None:
    default_name = f"default_{AWS_VERSION.replace('.', '_')}"
    aws_default = ready.get(default_name, "pulumi:providers:aws")
    assert aws_default["urn"] == \
        f"urn:pulumi:dev::dr-ready-stack::pulumi:providers:aws::{default_name}"
    assert aws_default["properties"] == {"region": "us-east-1", "version": AWS_VERSION}
    native_default = ready.get(f"default_{NATIVE_VERSION.replace('.', '_')}",
                               "pulumi:providers:aws-native")
    dr = ready.get("dr", "pulumi:providers:aws")
    assert dr["properties"]["region"] == "us-west-2"
    assert ready.get("orders-db")["provider"] == {
        "type": "pulumi:providers:aws", "name": aws_default["name"],
        "urn": aws_default["urn"], "properties": aws_default["properties"]}
    assert ready.get("native-db")["provider"]["urn"] == native_default["urn"]
    assert ready.get("db-backups-replica")["provider"]["urn"] == dr["urn"]
    assert ready.get("db-backups-replica-versioning")["provider"]["urn"] == dr["urn"]
    assert ready.get("db-backups-replica")["outputs"]["region"] == "us-west-2"
    # Providers come before the resources that use them (as the engine registers them).
    order = [r["urn"] for r in ready]
    assert order.index(aws_default["urn"]) < order.index(ready.get("orders-db")["urn"])


def test_components_parents_and_options(capture) -> None:
    cap = capture(programs.nested)
    inner_bucket = cap.get("platform-inner-bucket")
    assert inner_bucket["urn"] == ("urn:pulumi:dev::test-project::drguard:test:Outer$"
                                   "drguard:test:Inner$aws:s3/bucket:Bucket::platform-inner-bucket")
    assert inner_bucket["parent"] == cap.get("platform-inner")["urn"]
    assert inner_bucket["protect"] is True  # inherited from the protected parent
    assert cap.get("platform")["custom"] is False and cap.get("platform")["provider"] is None
    assert cap.get("platform")["outputs"] == {"bucket": "nested-backups"}
    assert cap.resources[0]["outputs"] == {"nestedBucket": "nested-backups"}
    assert cap.get("tuned")["options"] == {
        "ignoreChanges": ["tags"], "deleteBeforeReplace": True,
        "additionalSecretOutputs": ["bucketDomainName"], "aliases": [],
        "customTimeouts": {"create": 300.0, "update": 0.0, "delete": 5400.0}}
    atlas = cap.get("atlas")
    assert atlas["type"] == "mongodbatlas:index/cluster:Cluster"
    assert atlas["properties"]["cloudBackup"] is True
    assert atlas["provider"]["type"] == "pulumi:providers:mongodbatlas"


def test_drifting_stack_shapes(drifting: Capture) -> None:
    db = drifting.get("orders-db")
    assert db["properties"]["backupRetentionPeriod"] == 1
    assert db["properties"]["deletionProtection"] is False
    assert db["properties"]["skipFinalSnapshot"] is True and db["protect"] is False
    cluster = drifting.get("ledger")["properties"]
    assert "backupRetentionPeriod" not in cluster and "deletionProtection" not in cluster
    assert drifting.get("db-backups")["properties"]["forceDestroy"] is True
    assert drifting.get("db-backups-versioning")["properties"]["versioningConfiguration"] == {
        "status": "Suspended"}
    assert "objectLockEnabled" not in drifting.get("db-backups")["properties"]
    assert drifting.get("archive-backups-object-lock")["properties"]["rule"] == {
        "defaultRetention": {"mode": "GOVERNANCE", "days": 1}}
    trail = drifting.get("org-audit")["properties"]
    assert trail["isMultiRegionTrail"] is False and trail["enableLogFileValidation"] is False
    assert drifting.get("native-backups")["properties"]["versioningConfiguration"] == {
        "status": "Suspended"}
    assert all(r["urn"].startswith("urn:pulumi:dev::drifting-stack::") for r in drifting)


def test_capture_reports_program_errors(capture, tmp_path: Path) -> None:
    from tests.harness.capture import CaptureError

    program = tmp_path / "__main__.py"
    program.write_text("import pulumi\nraise ValueError('broken program 42')\n")
    with pytest.raises(CaptureError, match="broken program 42"):
        capture(program)


# ---- gRPC -----------------------------------------------------------------------------------


def test_launch_like_the_cli(noop_pack: PolicyPackProcess) -> None:
    assert noop_pack.command[1:] == ["-u", "-m", "pulumi.policy", "127.0.0.1:1", "."]
    assert noop_pack.pack_dir == NOOP_PACK and noop_pack.alive()
    root = PolicyPackProcess(Path(__file__).resolve().parents[1])  # runtime: virtualenv .venv
    assert root.command[0] == str(root.pack_dir / ".venv" / "bin" / "python")
    env = noop_pack._environment()
    assert env["PULUMI_PROJECT"] == "dr-guard-test" and env["PULUMI_DRY_RUN"] == "true"


def test_noop_pack_info_and_silence(noop_pack: PolicyPackProcess, ready: Capture) -> None:
    client = noop_pack.client()
    info = client.get_analyzer_info()
    assert info.name == "drguard-noop" and info.version == "0.0.1" and info.supports_config
    assert info.names == sorted([f"noop-{i}" for i in range(20)] + ["noop-stack-0"])
    assert info.policy("noop-stack-0").policy_type == "stack"
    assert info.policy("noop-0").policy_type == "resource"
    assert info.policy("noop-0").enforcement_level == "mandatory"
    assert info.policy("noop-3").enforcement_level == "advisory"
    assert info.policy("noop-1").config_schema["threshold"]["default"] == 7
    client.configure()
    for r in ready:
        assert client.analyze(r).diagnostics == []
    run = run_stack(client, ready)
    assert run.diagnostics == [] and not run.blocked


def test_diagnostics_round_trip(reporter: AnalyzerClient, ready: Capture) -> None:
    db = ready.get("orders-db")
    diags = reporter.analyze(db).diagnostics
    by_name = {d.policy_name: d for d in diags}
    assert set(by_name) == {"noop-0", "noop-1"}
    d0 = by_name["noop-0"]
    assert d0.enforcement_level == "mandatory" and d0.severity == "high"
    assert d0.message == \
        "No-op resource policy 0.\naws:rds/instance:Instance orders-db protect=True"
    assert d0.description == "No-op resource policy 0."
    assert (d0.policy_pack_name, d0.policy_pack_version) == ("drguard-noop", "0.0.1")
    assert by_name["noop-1"].enforcement_level == "advisory"
    assert by_name["noop-1"].severity == "low"
    assert by_name["noop-1"].message.endswith("threshold=7.0")


def test_configure_like_the_cli(reporter: AnalyzerClient, ready: Capture) -> None:
    db = ready.get("orders-db")
    sent = reporter.configure({"all": "mandatory", "noop-1": {"threshold": 3},
                               "noop-0": {"enforcementLevel": "disabled"}})
    assert sent["noop-1"].properties == {"threshold": 3}
    assert sent["noop-stack-0"].enforcement_level == "mandatory"
    diags = reporter.analyze(db).diagnostics
    assert [(d.policy_name, d.enforcement_level) for d in diags] == [("noop-1", "mandatory")]
    assert diags[0].message.endswith("threshold=3.0")
    with pytest.raises(PolicyConfigError, match="noop-1"):
        reporter.configure({"noop-1": {"threshold": 0}})
    with pytest.raises(PolicyConfigError, match="not a valid enforcement level"):
        reporter.configure({"noop-1": "strict"})


def test_unknowns_reach_the_pack_in_preview_only(reporter: AnalyzerClient, ready: Capture,
                                                 ready_up: Capture) -> None:
    preview = reporter.analyze(ready.get("db-backups-versioning")).diagnostics
    unknown = [d for d in preview if d.policy_name == "noop-2"]
    assert len(unknown) == 1 and unknown[0].enforcement_level == "advisory"
    assert "can't run policy 'noop-2'" in unknown[0].message
    assert "during preview" in unknown[0].message
    up = reporter.analyze(ready_up.get("db-backups-versioning")).diagnostics
    assert not [d for d in up if d.policy_name == "noop-2"]


def test_run_stack_like_the_engine(reporter: AnalyzerClient, ready: Capture) -> None:
    run = run_stack(reporter, ready)
    assert run.blocked  # noop-0 is mandatory
    custom = [r for r in ready if not r["type"].startswith("pulumi:")]
    assert {d.urn for d in run.by_policy("noop-0")} == {r["urn"] for r in custom}
    assert len(run.by_policy("noop-1")) == len(ready)  # the stack and providers too
    stack_diags = run.by_policy("noop-stack-0")
    assert [d.stage for d in stack_diags] == ["analyze_stack", "analyze_stack"]
    assert stack_diags[0].urn == ready.resources[0]["urn"]
    assert stack_diags[0].message.endswith(f"{len(ready)} resources")
    assert stack_diags[1].urn == ready.stack_urn  # no URN -> the root stack
    for split in ("db-backups-versioning", "db-backups-object-lock",
                  "db-backups-public-access-block"):
        assert ready.get("db-backups")["urn"] in stack_diags[1].message, split


def test_request_shapes_follow_the_engine(ready: Capture) -> None:
    member = ready.get("db-backups-versioning")
    req = analyze_request(member)
    assert req.options.parent == ready.stack_urn and req.HasField("provider")
    assert req.options.HasField("customTimeouts") and not req.options.deleteBeforeReplaceDefined
    assert req.properties["bucket"] == UNKNOWN
    res = stack_resource(member)
    assert res.options.parent == "" and res.parent == ready.stack_urn  # AnalyzeStack shape
    assert list(res.propertyDependencies) == ["bucket"]  # empty dependency lists dropped
    assert res.properties["id"] == UNKNOWN  # outputs, not inputs


def test_hand_built_resources(reporter: AnalyzerClient) -> None:
    res = make_resource("aws:s3/bucket:Bucket", "b", {"bucket": "x"}, protect=True)
    assert res["urn"] == "urn:pulumi:dev::test-project::aws:s3/bucket:Bucket::b"
    diags = reporter.analyze(res).diagnostics
    assert any(d.message.endswith("aws:s3/bucket:Bucket b protect=True") for d in diags)
    assert plain({"a": [{SIG_KEY: SECRET_SIG, "value": 1}]}) == {"a": [1]}


def test_resolve_policy_config_matches_cli() -> None:
    policies = [
        PolicyInfo("a", "", "advisory", "", "resource",
                   config_schema={"n": {"type": "integer", "default": 7},
                                  "m": {"type": "string", "default": "x"}}),
        PolicyInfo("b", "", "mandatory", "", "stack"),
    ]
    assert resolve_policy_config(policies, None, None) == {
        "a": resolve_policy_config(policies, None, {})["a"],
        "b": resolve_policy_config(policies, None, {})["b"],
    }
    defaults = resolve_policy_config(policies, None, None)
    assert (defaults["a"].enforcement_level, defaults["a"].properties) == \
        ("advisory", {"n": 7, "m": "x"})
    assert (defaults["b"].enforcement_level, defaults["b"].properties) == ("mandatory", None)
    cfg = resolve_policy_config(policies, {"b": {"enforcementLevel": "advisory"}},
                                {"all": "disabled", "a": {"n": 9}})
    assert cfg["a"].enforcement_level == cfg["b"].enforcement_level == "disabled"
    assert cfg["a"].properties == {"n": 9, "m": "x"}
    assert cfg["all"].enforcement_level == "disabled"  # the CLI sends "all" along too


def test_broken_pack_fails_with_its_output(tmp_path: Path) -> None:
    (tmp_path / "PulumiPolicy.yaml").write_text("runtime: python\nversion: 0.0.1\n")
    (tmp_path / "__main__.py").write_text("raise RuntimeError('pack exploded 7')\n")
    with pytest.raises(PolicyPackError, match="pack exploded 7"):
        PolicyPackProcess(tmp_path, startup_timeout=30).start()
