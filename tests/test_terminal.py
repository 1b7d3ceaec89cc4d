"""What reaches the terminal or a CI log names things an attacker may have written (file
names, stack names, values in an export): their control characters are shown as escapes, so
no terminal escape runs and no new line starts a CI workflow command."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

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
