"""`dr-audit logs SOURCE...`: the CloudTrail events that broke a DR control."""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import sys
from collections.abc import Callable
from typing import Any

from drguard import __version__
from drguard.errors import ConfigError
from drguard.settings import Settings

from ..logs import detect
from ..logs.pipeline import WORKERS, collect
from ..logs.window import Window
from .common import add_output_options, check_baseline, load_settings
from .summary import finish, write

HELP = ("Find the CloudTrail events that broke a DR control (who, when, from where) in trail "
        "buckets (s3://bucket[/prefix]) or local .json.gz/.json files and folders.")

EXIT_INCOMPLETE = 3


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("sources", nargs="*", metavar="SOURCE",
                   help="s3://bucket[/prefix] of a trail bucket (account or organization "
                        "layout), or a local file or folder")
    p.add_argument("--since", help="first day (YYYY-MM-DD, inclusive) or time (ISO 8601)")
    p.add_argument("--until", help="last day (YYYY-MM-DD, inclusive) or time (ISO 8601, "
                                   "exclusive)")
    p.add_argument("--delivery-slack", type=float, metavar="HOURS", default=None,
                   help="read files (and Athena partitions) delivered up to HOURS after --until "
                        "(default 12: CloudTrail delivers some files hours late; by the time "
                        "in the file name, the same files on both paths); records are then "
                        "kept or dropped by their own eventTime")
    p.add_argument("--endpoint-url", help="AWS-compatible S3 endpoint (e.g. the emulator)")
    p.add_argument("--workers", type=int, default=WORKERS,
                   help=f"files fetched and parsed in parallel (default {WORKERS})")
    athena = p.add_argument_group(
        "Athena", "query a CloudTrail table instead of reading files (for trail buckets too "
        "large to stream; docs/scale.md has the table DDL)")
    athena.add_argument("--athena", action="store_true",
                        help="read the events through Athena instead of SOURCE files; without "
                             "--since, the last 24 hours (what the nightly job reads), so the "
                             "query never scans every partition of the table; the partitions "
                             "it reads (days x accounts x regions) are printed before it starts")
    athena.add_argument("--accounts", metavar="ID,...",
                        help="Athena: only these accounts' partitions (comma-separated)")
    athena.add_argument("--regions", metavar="REGION,...",
                        help="Athena: only these regions' partitions (comma-separated)")
    athena.add_argument("--database", help="Athena database of the CloudTrail table")
    athena.add_argument("--table", help="the CloudTrail table (partition projection on "
                                        "account, region and timestamp)")
    athena.add_argument("--workgroup", default="primary", help="Athena workgroup (default "
                                                               "primary)")
    athena.add_argument("--athena-output", metavar="S3-URI",
                        help="s3:// location for the query results (default: the "
                             "workgroup's)")
    athena.add_argument("--profile", help="AWS profile for Athena (default: the standard "
                                          "boto3 chain)")
    add_output_options(p)


def _list(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").split(",") if v.strip()]


def _check_athena(args: argparse.Namespace) -> None:
    if not args.athena:
        if not args.sources:
            raise ConfigError("give at least one SOURCE, or --athena with --database and "
                              "--table")
        if args.database or args.table or args.athena_output or args.accounts or args.regions:
            raise ConfigError("--database/--table/--athena-output/--accounts/--regions need "
                              "--athena (a SOURCE prefix narrows files to an account or region)")
        return
    if args.sources:
        raise ConfigError("--athena reads the CloudTrail table, not SOURCE files: give one "
                          "or the other")
    if not (args.database and args.table):
        raise ConfigError("--athena needs --database and --table")
    if args.athena_output and not args.athena_output.startswith("s3://"):
        raise ConfigError(f"--athena-output {args.athena_output!r}: expected s3://bucket/prefix")


def _collect_athena(args: argparse.Namespace, window: Window,
                    settings: Settings) -> tuple[list[Any], dict[str, Any]]:
    from ..aws import AwsOptions, base_session
    from ..logs import athena

    options = athena.AthenaOptions(database=args.database, table=args.table,
                                   workgroup=args.workgroup, output=args.athena_output,
                                   accounts=_list(args.accounts), regions=_list(args.regions))
    # before the query starts: Athena bills the bytes of every partition it reads
    reads = athena.partitions(window, options.accounts, options.regions)
    print(f"dr-audit logs: the Athena query reads the partitions of {reads}", file=sys.stderr)
    session = base_session(AwsOptions(profile=args.profile, endpoint_url=args.endpoint_url))
    hits, meta = athena.collect(options, window, settings, session,
                                endpoint_url=args.endpoint_url)
    meta["athena"]["partitions"] = reads
    return hits, meta


def _progress() -> Callable[[int], None] | None:
    if not sys.stderr.isatty():
        return None

    def show(files: int) -> None:
        if files % 50 == 0:
            print(f"\rdr-audit logs: {files} files read", end="", file=sys.stderr, flush=True)
    return show


def run(args: argparse.Namespace) -> int:
    _check_athena(args)
    settings = load_settings(args)
    check_baseline(args)
    window = Window.parse(args.since, args.until, args.delivery_slack)
    if args.athena and window.since is None:  # bounded by default: Athena bills bytes read
        now = dt.datetime.now(dt.UTC)
        window = dataclasses.replace(window, since=(window.until or now) - dt.timedelta(days=1))
    started = dt.datetime.now(dt.UTC)
    if args.athena:
        hits, meta = _collect_athena(args, window, settings)
    else:
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
