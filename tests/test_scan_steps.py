"""How the scan reads: the first read of every service of a unit is its own task (so one
account's services are read side by side), and what they read lands in step order; the
botocore model files the auditor's clients load decode the same through msgspec."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace
from typing import Any

import botocore.loaders
import pytest
from botocore.exceptions import ClientError

from auditor import aws
from auditor.live import AccountScan, RegionScan, Step, Target
from auditor.scan import Scanner, ScanOptions
from drguard.settings import Settings


def test_the_steps_of_one_unit_run_at_once_and_land_in_step_order() -> None:
    # Each step waits until all three are running: steps read one after another would
    # break the barrier (its timeout only turns a hang into a failure).
    barrier = threading.Barrier(3, timeout=30)

    def reads(value: str) -> Any:
        def collect(_scanner: Any, _acct: Any, unit: RegionScan) -> tuple[str, str]:
            barrier.wait()
            return value, unit.region
        return collect

    def denied(_scanner: Any, _acct: Any, _unit: RegionScan) -> None:
        barrier.wait()
        raise ClientError({"Error": {"Code": "AccessDenied", "Message": "no"}}, "ListThings")

    steps = [Step("c", "svc:ReadC", reads("third")), Step("a", "svc:ListThings", denied),
             Step("b", "svc:ReadB", reads("first"))]
    scanner = Scanner(ScanOptions(workers=4), Settings())
    account = SimpleNamespace(clock=aws.AccountClock())
    a = AccountScan(Target("123456789012", None, account))  # type: ignore[arg-type]
    rs = a.regions.setdefault("eu-west-1", RegionScan("eu-west-1"))
    with ThreadPoolExecutor(4) as pool:
        scanner._pool = pool
        scanner._read("region reads", [(a, rs)], steps)
    assert list(rs.data.items()) == [("c", ("third", "eu-west-1")), ("b", ("first", "eu-west-1"))]
    assert list(rs.errors) == ["a"]
    assert rs.errors["a"].operation == "svc:ListThings" and rs.errors["a"].code == "AccessDenied"
    assert account.clock.busy() > 0


@pytest.mark.parametrize("service", ["s3", "rds", "ec2", "dynamodb", "backup", "cloudtrail",
                                     "iam", "sts", "efs", "elasticache", "redshift", "events",
                                     "organizations", "kms"])
def test_model_files_decode_the_same_through_msgspec(service: str) -> None:
    plain, fast = botocore.loaders.Loader(), botocore.loaders.Loader()
    fast.file_loader = aws._fast_file_loader()
    for kind in ("service-2", "paginators-1", "endpoint-rule-set-1"):
        want = plain.load_service_model(service, kind)
        got = fast.load_service_model(service, kind)
        # the same values in the same order, all the way down
        assert json.dumps(got) == json.dumps(want), (service, kind)
    for name in ("endpoints", "partitions", "_retry", "sdk-default-configuration"):
        assert json.dumps(fast.load_data(name)) == json.dumps(plain.load_data(name)), name


def test_what_msgspec_refuses_goes_to_botocores_reader(tmp_path: Any) -> None:
    # NaN is not JSON: msgspec refuses it, the stdlib reader (botocore's) takes it
    (tmp_path / "odd.json").write_text('{"b": NaN, "a": [1, 2]}')
    got = aws._fast_file_loader().load_file(str(tmp_path / "odd"))
    assert list(got) == ["b", "a"] and got["a"] == [1, 2] and got["b"] != got["b"]
    assert aws._fast_file_loader().load_file(str(tmp_path / "missing")) is None
