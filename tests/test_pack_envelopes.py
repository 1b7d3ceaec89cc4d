"""The pack given malformed Pulumi envelopes (a secret without `value`, an unknown signature,
an asset or archive without content) in one property: that property is read as unknown and
everything else is still judged, over gRPC as the engine sends it."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from policypack import wire
from tests.test_fuzz_pack import BASE, BY_NAME, _mutate

MALFORMED = {
    "secret-without-value": {wire.SIG_KEY: wire.SECRET_SIG},
    "secret-with-ciphertext-only": {wire.SIG_KEY: wire.SECRET_SIG, "ciphertext": "AAAA"},
    "wrong-signature": {wire.SIG_KEY: "0123456789abcdef0123456789abcdef", "value": 1},
    "signature-not-a-string": {wire.SIG_KEY: 7},
    "asset-without-content": {wire.SIG_KEY: wire.ASSET_SIG},
    "archive-with-bad-assets": {wire.SIG_KEY: wire.ARCHIVE_SIG, "assets": {"a": 1}},
    "nested-in-a-list": [{"ok": 1}, {wire.SIG_KEY: wire.SECRET_SIG}],
}
RDS_VIOLATIONS = {"rds-backup-retention", "rds-deletion-protection"}


@pytest.mark.parametrize("value", list(MALFORMED.values()), ids=list(MALFORMED))
def test_analyze_names_the_real_violations_beside_a_malformed_envelope(analyzer,  # noqa: ANN001
                                                                       value: Any) -> None:
    result = analyzer.analyze(_mutate(BY_NAME["orders-db"], "xUnrelated", value))
    got = {d.policy_name for d in result.diagnostics}
    assert RDS_VIOLATIONS <= got, [d.message for d in result.diagnostics]
    assert not any("could not read the resources" in d.message for d in result.diagnostics)


@pytest.mark.parametrize("value", list(MALFORMED.values()), ids=list(MALFORMED))
def test_analyze_stack_names_every_resource_violation(analyzer, value: Any) -> None:  # noqa: ANN001
    clean = analyzer.analyze_stack(BASE)
    want = {(d.policy_name, d.urn) for d in clean.diagnostics}
    resources = [_mutate(r, "xUnrelated", value) if r["name"] in ("orders-db", "db-backups")
                 else r for r in BASE]
    result = analyzer.analyze_stack(resources)
    got = {(d.policy_name, d.urn) for d in result.diagnostics}
    assert want <= got, sorted(want - got)[:5]
    assert not any("could not read the resources" in d.message for d in result.diagnostics)


def test_a_malformed_envelope_where_a_rule_looks_is_not_shown_compliant(analyzer) -> None:  # noqa: ANN001
    bad = _mutate(BY_NAME["orders-db"], "backupRetentionPeriod",
                  {wire.SIG_KEY: wire.SECRET_SIG})
    result = analyzer.analyze(bad)
    assert "rds-deletion-protection" in {d.policy_name for d in result.diagnostics}


def test_the_decoder_reads_what_the_sdk_reads() -> None:
    from google.protobuf import struct_pb2
    from pulumi_policy.deserialize import deserialize_properties

    good = {"a": {wire.SIG_KEY: wire.SECRET_SIG, "value": {"b": [1, "x", None, True]}},
            "asset": {wire.SIG_KEY: wire.ASSET_SIG, "text": "hello"}, "n": 7.5, "l": [[{}]]}
    s = struct_pb2.Struct()
    s.update(good)
    ours = wire.properties(s)
    theirs = deserialize_properties({k: v for k, v in good.items()})
    assert ours["a"] == theirs["a"] and ours["n"] == 7.5 and ours["l"] == [[{}]]
    assert ours["asset"].text == theirs["asset"].text == "hello"
    seen = wire.Decoded()
    s.update({"bad": {wire.SIG_KEY: wire.SECRET_SIG}, "nan": float("nan")})
    out = wire.properties(s, seen)
    assert out["bad"] == wire.UNKNOWN_STRING_VALUE and seen.malformed == ["bad"]
    assert out["nan"] == "NaN"


SENTINEL = "Sntl9x7QpZ2mK4vB8nR1wT6yH3cF5jD0"


def _secret_strings(resource: dict[str, Any]) -> dict[str, Any]:
    r = copy.deepcopy(resource)
    for side in ("properties", "outputs", "inputs"):
        for key, v in list((r.get(side) or {}).items()):
            if isinstance(v, str):
                r[side][key] = {wire.SIG_KEY: wire.SECRET_SIG, "value": v + SENTINEL}
    return r


def test_secret_values_never_reach_a_message(analyzer) -> None:  # noqa: ANN001
    """Every string property of every resource sent as a secret (its plaintext ending in a
    sentinel): rules still judge the values, no diagnostic quotes them."""
    secret = [_secret_strings(r) for r in BASE]
    for r in secret:
        for d in analyzer.analyze(r).diagnostics:
            assert SENTINEL not in d.message, (d.policy_name, d.message[:200])
    result = analyzer.analyze_stack(secret)
    assert result.diagnostics
    for d in result.diagnostics:
        assert SENTINEL not in d.message, (d.policy_name, d.message[:200])
    got = {d.policy_name for d in analyzer.analyze(secret[[r["name"] for r in BASE].index(
        "orders-db")]).diagnostics}
    assert RDS_VIOLATIONS <= got


def test_configure_refuses_a_fifo_waiver_file_at_once(analyzer, tmp_path) -> None:  # noqa: ANN001
    import os
    import time

    import grpc

    fifo = tmp_path / "waivers.yaml"
    os.mkfifo(fifo)
    start = time.monotonic()
    try:
        with pytest.raises(grpc.RpcError) as e:
            analyzer.configure({"dr-guard-settings": {"waiversFile": str(fifo)}})
        assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "FIFO" in e.value.details() and str(fifo) in e.value.details()
        assert "\n" not in e.value.details()
        assert time.monotonic() - start < 10  # never waited on the pipe
    finally:
        analyzer.configure()  # back to the defaults
