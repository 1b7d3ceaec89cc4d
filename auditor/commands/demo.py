"""`dr-audit demo`: scan a seeded organization in the embedded emulator, write every report."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from drguard.settings import from_mapping

from ..aws import AwsOptions
from ..demo_seed import seed
from ..emulator import CREDENTIALS, MotoServer
from ..scan import ScanOptions
from .common import FORMATS
from .scan import execute

HELP = ("Start the embedded AWS emulator, seed a small organization (two accounts, two "
        "regions), scan it in organization mode and write every report format.")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--output-dir", type=Path, default=Path("dr-audit-report"))


def run(args: argparse.Namespace) -> int:
    saved = {k: os.environ.get(k) for k in CREDENTIALS}
    os.environ.update(CREDENTIALS)  # the emulator's dummy credentials, for this run only
    try:
        print("dr-audit demo: starting the AWS emulator and seeding an organization...",
              file=sys.stderr)
        with MotoServer() as server:
            demo = seed(server.url)
            settings = from_mapping({"scope": {"stateBucket": demo.state_bucket}},
                                    where="demo config")
            options = ScanOptions(aws=AwsOptions(endpoint_url=server.url),
                                  regions=list(demo.regions), org=True,
                                  role_name=demo.role_name, workers=4,
                                  progress=sys.stderr.isatty())
            code, paths, result = execute(options, settings, args.output_dir, list(FORMATS))
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    counts: dict[str, int] = {}
    for f in result.findings:
        counts[f.status] = counts.get(f.status, 0) + 1
    print(f"dr-audit demo: scanned accounts {demo.management} (management) and {demo.member} "
          f"in {', '.join(demo.regions)}: " + ", ".join(f"{n} {s}" for s, n in
                                                       sorted(counts.items())),
          file=sys.stderr)
    for fmt, path in paths.items():
        if fmt != "html":
            print(f"dr-audit demo: {fmt} report: {path}", file=sys.stderr)
    print(f"HTML report: {paths['html']}")
    if code:
        print(f"dr-audit demo: a scan would exit {code} here (the demo plants gaps on "
              "purpose)", file=sys.stderr)
    return 0
