"""The one way in for every file DR Guard opens: configs, waiver files, reports, history
entries, previews, stack exports, account names, repository files.

What a parser accepts is not what we accept. Every file is:
- opened non-blocking and checked with `fstat` to be a regular file (a FIFO, a device, a
  socket or a folder is refused by name, never waited on);
- read up to a size bound (gzip is recognised by its magic bytes and inflated up to the same
  bound, so a small bomb cannot grow past it);
- decoded as UTF-8 (a byte-order mark is allowed);
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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from .errors import ConfigError

MAX_BYTES = 16 << 20
MAX_DEPTH = 64
MAX_INT_DIGITS = 30
MAX_VALUES = 1_000_000


class FileRefused(ConfigError):
    """A file that is not read; the message is `<file>: <reason>` on one line."""


def one_line(text: str, limit: int = 300) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[:limit - 1] + "\u2026"


def _refuse(where: str, reason: str) -> FileRefused:
    return FileRefused(one_line(f"{where}: {reason}", 600))


@dataclass(frozen=True)
class Limits:
    max_bytes: int = MAX_BYTES
    max_depth: int = MAX_DEPTH
    max_int_digits: int = MAX_INT_DIGITS
    max_values: int = MAX_VALUES


DEFAULT = Limits()

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
        while total <= limits.max_bytes:
            chunk = os.read(fd, min(1 << 20, limits.max_bytes + 1 - total))
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
    """UTF-8 text (a BOM allowed); NUL bytes refused (binary, or a truncated write)."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise _refuse(where, f"{what} is not UTF-8 text (byte 0x{data[e.start]:02x} at line "
                             f"{line}, offset {e.start})") from None
    if "\x00" in text:
        raise _refuse(where, f"{what} is binary (NUL bytes), not text")
    return text


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


class _Refusal(Exception):
    def __init__(self, reason: str) -> None:
        self.reason = reason


def _no_constant(name: str) -> Any:
    raise _Refusal(f"{name} is not a number we accept (NaN and Infinity are refused)")


class _LongInt:
    """Stands for an integer literal past the bound until its path is known."""

    def __init__(self, digits: int) -> None:
        self.digits = digits
        self.line = 0


def _int_parser(max_digits: int, found: list[_LongInt]) -> Any:
    def parse(text: str) -> int | _LongInt:
        if len(text.lstrip("-")) > max_digits:
            found.append(_LongInt(len(text.lstrip("-"))))
            return found[-1]
        return int(text)
    return parse


def _path_of(doc: Any, target: object) -> str:
    """Dotted path of `target` inside `doc` (iterative)."""
    stack: list[tuple[Any, str]] = [(doc, "")]
    while stack:
        value, at = stack.pop()
        if value is target:
            return at or "(top level)"
        if isinstance(value, dict):
            stack.extend((v, f"{at}.{k}" if at else str(k)) for k, v in value.items())
        elif isinstance(value, list):
            stack.extend((v, f"{at}[{i}]") for i, v in enumerate(value))
    return "(top level)"


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
        raise _refuse(where, f"not valid JSON: {e.msg} at line {e.lineno} column {e.colno}") \
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


# ---- YAML ------------------------------------------------------------------------------------

_BaseLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_STR = "tag:yaml.org,2002:str"
_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"
_NO_TIMESTAMPS = {
    ch: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for ch, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}


class _Loader(_BaseLoader):  # type: ignore[misc]
    """Safe YAML; timestamps stay text (the validation, not the YAML library, says which
    date is wrong)."""

    yaml_implicit_resolvers = _NO_TIMESTAMPS


def yaml_depth_exceeds(text: str, limit: int) -> bool:
    """From the event stream (the parser keeps its own stack, so it cannot overflow)."""
    depth = 0
    for event in yaml.parse(text, Loader=_Loader):
        if isinstance(event, yaml.MappingStartEvent | yaml.SequenceStartEvent):
            depth += 1
            if depth > limit:
                return True
        elif isinstance(event, yaml.MappingEndEvent | yaml.SequenceEndEvent):
            depth -= 1
    return False


def _expanded_nodes(root: Node, limit: int) -> None:
    """Raise _Refusal past `limit` nodes once aliases are expanded, or on a recursive alias.
    Iterative, memoised: linear in the distinct nodes."""
    sizes: dict[int, int] = {}
    on_path: set[int] = set()
    stack: list[tuple[Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        key = id(node)
        children: list[Node] = []
        if isinstance(node, SequenceNode):
            children = list(node.value)
        elif isinstance(node, MappingNode):
            children = [n for kv in node.value for n in kv]
        if done:
            on_path.discard(key)
            sizes[key] = 1 + sum(sizes.get(id(c), 1) for c in children)
            if sizes[key] > limit:
                raise _Refusal(f"more than {limit} values once YAML aliases are expanded "
                               "(alias bomb?)")
            continue
        if key in sizes:
            continue
        if key in on_path:
            raise _Refusal("a YAML alias refers to a value that contains it (recursive)")
        on_path.add(key)
        stack.append((node, True))
        stack.extend((c, False) for c in children if id(c) not in sizes)


def _scalar(loader: Any, node: ScalarNode, limits: Limits, long_ints: list[_LongInt]) -> Any:
    if node.tag == _STR:
        return node.value
    if node.tag == _INT:
        digits = len(node.value.replace("_", "").lstrip("+-"))
        if digits > limits.max_int_digits:
            long_ints.append(_LongInt(digits))
            long_ints[-1].line = node.start_mark.line + 1
            return long_ints[-1]
    value = loader.construct_object(node, deep=True)
    if isinstance(value, float) and not math.isfinite(value):
        raise _Refusal(f"{node.value[:20]!r} at line {node.start_mark.line + 1}: NaN and "
                       "Infinity are refused")
    return value


@dataclass
class Duplicate:
    key: str
    line: int        # 1-based line of the later occurrence
    first_line: int


def compose_yaml(text: str, where: str, what: str = "file", limits: Limits = DEFAULT) -> Any:
    """The composed node of one YAML document (None when empty), depth and size bounded."""
    try:
        if yaml_depth_exceeds(text, limits.max_depth):
            raise _Refusal(f"nested more than {limits.max_depth} levels deep")
        loader = _Loader(text)
        try:
            node = loader.get_single_node()
        finally:
            loader.dispose()
        if node is not None:
            _expanded_nodes(node, limits.max_values)
        return node
    except _Refusal as e:
        raise _refuse(where, f"{e.reason}; {what} refused") from None
    except yaml.YAMLError as e:
        raise _refuse(where, f"not valid YAML: {_yaml_reason(e)}") from None
    except RecursionError:  # defensive: the depth scan runs first
        raise _refuse(where, f"nested too deeply; {what} refused") from None


def _yaml_reason(e: yaml.YAMLError) -> str:
    first = str(e).splitlines()[0] if str(e) else type(e).__name__
    mark = getattr(e, "problem_mark", None)
    return first + (f" at line {mark.line + 1} column {mark.column + 1}"
                    if mark is not None else "")


def construct_yaml(node: Node | None, where: str, what: str = "file",
                   limits: Limits = DEFAULT, duplicates: list[Duplicate] | None = None,
                   mapping: type = dict, sequence: type = list) -> Any:
    """Plain Python values from a composed node, iteratively: scalar keys become their text,
    other keys are refused; a duplicate key is refused, or recorded in `duplicates` when a
    list is given (the later value is kept, as YAML readers do). Tags other than the YAML
    core ones are refused."""
    if node is None:
        return None
    loader = _Loader("")
    memo: dict[int, Any] = {}
    long_ints: list[_LongInt] = []
    try:
        root_holder: list[Any] = [None]
        # (node, container to fill, key or index setter)
        stack: list[tuple[Node, Any, Any]] = [(node, root_holder, 0)]
        while stack:
            n, parent, slot = stack.pop()
            key = id(n)
            if key in memo:
                value = memo[key]
            elif isinstance(n, ScalarNode):
                value = memo[key] = _scalar(loader, n, limits, long_ints)
            elif isinstance(n, SequenceNode):
                if n.tag != "tag:yaml.org,2002:seq":
                    raise _Refusal(f"unsupported YAML tag {n.tag[:80]!r} at line "
                                   f"{n.start_mark.line + 1}")
                value = memo[key] = sequence([None] * len(n.value))
                _mark(value, n)
                for i in range(len(n.value) - 1, -1, -1):
                    stack.append((n.value[i], value, i))
            elif isinstance(n, MappingNode):
                if n.tag != "tag:yaml.org,2002:map":
                    raise _Refusal(f"unsupported YAML tag {n.tag[:80]!r} at line "
                                   f"{n.start_mark.line + 1}")
                before = len(n.value)
                merges = sum(1 for k_node, _ in n.value
                             if k_node.tag == "tag:yaml.org,2002:merge")
                loader.flatten_mapping(n)  # merge keys (<<) come first, then the own keys
                merged = len(n.value) - (before - merges)
                value = memo[key] = mapping()
                _mark(value, n)
                lines: dict[str, int] = {}  # the mapping's own keys (not merged ones)
                pending = []
                for idx, (k_node, v_node) in enumerate(n.value):
                    if not isinstance(k_node, ScalarNode):
                        raise _Refusal(f"a key at line {k_node.start_mark.line + 1} is a "
                                       "list or mapping; keys must be text")
                    k = str(k_node.value)
                    line = k_node.start_mark.line + 1
                    if idx >= merged:
                        if k in lines:
                            if duplicates is None:
                                raise _Refusal(f"duplicate key {k[:60]!r} at line {line} "
                                               f"(first at line {lines[k]})")
                            duplicates.append(Duplicate(k, line, lines[k]))
                        lines[k] = line
                    pending.append((v_node, k))
                    if hasattr(value, "key_lines"):
                        value.key_lines[k] = line
                for v_node, k in reversed(pending):
                    stack.append((v_node, value, k))
            else:  # pragma: no cover - PyYAML has only these three node kinds
                raise _Refusal(f"unexpected YAML node {type(n).__name__}")
            parent[slot] = value
        if long_ints:
            big = long_ints[0]
            raise _Refusal(f"{_path_of(root_holder[0], big)} (line {big.line}): integer of "
                           f"{big.digits} digits, too large (at most {limits.max_int_digits} "
                           "accepted)")
        return root_holder[0]
    except _Refusal as e:
        raise _refuse(where, f"{e.reason}; {what} refused") from None
    except yaml.YAMLError as e:
        raise _refuse(where, f"not valid YAML: {_yaml_reason(e)}") from None
    except (ValueError, OverflowError) as e:  # a scalar PyYAML cannot build
        raise _refuse(where, f"not valid YAML: {one_line(str(e), 200)}") from None
    finally:
        loader.dispose()


def _mark(container: Any, node: Node) -> None:
    if hasattr(container, "line"):
        container.line = node.start_mark.line + 1
        if hasattr(container, "key_lines"):
            container.key_lines = {}


def parse_yaml(text: str, where: str, what: str = "file", limits: Limits = DEFAULT,
               duplicates: list[Duplicate] | None = None) -> Any:
    return construct_yaml(compose_yaml(text, where, what, limits), where, what, limits,
                          duplicates)


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
