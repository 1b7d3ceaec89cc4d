"""How the Organization scan scales with the number of accounts, against bare boto3 making the
same calls, in the same run.

    .venv/bin/python benchmarks/org_scale.py [--sizes 10,31] [--full] [--latency-ms 20]
                                             [--workers 8] [--repeat 3] [--tree DIR]

One emulator (its own process); the Organization grows to each size in turn (each member: one
backup bucket and one database per region, 2 regions). Per size, interleaved --repeat times,
each run in a fresh process (so peak RSS is that run's own):

- ours: `scan --org` with --workers threads and a fixed latency per HTTP attempt; it records
  every API call it makes (account, region, service, operation, parameters);
- bare: plain boto3 making those same calls with the same latency: per account one
  sts:AssumeRole and one boto3 session, a client per region x service made when first needed
  and dropped with the account, accounts spread over the same number of threads (as a
  hand-written boto3 loop would);
- bare-shared: the same, its sessions sharing one botocore data loader (each JSON model read
  once per process: the one saving plain botocore offers);
- c7n-org (with `--c7n-org PATH`, the `c7n-org` executable of its own venv, e.g.
  `python3.11 -m venv /tmp/c7n-venv && /tmp/c7n-venv/bin/pip install c7n-org==0.6.52`):
  `c7n-org run` over an accounts file of the same accounts (the management account and every
  member through the same role) and both regions, with C7N_POLICY (the reads `scan --org`
  makes: buckets with their location, tags, versioning, Object Lock, replication,
  notifications, public access block and encryption; databases, clusters and their
  snapshots; DynamoDB tables, their continuous backups and backups; EBS volumes and
  snapshots; EFS; ElastiCache; Redshift; EventBridge rules; backup vaults and plans; trails;
  IAM users), C7N_ORG_PARALLEL = --workers processes, and no resource cache. The same
  latency is added to every HTTP attempt of its clients and its API calls are counted by a
  sitecustomize (benchmarks/peer_hooks.py) on its PYTHONPATH: c7n-org itself is unchanged.
  Its peak RSS is the sum over its processes (it runs account-regions in a process pool),
  sampled every 20 ms. Ours is timed here as a whole process too (start-up included), with
  the checkout's bytecode compiled first, as an installed package has it.

Printed per size (median of the repeats): wall time, CPU per API call (process CPU / calls),
peak RSS, and for ours the clients alive at the peak, the clients made, and how many times
the busiest service's model was built (botocore ServiceModel) and read from JSON.
`--tree DIR` runs `ours` from another checkout (e.g. the code before a change). With
`--c7n-org`, also printed: wall, CPU and peak RSS of ours against c7n-org, as ratios, and both
tools' API calls by service.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import peer_hooks  # benchmarks/, next to this script
from _bytecode import compile_checkout

ROOT = Path(__file__).resolve().parents[1]
REGIONS = ["us-east-1", "us-west-2"]
ROLE = "OrganizationAccountAccessRole"
QUICK, FULL = [10, 31], [10, 31, 100, 200]


# ---- the Organization --------------------------------------------------------------------

def _member(url: str, account: str, service: str, region: str) -> Any:
    import boto3

    sts = boto3.client("sts", region_name="us-east-1", endpoint_url=url)
    creds = sts.assume_role(RoleArn=f"arn:aws:iam::{account}:role/{ROLE}",
                            RoleSessionName="seed")["Credentials"]
    return boto3.client(service, region_name=region, endpoint_url=url,
                        aws_access_key_id=creds["AccessKeyId"],
                        aws_secret_access_key=creds["SecretAccessKey"],
                        aws_session_token=creds["SessionToken"])


def _seed_account(url: str, account: str, i: int, keys: bool = False) -> None:
    """Each member: one backup bucket (versioned or not) and one database per region. With
    `keys`: each database encrypted with the region's KMS key of the account, which also
    encrypts the bucket, plus one manual snapshot per database."""
    s3 = _member(url, account, "s3", "us-east-1")
    s3.create_bucket(Bucket=f"org-{account}-backup")
    if i % 2:
        s3.put_bucket_versioning(Bucket=f"org-{account}-backup",
                                 VersioningConfiguration={"Status": "Enabled"})
    for region in REGIONS:
        rds = _member(url, account, "rds", region)
        extra: dict[str, Any] = {}
        if keys:
            key = _member(url, account, "kms", region).create_key()["KeyMetadata"]["Arn"]
            extra = {"StorageEncrypted": True, "KmsKeyId": key}
            if region == "us-east-1":
                s3.put_bucket_encryption(
                    Bucket=f"org-{account}-backup", ServerSideEncryptionConfiguration={
                        "Rules": [{"ApplyServerSideEncryptionByDefault": {
                            "SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key}}]})
        rds.create_db_instance(
            DBInstanceIdentifier=f"db-{i:03d}", DBInstanceClass="db.t3.micro",
            Engine="postgres", MasterUsername="admin", MasterUserPassword="password-123",
            AllocatedStorage=20, BackupRetentionPeriod=7 if i % 3 else 1, **extra)
        if keys:
            rds.create_db_snapshot(DBInstanceIdentifier=f"db-{i:03d}",
                                   DBSnapshotIdentifier=f"db-{i:03d}-manual")


def grow(url: str, ids: list[str], accounts: int, keys: bool = False) -> list[str]:
    """Create the Organization (first call) and members up to `accounts`."""
    import boto3

    org = boto3.client("organizations", region_name="us-east-1", endpoint_url=url)
    if not ids:
        org.create_organization(FeatureSet="ALL")
    new = [org.create_account(AccountName=f"member-{i:03d}",
                              Email=f"member-{i:03d}@example.com")
           ["CreateAccountStatus"]["AccountId"] for i in range(len(ids), accounts)]
    with ThreadPoolExecutor(8) as pool:
        for job in [pool.submit(_seed_account, url, a, len(ids) + i, keys)
                    for i, a in enumerate(new)]:
            job.result()
    return ids + new


# ---- the runs (each in its own process) ------------------------------------------------------

def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child_ours(url: str, workers: int, latency: float, record: Path | None) -> dict[str, Any]:
    """`scan --org`, instrumented: calls (with account and region), clients, model builds."""
    import weakref

    import botocore.client
    import botocore.loaders
    import botocore.model

    from auditor import aws
    from auditor.scan import ScanOptions, scan
    from drguard.settings import Settings

    built: Counter[str] = Counter()
    read: Counter[str] = Counter()
    live: weakref.WeakSet[Any] = weakref.WeakSet()
    made = [0, 0]  # clients made, most alive at once
    calls: list[tuple[str, str, str, str, dict[str, Any]]] = []
    owner: dict[int, str] = {}

    model_init = botocore.model.ServiceModel.__init__

    def counting_model(self: Any, model: Any, service_name: Any = None) -> None:
        built[service_name or "?"] += 1
        model_init(self, model, service_name)

    load_file = botocore.loaders.JSONFileLoader.load_file

    def counting_load(self: Any, file_path: str) -> Any:
        if file_path.endswith(("service-2", "service-2.json")):
            read[Path(file_path).parent.parent.name] += 1
        return load_file(self, file_path)

    client_init = botocore.client.BaseClient.__init__

    def counting_client(self: Any, *a: Any, **kw: Any) -> None:
        client_init(self, *a, **kw)
        live.add(self)
        made[0] += 1

    account_init = aws.Account.__init__

    def owning_account(self: Any, session: Any, account_id: str, *a: Any, **kw: Any) -> None:
        account_init(self, session, account_id, *a, **kw)
        owner[id(session.get_credentials())] = account_id

    before_call = aws._before_call

    def recording(model: Any, params: dict[str, Any], **kw: Any) -> None:
        signer = kw.get("request_signer")
        creds = getattr(signer, "_credentials", None)
        calls.append((owner.get(id(creds), "?"), getattr(signer, "region_name", "") or "",
                      model.service_model.service_name, model.name, dict(params)))
        made[1] = max(made[1], len(live))
        before_call(model, params, **kw)

    def sleep(**_: Any) -> None:
        time.sleep(latency)

    botocore.model.ServiceModel.__init__ = counting_model  # type: ignore[method-assign]
    botocore.loaders.JSONFileLoader.load_file = counting_load  # type: ignore[method-assign]
    botocore.client.BaseClient.__init__ = counting_client  # type: ignore[method-assign]
    aws.Account.__init__ = owning_account  # type: ignore[method-assign]
    aws._before_call = recording  # registered by each session when it is made

    class Latency:
        def on_call(self, service: str, operation: str, params: dict[str, Any]) -> None:
            pass

        def on_attempt(self, service: str, operation: str) -> None:
            sleep()

    opts = ScanOptions(aws=aws.AwsOptions(endpoint_url=url), regions=REGIONS, workers=workers,
                       org=True, role_name=ROLE)
    with aws.observe(Latency()):
        t0, c0 = time.perf_counter(), _cpu()
        result = scan(opts, Settings())
        wall, cpu = time.perf_counter() - t0, _cpu() - c0
    scanned = sum(1 for a in result.run["account_status"] if a["status"] == "scanned")
    if record is not None:
        record.write_text(json.dumps(calls, default=str))
    return {"wall": wall, "cpu": cpu, "calls": len(calls), "rss": _peak_mb(),
            "accounts": scanned, "findings": len(result.findings), "clients_made": made[0],
            "clients_peak": made[1], "models_built": max(built.values(), default=0),
            "models_read": max(read.values(), default=0),
            "services": len(built)}


def child_bare(url: str, workers: int, latency: float, record: Path,
               shared: bool = False) -> dict[str, Any]:
    """Plain boto3 making the calls `ours` recorded: per account one session (AssumeRole for
    a member), clients made on first use and dropped with the account. `shared`: the account
    sessions share one botocore data loader (each JSON model read once), the one trick plain
    botocore offers for this."""
    import boto3
    import botocore.session
    from botocore import xform_name

    calls = json.loads(record.read_text())
    base = boto3.Session(region_name="us-east-1")
    me = base.client("sts", endpoint_url=url).get_caller_identity()["Account"]
    by_account: dict[str, list[Any]] = {}
    for account, region, service, operation, params in calls:
        if (service, operation) == ("sts", "AssumeRole"):
            continue  # made below, once per member
        by_account.setdefault(account, []).append((region, service, operation, params))
    count = [0]

    def sleep(**_: Any) -> None:
        time.sleep(latency)

    def one(account: str, todo: list[Any]) -> int:
        if account in (me, "?"):
            session = base
        else:
            sts = base.client("sts", endpoint_url=url)
            c = sts.assume_role(RoleArn=f"arn:aws:iam::{account}:role/{ROLE}",
                                RoleSessionName="bare")["Credentials"]
            core = botocore.session.Session()
            if shared:
                core.register_component("data_loader", base._session.get_component(
                    "data_loader"))
            session = boto3.Session(aws_access_key_id=c["AccessKeyId"],
                                    aws_secret_access_key=c["SecretAccessKey"],
                                    aws_session_token=c["SessionToken"],
                                    region_name="us-east-1", botocore_session=core)
        session.events.register("request-created", sleep)
        clients: dict[tuple[str, str], Any] = {}
        for region, service, operation, params in todo:
            key = (service, region or "us-east-1")
            if key not in clients:
                clients[key] = session.client(service, region_name=key[1], endpoint_url=url)
            try:
                getattr(clients[key], xform_name(operation))(**params)
            except Exception:  # noqa: BLE001 - a failed call is still a call (ours makes it too)
                pass
        return len(todo) + (account not in (me, "?"))

    sleep()  # the caller-identity call above had no latency hook yet
    t0, c0 = time.perf_counter(), _cpu()
    with ThreadPoolExecutor(workers) as pool:
        count[0] = sum(pool.map(lambda kv: one(*kv), by_account.items()))
    wall, cpu = time.perf_counter() - t0, _cpu() - c0
    return {"wall": wall, "cpu": cpu, "calls": count[0], "rss": _peak_mb()}


# ---- c7n-org, as a peer -------------------------------------------------------------------

C7N_POLICY = """\
# The reads `scan --org` makes in each account and region, as c7n resources and filters.
# Filters under `or` each see every resource, so every bucket and table gets every read.
policies:
  - name: backup-buckets
    resource: aws.s3
    query:
      - augment-keys: [Location, Tags, Versioning, Replication, Notification]
    filters:
      - or:
          - {type: lock-configuration, key: Rule.DefaultRetention.Days, value: absent}
          - {type: check-public-block, BlockPublicAcls: false}
          - {type: bucket-encryption, state: false}
  - name: databases
    resource: aws.rds
    filters:
      - or:
          - {type: value, key: BackupRetentionPeriod, value: 7, op: lt}
          - {type: value, key: DeletionProtection, value: false}
  - {name: clusters, resource: aws.rds-cluster}
  - {name: database-snapshots, resource: aws.rds-snapshot}
  - {name: cluster-snapshots, resource: aws.rds-cluster-snapshot}
  - name: tables
    resource: aws.dynamodb-table
    filters:
      - {type: continuous-backup, key: PointInTimeRecoveryDescription.PointInTimeRecoveryStatus,
         value: ENABLED, op: ne}
  - {name: table-backups, resource: aws.dynamodb-backup}
  - {name: volumes, resource: aws.ebs}
  - name: volume-snapshots
    resource: aws.ebs-snapshot
    query: [{Name: owner-id, Values: ["{account_id}"]}]
  - {name: file-systems, resource: aws.efs}
  - {name: cache-groups, resource: aws.elasticache-group}
  - {name: cache-clusters, resource: aws.cache-cluster}
  - {name: warehouses, resource: aws.redshift}
  - {name: alert-rules, resource: aws.event-rule}
  - {name: vaults, resource: aws.backup-vault}
  - {name: plans, resource: aws.backup-plan}
  - {name: trails, resource: aws.cloudtrail}
  - {name: users, resource: aws.iam-user}
"""



def c7n_files(folder: Path, url: str, members: list[str]) -> tuple[Path, Path, Path]:
    """The accounts file (the management account and every member, each through ROLE:
    c7n-org's accounts file wants a role or a profile for every account, so it makes one
    AssumeRole more than ours, which reads the management account with the caller's own
    credentials), the policy file and the sitecustomize folder."""
    import boto3

    me = boto3.client("sts", region_name="us-east-1",
                      endpoint_url=url).get_caller_identity()["Account"]
    folder.mkdir(parents=True, exist_ok=True)
    accounts = [{"account_id": a, "name": f"account-{a}", "regions": REGIONS,
                 "role": f"arn:aws:iam::{a}:role/{ROLE}"} for a in [me, *members]]
    (folder / "accounts.json").write_text(json.dumps({"accounts": accounts}))
    (folder / "policy.yml").write_text(C7N_POLICY)
    return folder / "accounts.json", folder / "policy.yml", peer_hooks.write_site(folder / "site")


def _tree_rss_mb(root: int) -> float:
    """Resident memory of `root` and all its descendants (from /proc), MB."""
    parents: dict[int, list[int]] = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                stat = Path(f"/proc/{d}/stat").read_text()
                ppid = int(stat.rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            parents.setdefault(ppid, []).append(int(d))
    total, todo = 0, [root]
    page = os.sysconf("SC_PAGE_SIZE")
    while todo:
        pid = todo.pop()
        todo.extend(parents.get(pid, []))
        try:
            total += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * page
        except (OSError, ValueError, IndexError):
            pass
    return total / 2**20


def run_c7n(exe: str, url: str, a: argparse.Namespace, files: tuple[Path, Path, Path],
            out: Path) -> dict[str, Any]:
    """One `c7n-org run` in a fresh process tree: wall, CPU of the whole tree (its pool's
    processes are waited for, so their CPU is in the rusage os.wait4 returns), peak RSS of
    the tree (sampled: the sum of its processes), and its API calls by service."""
    import shutil
    import threading

    from auditor.emulator import CREDENTIALS

    accounts, policy, site = files
    shutil.rmtree(out, ignore_errors=True)
    cache = out.with_suffix(".cache")  # empty, and --cache-period 0: every run reads
    shutil.rmtree(cache, ignore_errors=True)
    cache.mkdir(parents=True)
    calls = out.with_suffix(".calls")
    calls.unlink(missing_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "PYTHON"))}
    env.update(CREDENTIALS, AWS_ENDPOINT_URL=url, PYTHONPATH=str(site),
               C7N_ORG_PARALLEL=str(a.workers), DRG_BENCH_LATENCY=str(a.latency_ms / 1000),
               DRG_BENCH_CALLS=str(calls))
    cmd = [exe, "run", "-c", str(accounts), "-u", str(policy), "-s", str(out),
           "--cache-period", "0", "--cache-path", str(cache)]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak = [0.0]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.02):
            peak[0] = max(peak[0], _tree_rss_mb(proc.pid))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    assert proc.stderr is not None
    err = proc.stderr.read()
    _, status, ru = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    done.set()
    sampler.join()
    code = os.waitstatus_to_exitcode(status)
    by_service = peer_hooks.calls_by_service(calls)
    errors = err.decode(errors="replace").count("Error running policy")
    if code or errors:
        tail = err.decode(errors="replace").strip().splitlines()[-3:]
        print(f"  c7n-org exited {code}, {errors} account-region errors: {tail}", flush=True)
    return {"wall": wall, "cpu": ru.ru_utime + ru.ru_stime, "calls": sum(by_service.values()),
            "rss": max(peak[0], ru.ru_maxrss / 1024), "rss_one": ru.ru_maxrss / 1024,
            "by_service": dict(by_service), "code": code}


def c7n_runs(path: str | None) -> str | None:
    """The c7n-org executable if it answers --help, else None (with the reason printed)."""
    if not path:
        return None
    import shutil

    exe = shutil.which(path) or path
    try:
        subprocess.run([exe, "--help"], capture_output=True, timeout=120, check=True)
    except (OSError, subprocess.SubprocessError) as e:
        print(f"c7n-org: {exe} does not run ({e}); comparing without it.")
        return None
    return exe


def child_env(tree: Path) -> dict[str, str]:
    """A child's environment: `tree` first on the path, and bytecode cached as an installed
    package has it (pip compiles what it installs; PYTHONDONTWRITEBYTECODE would make every
    run compile the checkout's modules again, which no installed tool pays)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    return {**env, "PYTHONPATH": str(tree)}


def run_child(kind: str, url: str, a: argparse.Namespace, record: Path,
              write: bool) -> dict[str, Any]:
    """One run in a fresh process. Besides what the child measures around its scan, the
    whole process's wall and CPU (start-up and imports included), as for a peer tool."""
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as tmp:
        out = Path(tmp.name)
    tree = a.tree if kind == "ours" and a.tree else ROOT
    cmd = [sys.executable, __file__, "--child", kind, "--url", url, "--workers",
           str(a.workers), "--latency-ms", str(a.latency_ms), "--record", str(record),
           "--out", str(out), "--tree", str(tree)] + (["--write-record"] if write else [])
    try:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, env=child_env(tree))
        _, status, ru = os.wait4(proc.pid, 0)
        if os.waitstatus_to_exitcode(status):
            raise SystemExit(f"{kind} run failed ({os.waitstatus_to_exitcode(status)})")
        return {**json.loads(out.read_text()), "proc_wall": time.perf_counter() - t0,
                "proc_cpu": ru.ru_utime + ru.ru_stime}
    finally:
        out.unlink(missing_ok=True)


def _med(runs: list[dict[str, Any]], key: str) -> float:
    return statistics.median(r[key] for r in runs)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", help=f"member accounts per run (default {QUICK}; "
                                    f"--full: {FULL})")
    ap.add_argument("--full", action="store_true")
    ap.add_argument("--workers", type=int, default=8)
    ap.add_argument("--latency-ms", type=float, default=20.0)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--recovery-keys", action="store_true",
                    help="encrypt each database (and backup bucket) with a KMS key and add a "
                         "manual snapshot per database")
    ap.add_argument("--tree", type=Path, help="run `ours` from this checkout")
    ap.add_argument("--c7n-org", dest="c7n_org", metavar="PATH",
                    help="also run this c7n-org executable (its own venv) as a peer")
    ap.add_argument("--child", choices=["ours", "bare", "bare-shared"], help=argparse.SUPPRESS)
    ap.add_argument("--url", help=argparse.SUPPRESS)
    ap.add_argument("--record", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--write-record", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    a = ap.parse_args()

    sys.path.insert(0, str(a.tree or ROOT))
    from auditor.emulator import CREDENTIALS, MotoServer

    os.environ.update(CREDENTIALS)
    if a.child:
        latency = a.latency_ms / 1000
        res = (child_ours(a.url, a.workers, latency, a.record if a.write_record else None)
               if a.child == "ours" else
               child_bare(a.url, a.workers, latency, a.record, a.child == "bare-shared"))
        a.out.write_text(json.dumps(res))
        return 0

    sizes = [int(x) for x in a.sizes.split(",")] if a.sizes else FULL if a.full else QUICK
    c7n = c7n_runs(a.c7n_org)
    for tree in {ROOT, a.tree or ROOT}:
        compile_checkout(tree)
    peers: list[tuple[int, dict[str, Any], dict[str, Any], Counter[str], Counter[str]]] = []
    rows = []
    with MotoServer() as server, tempfile.TemporaryDirectory() as tmp:
        ids: list[str] = []
        print(f"{a.workers} workers, {len(REGIONS)} regions, {a.latency_ms:g} ms per request, "
              f"median of {a.repeat} interleaved runs per size; {os.cpu_count()} CPUs "
              "(the emulator shares them)")
        print(f"{'members':>7} {'calls':>6} {'wall s':>20} {'CPU ms/call':>20} "
              f"{'x bare':>11} {'peak RSS MB':>17} {'clients':>11} {'model':>9}")
        print(f"{'':>7} {'':>6} {'ours/bare/bare-sh':>20} {'ours/bare/bare-sh':>20} "
              f"{'bare/b-sh':>11} {'ours/bare/b-sh':>17} {'peak/made':>11} "
              f"{'built/read':>9}")
        for n in sizes:
            t0 = time.perf_counter()
            ids = grow(server.url, ids, n, a.recovery_keys)
            seeded = time.perf_counter() - t0
            record = Path(tmp, f"calls-{n}.json")
            runs: dict[str, list[dict[str, Any]]] = {"ours": [], "bare": [], "bare-shared": []}
            files = c7n_files(Path(tmp, f"c7n-{n}"), server.url, ids) if c7n else None
            c7n_got: list[dict[str, Any]] = []
            for i in range(a.repeat):  # interleaved: load from others hits all alike
                for kind, got in runs.items():
                    got.append(run_child(kind, server.url, a, record, write=i == 0))
                if c7n and files:
                    c7n_got.append(run_c7n(c7n, server.url, a, files, Path(tmp, "c7n-out")))
            m = {kind: {k: _med(got, k) for k in ("wall", "cpu", "calls", "rss")}
                 for kind, got in runs.items()}
            o, b, bs = m["ours"], m["bare"], m["bare-shared"]
            cpc = {kind: v["cpu"] / v["calls"] * 1000 for kind, v in m.items()}
            first = runs["ours"][0]
            rows.append((n, o, b, first))
            if c7n_got:
                ours_ops: Counter[str] = Counter(
                    c[2] for c in json.loads(record.read_text()))
                whole = {"wall": _med(runs["ours"], "proc_wall"),
                         "cpu": _med(runs["ours"], "proc_cpu"), "rss": o["rss"],
                         "calls": o["calls"]}
                peers.append((n, whole,
                              {k: _med(c7n_got, k)
                               for k in ("wall", "cpu", "calls", "rss", "rss_one")},
                              ours_ops, Counter(c7n_got[0]["by_service"])))
            print(f"{n:>7} {o['calls']:>6.0f} {o['wall']:>6.1f}/{b['wall']:>6.1f}/"
                  f"{bs['wall']:>6.1f} {cpc['ours']:>6.2f}/{cpc['bare']:>6.2f}/"
                  f"{cpc['bare-shared']:>6.2f} {cpc['ours'] / cpc['bare']:>5.2f}/"
                  f"{cpc['ours'] / cpc['bare-shared']:>5.2f} {o['rss']:>5.0f}/{b['rss']:>5.0f}/"
                  f"{bs['rss']:>5.0f} {first['clients_peak']:>5}/{first['clients_made']:>5} "
                  f"{first['models_built']:>4}/{first['models_read']:>4}"
                  f"   (seeded in {seeded:.0f} s)", flush=True)
        if len(rows) > 1:
            (n0, o0, _, _), (n1, o1, _, _) = rows[0], rows[-1]
            print(f"\npeak RSS at {n1} members vs {n0}: {o1['rss'] / o0['rss']:.2f}x for "
                  f"{n1 / n0:.1f}x the accounts; wall per account: "
                  f"{o1['wall'] / n1 * 1000:.0f} vs {o0['wall'] / n0 * 1000:.0f} ms")
        if peers:
            print(f"\nagainst c7n-org ({a.workers} processes, the same latency, the same "
                  f"accounts and regions; median of {a.repeat}; whole processes, start-up "
                  "included, for both):")
            print(f"{'members':>7} {'wall s ours/c7n':>16} {'x faster':>8} "
                  f"{'CPU s ours/c7n':>15} {'x less':>7} {'peak RSS MB ours/c7n':>21} "
                  f"{'x less':>7} {'calls ours/c7n':>15}")
            for n, o, c, _, _ in peers:
                print(f"{n:>7} {o['wall']:>7.1f}/{c['wall']:>7.1f} {c['wall'] / o['wall']:>7.2f}x "
                      f"{o['cpu']:>7.1f}/{c['cpu']:>6.1f} {c['cpu'] / o['cpu']:>6.2f}x "
                      f"{o['rss']:>10.0f}/{c['rss']:>9.0f} {c['rss'] / o['rss']:>6.2f}x "
                      f"{o['calls']:>7.0f}/{c['calls']:>6.0f}   (c7n-org's largest "
                      f"process alone: {c['rss_one']:.0f} MB)")
            n, _, _, ours_ops, c7n_ops = peers[-1]
            print(f"API calls by service at {n} members (ours / c7n-org): " + ", ".join(
                f"{svc} {ours_ops[svc]}/{c7n_ops[svc]}"
                for svc in sorted(set(ours_ops) | set(c7n_ops))))
            print("goal: >= 2x faster than c7n-org at 31 accounts")
        print("goals: CPU per call <= 1.15x bare boto3; peak RSS flat in accounts, <= 250 MB at "
              "31; each service model built and read once per process")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
