"""What a new user meets at the command line: usage errors that say what is wrong and what to
do, on one line of their own."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from auditor.cli import main

EMPTY_EXPORT = {"version": 3, "deployment": {"manifest": {}, "resources": []}}


def _export(tmp_path: Path) -> Path:
    path = tmp_path / "export.json"
    path.write_text(json.dumps(EMPTY_EXPORT))
    return path


@pytest.mark.parametrize("command, value", [
    (["state", "--file", "X"], ""), (["state", "--file", "X"], " , "),
    (["drill", "s3", "--bucket", "b"], ""),
])
def test_an_empty_format_list_is_a_usage_error_saying_what_to_do(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], command: list[str],
        value: str) -> None:
    args = [str(_export(tmp_path)) if a == "X" else a for a in command]
    with pytest.raises(SystemExit) as e:
        main([*args, "--format", value, "--output-dir", str(tmp_path / "out")])
    assert e.value.code == 2
    err = capsys.readouterr().err
    error = [line for line in err.splitlines() if "error:" in line]
    assert len(error) == 1, err
    assert "argument --format: no format given" in error[0], err
    assert "unknown" not in error[0] and "(none)" not in error[0]
    # what to do: the formats to choose from, and that leaving it out gives the default
    assert "json" in error[0] and "leave --format out" in error[0], err
    assert not (tmp_path / "out").exists()


def test_format_and_fail_on_take_any_case(tmp_path: Path) -> None:
    """`--format MD,Markdown,SARIF` and `--fail-on CRITICAL` are what a user means."""
    code = main(["state", "--file", str(_export(tmp_path)), "--format", "MD,Markdown,SARIF",
                 "--fail-on", "CRITICAL", "--output-dir", str(tmp_path / "out")])
    assert code in (0, 1)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["report.md",
                                                                    "report.sarif"]


def test_reports_an_earlier_run_left_in_the_folder_are_named(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A CI step uploading the folder would publish them as this run's."""
    out = tmp_path / "out"
    main(["state", "--file", str(_export(tmp_path)), "--output-dir", str(out)])
    capsys.readouterr()
    main(["state", "--file", str(_export(tmp_path)), "--output-dir", str(out),
          "--format", "md"])
    err = capsys.readouterr().err
    assert f"note: report.json, report.html, report.sarif, report.junit.xml in {out} are " \
           "from an earlier run (not written by this one)" in err, err


def test_a_file_with_two_byte_order_marks_is_named_with_what_to_do(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bom = b"\xef\xbb\xbf"
    export = tmp_path / "bom-export.json"
    export.write_bytes(bom + bom + json.dumps(EMPTY_EXPORT).encode())
    config = tmp_path / "dr.yaml"
    config.write_bytes(bom + bom + b"controls: {}\n")
    for args, named in ((["--file", str(export)], export),
                        (["--file", str(_export(tmp_path)), "--config", str(config)], config)):
        code = main(["state", *args, "--output-dir", str(tmp_path / "out")])
        err = capsys.readouterr().err
        assert code == 2, err
        assert err.count("\n") == 1 and err.startswith(f"dr-audit: error: {named}: "), err
        assert "two byte-order marks" in err and "save it as UTF-8" in err, err


# ---- which stream: the report paths on stdout (what a script reads), the rest on stderr ------

LABELS = {"json": "JSON", "html": "HTML", "md": "Markdown", "sarif": "SARIF", "junit": "JUnit",
          "ocsf": "OCSF", "asff": "ASFF"}
NAMES = {"json": "report.json", "html": "report.html", "md": "report.md",
         "sarif": "report.sarif", "junit": "report.junit.xml", "ocsf": "report.ocsf.json",
         "asff": "report.asff.json"}


def _streams(capsys: pytest.CaptureFixture[str], args: list[str]) -> tuple[int, str, str]:
    code = main(args)
    got = capsys.readouterr()
    return code, got.out, got.err


@pytest.mark.parametrize("formats", ["json", "json,html,md,sarif,junit,ocsf,asff"])
@pytest.mark.parametrize("command", ["state", "plan", "repo"])
def test_report_paths_go_to_stdout_and_the_summary_to_stderr(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str,
        formats: str) -> None:
    out = tmp_path / "out"
    source = {"state": ["--file", str(_export(tmp_path))],
              "plan": ["--file", str(tmp_path / "preview.json")],
              "repo": [str(tmp_path / "infra")]}[command]
    (tmp_path / "preview.json").write_text('{"steps": []}')
    (tmp_path / "infra").mkdir()
    (tmp_path / "infra" / "Pulumi.yaml").write_text("name: x\nruntime: python\n")
    code, stdout, stderr = _streams(capsys, [command, *source, "--output-dir", str(out),
                                             "--format", formats])
    assert code == 0, stderr
    wanted = formats.split(",")
    # stdout: one line per report written, `<FORMAT> report: <path>`, and nothing else
    assert stdout.splitlines() == [f"{LABELS[f]} report: {out / NAMES[f]}" for f in wanted]
    assert all((out / NAMES[f]).is_file() for f in wanted)
    # stderr: the closing summary (human words), never a report path
    assert stderr.strip(), stderr
    assert " report: " not in stderr and str(out) not in stderr, stderr


def test_a_stale_waiver_is_one_warning_line_on_stderr_not_stdout(tmp_path: Path) -> None:
    """In a real process (pytest captures logging in its own): the warning is one stderr line
    naming the waiver; stdout still holds only the report paths."""
    import json
    import os
    import subprocess
    import sys

    from tests.test_state_fast_path import _export

    export = tmp_path / "export.json"
    export.write_text(json.dumps(_export()))  # the bucket "backups": versioning not enabled
    cfg = tmp_path / "dr.yaml"
    cfg.write_text("waivers:\n" + "".join(
        f"  - {{control: backup-bucket-versioning, resource: '{glob}', reason: r, owner: o, "
        "expires: 2999-01-01}\n" for glob in ("backups", "*weekly-*")))
    out = tmp_path / "out"
    done = subprocess.run(
        [sys.executable, "-m", "auditor", "state", "--file", str(export), "--config", str(cfg),
         "--output-dir", str(out), "--format", "json"], capture_output=True, text=True,
        check=False, env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
        cwd=Path(__file__).parent.parent)
    assert done.returncode in (0, 1), done.stderr
    assert done.stdout == f"JSON report: {out / 'report.json'}\n"
    report = json.loads((out / "report.json").read_text())
    assert [f["status"] for f in report["findings"]
            if f["control"] == "backup-bucket-versioning"] == ["waived"]
    warned = [line for line in done.stderr.splitlines() if "waived no finding" in line]
    assert warned == [
        f"dr-audit: WARNING drguard.waivers: {cfg}: waivers: waiver #2 (control "
        "backup-bucket-versioning, resource '*weekly-*', owner o, expires 2999-01-01) waived "
        "no finding in this run: if the gap it covered is gone, remove it"], done.stderr
