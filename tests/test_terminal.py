"""What reaches the terminal or a CI log names things an attacker may have written (file
names, stack names, values in an export): their control characters are shown as escapes, so
no terminal escape runs and no new line starts a CI workflow command."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from auditor.terminal import shown, shown_lines

HOSTILE = "x\x1b]0;pwned\x07\x1b[2J\n::add-mask::y"


def test_shown_escapes_what_is_not_printable() -> None:
    assert shown("backup-bucket prod/é") == "backup-bucket prod/é"
    assert shown(HOSTILE) == "x\\x1b]0;pwned\\x07\\x1b[2J\\n::add-mask::y"
    assert shown("a\u202eb\ud800c\td") == "a\\u202eb\\ud800c\\td"


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "auditor", *args], capture_output=True,
                          text=True, errors="surrogateescape", check=False, timeout=120)


def _clean(stderr: str) -> None:
    assert "\x1b" not in stderr and "\x07" not in stderr
    assert not any(line.startswith("::") for line in stderr.splitlines())


def test_a_logged_warning_shows_a_hostile_file_name_escaped(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / f"AWSLogs-{HOSTILE}.json.gz").write_bytes(b"not gzip")
    proc = _cli("logs", str(logs), "--format", "json", "--output-dir", str(tmp_path / "out"))
    assert proc.returncode == 3, proc.stderr
    _clean(proc.stderr)
    assert "AWSLogs-x\\x1b]0;pwned" in proc.stderr  # named, escaped: not dropped


def test_an_error_line_shows_a_hostile_file_name_escaped(tmp_path: Path) -> None:
    export = tmp_path / f"{HOSTILE}.json"
    export.write_text("{not json")
    proc = _cli("state", "--file", str(export), "--output-dir", str(tmp_path / "out"))
    assert proc.returncode == 2, proc.stderr
    _clean(proc.stderr)
    assert "pwned\\x07" in proc.stderr


def test_shown_lines_keeps_its_own_new_lines_only() -> None:
    assert shown_lines("plan:\n  step \x1b[2J one\n") == "plan:\n  step \\x1b[2J one\n"


def test_the_plan_summary_shows_a_hostile_preview_name_escaped(tmp_path: Path) -> None:
    preview = tmp_path / f"preview-{HOSTILE}.json"
    preview.write_text('{"steps": []}')
    proc = _cli("plan", "--file", str(preview), "--format", "json",
                "--output-dir", str(tmp_path / "out"))
    assert proc.returncode == 0, proc.stderr
    _clean(proc.stderr)
    assert "0 steps in" in proc.stderr and "pwned\\x07" in proc.stderr


def test_a_logged_traceback_cannot_start_a_line_nor_write_escapes() -> None:
    import logging

    from auditor.terminal import EscapingFormatter

    try:
        raise ValueError(f"bad key {HOSTILE}")
    except ValueError:
        import sys as _sys

        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "drill failed", None,
                                   _sys.exc_info())
    text = EscapingFormatter("dr-audit: %(message)s").format(record)
    assert text.startswith("dr-audit: drill failed\n  Traceback")
    _clean(text)
    assert all(line.startswith("  ") for line in text.splitlines()[1:])
    assert "ValueError: bad key x\\x1b]0;pwned" in text


def test_debug_logging_never_writes_aws_credentials(aws: Any, tmp_path: Path) -> None:
    """`-vv` is the product's debug: the SDK's wire lines, which hold
    the caller's session token in every request and the secret key of every role it assumes,
    stay out of it, and a credential in any other line is written as [secret]."""
    token = "SESSIONTOKENVALUE-caller-xyz"
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "AKIAIOSFODNN7EXAMPLE",
           "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
           "AWS_SESSION_TOKEN": token, "AWS_DEFAULT_REGION": "us-east-1"}
    done = subprocess.run(
        [sys.executable, "-m", "auditor", "-vv", "scan", "--endpoint-url", aws.url,
         "--regions", "us-east-1", "--role-arn", "arn:aws:iam::123456789012:role/audit",
         "--output-dir", str(tmp_path / "out"), "--format", "json"],
        capture_output=True, text=True, check=False, env=env)
    assert done.returncode in (0, 1, 3), done.stderr[-2000:]
    assert "INFO auditor" in done.stderr  # more logging: on
    for secret in (token, "wJalrXUtnFEMI", "SecretAccessKey>", "AKIAIOSFODNN7EXAMPLE"):
        assert secret not in done.stderr, secret


def test_credentials_in_a_log_line_are_written_as_secret() -> None:
    from auditor.terminal import without_credentials

    for line, secret in (
            ("<SecretAccessKey>7Bwll4sE7JP76pFgfG3YkV8CweYfFWBZ</SecretAccessKey>", "7Bwll4"),
            ("{'X-Amz-Security-Token': b'FQoGZXIvYXdz-token'}", "FQoGZX"),
            ("Credential=AKIAIOSFODNN7EXAMPLE/20261206/us-east-1/s3/aws4_request, "
             "Signature=0123abcd", "AKIAIOSFODNN7"),
            ('{"SecretAccessKey": "abc/def+ghi", "SessionToken": "tok=="}', "abc/def"),
            ("aws_secret_access_key = XYZsecret", "XYZsecret"),
            ("x-amz-security-token:FQoGZXIvYXdz-canonical", "FQoGZX")):
        assert secret not in without_credentials(line), line
        assert "[secret]" in without_credentials(line)
    assert without_credentials("bucket=backups, tag Key=dr:tier") == \
        "bucket=backups, tag Key=dr:tier"


def test_verbose_is_taken_after_the_command_too(tmp_path: Path) -> None:
    """CI wrappers append options after the command: `dr-audit state -v ...` is not a usage
    error."""
    done = _cli("state", "-v", "--file", str(tmp_path / "missing.json"))
    assert done.returncode == 2 and "unrecognized arguments" not in done.stderr
    assert "stack export not found" in done.stderr
