"""The reader's scan in C (`auditor/logs/_native.c`) against its definition in Python: the
watched `"eventName"` matches (all of them, overlapping ones too) and the escaped letter or
digit anywhere in the stream, over any split of the stream into pieces, on AVX2 and on the
portable memchr/memmem path; and whole files read with each scanner give the same result.

The extension is part of the dev install (`pip install -e .` builds it): a checkout where it
is not built fails here instead of silently reading at hyperscan's speed.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import random
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from auditor.logs import reader, samples
from auditor.logs.detect import Detector
from drguard.settings import Settings

try:
    from auditor.logs import _native as native
except ImportError:  # test_the_extension_is_built says so
    native = None
NAMES = sorted(Detector(Settings()).names)
WS = rb"[ \t\n\r]*"
# every match, also one starting inside another (a lookahead at each position)
MATCHES = re.compile(rb'(?=("eventName"' + WS + b":" + WS + rb'"(?:'
                     + b"|".join(re.escape(n.encode()) for n in NAMES) + rb')"))')
T0 = dt.datetime(2024, 5, 1, tzinfo=dt.UTC)
ESCAPED = re.compile(rb"\\u00(?:3[0-9]|[46][1-9a-fA-F]|[57][0-9aA])")


def test_the_extension_is_built() -> None:
    """`pip install -e .` (make setup, make demo) compiles it; CI must notice when not."""
    assert native is not None, "auditor/logs/_native.c is not built: pip install -e ."
    assert reader.Matcher(NAMES).native() is not None
    # an edit of the C file is tested only once it is built again
    source = Path(reader.__file__).with_name("_native.c")
    built = Path(native.__file__)
    assert built.stat().st_mtime >= source.stat().st_mtime, \
        f"{built.name} is older than {source.name}: pip install -e . to rebuild it"


@pytest.fixture(params=["avx2", "portable"])
def path(request: pytest.FixtureRequest) -> Iterator[str]:
    if native is None:
        pytest.fail("the C extension is not built")
    was = native.set_avx2(request.param == "avx2")
    try:
        yield request.param
    finally:
        native.set_avx2(was)


def expected(stream: bytes, cuts: list[int]) -> tuple[list[list[int]], int | None]:
    """Per piece, the match ends known once it is read; and the piece at which an escaped
    letter or digit is complete (None: none)."""
    ends = [m.start() + len(m.group(1)) for m in MATCHES.finditer(stream)]
    esc = ESCAPED.search(stream)
    per_piece, stop = [], None
    for k, cut in enumerate(cuts):
        if esc is not None and esc.end() <= cut:
            stop = k
            break
        per_piece.append([e for e in ends if e <= cut])
    return per_piece, stop


def scanned(stream: bytes, cuts: list[int]) -> tuple[list[list[int]], int | None]:
    assert native is not None
    feed = native.Names([n.encode() for n in NAMES]).stream().feed
    hits: list[int] = []
    per_piece, prev = [], 0
    for k, cut in enumerate(cuts):
        if not feed(stream[prev:cut], hits):
            return per_piece, k
        per_piece.append(list(hits))
        prev = cut
    return per_piece, None


TOKENS = [b'"eventName"', b'"eventName', b'eventName"', b'"event', b'Name"', b'"', b":", b" ",
          b"\t", b"\n", b"\r", b",", b"{", b"}", b"[", b"]", b"x", b"N", b"v", b"\\",
          b"\\u0041", b"\\u004", b"\\u00", b"\\u0020", b"\\u0030", b"\\u005a", b"\\u007B",
          b"\\\\", b'\\"', b"\xc3\xa9", b"\x00", b"  " * 40,
          *(f'"{n}"'.encode() for n in NAMES[:12]), *(n.encode() for n in NAMES[:12]),
          *(f'"{n[:-1]}"'.encode() for n in NAMES[:4]), b'"eventName":"StopLogging"',
          b'"eventName" :\n "DeleteTrail"', b'"eventName":"eventName":"StopLogging"']


def splits(rng: random.Random, n: int) -> list[int]:
    """Random cuts of [0, n): empty pieces, one-byte pieces, long ones, the end last."""
    cuts, at = [], 0
    while at < n:
        at = min(n, at + rng.choice([0, 1, 1, 2, 3, 7, 11, 64, 500, 5000, 70000]))
        cuts.append(at)
    return cuts or [0]


def check(stream: bytes, cuts: list[int]) -> None:
    assert scanned(stream, cuts) == expected(stream, cuts), (stream[:200], cuts[:20])


@pytest.mark.parametrize("seed", range(40))
def test_random_token_streams_scan_as_the_regex_does(path: str, seed: int) -> None:
    rng = random.Random(seed)
    weights = [rng.random() ** 3 for _ in TOKENS]
    stream = b"".join(rng.choices(TOKENS, weights, k=rng.choice([50, 2000, 30000])))
    if seed % 2:  # most streams without an escape, so that the matches are all compared
        stream = ESCAPED.sub(b"\\\\u00", stream)
    for _ in range(4):
        check(stream, splits(rng, len(stream)))
    check(stream, [len(stream)])


@given(st.lists(st.sampled_from(TOKENS), max_size=300), st.lists(st.integers(0, 400)),
       st.booleans())
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
def test_token_streams_and_any_split(path: str, tokens: list[bytes], sizes: list[int],
                                     pad: bool) -> None:
    stream = b"".join(tokens)
    if pad:  # past the vector loop's reach
        stream = b"x" * 5000 + stream + b"y" * 5000
    cuts, at = [], 0
    for s in sizes:
        at = min(len(stream), at + s)
        cuts.append(at)
    cuts.append(len(stream))
    check(stream, cuts)


def test_real_files_cut_anywhere(path: str) -> None:
    rng = random.Random(7)
    recs = samples.mixed_records(rng, 600, T0, violation_rate=0.1)
    compact = gzip.decompress(samples.log_file(recs))
    pretty = json.dumps({"Records": recs}, indent=rng.choice([1, 4])).encode()
    for stream in (compact, pretty):
        assert MATCHES.search(stream)
        for _ in range(5):
            check(stream, splits(rng, len(stream)))
        # every cut within a match's reach
        m = next(MATCHES.finditer(stream))
        for cut in range(m.start(), m.start() + len(m.group(1)) + 1):
            check(stream, [cut, len(stream)])


def test_blanks_over_pieces(path: str) -> None:
    """A match spread over many pieces by blanks."""
    name = NAMES[0].encode()
    for blanks in (0, 1, 4095, 4096, 4097, 70_000, 400_000):
        stream = b'[{"eventName"' + b" " * blanks + b":" + b"\n" * blanks + b'"' + name + b'"}]'
        rng = random.Random(blanks)
        for cuts in (splits(rng, len(stream)), list(range(1, len(stream) + 1, 3000)) +
                     [len(stream)]):
            check(stream, cuts)


def test_a_match_open_over_megabytes_scans_as_the_regex(path: str) -> None:
    """A match held open by megabytes of blanks, in pieces of a MiB, of 4 KiB and of one
    byte: the same matches as the regex (a stream scanner keeps its state, not the bytes)."""
    name = NAMES[0].encode()
    for tail in (b':"' + name + b'"', b':"' + name + b'x"', b'x'):
        stream = b'[{"eventName"' + b" " * (1 << 21) + b"\n" * 5000 + tail + b"}]"
        big = list(range(1 << 20, len(stream), 1 << 20))
        small = list(range(big[-1] + 1, big[-1] + 5000)) + list(range(big[-1] + 5000,
                                                                         len(stream), 4096))
        for cuts in (big + [len(stream)], big + small + [len(stream)]):
            check(stream, cuts)


def _members(*parts: bytes) -> bytes:
    return b"".join(gzip.compress(p, compresslevel=1, mtime=0) for p in parts)


def test_a_match_open_over_many_gzip_members_reads_as_with_the_others(path: str) -> None:
    """Each gzip member is a piece of its own: a file of many small members holds a match
    open over thousands of pieces. The C scan reads it as hyperscan does, fast path included;
    RE2's sliding buffer holds a record that starts over a MiB back, the streams give it to
    the record-by-record read: the same records and skips."""
    pytest.importorskip("hyperscan")
    rng = random.Random(5)
    recs = samples.mixed_records(rng, 20, T0, violation_rate=0.5)
    text = json.dumps({"Records": recs}, separators=(",", ":")).encode()
    at = text.index(b'"eventName"', len(text) // 2) + len(b'"eventName"')
    for name in (b"NotWatched", b"StopLogging"):
        rest = text[at:]
        rest = b':"' + name + rest[rest.index(b'"', 2):]
        data = _members(text[:at], *[b" "] * 3000, *[b"\t" * 4096] * 300, rest)
        a, b, c = _each_scanner("f.json.gz", data)
        assert a == b
        assert a[0] == c[0] and a[2:4] == c[2:4]  # error, skips, replacements
        assert [r for _, r in a[5]] == [r for _, r in c[5]]  # the records (not their place)
        assert a[0] is None and a[5]  # read, with records


def test_names_beyond_the_table_fall_back_to_another_scanner() -> None:
    """More watched names than the C table holds (or longer ones) is not an error: the file
    is scanned by hyperscan or RE2 and the same records come out."""
    rng = random.Random(11)
    recs = samples.mixed_records(rng, 300, T0, violation_rate=0.2)
    data = samples.log_file(recs)
    many = NAMES + [f"Extra{i}" for i in range(200)]
    wide = NAMES + ["X" * 300]
    base = reader.read("f.json.gz", data, reader.Matcher(NAMES))
    assert base.records
    for names in (many, wide):
        matcher = reader.Matcher(names)
        assert matcher.native() is None
        got = reader.read("f.json.gz", data, matcher)
        assert [r for _, r in got.records] == [r for _, r in base.records]


def test_names_are_checked() -> None:
    assert native is not None
    with pytest.raises(ValueError):
        native.Names([b'a"b'])
    with pytest.raises(ValueError):
        native.Names([b""])
    with pytest.raises(TypeError):
        native.Names(["text, not bytes"])
    with pytest.raises(TypeError):
        native.Names([b"a"]).stream().feed(b"x", ())
    feed = native.Names([b"A"]).stream().feed
    hits: list[int] = []
    assert feed(memoryview(b'"eventName":"A"'), hits) and hits == [15]
    assert feed(bytearray(b'"eventName":"A" \\u0041'), hits) is False
    assert feed(b'"eventName":"A"', hits) is False  # a stream given up stays so


def _result(res: reader.FileResult) -> tuple:
    return (res.error, res.full_parse, res.skipped, res.replaced, sorted(res.shallow),
            [(w, json.dumps(r, sort_keys=True, default=repr)) for w, r in res.records])


def _each_scanner(name: str, data: bytes) -> list[tuple]:
    matcher = reader.Matcher(NAMES)
    out = []
    old = reader.STREAM_SCAN, reader.NATIVE
    try:
        for stream, nat in ((True, True), (True, False), (False, False)):
            reader.STREAM_SCAN, reader.NATIVE = stream, nat
            out.append(_result(reader.read(name, data, matcher)))
    finally:
        reader.STREAM_SCAN, reader.NATIVE = old
    return out


@pytest.mark.parametrize("seed", range(30))
def test_mutated_files_read_the_same_with_every_scanner(path: str, seed: int,
                                                        monkeypatch: pytest.MonkeyPatch
                                                        ) -> None:
    """Damaged, cut, escaped and deeply nested files: the C scan gives exactly what
    hyperscan and RE2 give (records, skips and their reasons, the fallback taken)."""
    pytest.importorskip("hyperscan")
    rng = random.Random(seed)
    monkeypatch.setattr(reader, "CHUNK", rng.choice([1 << 12, 1 << 16, reader.CHUNK]))
    monkeypatch.setattr(reader, "OUT_MAX", rng.choice([1 << 10, 1 << 14, reader.OUT_MAX]))
    monkeypatch.setattr(reader, "IN_CHUNK", rng.choice([1 << 8, reader.IN_CHUNK]))
    recs = samples.mixed_records(rng, rng.choice([5, 60, 400]), T0, violation_rate=0.3)
    text = json.dumps({"Records": recs}, indent=rng.choice([None, None, 2]),
                      separators=None if rng.random() < 0.3 else (",", ":"))
    raw = bytearray(text.encode())
    for _ in range(rng.choice([0, 1, 3, 10])):
        kind = rng.randrange(6)
        at = rng.randrange(len(raw))
        if kind == 0:
            raw[at] = rng.choice(b'{}[]",:\\ x0')
        elif kind == 1:
            del raw[at:at + rng.randrange(1, 50)]
        elif kind == 2:
            raw[at:at] = rng.choice([b"\\u0041", b"\\u00e9", b'\\"', b"[" * 80, b"\xff",
                                     b'"eventName":"StopLogging"', b" " * 3000])
        elif kind == 3:
            del raw[at:]
        elif kind == 4:
            name = raw.find(b'"eventName"', at)
            if name >= 0:
                raw[name + 1:name + 2] = b"\\u0065"
        else:
            raw[at:at] = b'{"eventName": "DeleteTrail", "x": {"eventName":"StopLogging"}}'
    data = bytes(raw)
    for blob in (gzip.compress(data, compresslevel=1), data):
        a, b, c = _each_scanner("f.json.gz" if blob is not data else "f.json", blob)
        assert a == b == c


def py_record_start(buf: bytes, pos: int, lo: int) -> int:
    """`reader._record_at`'s walk in Python: the last `{` before pos after `[` or `,`."""
    c = pos
    while True:
        c = buf.rfind(b"{", lo, c)
        if c < 0:
            return -1
        j = c - 1
        while j > lo and buf[j] in b" \t\n\r":
            j -= 1
        if j >= lo and buf[j] in b"[,":
            return c


def py_value_end(buf: bytes, c: int, limit: int) -> tuple[int, int] | None:
    depth, in_string, i = 0, False, c
    while i < min(limit, len(buf)):
        x = buf[i]
        if in_string:
            if x == 0x5C:
                i += 1
            elif x == 0x22:
                in_string = False
        elif x == 0x22:
            in_string = True
        elif x in b"{[":
            depth += 1
        elif x in b"}]":
            depth -= 1
            if depth == 0:
                return i + 1, buf.count(b"{", c, i + 1) + buf.count(b"[", c, i + 1)
        i += 1
    return None


JSONISH = [b"{", b"}", b"[", b"]", b",", b":", b'"', b"\\", b'\\"', b"\\\\", b" ", b"\n", b"a",
           b'"k"', b'"{["', b"1"]


@given(st.lists(st.sampled_from(JSONISH), max_size=80), st.integers(0, 100),
       st.integers(0, 100), st.integers(0, 120))
@settings(max_examples=500, deadline=None)
def test_placing_walks_as_the_python_does(tokens: list[bytes], pos: int, lo: int,
                                          limit: int) -> None:
    assert native is not None
    buf = b"".join(tokens)
    assert native.record_start(buf, pos, lo) == py_record_start(buf, min(pos, len(buf)), lo)
    for c in [i for i, x in enumerate(buf) if x in b"{["][:5]:
        assert native.value_end(buf, c, c + limit) == py_value_end(buf, c, c + limit)


def test_placing_takes_any_position() -> None:
    """Positions from the ends of the integer range find nothing (and do not crash: run in
    a child process, so that a crash fails this test only)."""
    code = ("from auditor.logs import _native as n\n"
            "lo, hi = -2**63, 2**63 - 1\n"
            "for buf in (b'', b'[{', b'[{}]'):\n"
            "    for pos in (lo, lo + 1, -1, hi, hi - 1):\n"
            "        for low in (lo, -1, 0, hi):\n"
            "            start = 1 if buf and pos > 1 and low <= 0 else -1\n"
            "            assert n.record_start(buf, pos, low) == start, (buf, pos, low)\n"
            "            assert n.value_end(buf, pos, low) is None, (buf, pos, low)\n"
            "            end = (4, 2) if buf == b'[{}]' and low == 0 and pos > 3 else None\n"
            "            assert n.value_end(buf, low, pos) == end, (buf, low, pos)\n"
            "print('ok')\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60)
    assert (done.returncode, done.stdout) == (0, "ok\n"), done.stderr[-2000:]


def test_a_valid_value_ends_where_json_says() -> None:
    assert native is not None
    rng = random.Random(3)
    recs = samples.mixed_records(rng, 200, T0, violation_rate=0.2)
    recs.append({"eventName": "x", "s": 'q"}]{[\\"', "n": [[{"a": "}"}], []], "e": {}})
    text = json.dumps({"Records": recs}, separators=(",", ":")).encode()
    decoder = json.JSONDecoder()
    for c in (i for i, x in enumerate(text) if x == 0x7B and text[i - 1] in b"[,"):
        _, end = decoder.raw_decode(text.decode(), c)  # ASCII: characters are bytes
        assert native.value_end(text, c, len(text))[0] == end
