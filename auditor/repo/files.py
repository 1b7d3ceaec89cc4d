"""Reading an infrastructure repository as hostile input: which files, within which limits.

- The walk never follows a symbolic link out of the repository: a linked file is read only
  when its target is a regular file inside the repository; a dangling link, or one whose target
  is outside, is skipped and counted. Linked directories are never descended (an in-repository
  target is walked under its own path anyway; an outside one is counted).
- A file is read only up to `MAX_FILE_BYTES`; a larger one, a binary one (a NUL byte in it) or
  one that is not UTF-8 is skipped and counted, with a one-line reason.
- YAML is read with PyYAML's safe loader (libyaml when present): the nesting depth is bounded
  from the event stream first (`MAX_YAML_DEPTH`), then the composed document's size *after*
  alias expansion (`MAX_YAML_NODES`) before anything walks it: a "billion laughs" document is
  refused in linear time, and so is a recursive alias. Tags other than the YAML core ones are
  errors.

Whatever is skipped lands in `Skips`, which the command turns into run["skipped"] (kind
`repoFiles`) and run["skipped_detail"].
"""

from __future__ import annotations

import fnmatch
import logging
import os
import stat
from collections.abc import Callable, Iterator
from dataclasses import field
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from drguard import inputs
from drguard.inputs_yaml import syntax_problem
from drguard.records import record

log = logging.getLogger(__name__)

MAX_FILE_BYTES = 1 << 20          # Pulumi stack files and workflows are a few KiB
MAX_YAML_NODES = 100_000          # after alias expansion
MAX_YAML_DEPTH = 100              # nesting levels (a stack file uses 3-5)
MAX_DETAIL = 100                  # run["skipped_detail"] entries kept
# Directories that hold tools and caches, not infrastructure (not descended, not counted).
SKIP_DIRS = frozenset({".git", ".hg", ".svn", "node_modules", ".venv", "venv", "__pycache__",
                       ".tox", ".nox", ".mypy_cache", ".pytest_cache", ".ruff_cache",
                       ".terraform"})


class RepoInputError(ValueError):
    """A repository file cannot be used; the message is one line naming why."""


@record
class Skips:
    """What a run did not read: counts by kind, and capped (path, reason) details."""

    counts: dict[str, int] = field(default_factory=dict)
    detail: list[dict[str, str]] = field(default_factory=list)

    def add(self, kind: str, path: str, reason: str) -> None:
        self.counts[kind] = self.counts.get(kind, 0) + 1
        if len(self.detail) < MAX_DETAIL:
            self.detail.append({"path": path, "reason": reason})
        log.warning("%s: skipped: %s", path, reason)


@record(frozen=True)
class RepoFile:
    """A file of the repository: the path reports show and the path opened."""

    rel: str      # POSIX path relative to the repository root (what reports show)
    path: Path    # what is opened: the file itself or, for an in-repository link, its target


def _inside(root: Path, target: Path) -> bool:
    try:
        target.relative_to(root)
    except ValueError:
        return False
    return True


def _excluded(rel: str, exclude: tuple[str, ...]) -> bool:
    return any(fnmatch.fnmatchcase(rel, g) or fnmatch.fnmatchcase(rel + "/", g)
               for g in exclude)


def walk(root: Path, wanted: Callable[[str], bool], skips: Skips,
         exclude: tuple[str, ...] = ()) -> Iterator[RepoFile]:
    """Files under `root` whose relative path `wanted` accepts, in a stable order."""
    real_root = root.resolve()

    def unlisted(e: OSError) -> None:  # a directory that cannot be listed is not skipped silently
        where = Path(e.filename or root)
        try:
            rel = where.relative_to(root).as_posix()
        except ValueError:
            rel = str(where)
        skips.add("repoFiles", rel, f"directory cannot be listed: {e.strerror or e}")

    for dirpath, dirnames, filenames in os.walk(root, onerror=unlisted, followlinks=False):
        here = Path(dirpath)
        rel_dir = here.relative_to(root).as_posix()
        rel_dir = "" if rel_dir == "." else rel_dir + "/"
        keep = []
        for d in sorted(dirnames):
            rel = rel_dir + d
            if d in SKIP_DIRS or _excluded(rel, exclude):
                continue
            full = here / d
            if full.is_symlink():
                target = full.resolve()
                if not _inside(real_root, target):
                    skips.add("repoFiles", rel, "symbolic link to a directory outside the "
                                                "repository, not followed")
                continue
            keep.append(d)
        dirnames[:] = keep
        for name in sorted(filenames):
            rel = rel_dir + name
            if not wanted(rel) or _excluded(rel, exclude):
                continue
            full = here / name
            if full.is_symlink():
                target = Path(os.path.realpath(full))
                if not _inside(real_root, target):
                    skips.add("repoFiles", rel, "symbolic link out of the repository, "
                                                "not followed")
                    continue
                if not target.is_file():
                    skips.add("repoFiles", rel, "symbolic link to nothing readable, "
                                                "not followed")
                    continue
                yield RepoFile(rel, target)
            elif full.is_file():
                yield RepoFile(rel, full)
            else:  # a FIFO, a device, a socket: never opened (a FIFO would block the run)
                kind = _special(full)
                if kind:
                    skips.add("repoFiles", rel, f"{kind}, not a regular file; not read")


def _special(path: Path) -> str | None:
    try:
        mode = path.lstat().st_mode
    except OSError:
        return None
    return None if stat.S_ISDIR(mode) else inputs.not_regular(mode)


def read_text(f: RepoFile, max_bytes: int = MAX_FILE_BYTES) -> str:
    """The file's text; RepoInputError (one line) when it is too large, binary or not UTF-8."""
    try:  # regular files only: a FIFO or a device is refused, never waited on
        data = inputs.read_bytes(f.path, "file", inputs.Limits(max_bytes=max_bytes),
                                 gunzip=False)
    except inputs.FileRefused as e:
        raise RepoInputError(str(e).removeprefix(f"{f.path}: ")) from None
    if b"\x00" in data:
        raise RepoInputError("binary file (NUL bytes), not YAML text")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise RepoInputError(f"not UTF-8 text (byte {e.start})") from None


# ---- YAML -----------------------------------------------------------------------------------

class YMap(dict[Any, Any]):
    """A YAML mapping that remembers its line and the line of each key (1-based)."""

    line: int = 0
    key_lines: dict[Any, int]
    # (key, earlier value, its line) of each key written twice: YAML keeps the later value
    duplicates: list[tuple[Any, Any, int]]

    def line_of(self, key: Any) -> int:
        return self.key_lines.get(key, self.line)


class YList(list[Any]):
    """A YAML sequence that remembers its line and the line of each item (1-based)."""

    line: int = 0
    item_lines: list[int]

    def line_of(self, index: int) -> int:
        return self.item_lines[index] if 0 <= index < len(self.item_lines) else self.line


_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml: ~13x faster than Python


def _check_depth(text: str, limit: int) -> None:
    """Refuse nesting deeper than `limit` from the event stream (libyaml's parser keeps its
    own stack, so this pass cannot overflow), before the recursive composer runs."""
    depth = 0
    for event in yaml.parse(text, Loader=_Loader):
        if isinstance(event, yaml.MappingStartEvent | yaml.SequenceStartEvent):
            depth += 1
            if depth > limit:
                raise RepoInputError(f"YAML nested too deeply (more than {limit} levels)")
        elif isinstance(event, yaml.MappingEndEvent | yaml.SequenceEndEvent):
            depth -= 1


def _expanded_size(root: Node, limit: int) -> int:
    """Number of nodes once every alias is expanded; RepoInputError past `limit` or on a
    recursive alias. Linear in the number of distinct nodes (sizes are memoised)."""
    sizes: dict[int, int] = {}
    active: set[int] = set()

    def size(node: Node) -> int:
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in active:
            raise RepoInputError("recursive YAML alias")
        active.add(key)
        total = 1
        if isinstance(node, SequenceNode):
            for child in node.value:
                total += size(child)
                if total > limit:
                    break
        elif isinstance(node, MappingNode):
            for k, v in node.value:
                total += size(k) + size(v)
                if total > limit:
                    break
        active.discard(key)
        if total > limit:
            raise RepoInputError(f"YAML expands to more than {limit} nodes (alias bomb?)")
        sizes[key] = total
        return total

    return size(root)


def load_yaml(text: str, max_nodes: int = MAX_YAML_NODES) -> Any:
    """One YAML document as YMap / YList / scalars (YAML 1.1 types, as PyYAML reads them).

    RepoInputError with a one-line message on a syntax error, several documents, a bomb, a
    nesting too deep for the parser, or a tag the safe loader does not know."""
    try:
        _check_depth(text, MAX_YAML_DEPTH)
    except yaml.YAMLError as e:
        raise RepoInputError(f"not valid YAML: {_one_line(e, text)}") from None
    loader = _Loader(text)
    try:
        try:
            node = loader.get_single_node()
        except yaml.YAMLError as e:
            raise RepoInputError(f"not valid YAML: {_one_line(e, text)}") from None
        except RecursionError:
            raise RepoInputError("YAML nested too deeply") from None
        if node is None:
            return None
        _expanded_size(node, max_nodes)
        try:
            return _convert(node, loader, {})
        except yaml.YAMLError as e:
            raise RepoInputError(f"not valid YAML: {_one_line(e)}") from None
        except (RecursionError, ValueError, OverflowError) as e:
            # deep nesting, or a scalar PyYAML cannot build (e.g. a timestamp out of range)
            if isinstance(e, RepoInputError):
                raise
            raise RepoInputError("YAML nested too deeply" if isinstance(e, RecursionError)
                                 else f"not valid YAML: {_one_line(e)}") from None
    finally:
        loader.dispose()


def _one_line(e: Exception, text: str = "") -> str:
    """The problem, and where: the same words as a config's (drguard.inputs_yaml)."""
    if isinstance(e, yaml.MarkedYAMLError):
        return syntax_problem(e, text)
    return " ".join(str(e).split())[:300]


def _hashable(value: Any) -> Any:
    try:
        hash(value)
    except TypeError:
        return str(value)
    return value


_STR = "tag:yaml.org,2002:str"
_INT = "tag:yaml.org,2002:int"
MAX_INT_CHARS = 400  # a longer integer is kept as its text (Python refuses 4,300 digits)


def _convert(node: Node, loader: Any, memo: dict[int, Any]) -> Any:
    key = id(node)
    if key in memo:
        return memo[key]
    if isinstance(node, ScalarNode):
        if node.tag == _STR or node.tag != loader.resolve(ScalarNode, node.value, (True, False)) \
                or (node.tag == _INT and len(node.value) > MAX_INT_CHARS):
            # an explicit tag (`!!float`, `!!int`, `!custom`): what was written is the text,
            # and the text is what is judged (a tag never hides a value)
            value = node.value
        else:
            value = loader.construct_object(node, deep=True)
    elif isinstance(node, SequenceNode):
        seq = YList()
        seq.line = node.start_mark.line + 1
        seq.item_lines = []
        memo[key] = seq
        for child in node.value:
            seq.append(_convert(child, loader, memo))
            seq.item_lines.append(child.start_mark.line + 1)
        return seq
    elif isinstance(node, MappingNode):
        before = len(node.value)
        merges = sum(1 for k_node, _ in node.value if k_node.tag == "tag:yaml.org,2002:merge")
        loader.flatten_mapping(node)  # YAML merge keys (<<): merged pairs first, then own ones
        own_from = len(node.value) - (before - merges)
        m = YMap()
        m.line = node.start_mark.line + 1
        m.key_lines = {}
        m.duplicates = []
        memo[key] = m
        own: set[Any] = set()
        for i, (k_node, v_node) in enumerate(node.value):
            k = _hashable(_convert(k_node, loader, memo))
            if i >= own_from:
                if k in own:  # the later value wins; the earlier one is still in the file
                    m.duplicates.append((k, m[k], m.key_lines[k]))
                own.add(k)
            m[k] = _convert(v_node, loader, memo)
            m.key_lines[k] = k_node.start_mark.line + 1
        return m
    else:  # pragma: no cover - PyYAML has only these three node kinds
        raise RepoInputError(f"unexpected YAML node {type(node).__name__}")
    memo[key] = value
    return value


def line_of(container: Any, key: Any, default: int = 0) -> int:
    """Line of `key` in a YMap (or index in a YList), `default` for plain containers."""
    if isinstance(container, YMap):
        return container.line_of(key)
    if isinstance(container, YList) and isinstance(key, int):
        return container.line_of(key)
    return default
