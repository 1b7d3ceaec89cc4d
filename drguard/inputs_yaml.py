"""The YAML half of drguard.inputs: safe, bounded YAML reads (depth, size, long integers,
NaN refused; duplicate keys reported). A module of its own so that PyYAML is imported only
by the runs that read YAML."""

from __future__ import annotations

import math
import re
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from .input_bounds import (
    DEFAULT,
    Duplicate,
    Limits,
    _LongInt,
    _path_of,
    _Refusal,
    _refuse,
    one_line,
)

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
        raise _refuse(where, f"not valid YAML: {_yaml_reason(e, text)}") from None
    except RecursionError:  # defensive: the depth scan runs first
        raise _refuse(where, f"nested too deeply; {what} refused") from None


def _yaml_reason(e: yaml.YAMLError, text: str) -> str:
    return syntax_problem(e, text) if isinstance(e, yaml.MarkedYAMLError) \
        else one_line(str(e), 200) or type(e).__name__


def _at(mark: Any) -> str:
    return f"line {mark.line + 1}, column {mark.column + 1}"


_ALIAS = re.compile(r"\*([^\s,\[\]{}]{1,80})")
_BREAK = re.compile("\r\n|[\r\n\x85\u2028\u2029]")  # what YAML counts as a new line


def _line_at(text: str, mark: Any) -> str:
    lines = _BREAK.split(text, maxsplit=mark.line + 1)
    return lines[mark.line] if mark.line < len(lines) else ""


def _char_at(text: str, mark: Any) -> str:
    line = _line_at(text, mark)
    return line[mark.column] if mark.column < len(line) else ""


def syntax_problem(e: yaml.MarkedYAMLError, text: str) -> str:
    """`line L, column C: <problem> (<context> that starts at line L, column C)`: the problem
    first (PyYAML's own message opens with its context, e.g. "while scanning a quoted
    scalar", which says where the parser was, not what is wrong), on one line, the same
    words from the pure-Python parser and from libyaml where they agree."""
    problem = " ".join((e.problem or "").split()).removeprefix("but ")
    mark = e.problem_mark
    char = _char_at(text, mark) if mark is not None else ""
    if problem.startswith("mapping values are not allowed"):  # libyaml: "in this context"
        problem = ("mapping values are not allowed here (a key indented deeper than the one "
                   "above it, or an unquoted value holding ': '?)")
    elif "cannot start any token" in problem and char == "\t":
        problem = "a tab character; YAML indents with spaces, not tabs"
    elif problem == "found character that cannot start any token" and char:  # libyaml
        problem = f"found character {char!r} that cannot start any token"
    elif problem == "found undefined alias" and mark is not None:  # libyaml: no name
        name = _ALIAS.match(_line_at(text, mark), mark.column)
        problem += f" {name.group(1)!r}" if name else ""
    if e.context and not problem.startswith("a tab"):
        context = " ".join(e.context.split())
        if e.context_mark is not None and context.startswith("while ") and (
                mark is None or (e.context_mark.line, e.context_mark.column)
                != (mark.line, mark.column)):
            context += f" that starts at {_at(e.context_mark)}"
        if not context.startswith("while scanning for the next token"):
            problem = f"{problem} ({context})" if problem else context
    problem = one_line(problem or type(e).__name__, 300)
    return f"{_at(mark)}: {problem}" if mark is not None else problem


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
        raise _refuse(where, f"not valid YAML: {_yaml_reason(e, '')}") from None
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


