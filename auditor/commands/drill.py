"""`dr-audit drill KIND`: restore a backup into scratch resources, verify, time, clean up.

Kinds: rds, cluster, dynamodb, state, s3, and next (the resource with the oldest evidence).

The only command that creates and deletes; see auditor/drill. Exit codes: 0 restored,
verified and within --rto; 1 slower than --rto, verification failed or cleanup failed;
2 usage (including a refused confirmation); 3 could not run (nothing to restore, access denied,
interrupted). Cleanup happens on every path.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from drguard import __version__
from drguard import restore_evidence as rev
from drguard.errors import ConfigError

from .. import history_key, org
from ..aws import DEFAULT_REGION, AwsOptions, MutatingCallError, connect
from ..drill import Context, DrillAccount, DrillGuard, Outcome, new_run_id
from ..drill import next as drill_next
from ..drill import report as drill_report
from ..drill import run as run_drill
from ..drill.cluster import ClusterDrill
from ..drill.dynamodb import DynamoDrill
from ..drill.plan import EXIT_NOT_RUN, EXIT_OK, EXIT_USAGE, FAILED, CannotRun, Plan, Step, aws_error
from ..drill.rds import RdsDrill
from ..drill.s3 import S3Drill
from ..drill.state import StateDrill, parse_backend, parse_stack
from ..history_store import history_arg
from ..live import Target
from ..org import Shard
from ..services.restore import read_drills
from ..terminal import shown, shown_lines
from .common import DEFAULT_WORKERS, check_org_options, format_list, load_settings
from .summary import add_history_key, check_history_key, history_store, print_paths

log = logging.getLogger(__name__)

HELP = ("Recovery drill: restore a backup (RDS snapshot or point in time, Aurora/DocumentDB/"
        "Neptune cluster, DynamoDB point in time, Pulumi state checkpoint, S3 object versions) "
        "into scratch resources named drguard-drill-<run id>, "
        "verify it, time it (achieved RTO) and delete the scratch resources. The only command "
        "that creates and deletes; originals are never changed.")


# What `drill next --org` sends from the account it runs in, beside the drill's own reads:
# the organization (DescribeOrganization first, as the scan reads it) and the role assumed in
# each member (docs/drills.md lists them as IAM actions).
ORG_CALLS = ("organizations:DescribeOrganization", *org.CALLS)


def _positive(value: str) -> float:
    try:
        v = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number") from None
    if not v > 0:
        raise argparse.ArgumentTypeError(f"{value!r} must be greater than 0")
    return v


def _region_list(value: str) -> list[str]:
    items = list(dict.fromkeys(v.strip() for v in value.split(",") if v.strip()))
    if not items:
        raise argparse.ArgumentTypeError("expected one or more regions, comma-separated")
    return items


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--rto", type=_positive, metavar="MINUTES",
                   help="target recovery time; slower is exit code 1 (drill next: default the "
                        "chosen resource's target, its dr:rto tag, else its tier's, else "
                        "restore-time-objective's targetRtoMinutes)")
    p.add_argument("--endpoint-url", help="AWS-compatible endpoint (the moto server in tests)")
    p.add_argument("--profile", help="AWS profile (default: the standard boto3 chain)")
    p.add_argument("--region", help=f"region of the original when not in an ARN (default: the "
                   f"profile's or AWS_DEFAULT_REGION, else {DEFAULT_REGION})")
    p.add_argument("--dry-run", action="store_true",
                   help="print the plan (the API calls it would make) and stop")
    p.add_argument("--yes", action="store_true", help="do not ask before acting")
    p.add_argument("--output-dir", type=Path, default=Path("dr-audit-report"))
    p.add_argument("--format", type=format_list(drill_report.FORMATS, drill_report.FORMATS),
                   default=list(drill_report.FORMATS),
                   help=f"comma-separated subset of {','.join(drill_report.FORMATS)}")
    p.add_argument("--history", type=history_arg, metavar="DIR|s3://BUCKET/PREFIX",
                   help="keep each drill's summary here (S3: one new object per run); the "
                   "report shows RTO over time, `drill next` reads it as restore evidence")
    add_history_key(p)
    p.add_argument("--poll-seconds", type=_positive, default=15.0,
                   help="seconds between status checks while waiting (default 15)")
    p.add_argument("--wait-minutes", type=_positive, default=120.0,
                   help="give up waiting for a restore or a deletion after this (default 120)")


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="drill_kind", required=True, metavar="KIND")
    r = sub.add_parser("rds", help="restore an RDS DB instance into a scratch instance",
                       description="Restore the newest snapshot (or the latest restorable time) "
                       "of a DB instance into a scratch instance, wait until available, verify "
                       "engine and storage (and optionally SQL), time it, delete it.")
    r.add_argument("--db", required=True, metavar="ID|ARN", help="the DB instance")
    r.add_argument("--from", dest="source", choices=("snapshot", "pitr"), default="snapshot",
                   help="newest snapshot (default) or point-in-time restore")
    r.add_argument("--target-region", help="restore there (default: the instance's region)")
    r.add_argument("--instance-class", help="class of the scratch instance (default: as "
                   "backed up)")
    r.add_argument("--subnet-group", help="DB subnet group of the scratch instance")
    r.add_argument("--security-group", action="append", default=[], metavar="SG_ID",
                   help="VPC security group of the scratch instance (repeatable)")
    r.add_argument("--check-sql", metavar="QUERY",
                   help="run QUERY on the scratch instance with psql/mysql when reachable "
                   "(password in DRGUARD_DRILL_DB_PASSWORD); skipped with the reason otherwise")
    _common(r)
    c = sub.add_parser("cluster", help="restore an Aurora/DocumentDB/Neptune cluster into a "
                       "scratch cluster plus one instance",
                       description="Restore the newest cluster snapshot (or the latest "
                       "restorable time) into a scratch cluster, add one instance, wait until "
                       "both are available, verify engine and encryption, time it, delete both.")
    c.add_argument("--cluster", required=True, metavar="ID|ARN", help="the DB cluster")
    c.add_argument("--from", dest="source", choices=("snapshot", "pitr"), default="snapshot",
                   help="newest cluster snapshot (default) or point-in-time restore")
    c.add_argument("--instance-class", help="class of the scratch instance (default: the "
                   "original's)")
    c.add_argument("--subnet-group", help="DB subnet group of the scratch cluster")
    c.add_argument("--security-group", action="append", default=[], metavar="SG_ID",
                   help="VPC security group of the scratch cluster (repeatable)")
    _common(c)
    d = sub.add_parser("dynamodb", help="point-in-time restore of a table into a scratch table",
                       description="Restore the latest restorable time of a DynamoDB table "
                       "into a scratch table, wait until active, compare the item count and a "
                       "sample of items by key, time it, delete it.")
    d.add_argument("--table", required=True, metavar="NAME|ARN")
    d.add_argument("--sample", type=int, default=20, help="items compared by key (default 20)")
    _common(d)
    n = sub.add_parser("next", help="drill the resource whose restore evidence is missing or "
                       "oldest",
                       description="Among the RDS instances, DB clusters, DynamoDB tables, "
                       "backup buckets and the Pulumi state backend (the stateBucket setting) "
                       "of the region or --regions (scratch resources and waived ones left "
                       "out), choose the one with no restore evidence, else the oldest (drills "
                       "in --history and AWS Backup restore jobs alike), say why, and drill it.")
    n.add_argument("--tier", type=str.lower,
                   help="only resources of this tier (the dr:tier tag, or the config's tier of "
                        "the application their dr:app tag names)")
    n.add_argument("--regions", type=_region_list, metavar="R1,R2",
                   help="choose among the resources of these regions (default: --region's); "
                        "the chosen one is drilled in its own region")
    n.add_argument("--config", type=Path, help="YAML/JSON config: its waivers (control "
                   "restore-time-objective, or *) leave resources out; its backup-bucket scope "
                   "and stateBucket add buckets; its applications give tiers")
    n.add_argument("--org", action="store_true",
                   help="choose among the resources of every active account of the "
                        "organization (needs --role-name), and drill in the chosen one's account")
    n.add_argument("--role-name", help="role assumed in each account with --org, e.g. "
                   "OrganizationAccountAccessRole (it needs the reads and the drill's writes)")
    n.add_argument("--external-id", help="external id for the roles assumed")
    n.add_argument("--shard", metavar="I/N",
                   help="with --org: choose only among the I-th of N stable subsets of the "
                        "accounts (by a hash of the account id, as `scan --shard`)")
    n.add_argument("--workers", type=_workers, default=DEFAULT_WORKERS,
                   help=f"with --org: accounts opened and read in parallel (default "
                        f"{DEFAULT_WORKERS}); the choice is the same whatever the number")
    _common(n)
    s = sub.add_parser("state", help="restore the previous Pulumi checkpoint to a scratch key",
                       description="Restore the previous version of a stack's checkpoint "
                       "(S3 versioning) to a scratch key, validate it as an importable "
                       "deployment, compare it with the current one, time it, delete it.")
    s.add_argument("--backend", required=True, metavar="s3://BUCKET[/PREFIX]")
    s.add_argument("--stack", required=True, metavar="ORG/PROJECT/STACK")
    s.add_argument("--scratch-bucket", help="copy there instead of the state bucket (default: "
                   "the state bucket, or a scratch bucket the drill makes when the state bucket "
                   "locks or replicates new objects)")
    _common(s)
    o = sub.add_parser("s3", help="restore earlier object versions to a scratch prefix",
                       description="Restore the previous version of a deleted or overwritten "
                       "object (or a sample of them) into a scratch prefix, verify size and "
                       "SHA-256, time it, delete the copies.")
    o.add_argument("--bucket", required=True)
    o.add_argument("--key", help="one object (default: a sample of the most recently deleted "
                   "or overwritten objects)")
    o.add_argument("--sample", type=int, default=3, help="how many objects without --key "
                   "(default 3)")
    o.add_argument("--scratch-bucket", help="copy there instead (default: the bucket, or a "
                   "scratch bucket the drill makes when the bucket locks or replicates new "
                   "objects)")
    _common(o)


def _drill(args: argparse.Namespace, run_id: str, region: str) -> Any:
    if args.drill_kind == "rds":
        return RdsDrill(db=args.db, region=region, source=args.source,
                        target_region=args.target_region, instance_class=args.instance_class,
                        subnet_group=args.subnet_group,
                        security_groups=tuple(args.security_group), check_sql=args.check_sql,
                        run_id=run_id)
    if args.drill_kind == "cluster":
        return ClusterDrill(cluster=args.cluster, region=region, source=args.source,
                            instance_class=args.instance_class, subnet_group=args.subnet_group,
                            security_groups=tuple(args.security_group), run_id=run_id)
    if args.drill_kind == "dynamodb":
        return DynamoDrill(table=args.table, region=region, sample=args.sample, run_id=run_id)
    if args.drill_kind == "state":
        return StateDrill(backend=args.backend, stack=args.stack,
                          scratch_bucket=args.scratch_bucket, run_id=run_id)
    return S3Drill(bucket=args.bucket, key=args.key, sample=args.sample,
                   scratch_bucket=args.scratch_bucket, run_id=run_id)


def _target(args: argparse.Namespace) -> str:
    if args.drill_kind == "rds":
        return str(args.db).rsplit(":", 1)[-1]
    if args.drill_kind == "cluster":
        return str(args.cluster).rsplit(":", 1)[-1]
    if args.drill_kind == "dynamodb":
        return str(args.table).rsplit("/", 1)[-1]
    if args.drill_kind == "state":
        return f"{args.backend.rstrip('/')} {args.stack}"
    return f"s3://{args.bucket}" + (f"/{args.key}" if args.key else "")


def _check_usage(args: argparse.Namespace) -> None:
    """Usage errors found before any AWS call (ConfigError -> exit 2)."""
    check_history_key(args)
    try:
        if args.drill_kind == "state":
            parse_backend(args.backend)
            parse_stack(args.stack)
    except ValueError as e:
        raise ConfigError(str(e)) from None
    if args.drill_kind in ("s3", "dynamodb") and args.sample < 1:
        raise ConfigError("--sample must be at least 1")
    try:
        args.output_dir.mkdir(parents=True, exist_ok=True)
        probe = args.output_dir / ".dr-audit-write-test"
        probe.write_text("", encoding="utf-8")
        probe.unlink()
    except OSError as e:
        raise ConfigError(f"{args.output_dir}: --output-dir is not writable "
                          f"({e.strerror or e})") from None
    if isinstance(args.history, Path):
        drill_report.check_history_dir(args.history)


def _confirm(plan: Plan) -> bool:
    """Ask on the terminal; False when stdin is not one or the answer is not yes."""
    if not sys.stdin.isatty():
        print("dr-audit: error: a drill creates and deletes scratch resources; refusing to act "
              "without --yes when stdin is not a terminal (use --dry-run to see the plan)",
              file=sys.stderr)
        return False
    print(shown_lines(plan.text()), file=sys.stderr)
    try:
        answer = input("Run this drill? [y/N] ")
    except EOFError:
        answer = ""
    if answer.strip().lower() not in ("y", "yes"):
        print("dr-audit: drill not run (not confirmed)", file=sys.stderr)
        return False
    return True


def _explain(chosen: rev.Evidence, evidence: list[rev.Evidence], found: drill_next.Found,
             tier: str | None, now: dt.datetime, org: bool = False) -> dict[str, Any]:
    r = chosen.resource
    pool = [e for e in evidence if tier is None or e.resource.tier == tier]
    why = (f"{r.kind} {r.detail or r.name} ({r.region}"
           f"{f', account {r.account}' if org else ''}"
           f"{f', tier {r.tier}' if r.tier else ''}): {chosen.describe(now)}; chosen among "
           f"{len(pool)} candidate(s){f' of tier {tier}' if tier else ''} as the one "
           + ("with no restore evidence" if chosen.tried is None else
              "tried longest ago (its last drill could not run)" if chosen.failed else
              "with the oldest restore evidence"))
    candidates: list[dict[str, Any]] = [
        {"kind": e.resource.kind, "target": e.resource.detail or e.resource.name,
         "region": e.resource.region, "tier": e.resource.tier, "evidence": e.describe(now),
         **({"account": e.resource.account} if org else {})} for e in pool]
    out: dict[str, Any] = {"why": why, "kind": r.kind, "target": r.name, "region": r.region,
                           "tier": r.tier, "candidates": candidates, "left_out": found.left_out,
                           "read_errors": found.errors, "notes": found.notes}
    if org:
        out["account"] = r.account
    return out


def _workers(value: str) -> int:
    try:
        n = int(value)
    except ValueError:
        n = 0
    if not 1 <= n <= 64:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number from 1 to 64")
    return n


def _parallel(workers: int) -> Any:
    """A mapper (as org.open_accounts takes) running each call on a pool of `workers` threads,
    results in the order of the items."""
    def mapper(fn: Any, items: Any) -> list[Any]:
        items = list(items)
        if workers <= 1 or len(items) <= 1:
            return [fn(*item) for item in items]
        with ThreadPoolExecutor(max_workers=min(workers, len(items)),
                                thread_name_prefix="dr-audit-drill") as pool:
            return list(pool.map(lambda item: fn(*item), items))
    return mapper


def _accounts(args: argparse.Namespace, reader: Any,
              shard: Shard | None) -> tuple[list[Target], list[dict[str, Any]]]:
    """The accounts to choose among: the reader's alone, or (--org) every active account of
    the organization, the role assumed in each member; and each one's status for the report."""
    if not args.org:
        return [Target(reader.id, None, reader)], []
    view = org.read_org(reader)  # ConfigError (exit 2) when the organization cannot be listed
    targets = org.open_accounts(reader, view, args.role_name, args.external_id,
                                _parallel(args.workers), shard)
    status = []
    for t in targets:
        entry: dict[str, Any] = {"id": t.id, "name": t.name,
                                 "status": "error" if t.error else "read"}
        if t.error is not None:
            entry["error"] = " ".join(str(t.error).split())
            print(shown(f"dr-audit: drill next: account {t.id}"
                        f"{f' ({t.name})' if t.name else ''} not read, its resources are not "
                        f"candidates: {entry['error']}"), file=sys.stderr)
        status.append(entry)
    return targets, status


def run_next(args: argparse.Namespace) -> int:
    """Choose what to drill (reads only), say why, then drill it like `drill KIND`."""
    settings = load_settings(args)
    shard = check_org_options(args)
    check_history_key(args)  # a usage error before any read
    if isinstance(args.history, Path):  # before choosing: an unusable history is no evidence
        drill_report.check_history_dir(args.history)
    options = AwsOptions(profile=args.profile, endpoint_url=args.endpoint_url,
                         region=args.region)
    try:
        reader = connect(options)
    except (ClientError, BotoCoreError) as e:
        print(shown(f"dr-audit: drill next: cannot read the account: {aws_error(e)}"),
              file=sys.stderr)
        return EXIT_NOT_RUN
    region = args.region or reader.session.region_name or DEFAULT_REGION
    regions = args.regions or [region]
    targets, account_status = _accounts(args, reader, shard)
    history_unknown: dict[str, str] = {}
    store = history_store(args)
    drills: list[dict[str, Any]] = []
    notes: list[str] = []
    if store is None:
        history_unknown["*"] = "no --history given: earlier drills are not known"
    else:
        try:
            history_read = read_drills(store, key=history_key.from_arg(args.history_key))
        except ConfigError as e:  # the history cannot be listed: every drill is unknown
            history_unknown["*"] = f"the drill history could not be read ({e})"
        else:  # skipped and counted, named: not unknown evidence forever
            drills = history_read.entries
            notes.extend(history_read.notes(store.where))
    now = dt.datetime.now(dt.UTC)
    found = drill_next.Found(notes=notes)
    by_account: dict[str | None, drill_next.Found] = {}
    evidence: list[rev.Evidence] = []
    def read(target: Target) -> tuple[drill_next.Found, list[rev.Evidence]] | None:
        """One account's candidates and their evidence (reads only), None when its role
        could not be assumed."""
        if target.account is None:
            return None
        mine = drill_next.discover(target.account, regions, settings)
        unknown = dict(history_unknown)
        jobs: list[dict[str, Any]] = []
        for r in regions:  # a restore test may run in another region (the DR region's copy)
            got, why = drill_next.restore_jobs(target.account, r)
            jobs += got
            if why:
                unknown[f"*{r}"] = why
        # per account: one account's unreadable restore jobs are unknown for its resources only
        return mine, rev.gather(mine.resources, drills, jobs, unknown, now)

    # accounts read side by side, gathered in the organization's order: the same choice and
    # the same report whatever the number of workers
    for target, got in zip(targets, _parallel(args.workers)(read, [(t,) for t in targets]),
                           strict=True):
        if got is None or target.account is None:  # no candidates, no evidence
            found.errors.append(f"account {target.id}: {' '.join(str(target.error).split())}")
            continue
        mine, theirs = got
        evidence += theirs
        by_account[target.account.id] = mine
        where = f"account {target.id}: " if args.org else ""
        found.resources += mine.resources
        found.left_out += [where + x for x in mine.left_out]
        found.errors += [where + x for x in mine.errors]
        found.notes += [where + x for x in mine.notes]
    chosen = rev.pick(evidence, args.tier)
    for err in found.errors:
        print(shown(f"dr-audit: drill next: could not list {err}"), file=sys.stderr)
    if chosen is None:
        accounts = f" of {len(targets)} account(s)" if args.org else ""
        print(f"dr-audit: drill next: nothing to drill in {', '.join(regions)}{accounts}"
              f"{f' with tier {args.tier}' if args.tier else ''} "
              f"({len(found.resources)} candidate(s), {len(found.left_out)} left out)",
              file=sys.stderr)
        return EXIT_NOT_RUN
    explained = _explain(chosen, evidence, found, args.tier, now, args.org)
    if args.org:
        explained["accounts"] = account_status
    print(shown(f"drill next: {explained['why']}"))
    for c in explained["candidates"]:
        print(shown(f"  {c['kind']:<9} {c['target']} ({c['region']}"
                    f"{', account ' + str(c['account']) if args.org else ''}"
                    f"{', tier ' + c['tier'] if c['tier'] else ''}): {c['evidence']}"))
    for line in found.left_out:
        print(shown(f"  left out: {line}"))
    for line in found.notes:
        print(shown(f"  note: {line}"))
    r = chosen.resource
    targets_of = by_account[r.account].targets
    if args.rto is None and (r.kind, r.name) in targets_of:
        # the drill is timed against the target the scan judges this resource by
        args.rto, source = targets_of[(r.kind, r.name)]
        print(f"  target: {args.rto:g} min ({source})")
    args.drill_kind = r.kind
    args.region = r.region
    args.next = explained
    # a member account is drilled through the role assumed in it; the account the command
    # runs in (the management account with --org) through its own credentials, as scan does
    args.drill_role_arn = (org.role_arn(r.account, args.role_name)
                           if args.org and r.account and r.account != reader.id else None)
    defaults: dict[str, dict[str, Any]] = {
        "rds": {"db": r.name, "source": "snapshot", "target_region": None,
                "instance_class": None, "subnet_group": None, "security_group": [],
                "check_sql": None},
        "cluster": {"cluster": r.name, "source": "snapshot", "instance_class": None,
                    "subnet_group": None, "security_group": []},
        "dynamodb": {"table": r.name, "sample": 20},
        "s3": {"bucket": r.name, "key": None, "sample": 3, "scratch_bucket": None},
        "state": {"backend": r.detail.split(" ", 1)[0], "stack": r.detail.split(" ", 1)[-1],
                  "scratch_bucket": None}}
    for k, v in defaults[r.kind].items():
        setattr(args, k, v)
    return run(args)


def run(args: argparse.Namespace) -> int:
    if args.drill_kind == "next":
        return run_next(args)
    _check_usage(args)
    started = dt.datetime.now(dt.UTC)
    run_id = new_run_id(started)
    role_arn = getattr(args, "drill_role_arn", None)
    options = AwsOptions(profile=args.profile, endpoint_url=args.endpoint_url,
                         region=args.region, role_arn=role_arn,
                         external_id=getattr(args, "external_id", None) if role_arn else None)
    region = args.region or DEFAULT_REGION
    steps: list[Step] = []
    plan: Plan | None = None
    outcome: Outcome | None = None
    account_id = ""
    t0 = time.monotonic()
    try:
        reader = connect(options)  # the auditor's read-only session: prepare cannot write
        account_id = reader.id
        region = args.region or reader.session.region_name or DEFAULT_REGION
        drill = _drill(args, run_id, region)
        plan = drill.prepare(reader)
        steps.append(Step("find the recovery point", time.monotonic() - t0))
    except (ConfigError, CannotRun, ClientError, BotoCoreError, MutatingCallError) as e:
        reason = str(e) if isinstance(e, ConfigError | CannotRun) else aws_error(e)
        steps.append(Step("find the recovery point", time.monotonic() - t0, FAILED, reason))
        outcome = Outcome("not-run", reason, failed_step="find the recovery point")
    if plan is not None and args.dry_run:
        print(shown_lines(plan.text()))
        print(f"dry run: nothing was created (run id would be {run_id})", file=sys.stderr)
        return EXIT_OK
    if outcome is None and plan is not None:
        if not args.yes and not _confirm(plan):
            return EXIT_USAGE
        guard = DrillGuard(run_id)
        account = DrillAccount(options, guard)
        ctx = Context(run_id, account, plan, poll_seconds=args.poll_seconds,
                      wait_seconds=args.wait_minutes * 60, steps=steps)
        outcome = run_drill(drill, ctx)
        rto = drill.rto_seconds(ctx)
        result, calls = ctx.result, [c.to_dict() for c in guard.calls]
    else:
        assert outcome is not None
        if args.dry_run:
            print(shown(f"dr-audit: drill cannot run: {outcome.error}"), file=sys.stderr)
            return EXIT_NOT_RUN
        rto, result, calls = None, {}, []
    return _finish(args, run_id, started, account_id, region, plan, steps, outcome, rto,
                   result, calls)


def _finish(args: argparse.Namespace, run_id: str, started: dt.datetime, account_id: str,
            region: str, plan: Plan | None, steps: list[Step], outcome: Outcome,
            rto: float | None, result: dict[str, Any], calls: list[dict[str, Any]]) -> int:
    target_s = args.rto * 60 if args.rto is not None else None
    verified = outcome.status == "verified"
    code = drill_report.exit_code(verified, outcome.status, rto, target_s, outcome.cleaned_up)
    section: dict[str, Any] = {
        "kind": args.drill_kind, "target": plan.target if plan else _target(args),
        "steps": [s.to_dict() for s in steps],
        "rto_seconds": round(rto, 3) if rto is not None else None,
        "rto_target_seconds": target_s, "verified": verified,
        "cleaned_up": outcome.cleaned_up, "run_id": run_id, "outcome": outcome.status,
        "exit_code": code, "error": outcome.error or None,
        "failed_step": outcome.failed_step or None,
        "left_behind": outcome.left_behind, "region": plan.region if plan else region,
        # where the original lives (an RDS drill may restore into another region) and whose
        # it is: what restore evidence is matched by
        "source_region": (plan.data.get("region") if plan else None) or
        (plan.region if plan else region),
        "account": account_id or None,
        "found": plan.found if plan else {}, "notes": plan.notes if plan else [],
        "checks": result.get("checks", []),
        "details": {k: v for k, v in result.items() if k != "checks"},
        "calls": calls,
    }
    if getattr(args, "next", None):
        section["next"] = args.next
    section["summary"] = drill_report.outcome_text(section)
    finished = dt.datetime.now(dt.UTC)
    store = history_store(args)
    if store is not None:
        entry = drill_report.history_entry(section, started.isoformat(timespec="seconds"))
        try:
            key = history_key.from_arg(args.history_key)
            drill_report.save_history(store, entry, key)
            entries, skipped = drill_report.load_history(store, args.drill_kind,
                                                         section["target"], key)
        except ConfigError as e:  # the drill happened: its report is still written
            log.error("%s", e)
            entries, skipped = [], 0
            section["history_error"] = str(e)
        section["history"] = {"dir": store.where, "runs": entries,
                              "skipped_files": skipped,
                              "chart": drill_report.chart(entries, target_s)}
    meta = {"command": f"drill {'next ' if getattr(args, 'next', None) else ''}"
                       f"{args.drill_kind}", "tool_version": __version__,
            "started": started.isoformat(timespec="seconds"),
            "finished": finished.isoformat(timespec="seconds"),
            "accounts": [account_id] if account_id else [], "regions": [section["region"]],
            "endpoint_url": args.endpoint_url, "drill": section}
    paths = drill_report.write(meta, args.output_dir, args.format)
    print(shown(f"dr-audit: drill {args.drill_kind} {section['target']}: {section['summary']} "
                f"(exit code {code})"), file=sys.stderr)
    print_paths(paths)
    return code
