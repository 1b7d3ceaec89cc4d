"""The typed read of a stack export (auditor.state._typed_parse): msgspec checks the types
as it reads, and a resource whose properties' text holds nothing the value walk
(Decoder.decode) would change or count is built from msgspec's values without the walk.
The export it makes equals the whole read's (parse of loads) on every edge case, and the
prefilter (_walk_free) never passes a text the walk would have changed, remembered a secret
of, or counted unreadable."""

from __future__ import annotations

import copy
import itertools
import json
from pathlib import Path
from typing import Any

import msgspec
import pytest

from auditor import state
from tests.test_state_fast_path import STACK, _export, _lean_cases, _nested, _res

SIG = state.SIG_KEY


def _escaped(text: str) -> str:
    """`text` as JSON with every character a \\u escape."""
    return '"' + "".join(f"\\u{ord(c):04x}" for c in text) + '"'


def _values() -> dict[str, str]:
    """Property texts (JSON objects): plain ones, and every thing the walk acts on, spelt
    every way JSON can spell it."""
    secret = {SIG: state.SECRET_SIG, "plaintext": json.dumps("s3cr3t-value")}
    values: dict[str, Any] = {
        "plain": {"a": 1, "b": [True, None, 2.5, -0.0, "x"], "c": {"d": "caf\u00e9"}},
        "big int": {"a": 10**30, "b": -(10**40)},
        "tiny float": {"a": 1e-300, "b": 5e-324},
        "unknown sentinel": {"a": state.UNKNOWN_VALUE, "b": [state.UNKNOWN_VALUE]},
        "secret": {"a": secret},
        "ciphertext": {"a": {SIG: state.SECRET_SIG, "ciphertext": "AAAA"}},
        "whole secret": {SIG: state.SECRET_SIG, "ciphertext": "AAAA"},
        "resource ref": {"a": {SIG: state.RESOURCE_SIG, "urn": f"{STACK}::x::y", "id": "i"}},
        "big int sig": {"a": {SIG: state.INTEGER_SIG, "value": "1" * 50}},
        "bad big int sig": {"a": {SIG: state.INTEGER_SIG, "value": "x"}},
        "sig as a value": {"a": SIG, "b": [SIG]},
        "too-deep marker": {"a": state._TOO_DEEP},
        "html escapes": {"a": "<b>&</b>"},
    }
    for depth in (state.MAX_VALUE_DEPTH - 2, state.MAX_VALUE_DEPTH - 1, state.MAX_VALUE_DEPTH,
                  state.MAX_VALUE_DEPTH + 1, state.MAX_VALUE_DEPTH + 5):
        values[f"nested {depth}"] = {"n": _nested(depth)}
        lists: Any = 1.5
        for _ in range(depth):
            lists = [lists]
        values[f"lists {depth}"] = {"n": lists}
    texts = {name: json.dumps(v, ensure_ascii=False) for name, v in values.items()}
    # the same things spelt with \u escapes (the key, the marker), and HTML escapes as Go
    # writes them
    texts["escaped sig key"] = '{"a": {' + _escaped(SIG) + ': "' + state.SECRET_SIG + \
        '", "plaintext": "\\"x\\""}}'
    texts["escaped sig digit"] = '{"a": {"\\u0034' + SIG[1:] + '": "' + state.RESOURCE_SIG + \
        '", "id": "i"}}'
    texts["escaped marker"] = '{"a": ' + json.dumps(state._TOO_DEEP) + "}"
    texts["go html"] = '{"a": "\\u003cb\\u003e\\u0026"}'
    texts["brackets in strings"] = json.dumps({"a": "[" * 80 + "{" * 80})
    return texts


def test_the_prefilter_passes_only_what_the_walk_keeps() -> None:
    passed = flagged = 0
    for name, text in _values().items():
        value = msgspec.json.decode(text)
        decoder = state.Decoder()
        walked = decoder.decode(value)
        if state._walk_free(text.encode()):
            passed += 1
            assert walked == value and type(walked) is type(value), name
            assert json.dumps(walked) == json.dumps(value), name  # same order, same types
            assert (decoder.unreadable, decoder.secrets) == (0, set()), name
        else:
            flagged += 1
    # both sides are exercised: everything the walk acts on is flagged
    assert passed >= 6 and flagged >= 12
    for name in ("secret", "ciphertext", "whole secret", "resource ref", "big int sig",
                 "too-deep marker", "escaped sig key", "escaped sig digit", "escaped marker",
                 f"nested {state.MAX_VALUE_DEPTH + 1}", f"lists {state.MAX_VALUE_DEPTH}"):
        assert not state._walk_free(_values()[name].encode()), name


def _fields(export: state.Export) -> Any:
    return ([(r.urn, r.type, r.id, r.custom, r.props, type(r.props), r.protect, r.external,
              r.delete, r.pending_replacement, r.parent, r.provider, r.property_deps)
             for r in export.resources],
            export.version, export.secrets, export.unreadable, export.manifest,
            export.pending_operations)


def _typed_cases() -> dict[str, str]:
    cases = _lean_cases()
    base = _export()
    for (name, text), (where, other) in itertools.product(
            _values().items(), (("same", None), ("inputs differ", '{"x": 1}'),
                                ("outputs only", "absent"), ("inputs only", "null"))):
        doc = json.dumps(base)[:-3]  # ...]}} -> ..., the resource]}}
        outputs = inputs = text
        if other == "absent":
            inputs = "null"
        elif other == "null":
            outputs = "null"
        elif other is not None:
            inputs = other[:-1] + ", " + text[1:] if text != "{}" else other
        doc += (', {"urn": "' + f"{STACK}::aws:s3/bucket:Bucket::v" + '", "type": '
                '"aws:s3/bucket:Bucket", "custom": true, "outputs": ' + outputs +
                ', "inputs": ' + inputs + "}]}}")
        json.loads(doc)
        cases[f"{name}, {where}"] = doc
    v1 = copy.deepcopy(base)
    v1["version"] = 1
    v1["deployment"]["resources"][1]["propertyDependencies"] = {"bucket": [f"{STACK}::a::b"]}
    cases["v1 with dependencies"] = json.dumps(v1)
    v3 = copy.deepcopy(base)
    v3["deployment"]["resources"][1].update(
        propertyDependencies={"bucket": [f"{STACK}::a::b"]}, parent=f"{STACK}::p::q",
        protect=True, external=False, pendingReplacement=True, id=None, provider=None)
    v3["deployment"]["pending_operations"] = [{"type": "creating"}]
    cases["every field"] = json.dumps(v3)
    secret_outputs = copy.deepcopy(base)
    secret_outputs["deployment"]["resources"][1]["additionalSecretOutputs"] = ["bucket"]
    cases["additionalSecretOutputs"] = json.dumps(secret_outputs)
    empty = {"version": 3, "deployment": {"manifest": None, "resources": None,
                                          "pending_operations": None}}
    cases["empty"] = json.dumps(empty)
    return cases


def test_typed_read_equals_the_whole_read() -> None:
    typed_used = 0
    for name, text in _typed_cases().items():
        typed = state._typed_parse(text, name)
        whole = state.parse(state.loads(text), name)
        if typed is None:  # then load() reads it as before
            continue
        typed_used += 1
        assert _fields(typed) == _fields(whole), name
        # the one read still walks what it must: secrets and unreadable values are counted
        if "secret" in name and "ciphertext" not in name and "whole" not in name:
            assert typed.secrets, name
    assert typed_used >= len(_typed_cases()) - 2
    mixed = state._typed_parse(_typed_cases()["mixed"], "mixed")
    assert mixed is not None
    assert {"hunter2-db-pass", "input-only-secret", "in"} <= mixed.secrets
    assert mixed.unreadable == 2


@pytest.mark.parametrize("text", [
    '{"version": 3, "deployment": {"resources": [1]}}',
    '{"version": 3, "deployment": {"resources": [{"urn": "x", "type": "t"}]}}',
    '{"version": 3, "deployment": {"resources": [{"urn": "' + STACK + '::t::n", "type": ""}]}}',
    '{"version": 3, "deployment": {"resources": [{"urn": "' + STACK + '::t::n", "type": "t", '
    '"custom": "yes"}]}}',
    '{"version": 3, "deployment": {"resources": [{"urn": "' + STACK + '::t::n", "type": "t", '
    '"outputs": [1]}]}}',
    '{"version": 3, "deployment": {"resources": [{"urn": "' + STACK + '::t::n", "type": "t", '
    '"propertyDependencies": {"a": [1]}}]}}',
    '{"version": 3, "deployment": {"manifest": 5}}',
    '{"version": 3, "deployment": {"pending_operations": {}}}',
    '{"version": 9, "deployment": {}}',
    '{"version": true, "deployment": {}}',
    '{"version": 3, "checkpoint": {"latest": null}}',
    '{"version": 3, "deployment": {"resources": [{"urn": "' + STACK + '::t::n", "type": "t", '
    '"outputs": {"a": "\\ud800"}}]}}',
    '{"version": 3, "deployment": {"resources": [{"urn": "' + STACK + '::t::n", "type": "t", '
    '"outputs": {"a": NaN}}]}}',
])
def test_what_the_typed_read_refuses_is_read_as_before(text: str) -> None:
    """Not of the typed shape: None (load() then reads it the old way, which says what is
    wrong, or reads it)."""
    assert state._typed_parse(text, "x") is None


def test_duplicate_urns_are_refused_by_both_reads() -> None:
    doc = _export()
    doc["deployment"]["resources"].append(_res("aws:s3/bucket:Bucket", "backups", {}))
    with pytest.raises(state.StateError) as typed:
        state._typed_parse(json.dumps(doc), "x")
    with pytest.raises(state.StateError) as whole:
        state.parse(json.loads(json.dumps(doc)), "x")
    assert str(typed.value) == str(whole.value)


@pytest.mark.parametrize("where", ["urn", "an output", "an input only", "a tag key",
                                   "the manifest", "a field the read skips",
                                   "a deployment field the read skips"])
@pytest.mark.parametrize("bad", [b"\xff", b"\xed\xa0\x80", b"\xc0\x80", b"\x00"])
def test_bytes_that_are_not_utf8_text_are_named(where: str, bad: bytes,
                                                tmp_path: Path) -> None:
    """The typed read takes the file's bytes as they are; what is not UTF-8 text (or holds a
    NUL) anywhere is refused with the text reader's one line, never read or crashed on."""
    marker = "MARK"
    doc = _export()
    bucket = doc["deployment"]["resources"][1]
    if where == "urn":
        bucket["urn"] += marker
    elif where == "an output":
        bucket["outputs"]["bucket"] = marker
    elif where == "an input only":
        bucket["inputs"] = {**bucket["outputs"], "extra": marker}
    elif where == "a tag key":
        bucket["outputs"]["tags"][marker] = "x"
    elif where == "the manifest":
        doc["deployment"]["manifest"]["version"] = marker
    elif where == "a field the read skips":
        bucket["created"] = marker
    else:
        doc["deployment"]["secrets_providers"] = {"type": marker}
    path = tmp_path / "export.json"
    path.write_bytes(json.dumps(doc).encode().replace(marker.encode(), b"a" + bad + b"b"))
    with pytest.raises(state.StateError) as refused:
        state.load(path)
    kind = "is binary (NUL bytes)" if bad == b"\x00" else "is not UTF-8 text"
    assert str(refused.value).startswith(f"{path}: stack export {kind}"), refused.value


def test_text_beyond_ascii_reads_as_its_escaped_form(tmp_path: Path) -> None:
    doc = _export()
    doc["deployment"]["resources"][1]["outputs"]["tags"]["owner"] = "Zo\u00eb \u6771\U0001f600"
    raw, escaped = tmp_path / "utf8.json", tmp_path / "ascii.json"
    raw.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    escaped.write_text(json.dumps(doc), encoding="ascii")
    assert not raw.read_bytes().isascii()
    assert _fields(state.load(raw)) == _fields(state.load(escaped))


def test_a_bom_changes_nothing(tmp_path: Path) -> None:
    text = json.dumps(_export()).encode()
    plain, bom = tmp_path / "plain.json", tmp_path / "bom.json"
    plain.write_bytes(text)
    bom.write_bytes(b"\xef\xbb\xbf" + text)
    assert _fields(state.load(bom)) == _fields(state.load(plain))
    assert _fields(state.load(plain)) == _fields(state.parse(json.loads(text), "x"))


def test_inputs_merge_as_the_whole_read_merges() -> None:
    """Inputs under outputs: keys in the inputs' order, then the outputs' own; the
    outputs' values win; values only the inputs hold are kept (nested ones included)."""
    doc = json.dumps(_export())[:-3] + (
        ', {"urn": "' + f"{STACK}::aws:s3/bucket:Bucket::v" + '", "type": '
        '"aws:s3/bucket:Bucket", "custom": true, "outputs": {"b": 2, "a": 1, "z": [1]}, '
        '"inputs": {"c": {"d": [true, null]}, "a": 9, "__defaults": ["a"]}}]}}')
    typed = state._typed_parse(doc, "x")
    assert typed is not None
    props = typed.resources[-1].props
    assert list(props.items()) == [("c", {"d": [True, None]}), ("a", 1),
                                   ("__defaults", ["a"]), ("b", 2), ("z", [1])]
    assert _fields(typed) == _fields(state.parse(state.loads(doc), "x"))
