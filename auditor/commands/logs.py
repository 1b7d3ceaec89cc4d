"""`dr-audit logs SOURCE...`: the CloudTrail events that broke a DR control."""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from collections.abc import Callable

from drguard import __version__

from ..logs import detect
from ..logs.pipeline import WORKERS, collect
from ..logs.window import Window
from .common import add_output_options, check_baseline, load_settings
from .summary import finish, write

HELP = ("Find the CloudTrail events that broke a DR control (who, when, from where) in trail "
        "buckets (s3://bucket[/prefix]) or local .json.gz/.json files and folders.")

EXIT_INCOMPLETE = 3


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("sources", nargs="+", metavar="SOURCE",
                   help="s3://bucket[/prefix] of a trail bucket (account or organization "
                        "layout), or a local file or folder")
    p.add_argument("--since", help="first day (YYYY-MM-DD, inclusive) or time (ISO 8601)")
    p.add_argument("--until", help="last day (YYYY-MM-DD, inclusive) or time (ISO 8601, "
                                   "exclusive)")
    p.add_argument("--endpoint-url", help="AWS-compatible S3 endpoint (e.g. the emulator)")
    p.add_argument("--workers", type=int, default=WORKERS,
                   help=f"files fetched and parsed in parallel (default {WORKERS})")
    add_output_options(p)


def _progress() -> Callable[[int], None] | None:
    if not sys.stderr.isatty():
        return None

    def show(files: int) -> None:
        if files % 50 == 0:
            print(f"\rdr-audit logs: {files} files read", end="", file=sys.stderr, flush=True)
    return show


def run(args: argparse.Namespace) -> int:
    settings = load_settings(args)
    check_baseline(args)
    window = Window.parse(args.since, args.until)
    started = dt.datetime.now(dt.UTC)
    hits, meta = collect(args.sources, window, settings, endpoint_url=args.endpoint_url,
                         workers=max(1, args.workers), progress=_progress())
    if sys.stderr.isatty():
        print(file=sys.stderr)
    findings = detect.findings(hits, settings)
    meta.update(tool_version=__version__, started=started.isoformat(),
                finished=dt.datetime.now(dt.UTC).isoformat(),
                fail_on=args.fail_on, endpoint_url=args.endpoint_url)
    meta["sarif_artifact"] = args.sarif_artifact
    paths = write(findings, meta, args)  # reports, with --history / --account-names
    # closing summary and report paths, as scan and state; the exit code is the reports'
    # (gaps, errors, anything not read or no log file at all: incomplete, 3)
    return finish(findings, meta, paths)
