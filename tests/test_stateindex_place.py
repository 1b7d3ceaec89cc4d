"""A live resource is matched to a checkpoint by name only where the checkpoint does not place
that resource in another account or region.

Staging and production accounts often name their tables and databases alike. A database made
by hand in production must not count as managed by code because a staging stack manages a
database of the same name, nor take that stack's application, owner and tier."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from auditor import backends, managed
from drguard.findings import Finding
from drguard.settings import Settings
from drguard.stateindex import StateIndex

PROD, STAGING = "111111111111", "222222222222"


def _provider(stack: str, region: str | None, name: str = "default") -> dict[str, Any]:
    props = {"region": region} if region else {}
    return {"urn": f"urn:pulumi:{stack}::shop::pulumi:providers:aws::{name}", "custom": True,
            "id": f"{name}-id", "type": "pulumi:providers:aws", "inputs": props,
            "outputs": props}


def _res(stack: str, token: str, name: str, outputs: dict[str, Any], rid: str,
         provider: str = "default") -> dict[str, Any]:
    return {"urn": f"urn:pulumi:{stack}::shop::{token}::{name}", "type": token, "custom": True,
            "id": rid, "outputs": outputs,
            "provider": f"urn:pulumi:{stack}::shop::pulumi:providers:aws::{provider}::"
                        f"{provider}-id"}


def _staging(region: str | None = "us-east-1") -> list[dict[str, Any]]:
    """A staging stack: a table whose ARN places it, and a database known by id only (its
    account is the one the provider's other resources name)."""
    return [
        _provider("staging", region),
        _res("staging", "aws:dynamodb/table:Table", "orders",
             {"name": "orders", "arn": f"arn:aws:dynamodb:us-east-1:{STAGING}:table/orders"},
             "orders"),
        _res("staging", "aws:rds/instance:Instance", "db", {"identifier": "orders-db"},
             "orders-db"),
    ]


def _index(*stacks: tuple[str, list[dict[str, Any]]]) -> StateIndex:
    index = StateIndex()
    for name, resources in stacks:
        index.add_stack(name, resources)
    return index


def test_a_name_in_another_account_is_not_a_match() -> None:
    index = _index(("shop/staging", _staging()))
    assert index.lookup(f"arn:aws:dynamodb:us-east-1:{STAGING}:table/orders").stack \
        == "shop/staging"
    # the same name in production: a table of its own
    assert index.lookup(f"arn:aws:dynamodb:us-east-1:{PROD}:table/orders") is None
    # known by id only: placed by its provider (account from the table's ARN, region set)
    assert index.lookup(f"arn:aws:rds:us-east-1:{STAGING}:db:orders-db").stack \
        == "shop/staging"
    assert index.lookup(f"arn:aws:rds:us-east-1:{PROD}:db:orders-db") is None
    assert index.lookup(f"arn:aws:rds:eu-west-1:{STAGING}:db:orders-db") is None


def test_what_the_checkpoint_does_not_place_still_matches_by_name() -> None:
    """No ARN, no region, no other resource naming the account: nothing says it is another
    resource, so the name match stands (as before)."""
    index = _index(("shop/legacy", [
        _provider("legacy", None),
        _res("legacy", "aws:rds/instance:Instance", "db", {"identifier": "orders-db"},
             "orders-db")]))
    assert index.lookup(f"arn:aws:rds:eu-west-1:{PROD}:db:orders-db").stack == "shop/legacy"


def test_the_region_output_places_a_resource() -> None:
    """pulumi-aws 7 records each resource's region; it wins over no provider region."""
    index = _index(("shop/staging", [
        _provider("staging", None),
        _res("staging", "aws:efs/fileSystem:FileSystem", "fs",
             {"region": "eu-west-1"}, "fs-0123")]))
    assert index.lookup(f"arn:aws:elasticfilesystem:eu-west-1:{PROD}:file-system/fs-0123") \
        is not None
    assert index.lookup(
        f"arn:aws:elasticfilesystem:us-east-1:{PROD}:file-system/fs-0123") is None


def test_a_stack_that_places_the_resource_wins_over_one_that_does_not() -> None:
    legacy = [_provider("legacy", None),
              _res("legacy", "aws:rds/instance:Instance", "db", {}, "orders-db")]
    prod = [_provider("prod", "us-east-1"),
            _res("prod", "aws:dynamodb/table:Table", "t",
                 {"arn": f"arn:aws:dynamodb:us-east-1:{PROD}:table/t"}, "t"),
            _res("prod", "aws:rds/instance:Instance", "db", {}, "orders-db")]
    index = _index(("shop/legacy", legacy), ("shop/prod", prod))
    assert index.lookup(f"arn:aws:rds:us-east-1:{PROD}:db:orders-db").stack == "shop/prod"
    # a tie (neither placed better): the first read, as before
    index = _index(("shop/legacy", legacy), ("shop/other", legacy))
    assert index.lookup(f"arn:aws:rds:us-east-1:{PROD}:db:orders-db").stack == "shop/legacy"


def test_providers_are_the_stacks_own() -> None:
    """A provider reference names the provider of the same checkpoint only."""
    staging = _staging(region="eu-west-1")
    other = [_res("staging", "aws:rds/instance:Instance", "db2", {}, "other-db")]
    index = _index(("shop/staging", staging), ("shop/copy", other))
    # same provider URN in another checkpoint: not placed by staging's provider
    assert index.lookup(f"arn:aws:rds:us-east-1:{PROD}:db:other-db").stack == "shop/copy"


@pytest.mark.parametrize("whole", [True, False])
def test_a_hand_made_database_named_like_a_staging_one_is_managed_by_no_stack(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, whole: bool) -> None:
    """Through the backend reader (the whole-file read and the stream) and the control: the
    production database fails resource-managed-by-code, the staging one passes."""
    if not whole:
        monkeypatch.setattr(backends, "WHOLE_LIMIT", 10)
    stacks = tmp_path / ".pulumi" / "stacks" / "shop"
    stacks.mkdir(parents=True)
    (stacks / "staging.json").write_text(json.dumps({"version": 3, "checkpoint": {
        "stack": "organization/shop/staging", "latest": {"resources": _staging()}}}))
    index, run = backends.read([f"file://{tmp_path}"], lambda: None)
    assert run.unread == [] and run.resources == 2  # (the provider is not one)
    live = [Finding("rds-backup-retention", "pass", "live",
                    f"arn:aws:rds:us-east-1:{account}:db:orders-db", "ok", account=account,
                    region="us-east-1") for account in (PROD, STAGING)]
    got = {f.account: f.status for f in managed.judge(live, index, run, Settings())}
    assert got == {PROD: "fail", STAGING: "pass"}


def test_a_global_tables_replicas_are_managed_by_its_stack() -> None:
    """A table with `replicas` has one Pulumi resource and a live table in each replica region
    (under the same name): each replica is managed by the stack, and the name in a region the
    table does not replicate to is still no match."""
    arn = f"arn:aws:dynamodb:us-east-1:{PROD}:table/orders"
    replica = f"arn:aws:dynamodb:us-west-2:{PROD}:table/orders"
    index = _index(("shop/prod", [
        _provider("prod", "us-east-1"),
        _res("prod", "aws:dynamodb/table:Table", "orders",
             {"name": "orders", "arn": arn,
              "replicas": [{"regionName": "us-west-2", "arn": replica},
                           {"regionName": "eu-west-1"}, "junk", {"regionName": 7}]},
             "orders")]))
    for live in (arn, replica, f"arn:aws:dynamodb:eu-west-1:{PROD}:table/orders"):
        hit = index.lookup(live)
        assert hit is not None and hit.stack == "shop/prod", live
    assert index.lookup(f"arn:aws:dynamodb:ap-south-1:{PROD}:table/orders") is None
    assert index.lookup(f"arn:aws:dynamodb:us-west-2:{STAGING}:table/orders") is None
    # aws-native: its replicas name their region (`region`), the stack's table its ARN
    index = _index(("shop/native", [_res(
        "native", "aws-native:dynamodb:GlobalTable", "orders",
        {"arn": arn, "replicas": [{"region": "us-east-1"}, {"region": "us-west-2"}]},
        "orders")]))
    assert index.lookup(replica).stack == "shop/native"
    assert index.lookup(f"arn:aws:dynamodb:eu-west-1:{PROD}:table/orders") is None


@pytest.mark.parametrize("whole", [True, False])
def test_replicas_are_read_by_the_backend_reader(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                 whole: bool) -> None:
    if not whole:
        monkeypatch.setattr(backends, "WHOLE_LIMIT", 10)
    stacks = tmp_path / ".pulumi" / "stacks" / "shop"
    stacks.mkdir(parents=True)
    table = _res("prod", "aws:dynamodb/table:Table", "orders",
                 {"name": "orders", "arn": f"arn:aws:dynamodb:us-east-1:{PROD}:table/orders",
                  "replicas": [{"regionName": "us-west-2"}]}, "orders")
    (stacks / "prod.json").write_text(json.dumps({"version": 3, "checkpoint": {
        "stack": "organization/shop/prod",
        "latest": {"resources": [_provider("prod", "us-east-1"), table]}}}))
    index, run = backends.read([f"file://{tmp_path}"], lambda: None)
    assert run.unread == []
    assert index.lookup(f"arn:aws:dynamodb:us-west-2:{PROD}:table/orders") is not None


def test_a_bucket_of_another_partition_is_another_bucket() -> None:
    """Bucket names are unique within a partition only: `x` in China is not the `x` a
    checkpoint of the aws partition manages (its ARN says, or its region)."""
    index = _index(("shop/prod", [
        _provider("prod", "us-east-1"),
        _res("prod", "aws:s3/bucket:Bucket", "b", {"bucket": "x", "arn": "arn:aws:s3:::x"},
             "x"),
        _res("prod", "aws:s3/bucket:Bucket", "c", {"bucket": "y", "region": "cn-north-1"},
             "y")]))
    assert index.lookup("arn:aws:s3:::x") is not None
    assert index.lookup("arn:aws-cn:s3:::x") is None
    assert index.lookup("arn:aws-cn:s3:::y") is not None  # placed in China by its region
    assert index.lookup("arn:aws:s3:::y") is None
