"""`dr-audit merge`: combine the report.json of each `scan --shard I/N` into one report."""

from __future__ import annotations

import argparse
import json
import logging
from dataclasses import field
from pathlib import Path
from typing import Any

from drguard.errors import ConfigError
from drguard.findings import Finding
from drguard.records import record

from ..delivery import add_delivery_arguments
from ..reports._common import not_read
from .common import add_output_options, check_baseline, load_settings
from .summary import finish, write

log = logging.getLogger(__name__)

HELP = ("Merge the report.json files of sharded scans (scan --shard I/N) into one report, "
        "in every format.")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("reports", nargs="+", type=Path, metavar="REPORT.json",
                   help="report.json of each shard")
    p.add_argument("--endpoint-url", help="AWS-compatible endpoint for --security-hub / sns")
    p.add_argument("--allow-mixed", action="store_true",
                   help="merge reports that are not shards of one run (another command, "
                        "tool version, region set, account, endpoint or shard count); the "
                        "merged report says what differs")
    add_output_options(p)
    add_delivery_arguments(p)


# For the same finding id in several shards, the worst view wins, whatever the order given.
PRECEDENCE = {"fail": 4, "error": 3, "attempt": 2, "waived": 1, "pass": 0}
# What must agree between shards of one run (else they are not one run's parts).
IDENTITY = ("command", "tool_version", "mode", "endpoint_url", "principal_account", "regions",
            "fail_on", "options")
MAX_NOTES = 200


@record
class Shard:
    """One shard's report.json as read for `dr-audit merge`."""

    path: Path
    run: dict[str, Any]
    findings: list[Finding]
    summary: dict[str, Any] = field(default_factory=dict)


def _is_count(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


def _add_counts(into: dict[str, Any], skipped: Any, where: str, bad: list[str]) -> None:
    """Sum the counts of a `skipped` block into `into` (nested dicts of counts too); lists are
    concatenated; a value that is not a non-negative integer is named in `bad`."""
    if not isinstance(skipped, dict):
        if skipped is not None:
            bad.append(f"{where} is not a mapping of counts")
        return
    for k, v in skipped.items():
        if isinstance(v, list) and all(isinstance(x, str) for x in v):  # notes
            mine = into.setdefault(k, [])
            if isinstance(mine, list):
                mine += [x for x in v if isinstance(x, str) and x not in mine][:MAX_NOTES]
        elif isinstance(v, dict):
            mine = into.setdefault(k, {})
            if isinstance(mine, dict):
                _add_counts(mine, v, f"{where}.{k}", bad)
        elif _is_count(v):
            mine = into.get(k, 0)
            into[k] = (mine if _is_count(mine) else 0) + v
        else:
            bad.append(f"{where}.{k} is {v!r:.40}, not a count")


def _shard_of(s: Shard) -> tuple[int, int] | None:
    shard = s.run.get("shard")
    if shard is None:
        return None
    try:
        i, n = (int(x) for x in str(shard).split("/"))
    except ValueError:
        raise ConfigError(f"{s.path}: run.shard {str(shard)[:40]!r} is not I/N") from None
    if not 1 <= i <= n:
        raise ConfigError(f"{s.path}: run.shard {shard!r} is not I/N with 1 <= I <= N")
    return i, n


def _check_strings(s: Shard) -> None:
    for key in ("accounts", "regions"):
        values = s.run.get(key)
        if values is None:
            continue
        if not isinstance(values, list) or not all(isinstance(x, str) for x in values):
            raise ConfigError(f"{s.path}: run.{key} must be a list of strings")
    status = s.run.get("account_status")
    if status is not None and not (isinstance(status, list) and all(
            isinstance(a, dict) and isinstance(a.get("id"), str) for a in status)):
        raise ConfigError(f"{s.path}: run.account_status must be a list of objects with a "
                          "string id")


def _identity(s: Shard) -> dict[str, Any]:
    out = {k: s.run.get(k) for k in IDENTITY}
    if isinstance(out["regions"], list):
        out["regions"] = sorted(out["regions"])
    return out


def differences(shards: list[Shard]) -> list[str]:
    """What differs between the shards' runs, as 'key: a vs b' phrases (empty when one run)."""
    ids = [_identity(s) for s in shards]
    out = []
    for k in IDENTITY:
        values = sorted({json.dumps(i[k], sort_keys=True, default=str) for i in ids})
        if len(values) > 1:
            out.append(f"{k}: {' vs '.join(v[:60] for v in values[:4])}")
    counts = {n for n in (_shard_of(s) for s in shards) if n is not None}
    if len({n for _, n in counts}) > 1:
        out.append("shard count: " + " vs ".join(str(n) for n in sorted({n for _, n in counts})))
    return out


def _worst(a: Finding, b: Finding) -> Finding:
    """The finding of higher precedence; on a tie, the same one whatever the order."""
    ra, rb = PRECEDENCE.get(a.status, 5), PRECEDENCE.get(b.status, 5)
    if ra != rb:
        return a if ra > rb else b
    ka = json.dumps(a.to_dict(), sort_keys=True, default=str)
    kb = json.dumps(b.to_dict(), sort_keys=True, default=str)
    return a if ka <= kb else b


def merge(loaded: list[tuple[Path, dict[str, Any], list[Finding]]] | list[Shard],
          allow_mixed: bool = False) -> tuple[dict[str, Any], list[Finding]]:
    """One run dict and one findings list from the shards.

    The result does not depend on the order of the shards. A finding seen by several shards
    is kept once, the worst status winning (fail > error > attempt > waived > pass). The
    merged run is incomplete (its `skipped` counts say why) when a shard was incomplete, a
    sub-run of one (logs, sources) skipped or read nothing, a count is not a non-negative
    integer, or a shard of an I/N set is missing. Shards of different runs are refused
    (ConfigError) unless `allow_mixed`, and then what differs is noted."""
    shards = [s if isinstance(s, Shard) else Shard(*s) for s in loaded]
    for s in shards:
        _check_strings(s)
    numbered = [(_shard_of(s), str(s.path), s) for s in shards]
    numbered.sort(key=lambda t: (t[0] or (0, 0), t[1]))
    shards = [s for _, _, s in numbered]
    mixed = differences(shards)
    if mixed and not allow_mixed:
        odd = next((s for s in shards[1:] if differences([shards[0], s])), shards[-1])
        raise ConfigError(f"{odd.path}: not a shard of the same run as {shards[0].path} ("
                          + "; ".join(differences([shards[0], odd]) or mixed)
                          + "); merge one set, or pass --allow-mixed")
    findings: dict[str, Finding] = {}
    run: dict[str, Any] = {"command": "merge", "merged_from": [], "accounts": [],
                           "account_status": [], "regions": [], "skipped": {}}
    skipped = run["skipped"]
    notes: list[str] = []
    bad: list[str] = []
    incomplete_shards = 0
    by_n: dict[int, set[int]] = {}
    starts, ends = [], []
    for number, path, s in numbered:
        r = s.run
        for f in s.findings:
            have = findings.get(f.id)
            findings[f.id] = f if have is None else _worst(have, f)
        run["merged_from"].append({"path": path, "shard": r.get("shard"),
                                   "command": r.get("command")})
        for key in ("accounts", "regions"):
            run[key] += [x for x in r.get(key) or () if x not in run[key]]
        seen = {a["id"] for a in run["account_status"]}
        run["account_status"] += [a for a in r.get("account_status") or ()
                                  if a["id"] not in seen]
        _add_counts(skipped, r.get("skipped"), f"{path}: run.skipped", bad)
        # a sub-run's skips (scan --logs: run["logs"]) and a log read that read nothing
        for key, sub in sorted(r.items()):
            if key != "skipped" and isinstance(sub, dict) and "skipped" in sub:
                _add_counts(skipped, sub["skipped"], f"{path}: run.{key}.skipped", bad)
        extra = not_read({k: v for k, v in r.items() if k != "skipped"})
        if extra.get("noLogFiles"):
            skipped["noLogFiles"] = skipped.get("noLogFiles", 0) + 1
            notes.append(f"{path}: its log read read no file")
        if s.summary and (s.summary.get("incomplete") is not False
                          or not _is_count(s.summary.get("errors")) or s.summary["errors"]
                          or any(f.status == "error" for f in s.findings)):
            # its errors may be outranked by another shard's fail: still not a complete run
            incomplete_shards += 1
            notes.append(f"{path}: the shard's own report is incomplete")
        for k in ("tool_version", "endpoint_url", "mode", "principal_account", "fail_on"):
            run.setdefault(k, r.get(k))
        starts += [r["started"]] if isinstance(r.get("started"), str) else []
        ends += [r["finished"]] if isinstance(r.get("finished"), str) else []
        if number is not None:
            by_n.setdefault(number[1], set()).add(number[0])
    if starts:
        run["started"], run["finished"] = min(starts), max(ends or starts)
    if bad:
        skipped["invalidCounts"] = len(bad)
        notes += bad[:MAX_NOTES]
    if incomplete_shards:
        skipped["incompleteShards"] = incomplete_shards
    missing = 0
    for n, got in sorted(by_n.items()):
        absent = n - len(got)  # never materialised: N comes from the file
        if absent:
            missing += absent
            first = [f"{i}/{n}" for i in range(1, min(n, len(got) + 10) + 1) if i not in got]
            more = f" and {absent - len(first)} more" if absent > len(first) else ""
            notes.append(f"shard(s) {', '.join(first)}{more} missing: their accounts were "
                         "not scanned")
    if missing:
        skipped["shards"] = missing
    if mixed:
        notes.append("merged with --allow-mixed although the shards differ: " + "; ".join(mixed))
        run["mixed"] = mixed
    if notes:
        have = skipped.get("notes")
        skipped["notes"] = (have if isinstance(have, list) else []) + notes
    return run, sorted(findings.values(), key=lambda f: f.id)


def run(args: argparse.Namespace) -> int:
    from ..aws import AwsOptions
    from ..delivery import check_delivery, check_routes, deliver
    from ..reports.json_report import findings_of, load_report_doc

    check_baseline(args)
    check_delivery(args)
    check_routes(args, load_settings(args))
    loaded = []
    for path in args.reports:
        doc = load_report_doc(path)  # ConfigError naming the file when it is not a report
        loaded.append(Shard(path, doc["run"], findings_of(path, doc), doc["summary"]))
    run_meta, findings = merge(loaded, allow_mixed=args.allow_mixed)
    run_meta["fail_on"] = args.fail_on
    paths = write(findings, run_meta, args)
    code = finish(findings, run_meta, paths)
    # Security Hub and notifications once, from the merged report (not from each shard)
    deliver(args, AwsOptions(endpoint_url=args.endpoint_url), findings, run_meta, paths, code)
    return code
