"""Compiled report templates are kept between runs in the user's cache folder, and the cache can
never change or break a report: a damaged entry is compiled again, an unusable folder is not
used, and escaped (HTML) and unescaped (Markdown) compilations never share an entry."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from auditor import usercache
from auditor.reports import templates, write_reports
from drguard.findings import Finding

A = "111111111111"


def _findings() -> list[Finding]:
    return [Finding("rds-backup-retention", "fail", "live", f"arn:aws:rds:us-east-1:{A}:db:o",
                    "Backups kept 1 day <b>.", A, "us-east-1",
                    remediation={"summary": "Keep 7 days.", "pulumi": "x", "cli": None},
                    evidence={"effectiveDays": 1, "minRetentionDays": 7})]


@pytest.fixture()
def fresh(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """A cache home of this test's own, and environments built again from it."""
    home = tmp_path / "cache-home"
    monkeypatch.setenv("XDG_CACHE_HOME", str(home))
    templates.environment.cache_clear()
    templates.text_environment.cache_clear()
    yield home
    templates.environment.cache_clear()
    templates.text_environment.cache_clear()


def _write(out: Path) -> dict[str, bytes]:
    run = {"command": "scan", "fail_on": "high", "accounts": [A], "regions": ["us-east-1"],
           "started": "2026-12-01T00:00:00+00:00", "finished": "2026-12-01T00:00:01+00:00"}
    paths = write_reports(_findings(), run, out, ["html", "md"])
    return {fmt: p.read_bytes() for fmt, p in paths.items()}


def _entries(home: Path) -> dict[str, list[Path]]:
    root = home / "dr-guard"
    return {d.name.split("-")[1]: sorted(d.iterdir()) for d in root.iterdir()}


def _new_process() -> None:
    templates.environment.cache_clear()
    templates.text_environment.cache_clear()


def test_second_run_reads_compiled_templates_and_writes_the_same(
        fresh: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = _write(tmp_path / "a")
    entries = _entries(fresh)
    assert entries["html"] and entries["text"]  # one folder per escaping mode
    assert (os.stat(entries["html"][0].parent).st_mode & 0o077) == 0
    _new_process()
    compiled: list[str] = []
    real: Any = templates.jinja2.Environment.compile

    def counting(self: Any, source: str, *args: Any, **kwargs: Any) -> Any:
        compiled.append(str(args[0] if args else kwargs.get("name")))
        return real(self, source, *args, **kwargs)

    monkeypatch.setattr(templates.jinja2.Environment, "compile", counting)
    assert _write(tmp_path / "b") == first
    assert compiled == []  # every template came from the cache


def test_escaped_and_unescaped_compilations_are_kept_apart(fresh: Path) -> None:
    # jinja2 keys an entry by template name only, while escaping changes the compiled code
    templates.environment().get_template("_macros.html.j2")
    templates.text_environment().get_template("_macros.html.j2")
    entries = _entries(fresh)
    same_key = {p.name for p in entries["html"]} & {p.name for p in entries["text"]}
    assert len(same_key) == 1
    key = same_key.pop()
    html, text = (next(p for p in entries[k] if p.name == key).read_bytes()
                  for k in ("html", "text"))
    assert html != text


def test_damaged_entries_are_compiled_again(fresh: Path, tmp_path: Path) -> None:
    first = _write(tmp_path / "a")
    for paths in _entries(fresh).values():
        for i, p in enumerate(paths):
            data = p.read_bytes()
            # cut short, garbage after a valid header, or nothing at all
            p.write_bytes(data[: len(data) // 2] if i % 3 == 0 else
                          data[:40] + b"\xff" * 50 if i % 3 == 1 else b"")
    _new_process()
    assert _write(tmp_path / "b") == first


def test_a_folder_others_can_write_is_not_used(fresh: Path, tmp_path: Path) -> None:
    _write(tmp_path / "a")
    for d in (fresh / "dr-guard").iterdir():
        d.chmod(0o777)
        for p in d.iterdir():
            p.write_bytes(b"planted")  # what another user could have left there
    _new_process()
    assert templates.environment().bytecode_cache is None
    assert b"Backups kept 1 day &lt;b&gt;." in _write(tmp_path / "b")["html"]


def test_no_cache_folder_still_writes_reports(fresh: Path, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))
    _new_process()
    out = _write(tmp_path / "a")
    assert templates.environment().bytecode_cache is None
    assert b"Backups kept 1 day" in out["md"] and b"&lt;b&gt;" in out["html"]


@pytest.mark.parametrize("mode, used", [(0o775, False), (0o777, False), (0o1777, True),
                                        (0o755, True)])
def test_a_folder_above_that_others_can_write_disables_the_cache(
        fresh: Path, tmp_path: Path, mode: int, used: bool) -> None:
    # another user able to write a parent could swap the private folder for one of theirs;
    # the sticky bit (as on /tmp) keeps each entry to its owner
    _write(tmp_path / "a")
    planted = fresh / "dr-guard"
    os.chmod(fresh, mode)
    try:
        _new_process()
        assert (templates.environment().bytecode_cache is not None) is used
        assert usercache.private_folder("x") is None if not used else planted.is_dir()
        assert b"Backups kept 1 day &lt;b&gt;." in _write(tmp_path / "b")["html"]
    finally:
        os.chmod(fresh, 0o755)


def test_a_folder_reached_through_a_link_is_judged_where_it_really_is(
        fresh: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "inner").mkdir()
    os.chmod(shared, 0o777)  # writable by all, no sticky bit
    link = tmp_path / "link"
    link.symlink_to(shared / "inner")
    monkeypatch.setenv("XDG_CACHE_HOME", str(link))
    _new_process()
    assert usercache.private_folder("x") is None
    assert templates.environment().bytecode_cache is None

