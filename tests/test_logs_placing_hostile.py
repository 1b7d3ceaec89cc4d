"""Placing a hit's record in hostile bytes: `reader._record_at` tries every `{` after `[` or
`,` back from the hit (inside strings too), and `_decode_at` decodes each in a window that
it widens while the value may be cut by the window's end. A value that fails inside the
window fails the same way in any wider one: widening it is wasted work, quadratic in a
record stuffed with `,{`."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from auditor.logs import reader


def counting(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The window width of each json decode `_decode_at` makes."""
    widths: list[int] = []
    decode = reader._decode

    def spy(text: str, pos: int) -> tuple[Any, int]:
        widths.append(len(text))
        return decode(text, pos)

    monkeypatch.setattr(reader, "_decode", spy)
    return widths


@pytest.mark.parametrize("native", [True, False])
def test_a_value_invalid_inside_the_window_is_decoded_once(monkeypatch: pytest.MonkeyPatch,
                                                           native: bool) -> None:
    widths = counting(monkeypatch)
    buf = b'[{,{"a": 1}' + b" " * 300_000 + b"]"
    assert reader._decode_at(buf, 1, native) is None
    assert len(widths) == 1


@pytest.mark.parametrize("native", [True, False])
def test_a_value_cut_by_the_window_is_widened(monkeypatch: pytest.MonkeyPatch,
                                              native: bool) -> None:
    widths = counting(monkeypatch)
    record = {"eventVersion": "1.08", "eventName": "StopLogging", "s": "x" * 40_000,
              "n": [1] * 10_000}
    for tail in ("", ' "x" : 1e5', "truex", "-Infinit"):
        widths.clear()
        text = json.dumps(record) + tail
        cut = text[:50_000]
        for body in (text, cut, cut[:-1] + '\\', cut[:-3] + '"\\u00'):
            buf = b"[" + body.encode() + b" " * 100_000
            got = reader._decode_at(buf, 1, native)
            assert (got is not None and got[0] == record) == (body == text)
        assert len(widths) > 4  # 16 KiB, 64 KiB: each cut value was tried wider


def _always_widen(e: ValueError, n: int) -> bool:
    return True


JSONISH = [b"{", b"}", b"[", b"]", b",", b":", b'"', b'"a"', b"\\", b'\\"', b"\\u00", b" ",
           b"1", b"-", b".", b"e", b"tru", b"true", b"null", b"NaN", b"-Infinity", b"\xc3",
           b"\xc3\xa9", b"\x01", b"x" * 40]


VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=60),
    lambda inner: st.lists(inner, max_size=6) | st.dictionaries(st.text(max_size=8), inner,
                                                               max_size=6),
    max_leaves=60)


@given(st.lists(st.sampled_from(JSONISH) | VALUES.map(lambda v: json.dumps(v).encode()),
                max_size=60), st.integers(5, 10))
@settings(max_examples=400, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
def test_stopping_early_decodes_what_widening_decodes(monkeypatch: pytest.MonkeyPatch,
                                                      tokens: list[bytes], bits: int) -> None:
    """With windows of 32 to 1024 characters (cut nearly everywhere), over JSON values and
    bits of them: `_decode_at` gives what it gives when it widens on every error, at every
    `{`."""
    buf = b"[" + b"".join(tokens)
    monkeypatch.setattr(reader, "DECODE_WINDOW", 1 << bits)
    for c in [i for i, x in enumerate(buf) if x == 0x7B][:6]:
        for native in (True, False):
            got = reader._decode_at(buf, c, native)
            with monkeypatch.context() as m:
                m.setattr(reader, "_cut_short", _always_widen)
                want = reader._decode_at(buf, c, native)
            assert repr(got) == repr(want), (buf[c:c + 80], bits)


# ---- the record-by-record read, after damage -------------------------------------------------

def _read(data: bytes) -> reader.FileResult:
    return reader.read("f.json", data, reader.Matcher(["StopLogging", "DeleteTrail"]))


def _stuffed(n: int, k: int, piece: bytes) -> bytes:
    """`n` damaged records (a missing colon), each with `piece` repeated `k` times in a
    string, then one good record that must still be read."""
    bad = b'{"eventVersion" "1.08","x":"' + piece * k + b'","eventName":"StopLogging"}'
    good = (b'{"eventVersion":"1.08","eventTime":"2024-05-01T00:00:00Z","eventName":'
            b'"DeleteTrail","eventID":"e9","eventSource":"cloudtrail.amazonaws.com",'
            b'"awsRegion":"us-east-1"}')
    return b'{"Records":[' + b",".join([bad] * n + [good]) + b"]}"


def test_braces_inside_damaged_records_are_not_each_decoded_whole(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """After damage, each `,{` is tried in a small window first: only one that may start a
    record costs a decode of the whole buffer (whose error counts every line before it)."""
    calls: list[int] = []
    element = reader._element

    def spy(b: Any, pos: int) -> Any:
        calls.append(pos)
        return element(b, pos)

    monkeypatch.setattr(reader, "_element", spy)
    res = _read(_stuffed(20, 2_000, b',{"x'))
    assert [r["eventID"] for _, r in res.records] == ["e9"]
    assert len(res.skipped) == 20
    assert len(calls) < 100  # one per record, not one per brace (40,000)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pieces=st.lists(st.sampled_from([b',{"x', b",{", b'},{"eventTime" x', b',{"a":1}',
                                        b",  {\n", b'\\"', b"]", b"[{", b",{}"]),
                       min_size=1, max_size=40),
       n=st.integers(1, 4), window=st.sampled_from([8, 64, 4096]))
def test_resynchronising_with_the_window_reads_what_decoding_whole_reads(
        pieces: list[bytes], n: int, window: int) -> None:
    data = _stuffed(n, 3, b"".join(pieces))
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(reader, "RESYNC_WINDOW", window)
        got = _read(data)
        mp.setattr(reader, "_fails_in_window", lambda text, pos: False)
        whole = _read(data)
    assert got.records == whole.records
    assert got.skipped == whole.skipped
    assert got.error == whole.error


def test_a_file_of_endless_damaged_records_is_cut_and_says_so(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reader, "RESYNC_COUNTED_MAX", 10)
    res = _read(_stuffed(1, 50, b'},{"eventTime" x'))
    assert len(res.skipped) == 12  # the first damaged record, 10 counted, then the cut
    assert res.skipped[-1][1] == "more than 10 damaged records in this file: the rest of " \
                                 "it is not read"
    assert res.records == []  # the good record after them is not read, and that is said
    few = _read(_stuffed(1, 5, b'},{"eventTime" x'))
    assert len(few.skipped) == 6 and [r["eventID"] for _, r in few.records] == ["e9"]
