"""CloudTrail reader throughput, before and after, against the inflate-only floor.

    python benchmarks/logs_throughput.py [--events N | --full] [--dir DIR] [--keep]
                                         [--repeat 3] [--before REF] [--workers N]

The corpus (gzipped `{"Records":[...]}` files of 1-5k realistic records, ~0.1% violations and
~0.3% near misses among the rest) is generated in a temporary folder unless --dir points at one
made earlier. Variants, each in its own process (figures are the median of --repeat runs):

- inflate-zlib / inflate-<lib>: inflate every file and nothing else, with the standard
  library and with the library the reader uses (python-isal or zlib-ng when installed), on
  one CPU; `inflate-zlib xN` / `inflate-<lib> xN` the same on N processes (N: as ours);
- naive: `json.loads` of every file plus the detections, one CPU;
- before: `collect` of the code at git REF (default: the commit before the streaming reader),
  one CPU, as that commit's own benchmark ran it; skipped when git or REF is not there;
- ours-1cpu: `collect(workers=1)` pinned to one CPU, scanning with the C extension when it
  is built (ours-hs-1cpu: the same with hyperscan, as without the extension; ours-re2-1cpu:
  with RE2, as without either); ours: `collect` with --workers (parsing in one process per
  CPU), against both inflaters run on as many processes (`inflate-zlib xN`, `inflate-isal xN`).

Peak RSS is `ru_maxrss` of the variant's process (and of its largest child). The run fails
unless naive, before and ours find exactly the same (event, control, status) set.
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
import statistics
import subprocess
import sys
import tempfile
import time
from multiprocessing import Pool
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from auditor.logs import samples  # noqa: E402

MANIFEST = "manifest.json"
ACCOUNTS = ("111122223333", "444455556666", "777788889999")
REGIONS = ("us-east-1", "us-west-2", "eu-west-1", "ap-southeast-2")
BEFORE_REF = "32b7f04"  # the reader before the prefiltered one: whole-file gunzip + regex, 1 thread


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


def _inflate_with(mod: object, files: list[Path]) -> int:
    """Stream-inflate like the reader (64 KiB in, at most 1 MiB out per call)."""
    from auditor.logs import reader

    size = 0
    for f in files:
        d = mod.decompressobj(reader.GZIP_WBITS)  # type: ignore[attr-defined]
        with open(f, "rb") as fh:
            while data := fh.read(reader.IN_CHUNK):
                while data:
                    size += len(d.decompress(data, reader.OUT_MAX))
                    data = d.unconsumed_tail
    return size


def variant_inflate_zlib(root: Path) -> tuple[int, list]:
    import zlib

    return _inflate_with(zlib, _files(root)), []


def variant_inflate_lib(root: Path) -> tuple[int, list]:
    from auditor.logs import reader

    return _inflate_with(reader.INFLATER, _files(root)), []


def _inflate_share(job: tuple[list[str]]) -> int:
    from auditor.logs import reader

    return _inflate_with(reader.INFLATER, [Path(f) for f in job[0]])


def _inflate_share_zlib(job: tuple[list[str]]) -> int:
    import zlib

    return _inflate_with(zlib, [Path(f) for f in job[0]])


def _floor_all_cpus(root: Path, share: object) -> tuple[int, list]:
    files = [str(f) for f in _files(root)]
    n = _procs()
    with Pool(n) as pool:
        return sum(pool.map(share, [(files[i::n],) for i in range(n)])), []  # type: ignore


def variant_floor_all_cpus(root: Path) -> tuple[int, list]:
    return _floor_all_cpus(root, _inflate_share)


def variant_floor_zlib_all_cpus(root: Path) -> tuple[int, list]:
    return _floor_all_cpus(root, _inflate_share_zlib)


def _procs() -> int:
    return min(int(os.environ.get("LOGS_BENCH_WORKERS", "8")), os.cpu_count() or 1)


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


def _ours(root: Path, workers: int) -> tuple[int, list]:
    from auditor.logs.pipeline import collect
    from auditor.logs.window import Window
    from drguard.settings import Settings

    hits, meta = collect([str(root / "logs")], Window(), Settings(), workers=workers)
    assert not any(meta["skipped"].values()), meta["skipped"]
    return meta["fallback_full_parse"], _hit_keys(hits)


def variant_ours_1cpu(root: Path) -> tuple[int, list]:
    return _ours(root, 1)


def variant_ours(root: Path) -> tuple[int, list]:
    return _ours(root, int(os.environ.get("LOGS_BENCH_WORKERS", "8")))


def variant_ours_hs_1cpu(root: Path) -> tuple[int, list]:
    """One CPU, the fast path scanning with hyperscan (as without the C extension built)."""
    from auditor.logs import reader

    reader.NATIVE = False
    return _ours(root, 1)


def variant_ours_re2_1cpu(root: Path) -> tuple[int, list]:
    """One CPU, the fast path scanning with RE2 (as without the extension and hyperscan)."""
    from auditor.logs import reader

    reader.STREAM_SCAN = reader.NATIVE = False
    return _ours(root, 1)


VARIANTS = {"inflate-zlib": variant_inflate_zlib, "inflate-lib": variant_inflate_lib,
            "floor-zlib-all-cpus": variant_floor_zlib_all_cpus,
            "floor-all-cpus": variant_floor_all_cpus, "naive": variant_naive,
            "ours-re2-1cpu": variant_ours_re2_1cpu, "ours-hs-1cpu": variant_ours_hs_1cpu,
            "ours-1cpu": variant_ours_1cpu,
            "ours": variant_ours}
ONE_CPU = {"inflate-zlib", "inflate-lib", "naive", "ours-1cpu", "ours-hs-1cpu",
           "ours-re2-1cpu"}


def scanner() -> str:
    """The fast path's scanner in this checkout (the C extension is built by `pip install
    -e .`; without it, hyperscan)."""
    from auditor.logs import reader

    if reader.NativeNames is not None:
        return "the C extension (auditor/logs/_native.c)"
    return "hyperscan (the C extension is NOT built: pip install -e .)"


def _cpu() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def child(name: str, root: Path, out: Path) -> None:
    from auditor.logs import reader

    if name in ONE_CPU and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    reader.tune_malloc()  # as the reader runs (the inflate floors too, for a fair floor)
    if name.startswith(("ours", "naive")):
        # imported before the clock starts, as the floors' modules are: start-up is what
        # benchmarks/startup.py measures; this is throughput
        from auditor.logs import pipeline  # noqa: F401
        from auditor.logs.detect import Detector
        from drguard.settings import Settings

        Detector(Settings())
    t0, c0 = time.perf_counter(), _cpu()
    extra, keys = VARIANTS[name](root)
    seconds, cpu = time.perf_counter() - t0, _cpu() - c0
    out.write_text(json.dumps({
        "seconds": seconds, "cpu": cpu, "extra": extra, "hits": keys,
        "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "child_maxrss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}))


def _run(cmd: list[str]) -> dict:
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as tmp:
        out = Path(tmp.name)
    try:
        subprocess.run([*cmd, "--out", str(out)], check=True)
        return json.loads(out.read_text())
    finally:
        out.unlink(missing_ok=True)


def run_variant(name: str, root: Path) -> dict:
    return _run([sys.executable, __file__, "--child", name, "--dir", str(root)])


def before_tree(ref: str) -> Path | None:
    """The repository at `ref`, extracted to a temporary folder (None without git/ref)."""
    dest = Path(tempfile.mkdtemp(prefix="drguard-logs-before-"))
    try:
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", ref], check=True,
                                 capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    except (OSError, subprocess.CalledProcessError):
        shutil.rmtree(dest, ignore_errors=True)
        return None
    return dest


_BEFORE = """
import json, os, resource, sys, time
tree, root, out = sys.argv[1:4]
sys.path.insert(0, tree)
if hasattr(os, "sched_setaffinity"):
    os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
from auditor.logs.pipeline import collect
from auditor.logs.window import Window
from drguard.settings import Settings

def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime

t0, c0 = time.perf_counter(), cpu()
hits, meta = collect([os.path.join(root, "logs")], Window(), Settings(), workers=1)
seconds, used = time.perf_counter() - t0, cpu() - c0
keys = sorted((h.event["eventId"], h.control, h.status) for h in hits)
json.dump({"seconds": seconds, "cpu": used, "extra": meta["fallback_full_parse"],
           "hits": keys, "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
           "child_maxrss_mb": 0}, open(out, "w"))
"""


def run_before(tree: Path, root: Path) -> dict:
    """The code at the 'before' ref, run as its own benchmark ran it (collect, workers=1,
    pinned to one CPU), timed (wall and CPU) the same way as the other variants."""
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as tmp:
        out = Path(tmp.name)
    try:
        subprocess.run([sys.executable, "-c", _BEFORE, str(tree), str(root), str(out)],
                       check=True, cwd=tree)
        return json.loads(out.read_text())
    finally:
        out.unlink(missing_ok=True)


SCALING = ("inflate-lib", "floor-all-cpus", "ours-1cpu", "ours")


def scaling(root: Path, events: int, repeat: int, workers: int) -> int:
    """--scaling: only the floor and ours, on 1 and on N processes, interleaved, so that a
    short quiet moment on a shared machine is enough; best and median of the repeats."""
    from auditor.logs import reader

    procs = min(workers, os.cpu_count() or 1)
    runs: dict[str, list[dict]] = {n: [] for n in SCALING}
    load_before = os.getloadavg()
    for _ in range(repeat):
        for name in SCALING:
            runs[name].append(run_variant(name, root))
    load_after = os.getloadavg()
    print(f"\n{events:,} events; {repeat} interleaved runs each; load average (1, 5, 15 min) "
          f"{' '.join(f'{x:.2f}' for x in load_before)} before, "
          f"{' '.join(f'{x:.2f}' for x in load_after)} after; ours scans with {scanner()}")
    label = {"inflate-lib": f"{reader.INFLATE} inflate, 1 process",
             "floor-all-cpus": f"{reader.INFLATE} inflate, {procs} processes",
             "ours-1cpu": "ours, 1 process", "ours": f"ours, {procs} processes"}
    best = {n: min(r["seconds"] for r in rs) for n, rs in runs.items()}
    med = {n: statistics.median(r["seconds"] for r in rs) for n, rs in runs.items()}
    cpu = {n: statistics.median(r["cpu"] for r in rs) for n, rs in runs.items()}
    print(f"{'variant':<28} {'best s':>7} {'median s':>9} {'CPU s':>6}   runs (s)")
    for n in SCALING:
        print(f"{label[n]:<28} {best[n]:7.2f} {med[n]:9.2f} {cpu[n]:6.2f}   "
              + " ".join(f"{r['seconds']:.2f}" for r in runs[n]))
    for what, t in (("best", best), ("median", med)):
        ours_s, floor_s = t["ours-1cpu"] / t["ours"], t["inflate-lib"] / t["floor-all-cpus"]
        print(f"{what:>6}: 1 -> {procs} processes: ours {ours_s:.2f}x, the floor {floor_s:.2f}x "
              f"(ours' scaling / the floor's: {ours_s / floor_s:.2f}); ours vs the floor: "
              f"{t['inflate-lib'] / t['ours-1cpu']:.2f}x on 1 process, "
              f"{t['floor-all-cpus'] / t['ours']:.2f}x on {procs}")
    print(f"per CPU-second, 1 process: ours {cpu['inflate-lib'] / cpu['ours-1cpu']:.2f}x the "
          f"floor; CPU added by {procs} processes: ours "
          f"{cpu['ours'] / cpu['ours-1cpu'] - 1:+.0%}, the floor "
          f"{cpu['floor-all-cpus'] / cpu['inflate-lib'] - 1:+.0%}")
    same = all(r["hits"] == runs["ours-1cpu"][0]["hits"] for r in runs["ours"] + runs["ours-1cpu"])
    print(f"detections: {len(runs['ours'][0]['hits'])}, "
          f"{'identical' if same else 'DIFFERENT'} on 1 and {procs} processes")
    return 0 if same else 1


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, help="events to generate (default 300,000; "
                    "--full: 1,000,000)")
    ap.add_argument("--full", action="store_true", help="the big size")
    ap.add_argument("--dir", type=Path, help="corpus folder (generated there if empty)")
    ap.add_argument("--keep", action="store_true", help="keep the generated corpus")
    ap.add_argument("--repeat", type=int, default=3, help="runs per variant (median shown)")
    ap.add_argument("--before", default=BEFORE_REF, help="git ref of the 'before' code "
                    "(empty: skip)")
    ap.add_argument("--workers", type=int, default=8, help="workers of the `ours` variant")
    ap.add_argument("--scaling", action="store_true", help="only the isal floor and ours, on "
                    "1 and on --workers processes (quick: for a quiet moment)")
    ap.add_argument("--child", choices=sorted(VARIANTS), help=argparse.SUPPRESS)
    ap.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    args.events = args.events or (1_000_000 if args.full else 300_000)
    if args.child:
        child(args.child, args.dir, args.out)
        return 0
    os.environ["LOGS_BENCH_WORKERS"] = str(args.workers)

    from auditor.logs import reader

    root = args.dir or Path(tempfile.mkdtemp(prefix="drguard-logs-bench-"))
    tree = before_tree(args.before) if args.before else None
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
        if args.scaling:
            return scaling(root, events, args.repeat, args.workers)
        names = ["inflate-zlib", "inflate-lib", "floor-zlib-all-cpus", "floor-all-cpus",
                 "naive", "before", "ours-re2-1cpu", "ours-hs-1cpu", "ours-1cpu", "ours"]
        if tree is None:
            names.remove("before")
            print(f"(no 'before' variant: git ref {args.before!r} not available)")
        runs: dict[str, list[dict]] = {n: [] for n in names}
        load_before = os.getloadavg()
        for i in range(args.repeat):  # interleaved, so that load from others hits all alike
            for name in names:
                if name == "naive" and i:
                    continue  # slow and only a reference: once
                r = run_before(tree, root) if name == "before" else run_variant(name, root)
                runs[name].append(r)
        res = {n: {"seconds": statistics.median(r["seconds"] for r in rs),
                   "cpu": statistics.median(r["cpu"] for r in rs),
                   "all": [r["seconds"] for r in rs], "maxrss_mb": max(r["maxrss_mb"] for r in rs),
                   "child_maxrss_mb": max(r.get("child_maxrss_mb", 0) for r in rs),
                   "hits": rs[0]["hits"], "extra": rs[0]["extra"]} for n, rs in runs.items()}
        load_after = os.getloadavg()
        cpus = os.cpu_count() or 1
        procs = min(args.workers, cpus)
        label = {"inflate-lib": f"inflate-{reader.INFLATE}",
                 "floor-zlib-all-cpus": f"inflate-zlib x{procs}",
                 "floor-all-cpus": f"inflate-{reader.INFLATE} x{procs}",
                 "ours": f"ours ({procs} procs)"}
        print(f"\n{manifest['events']:,} events, {manifest['files']} files, "
              f"{cpus} CPUs; median of {args.repeat} (naive: 1 run); load average (1, 5, 15 "
              f"min) {' '.join(f'{x:.2f}' for x in load_before)} before, "
              f"{' '.join(f'{x:.2f}' for x in load_after)} after; ours scans with "
              f"{scanner()}")
        print(f"{'variant':<22} {'seconds':>8} {'events/s':>12} {'CPU s':>7} {'ev/CPU-s':>10}"
              f" {'peak RSS':>9} {'child':>7}   runs (s)")
        for name, r in res.items():
            print(f"{label.get(name, name):<22} {r['seconds']:8.2f} "
                  f"{events / r['seconds']:12,.0f} {r['cpu']:7.2f} {events / r['cpu']:10,.0f} "
                  f"{r['maxrss_mb']:6.0f} MB {r['child_maxrss_mb']:4.0f} MB   "
                  + " ".join(f"{s:.2f}" for s in r["all"]))
        rate = {n: events / r["seconds"] for n, r in res.items()}
        per_cpu = {n: events / r["cpu"] for n, r in res.items()}
        if "before" in rate:
            print(f"\nafter vs before, wall clock: {rate['ours'] / rate['before']:.2f}x on "
                  f"{cpus} CPUs (goal >= 2x), {rate['ours-1cpu'] / rate['before']:.2f}x on one")
            print(f"after vs before, per CPU-second (robust to a shared machine): "
                  f"{per_cpu['ours-1cpu'] / per_cpu['before']:.2f}x on one CPU; with "
                  f"{cpus} parse processes at ours' own parallel efficiency: "
                  f"{per_cpu['ours'] * cpus / per_cpu['before']:.2f}x")
        print(f"\nevents/s against inflating the same files, same run (goal: >= 0.60x "
              f"{reader.INFLATE} with one process, and scaling with processes):")
        print(f"  1 process : {rate['ours-1cpu']:12,.0f} ev/s = "
              f"{rate['ours-1cpu'] / rate['inflate-zlib']:.2f}x stdlib zlib inflate, "
              f"{rate['ours-1cpu'] / rate['inflate-lib']:.2f}x {reader.INFLATE} inflate "
              f"(hyperscan instead of the C scan: "
              f"{rate['ours-hs-1cpu'] / rate['inflate-lib']:.2f}x, RE2: "
              f"{rate['ours-re2-1cpu'] / rate['inflate-lib']:.2f}x)")
        print(f"  {procs} processes: {rate['ours']:12,.0f} ev/s = "
              f"{rate['ours'] / rate['floor-zlib-all-cpus']:.2f}x zlib inflate x{procs}, "
              f"{rate['ours'] / rate['floor-all-cpus']:.2f}x {reader.INFLATE} inflate "
              f"x{procs}; {rate['ours'] / rate['ours-1cpu']:.2f}x one process (the "
              f"{reader.INFLATE} floor itself: "
              f"{rate['floor-all-cpus'] / rate['inflate-lib']:.2f}x)")
        ours1, ours_n = res["ours-1cpu"], res["ours"]
        floor1, floor_n = res["inflate-lib"], res["floor-all-cpus"]
        print(f"\n1 -> {procs} processes, wall s / CPU s (scaling = 1-process wall / "
              f"{procs}-process wall):")
        print(f"  ours              : {ours1['seconds']:.2f} / {ours1['cpu']:.2f} -> "
              f"{ours_n['seconds']:.2f} / {ours_n['cpu']:.2f}   scaling "
              f"{ours1['seconds'] / ours_n['seconds']:.2f}x")
        print(f"  {reader.INFLATE} inflate floor: {floor1['seconds']:.2f} / {floor1['cpu']:.2f}"
              f" -> {floor_n['seconds']:.2f} / {floor_n['cpu']:.2f}   scaling "
              f"{floor1['seconds'] / floor_n['seconds']:.2f}x")
        relative = (ours1["seconds"] / ours_n["seconds"]) / (
            floor1["seconds"] / floor_n["seconds"])
        print(f"  ours' scaling against the floor's own: {relative:.2f}"
              f" (1.00: ours scales as inflating alone does); CPU added by the processes: "
              f"ours {ours_n['cpu'] / ours1['cpu'] - 1:+.0%}, the floor "
              f"{floor_n['cpu'] / floor1['cpu'] - 1:+.0%}")
        print(f"vs the new floor (inflate-only, {reader.INFLATE}): one CPU "
              f"{rate['ours-1cpu'] / rate['inflate-lib']:.0%} (per CPU-s "
              f"{per_cpu['ours-1cpu'] / per_cpu['inflate-lib']:.0%}), all CPUs "
              f"{rate['ours'] / rate['floor-all-cpus']:.0%}; {reader.INFLATE} inflates "
              f"{rate['inflate-lib'] / rate['inflate-zlib']:.1f}x faster than zlib here "
              f"({per_cpu['inflate-lib'] / per_cpu['inflate-zlib']:.1f}x per CPU-s)")
        print(f"uncompressed size: {res['inflate-zlib']['extra'] / 2**30:.2f} GiB; files "
              f"read record by record: {res['ours']['extra']}")
        same = all(res[n]["hits"] == res["naive"]["hits"]
                   for n in ("before", "ours-re2-1cpu", "ours-hs-1cpu", "ours-1cpu", "ours")
                   if n in res)
        print(f"detections: naive {len(res['naive']['hits'])}, ours {len(res['ours']['hits'])}"
              f" ({len(res['ours']['hits']) / events:.3%} of events): "
              f"{'identical' if same else 'DIFFERENT'} (naive, before, ours-1cpu, ours)")
        return 0 if same else 1
    finally:
        if args.dir is None and not args.keep:
            shutil.rmtree(root, ignore_errors=True)
        if tree is not None:
            shutil.rmtree(tree, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
