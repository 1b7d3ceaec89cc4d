"""`dr-audit merge`: combine the report.json of each `scan --shard I/N` into one report."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

from drguard.errors import ConfigError
from drguard.findings import Finding

from ..delivery import add_delivery_arguments
from .common import add_output_options, check_baseline
from .summary import finish, write

log = logging.getLogger(__name__)

HELP = ("Merge the report.json files of sharded scans (scan --shard I/N) into one report, "
        "in every format.")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("reports", nargs="+", type=Path, metavar="REPORT.json",
                   help="report.json of each shard")
    p.add_argument("--endpoint-url", help="AWS-compatible endpoint for --security-hub / sns")
    add_output_options(p)
    add_delivery_arguments(p)


def _sum_counts(into: dict[str, Any], other: dict[str, Any]) -> None:
    """Add numeric counts key by key (nested dicts too); lists are concatenated."""
    for k, v in other.items():
        mine = into.get(k)
        if isinstance(v, bool) or v is None:
            into.setdefault(k, v)
        elif isinstance(v, int | float) and isinstance(mine, int | float):
            into[k] = mine + v
        elif isinstance(v, dict) and isinstance(mine, dict):
            _sum_counts(mine, v)
        elif isinstance(v, list) and isinstance(mine, list):
            into[k] = mine + [x for x in v if x not in mine]
        elif k not in into:
            into[k] = v


def merge(loaded: list[tuple[Path, dict[str, Any], list[Finding]]]
          ) -> tuple[dict[str, Any], list[Finding]]:
    """One run dict and one findings list from the shards' (path, run, findings).

    A finding seen by several shards (an organization-wide setting judged from the management
    account in each of them) is kept once. Shards missing from a complete I/N set make the
    merged run incomplete: the accounts of the missing shard were not scanned.
    """
    findings: dict[str, Finding] = {}
    run: dict[str, Any] = {"command": "merge", "merged_from": [], "accounts": [],
                           "account_status": [], "regions": [], "skipped": {}}
    shards: dict[int, set[int]] = {}
    starts, ends = [], []
    for path, r, fs in loaded:
        for f in fs:
            findings.setdefault(f.id, f)  # the stable id: same gap, same id
        run["merged_from"].append({"path": str(path), "shard": r.get("shard"),
                                   "command": r.get("command")})
        for key in ("accounts", "regions"):
            run[key] += [x for x in r.get(key) or () if x not in run[key]]
        seen = {a.get("id") for a in run["account_status"]}
        run["account_status"] += [a for a in r.get("account_status") or ()
                                  if isinstance(a, dict) and a.get("id") not in seen]
        if isinstance(r.get("skipped"), dict):
            _sum_counts(run["skipped"], r["skipped"])
        for k in ("tool_version", "endpoint_url", "mode", "principal_account", "fail_on"):
            run.setdefault(k, r.get(k))
        starts += [r["started"]] if isinstance(r.get("started"), str) else []
        ends += [r["finished"]] if isinstance(r.get("finished"), str) else []
        shard = r.get("shard")
        if shard is not None:
            try:
                i, n = (int(x) for x in str(shard).split("/"))
            except ValueError:
                raise ConfigError(f"{path}: run.shard {shard!r} is not I/N") from None
            shards.setdefault(n, set()).add(i)
    if starts:
        run["started"], run["finished"] = min(starts), max(ends or starts)
    missing = [f"{i}/{n}" for n, got in shards.items() for i in range(1, n + 1) if i not in got]
    if len(shards) > 1:
        raise ConfigError("the reports come from different shard counts "
                          f"({', '.join(str(n) for n in sorted(shards))}); merge one set")
    if missing:
        run["skipped"]["shards"] = len(missing)
        run["skipped"].setdefault("notes", []).append(
            f"shard(s) {', '.join(missing)} missing: their accounts were not scanned")
    return run, list(findings.values())


def run(args: argparse.Namespace) -> int:
    from ..aws import AwsOptions
    from ..delivery import check_delivery, deliver
    from ..reports import load_report

    check_baseline(args)
    check_delivery(args)
    loaded = []
    for path in args.reports:
        if not path.is_file():
            raise ConfigError(f"{path}: report not found")
        r, fs = load_report(path)  # ConfigError naming the file when it is not a report
        loaded.append((path, r, fs))
    run_meta, findings = merge(loaded)
    run_meta["fail_on"] = args.fail_on
    paths = write(findings, run_meta, args)
    code = finish(findings, run_meta, paths)
    # Security Hub and notifications once, from the merged report (not from each shard)
    deliver(args, AwsOptions(endpoint_url=args.endpoint_url), findings, run_meta, paths, code)
    return code
