"""What scan, state, logs (and merge) share at the end of a run: the report options
(`--history`, `--account-names`), writing the reports, the closing summary and the exit code.

The exit code comes from the same summary the reports carry (auditor.reports.outcome), so
`summary.exit_code` in report.json and the process exit code always agree.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from drguard import inputs
from drguard.errors import ConfigError
from drguard.findings import Finding

from ..history_store import HistoryStore, history_arg, open_store
from ..reports._common import SEVERITIES_DESC, headline, incomplete_text, plural
from ..reports.words import critical_gaps, status_counts
from ..terminal import shown

if TYPE_CHECKING:
    from ..reports.spool import Spool


def add_report_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--history", type=history_arg, metavar="DIR|s3://BUCKET/PREFIX",
                   help="folder (or S3 prefix: CI runners keep nothing) keeping a small "
                        "summary of each run; the HTML report shows the trend of gaps over the "
                        "last runs; `scan` reads the drills `dr-audit drill --history` kept "
                        "there as restore evidence. S3: one new object per run, the only write "
                        "besides reports")
    p.add_argument("--account-names", type=Path, metavar="FILE",
                   help="YAML or JSON map of account id to name, shown beside account ids "
                        "(Organizations names are used when the scan lists them)")


def load_account_names(path: Path | None) -> dict[str, str]:
    """{account id: name} from a YAML/JSON file; ConfigError naming the file when bad."""
    if path is None:
        return {}
    # YAML reads JSON too; account ids written as numbers or dates-looking keys are text here
    doc = inputs.load(path, "account names file", "yaml",
                      inputs.Limits(max_bytes=16 << 20, max_depth=4))
    if doc is None:
        return {}
    if isinstance(doc, dict) and isinstance(doc.get("accounts"), dict):
        doc = doc["accounts"]
    if not isinstance(doc, dict) or not all(
            isinstance(v, str) or isinstance(v, int) and not isinstance(v, bool)
            for v in doc.values()):
        raise ConfigError(f"{path}: expected a map of account id to name, e.g. "
                          f"{json.dumps({'123456789012': 'prod'})}")
    return {str(k).zfill(12) if str(k).isdigit() else str(k): str(v) for k, v in doc.items()}


def check_report_options(args: argparse.Namespace) -> None:
    """Usage errors of --history / --account-names, found before any work."""
    history = getattr(args, "history", None)
    if isinstance(history, Path) and history.exists() and not history.is_dir():
        raise ConfigError(f"--history {history}: not a folder")
    load_account_names(getattr(args, "account_names", None))
    check_history_key(args)


def add_history_key(p: argparse.ArgumentParser) -> None:
    """--history-key, for the commands that write or read drill history (drill, scan)."""
    p.add_argument("--history-key", metavar="env:NAME",
                   help="with --history: sign drill history entries with the key in "
                        "environment variable NAME (HMAC-SHA256), and take as evidence only "
                        "entries it signed: "
                        "whoever can write the history store cannot forge a drill. Keep the "
                        "key where the drills and scans run, not in the accounts they judge")


def check_history_key(args: argparse.Namespace) -> None:
    """--history-key names a usable key, and a --history to sign or read."""
    from .. import history_key

    key = getattr(args, "history_key", None)
    history_key.from_arg(key)
    if key is not None and getattr(args, "history", None) is None:
        raise ConfigError("--history-key: give --history too (the store whose drill entries "
                          "it signs and checks)")


def history_store(args: argparse.Namespace) -> HistoryStore | None:
    """The --history store of a command (an S3 store uses the command's profile/endpoint)."""
    history = getattr(args, "history", None)
    if history is None:
        return None
    from ..aws import AwsOptions  # boto3 is not imported by commands that never reach AWS

    return open_store(history, AwsOptions(profile=getattr(args, "profile", None),
                                          endpoint_url=getattr(args, "endpoint_url", None),
                                          region=getattr(args, "region", None)))


def write(findings: list[Finding] | Spool, run: dict[str, Any], args: argparse.Namespace,
          baseline: Path | None = None, plain: bool = False) -> dict[str, Path]:
    """write_reports with the output, baseline, history and account-name options of `args`
    (`plain`, a Spool: see write_reports)."""
    from ..reports import write_reports

    return write_reports(findings, run, args.output_dir, args.format,
                         baseline if baseline is not None else getattr(args, "baseline", None),
                         history=history_store(args),
                         account_names=load_account_names(getattr(args, "account_names", None)),
                         plain=plain)


CRITICAL_LINES = 10  # critical gaps named on the terminal; the reports list every one
EXIT_INCOMPLETE = 3


def closing_lines(summary: dict[str, Any], run: dict[str, Any],
                  findings: list[Finding] | None = None,
                  critical: Sequence[str] | None = None) -> list[str]:
    """The summary a command prints when it ends (stderr): the verdict, the gaps by severity,
    every status by its name, the critical gaps by name, completeness and the exit code."""
    name = f"dr-audit {run.get('command') or ''}".rstrip()
    lines = [f"{name}: {headline(summary)}"]
    by_sev = summary.get("by_severity") or {}
    if summary.get("gaps"):
        lines.append(f"{name}: gaps by severity: " + ", ".join(
            f"{by_sev.get(s, {}).get('fail', 0)} {s}" for s in SEVERITIES_DESC))
    counts = status_counts(summary["by_status"])
    accounts, regions = run.get("accounts"), run.get("regions")
    if isinstance(accounts, list) and accounts:
        counts += f" in {plural(len(accounts), 'account')}"
        if isinstance(regions, list) and regions:
            counts += f" x {plural(len(regions), 'region')}"
    lines.append(f"{name}: {counts}")
    if critical is None:  # unless the reports named them already
        critical = critical_gaps(findings or [])
    for text in critical[:CRITICAL_LINES]:
        lines.append(f"{name}: critical: {text}")
    if len(critical) > CRITICAL_LINES:
        lines.append(f"{name}: critical: and {len(critical) - CRITICAL_LINES} more in the "
                     "reports")
    if summary.get("incomplete"):
        lines.append(f"{name}: {incomplete_text(summary)}")
    if "exit_code" in summary:
        lines.append(f"{name}: exit code {summary['exit_code']} (fail on {summary['fail_on']})")
    return lines


# How a report is named where its path is printed: `HTML report: dr-audit-report/report.html`
LABELS = {"json": "JSON", "html": "HTML", "md": "Markdown", "sarif": "SARIF", "junit": "JUnit",
          "ocsf": "OCSF", "asff": "ASFF"}


def print_paths(paths: dict[str, Path], out: TextIO | None = None) -> None:
    """One line per report written, in the order written, on stdout: the one output a script
    reads (`<FORMAT> report: <path>`); progress and the summary go to stderr."""
    out = out or sys.stdout
    for fmt, path in paths.items():
        print(f"{LABELS.get(fmt, fmt)} report: {path}", file=out)


def earlier_reports(paths: dict[str, Path]) -> list[str]:
    """The report files of the output folder this run did not write (earlier runs' formats)."""
    from ..reports import FILENAMES

    if not paths:
        return []
    folder = next(iter(paths.values())).parent
    written = {p.name for p in paths.values()}
    return [name for name in FILENAMES.values()
            if name not in written and (folder / name).is_file()]


def finish(findings: list[Finding], run: dict[str, Any], paths: dict[str, Path],
           out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Print the closing summary (stderr) and the report paths (stdout, print_paths); return
    the exit code of the reports' summary (needs run["fail_on"])."""
    from ..reports import outcome

    out = out or sys.stdout
    err = err or sys.stderr
    # report.json written in pieces counted its summary and named its critical gaps: the
    # same as outcome's (no baseline, the same --fail-on), without a second pass over the
    # findings
    summary = getattr(paths, "summary", None)
    critical = getattr(paths, "critical", None)
    if summary is None or summary.get("fail_on") != run.get("fail_on"):
        summary, critical = outcome(findings, run), None
    for line in closing_lines(summary, run, findings, critical):
        print(shown(line), file=err)  # names gaps and files: input's words
    stale = earlier_reports(paths)
    if stale:  # a CI step that uploads the folder would publish them as this run's
        print(shown(f"dr-audit: note: {', '.join(stale)} in {next(iter(paths.values())).parent}"
                    " are from an earlier run (not written by this one)"), file=err)
    print_paths(paths, out)
    code = summary.get("exit_code")
    if not isinstance(code, int) or isinstance(code, bool):
        # a summary that lost its verdict must not read as "no gaps": incomplete
        print(f"dr-audit: error: the report's summary has no exit code ({code!r}); "
              "exiting as incomplete", file=err)
        return EXIT_INCOMPLETE
    return code
