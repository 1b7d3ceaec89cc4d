"""`dr-audit state` reads exports with msgspec and writes report.json compactly: the findings
are those of the stdlib reader, for ordinary exports and for what only the stdlib reads."""

from __future__ import annotations

import json
import types
from pathlib import Path

import msgspec
import pytest

from auditor import state
from auditor.cli import main

DATA = Path(__file__).resolve().parent / "data" / "nasty-state"
STACK = "urn:pulumi:prod::app"


def _res(type_: str, name: str, outputs: dict) -> dict:
    return {"urn": f"{STACK}::{type_}::{name}", "custom": True, "id": name, "type": type_,
            "outputs": outputs, "inputs": outputs}


def _export(**db: object) -> dict:
    return {"version": 3, "deployment": {"manifest": {"version": "v3.200.0"}, "resources": [
        {"urn": f"{STACK}::pulumi:pulumi:Stack::app-prod", "custom": False,
         "type": "pulumi:pulumi:Stack"},
        _res("aws:s3/bucket:Bucket", "backups", {"bucket": "backups", "tags": {
            "dr:backup": "true", "note": "caf\u00e9"}}),
        _res("aws:rds/instance:Instance", "db", {"identifier": "db", "engine": "postgres",
                                                 "backupRetentionPeriod": 1, **db})]}}


def _cases(tmp_path: Path) -> list[Path]:
    files = sorted(DATA.glob("*.json"))
    plain = tmp_path / "plain.json"
    plain.write_text(json.dumps(_export()))
    # A 30-digit integer (msgspec reads it, exactly); NaN and a lone surrogate (msgspec
    # refuses them: the stdlib reads that file).
    big = tmp_path / "big.json"
    big.write_text(json.dumps(_export(allocatedStorage=10**30)))
    odd = tmp_path / "odd.json"
    odd.write_text(json.dumps(_export(maxAllocatedStorage=float("nan"), description="\ud800")))
    return [*files, plain, big, odd]


def _run(path: Path, out: Path) -> tuple[int, str, dict]:
    code = main(["state", "--file", str(path), "--output-dir", str(out), "--format", "json"])
    text = (out / "report.json").read_text(encoding="utf-8")
    return code, text, json.loads(text)


def _stdlib_only() -> types.SimpleNamespace:
    def refuse(_: object, **__: object) -> None:
        raise msgspec.DecodeError("refused")

    return types.SimpleNamespace(json=types.SimpleNamespace(decode=refuse),
                                 DecodeError=msgspec.DecodeError)


def test_fast_reader_finds_what_the_stdlib_reader_finds(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    cases = _cases(tmp_path)
    assert len(cases) >= 3
    for i, path in enumerate(cases):
        code, text, fast = _run(path, tmp_path / f"fast-{i}")
        with monkeypatch.context() as m:
            m.setattr(state, "msgspec", _stdlib_only())
            slow_code, _, slow = _run(path, tmp_path / f"slow-{i}")
        assert code == slow_code, path.name
        assert fast["findings"] == slow["findings"], path.name
        assert fast["summary"] == slow["summary"], path.name
        assert fast["findings"], path.name  # something was judged
        assert text.count("\n") == 1 and ": " not in text.split('"findings"')[0], path.name


def test_loads_matches_json_loads_where_msgspec_refuses() -> None:
    for text in ('{"a": 123456789012345678901234567890}', '{"a": NaN, "b": [1.5, -0.0]}',
                 '["\\ud800"]', '{"a": {"b": [true, false, null, "x\\u00e9"]}}'):
        assert json.dumps(state.loads(text)) == json.dumps(json.loads(text))
    deep = "[" * 5000 + "]" * 5000
    assert state.loads(deep) is not None  # nesting beyond both parsers' limits: capped, read
    with pytest.raises(json.JSONDecodeError):
        state.loads('{"a": }')


def _nested(depth: int) -> object:
    value: object = "leaf"
    for _ in range(depth):
        value = {"n": value}
    return value


def _lean_cases() -> dict[str, str]:
    secret = {state.SIG_KEY: state.SECRET_SIG, "plaintext": json.dumps("hunter2-db-pass")}
    same = {"bucket": "b", "tags": {"dr:backup": "true"}, "password": secret,
            "deep": _nested(state.MAX_VALUE_DEPTH + 6), "big": 10**30}
    doc = _export()
    doc["deployment"]["resources"] += [
        # inputs the same JSON as the outputs (shared), with a secret and an unreadable value
        {**_res("aws:s3/bucket:Bucket", "same", same), "protect": True, "extra": [1]},
        # inputs that differ (their own secret), inputs alone, outputs alone, null inputs
        {**_res("aws:s3/bucket:Bucket", "differ", {"bucket": "d"}),
         "inputs": {"bucket": "d", "acl": "private", "token": {
             state.SIG_KEY: state.SECRET_SIG, "plaintext": json.dumps("input-only-secret")}}},
        {"urn": f"{STACK}::aws:s3/bucket:Bucket::in", "type": "aws:s3/bucket:Bucket",
         "custom": True, "inputs": {"bucket": "in"}, "additionalSecretOutputs": ["bucket"]},
        {"urn": f"{STACK}::aws:s3/bucket:Bucket::out", "type": "aws:s3/bucket:Bucket",
         "custom": True, "outputs": {"bucket": "out"}, "inputs": None, "delete": False},
    ]
    cases = {path.name: path.read_text() for path in sorted(DATA.glob("*.json"))}
    golden = DATA.parent / "goldens" / "export.json"
    cases[golden.name] = golden.read_text()
    cases["mixed"] = json.dumps(doc)
    return cases


def test_lean_read_equals_the_whole_read() -> None:
    """Inputs left as text and shared with outputs of the same text: the resources, the
    secrets remembered and the values counted unreadable are those of the whole read."""
    for name, text in _lean_cases().items():
        lean = state._lean_loads(text)
        assert lean is not None, name  # the lean read is the one used
        a, b = state.parse(lean, name), state.parse(state.loads(text), name)
        assert [(r.urn, r.type, r.id, r.props, r.protect, r.delete, r.provider)
                for r in a.resources] == \
            [(r.urn, r.type, r.id, r.props, r.protect, r.delete, r.provider)
             for r in b.resources], name
        assert (a.secrets, a.unreadable, a.manifest, a.pending_operations) == \
            (b.secrets, b.unreadable, b.manifest, b.pending_operations), name
    mixed = state.parse(state._lean_loads(_lean_cases()["mixed"]) or {}, "mixed")
    assert {"hunter2-db-pass", "input-only-secret", "in"} <= mixed.secrets
    assert mixed.unreadable == 2  # the too-deep value, in the outputs and in the inputs


def test_lean_read_leaves_other_shapes_to_the_whole_read() -> None:
    checkpoint = json.dumps({"version": 3, "checkpoint": {"latest": _export()["deployment"]}})
    for text in (checkpoint, '{"version": 3, "deployment": {"resources": [1]}}',
                 '{"version": 3, "deployment": {"resources": [{"outputs": {"a": NaN}}]}}',
                 '{"deployment": {}}', "[]", '{"version": 3, "deployment": null}'):
        assert state._lean_loads(text) is None, text
