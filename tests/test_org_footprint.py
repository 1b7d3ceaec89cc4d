"""An Organization scan costs about one account's memory: each service model is built and
read once per process, and the clients alive are bounded by the workers, not the accounts.
Counted (models built, JSON files read, clients alive), never timed."""

from __future__ import annotations

import gc
import weakref
from collections import Counter
from typing import Any

import botocore.client
import botocore.loaders
import botocore.model
import botocore.session
import pytest

from auditor import aws as aws_lib
from tests.live_support import run_scan
from tests.test_live_org import ROLE

pytestmark = pytest.mark.slow


class Footprint:
    """Counts ServiceModel builds and service-2 JSON reads per service, and clients made and
    alive (peak sampled at every API call)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.built: Counter[str] = Counter()
        self.read: Counter[str] = Counter()
        self.live: weakref.WeakSet[Any] = weakref.WeakSet()
        self.made = 0
        self.peak = 0
        model_init = botocore.model.ServiceModel.__init__
        load_file = botocore.loaders.JSONFileLoader.load_file
        client_init = botocore.client.BaseClient.__init__

        def model(obj: Any, description: Any, service_name: Any = None) -> None:
            self.built[service_name] += 1
            model_init(obj, description, service_name)

        def read(obj: Any, path: str) -> Any:
            if path.endswith(("service-2", "service-2.json")):
                self.read[path.split("/")[-3]] += 1
            return load_file(obj, path)

        def client(obj: Any, *a: Any, **kw: Any) -> None:
            client_init(obj, *a, **kw)
            self.live.add(obj)
            self.made += 1

        monkeypatch.setattr(botocore.model.ServiceModel, "__init__", model)
        monkeypatch.setattr(botocore.loaders.JSONFileLoader, "load_file", read)
        monkeypatch.setattr(botocore.client.BaseClient, "__init__", client)

    def on_call(self, service: str, operation: str, params: dict[str, Any]) -> None:
        self.peak = max(self.peak, len(self.live))

    def on_attempt(self, service: str, operation: str) -> None:
        pass


def make_org(aws_: Any, members: int) -> list[str]:
    org = aws_.client("organizations")
    org.create_organization(FeatureSet="ALL")
    return [org.create_account(AccountName=f"m{i}", Email=f"m{i}@example.com")
            ["CreateAccountStatus"]["AccountId"] for i in range(members)]


def keys(result: Any) -> list[tuple[str, ...]]:
    return sorted((f.control, f.resource, f.status, f.account or "") for f in result.findings)


def test_each_service_model_is_built_and_read_once_per_process(aws: Any, monkeypatch:
                                                               pytest.MonkeyPatch) -> None:
    make_org(aws, 3)
    monkeypatch.setattr(aws_lib, "_LOADER", None)  # as in a fresh process
    fp = Footprint(monkeypatch)
    with aws_lib.observe(fp):
        first = run_scan(aws, regions=["us-east-1", "us-west-2"], org=True, role_name=ROLE)
        second = run_scan(aws, regions=["us-east-1", "us-west-2"], org=True, role_name=ROLE)
    assert len(first.run["accounts"]) == 4 and keys(first) == keys(second)
    assert len(fp.built) >= 8, fp.built  # the scan's services, each once across both scans
    assert set(fp.built.values()) == {1}, fp.built
    assert set(fp.read.values()) == {1} and set(fp.read) <= set(fp.built), fp.read
    # 4 accounts x 2 regions: far more clients than models
    assert fp.made > 3 * len(fp.built)
    # a session made elsewhere keeps botocore's own behaviour (its own model)
    before = fp.built["s3"]
    botocore.session.Session().create_client("s3", region_name="us-east-1",
                                             aws_access_key_id="a", aws_secret_access_key="b")
    assert fp.built["s3"] == before + 1


def test_live_clients_are_bounded_by_the_pool_not_the_accounts(aws: Any, monkeypatch:
                                                               pytest.MonkeyPatch) -> None:
    make_org(aws, 8)
    fp = Footprint(monkeypatch)
    with aws_lib.observe(fp):  # run_scan: 4 workers
        alone = run_scan(aws, regions=["us-east-1"], org=True, role_name=ROLE,
                         client_accounts=100)
    every = fp.peak  # nothing dropped: every account's clients alive at the end
    per_account = fp.made / len(alone.run["accounts"])
    assert len(fp.live) == 0  # freed with the scan, no reference cycle to wait for
    fp.peak = fp.made = 0
    with aws_lib.observe(fp):
        bounded = run_scan(aws, regions=["us-east-1"], org=True, role_name=ROLE,
                           client_accounts=2)
    assert len(bounded.run["accounts"]) == 9
    # at most the 2 accounts kept plus the 4 the workers are on hold clients
    assert fp.peak <= (2 + 4) * per_account < every
    assert fp.made > fp.peak  # dropped clients were made again when needed
    assert keys(bounded) == keys(alone)  # same findings whatever is dropped
    del alone, bounded
    gc.collect()
    assert len(fp.live) == 0  # nothing left once the scan is over
