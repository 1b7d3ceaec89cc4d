"""`dr-audit plan`: a `pulumi preview --json` document judged before merge."""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path

from drguard.findings import exit_code

from .. import plan
from ..terminal import shown
from .common import add_output_options, check_baseline, load_settings
from .summary import print_paths, write

HELP = ("Check the output of `pulumi preview --json` before merge: every step that deletes or "
        "replaces a stateful resource (plan-destroys-data), and the deploy-side DR controls "
        "on the planned state, with regressions an update would bring.")

EXIT_INCOMPLETE = 3


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--file", type=Path, required=True, metavar="PREVIEW.json",
                   help="the output of `pulumi preview --json` (add --show-sames so "
                        "stack-level checks see the unchanged resources too)")
    p.add_argument("--check-backups", action="store_true",
                   help="look up, read-only, the newest backup of each resource the plan "
                        "deletes or replaces (standard AWS credentials; implied by "
                        "--endpoint-url or --profile)")
    p.add_argument("--endpoint-url", help="AWS-compatible endpoint for --check-backups")
    p.add_argument("--profile", help="AWS profile for --check-backups")
    p.add_argument("--region", help="region of resources whose provider names none "
                                    "(default: the provider's, else us-east-1)")
    add_output_options(p)


def run(args: argparse.Namespace) -> int:
    settings = load_settings(args)
    check_baseline(args)
    started = dt.datetime.now(dt.UTC)
    preview = plan.load(args.file)
    findings = plan.judge(preview, settings)
    meta = plan.run_meta(preview, findings, started, args.fail_on)
    if args.check_backups or args.endpoint_url or args.profile:
        from ..plan.backups import annotate

        meta["backups"] = annotate(findings, endpoint_url=args.endpoint_url,
                                   profile=args.profile, region=args.region)
    meta["sarif_artifact"] = args.sarif_artifact
    paths = write(findings, meta, args)  # reports, with --history / --account-names
    counts: dict[str, int] = {}
    for f in findings:
        counts[f.status] = counts.get(f.status, 0) + 1
    print(shown(f"dr-audit: {len(preview.steps)} steps in {preview.path}: {len(findings)} "
                f"findings ({', '.join(f'{n} {k}' for k, n in sorted(counts.items())) or 'none'})"),
          file=sys.stderr)
    print_paths(paths)
    code = exit_code(findings, args.fail_on)
    if code == 0 and plan.incomplete(preview):
        return EXIT_INCOMPLETE
    return code
