"""One account, 8 seeded gaps: `dr-audit scan` against Prowler 5.x running its 8 nearest checks,
same emulator, same run.

    .venv/bin/python benchmarks/vs_prowler.py [--prowler /tmp/prowler-venv/bin/prowler]
                                              [--rounds 3] [--region us-east-1]
                                              [--latency-ms 0]

Prowler is not a dependency of this project: install it in a throwaway venv of its own, e.g.

    python3.11 -m venv /tmp/prowler-venv
    /tmp/prowler-venv/bin/pip install prowler==5.46.0

Without it (no --prowler, or the path does not run) the script says so, times only our scan,
and exits 0: benchmarks are not part of the test suite.

One emulator (a moto server on loopback, its own process) holds one account (the emulator's
default, 123456789012) with the 8 gaps of GAPS, each next to a compliant twin so a tool that
flags everything is visible. Both tools reach it only through its endpoint and fake
credentials (Prowler through `AWS_ENDPOINT_URL`, which boto3 honours for every client). Both
run with their bytecode compiled (pip compiled Prowler's; this checkout is compiled first,
as an installed package would be) after one untimed warm-up run each. `--latency-ms` adds
the same delay before every HTTP attempt of both, as the network to AWS would, through the
sitecustomize of benchmarks/peer_hooks.py (which also counts each tool's API calls); 0, the
default, is the bare emulator. Per round, interleaved (so load from other jobs hits both
alike), each in a fresh process:

- ours: `dr-audit scan --endpoint-url URL --regions REGION --format json` (every live control,
  not only the 8);
- Prowler: `prowler aws --checks <the 8 of GAPS> --region REGION --output-formats json-ocsf`.

Printed: wall, CPU (user + system of the process and its children), peak RSS and API calls
of each, the ratios (median of the rounds), and which seeded gaps each found (a FAIL on the
seeded resource, and none on its compliant twin).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import peer_hooks  # benchmarks/, next to this script
from _bytecode import compile_checkout

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

ACCOUNT = "123456789012"  # the emulator's default account
DR_REGION = "us-west-2"


@dataclass(frozen=True)
class Gap:
    """One seeded gap: our control, Prowler's nearest check, the resource that has the gap
    (and its compliant twin, which must not be flagged), and why that check is nearest."""

    control: str
    check: str
    resource: str
    twin: str
    why: str


def _bucket(name: str) -> str:
    return f"arn:aws:s3:::{name}"


def _db(region: str, name: str) -> str:
    return f"arn:aws:rds:{region}:{ACCOUNT}:db:{name}"


def _table(region: str, name: str) -> str:
    return f"arn:aws:dynamodb:{region}:{ACCOUNT}:table/{name}"


def gaps(region: str) -> list[Gap]:
    return [
        Gap("backup-bucket-versioning", "s3_bucket_object_versioning",
            _bucket("acme-backup-noversion"), _bucket("acme-backup-good"),
            "both ask GetBucketVersioning whether versioning is Enabled (ours only for "
            "backup buckets, Prowler for every bucket)"),
        Gap("backup-bucket-object-lock", "s3_bucket_object_lock",
            _bucket("acme-backup-nolock"), _bucket("acme-backup-good"),
            "both read GetObjectLockConfiguration; ours also judges mode and retention days"),
        Gap("backup-bucket-replication", "s3_bucket_cross_region_replication",
            _bucket("acme-backup-norepl"), _bucket("acme-backup-good"),
            "both read GetBucketReplication and want an enabled rule to a bucket in "
            "another region"),
        Gap("backup-bucket-public-access-block", "s3_bucket_level_public_access_block",
            _bucket("acme-backup-open"), _bucket("acme-backup-good"),
            "both read the bucket's GetPublicAccessBlock and want all four settings on "
            "(Prowler also accepts the account-level block, which is not set here)"),
        Gap("rds-backup-retention", "rds_instance_backup_enabled",
            _db(region, "orders-nobackup"), _db(region, "ledger-good"),
            "both read DescribeDBInstances' BackupRetentionPeriod; Prowler fails 0 days "
            "(seeded), ours fails below the configured minimum (7)"),
        Gap("rds-deletion-protection", "rds_instance_deletion_protection",
            _db(region, "billing-unprotected"), _db(region, "ledger-good"),
            "both read DeletionProtection from DescribeDBInstances"),
        Gap("cloudtrail-enabled", "cloudtrail_multi_region_enabled",
            f"account:{ACCOUNT}", "",
            "no trail at all: both want a logging multi-region trail (DescribeTrails, "
            "GetTrailStatus); the gap is the account's, not a resource's"),
        Gap("dynamodb-recovery", "dynamodb_tables_pitr_enabled",
            _table(region, "sessions-nopitr"), _table(region, "ledger-good"),
            "both read DescribeContinuousBackups' point-in-time recovery status"),
    ]


# ---- the account ----------------------------------------------------------------------------

def seed(url: str, region: str) -> None:
    """The 8 gaps of `gaps()` and a compliant twin of each, through the repo's seed helpers."""
    from auditor.demo_seed import _PAB, _lock, _Seeder

    s = _Seeder(url)
    s3 = s.client("s3", region)

    def bucket(name: str, *, versioning: bool = True, lock: bool = True,
               replication: bool = True, pab: bool = True) -> None:
        s.bucket(name, region, lock=lock)
        if versioning and not lock:
            s3.put_bucket_versioning(Bucket=name,
                                     VersioningConfiguration={"Status": "Enabled"})
        if lock:
            _lock(s3, name, "COMPLIANCE", 30)
        if pab:
            s3.put_public_access_block(Bucket=name, PublicAccessBlockConfiguration=_PAB)
        if replication:
            replica = f"{name}-replica"
            dest = s.bucket(replica, DR_REGION)
            dest.put_bucket_versioning(Bucket=replica,
                                       VersioningConfiguration={"Status": "Enabled"})
            s3.put_bucket_replication(Bucket=name, ReplicationConfiguration={
                "Role": f"arn:aws:iam::{ACCOUNT}:role/replication",
                "Rules": [{"ID": "dr", "Status": "Enabled", "Priority": 1, "Filter": {},
                           "DeleteMarkerReplication": {"Status": "Disabled"},
                           "Destination": {"Bucket": _bucket(replica)}}]})

    bucket("acme-backup-good")
    bucket("acme-backup-noversion", versioning=False, lock=False, replication=False)
    bucket("acme-backup-nolock", lock=False)
    bucket("acme-backup-norepl", replication=False)
    bucket("acme-backup-open", pab=False)

    s.db("ledger-good", region, "postgres", retention=14, protect=True)
    s.db("orders-nobackup", region, "postgres", retention=0, protect=True)
    s.db("billing-unprotected", region, "postgres", retention=14, protect=False)

    ddb = s.client("dynamodb", region)
    for table in ("ledger-good", "sessions-nopitr"):
        ddb.create_table(TableName=table, BillingMode="PAY_PER_REQUEST",
                         DeletionProtectionEnabled=table == "ledger-good",
                         AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                         KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}])
    ddb.update_continuous_backups(TableName="ledger-good", PointInTimeRecoverySpecification={
        "PointInTimeRecoveryEnabled": True})
    # no CloudTrail trail: the cloudtrail-enabled gap


# ---- the runs -------------------------------------------------------------------------------

@dataclass
class Run:
    wall: float
    cpu: float
    rss_mb: float
    code: int
    flagged: set[tuple[str, str]]  # (control or check, resource)
    calls: int
    stderr: str = ""


def timed(cmd: list[str], env: dict[str, str]) -> tuple[float, float, float, int, str]:
    """Wall, CPU (user + system, the process and what it waited for) and peak RSS of one
    fresh process (os.wait4 gives that process's own rusage)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert proc.stderr is not None
    err = proc.stderr.read()  # drained while it runs, so a chatty child never blocks
    _, status, ru = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    return (wall, ru.ru_utime + ru.ru_stime, ru.ru_maxrss / 1024, proc.returncode,
            err.decode(errors="replace")[-2000:])


def hooked_env(base: dict[str, str], site: Path, latency_ms: float, calls: Path,
               pythonpath: str = "") -> dict[str, str]:
    calls.unlink(missing_ok=True)
    env = {k: v for k, v in base.items() if k != "PYTHONDONTWRITEBYTECODE"}
    return {**env, "PYTHONPATH": os.pathsep.join(p for p in (str(site), pythonpath) if p),
            "DRG_BENCH_LATENCY": str(latency_ms / 1000), "DRG_BENCH_CALLS": str(calls)}


def run_ours(url: str, region: str, out: Path, site: Path, latency_ms: float) -> Run:
    from auditor.emulator import CREDENTIALS

    shutil.rmtree(out, ignore_errors=True)
    calls = out.with_suffix(".calls")
    env = hooked_env({**os.environ, **CREDENTIALS}, site, latency_ms, calls, str(ROOT))
    env.pop("AWS_ENDPOINT_URL", None)
    cmd = [sys.executable, "-m", "auditor", "scan", "--endpoint-url", url, "--regions", region,
           "--format", "json", "--output-dir", str(out)]
    wall, cpu, rss, code, err = timed(cmd, env)
    flagged: set[tuple[str, str]] = set()
    report = out / "report.json"
    if report.exists():
        for f in json.loads(report.read_text())["findings"]:
            if f["status"] == "fail":
                flagged.add((f["control"], f.get("resource") or ""))
                if f["control"] == "cloudtrail-enabled":  # an account-wide result
                    flagged.add((f["control"], f"account:{f.get('account')}"))
    n = sum(peer_hooks.calls_by_service(calls).values())
    return Run(wall, cpu, rss, code, flagged, n, err)


def prowler_env(url: str) -> dict[str, str]:
    from auditor.emulator import CREDENTIALS

    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "PYTHON"))}
    return {**env, **CREDENTIALS, "AWS_ENDPOINT_URL": url}


def run_prowler(prowler: str, url: str, region: str, checks: list[str], out: Path,
                site: Path, latency_ms: float) -> Run:
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    calls = out.with_suffix(".calls")
    cmd = [prowler, "aws", "--checks", *checks, "--region", region,
           "--output-formats", "json-ocsf", "--output-directory", str(out),
           "--output-filename", "prowler", "--no-banner"]
    wall, cpu, rss, code, err = timed(cmd, hooked_env(prowler_env(url), site, latency_ms,
                                                      calls))
    flagged: set[tuple[str, str]] = set()
    for path in out.rglob("*.ocsf.json"):
        for f in json.loads(path.read_text() or "[]"):
            if f.get("status_code") != "FAIL":
                continue
            check = f.get("metadata", {}).get("event_code", "")
            for r in f.get("resources", []):
                flagged.add((check, r.get("uid", "")))
            if check.startswith("cloudtrail_"):  # an account-wide result
                flagged.add((check, f"account:{ACCOUNT}"))
    n = sum(peer_hooks.calls_by_service(calls).values())
    return Run(wall, cpu, rss, code, flagged, n, err)


def found(run: Run, key: str, gap: Gap) -> str:
    hit = any(k == key and r == gap.resource for k, r in run.flagged)
    twin = gap.twin and any(k == key and r == gap.twin for k, r in run.flagged)
    return ("found" if hit else "MISSED") + (" (twin flagged too)" if twin else "")


def prowler_runs(path: str | None) -> str | None:
    """The Prowler executable if it answers --version, else None (with the reason printed)."""
    if not path:
        print("Prowler: not given (--prowler PATH); timing only our scan. Install it with\n"
              "  python3.11 -m venv /tmp/prowler-venv && "
              "/tmp/prowler-venv/bin/pip install prowler==5.46.0")
        return None
    exe = shutil.which(path) or path
    try:
        v = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=120,
                           env=prowler_env("http://127.0.0.1:9"))
    except (OSError, subprocess.TimeoutExpired) as e:
        print(f"Prowler: {exe} does not run ({e}); timing only our scan.")
        return None
    print(f"Prowler: {exe}: {(v.stdout or v.stderr).strip().splitlines()[-1:]}")
    return exe


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--prowler", help="the prowler executable (its own venv)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--region", default="us-east-1")
    ap.add_argument("--latency-ms", type=float, default=0.0,
                    help="delay before every HTTP attempt of both tools (default 0: the bare "
                         "emulator)")
    a = ap.parse_args()

    from auditor.emulator import CREDENTIALS, MotoServer

    os.environ.update(CREDENTIALS)
    prowler = prowler_runs(a.prowler)
    todo = gaps(a.region)
    checks = [g.check for g in todo]
    runs: dict[str, list[Run]] = {"ours": [], "prowler": []}
    compile_checkout(ROOT)
    with MotoServer() as server, tempfile.TemporaryDirectory() as tmp:
        seed(server.url, a.region)
        site = peer_hooks.write_site(Path(tmp, "site"))

        def ours() -> Run:
            return run_ours(server.url, a.region, Path(tmp, "ours"), site, a.latency_ms)

        def theirs() -> Run:
            assert prowler is not None
            return run_prowler(prowler, server.url, a.region, checks, Path(tmp, "prowler"),
                               site, a.latency_ms)

        ours()  # warm-up (not timed): the file cache, and the emulator's first answers
        if prowler:
            theirs()
        print(f"seeded one account ({ACCOUNT}, {a.region}) with {len(todo)} gaps; "
              f"{a.latency_ms:g} ms per request; {a.rounds} interleaved rounds after a "
              f"warm-up, each tool in a fresh process; load average "
              f"{os.getloadavg()[0]:.2f}")
        for i in range(a.rounds):
            runs["ours"].append(ours())
            if prowler:
                runs["prowler"].append(theirs())
            row = "  ".join(f"{k} {r[-1].wall:.2f} s wall, {r[-1].cpu:.2f} s CPU "
                            f"(exit {r[-1].code})" for k, r in runs.items() if r)
            print(f"round {i + 1}: {row}", flush=True)
        print(f"load average after: {os.getloadavg()[0]:.2f}")

    def med(kind: str, attr: str) -> float:
        return statistics.median(getattr(r, attr) for r in runs[kind])

    print(f"\n{'':<9} {'wall s':>8} {'CPU s':>8} {'peak RSS MB':>12} {'API calls':>10}")
    for kind, got in runs.items():
        if got:
            print(f"{kind:<9} {med(kind, 'wall'):>8.2f} {med(kind, 'cpu'):>8.2f} "
                  f"{med(kind, 'rss_mb'):>12.0f} {med(kind, 'calls'):>10.0f}")
    if runs["prowler"]:
        print(f"\nours faster than Prowler: {med('prowler', 'wall') / med('ours', 'wall'):.1f}x "
              f"wall, {med('prowler', 'cpu') / med('ours', 'cpu'):.1f}x CPU "
              f"(goal: >= 15x); peak RSS {med('prowler', 'rss_mb') / med('ours', 'rss_mb'):.1f}x "
              "less")
    print(f"\n{'seeded gap (our control)':<36} {'Prowler check':<38} {'ours':<8} Prowler")
    last_ours = runs["ours"][-1]
    last_prowler = runs["prowler"][-1] if runs["prowler"] else None
    for g in todo:
        theirs = found(last_prowler, g.check, g) if last_prowler else "not run"
        print(f"{g.control:<36} {g.check:<38} {found(last_ours, g.control, g):<8} {theirs}")
    print(f"\nall findings: ours {len(last_ours.flagged)} failing (control, resource) pairs"
          + (f", Prowler {len(last_prowler.flagged)}" if last_prowler else ""))
    for kind, got in runs.items():
        if got and got[-1].code not in (0, 1, 3) and got[-1].stderr:
            print(f"\n{kind} exited {got[-1].code}; its stderr ends:\n{got[-1].stderr}")
    print("\nwhy each check is the nearest:")
    for g in todo:
        print(f"  {g.control} ~ {g.check}: {g.why}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
