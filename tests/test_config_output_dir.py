"""--output-dir is checked first, for every command: before any AWS call or file read, a
directory that cannot be created or written is a usage error (exit 2, one line)."""

from __future__ import annotations

from pathlib import Path

import pytest

from auditor.cli import main
from auditor.commands import COMMANDS

MISSING = "/nonexistent-dr-guard-input"  # read after the check, so never reached

# Arguments that would make each command read a file or call AWS if it got that far.
COMMAND_ARGS = {
    "scan": ["--endpoint-url", "http://127.0.0.1:9", "--regions", "us-east-1"],
    "logs": [MISSING],
    "state": ["--file", MISSING],
    "plan": ["--file", MISSING],
    "repo": [MISSING],
    "merge": [MISSING + ".json"],
    "demo": [],
    "drill": ["rds", "--db", "db-1", "--endpoint-url", "http://127.0.0.1:9"],
}
PRINTS_ONLY = {"iam-policy"}  # writes to stdout, no --output-dir


def _bad_dirs(tmp_path: Path) -> dict[str, Path]:
    f = tmp_path / "a-file"
    f.write_text("x")
    return {"a file": f, "a path under a file": f / "sub" / "dir",
            "under /proc": Path("/proc/dr-guard-x")}


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_unusable_output_dir_is_exit_2_before_anything_is_read(command, tmp_path, capsys) -> None:  # noqa: ANN001
    if command in PRINTS_ONLY:
        from auditor.cli import build_parser

        with pytest.raises(SystemExit):  # argparse refuses the option it does not have
            build_parser().parse_args([command, "--output-dir", "x"])
        return
    args = COMMAND_ARGS.get(command)
    if args is None:
        pytest.fail(f"new command {command!r}: add its arguments to COMMAND_ARGS")
    for what, bad in _bad_dirs(tmp_path).items():
        try:
            code = main([command, *args, "--output-dir", str(bad)])
        except SystemExit as e:  # argparse: the command's arguments changed
            pytest.fail(f"{command}: arguments rejected ({e.code}): {capsys.readouterr().err}")
        err = capsys.readouterr().err
        assert code == 2, (command, what, err)
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"dr-audit: error: --output-dir {bad}"), \
            (command, what, err)
        assert MISSING not in err


def test_a_good_output_dir_leaves_no_trace_when_the_run_stops_early(tmp_path, capsys) -> None:  # noqa: ANN001
    out = tmp_path / "new" / "reports"
    assert main(["state", "--file", str(tmp_path / "missing.json"), "--output-dir", str(out)]) == 2
    assert "stack export not found" in capsys.readouterr().err
    assert not (tmp_path / "new").exists()
