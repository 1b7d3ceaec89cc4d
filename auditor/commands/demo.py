"""`dr-audit demo`: scan a seeded organization in the embedded emulator, write every report.

The scan runs exactly as `dr-audit scan --org --role-name ... --logs s3://<trail-bucket>/
--history DIR` would against the emulator, so each planted gap is linked to the CloudTrail
event behind it; the history holds a few earlier `dr-audit drill` runs (DEMO_DRILLS), so
restore-time-objective shows a restore within target, one too slow, one too old, and the
resources never restored.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime as dt
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from drguard.findings import Finding
from drguard.settings import from_mapping

from ..demo_seed import LOG_DAYS, DemoOrg, seed
from ..emulator import CREDENTIALS, MotoServer
from ..reports import outcome
from ..reports._common import plural
from ..services import recovery, rpo
from ..terminal import shown
from . import scan as scan_cmd
from .common import FORMATS
from .summary import closing_lines, print_paths

HELP = ("Start the embedded AWS emulator, seed a small organization (two accounts, two "
        "regions, three days of CloudTrail logs), scan it in organization mode with its "
        "logs and write every report format.")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--output-dir", type=Path, default=Path("dr-audit-report"))


def scan_args(endpoint_url: str, demo: DemoOrg, output_dir: Path,
              history: Path | None = None) -> argparse.Namespace:
    """The `dr-audit scan` arguments the demo runs with (parsed by scan's own parser)."""
    p = argparse.ArgumentParser(prog="dr-audit scan", add_help=False)
    scan_cmd.add_arguments(p)
    return p.parse_args([
        "--endpoint-url", endpoint_url, "--regions", ",".join(demo.regions), "--org",
        "--role-name", demo.role_name, "--workers", "4",
        "--logs", f"s3://{demo.trail_bucket}/", "--output-dir", str(output_dir),
        *(["--history", str(history)] if history else [])])


# (kind, target, days ago, minutes): earlier drills, as `dr-audit drill --history` kept them
DEMO_DRILLS = (("rds", "orders-db", 3, 42.0), ("cluster", "payments", 2, 95.0),
               ("dynamodb", "sessions", 50, 6.0), ("state", "s3://acme-pulumi-state "
                                                   "organization/acme-platform/prod", 6, 1.5))


def seed_drill_history(folder: Path, now: dt.datetime) -> None:
    """The demo's drill history: one entry per DEMO_DRILLS row, verified and cleaned up."""
    from ..drill import report as drill_report
    from ..history_store import DirStore

    for i, (kind, target, days, minutes) in enumerate(DEMO_DRILLS):
        started = now - dt.timedelta(days=days)
        # a drill's run id ends in random digits; the demo's are fixed so it repeats exactly
        section = {"run_id": f"{started:%Y%m%d%H%M%S}-{i:06x}", "kind": kind, "target": target,
                   "region": "us-east-1", "rto_seconds": minutes * 60,
                   "rto_target_seconds": None, "verified": True, "cleaned_up": True,
                   "outcome": "verified", "exit_code": 0}
        drill_report.save_history(DirStore(folder), drill_report.history_entry(
            section, started.isoformat(timespec="seconds")))


def _say(text: str) -> None:
    print(f"dr-audit demo: {text}", file=sys.stderr, flush=True)


class _Phases:
    """Progress by phase on stderr: `[2/4 scanning] ... (3.1 s)`."""

    NAMES = ("seeding", "scanning", "reading logs", "writing reports")

    def __init__(self) -> None:
        self.start = time.monotonic()

    def __call__(self, name: str, text: str) -> None:
        n = self.NAMES.index(name) + 1
        _say(f"[{n}/{len(self.NAMES)} {name}] {text} "
             f"(at {time.monotonic() - self.start:.1f} s)")

    def from_scan(self, text: str) -> None:
        """What `scan_cmd.execute` says between its phases."""
        self("reading logs" if "log" in text else "writing reports", text)


def _short(arn: str) -> str:
    return arn.rsplit(":", 1)[-1].rsplit("/", 1)[-1] if arn.startswith("arn:") else arn


def _subject(f: Finding) -> str:
    """What a finding is about: the resource name, or the account for account-wide ones."""
    return f"account {f.account}" if f.resource.endswith(":root") else _short(f.resource)


def _report_logs(findings: list[Finding], meta: dict[str, Any], demo: DemoOrg) -> None:
    skipped = meta.get("skipped") or {}
    _say(f"read {meta.get('files', 0)} CloudTrail log files ({demo.log_records} events over "
         f"{LOG_DAYS} days; the {demo.digest_files} digest files are not logs and were left "
         f"aside) from s3://{demo.trail_bucket}/: {meta.get('events', 0)} changes broke a "
         f"control, {plural(int(meta.get('attempts', 0)), 'attempt')} (refused calls)"
         + (f"; skipped {skipped}" if any(skipped.values()) else ""))
    linked = [f for f in findings if f.source == "live" and f.status == "fail" and f.event]
    gaps = sum(f.source == "live" and f.status == "fail" for f in findings)
    _say(f"linked {len(linked)} of {gaps} live gaps to the CloudTrail events that caused them:")
    for f in sorted(linked, key=lambda f: (f.event or {}).get("time") or ""):
        ev = f.event or {}
        what = f" {_short(ev['resource'])}" if ev.get("resource") else ""
        _say(f"  {f.control} on {_subject(f)}: {ev.get('eventName')}{what} by "
             f"{ev.get('principal')} from {ev.get('sourceIp')} at {ev.get('time')}")
    for f in findings:
        if f.source == "logs" and f.status == "attempt":
            e = f.event or {}
            _say(f"  attempt: {e.get('eventName')} on {_short(f.resource)} by "
                 f"{e.get('principal')} from {e.get('sourceIp')} failed with "
                 f"{e.get('errorCode')}")


# The demo repeats exactly: the emulator makes the same ids (member account, keys, plans) from
# the same seed, and the emulator, the seeded CloudTrail story and the scan all read one
# stopped clock, so two demo reports differ in nothing (a diff of them is empty).
DEMO_RANDOM_SEED = 20261205
DEMO_NOW = dt.datetime(2026, 12, 5, 12, 0, tzinfo=dt.UTC)
EMULATOR_NAME = "the embedded AWS emulator of dr-audit demo"

# Two applications (the stacks of the demo's state bucket): one critical, one standard.
DEMO_TIERS = {"critical": {"targetRpoHours": 1, "targetRtoMinutes": 60, "crossRegion": True,
                           "crossAccount": True},
              "standard": {"targetRpoHours": 24, "targetRtoMinutes": 480, "crossRegion": True,
                           "crossAccount": False}}
DEMO_APPLICATIONS = {"acme-platform/prod": {"tier": "critical", "owner": "team-platform"},
                     "acme-platform/staging": {"tier": "standard", "owner": "team-data"}}


def run(args: argparse.Namespace) -> int:
    saved = {k: os.environ.get(k) for k in CREDENTIALS}
    os.environ.update(CREDENTIALS)  # the emulator's dummy credentials, for this run only
    try:
        phase = _Phases()
        phase("seeding", "starting the AWS emulator and seeding an organization and its "
                         "CloudTrail logs...")
        import time_machine  # the demo extra's: stops this process's wall clock at DEMO_NOW

        with MotoServer(clock=DEMO_NOW) as server, contextlib.ExitStack() as stack:
            stack.enter_context(time_machine.travel(DEMO_NOW, tick=False))
            server.seed_random(DEMO_RANDOM_SEED)
            demo = seed(server.url, now=DEMO_NOW)
            settings = from_mapping({"scope": {"stateBucket": demo.state_bucket},
                                     "controls": {**rpo.EMULATOR_CONTROLS,
                                                  **recovery.EMULATOR_CONTROLS},
                                     "tiers": DEMO_TIERS, "applications": DEMO_APPLICATIONS},
                                    where="demo config")
            history = Path(stack.enter_context(tempfile.TemporaryDirectory(
                prefix="dr-audit-demo-history-")))
            seed_drill_history(history, dt.datetime.now(dt.UTC))
            sargs = scan_args(server.url, demo, args.output_dir, history)
            phase("scanning", f"2 accounts ({demo.management}, {demo.member}) x "
                              f"{len(demo.regions)} regions...")
            # progress counters on stderr even when it is not a terminal
            options = dataclasses.replace(scan_cmd.options_from(sargs), progress=True)
            code, paths, result = scan_cmd.execute(
                options, settings, sargs.output_dir, list(FORMATS), sargs.fail_on, None, sargs,
                say=phase.from_scan,
                # its port changes every run and nobody can reach it once the demo ends
                run_overrides={"endpoint_url": EMULATOR_NAME})
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    _say(f"scanned accounts {demo.management} (management) and {demo.member} in "
         f"{', '.join(demo.regions)}")
    _report_logs(result.findings, result.run.get("logs") or {}, demo)
    run_meta = {**result.run, "command": "demo"}
    # the same words and counts as the reports (merged findings), critical gaps by name
    for line in closing_lines(outcome(result.findings, run_meta), run_meta, result.findings):
        print(shown(line), file=sys.stderr, flush=True)
    print_paths(paths)
    if code:
        _say(f"a scan would exit {code} here (the demo plants gaps on purpose)")
    return 0
