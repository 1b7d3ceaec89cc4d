"""The one way in for every file DR Guard opens: configs, waiver files, reports, history
entries, previews, stack exports, account names, repository files.

What a parser accepts is not what we accept. Every file is:
- opened non-blocking and checked with `fstat` to be a regular file (a FIFO, a device, a
  socket or a folder is refused by name, never waited on);
- read up to a size bound (gzip is recognised by its magic bytes and inflated up to the same
  bound, so a small bomb cannot grow past it);
- decoded as UTF-8 (a byte-order mark is allowed; a second one is refused by name);
- parsed with the nesting depth bounded before the parser runs (a linear scan for JSON, the
  composer's own counter for YAML), so no recursion limit is ever reached;
- refused on `NaN`/`Infinity`, on integers longer than `max_int_digits`, on keys that are not
  strings (YAML scalar keys are turned into their text), on duplicate keys (YAML), on a value
  count past `max_values` once YAML aliases are expanded;
- then, optionally, checked against the JSON Schema of its kind.

Every refusal is a `FileRefused` (a ConfigError, so commands exit 2) whose message is one line
naming the file and the reason. No boto3, no Pulumi: the policy pack reads through here too.
"""

from __future__ import annotations

import errno
import json
import math
import os
import re
import stat
import zlib
from pathlib import Path
from typing import Any

from .input_bounds import DEFAULT as DEFAULT
from .input_bounds import MAX_BYTES as MAX_BYTES
from .input_bounds import MAX_DEPTH as MAX_DEPTH
from .input_bounds import MAX_INT_DIGITS as MAX_INT_DIGITS
from .input_bounds import MAX_VALUES as MAX_VALUES
from .input_bounds import Duplicate as Duplicate
from .input_bounds import FileRefused as FileRefused
from .input_bounds import Limits as Limits
from .input_bounds import _LongInt, _path_of, _Refusal, _refuse
from .input_bounds import one_line as one_line

_KINDS = ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
          (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
          (stat.S_ISSOCK, "a socket"))


def not_regular(mode: int) -> str | None:
    for test, name in _KINDS:
        if test(mode):
            return name
    return None if stat.S_ISREG(mode) else "not a regular file"


def read_bytes(path: str | Path, what: str = "file", limits: Limits = DEFAULT,
               gunzip: bool = True) -> bytes:
    """The bytes of a regular file (inflated when gzip), at most `limits.max_bytes`."""
    where = str(path)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0) \
        | getattr(os, "O_NOCTTY", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise _refuse(where, f"{what} not found") from None
    except IsADirectoryError:
        raise _refuse(where, f"{what} is a folder, not a file") from None
    except OSError as e:
        if e.errno == errno.ENXIO:  # a socket, or a FIFO nobody writes to (some systems)
            raise _refuse(where, f"{what} is not a regular file") from None
        raise _refuse(where, f"cannot read {what}: {e.strerror or type(e).__name__}") \
            from None
    except (ValueError, TypeError) as e:  # a NUL byte in the path
        raise _refuse(repr(where), f"cannot read {what}: {e}") from None
    try:
        st = os.fstat(fd)
        kind = not_regular(st.st_mode)
        if kind is not None:
            raise _refuse(where, f"{what} is {kind}, not a regular file; refused")
        if st.st_size > limits.max_bytes:
            raise _refuse(where, f"{what} larger than {_size(limits.max_bytes)} "
                                 f"({st.st_size} bytes); refused")
        os.set_blocking(fd, True)
        chunks, total = [], 0
        # the size fstat gave in one read (then one more to see the end): a single chunk is
        # the file's bytes as they are, not copied again by the join below
        step = max(st.st_size + 1, 1 << 20)
        while total <= limits.max_bytes:
            chunk = os.read(fd, min(step, limits.max_bytes + 1 - total))
            step = 1 << 20
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
    except OSError as e:
        raise _refuse(where, f"cannot read {what}: {e.strerror or type(e).__name__}") \
            from None
    finally:
        os.close(fd)
    data = b"".join(chunks)
    if len(data) > limits.max_bytes:
        raise _refuse(where, f"{what} larger than {_size(limits.max_bytes)}; refused")
    if gunzip and data[:2] == b"\x1f\x8b":
        data = _gunzip(data, where, what, limits.max_bytes)
    return data


def _size(n: int) -> str:
    return f"{n >> 20} MiB" if n >= 1 << 20 and not n % (1 << 20) else f"{n} bytes"


def _gunzip(data: bytes, where: str, what: str, limit: int) -> bytes:
    out: list[bytes] = []
    total = 0
    rest = data
    try:
        while rest:
            d = zlib.decompressobj(16 + zlib.MAX_WBITS)
            buf = rest
            while buf:
                piece = d.decompress(buf, limit + 1 - total)
                out.append(piece)
                total += len(piece)
                if total > limit:
                    raise _refuse(where, f"{what} inflates past {_size(limit)} (gzip bomb?); "
                                         "refused")
                buf = d.unconsumed_tail
            if not d.eof:
                raise _refuse(where, f"{what}: truncated gzip data")
            rest = d.unused_data
            if rest[:2] != b"\x1f\x8b":
                break  # trailing padding after the last member
    except zlib.error as e:
        raise _refuse(where, f"{what}: not valid gzip ({e})") from None
    return b"".join(out)


def decode(data: bytes, where: str, what: str = "file") -> str:
    """UTF-8 text (one BOM allowed); NUL bytes refused (binary, or a truncated write)."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        if data[:2] in (b"\xff\xfe", b"\xfe\xff"):  # what Windows PowerShell's `>` writes
            raise _refuse(where, f"{what} is not UTF-8 text: it is UTF-16 (a PowerShell `>` "
                                 "redirect writes UTF-16; write the file with the tool's own "
                                 "option instead, e.g. `pulumi stack export --file`, or save "
                                 "it as UTF-8)") from None
        line = data.count(b"\n", 0, e.start) + 1
        raise _refuse(where, f"{what} is not UTF-8 text (byte 0x{data[e.start]:02x} at line "
                             f"{line}, offset {e.start})") from None
    if text[:1] == "\ufeff":
        # one BOM is the encoding's mark; a second is text, which JSON refuses and YAML reads
        # into the first key (`\ufeffcontrols`, unknown): say so rather than either
        marks = len(text) - len(text.lstrip("\ufeff")) + 1
        raise _refuse(where, f"{what} starts with {_COUNT.get(marks, marks)} byte-order marks "
                             "(U+FEFF), a tool added one more; save it as UTF-8 with one at "
                             "most (an editor's \"UTF-8\" or \"UTF-8 without BOM\")")
    if "\x00" in text:
        raise _refuse(where, f"{what} is binary (NUL bytes), not text")
    return text


_COUNT = {2: "two", 3: "three"}


def read_text(path: str | Path, what: str = "file", limits: Limits = DEFAULT) -> str:
    return decode(read_bytes(path, what, limits), str(path), what)


# ---- JSON ------------------------------------------------------------------------------------

_JSON_TOKENS = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]')


def json_depth_exceeds(text: str, limit: int) -> bool:
    """Whether any array/object in the JSON text starts deeper than `limit` (linear scan,
    strings skipped; never recurses)."""
    if text.count("[") + text.count("{") <= limit:
        return False
    depth = 0
    for m in _JSON_TOKENS.finditer(text):
        tok = m.group()
        if tok in "[{":
            depth += 1
            if depth > limit:
                return True
        elif tok in "]}":
            depth -= 1
    return False


def _no_constant(name: str) -> Any:
    raise _Refusal(f"{name} is not a number we accept (NaN and Infinity are refused)")


def _int_parser(max_digits: int, found: list[_LongInt]) -> Any:
    def parse(text: str) -> int | _LongInt:
        if len(text.lstrip("-")) > max_digits:
            found.append(_LongInt(len(text.lstrip("-"))))
            return found[-1]
        return int(text)
    return parse


def _float(text: str) -> float:
    if len(text) > 400:
        raise _Refusal("number literal too long")
    value = float(text)
    if not math.isfinite(value):
        raise _Refusal(f"number {text[:40]} overflows (Infinity is refused)")
    return value


def parse_json(text: str, where: str, what: str = "file", limits: Limits = DEFAULT,
               duplicates: bool = False) -> Any:
    """A JSON document under `limits`; `duplicates=False` refuses an object with a key twice."""
    if json_depth_exceeds(text, limits.max_depth):
        raise _refuse(where, f"nested more than {limits.max_depth} levels deep; {what} refused")

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        out = dict(items)
        if len(out) != len(items):
            seen: set[str] = set()
            for k, _ in items:
                if k in seen:
                    raise _Refusal(f"duplicate key {k[:60]!r}")
                seen.add(k)
        return out

    long_ints: list[_LongInt] = []
    try:
        doc = json.loads(text, parse_constant=_no_constant,
                         parse_int=_int_parser(limits.max_int_digits, long_ints),
                         parse_float=_float, object_pairs_hook=None if duplicates else pairs)
    except _Refusal as e:
        raise _refuse(where, f"{e.reason}; {what} refused") from None
    except json.JSONDecodeError as e:
        raise _refuse(where, f"not valid JSON: {e.msg}: line {e.lineno} column {e.colno}") \
            from None
    except RecursionError:  # defensive: the depth scan runs first
        raise _refuse(where, f"nested too deeply; {what} refused") from None
    except (ValueError, OverflowError) as e:
        raise _refuse(where, f"not valid JSON: {e}") from None
    if long_ints:
        raise _refuse(where, f"{_path_of(doc, long_ints[0])}: integer of "
                             f"{long_ints[0].digits} digits, too large (at most "
                             f"{limits.max_int_digits} accepted); {what} refused")
    return doc


# ---- YAML (drguard.inputs_yaml: PyYAML is imported by the reads that need it) --------------

def parse_yaml(text: str, where: str, what: str = "file", limits: Limits = DEFAULT,
               duplicates: list[Duplicate] | None = None) -> Any:
    from . import inputs_yaml

    return inputs_yaml.parse_yaml(text, where, what, limits, duplicates)


# ---- whole files -----------------------------------------------------------------------------

def parse(text: str, where: str, what: str = "file", kind: str = "auto",
          limits: Limits = DEFAULT) -> Any:
    """`kind`: "json", "yaml", or "auto" (JSON for a `.json`/`.json.gz` name, else YAML)."""
    if kind == "auto":
        name = where.lower().removesuffix(".gz")
        kind = "json" if name.endswith(".json") else "yaml"
    if kind == "json":
        return parse_json(text, where, what, limits)
    return parse_yaml(text, where, what, limits)


def load(path: str | Path, what: str = "file", kind: str = "auto", limits: Limits = DEFAULT,
         schema: dict[str, Any] | None = None) -> Any:
    """Read, bound, parse and (given a JSON Schema) validate one file."""
    where = str(path)
    doc = parse(read_text(path, what, limits), where, what, kind, limits)
    if schema is not None:
        check_schema(doc, schema, where, what)
    return doc


def check_schema(doc: Any, schema: dict[str, Any], where: str, what: str = "file") -> None:
    import jsonschema  # only when a schema is given: the pack's hot path never needs it

    cls = jsonschema.validators.validator_for(schema)
    error = jsonschema.exceptions.best_match(cls(schema).iter_errors(doc))
    if error is not None:
        at = "".join(f"[{p}]" if isinstance(p, int) else f".{p}"
                     for p in error.absolute_path).lstrip(".") or "(top level)"
        raise _refuse(where, f"not a valid {what}: {at}: {one_line(error.message, 200)}")
