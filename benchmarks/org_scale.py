"""How the Organization scan scales: N member accounts (default 200) x 2 regions, created through
Organizations in the embedded emulator, each scanned through sts:AssumeRole, with a simulated
network latency per request.

Prints, per worker count, the wall time, API calls per account and accounts per second; then,
with the widest pool, the wall time for 1/4, 1/2 and all of the accounts (chosen with the same
stable hash as `scan --shard`), and how far it is from linear in accounts.

    .venv/bin/python benchmarks/org_scale.py [--accounts 200] [--workers 8,16,32]
                                             [--latency-ms 20]
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
from auditor.org import Shard  # noqa: E402
from auditor.scan import ScanOptions, scan  # noqa: E402
from drguard.settings import Settings  # noqa: E402

REGIONS = ["us-east-1", "us-west-2"]
ROLE = "OrganizationAccountAccessRole"


class Latency:
    """A fixed delay before every HTTP attempt, like the network to a real endpoint."""

    def __init__(self, ms: float) -> None:
        self.seconds = ms / 1000

    def on_call(self, service: str, operation: str, params: dict[str, Any]) -> None:
        pass

    def on_attempt(self, service: str, operation: str) -> None:
        time.sleep(self.seconds)


def _member(url: str, account: str, service: str, region: str) -> Any:
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


def seed(url: str, accounts: int, keys: bool = False) -> list[str]:
    org = boto3.client("organizations", region_name="us-east-1", endpoint_url=url)
    org.create_organization(FeatureSet="ALL")
    ids = [org.create_account(AccountName=f"member-{i:03d}",
                              Email=f"member-{i:03d}@example.com")
           ["CreateAccountStatus"]["AccountId"] for i in range(accounts)]
    with ThreadPoolExecutor(8) as pool:
        for job in [pool.submit(_seed_account, url, a, i, keys) for i, a in enumerate(ids)]:
            job.result()
    return ids


def run(url: str, workers: int, latency_ms: float,
        shard: Shard | None = None) -> tuple[float, CallCounter, int, int]:
    counter = CallCounter()
    opts = ScanOptions(aws=AwsOptions(endpoint_url=url), regions=REGIONS, workers=workers,
                       org=True, role_name=ROLE, shard=shard)
    with observe(counter), observe(Latency(latency_ms)):
        t0 = time.perf_counter()
        result = scan(opts, Settings())
        wall = time.perf_counter() - t0
    scanned = sum(1 for a in result.run["account_status"] if a["status"] == "scanned")
    return wall, counter, scanned, len(result.findings)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--accounts", type=int, default=200)
    ap.add_argument("--workers", default="8,16,32")
    ap.add_argument("--latency-ms", type=float, default=20.0)
    ap.add_argument("--recovery-keys", action="store_true",
                    help="encrypt each database (and backup bucket) with a KMS key and add a "
                         "manual snapshot per database")
    a = ap.parse_args()
    os.environ.update(CREDENTIALS)
    with MotoServer() as server:
        t0 = time.perf_counter()
        seed(server.url, a.accounts, a.recovery_keys)
        print(f"seeded an organization of {a.accounts} member accounts (+ management) x "
              f"{len(REGIONS)} regions, 1 bucket and {len(REGIONS)} databases each, in "
              f"{time.perf_counter() - t0:.1f} s; latency {a.latency_ms:g} ms per request")
        print(f"{'workers':>7} {'accounts':>8} {'wall s':>8} {'calls/acct':>10} "
              f"{'acct/s':>7} {'findings':>8}")
        workers = [int(x) for x in a.workers.split(",")]
        for w in workers:
            wall, counter, scanned, n = run(server.url, w, a.latency_ms)
            print(f"{w:>7} {scanned:>8} {wall:>8.2f} {counter.total / scanned:>10.1f} "
                  f"{scanned / wall:>7.1f} {n:>8}")
        w = max(workers)
        print(f"\nlinearity in accounts ({w} workers; subsets chosen like --shard):")
        rows = []
        for shard in (Shard(1, 4), Shard(1, 2), None):
            wall, counter, scanned, _ = run(server.url, w, a.latency_ms, shard)
            rows.append((scanned, wall))
            print(f"  {scanned:>4} accounts: {wall:6.2f} s ({wall / scanned * 1000:6.1f} ms "
                  f"per account)")
        (n0, t0_), (n1, t1) = rows[0], rows[-1]
        ratio = (t1 / n1) / (t0_ / n0)
        print(f"  time per account at {n1} vs {n0} accounts: {ratio:.2f}x "
              f"({'linear' if ratio < 1.25 else 'NOT linear'} within 25%)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
