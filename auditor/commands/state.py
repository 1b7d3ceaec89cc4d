"""`dr-audit state`: the deploy-side controls on a `pulumi stack export`, offline."""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import sys
from pathlib import Path

from drguard.findings import Finding
from drguard.waivers import warn_unused

from .. import state
from ..reports import STREAMED
from ..terminal import shown
from .common import add_output_options, check_baseline, load_settings
from .summary import finish, write

HELP = ("Check a Pulumi stack export (`pulumi stack export`) against the deploy-side DR "
        "controls, as `pulumi policy analyze --file` would, without cloud credentials, and "
        "write the reports.")


def add_arguments(p: argparse.ArgumentParser) -> None:
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--file", type=Path, metavar="EXPORT.json",
                        help="the output of `pulumi stack export` (deployment versions 1-3), "
                             "or a backend checkpoint file")
    source.add_argument("--stack", metavar="NAME",
                        help="export this stack with the Pulumi CLI (`pulumi stack export "
                             "--stack NAME`, run in the current directory)")
    add_output_options(p)


def run(args: argparse.Namespace) -> int:
    # The run builds a few objects per property value and finding and frees them at exit; they
    # hold no reference cycles, so the cyclic collector would only rescan them, over and over
    # as they grow (about a third of the CPU time on a large export). Reference counting
    # still frees everything as usual.
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _run(args)
    finally:
        if was_enabled:
            gc.enable()


def _run(args: argparse.Namespace) -> int:
    settings = load_settings(args)
    check_baseline(args)
    started = dt.datetime.now(dt.UTC)
    export = state.load(args.file) if args.file is not None else state.export_stack(args.stack)
    spool = None
    findings: list[Finding] = []
    if set(args.format) <= STREAMED and args.baseline is None:
        # report.json alone: each finding is encoded into it as it is made and none is kept
        # (the checks' evidence is cleaned to plain JSON by state.clean and every other field
        # of a state finding is text, so msgspec encodes them)
        from ..reports.spool import Spool

        spool = Spool(plain=True, dir=args.output_dir)
        seen = state.Seen()
        state.evaluate(export, settings, sink=spool, seen=seen)
        meta = state.run_meta(export, seen, started, args.fail_on)
    else:
        findings = state.evaluate(export, settings)
        meta = state.run_meta(export, findings, started, args.fail_on)
    meta["sarif_artifact"] = args.sarif_artifact
    source = export.path
    del export  # the decoded export is not needed by the reports: free it first (memory)
    paths = write(spool if spool is not None else findings, meta, args, plain=True)
    print(f"dr-audit: {meta['resources']} resources in {shown(str(source))}", file=sys.stderr)
    warn_unused(settings.waivers, settings.waiver_use)  # (counted as the findings were made)
    return finish(findings, meta, paths)  # closing summary; the reports' exit code
