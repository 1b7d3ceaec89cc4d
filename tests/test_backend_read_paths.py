"""Reading checkpoints: the whole-file msgspec path and the ijson stream index the same.

Checkpoints up to backends.WHOLE_LIMIT are read at once and decoded into the few fields the
index keeps; larger ones, and what msgspec does not read as a checkpoint, are streamed by ijson.
Both paths must give the same index and the same errors."""

from __future__ import annotations

import gzip
import io
import json
from collections.abc import Iterator
from typing import Any

import ijson
import pytest

from auditor import backends
from drguard.stateindex import StateIndex

STACK = "urn:pulumi:prod::shop"


def _res(i: int, **extra: Any) -> dict[str, Any]:
    name = f"t{i}"
    return {"urn": f"{STACK}::aws:dynamodb/table:Table::{name}", "custom": True, "id": name,
            "type": "aws:dynamodb/table:Table", "inputs": {"name": name, "x": [1, 2.5]},
            "outputs": {"name": name, "arn": f"arn:aws:dynamodb:us-east-1:123456789012:"
                                             f"table/{name}", "tags": {"a": "b"}}, **extra}


def _odd_resources() -> list[dict[str, Any]]:
    """Every shape the index has to tell apart, and values of unexpected types."""
    sig = "4dabf18193072939515e22adb298388d"
    return [
        {"urn": f"{STACK}::pulumi:pulumi:Stack::shop-prod", "type": "pulumi:pulumi:Stack",
         "custom": False},
        _res(1), _res(2, external=True), _res(3, delete=True), _res(4, custom=None),
        {**_res(5), "outputs": {sig: "1b47061264138c4ac30d75fd1eb44270", "ciphertext": "x"}},
        {**_res(6), "outputs": {"name": 7, "arn": None, "bucket": ["not", "a", "name"],
                                "identifier": {"nested": True}, "dbInstanceArn": "no-arn"}},
        {**_res(7), "id": 12345, "urn": None},
        {"urn": f"{STACK}::aws:s3/bucket:Bucket::b", "type": "aws:s3/bucket:Bucket",
         "id": "b-1", "outputs": {"bucket": "data-\u00e9", "arn": "arn:aws:s3:::data-\u00e9"}},
        {"urn": f"{STACK}::aws:rds/instance:Instance::db", "type": "aws:rds/instance:Instance",
         "custom": True, "id": "db-1", "outputs": {"identifier": "prod-db",
                                                   "arn": "arn:aws:rds:us-east-1:1:db:prod-db",
                                                   "allocatedStorage": 2**63 - 1}},
        # providers place the resources they manage: region from their inputs or outputs
        {"urn": f"{STACK}::pulumi:providers:aws::west", "type": "pulumi:providers:aws",
         "custom": True, "id": "w1", "inputs": {"region": "us-west-2"}, "outputs": {}},
        {"urn": f"{STACK}::pulumi:providers:aws::odd", "type": "pulumi:providers:aws",
         "custom": True, "id": "o1", "outputs": {"region": ["not", "text"]}},
        {**_res(8), "provider": f"{STACK}::pulumi:providers:aws::west::w1",
         "outputs": {"name": "t8"}},
        {**_res(9), "provider": f"{STACK}::pulumi:providers:aws::odd::o1",
         "outputs": {"name": "t9", "region": 5}},
        {**_res(10), "provider": 17, "outputs": {"name": "t10", "region": "eu-west-1"}},
    ]


def _checkpoint(resources: Any) -> bytes:
    return json.dumps({"version": 3, "checkpoint": {"stack": "organization/shop/prod",
                                                    "latest": {"resources": resources}}}
                      ).encode()


def _streamed(data: bytes, prefix: str = backends.CHECKPOINT_ITEMS) -> Iterator[Any]:
    """What the reader gave before the whole-file path: ijson over the stream."""
    yield from ijson.items(io.BytesIO(data), prefix, use_float=True)


def _index(items: Any) -> StateIndex:
    index = StateIndex()
    index.add_stack("shop/prod", items)
    return index


def _same(a: StateIndex, b: StateIndex) -> None:
    assert a.entries() == b.entries()  # the whole index, key by key
    assert (a.resources, a.stacks) == (b.resources, b.stacks)


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize("limit", [backends.WHOLE_LIMIT, 1000])
def test_whole_and_streamed_reads_index_the_same(gz: bool, limit: int) -> None:
    data = _checkpoint(_odd_resources() + [_res(i) for i in range(10, 200)])
    body = gzip.compress(data) if gz else data
    got = _index(backends._items(io.BytesIO(body), gz, backends.CHECKPOINT_ITEMS, limit))
    want = _index(_streamed(data))
    assert want.resources > 190
    _same(got, want)


def test_export_shape_reads_the_same() -> None:
    data = json.dumps({"version": 3, "deployment": {"resources": _odd_resources()}}).encode()
    got = _index(backends._items(io.BytesIO(data), False, backends.EXPORT_ITEMS))
    _same(got, _index(_streamed(data, backends.EXPORT_ITEMS)))


@pytest.mark.parametrize("doc", [
    {"version": 3, "checkpoint": {"latest": {"resources": "not a list"}}},
    {"version": 3, "checkpoint": {"latest": {"resources": [1, "x", None, _res(1)]}}},
    {"version": 3, "checkpoint": {"latest": {"resources": [{**_res(1), "outputs": "x"}]}}},
    {"version": 3, "checkpoint": {"latest": None}},
    [1, 2, 3],
])
def test_shapes_msgspec_refuses_are_streamed(doc: Any) -> None:
    data = json.dumps(doc).encode()
    got = _index(backends._items(io.BytesIO(data), False, backends.CHECKPOINT_ITEMS))
    _same(got, _index(_streamed(data)))


@pytest.mark.parametrize("body, gz, error", [
    (_checkpoint([_res(1)])[:-30], False, ijson.JSONError),
    (gzip.compress(_checkpoint([_res(1)]))[:-40], True, EOFError),
    (b"not gzip at all", True, OSError),
])
def test_damaged_checkpoints_raise_as_before(body: bytes, gz: bool, error: type) -> None:
    with pytest.raises(error):
        list(backends._items(io.BytesIO(body), gz, backends.CHECKPOINT_ITEMS))


def test_gzip_bomb_is_streamed_not_inflated_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """A small gzip that inflates beyond the limit is streamed (memory stays bounded)."""
    monkeypatch.setattr(backends, "_CHUNK", 512)
    data = _checkpoint([_res(i) for i in range(2000)])
    reads: list[int] = []

    class Counting(io.BytesIO):
        def read(self, n: int | None = -1) -> bytes:
            out = super().read(n)
            reads.append(len(out))
            return out

    body = Counting(gzip.compress(data))
    items = backends._items(body, True, backends.CHECKPOINT_ITEMS, limit=10_000)
    first = next(items)
    assert first["urn"].endswith("::t0")
    assert sum(reads) < len(body.getvalue())  # not all read before the first resource
    assert sum(1 for _ in items) == 1999


def test_whole_read_takes_integers_beyond_64_bits() -> None:
    """yajl (ijson's C backend) refuses them, which made the whole checkpoint unreadable."""
    big = {**_res(1), "outputs": {**_res(1)["outputs"], "allocatedStorage": 10**30}}
    data = _checkpoint([big])
    index = _index(backends._items(io.BytesIO(data), False, backends.CHECKPOINT_ITEMS))
    assert index.resources == 1 and index.lookup(big["outputs"]["arn"]) is not None


def test_providers_place_what_both_reads_index() -> None:
    """The entries the two reads agree on do place the resources (not both empty)."""
    data = _checkpoint(_odd_resources())
    entries = _index(backends._items(io.BytesIO(data), False,
                                     backends.CHECKPOINT_ITEMS)).entries()
    placed = {e[0]: e[3:5] for e in entries if len(e) == 6}
    assert placed["dynamodb:t8"] == (None, "us-west-2")  # its provider's region
    assert placed["dynamodb:t9"] == (None, None)  # nothing readable places it
    assert placed["dynamodb:t10"] == (None, "eu-west-1")  # its own region output
    assert placed["dynamodb:t1"] == ("123456789012", "us-east-1")  # its ARN
