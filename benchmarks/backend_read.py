"""`scan --backend`: reading many large checkpoints, time and peak memory.

Writes STACKS checkpoints of RESOURCES resources each in the self-managed backend layout
(`.pulumi/stacks/<project>/<stack>.json`, every other one gzipped; each resource carries
inputs and outputs like a real checkpoint, about 1 KB), then in a fresh process reads them
all into the index the way `scan --backend` does (auditor.backends.read) and looks up every
resource once. Prints wall time, CPU time, peak RSS (the process, and the baseline of a
process that only imports the modules) and the checkpoint bytes read; with --s3, also the
floor of the same run: a fresh process that only downloads the same objects from the same
server (the emulator shares the machine's cores, so its serving time is in both).

    python benchmarks/backend_read.py                       # 10 x 2,000, file:// backend
    python benchmarks/backend_read.py --full --s3           # 50 x 10,000 from the moto S3
    python benchmarks/backend_read.py --stacks 5 --resources 2000
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
ACCOUNT = "123456789012"
REGION = "us-east-1"


def checkpoint(stack: int, n: int) -> bytes:
    project = f"app{stack:02d}"
    prefix = f"urn:pulumi:prod::{project}"
    rs: list[dict[str, Any]] = [{"urn": f"{prefix}::pulumi:pulumi:Stack::{project}-prod",
                                 "type": "pulumi:pulumi:Stack", "custom": False}]
    for i in range(n):
        name = f"{project}-t{i:05d}"
        arn = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{name}"
        props = {"name": name, "arn": arn, "billingMode": "PAY_PER_REQUEST",
                 "hashKey": "id", "attributes": [{"name": "id", "type": "S"}],
                 "pointInTimeRecovery": {"enabled": True},
                 "tags": {"dr:app": project, "owner": "team-x"},
                 "tagsAll": {"dr:app": project, "owner": "team-x"},
                 "streamArn": arn + "/stream/2026-12-01T00:00:00.000"}
        rs.append({"urn": f"{prefix}::aws:dynamodb/table:Table::t{i}", "custom": True,
                   "id": name, "type": "aws:dynamodb/table:Table", "inputs": props,
                   "outputs": props, "parent": rs[0]["urn"],
                   "provider": f"{prefix}::pulumi:providers:aws::default::p-1"})
    doc = {"version": 3, "checkpoint": {"stack": f"organization/{project}/prod",
                                        "latest": {"manifest": {}, "resources": rs}}}
    return json.dumps(doc).encode()


def write(root: Path, stacks: int, n: int) -> int:
    total = 0
    for s in range(stacks):
        d = root / ".pulumi" / "stacks" / f"app{s:02d}"
        d.mkdir(parents=True, exist_ok=True)
        data = checkpoint(s, n)
        total += len(data)
        if s % 2:
            (d / "prod.json.gz").write_bytes(gzip.compress(data, 6))
        else:
            (d / "prod.json").write_bytes(data)
    return total


FLOOR = r"""
import json, resource, sys, time
import boto3
url, endpoint = sys.argv[1], sys.argv[2]
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                  aws_access_key_id="testing", aws_secret_access_key="testing")
bucket = url.removeprefix("s3://")
t0, c0 = time.perf_counter(), time.process_time()
n = 0
for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
    for o in page.get("Contents") or ():
        n += len(s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read())
print(json.dumps({"seconds": time.perf_counter() - t0, "cpu": time.process_time() - c0,
                  "bytes": n, "baseline_mb": base / 1024}))
"""

CHILD = r"""
import json, resource, sys, time
from auditor import backends
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
url, stacks, n, endpoint = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
def s3():
    import boto3
    return boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                        aws_access_key_id="testing", aws_secret_access_key="testing")
t0, c0 = time.perf_counter(), time.process_time()
index, run = backends.read([url], s3)
hits = sum(1 for s in range(stacks) for i in range(n) if index.lookup(
    f"arn:aws:dynamodb:us-east-1:123456789012:table/app{s:02d}-t{i:05d}") is not None)
print(json.dumps({"seconds": time.perf_counter() - t0, "cpu": time.process_time() - c0,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "baseline_mb": base / 1024, "stacks": run.stacks,
                  "resources": run.resources, "found": hits, "unread": run.unread}))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--stacks", type=int, default=10)
    ap.add_argument("--resources", type=int, default=2_000)
    ap.add_argument("--full", action="store_true",
                    help="the big size: 50 checkpoints of 10,000 resources (~590 MB)")
    ap.add_argument("--s3", action="store_true", help="serve the backend from moto S3")
    ap.add_argument("--also", type=Path, metavar="CHECKOUT",
                    help="also read the backend with another checkout's reader (e.g. the code "
                         "before a change), in the same run")
    a = ap.parse_args()
    if a.full:
        a.stacks, a.resources = 50, 10_000
    with tempfile.TemporaryDirectory(prefix="drg-backend-bench-") as tmp:
        t0 = time.perf_counter()
        size = write(Path(tmp), a.stacks, a.resources)
        print(f"wrote {a.stacks} checkpoints x {a.resources} resources "
              f"({size / 1e6:.0f} MB of JSON) in {time.perf_counter() - t0:.1f} s",
              flush=True)
        endpoint, url, server = "", f"file://{tmp}", None
        if a.s3:
            import boto3

            from auditor.emulator import MotoServer
            server = MotoServer().__enter__()
            endpoint = server.url
            c = boto3.client("s3", endpoint_url=endpoint, region_name=REGION,
                             aws_access_key_id="testing", aws_secret_access_key="testing")
            c.create_bucket(Bucket="bench-state")
            for f in Path(tmp).rglob("prod.json*"):
                c.upload_file(str(f), "bench-state", f.relative_to(tmp).as_posix())
            url = "s3://bench-state"
        try:
            floor = None
            if server is not None:  # the download alone, same server, same run, first
                floor = json.loads(subprocess.run(
                    [sys.executable, "-c", FLOOR, url, endpoint], cwd=ROOT,
                    capture_output=True, text=True, check=True).stdout)
            out = subprocess.run([sys.executable, "-c", CHILD, url, str(a.stacks),
                                  str(a.resources), endpoint or "-"],
                                 cwd=ROOT, capture_output=True, text=True, check=True)
            also = None
            if a.also is not None:
                root = str(a.also.resolve())
                also = json.loads(subprocess.run(
                    [sys.executable, "-c", CHILD, url, str(a.stacks), str(a.resources),
                     endpoint or "-"], cwd=root, capture_output=True, text=True, check=True,
                    env={**os.environ, "PYTHONPATH": root}).stdout)
        finally:
            if server is not None:
                server.__exit__(None, None, None)
        r = json.loads(out.stdout)
        print(f"read {r['stacks']} stacks, {r['resources']} resources indexed, "
              f"{r['found']} looked up and found, unread {len(r['unread'])}")
        print(f"wall {r['seconds']:.2f} s, cpu {r['cpu']:.2f} s, peak RSS "
              f"{r['peak_mb']:.0f} MB (imports alone {r['baseline_mb']:.0f} MB)")
        if also is not None:
            print(f"{a.also}: wall {also['seconds']:.2f} s, cpu {also['cpu']:.2f} s, peak RSS "
                  f"{also['peak_mb']:.0f} MB, {also['resources']} resources indexed, unread "
                  f"{len(also['unread'])}")
        if floor is not None:
            print(f"floor, only downloading the same objects from the same server: wall "
                  f"{floor['seconds']:.2f} s, cpu {floor['cpu']:.2f} s "
                  f"({floor['bytes'] / 1e6:.0f} MB); read / download wall: "
                  f"{r['seconds'] / floor['seconds']:.2f}x")


if __name__ == "__main__":
    main()
