"""Options shared by scan, logs and state; loading settings; writing reports; exit codes."""

from __future__ import annotations

import argparse
from pathlib import Path

from drguard.errors import ConfigError
from drguard.registry import SEVERITY_ORDER
from drguard.settings import Settings, load_file

from .summary import add_report_options, check_report_options

FORMATS = ("json", "html", "md", "sarif", "junit", "ocsf", "asff")
# What --format writes when not given (ocsf and asff on request).
DEFAULT_FORMATS = ("json", "html", "md", "sarif", "junit")
DEFAULT_SARIF_ARTIFACT = "Pulumi.yaml"


def _formats(value: str) -> list[str]:
    items = [v.strip() for v in value.split(",") if v.strip()]
    bad = [v for v in items if v not in FORMATS]
    if bad or not items:
        raise argparse.ArgumentTypeError(
            f"unknown format(s) {', '.join(bad) or '(none)'}; choose from {', '.join(FORMATS)}")
    return items


def add_output_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", type=Path, help="YAML/JSON config: control parameters, scope "
                   "rules, waivers (same names as the policy pack's config)")
    p.add_argument("--baseline", type=Path, help="previous report.json to diff against")
    p.add_argument("--fail-on", choices=list(SEVERITY_ORDER), default="high",
                   help="lowest severity of an unwaived gap that makes the exit code 1")
    p.add_argument("--output-dir", type=Path, default=Path("dr-audit-report"))
    p.add_argument("--format", type=_formats, default=list(DEFAULT_FORMATS),
                   help=f"comma-separated subset of {','.join(FORMATS)}")
    p.add_argument("--sarif-artifact", default=DEFAULT_SARIF_ARTIFACT, metavar="PATH",
                   help="repository file SARIF results point at when a finding has no file of "
                        "its own; GitHub code scanning needs one "
                        f"(default {DEFAULT_SARIF_ARTIFACT})")
    add_report_options(p)  # --history, --account-names (auditor.commands.summary)


def check_baseline(args: argparse.Namespace) -> None:
    """A missing --baseline is a usage error, found before anything is read or scanned."""
    if args.baseline is not None and not args.baseline.exists():
        raise ConfigError(f"{args.baseline}: baseline report not found")
    check_report_options(args)


def load_settings(args: argparse.Namespace) -> Settings:
    if args.config is None:
        return Settings()
    if not args.config.exists():
        raise ConfigError(f"{args.config}: config file not found")
    return load_file(args.config)
