"""The reader decodes a candidate record with msgspec only when that gives exactly what its
json decoder gives (value, end, numbers out of range marked); anything else goes to json."""

from __future__ import annotations

import datetime as dt
import json
import random
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from auditor.logs import reader, samples

pytest.importorskip("msgspec")


def json_only(buf: bytes, c: int) -> tuple[Any, int, bool] | None:
    """`reader._decode_at` with msgspec switched off."""
    saved = reader._msgspec_decode
    reader._msgspec_decode = None
    try:
        return reader._decode_at(buf, c)
    finally:
        reader._msgspec_decode = saved


def same(buf: bytes, c: int = 0) -> tuple[Any, int, bool] | None:
    """Decode at `c` both ways and check they agree: same value (keys in the same order, same
    types), same end, the overflow mark the same. The msgspec result (or None)."""
    got, want = reader._decode_at(buf, c), json_only(buf, c)
    if want is None:
        assert got is None
        return None
    assert got is not None
    assert got[1] == want[1]
    assert repr(got[0]) == repr(want[0])  # repr: key order, int vs float, -0.0, NaN marks
    if got[2]:  # shallow: `shape` would have found nothing
        assert reader.shape(got[0]) is None
    return reader._decode_plain(buf, c)


RECORD = samples.record("PutBucketVersioning", "s3.amazonaws.com",
                        {"bucketName": "b", "VersioningConfiguration": {"Status": "Suspended"}})


@pytest.mark.parametrize("value", [
    '{"a":1,"b":2,"a":3}',  # duplicate keys: the last value, in the first key's place
    '{"a":-0,"b":-0.0,"c":1E5,"d":1e-400,"e":1.7976931348623157e308,"f":0.1}',
    '{"a":1e400}', '{"a":-1e400}', '{"a":NaN}', '{"a":Infinity}', '{"a":-Infinity}',
    '{"a":' + "1" * 400 + '.0}',  # a float out of range written long
    '{"a":' + "9" * 3900 + '}',  # a long integer json still reads
    '{"a":' + "9" * 4001 + '}',  # one json marks out of range (too long for msgspec's try)
    '{"a":"\\ud83d\\ude00","b":"\\u00e9\\u0000\\/"}', '{"a":"\\ud800"}',
    '{"a":"\\udc00x"}', '{"a":"\\ud800\\u0041"}', '{"\\u0061":1}',
    '{"a":"\u00e9\u4e2d"}',  # non-ASCII as UTF-8: the end is a byte offset
    '{"a":' + "[" * 70 + "]" * 70 + '}',  # deeper than MAX_DEPTH: not shallow
    '{"a":' + "[" * 600 + "]" * 600 + '}',  # more brackets than msgspec is tried on
    '{"a":' + "[" * 5000 + "]" * 5000 + '}',  # deeper than the decoders go
    '{"a":"\t"}', '{"a":1', '{"a":1}}', '{"a" 1}',
    json.dumps(RECORD), json.dumps(RECORD, indent=2),
])
@pytest.mark.parametrize("after", ["", ",", " ,{\"eventVersion\":\"1\"}", "\n]}", "}x"])
def test_msgspec_gives_what_json_gives(value: str, after: str) -> None:
    same(b"[" + value.encode() + after.encode(), 1)


def test_plain_records_do_go_through_msgspec() -> None:
    """The fast decode is used for ordinary records (not only refused)."""
    recs = samples.mixed_records(random.Random(3), 50, dt.datetime(2024, 5, 2, tzinfo=dt.UTC))
    body = json.dumps({"Records": recs}, separators=(",", ":")).encode()
    starts = [i + 1 for i in range(len(body)) if body[i:i + 16] == b',{"eventVersion"']
    assert len(starts) == len(recs) - 1
    for c in starts:
        plain = same(body, c)
        assert plain is not None and plain[2], body[c:c + 200]


def test_invalid_utf8_goes_to_json_and_is_counted() -> None:
    buf = b'[{"a":"\xff\xfe","eventName":"x"},{"eventVersion":"1"}]'
    before = reader._Text.replaced
    got = reader._decode_at(buf, 1)
    assert got is not None and got[0]["a"] == "\ufffd\ufffd" and not got[2]
    assert reader._Text.replaced - before == 2


scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20))
values = st.recursive(scalars, lambda kids: st.one_of(
    st.lists(kids, max_size=4), st.dictionaries(st.text(max_size=8), kids, max_size=4)),
    max_leaves=30)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.text(max_size=10), values, max_size=6), st.sampled_from(
    [",", " , ", "]", "}", ""]), st.booleans())
def test_msgspec_gives_what_json_gives_fuzzed(doc: dict[str, Any], after: str,
                                              ascii_only: bool) -> None:
    text = json.dumps(doc, ensure_ascii=ascii_only)
    same(b"[" + text.encode("utf-8", "surrogatepass") + after.encode(), 1)


@pytest.mark.parametrize("shift", [None, -2, -1, 1, 5])
def test_another_msgspec_error_message_falls_back_safely(
        shift: int | None, monkeypatch: pytest.MonkeyPatch) -> None:
    """The record's end is read from msgspec's "trailing characters (byte N)" (0.22.0): a
    release that words it otherwise (None) or counts N otherwise must cost speed only, never
    a different value or end."""
    import re

    import msgspec

    real = reader._msgspec_decode

    def decode(data: Any) -> Any:
        try:
            return real(data)
        except msgspec.DecodeError as e:
            m = re.search(r"trailing characters \(byte ([0-9]+)\)", str(e))
            if m is None:
                raise
            if shift is None:
                raise msgspec.DecodeError("JSON is malformed: extra data") from None
            raise msgspec.DecodeError(str(e).replace(
                m[0], f"trailing characters (byte {int(m[1]) + shift})")) from None

    recs = samples.mixed_records(random.Random(4), 40, dt.datetime(2024, 5, 2, tzinfo=dt.UTC))
    for body in (json.dumps({"Records": recs}, separators=(",", ":")).encode(),
                 json.dumps({"Records": recs}, separators=(" , ", ":"), indent=1).encode()):
        starts = [i for i in range(len(body)) if body[i:i + 1] == b"{"]
        monkeypatch.setattr(reader, "_msgspec_decode", decode)
        for c in starts:
            got, want = reader._decode_at(body, c), json_only(body, c)
            assert (got is None) == (want is None)
            if got is not None and want is not None:
                assert got[1] == want[1] and repr(got[0]) == repr(want[0])
