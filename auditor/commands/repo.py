"""`dr-audit repo`: the infrastructure repository and its stacks' update history, offline."""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path

from drguard.errors import ConfigError

from ..repo import RepoOptions, audit, history, parse_history_arg
from .common import add_output_options, check_baseline, load_settings
from .summary import finish, write

HELP = ("Check an infrastructure repository, offline: no plaintext secret in Pulumi stack "
        "config, GitHub Actions reaching AWS by OIDC, and (with --history) every stack update "
        "run in CI from a clean checkout of the default branch; write the reports.")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("path", type=Path, metavar="PATH", help="the repository's root directory")
    add_output_options(p)
    # In `repo`, --history is the stacks' update history (`pulumi stack history --json`), not
    # the report-trend folder the other commands take: this definition replaces that one if
    # there is one.
    g = p.add_argument_group("stack history", conflict_handler="resolve")
    g.add_argument("--history", action="append", default=[], dest="stack_history",
                   metavar="[STACK=]FILE",
                   help="output of `pulumi stack history --json` (repeat for each stack); "
                        "STACK names the stack in findings (default: the file's stem)")
    p.add_argument("--since", help="with --history: judge updates that started on or after "
                                   "this day (YYYY-MM-DD) or time (ISO 8601)")
    p.add_argument("--default-branch", help="the branch deploys must come from (default: the "
                                            "defaultBranch parameter, main)")
    p.add_argument("--exclude", action="append", default=[], metavar="GLOB",
                   help="repository paths not to read (glob on the relative path, e.g. "
                        "'tests/*'); repeatable")


def options_from(args: argparse.Namespace) -> RepoOptions:
    """Validated options; ConfigError (exit 2) before anything is read."""
    root: Path = args.path
    if not root.is_dir():
        raise ConfigError(f"{root}: not a directory (give the repository's root)")
    if args.since and not args.stack_history:
        raise ConfigError("--since applies to --history; give --history too")
    try:
        since = history.parse_since(args.since)
    except ValueError as e:
        raise ConfigError(str(e)) from None
    hist = [parse_history_arg(v) for v in args.stack_history]
    for h in hist:
        if not h.path.is_file():
            raise ConfigError(f"{h.path}: history file not found (the output of "
                              "`pulumi stack history --json`)")
    if args.default_branch is not None and not args.default_branch.strip():
        raise ConfigError("--default-branch must not be empty")
    return RepoOptions(root=root, histories=hist, since=since,
                       default_branch=args.default_branch,
                       exclude=tuple(g.strip().rstrip("/") for g in args.exclude if g.strip()))


def run(args: argparse.Namespace) -> int:
    settings = load_settings(args)
    check_baseline(args)
    options = options_from(args)
    started = dt.datetime.now(dt.UTC)
    findings, meta = audit(options, settings, started)
    meta["fail_on"] = args.fail_on
    meta["sarif_artifact"] = args.sarif_artifact
    paths = write(findings, meta, args)
    print(f"dr-audit: {meta['stackFiles']} stack file(s), {meta['projectFiles']} project "
          f"file(s), {meta['workflows']} workflow(s), "
          f"{sum(h.get('judged', 0) for h in meta.get('history', []))} stack update(s) read "
          f"from {options.root}", file=sys.stderr)
    return finish(findings, meta, paths)  # closing summary; the reports' exit code
