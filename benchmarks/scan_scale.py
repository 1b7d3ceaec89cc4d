"""How the live scan scales: 1,000 buckets (100 backup buckets) and 200 RDS instances over two
regions in the embedded emulator, scanned with 1, 2, 4 and 8 workers.

Prints wall time, API calls in total and per resource, HTTP attempts, and the speed-up over one
worker. The emulator is one local Python process, so absolute times say little about AWS (where
each call costs tens of milliseconds of network latency, which workers hide far better); the
call counts carry over as they are.

    .venv/bin/python benchmarks/scan_scale.py [--buckets 1000] [--backup 100] [--dbs 200]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import boto3

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from auditor.aws import AwsOptions, CallCounter, observe  # noqa: E402
from auditor.emulator import CREDENTIALS, MotoServer  # noqa: E402
from auditor.scan import ScanOptions, scan  # noqa: E402
from drguard.settings import Settings  # noqa: E402

REGIONS = ["us-east-1", "us-west-2"]
PAB = {"BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True,
       "RestrictPublicBuckets": True}


def _client(url: str, service: str, region: str) -> Any:
    return boto3.client(service, region_name=region, endpoint_url=url)


def _bucket(url: str, i: int, backup: bool) -> None:
    region = REGIONS[i % 2]
    s3 = _client(url, "s3", region)
    name = f"bench-{'backup' if backup else 'data'}-{i:04d}"
    kw: dict[str, Any] = {"Bucket": name, "ObjectLockEnabledForBucket": backup and i % 4 == 0}
    if region != "us-east-1":
        kw["CreateBucketConfiguration"] = {"LocationConstraint": region}
    s3.create_bucket(**kw)
    if backup:
        s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
        if i % 2:
            s3.put_public_access_block(Bucket=name, PublicAccessBlockConfiguration=PAB)
    elif i % 3 == 0:
        s3.put_bucket_tagging(Bucket=name, Tagging={"TagSet": [{"Key": "team",
                                                                "Value": "data"}]})


def _db(url: str, i: int) -> None:
    _client(url, "rds", REGIONS[i % 2]).create_db_instance(
        DBInstanceIdentifier=f"bench-db-{i:03d}", DBInstanceClass="db.t3.micro",
        Engine="postgres", MasterUsername="admin", MasterUserPassword="password-123",
        AllocatedStorage=20, BackupRetentionPeriod=7 if i % 2 else 1,
        DeletionProtection=bool(i % 3))


def seed(url: str, buckets: int, backup: int, dbs: int) -> float:
    t0 = time.perf_counter()
    with ThreadPoolExecutor(8) as pool:
        jobs = [pool.submit(_bucket, url, i, i < backup) for i in range(buckets)]
        jobs += [pool.submit(_db, url, i) for i in range(dbs)]
        for j in jobs:
            j.result()
    return time.perf_counter() - t0


class Latency:
    """Adds a fixed delay before every HTTP attempt, like the network to a real endpoint."""

    def __init__(self, ms: float) -> None:
        self.seconds = ms / 1000

    def on_call(self, service: str, operation: str, params: dict[str, Any]) -> None:
        pass

    def on_attempt(self, service: str, operation: str) -> None:
        time.sleep(self.seconds)


def run(url: str, workers: int, latency_ms: float = 0) -> tuple[float, CallCounter, int]:
    counter = CallCounter()
    opts = ScanOptions(aws=AwsOptions(endpoint_url=url), regions=REGIONS, workers=workers)
    with observe(counter), observe(Latency(latency_ms)):
        t0 = time.perf_counter()
        result = scan(opts, Settings())
        wall = time.perf_counter() - t0
    return wall, counter, len(result.findings)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--buckets", type=int, default=1000)
    ap.add_argument("--backup", type=int, default=100)
    ap.add_argument("--dbs", type=int, default=200)
    ap.add_argument("--workers", default="1,2,4,8")
    ap.add_argument("--latency-ms", default="0,20",
                    help="simulated network latency per request; 0 = the bare emulator")
    a = ap.parse_args()
    os.environ.update(CREDENTIALS)
    with MotoServer() as server:
        seeded = seed(server.url, a.buckets, a.backup, a.dbs)
        resources = a.buckets + a.dbs
        print(f"seeded {a.buckets} buckets ({a.backup} backup) and {a.dbs} RDS instances over "
              f"{len(REGIONS)} regions in {seeded:.1f} s")
        counter = None
        for latency in (float(x) for x in a.latency_ms.split(",")):
            print(f"\nlatency per request: {latency:g} ms"
                  + (" (bare emulator)" if not latency else " (simulated network)"))
            print(f"{'workers':>7} {'wall s':>8} {'calls':>6} {'calls/res':>9} "
                  f"{'attempts':>8} {'findings':>8} {'speed-up':>8}")
            base = None
            for w in (int(x) for x in a.workers.split(",")):
                wall, counter, n = run(server.url, w, latency)
                base = base or wall
                print(f"{w:>7} {wall:>8.2f} {counter.total:>6} "
                      f"{counter.total / resources:>9.2f} {counter.attempts:>8} {n:>8} "
                      f"{base / wall:>7.2f}x")
        if counter is not None:
            print()
            s3_calls = sum(n for (s, _), n in counter.calls.items() if s == "s3")
            print(f"S3 calls: {s3_calls} for {a.buckets} buckets "
                  f"({s3_calls / a.buckets:.2f}/bucket: 2 per bucket for region and tags, "
                  f"5 more per backup bucket); RDS calls: "
                  f"{sum(n for (s, _), n in counter.calls.items() if s == 'rds')} "
                  f"for {a.dbs} instances (list calls, 100 per page)")
            print("calls by operation (last run):")
            for op, n in counter.by_operation().items():
                print(f"  {op:<48} {n}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
