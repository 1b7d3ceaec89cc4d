"""What `dr-audit scan` does after writing its reports: `--security-hub` and `--notify`
(with the config's `notify.routes`: each owner's findings to that owner's targets).

Both are opt-in and run after the reports are on disk. Neither changes the exit code: a
Security Hub import that fails is an error message, a notification that fails a warning (and
the summary line names it).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

from drguard.errors import ConfigError
from drguard.findings import Finding
from drguard.settings import Settings

from .terminal import shown

log = logging.getLogger(__name__)


def add_delivery_arguments(p: argparse.ArgumentParser) -> None:
    from .notify import WHEN

    g = p.add_argument_group("delivery (after the reports are written)")
    g.add_argument("--security-hub", action="store_true",
                   help="import the findings into AWS Security Hub (BatchImportFindings; the "
                        "scan's only write): new ones created, existing ones updated by id, "
                        "fixed ones archived")
    g.add_argument("--security-hub-region", metavar="REGION",
                   help="Security Hub region to import into (default: the first of --regions, "
                        "else the session's region)")
    g.add_argument("--notify", action="append", default=[], metavar="TARGET",
                   help="slack:<webhook URL>, slack:env:NAME (URL read from the environment "
                        "variable NAME) or sns:<topic ARN>; repeatable. Webhook URLs are never "
                        "printed. With the config's notify.routes, these get the findings no "
                        "owner route takes; routes are used only when --notify is given")
    g.add_argument("--notify-on", choices=WHEN, default="always",
                   help="when to notify: always (default), new-gaps (new since --baseline, or "
                        "any gap without one), failure (exit code not 0); with "
                        "notify.routes, judged on each destination's own findings")
    g.add_argument("--report-url", metavar="URL",
                   help="link to the published report, shown in notifications")


def check_delivery(args: argparse.Namespace) -> None:
    """Bad --notify targets are usage errors, found before anything is scanned."""
    from .notify import parse_target

    args.notify_targets = [parse_target(v) for v in getattr(args, "notify", None) or ()]
    url = getattr(args, "report_url", None)
    if url and not url.startswith(("http://", "https://")):
        raise ConfigError(f"--report-url {url!r}: expected an http(s) URL")


def check_routes(args: argparse.Namespace, settings: Settings) -> None:
    """The config's owner routes, their webhooks read from the environment, when the run
    notifies (`--notify` given): a route that cannot be used is a usage error, found before
    anything is scanned."""
    from .notify import resolve_routes

    if not getattr(args, "notify", None):
        # routes are where a notifying run sends each owner's findings; a run that was not
        # asked to notify (a laptop run with the nightly's config) sends nothing
        args.notify_routes = []
        if settings.notify_routes:
            log.info("notify.routes not used: no --notify target given")
        return
    where = str(getattr(args, "config", None) or "config")
    args.notify_routes = resolve_routes(settings.notify_routes, where=where)


def report_doc(findings: list[Finding], run: dict[str, Any], paths: dict[str, Path],
               baseline: Path | None) -> dict[str, Any]:
    """The report.json document of this run (read back, or rendered when not written)."""
    if "json" in paths:
        return json.loads(Path(paths["json"]).read_text(encoding="utf-8"))
    from .reports import render_reports

    return json.loads(render_reports(findings, run, ["json"], baseline)["json"])


def deliver(args: argparse.Namespace, aws: Any, findings: list[Finding], run: dict[str, Any],
            paths: dict[str, Path], code: int) -> None:
    targets = getattr(args, "notify_targets", None)
    if targets is None:
        check_delivery(args)
        targets = args.notify_targets
    routes = getattr(args, "notify_routes", None) or []
    if not (args.security_hub or targets or routes):
        return
    doc = report_doc(findings, run, paths, getattr(args, "baseline", None))
    merged = [Finding.from_dict(d) for d in doc.get("findings") or ()]
    if args.security_hub:
        from .securityhub import publish

        regions = run.get("regions") or []
        region = args.security_hub_region or (regions[0] if regions else None) \
            or aws.region or "us-east-1"
        result = publish(aws, region, merged, doc.get("run") or run)
        level = "" if result.ok else "error: "
        print(shown(f"dr-audit: {level}{result.line()}"), file=sys.stderr)
    if targets or routes:
        from .notify import outcome_line, send_routed
        from .securityhub import narrow_session

        session = None
        if any(t.kind == "sns" for t in [*targets, *(t for _, t in routes)]):
            try:
                session = narrow_session(aws, "sns", frozenset({"Publish"}))
            except Exception as e:  # noqa: BLE001 - a notification problem is a warning
                log.warning("SNS notifications: no session (%s)", e)
        # each owner's findings to its routes, the rest to --notify; a failure is logged
        # (redacted) and named in the summary line, and the exit code stays the audit's
        outcomes = send_routed(routes, targets, doc, code, when=args.notify_on,
                               report_url=args.report_url, sns_session=session,
                               endpoint_url=aws.endpoint_url, config=aws.config())
        if outcomes:
            print(shown(f"dr-audit: {outcome_line(outcomes, args.notify_on)}"), file=sys.stderr)
