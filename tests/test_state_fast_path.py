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
    def refuse(_: object) -> None:
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
