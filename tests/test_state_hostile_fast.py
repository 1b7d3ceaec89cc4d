"""Secrets whose plaintext a report would spell escaped: a secret bucket name holding a
backslash, a newline, a quote or a lone surrogate reaches a finding's message as its repr
(`'a\\\\b'`), its remediation's CLI as a shell-quoted word, and would leave the exact-text
redaction behind. Every escaped spelling of a secret is redacted as the secret is.

Base export: tests/data/nasty-state/drifting-show-secrets.json (see test_state_hostile)."""

from __future__ import annotations

import copy
import html
import json
import re
import shlex
from pathlib import Path
from typing import Any

import pytest

from auditor.cli import main
from drguard.redact import Redactor
from tests.test_state_hostile import BASE, FORMATS, _res, _secret


def _spellings(secret: str) -> set[str]:
    """The secret as text, as Python, JSON and a shell would write it, and as the Pulumi
    logical name a remediation snippet makes of it."""
    forms = {secret, repr(secret)[1:-1], json.dumps(secret)[1:-1],
             json.dumps(secret, ensure_ascii=False)[1:-1], shlex.quote(secret),
             re.sub(r"[^0-9a-zA-Z.-]+", "-", secret).strip("-")}
    return forms | {html.escape(f) for f in forms}


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (*_strings(k), *_strings(v))]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


@pytest.mark.parametrize("secret", ["SECRET\\back", "SECRET\nline", "SECRET'quote",
                                    'SECRET"dq', "SECRET\ud800lone", "SECRET\tcaf\u00e9",
                                    "SECRET pass!word"])
def test_escaped_spellings_of_a_secret_never_reach_a_report(tmp_path: Path, secret: str,
                                                             capsys: pytest.CaptureFixture[str]
                                                             ) -> None:
    doc = copy.deepcopy(BASE)
    _res(doc, "db-backups")["outputs"]["bucket"] = _secret(secret)
    path = tmp_path / "export.json"
    path.write_text(json.dumps(doc))
    out = tmp_path / "out"
    code = main(["state", "--file", str(path), "--output-dir", str(out),
                 "--format", ",".join(FORMATS)])
    err = capsys.readouterr().err
    assert code == 1
    report = json.loads((out / "report.json").read_text())
    strings = _strings(report)
    assert any("[secret]" in s for s in strings)  # the name reached findings, redacted
    texts = [*strings, err, *(p.read_text(errors="surrogateescape") for p in out.iterdir())]
    for form in _spellings(secret):
        leaked = [t[max(0, t.find(form) - 40):t.find(form) + 40] for t in texts if form in t]
        assert not leaked, (form, leaked[:2])


def test_escaped_spellings_are_redacted_and_plain_secrets_as_before() -> None:
    r = Redactor({"pa\\ss", "plain-secret"})
    assert r.text("bucket 'pa\\\\ss' and \"pa\\\\ss\"") == "bucket '[secret]' and \"[secret]\""
    assert r.text("pa\\ss") == "[secret]"
    assert r.text("x plain-secret y") == "x [secret] y"
    assert Redactor({"plain-secret"}).long == ["plain-secret"]  # nothing added for plain text
    assert Redactor({"a b!c"}).text("Bucket('a-b-c-lock')") == "Bucket('[secret]-lock')"
    assert Redactor({"ab!"}).long == ["ab!"]  # a logical name shorter than 3: not redacted
