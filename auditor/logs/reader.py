"""Reading CloudTrail log files fast, in bounded memory, one bad record at a time.

A CloudTrail file is `{"Records":[{...},{...}]}`, usually a few thousand records of which
almost none interest us. The file is inflated (python-isal when installed, else zlib) about
`CHUNK` bytes at a time, never whole, and read in one of three ways:

1. fast (the normal case): one compiled regex (RE2 when installed) scans the raw bytes for
   `"eventName": "<a watched name>"` (any JSON whitespace around the colon); for each hit we
   walk back to the `{` that opens the enclosing record (an object that follows `[` or `,`)
   and decode just that record. A raw `"` cannot occur inside a JSON string, so the regex never
   misses a candidate; extra hits (a nested `eventName` key) are decoded and dropped. Damage
   in a record that cannot match is not noticed here, and cannot change the findings either.
2. record by record, from the start again, when the fast path meets anything it does not
   expect (a hit it cannot place in a record, a record that does not decode, no `]}` at the
   end): every element of `Records` is decoded on its own; one that does not decode is skipped
   and counted (with its index), and reading resumes at the next record that does.
3. whole, only for valid JSON that is not in the CloudTrail layout (e.g. `Records` not the
   first key), up to `MAX_WHOLE` characters.

A file is skipped (`FileResult.error`) only when nothing in it can be decoded: not gzip, not
JSON, no `Records` list, empty. Invalid UTF-8 is decoded with U+FFFD replacement (counted in
`replaced`). A candidate record is "cannot be judged", skipped and counted, when a field we
read has the wrong type, its eventTime is not a real time, or it holds a number that overflows
(`1e400`, `NaN`, an integer of thousands of digits); `shape` adds nesting deeper than
`MAX_DEPTH` for the records that matched. `records.admit` applies these checks (`check`,
`judge`), after the window, to file records and Athena rows alike.

Memory: a reader holds at most `CHUNK + OUT_MAX + KEEP + LOOKAHEAD` bytes of content on the
fast path and about `MAX_RECORD + 2 x CHUNK` characters record by record, whatever the file
size; a larger record is skipped.
"""

from __future__ import annotations

import codecs
import ctypes
import io
import json
import logging
import math
import re
import sys
import threading
import zlib
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import field
from functools import cached_property, partial
from pathlib import Path
from typing import Any, BinaryIO

from drguard.records import record

from .window import parse_time

log = logging.getLogger(__name__)

REQUIRED = ("eventTime", "eventSource", "eventName", "eventID", "awsRegion")
OPTIONAL_STRINGS = ("recipientAccountId", "errorCode", "eventType")
CHUNK = 1 << 22  # bytes inflated per read
LOOKAHEAD = 1 << 18  # text after a hit that must be in memory before its record is decoded
KEEP = 1 << 18  # text kept before the scan position, for a record that began earlier
MAX_RECORD = 1 << 22  # characters: a larger record is skipped and counted
MAX_WHOLE = 1 << 26  # characters: the largest non-CloudTrail-layout file read whole
MAX_DEPTH = 64  # nesting of a candidate record (real ones stay under 15)
_WS = r"[ \t\n\r]*"
_HEAD = re.compile(rf"{_WS}\{{{_WS}\"Records\"{_WS}:{_WS}\[")
_TAIL = re.compile(rf"\]{_WS}\}}{_WS}\Z")
_SKIP_WS = re.compile(_WS)
_RESYNC = re.compile(rf",{_WS}\{{")
_RECORD_START = re.compile(rf'\{{{_WS}"(?:eventVersion|eventTime|eventName|eventID|userIdentity)"')
_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]', re.S)
_EVENT_NAME = b'"eventName"'
_HEAD_B = re.compile(_HEAD.pattern.encode())
_TAIL_B = re.compile(_TAIL.pattern.encode())
_BLANKS = b" \t\n\r"
_SKIP_WS_B = re.compile(_WS.encode())
Blob = bytes | Path  # a file's bytes, or the path of a file holding them


def _inflate_module() -> tuple[Any, str, tuple[type[BaseException], ...]]:
    """The fastest inflater installed (python-isal, then zlib-ng, then the standard library's
    zlib) and the errors it raises on bad data."""
    errors: tuple[type[BaseException], ...] = (OSError, EOFError, ValueError, zlib.error)
    try:
        from isal import isal_zlib

        # isal_zlib.error is an exception class; its stub types it as an instance
        return isal_zlib, "isal", (*errors, isal_zlib.error)  # type: ignore[arg-type]
    except ImportError:
        pass
    try:
        from zlib_ng import zlib_ng

        return zlib_ng, "zlib-ng", (*errors, zlib_ng.error)
    except ImportError:
        return zlib, "zlib", errors


INFLATER, INFLATE, _INFLATE_ERRORS = _inflate_module()
IN_CHUNK = 1 << 16  # compressed bytes per inflate call (fits the cache; measured fastest)
OUT_MAX = 1 << 20  # inflated bytes per call at most (a gzip bomb cannot blow past it)
GZIP_WBITS = 31
# The fast path scans the inflated pieces as one stream: with the C extension when it is
# built (`NATIVE`), else with hyperscan when it is installed (off: RE2 over a sliding
# buffer); tests read every file all three ways.
STREAM_SCAN = True
NATIVE = True
try:
    from ._native import Names as NativeNames
    from ._native import record_start as _native_record_start
    from ._native import value_end as _native_value_end
except ImportError:  # not built (no C compiler at install): hyperscan, then RE2
    NativeNames = _native_record_start = _native_value_end = None
NEAR = 1 << 12  # bytes around a hit tried first when placing its record
PLAIN_MAX = 4000  # bytes: a record no longer is decoded with msgspec (`_decode_plain`)
DECODE_WINDOW = 1 << 14  # bytes `_decode_at` decodes with json first (x4 while a value is cut)
RESYNC_WINDOW = 1 << 12  # characters tried first at each `,{` after damage
RESYNC_COUNTED_MAX = 1024  # damaged records counted while resynchronising, per file
PLAIN_BRACKETS = 500  # brackets at most in such a record: far from the recursion limit
_TRAILING = re.compile(r"JSON is malformed: trailing characters \(byte ([0-9]+)\)")
try:
    import msgspec

    _msgspec_decode: Any = msgspec.json.Decoder().decode
    _MsgspecDecodeError: type[Exception] = msgspec.DecodeError
except ImportError:  # the json decoder does it all
    _msgspec_decode, _MsgspecDecodeError = None, ValueError


def tune_malloc() -> None:
    """Keep large buffers in glibc's heap instead of one mmap (and page faults) per buffer:
    the reader allocates megabyte pieces all the time. Measured here: system time 1.05 s ->
    0.10 s and user time -10% per 300k events. No-op elsewhere."""
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 32 << 20)  # M_MMAP_THRESHOLD (glibc's maximum)
        libc.mallopt(-1, 64 << 20)  # M_TRIM_THRESHOLD: keep up to 64 MiB freed for reuse
    except (OSError, AttributeError):
        pass


class Unjudgeable:
    """Stands for a number Python cannot hold as JSON gave it (overflow, NaN, Infinity)."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text[:40]

    def __repr__(self) -> str:
        return f"<number out of range: {self.text}>"


_SEEN: list[Unjudgeable] = []  # numbers out of range met by the last decode


def _unjudgeable(s: str) -> Unjudgeable:
    u = Unjudgeable(s)
    _SEEN.append(u)
    return u


def _float(s: str) -> Any:
    v = float(s)
    return v if math.isfinite(v) else _unjudgeable(s)


def _int(s: str) -> Any:
    return int(s) if len(s) <= 4000 else _unjudgeable(s)


_raw_decode = json.JSONDecoder(parse_float=_float, parse_int=_int,
                               parse_constant=_unjudgeable).raw_decode


def _decode(text: str, pos: int) -> tuple[Any, int]:
    """raw_decode; a record holding a number out of range gets `OVERFLOW_KEY` set."""
    _SEEN.clear()
    obj, end = _raw_decode(text, pos)
    if _SEEN and isinstance(obj, dict):
        obj[OVERFLOW_KEY] = _SEEN[0].text
    return obj, end


OVERFLOW_KEY = "\x00number out of range"  # cannot come from JSON keys CloudTrail writes


def _count_replacements(e: UnicodeError) -> tuple[str, int]:
    _Text.replaced += 1
    return "\ufffd", e.end  # type: ignore[attr-defined]


codecs.register_error("drguard-replace", _count_replacements)


@record
class FileResult:
    """What one file gave: candidate records (watched eventName, fields checked) with where
    they are in the file, the records skipped (where, why), or why the whole file was."""

    name: str
    records: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    error: str | None = None
    skipped: list[tuple[str, str]] = field(default_factory=list)
    full_parse: bool = False
    replaced: int = 0
    # filled by the pipeline: (where, record, indexes of the detections it matched)
    hits: list[tuple[str, dict[str, Any], tuple[int, ...]]] = field(default_factory=list)
    candidates: int = 0
    # indexes into `records` of the records `shape` needs not walk: decoded by msgspec (no
    # number out of range) with fewer brackets than `MAX_DEPTH`
    shallow: set[int] = field(default_factory=set)

    @property
    def bad_records(self) -> int:
        return len(self.skipped)

    def keep(self, where: str, rec: dict[str, Any], shallow: bool = False) -> None:
        """A candidate record, and whether `shape` may skip walking it."""
        if shallow:
            self.shallow.add(len(self.records))
        self.records.append((where, rec))


class Matcher:
    """The set of watched event names, compiled once."""

    def __init__(self, names: Iterable[str]) -> None:
        self.names = frozenset(names)
        self._alt = "|".join(re.escape(n)
                             for n in sorted(self.names, key=lambda n: (-len(n), n)))
        self._source = rf"\"eventName\"{_WS}:{_WS}\"(?:{self._alt})\""
        self._sources = [self._source.encode()]
        self._local = threading.local()  # a hyperscan database's scratch is per thread

    # compiled on first use: a run with the C scan needs neither
    @cached_property
    def pattern(self) -> re.Pattern[str]:
        return re.compile(self._source)

    @cached_property
    def scanner(self) -> Any:
        """The fast path's byte scan without a stream scanner: RE2 when installed (~30%
        faster here than `re`). The second branch finds an eventName value written with an
        escape ("Stop\u004cogging"), which only the full decoder can read: the fast path
        then gives up on the file."""
        return _compile_bytes(
            rf"\"eventName\"{_WS}:{_WS}\"(?:(?:{self._alt})\"|[^\"\\]*\\)".encode())

    def native(self) -> Any:
        """The watched names for the C scan (`_native.Names`), or None when the extension is
        not built, or `STREAM_SCAN` or `NATIVE` is off."""
        if not (STREAM_SCAN and NATIVE) or NativeNames is None:
            return None
        names = self.__dict__.get("_names", False)
        if names is False:
            try:
                names = NativeNames(sorted(n.encode() for n in self.names))
            except ValueError as e:  # more names, or longer ones, than its table holds
                log.debug("C scan not used (%s): hyperscan or RE2 instead", e)
                names = None
            self._names = names
        return names

    def prepare(self) -> None:
        """Build the scanner the fast path will use (before forking: once, inherited)."""
        if self.native() is None:
            self.stream_db()

    def stream_db(self) -> Any:
        """This thread's hyperscan stream database of the watched names, or None when
        hyperscan is not installed or `STREAM_SCAN` is off."""
        if not STREAM_SCAN:
            return None
        db = getattr(self._local, "db", False)
        if db is False:
            db = _hyperscan_db(self._sources)
            self._local.db = db
        return db

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_local"] = None
        state.pop("_names", None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._local = threading.local()

    def wants(self, rec: Any) -> bool:
        name = rec.get("eventName") if isinstance(rec, dict) else None
        return isinstance(name, str) and name in self.names


def _compile_bytes(source: bytes) -> Any:
    try:
        import re2

        return re2.compile(source)
    except ImportError:
        return re.compile(source)


def _hyperscan_db(sources: list[bytes]) -> Any:
    """The patterns compiled for hyperscan's streaming mode, or None without hyperscan (or
    on a CPU it does not support). It scans ~6 GB/s here against RE2's ~1.7 GB/s: the scan
    stays a fraction of the inflate it follows."""
    try:
        import hyperscan
    except ImportError:
        return None
    try:
        db = hyperscan.Database(mode=hyperscan.HS_MODE_STREAM)
        db.compile(expressions=sources, ids=list(range(len(sources))),
                   flags=[0] * len(sources))
    except Exception as e:  # noqa: BLE001 - e.g. a CPU without SSSE3: RE2 does the work
        log.info("hyperscan unavailable (%s); scanning with RE2", e)
        return None
    return db


# A key holding a \u escape of a letter or digit: it may spell "eventName", which the
# Matcher's byte scan cannot see; the record-by-record read decodes every key.
_ESCAPED_KEY_SOURCE = (rb'"[A-Za-z0-9]*\\u00(?:[346][0-9a-fA-F]|[57][0-9aA])(?:[^"\\]|\\.)*"'
                       + _WS.encode() + rb':')
_ESCAPED_KEY = _compile_bytes(_ESCAPED_KEY_SOURCE)
# Any letter or digit written as a \u escape, anywhere: the hyperscan path sends such a file
# to the record-by-record read (one more pattern in its database would slow it 4x; CloudTrail
# never escapes letters or digits, so real files do not pay for this).
_ESCAPED_ALNUM = _compile_bytes(rb"\\u00(?:3[0-9]|[46][1-9a-fA-F]|[57][0-9aA])")


class _Damaged(Exception):
    """The file cannot be read at all."""


class _Text:
    """A file's text, inflated (when gzipped) and decoded about `CHUNK` bytes at a time.
    A gzip stream that breaks after some data keeps that data and notes the `damage`."""

    replaced = 0  # invalid UTF-8 sequences replaced, in this process

    def __init__(self, name: str, blob: Blob) -> None:
        self.raw: BinaryIO = io.BytesIO(blob) if isinstance(blob, bytes) else open(blob, "rb")
        magic = self.raw.read(2)
        self.raw.seek(0)
        self.gzipped = name.endswith(".gz") or magic == b"\x1f\x8b"
        self.inflater: Any = INFLATER.decompressobj(GZIP_WBITS) if self.gzipped else None
        self.pending = b""  # compressed input not inflated yet
        self.decoder = codecs.getincrementaldecoder("utf-8")(errors="drguard-replace")
        self.eof = False
        self.size = 0  # bytes inflated so far
        self.damage: str | None = None
        self.first = True

    def close(self) -> None:
        self.raw.close()

    def _pieces(self) -> list[bytes]:
        """About CHUNK more bytes of the file's content, in pieces; [] at the end."""
        if self.inflater is None:
            data = self.raw.read(CHUNK)
            return [data] if data else []
        out: list[bytes] = []
        got = 0
        try:
            while got < CHUNK:
                data = self.pending or self.raw.read(IN_CHUNK)
                if not data:
                    if not self.inflater.eof and self.raw.tell() > 0:
                        raise EOFError("compressed file ended before the end-of-stream marker")
                    break
                if self.inflater.eof:  # another gzip member (or trailing garbage) follows
                    if not data.strip(b"\x00"):
                        self.pending = b""
                        continue
                    self.inflater = INFLATER.decompressobj(GZIP_WBITS)
                piece = self.inflater.decompress(data, OUT_MAX)
                self.pending = self.inflater.unconsumed_tail or self.inflater.unused_data
                if piece:
                    out.append(piece)
                    got += len(piece)
        except _INFLATE_ERRORS as e:
            if self.size + got == 0:
                raise _Damaged(f"not a valid gzip file ({e})") from None
            self.damage = f"gzip stream damaged after {self.size + got} bytes ({e})"
            self.pending = b""
            self.raw.seek(0, io.SEEK_END)
            self.inflater = None
        self.size += got
        return out

    def next_pieces(self) -> list[bytes]:
        """The next pieces of the content, undecoded, BOM removed; [] at the end."""
        if self.eof:
            return []
        pieces = self._pieces()
        if not pieces:
            self.eof = True
            return []
        if self.first:
            self.first = False
            pieces[0] = pieces[0].removeprefix(b"\xef\xbb\xbf")
        return pieces

    def more_bytes(self, before: bytes = b"") -> bytes:
        """`before` followed by the next piece of the content, undecoded (one copy)."""
        pieces = self.next_pieces()
        return b"".join([before, *pieces]) if pieces else before

    def more(self, before: str = "") -> str:
        """`before` followed by the next piece of text (one copy); just `before` at the end."""
        if self.eof:
            return before
        pieces = self._pieces()
        if not pieces:
            self.eof = True
            return before + self.decoder.decode(b"", final=True)
        decode = self.decoder.decode
        texts = [before, *(decode(p) for p in pieces)]
        if self.first:
            self.first = False
            texts[1] = texts[1].removeprefix("\ufeff")
        return "".join(texts)


def read(name: str, blob: Blob, matcher: Matcher) -> FileResult:
    """Parse one file (gzipped or not) into its candidate records (decoded, not yet judged).
    Never raises for bad content: the result's `error` says why the file was skipped,
    `skipped` which records could not be decoded."""
    res = FileResult(name)
    start = _Text.replaced
    try:
        if not _fast(name, blob, matcher, res):
            start = _Text.replaced  # counted again record by record
            res.full_parse = True
            res.records.clear()
            res.skipped.clear()
            res.shallow.clear()
            _slow(name, blob, matcher, res)
    except _Damaged as e:
        res.error = str(e)
        res.records.clear()
    except OSError as e:
        res.error = f"cannot read: {e}"
        res.records.clear()
    except MemoryError:
        res.error = "out of memory while reading"
        res.records.clear()
    res.replaced = _Text.replaced - start
    # judged by `records.admit`, with the window: a record outside it is not ours to count
    res.candidates = len(res.records)
    return res


def event_ref(rec: dict[str, Any]) -> str:
    eid = rec.get("eventID")
    return f"eventID {eid[:80]}: " if isinstance(eid, str) else ""


def judge(rec: dict[str, Any], timed: bool = False) -> str | None:
    """Why a candidate record cannot be judged, or None (depth: see `shape`); `timed`: its
    eventTime is known to parse."""
    if OVERFLOW_KEY in rec:
        return f"cannot be judged: number out of range ({rec[OVERFLOW_KEY]})"
    return check(rec, timed)


def shape(rec: dict[str, Any]) -> str | None:
    """Too deep, or holding a number that overflowed (iterative: depth is what we check).
    Run on the records that matched, before they travel (pickle) or are reported."""
    stack: list[tuple[Any, int]] = [(rec, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            values: Iterable[Any] = value.values()
        elif isinstance(value, list):
            values = value
        else:
            if isinstance(value, Unjudgeable):
                return f"cannot be judged: number out of range ({value.text})"
            continue
        if depth > MAX_DEPTH:
            return f"cannot be judged: nested deeper than {MAX_DEPTH} levels"
        stack.extend((v, depth + 1) for v in values)
    return None


def check(rec: dict[str, Any], timed: bool = False) -> str | None:
    """Why a record cannot be used, or None (`timed`: its eventTime is known to parse)."""
    missing = [k for k in REQUIRED if not isinstance(rec.get(k), str) or not rec[k]]
    ui = rec.get("userIdentity")
    if not isinstance(ui, dict):
        missing.append("userIdentity")
        ui = {}
    if not (rec.get("recipientAccountId") or (isinstance(ui, dict) and ui.get("accountId"))):
        missing.append("recipientAccountId")
    if missing:
        return "missing " + ", ".join(missing)
    wrong = [k for k in OPTIONAL_STRINGS if rec.get(k) is not None
             and not isinstance(rec[k], str)]
    wrong += [f"userIdentity.{k}" for k in ("type", "accountId", "arn", "principalId")
              if ui.get(k) is not None and not isinstance(ui[k], str)]
    if wrong:
        return "not a string: " + ", ".join(wrong)
    if not timed:
        try:
            parse_time(rec["eventTime"])
        except (ValueError, OverflowError):
            return f"bad eventTime {rec['eventTime'][:60]!r}"
    rp = rec.get("requestParameters")
    if rp is not None and not isinstance(rp, dict):
        return "requestParameters is not an object"
    return None


# ---- 1. fast --------------------------------------------------------------------------------

def _start(text: _Text) -> str:
    """The text up to the first non-blank character (and a little more)."""
    buf = ""
    while not text.eof and len(buf.lstrip()) < 64:
        buf += text.more()
    if not buf.strip():
        if text.damage:
            raise _Damaged(text.damage)
        raise _Damaged("empty file")
    return buf


def _fast(name: str, blob: Blob, matcher: Matcher, res: FileResult) -> bool:
    """Candidate records via a regex over the raw bytes + `raw_decode` of each candidate
    record only; False to ask for a record-by-record read."""
    names = matcher.native()
    if names is not None:
        return _fast_stream(name, blob, matcher, res, partial(_native_feed, names))
    db = matcher.stream_db()
    if db is not None:
        return _fast_stream(name, blob, matcher, res, partial(_hyperscan_feed, db))
    text = _Text(name, blob)
    try:
        buf = b""
        while not text.eof and len(buf.lstrip()) < 64:
            buf = text.more_bytes(buf)
        head = _HEAD_B.match(buf)
        if head is None:
            first = text.decoder.decode(buf)
            if not first.strip():
                raise _Damaged(text.damage or "empty file")
            _whole(first, text, matcher, res)
            return True
        base = 0  # offset of buf[0] in the file's content
        scan = head.end()
        lo = head.end() - 1  # the '[' of the Records array, then the end of the last record
        while True:
            limit = len(buf) if text.eof else len(buf) - LOOKAHEAD
            esc = buf.find(b"\\", scan)  # one byte: memchr speed; most files have none
            if esc >= 0 and _ESCAPED_KEY.search(buf, max(scan, esc - 64)):
                return False  # a key written with an escape may be "eventName"
            nxt = max(scan, limit)
            last_end = scan
            for hit in matcher.scanner.finditer(buf, scan):
                if hit.start() >= limit:
                    nxt = hit.start()
                    break
                last_end = hit.end()
                if buf[hit.end() - 1] == 0x5C:  # "\\": an escaped eventName value
                    return False
                if hit.start() < lo:
                    continue  # inside the record decoded last
                found = _record_at(buf, hit.start(), lo)
                if found is None:
                    return False
                rec, start, lo, shallow = found
                if matcher.wants(rec):
                    res.keep(f"byte {base + start}", rec, shallow)
            else:
                # a match cut by the end of the buffer (only blanks make one that long)
                cut = buf.rfind(_EVENT_NAME, last_end, limit)
                if cut >= 0 and not text.eof:
                    nxt = cut
            if text.eof:
                break
            drop = min(nxt, max(lo, nxt - KEEP, 0))
            buf = text.more_bytes(buf[drop:])
            base += drop
            scan, lo = nxt - drop, max(lo - drop, 0)
        if text.damage:
            return False
        return _TAIL_B.search(buf, max(0, len(buf) - 64)) is not None
    finally:
        text.close()


class _Recent:
    """The last pieces of a file's content, by offset: what a hit's record is decoded from."""

    def __init__(self) -> None:
        self.parts: deque[tuple[int, bytes]] = deque()
        self.start = 0  # offset of the first byte held
        self.end = 0  # offset after the last byte held (= bytes inflated so far)

    def add(self, piece: bytes) -> None:
        self.parts.append((self.end, piece))
        self.end += len(piece)

    def drop_before(self, offset: int) -> None:
        while len(self.parts) > 1 and self.parts[0][0] + len(self.parts[0][1]) <= offset:
            self.parts.popleft()
        self.start = self.parts[0][0] if self.parts else self.end

    def get(self, a: int, b: int) -> tuple[int, bytes]:
        """The bytes held in [a, b) (clipped to what is held) and where they start."""
        a, b = max(a, self.start), min(b, self.end)
        out: list[bytes] = []
        for off, p in reversed(self.parts):  # wanted near the end: stop at the range
            if off >= b:
                continue
            if off + len(p) <= a:
                break
            out.append(p[max(0, a - off):b - off])
        out.reverse()
        return a, out[0] if len(out) == 1 else b"".join(out)


def _place(recent: _Recent, pos: int,
           lo: int) -> tuple[dict[str, Any], int, int, bool] | None:
    """`_record_at` for the hit at offset `pos`, over a few KiB around it first (nearly every
    record is smaller), then over all that may hold it (`KEEP` back, everything ahead). A
    record placed in the small window is the one the large window gives: a JSON value that
    ends inside the window decodes the same whatever follows it."""
    floor = max(lo, recent.start, pos - KEEP)
    for a, b in ((max(floor, pos - NEAR), pos + NEAR), (floor, recent.end)):
        a, buf = recent.get(a, b)
        found = _record_at(buf, pos - a, max(lo - a, 0))
        if found is not None:
            rec, start, end, shallow = found
            return rec, a + start, a + end, shallow
        if a <= floor and a + len(buf) >= recent.end:
            break  # the first window already held everything
    return None


Feed = Callable[[bytes], bool]


@contextmanager
def _native_feed(names: Any, _recent: _Recent, hits: list[int]) -> Iterator[Feed]:
    """The C scan of one file's pieces (`_native.c`): match ends appended to `hits`; False
    for a letter or digit written as an escape (the same test as `_escaped_alnum`)."""
    feed = names.stream().feed
    yield lambda piece: feed(piece, hits)


@contextmanager
def _hyperscan_feed(db: Any, recent: _Recent, hits: list[int]) -> Iterator[Feed]:
    """hyperscan's stream scan of one file's pieces, and the escape test per piece."""

    def on_match(_ident: int, _start: int, end: int, _flags: int, _ctx: Any) -> None:
        hits.append(end)

    # the callback must outlive the stream (the binding keeps no reference to it)
    with db.stream(match_event_handler=on_match) as stream:
        scan = stream.scan

        def feed(piece: bytes) -> bool:
            if _escaped_alnum(recent, piece):
                return False  # a name or key may be spelt with an escape
            scan(piece)
            return True

        yield feed


def _fast_stream(name: str, blob: Blob, matcher: Matcher, res: FileResult,
                 scanner: Callable[[_Recent, list[int]], AbstractContextManager[Feed]]
                 ) -> bool:
    """The fast path over the inflated pieces scanned as one stream (C, or hyperscan),
    without joining them; only the few KiB around each hit are copied and decoded."""
    text = _Text(name, blob)
    hits: list[int] = []

    try:
        pieces = text.next_pieces()
        while not text.eof and sum(map(_nonblank, pieces)) < 64:
            pieces += text.next_pieces()
        first = pieces[0] if pieces and (len(pieces) == 1 or _nonblank(pieces[0]) >= 1024) \
            else b"".join(pieces)
        head = _HEAD_B.match(first)
        if head is None:
            decoded = text.decoder.decode(b"".join(pieces))
            if not decoded.strip():
                raise _Damaged(text.damage or "empty file")
            _whole(decoded, text, matcher, res)
            return True
        recent = _Recent()
        lo = head.end() - 1  # the '[' of the Records array, then the end of the last record
        with scanner(recent, hits) as feed:
            while True:
                for piece in pieces:
                    if not feed(piece):
                        return False  # e.g. a name or key may be spelt with an escape
                    recent.add(piece)
                ready = len(hits) if text.eof else _ready(hits, recent.end - LOOKAHEAD)
                for end in hits[:ready]:
                    pos = end - 1  # the closing quote of the name: inside its record
                    if pos < lo:
                        continue  # inside the record decoded last
                    found = _place(recent, pos, lo)
                    if found is None:
                        return False
                    rec, start, lo, shallow = found
                    if matcher.wants(rec):
                        res.keep(f"byte {start}", rec, shallow)
                del hits[:ready]
                if text.eof:
                    break
                recent.drop_before(min([recent.end - LOOKAHEAD - KEEP,
                                        *[h - KEEP - 1 for h in hits]]))
                pieces = text.next_pieces()
        if hits or text.damage:
            return False
        _, tail = recent.get(recent.end - 64, recent.end)
        return _TAIL_B.search(tail) is not None
    finally:
        text.close()


def _nonblank(piece: bytes) -> int:
    """The length of `piece` after its leading blanks (without copying it)."""
    return len(piece) - _SKIP_WS_B.match(piece).end()  # type: ignore[union-attr]


def _escaped_alnum(recent: _Recent, piece: bytes) -> bool:
    """Whether `piece` (or an escape cut by its start) writes a letter or digit as `\\u00XX`.
    One memchr per piece (most files hold no backslash at all), the regex from there on."""
    first = piece.find(b"\\")
    if first >= 0 and _ESCAPED_ALNUM.search(piece, first):
        return True
    if recent.parts:
        last = recent.parts[-1][1]
        before = last[-5:] if len(last) >= 5 else recent.get(recent.end - 5, recent.end)[1]
        if b"\\" in before:
            return _ESCAPED_ALNUM.search(before + piece[:5]) is not None
    return False


def _ready(hits: list[int], limit: int) -> int:
    """How many of the (ascending) hit ends lie at or before `limit`."""
    n = 0
    while n < len(hits) and hits[n] <= limit:
        n += 1
    return n


def _record_like(obj: Any) -> bool:
    return isinstance(obj, dict) and "eventName" in obj and (
        "eventVersion" in obj or ("eventID" in obj and "eventTime" in obj))


def _record_at(buf: bytes, pos: int,
               lo: int) -> tuple[dict[str, Any], int, int, bool] | None:
    """The record object enclosing byte `pos`, its start and end, and whether it is shallow
    (`FileResult.shallow`), searching back no further than `lo`; None when it cannot be
    placed (damage, or a record too big for the buffer)."""
    c = pos
    native = NATIVE and _native_record_start is not None
    while True:
        if native:
            c = _native_record_start(buf, c, lo)  # the same walk, in C
            if c < 0:
                return None
        else:
            c = buf.rfind(b"{", lo, c)
            if c < 0:
                return None
            j = c - 1
            while j > lo and buf[j] in _BLANKS:
                j -= 1
            if j < lo or buf[j] not in b"[,":
                continue  # an object value (`"key": {`), or a brace inside a string
        got = _decode_at(buf, c, native)
        if got is None:
            continue  # a brace inside a string, or damage: the record-by-record read will tell
        obj, end, shallow = got
        if _record_like(obj):
            return (obj, c, end, shallow) if end > pos else None
        # a nested object in an array (or a string's brace): keep walking out


def _decode_at(buf: bytes, c: int, native: bool = False) -> tuple[Any, int, bool] | None:
    """The JSON value at byte `c`, the byte where it ends and whether it is shallow (see
    `_decode_plain`), decoding only a window around it; invalid UTF-8 inside it is replaced
    (U+FFFD) and counted. `native`: the C extension finds where a plain record ends."""
    plain = _decode_plain_native(buf, c) if native else _decode_plain(buf, c)
    if plain is not None:
        return plain
    width = DECODE_WINDOW
    while True:
        s = buf[c:c + width].decode("utf-8", "surrogateescape")
        try:
            obj, end = _decode(s, 0)
        except RecursionError:
            return None
        except ValueError as e:
            if c + width >= len(buf) or not _cut_short(e, len(s)):
                return None
            width *= 4
            continue
        if s.isascii():
            return obj, c + end, False
        head = s[:end]
        try:
            return obj, c + len(head.encode("utf-8")), False
        except UnicodeEncodeError:  # invalid bytes in the record (kept as surrogates)
            raw = head.encode("utf-8", "surrogateescape")
            obj, _ = _decode(raw.decode("utf-8", "drguard-replace"), 0)
            return obj, c + len(raw), False


def _cut_short(e: ValueError, n: int) -> bool:
    """Whether a decode of `n` characters may have failed for the window's end: the error
    lies in its last few characters (a literal, number or escape cut) or a string runs
    past it. Any other error is in characters a wider window holds the same, and it fails
    there the same way (so a record stuffed with `,{` costs one window per brace, not the
    whole buffer per brace)."""
    if not isinstance(e, json.JSONDecodeError):
        return True
    return e.pos >= n - 16 or e.msg.startswith("Unterminated string")


def _decode_plain(buf: bytes, c: int) -> tuple[Any, int, bool] | None:
    """The object at byte `c` decoded by msgspec from the bytes (no text copy; ~3x faster
    than `json` here), when that is exactly what `_decode` would give; None sends it to
    `_decode`. msgspec refuses what `_decode` treats apart (invalid UTF-8, a lone surrogate,
    NaN, a number out of range, deep nesting): those go to `_decode`. What it accepts and
    `_decode` marks (an integer of more than 4,000 digits) cannot fit in `PLAIN_MAX` bytes,
    and nesting deep enough to stop `json` cannot fit in `PLAIN_BRACKETS` brackets. Shallow:
    no more brackets than `MAX_DEPTH`, so `shape` has nothing to find."""
    if _msgspec_decode is None:
        return None
    stop = min(len(buf), c + PLAIN_MAX)
    # first try up to the next record's first key: one decode when the guess is right (a
    # JSON value decoded whole ends where a decode from its start stops, whatever follows)
    nxt = buf.find(b'"eventVersion"', c + 2, stop)
    guess = buf.rfind(b"}", c, nxt) + 1 if nxt > c else 0
    view = memoryview(buf)
    for end in (guess, stop) if c < guess < stop else (stop,):
        try:
            obj = _msgspec_decode(view[c:end])
        except _MsgspecDecodeError as e:
            trailing = _TRAILING.fullmatch(str(e))
            if trailing is None:
                continue  # cut short (the guess) or not plain: the whole window, then json
            end = c + int(trailing[1]) - 1  # the byte after the value (and its blanks)
            try:
                obj = _msgspec_decode(view[c:end])
            except (ValueError, RecursionError):
                return None
        except (ValueError, RecursionError):  # e.g. a number out of range, invalid UTF-8
            return None
        end = buf.rfind(b"}", c, end) + 1
        brackets = buf.count(b"{", c, end) + buf.count(b"[", c, end)
        if brackets > PLAIN_BRACKETS:
            return None
        return obj, end, brackets <= MAX_DEPTH
    return None


def _decode_plain_native(buf: bytes, c: int) -> tuple[Any, int, bool] | None:
    """`_decode_plain`, with the end of the value found by its brackets in C: one msgspec
    decode of exactly the value. The same answer: a valid JSON value ends where its brackets
    close, and whatever is not valid fails the decode here as there (then `_decode`)."""
    if _msgspec_decode is None:
        return None
    got = _native_value_end(buf, c, c + PLAIN_MAX)
    if got is None:
        return None  # not closed within PLAIN_MAX bytes (or not an object)
    end, brackets = got
    if brackets > PLAIN_BRACKETS:
        return None
    try:
        obj = _msgspec_decode(memoryview(buf)[c:end])
    except (ValueError, RecursionError, _MsgspecDecodeError):
        return None
    return obj, end, brackets <= MAX_DEPTH


# ---- 2. record by record --------------------------------------------------------------------

class _Buffer:
    """A sliding window over a file's text for the record-by-record read."""

    def __init__(self, text: _Text, buf: str) -> None:
        self.text = text
        self.buf = buf
        self.base = 0  # offset of buf[0] in the file's text
        self.counted = 0  # damaged records met while resynchronising

    def fill(self, pos: int) -> int:
        """Read more text, dropping what lies before `pos` once it is large: the new `pos`,
        or -1 at the end of the file."""
        if self.text.eof:
            return -1
        if pos > CHUNK:
            self.buf = self.buf[pos:]
            self.base += pos
            pos = 0
        self.buf = self.text.more(self.buf)
        return pos


def _slow(name: str, blob: Blob, matcher: Matcher, res: FileResult) -> None:
    text = _Text(name, blob)
    try:
        first = _start(text)
        head = _HEAD.match(first)
        if head is None:
            _whole(first, text, matcher, res)
            return
        b = _Buffer(text, first)
        pos, index, want_value = head.end(), 0, True
        while True:
            pos = _SKIP_WS.match(b.buf, pos).end()  # type: ignore[union-attr]  # `\s*` always matches
            if pos >= len(b.buf):
                pos = b.fill(pos)
                if pos < 0:
                    res.skipped.append((f"record {index}", _end_reason(text, "inside Records")))
                    return
                continue
            c = b.buf[pos]
            if c == "]":
                if text.damage:
                    res.skipped.append((f"record {index}", text.damage))
                return
            if not want_value:
                if c == ",":
                    pos, want_value = pos + 1, True
                    continue
                res.skipped.append((f"record {index}", f"invalid JSON: ',' or ']' expected at "
                                                       f"character {b.base + pos}"))
                pos, index = _resync(b, pos, index, res)
                if pos < 0:
                    return
                want_value = True
                continue
            pos, got, end = _element(b, pos)
            where = f"record {index}"
            index += 1
            if got is _BAD:
                res.skipped.append((where, str(end)))
                pos, index = _resync(b, pos, index, res)
                if pos < 0:
                    return
                continue
            if isinstance(got, _Nested):
                res.skipped.append((where, "cannot be judged: nested too deep to decode"))
            elif not isinstance(got, dict):
                res.skipped.append((where, f"record is a {type(got).__name__}, not an object"))
            elif matcher.wants(got):
                res.keep(where, got)
            pos, want_value = int(end), False
    finally:
        text.close()


def _end_reason(text: _Text, where: str) -> str:
    return text.damage or f"file ends {where} (truncated?)"


_BAD = object()


class _Nested:
    """A value nested too deep for the JSON decoder (skipped as such)."""


def _element(b: _Buffer, pos: int) -> tuple[int, Any, int | str]:
    """Decode the JSON value at `pos`, reading more text as needed: (pos, value, end), or
    (pos, _BAD, why) when it does not decode. `pos` moves when the buffer is rebased."""
    while True:
        try:
            obj, end = _decode(b.buf, pos)
            if end < len(b.buf) or b.text.eof:
                return pos, obj, end
            error = "value cut by the end of the text read so far"
        except RecursionError:
            skip = _skip_value(b.buf, pos)
            if skip is not None:
                return pos, _Nested(), skip
            error = "nested too deep"
        except ValueError as e:
            error = f"invalid JSON ({e})"
            if b.text.eof and isinstance(e, json.JSONDecodeError) and (
                    e.pos >= len(b.buf) - 1 or e.msg.startswith("Unterminated string")):
                error = f"file ends inside this record (truncated?): {error}"
        if len(b.buf) - pos > MAX_RECORD:
            return pos, _BAD, f"record larger than {MAX_RECORD >> 20} MiB or damaged: {error}"
        new = b.fill(pos)
        if new < 0:
            return pos, _BAD, f"{error}; {b.text.damage}" if b.text.damage else error
        pos = new


def _skip_value(text: str, pos: int) -> int | None:
    """The end of the JSON object or array at `pos`, by counting brackets outside strings."""
    depth = 0
    for tok in _TOKEN.finditer(text, pos):
        t = tok.group()
        if t in "[{":
            depth += 1
        elif t in "]}":
            depth -= 1
            if depth == 0:
                return tok.end()
    return None


def _resync(b: _Buffer, pos: int, index: int, res: FileResult) -> tuple[int, int]:
    """After damage at `pos`: the position of the next record that decodes (an object after
    a `,`), or -1 when none is left; and the index it gets. A damaged object met on the way
    that starts like a record (after `},`) is counted as one more skipped record."""
    p = pos + 1
    while True:
        m = _RESYNC.search(b.buf, p)
        if m is None:
            new = b.fill(max(p, len(b.buf) - 64))
            if new < 0:
                return -1, index
            p = new
            continue
        gap = m.end() - 1 - m.start()  # the comma and blanks before the brace
        brace = m.end() - 1
        counted = _RECORD_START.match(b.buf, brace) and \
            b.buf[max(0, brace - gap - 64):brace - gap].rstrip().endswith("}")
        if not counted and _fails_in_window(b.buf, brace):
            p = brace + 1  # a `,{` inside a string or damage: no record starts here
            continue
        if counted:
            # its reason is json's whole-buffer error (its line and column): bounded per file
            b.counted += 1
            if b.counted > RESYNC_COUNTED_MAX:
                res.skipped.append((f"record {index}", f"more than {RESYNC_COUNTED_MAX:,} "
                                    "damaged records in this file: the rest of it is not read"))
                return -1, index + 1
        start, got, why = _element(b, brace)
        if got is not _BAD and _record_like(got):
            return start, index
        if got is _BAD and counted:
            res.skipped.append((f"record {index}", str(why)))
            index += 1
        p = start + 1


def _fails_in_window(text: str, pos: int) -> bool:
    """Whether the value at `pos` surely does not decode: it fails within the first
    `RESYNC_WINDOW` characters for a reason more text cannot change (`_cut_short`). A
    record stuffed with `,{` then costs a small window per brace, not a decode of the whole
    buffer (json counts the lines up to every error)."""
    window = text[pos:pos + RESYNC_WINDOW]
    try:
        _decode(window, 0)
    except RecursionError:
        return False
    except ValueError as e:
        return not _cut_short(e, len(window))
    return False


# ---- 3. whole -------------------------------------------------------------------------------

def _whole(first: str, text: _Text, matcher: Matcher, res: FileResult) -> None:
    parts, size = [first], len(first)
    while not text.eof:
        more = text.more()
        size += len(more)
        if size > MAX_WHOLE:
            raise _Damaged(f"not in the CloudTrail layout ({{\"Records\": [...]}} first) and "
                           f"larger than {MAX_WHOLE >> 20} MiB")
        parts.append(more)
    whole = "".join(parts).strip()
    del parts
    try:
        doc, end = _decode(whole, 0)
        if end != len(whole):
            raise ValueError(f"extra data at character {end}")
    except RecursionError:
        raise _Damaged("invalid JSON (nested too deep)") from None
    except ValueError as e:
        raise _Damaged(f"invalid JSON ({e})" + (f"; {text.damage}" if text.damage else "")
                       ) from None
    if not isinstance(doc, dict) or not isinstance(doc.get("Records"), list):
        raise _Damaged("not a CloudTrail log file (no \"Records\" list)")
    res.full_parse = True
    for i, rec in enumerate(doc["Records"]):
        if not isinstance(rec, dict):
            res.skipped.append((f"record {i}", f"record is a {type(rec).__name__}, not an "
                                               "object"))
        elif matcher.wants(rec):
            problem = shape(rec)  # the decode marks the document, not the record
            if problem:
                res.skipped.append((f"record {i}", f"{event_ref(rec)}{problem}"))
            else:
                res.keep(f"record {i}", rec)
    if text.damage:
        res.skipped.append((f"record {len(doc['Records'])}", text.damage))
