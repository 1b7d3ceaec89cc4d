"""drguard.inputs: the one hardened reader every command, the pack and the config use."""

from __future__ import annotations

import gzip
import os
import time
from pathlib import Path

import pytest
import yaml

from drguard import inputs
from drguard.inputs import FileRefused


def refused(call, *fragments: str) -> str:  # noqa: ANN001
    with pytest.raises(FileRefused) as e:
        call()
    text = str(e.value)
    assert "\n" not in text
    for f in fragments:
        assert f in text, text
    return text


def test_only_regular_files_are_opened(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo.json"
    os.mkfifo(fifo)
    start = time.monotonic()
    refused(lambda: inputs.load(fifo, "report"), str(fifo), "a FIFO (named pipe)")
    assert time.monotonic() - start < 5  # refused at once, never waited on
    refused(lambda: inputs.load("/dev/zero", "report"), "/dev/zero", "a character device")
    refused(lambda: inputs.load(tmp_path, "report"), str(tmp_path), "folder")
    refused(lambda: inputs.load(tmp_path / "nope.json", "report"), "not found")
    refused(lambda: inputs.load("bad\x00name", "report"), "cannot read report")


def test_whole_files_are_read_whatever_their_stated_size(tmp_path: Path) -> None:
    """A file is read in one go at its stated size, and on to its real end: a larger file
    (several reads), and one whose stated size is 0 (as /proc states it) are read whole."""
    data = bytes(range(256)) * (3 << 12) + b"end"  # 3 MiB and a bit
    f = tmp_path / "big.bin"
    f.write_bytes(data)
    assert inputs.read_bytes(f, gunzip=False) == data
    status = Path("/proc/self/status")
    if status.exists():
        assert status.stat().st_size == 0
        assert b"VmRSS" in inputs.read_bytes(status, gunzip=False)
    refused(lambda: inputs.read_bytes(f, limits=inputs.Limits(max_bytes=1 << 20)),
            "larger than")


def test_size_and_gzip_bounds(tmp_path: Path) -> None:
    big = tmp_path / "big.json"
    big.write_text("[" + "1," * 600 + "1]")
    refused(lambda: inputs.load(big, limits=inputs.Limits(max_bytes=1000)), "larger than")
    gz = tmp_path / "r.json.gz"
    gz.write_bytes(gzip.compress(b'{"a": [1, 2]}'))
    assert inputs.load(gz) == {"a": [1, 2]}
    bomb = tmp_path / "bomb.gz"
    bomb.write_bytes(gzip.compress(b"0" * (4 << 20)))
    refused(lambda: inputs.read_bytes(bomb, limits=inputs.Limits(max_bytes=1 << 20)),
            "inflates past", "gzip bomb")
    cut = tmp_path / "cut.json.gz"
    cut.write_bytes(gzip.compress(b'{"a": 1}')[:-12])
    refused(lambda: inputs.load(cut), "gzip")


@pytest.mark.parametrize("text, fragment", [
    ("[" * 100_000 + "]" * 100_000, "nested more than 64 levels"),
    ('{"a": NaN}', "NaN"), ('{"a": -Infinity}', "Infinity"), ('{"a": 1e999}', "Infinity"),
    ('{"a": {"b": 1' + "0" * 5000 + "}}", "a.b: integer of 5001 digits"),
    ('{"a": 1, "a": 2}', "duplicate key 'a'"),
    ("\xff", "not UTF-8"), ('{"a": "\x00"}', "NUL"), ('{"a": ', "not valid JSON"),
])
def test_json_refusals_name_the_file_and_the_reason(tmp_path: Path, text: str,
                                                    fragment: str) -> None:
    path = tmp_path / "in.json"
    path.write_bytes(text.encode("latin-1") if text == "\xff" else text.encode())
    refused(lambda: inputs.load(path, "report"), str(path), fragment)


BOMB = "a: &a [x,x,x,x,x,x,x,x,x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{','.join(['*' + chr(97 + i)] * 9)}]\n" for i in range(8))


@pytest.mark.parametrize("text, fragment", [
    ("[" * 20_000, "nested more than 64 levels"), ("a: .nan\n", "NaN"), ("a: -.inf\n", "NaN"),
    ("a:\n  b: 1" + "0" * 5000 + "\n", "a.b (line 2): integer of 5001 digits"),
    ("a: 1\nb: 2\na: 3\n", "duplicate key 'a' at line 3 (first at line 1)"),
    ("? [x]\n: 1\n", "keys must be text"), ("a: &a [*a]\n", "recursive"),
    (BOMB, "alias bomb"), ("a: !!python/object/apply:os.system ['true']\n", "unsupported YAML tag"),
    ("a: [\n", "not valid YAML"),
])
def test_yaml_refusals_name_the_file_and_the_reason(tmp_path: Path, text: str,
                                                    fragment: str) -> None:
    path = tmp_path / "in.yaml"
    path.write_text(text)
    refused(lambda: inputs.load(path, "config"), str(path), fragment)


@pytest.mark.parametrize("loader", [yaml.SafeLoader, getattr(yaml, "CSafeLoader", None)],
                         ids=["python", "libyaml"])
def test_yaml_syntax_errors_say_the_problem_first_with_either_parser(loader: object) -> None:
    """PyYAML's message opens with its context ("while scanning a quoted scalar"); ours says
    the problem and where, then the context, whichever parser (pure Python or libyaml) ran."""
    if loader is None:
        pytest.skip("PyYAML without libyaml")
    from drguard.inputs_yaml import syntax_problem

    for text, expected in [
            ("a:\n  b: 1\n    c: 2\n", "line 3, column 6: mapping values are not allowed"),
            ("a: 'x\n", "line 2, column 1: found unexpected end of stream (while scanning a "
                        "quoted scalar that starts at line 1, column 4)"),
            ("a:\n\tb: 1\n", "line 2, column 1: a tab character; YAML indents with spaces, "
                            "not tabs"),
            ("a: 1\n---\nb: 2\n", "line 2, column 1: found another document (expected a "
                                  "single document in the stream)")]:
        with pytest.raises(yaml.MarkedYAMLError) as e:
            yaml.load(text, Loader=loader)  # noqa: S506 - the safe loaders only
        assert syntax_problem(e.value, text).startswith(expected), syntax_problem(e.value, text)


def test_yaml_reads_what_users_write(tmp_path: Path) -> None:
    path = tmp_path / "ok.yaml"
    path.write_text("base: &b {x: 1, y: 2}\nuse:\n  <<: *b\n  y: 3\n"
                    "true: yes\n012345678901: prod\n2027-01-01: day\nwhen: 2027-02-30\n")
    assert inputs.load(path) == {"base": {"x": 1, "y": 2}, "use": {"x": 1, "y": 3},
                                 "true": True, "012345678901": "prod", "2027-01-01": "day",
                                 "when": "2027-02-30"}


def test_schema_errors_are_one_line(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    path.write_text('{"a": {"b": "x"}}')
    schema = {"type": "object", "properties": {"a": {"type": "object", "properties": {
        "b": {"type": "integer"}}}}}
    refused(lambda: inputs.load(path, "thing", schema=schema), str(path), "a.b", "integer")
    path.write_text('{"a": {"b": 3}}')
    assert inputs.load(path, schema=schema) == {"a": {"b": 3}}


def test_a_utf16_file_is_named_as_such(tmp_path: Path) -> None:
    """A PowerShell `>` redirect writes UTF-16 with a byte-order mark: said in words."""
    for encoding in ("utf-16", "utf-16-be"):
        path = tmp_path / f"{encoding}.json"
        bom = b"\xfe\xff" if encoding == "utf-16-be" else b""
        path.write_bytes(bom + '{"version": 3}'.encode(encoding))
        assert path.read_bytes()[:2] in (b"\xff\xfe", b"\xfe\xff")
        refused(lambda p=path: inputs.load(p, "stack export"), str(path),
                "stack export is not UTF-8 text: it is UTF-16", "pulumi stack export --file")
    plain = tmp_path / "latin1.json"
    plain.write_bytes(b'{"a": "caf\xe9"}')  # another encoding: the byte is named, as before
    refused(lambda: inputs.load(plain, "report"), "not UTF-8 text (byte 0xe9 at line 1")
