"""`dr-audit state`: the deploy-side controls on a `pulumi stack export`, offline."""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path

from drguard.findings import exit_code

from .. import state
from .common import add_output_options, check_baseline, load_settings

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
    from ..reports import write_reports

    settings = load_settings(args)
    check_baseline(args)
    started = dt.datetime.now(dt.UTC)
    export = state.load(args.file) if args.file is not None else state.export_stack(args.stack)
    findings = state.evaluate(export, settings)
    meta = state.run_meta(export, findings, started, args.fail_on)
    meta["sarif_artifact"] = args.sarif_artifact
    paths = write_reports(findings, meta, args.output_dir, args.format, args.baseline)
    counts: dict[str, int] = {}
    for f in findings:
        counts[f.status] = counts.get(f.status, 0) + 1
    print(f"dr-audit: {meta['resources']} resources in {export.path}: {len(findings)} findings "
          f"({', '.join(f'{n} {k}' for k, n in sorted(counts.items())) or 'none'})",
          file=sys.stderr)
    if "html" in paths:
        print(f"HTML report: {paths['html']}")
    return exit_code(findings, args.fail_on)
