"""Options shared by scan, logs and state; loading settings; writing reports; exit codes."""

from __future__ import annotations

import argparse
import os
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from drguard.errors import ConfigError
from drguard.registry import SEVERITY_ORDER
from drguard.settings import Settings, load_file

from ..reports import FORMATS
from .summary import add_report_options, check_report_options

if TYPE_CHECKING:
    from ..org import Shard

# What --format writes when not given (ocsf and asff on request).
DEFAULT_FORMATS = ("json", "html", "md", "sarif", "junit")
DEFAULT_SARIF_ARTIFACT = "Pulumi.yaml"
DEFAULT_WORKERS = 8  # accounts (x regions) read in parallel by scan and drill next --org


def format_list(choices: Sequence[str], default: Sequence[str]) -> Callable[[str], list[str]]:
    """The argparse type of a --format option: a comma-separated subset of `choices`; an
    empty list or an unknown name is a usage error (exit 2) saying what to give instead."""
    def parse(value: str) -> list[str]:
        aliases = {"markdown": "md"}
        items = [aliases.get(v.strip().lower(), v.strip().lower())
                 for v in value.split(",") if v.strip()]
        if not items:
            raise argparse.ArgumentTypeError(
                f"no format given ({value!r}); name one or more of {','.join(choices)}, "
                f"comma-separated, or leave --format out for {','.join(default)}")
        bad = [v for v in items if v not in choices]
        if bad:
            raise argparse.ArgumentTypeError(
                f"unknown format(s) {', '.join(bad)}; choose from {', '.join(choices)}")
        return items
    return parse


_formats = format_list(FORMATS, DEFAULT_FORMATS)


def add_output_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", type=Path, help="YAML/JSON config: control parameters, scope "
                   "rules, waivers (same names as the policy pack's config)")
    p.add_argument("--baseline", type=Path, help="previous report.json to diff against")
    p.add_argument("--fail-on", choices=list(SEVERITY_ORDER), default="high", type=str.lower,
                   help="lowest severity of an unwaived gap that makes the exit code 1")
    p.add_argument("--output-dir", type=Path, default=Path("dr-audit-report"),
                   help="folder the reports are written to (default: dr-audit-report)")
    p.add_argument("--format", type=_formats, default=list(DEFAULT_FORMATS),
                   help=f"comma-separated subset of {','.join(FORMATS)} "
                        f"(default: {','.join(DEFAULT_FORMATS)})")
    p.add_argument("--sarif-artifact", default=DEFAULT_SARIF_ARTIFACT, metavar="PATH",
                   help="repository file SARIF results point at when a finding has no file of "
                        "its own; GitHub code scanning needs one "
                        f"(default {DEFAULT_SARIF_ARTIFACT})")
    add_report_options(p)  # --history, --account-names (auditor.commands.summary)


def check_output_dir(path: Path | None) -> None:
    """--output-dir must be a directory we can create and write: checked before any AWS call
    or file read (ConfigError, exit 2). Directories created for the check are removed again
    (the reports create them at the end)."""
    if path is None:
        return
    made: list[Path] = []
    try:
        if not path.is_dir():
            if path.exists() or path.is_symlink():
                raise ConfigError(f"--output-dir {path}: exists and is not a directory")
            p = path
            while not p.exists() and p != p.parent:
                made.append(p)
                p = p.parent
            if not p.is_dir():
                raise ConfigError(f"--output-dir {path}: {p} is not a directory")
            path.mkdir(parents=True)
        fd, probe = tempfile.mkstemp(dir=path, prefix=".dr-audit-write-check-")
        os.close(fd)
        os.unlink(probe)
    except ConfigError:
        raise
    except OSError as e:
        raise ConfigError(f"--output-dir {path}: cannot be created or written "
                          f"({e.strerror or type(e).__name__})") from None
    except ValueError as e:  # e.g. a NUL byte in the path
        raise ConfigError(f"--output-dir {str(path)!r}: not a usable path ({e})") from None
    finally:
        for d in made:  # deepest first
            try:
                d.rmdir()
            except OSError:
                break


def check_baseline(args: argparse.Namespace) -> None:
    """A missing --baseline is a usage error, found before anything is read or scanned."""
    if args.baseline is not None and not args.baseline.exists():
        raise ConfigError(f"{args.baseline}: baseline report not found")
    check_report_options(args)


def check_org_options(args: argparse.Namespace) -> Shard | None:
    """`--org`, `--role-name`, `--external-id` and `--shard`, checked alike by every command
    that takes them (ConfigError -> exit 2); the shard they ask for."""
    from ..org import Shard  # boto3 behind it: not for the commands that never reach AWS

    if args.org and not args.role_name:
        raise ConfigError("--org needs --role-name NAME (the role to assume in each account)")
    if args.role_name and not args.org:
        raise ConfigError("--role-name is only used with --org")
    has_role_arn = hasattr(args, "role_arn")
    if args.external_id and not (args.org or (has_role_arn and args.role_arn)):
        raise ConfigError(f"--external-id needs {'--role-arn or ' if has_role_arn else ''}--org")
    if args.shard is None:
        return None
    if not args.org:
        raise ConfigError("--shard splits the accounts of --org; give --org too")
    return Shard.parse(args.shard)


def load_settings(args: argparse.Namespace) -> Settings:
    if args.config is None:
        return Settings()
    if not args.config.exists():
        raise ConfigError(f"{args.config}: config file not found")
    return load_file(args.config)
