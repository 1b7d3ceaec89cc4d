"""CloudTrail reader throughput: gunzip alone (the floor), json.loads of every file (the naive
way) and ours, on a realistic corpus, one core each, plus peak memory.

    python benchmarks/logs_throughput.py [--events 1000000] [--dir DIR] [--keep]

The corpus (gzipped `{"Records":[...]}` files of 1-5k realistic records, ~0.1% violations and
~0.3% near misses among the rest) is generated in a temporary folder unless --dir points at one
made earlier. Each variant runs in its own process pinned to one CPU; its peak RSS is
`ru_maxrss`. The naive variant applies the same detections to every record `json.loads` gives,
and the run fails unless ours finds exactly the same (event, control, status) set.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gzip
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from multiprocessing import Pool
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from auditor.logs import samples  # noqa: E402

MANIFEST = "manifest.json"
ACCOUNTS = ("111122223333", "444455556666", "777788889999")
REGIONS = ("us-east-1", "us-west-2", "eu-west-1", "ap-southeast-2")


# ---- corpus -------------------------------------------------------------------------------

def _write_file(job: tuple[str, int, int]) -> int:
    root, seed, n = job
    rng = random.Random(seed)
    account, region = rng.choice(ACCOUNTS), rng.choice(REGIONS)
    t = dt.datetime(2024, 5, 1, tzinfo=dt.UTC) + dt.timedelta(minutes=5 * seed)
    recs = samples.mixed_records(rng, n, t, account, region, violation_rate=0.001)
    path = Path(root, "logs", samples.key(t, account, region, suffix=f"{seed:06x}"))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(samples.log_file(recs))
    return n


def generate(root: Path, events: int, seed: int = 1) -> dict:
    rng = random.Random(seed)
    sizes: list[int] = []
    while sum(sizes) < events:
        sizes.append(min(rng.randint(1000, 5000), events - sum(sizes)))
    jobs = [(str(root), i, n) for i, n in enumerate(sizes)]
    with Pool(os.cpu_count() or 1) as pool:
        total = sum(pool.imap_unordered(_write_file, jobs, chunksize=4))
    files = [str(p) for p in _files(root)]
    manifest = {"events": total, "files": len(files),
                "bytes_gz": sum(os.path.getsize(f) for f in files)}
    Path(root, MANIFEST).write_text(json.dumps(manifest))
    return manifest


# ---- variants (each runs in a child process) ----------------------------------------------

def _files(root: Path) -> list[Path]:
    return sorted((root / "logs").rglob("*.json.gz"))


def variant_gunzip(root: Path) -> tuple[int, list]:
    size = 0
    for f in _files(root):
        size += len(gzip.decompress(f.read_bytes()))
    return size, []


def _hit_keys(hits: list) -> list:
    return sorted((h.event["eventId"], h.control, h.status) for h in hits)


def variant_naive(root: Path) -> tuple[int, list]:
    from auditor.logs import reader
    from auditor.logs.detect import Detector
    from drguard.settings import Settings

    det = Detector(Settings())
    hits = []
    n = 0
    for f in _files(root):
        for rec in json.loads(gzip.decompress(f.read_bytes()))["Records"]:
            n += 1
            if rec.get("eventName") in det.names and reader.check(rec) is None:
                hits += det.hits(rec)
    return n, _hit_keys(hits)


def variant_ours(root: Path) -> tuple[int, list]:
    from auditor.logs.pipeline import collect
    from auditor.logs.window import Window
    from drguard.settings import Settings

    hits, meta = collect([str(root / "logs")], Window(), Settings(), workers=1)
    assert meta["skipped"] == {"sources": 0, "files": 0, "records": 0}, meta["skipped"]
    return meta["fallback_full_parse"], _hit_keys(hits)


VARIANTS = {"gunzip": variant_gunzip, "naive": variant_naive, "ours": variant_ours}


def child(name: str, root: Path, out: Path) -> None:
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    t0 = time.perf_counter()
    extra, keys = VARIANTS[name](root)
    seconds = time.perf_counter() - t0
    out.write_text(json.dumps({"seconds": seconds, "extra": extra, "hits": keys,
                               "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
                               / 1024}))


def run_variant(name: str, root: Path) -> dict:
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as tmp:
        out = Path(tmp.name)
    try:
        subprocess.run([sys.executable, __file__, "--child", name, "--dir", str(root),
                        "--out", str(out)], check=True)
        return json.loads(out.read_text())
    finally:
        out.unlink(missing_ok=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--dir", type=Path, help="corpus folder (generated there if empty)")
    ap.add_argument("--keep", action="store_true", help="keep the generated corpus")
    ap.add_argument("--child", choices=sorted(VARIANTS), help=argparse.SUPPRESS)
    ap.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child, args.dir, args.out)
        return 0

    root = args.dir or Path(tempfile.mkdtemp(prefix="drguard-logs-bench-"))
    try:
        if (root / MANIFEST).exists():
            manifest = json.loads((root / MANIFEST).read_text())
        else:
            root.mkdir(parents=True, exist_ok=True)
            t0 = time.perf_counter()
            manifest = generate(root, args.events)
            print(f"generated {manifest['events']:,} events in {manifest['files']} files "
                  f"({manifest['bytes_gz'] / 2**20:.0f} MiB gzipped) in "
                  f"{time.perf_counter() - t0:.0f} s", flush=True)
        events = manifest["events"]
        res = {name: run_variant(name, root) for name in ("gunzip", "naive", "ours")}
        print(f"\n{'variant':<8} {'seconds':>8} {'events/s':>12} {'peak RSS':>10}")
        for name, r in res.items():
            print(f"{name:<8} {r['seconds']:8.2f} {events / r['seconds']:12,.0f} "
                  f"{r['maxrss_mb']:8.0f} MB")
        floor, naive, ours = (events / res[n]["seconds"] for n in ("gunzip", "naive", "ours"))
        same = res["naive"]["hits"] == res["ours"]["hits"]
        print(f"\nours vs naive: {ours / naive:.1f}x (goal >= 3x); ours vs gunzip-only: "
              f"{ours / floor:.0%} (goal >= 40%)")
        print(f"uncompressed size: {res['gunzip']['extra'] / 2**30:.2f} GiB; "
              f"files needing a full parse: {res['ours']['extra']}")
        print(f"detections: naive {len(res['naive']['hits'])}, ours {len(res['ours']['hits'])}"
              f" ({len(res['ours']['hits']) / events:.3%} of events): "
              f"{'identical' if same else 'DIFFERENT'}")
        return 0 if same else 1
    finally:
        if args.dir is None and not args.keep:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
