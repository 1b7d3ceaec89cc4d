"""`dr-audit scan`: judge live AWS accounts against the DR controls and write the reports."""

from __future__ import annotations

import argparse
import importlib
import logging
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from drguard import frameworks
from drguard.errors import ConfigError
from drguard.findings import Finding
from drguard.registry import CONTROLS
from drguard.settings import Settings
from drguard.waivers import warn_unused

from .. import backends, managed, restore
from ..aws import AwsOptions
from ..delivery import add_delivery_arguments, check_delivery, check_routes, deliver
from ..org import Shard
from ..repo import project_backend
from ..scan import ScanOptions, ScanResult, scan
from .common import (
    DEFAULT_WORKERS,
    add_output_options,
    check_baseline,
    check_org_options,
    load_settings,
)
from .summary import add_history_key, finish, history_store, load_account_names

log = logging.getLogger(__name__)

HELP = ("Scan live AWS accounts (one, or a whole organization with --org) against the DR "
        "controls and write the reports.")

EXIT_INCOMPLETE = 3
_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d+$")


def _regions(value: str) -> list[str]:
    items = [v.strip() for v in value.split(",") if v.strip()]
    bad = [v for v in items if not _REGION.match(v)]
    if bad or not items:
        raise argparse.ArgumentTypeError(f"not a region name: {', '.join(bad) or '(none)'}")
    return list(dict.fromkeys(items))


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--regions", type=_regions, metavar="R1,R2",
                   help="regions to scan (default: the account's enabled regions)")
    p.add_argument("--endpoint-url", help="AWS-compatible endpoint for every client")
    p.add_argument("--profile", help="AWS profile (default: the standard boto3 chain)")
    p.add_argument("--role-arn", help="role to assume first (e.g. an audit role)")
    p.add_argument("--external-id", help="external id for the roles assumed")
    p.add_argument("--org", action="store_true",
                   help="scan every active account of the organization (needs --role-name)")
    p.add_argument("--role-name", help="role assumed in each account with --org, e.g. "
                   "OrganizationAccountAccessRole")
    p.add_argument("--shard", metavar="I/N",
                   help="with --org: scan only the I-th of N stable subsets of the accounts "
                        "(by a hash of the account id); combine with `dr-audit merge`")
    p.add_argument("--account-timeout", type=float, default=900.0, metavar="SECONDS",
                   help="busy time after which one account's remaining reads are reported "
                        "`error`, so a slow account cannot stall the others (default 900; "
                        "0 = no limit)")
    p.add_argument("--workers", type=int, default=DEFAULT_WORKERS,
                   help=f"account x region units scanned in parallel (default "
                        f"{DEFAULT_WORKERS})")
    p.add_argument("--project", type=Path, metavar="DIR|Pulumi.yaml",
                   help="the Pulumi project whose backend.url (s3://...) names the state "
                        "bucket for pulumi-state-backend (when stateBucket and "
                        "PULUMI_BACKEND_URL do not)")
    p.add_argument("--state", type=Path, metavar="EXPORT.json",
                   help="a `pulumi stack export` to compare with what exists")
    p.add_argument("--backend", action="append", metavar="URL",
                   help="a Pulumi state backend (repeatable): s3://BUCKET[/PREFIX], file://DIR "
                        "or https://api.pulumi.com (token from PULUMI_ACCESS_TOKEN); judges "
                        "which stack manages each resource")
    p.add_argument("--backend-org", metavar="NAME",
                   help="with a Pulumi Cloud --backend: only this organization's stacks")
    p.add_argument("--framework", metavar="NAME",
                   help="only the controls mapped to this framework: NIST SP 800-53 r5 "
                        "(nist), ISO/IEC 27001:2022 (iso27001), SOC 2 (soc2), DORA (dora), "
                        "AWS Well-Architected (well-architected)")
    p.add_argument("--logs", nargs="+", metavar="S3-URI-OR-PATH",
                   help="CloudTrail logs to search for the events that broke a control")
    p.add_argument("--since", help="with --logs: first day (YYYY-MM-DD) or time (ISO 8601) "
                   "of the log window (default: everything)")
    p.add_argument("--until", help="with --logs: last day (inclusive) or time of the window")
    add_output_options(p)
    add_history_key(p)  # (after --history)
    add_delivery_arguments(p)


def _check(args: argparse.Namespace) -> None:
    check_org_options(args)
    if (args.since or args.until) and not args.logs:
        raise ConfigError("--since/--until apply to --logs; give --logs too")
    if args.logs:
        from ..logs.window import Window

        Window.parse(args.since, args.until)  # a bad date is a usage error before scanning
    if args.workers < 1:
        raise ConfigError("--workers must be at least 1")
    if args.account_timeout < 0:
        raise ConfigError("--account-timeout must be 0 (no limit) or more seconds")
    check_baseline(args)
    check_delivery(args)
    if getattr(args, "framework", None) and frameworks.resolve(args.framework) is None:
        raise ConfigError(f"--framework {args.framework!r}: not a known framework (choose "
                          f"from {', '.join(frameworks.FRAMEWORKS)})")
    for url in getattr(args, "backend", None) or ():
        backends.check_url(url)
    if args.state is not None and not args.state.exists():
        raise ConfigError(f"{args.state}: stack export not found")
    if args.state is not None:  # a damaged export stops the run before anything is scanned
        importlib.import_module("auditor.drift").validate(args.state)


def options_from(args: argparse.Namespace) -> ScanOptions:
    return ScanOptions(
        aws=AwsOptions(profile=args.profile, role_arn=args.role_arn,
                       external_id=args.external_id, endpoint_url=args.endpoint_url),
        regions=args.regions, org=args.org, role_name=args.role_name, workers=args.workers,
        progress=sys.stderr.isatty(),
        shard=Shard.parse(args.shard) if getattr(args, "shard", None) else None,
        account_timeout=getattr(args, "account_timeout", 900.0) or None,
        project_backend=project_backend(args.project) if args.project else None)


def _extra_findings(args: argparse.Namespace, settings: Settings,
                    result: ScanResult) -> list[Finding]:
    """--state and --logs: handed to their modules when this build has them."""
    out: list[Finding] = []
    notes = result.run["skipped"].setdefault("notes", [])
    out += managed.scan_hook(args, settings, result)
    if args.state is not None:
        try:
            hook = importlib.import_module("auditor.drift").scan_hook
        except (ImportError, AttributeError):
            log.warning("--state: stack comparison is not available in this build; ignored")
            notes.append("--state ignored: auditor.drift not available")
        else:
            out += hook(args, settings, result)
    if args.logs:
        try:
            from ..logs import detect
            from ..logs.explain import explain, fold
            from ..logs.pipeline import collect
            from ..logs.window import Window
        except ImportError:
            log.warning("--logs: log analysis is not available in this build; ignored")
            notes.append("--logs ignored: auditor.logs not available")
        else:
            window = Window.parse(getattr(args, "since", None), getattr(args, "until", None))
            hits, meta = collect(args.logs, window, settings,
                                 endpoint_url=args.endpoint_url, workers=args.workers,
                                 session=result.session)
            used = explain(result.findings, hits)  # live gaps get the events behind them
            if args.state is not None and out:  # and missing resources their delete event
                importlib.import_module("auditor.drift").link_events(out, hits)
            # a logs finding whose event explains a live gap is merged into it (one gap)
            out += fold(result.findings, detect.findings(hits, settings), used)
            result.run["logs"] = meta
    return out


def execute(options: ScanOptions, settings: Settings, output_dir: Path, formats: list[str],
            fail_on: str = "high", baseline: Path | None = None,
            args: argparse.Namespace | None = None,
            say: Callable[[str], None] | None = None,
            run_overrides: dict[str, Any] | None = None,
            ) -> tuple[int, dict[str, Path], ScanResult]:
    """Scan, write the reports; (exit code, report paths, result). `say` hears each phase;
    `run_overrides` replace run metadata in the reports (the demo's passing emulator URL)."""
    from ..reports import outcome, write_reports

    result = scan(options, settings)
    if args is not None:
        if say and args.logs:
            say("reading CloudTrail logs...")
        result.findings += _extra_findings(args, settings, result)
        managed.attribute(result.findings, getattr(result, "index", None), settings)
        _note_tier_tags(result, settings)
        result.findings = managed.applicable(result.findings, settings)
        result.findings += restore.scan_hook(args, settings, result)
    if settings.apps.tiers or settings.apps.applications:
        result.run["objectives"] = {"tiers": dict(settings.apps.tiers),
                                    "applications": dict(settings.apps.applications)}
    if args is not None and getattr(args, "framework", None):
        result.run["framework"] = frameworks.resolve(args.framework)
    run: dict[str, Any] = {**result.run, "fail_on": fail_on, **(run_overrides or {})}
    if args is not None and getattr(args, "sarif_artifact", None):
        run["sarif_artifact"] = args.sarif_artifact
    if say:
        say(f"writing reports ({', '.join(formats)}) to {output_dir}...")
    paths = write_reports(result.findings, run, output_dir, formats, baseline,
                          history=history_store(args) if args is not None else None,
                          account_names=load_account_names(getattr(args, "account_names", None)))
    # the reports' own summary decides (gaps, errors, anything not read: COMMON run-info)
    code = int(outcome(result.findings, run).get("exit_code", 0))
    return code, paths, result


def _note_tier_tags(result: ScanResult, settings: Settings) -> None:
    """Name, in the run's notes and on stderr, the resources whose dr:tier tag overrode the
    tier the config gives their application."""
    over = managed.tier_tags_overriding(result.findings, settings)
    if over:
        head = (f"tiers: {len(over)} resource(s) carry a dr:tier tag other than the tier the "
                f"config gives their application, and the tag decided their objectives and "
                f"which controls apply (check that nobody lowered them): ")
        # the report names every one (where they are looked up); the terminal a few
        result.run["skipped"].setdefault("notes", []).append(head + ", ".join(over))
        log.warning("%s%s", head, ", ".join(over[:5])
                    + (f" and {len(over) - 5} more (the report's notes name them)"
                       if len(over) > 5 else ""))


def _say_applications(findings: list[Finding], run: dict[str, Any]) -> None:
    """The terminal names the worst applications (the same rows and scores as the reports)."""
    from ..reports.applications import applications, worst_line

    objectives = run.get("objectives") or {}
    line = worst_line(applications([f.to_dict() for f in findings], objectives.get("tiers"),
                                   objectives.get("applications")))
    if line:
        print(f"dr-audit scan: {line}", file=sys.stderr)


def run(args: argparse.Namespace) -> int:
    _check(args)
    settings = load_settings(args)
    check_routes(args, settings)
    if getattr(args, "framework", None):  # only the controls giving evidence for it
        settings.enabled &= frameworks.controls_for(frameworks.resolve(args.framework) or "",
                                                    CONTROLS)
    code, paths, result = execute(options_from(args), settings, args.output_dir, args.format,
                                  args.fail_on, args.baseline, args)
    _say_applications(result.findings, result.run)
    if not args.shard:  # one shard sees part of the organization: its waivers' gaps elsewhere
        # (counted as findings were made; a waiver of a resource in an account or region
        # this scan did not read is not called unused)
        warn_unused(settings.waivers, settings.waiver_use,
                    accounts=result.run.get("accounts"), regions=result.run.get("regions"))
    finish(result.findings, {**result.run, "fail_on": args.fail_on}, paths)
    deliver(args, options_from(args).aws, result.findings,
            {**result.run, "fail_on": args.fail_on}, paths, code)
    return code
