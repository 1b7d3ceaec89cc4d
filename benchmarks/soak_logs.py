"""Soak of the CloudTrail log reader with thousands of generated hostile inputs.

    python benchmarks/soak_logs.py [--inputs 5000] [--seed 1] [--hang-seconds 30]
                                   [--big-mib 200 --big-files 6 | --no-big]

Each input is one log file (hostile values of every class beside valid records, syntax
damage, byte flips and cuts, random bytes, odd names) read by `collect` next to an intact
companion file, in a child process watched for hangs. It prints the inputs, tracebacks,
hangs, lost valid detections (a valid record beside a bad one, or in the intact file, not
detected), losses nobody counted (a file cut short that lost records without a counted
skip) and the peak RSS. Then, unless --no-big, the memory check: `--big-files` files of
`--big-mib` MiB decompressed each, read with the default workers, and the peak RSS of the
reader (parent and largest worker). Exit 1 when any traceback, hang or loss was seen.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gzip
import json
import logging
import multiprocessing
import os
import random
import resource
import shutil
import sys
import tempfile
import time
import traceback
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from auditor.logs import samples  # noqa: E402

T = dt.datetime(2024, 5, 2, 12, tzinfo=dt.UTC)
BAD_UTF8 = (b'"caf\xe9"', b'"\xff\xfe\xfd"', b'"\xed\xa0\x80"', b'"\xc3"')
KINDS = ("value", "token", "utf8", "flip", "cut", "random", "structure", "odd-name")


def suspend(event_id: str) -> dict[str, Any]:
    return samples.record("PutBucketVersioning", "s3.amazonaws.com",
                          {"bucketName": "nightly-backups",
                           "VersioningConfiguration": {"Status": "Suspended"}},
                          time=T, event_id=event_id)


def enc(rec: dict[str, Any]) -> bytes:
    return json.dumps(rec, separators=(",", ":")).encode()


def make_input(i: int, rng: random.Random) -> dict[str, Any]:
    """One hostile file: name, bytes, the valid ids that must be found ('beside'), and whether
    a loss must at least be counted ('counted')."""
    kind = KINDS[i % len(KINDS)]
    valid = [suspend(f"v{i}-{k}") for k in range(2)]
    base = samples.violation(rng, T, samples.ACCOUNT, "us-east-1")
    gz = rng.random() < 0.6
    name = f"in{i}.json" + (".gz" if gz else "")
    beside: list[str] = []
    counted: list[str] = []
    if kind in ("value", "token", "utf8"):
        path = rng.choice(samples.paths(base))
        raw: str | bytes
        if kind == "value":
            raw = rng.choice(samples.HOSTILE)[1]
        elif kind == "token":
            raw = rng.choice(samples.INVALID_TOKENS)
        else:
            raw = rng.choice(BAD_UTF8)
        bad = samples.inject(base, path, raw)
        parts = [enc(valid[0]), bad, enc(valid[1])]
        rng.shuffle(parts)
        data = samples.log_text(parts, compress=gz)
        beside = [v["eventID"] for v in valid]
    elif kind in ("flip", "cut"):
        recs = valid + samples.mixed_records(rng, rng.randint(5, 60), T, violation_rate=0.05)
        rng.shuffle(recs)
        data = bytearray(samples.log_file(recs, compress=gz))
        if kind == "flip":
            for _ in range(rng.randint(1, 8)):
                data[rng.randrange(len(data))] = rng.randrange(256)
        else:
            data = data[: rng.randrange(len(data))]
            counted = [v["eventID"] for v in valid]
        data = bytes(data)
    elif kind == "random":
        data = rng.randbytes(rng.randint(0, 3000))
        if rng.random() < 0.5:
            data = b'{"Records":[' + data
    elif kind == "structure":
        doc: Any = {"Records": [rng.choice([1, "x", None, [], {}, {"eventName": ["a"]}])
                                for _ in range(rng.randint(0, 5))] + [valid[0]]}
        if rng.random() < 0.3:
            doc = {"Records": doc}
        data = json.dumps(doc).encode()
        data = gzip.compress(data) if gz else data
        beside = [valid[0]["eventID"]] if "Records" in doc and isinstance(doc["Records"], list) \
            else []
    else:  # odd-name: impossible times in CloudTrail names
        name = (f"{samples.ACCOUNT}_CloudTrail_us-east-1_2024{rng.randint(0, 99):02d}"
                f"{rng.randint(0, 99):02d}T{rng.randint(0, 99):02d}{rng.randint(0, 99):02d}"
                f"Z_x{i}.json.gz")
        data = samples.log_file(valid)
        beside = [v["eventID"] for v in valid]
    return {"i": i, "kind": kind, "name": name, "data": data, "beside": beside,
            "counted": counted}


def check_one(inp: dict[str, Any], companion: bytes, companion_id: str) -> dict[str, Any]:
    """Read one input beside the intact companion; what was lost, and what was counted."""
    from auditor.logs.pipeline import collect
    from auditor.logs.window import Window
    from drguard.settings import Settings

    with tempfile.TemporaryDirectory() as d:
        Path(d, inp["name"]).write_bytes(inp["data"])
        Path(d, "companion.json.gz").write_bytes(companion)
        hits, meta = collect([d], Window(), Settings(), workers=1)
    found = {h.event["eventId"] for h in hits}
    skipped = meta["skipped"]["files"] + meta["skipped"]["records"]
    lost = [x for x in [*inp["beside"], companion_id] if x not in found]
    uncounted = [x for x in inp["counted"] if x not in found] if not skipped else []
    lines_ok = all("\n" not in e["reason"] for e in meta["skipped_detail"])
    return {"lost": lost, "uncounted": uncounted, "skipped": skipped, "one_line": lines_ok}


def _child(jobs: list[dict[str, Any]], conn: Any) -> None:
    logging.disable(logging.WARNING)  # every input warns by design; the counts say it all
    companion_rec = suspend("companion")
    companion = samples.log_file([companion_rec])
    for inp in jobs:
        conn.send(("start", inp["i"]))
        try:
            out = check_one(inp, companion, "companion")
            conn.send(("done", inp["i"], out))
        except BaseException:  # noqa: BLE001 - what the soak is here to find
            conn.send(("traceback", inp["i"], traceback.format_exc()))
    conn.send(("rss", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024))
    conn.close()


def soak(n: int, seed: int, hang_seconds: float, batch: int = 200) -> dict[str, Any]:
    rng = random.Random(seed)
    inputs = [make_input(i, rng) for i in range(n)]
    ctx = multiprocessing.get_context("fork")
    stats: Counter[str] = Counter()
    by_kind: dict[str, Counter[str]] = {k: Counter() for k in KINDS}
    problems: list[str] = []
    peak = 0.0
    todo = list(inputs)
    while todo:
        jobs, todo = todo[:batch], todo[batch:]
        parent, child = ctx.Pipe()
        proc = ctx.Process(target=_child, args=(jobs, child))
        proc.start()
        child.close()
        current = None
        done_ids: set[int] = set()
        while True:
            if not parent.poll(hang_seconds):
                stats["hangs"] += 1
                problems.append(f"hang: input {current} ({inputs[current]['kind']})"
                                if current is not None else "hang before any input")
                proc.kill()
                break
            try:
                msg = parent.recv()
            except EOFError:
                if current is not None and current not in done_ids:
                    stats["tracebacks"] += 1
                    problems.append(f"input {current}: worker died")
                break
            if msg[0] == "start":
                current = msg[1]
            elif msg[0] == "traceback":
                stats["tracebacks"] += 1
                done_ids.add(msg[1])
                problems.append(f"input {msg[1]} ({inputs[msg[1]]['kind']}): {msg[2]}")
            elif msg[0] == "done":
                done_ids.add(msg[1])
                out, kind = msg[2], inputs[msg[1]]["kind"]
                stats["inputs"] += 1
                by_kind[kind]["inputs"] += 1
                by_kind[kind]["with skips"] += bool(out["skipped"])
                if out["lost"]:
                    stats["lost"] += len(out["lost"])
                    by_kind[kind]["lost"] += len(out["lost"])
                    problems.append(f"input {msg[1]} ({kind}): lost {out['lost']}")
                if out["uncounted"]:
                    stats["uncounted"] += len(out["uncounted"])
                    problems.append(f"input {msg[1]} ({kind}): lost uncounted "
                                    f"{out['uncounted']}")
                if not out["one_line"]:
                    stats["multi-line reasons"] += 1
            elif msg[0] == "rss":
                peak = max(peak, msg[1])
        proc.join(5)
        # inputs of this batch never reached (after a hang or a crash) go round again
        todo = [j for j in jobs if j["i"] not in done_ids and j["i"] != current] + todo
    return {"stats": stats, "by_kind": by_kind, "problems": problems, "peak_mb": peak}


def big_files(root: Path, mib: int, count: int) -> int:
    """`count` gzipped files of about `mib` MiB decompressed each (one written, copied)."""
    rng = random.Random(3)
    recs: list[dict[str, Any]] = []
    size = 0
    while size < mib << 20:
        more = samples.mixed_records(rng, 2000, T, violation_rate=0.001)
        size += sum(len(enc(r)) + 1 for r in more)
        recs += more
    data = samples.log_file(recs)
    del recs
    first = root / "big-0.json.gz"
    first.write_bytes(data)
    for k in range(1, count):
        shutil.copy(first, root / f"big-{k}.json.gz")
    return size


def _big_child(root: str, conn: Any) -> None:
    from auditor.logs.pipeline import WORKERS, collect
    from auditor.logs.window import Window
    from drguard.settings import Settings

    t0 = time.perf_counter()
    hits, meta = collect([root], Window(), Settings(), workers=WORKERS)
    conn.send({"seconds": time.perf_counter() - t0, "hits": len(hits),
               "skipped": meta["skipped"], "files": meta["files"],
               "parent_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
               "worker_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024})


def memory_check(mib: int, count: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="drguard-soak-big-") as d:
        size = big_files(Path(d), mib, count)
        ctx = multiprocessing.get_context("fork")
        parent, child = ctx.Pipe()
        proc = ctx.Process(target=_big_child, args=(d, child))
        proc.start()
        out = parent.recv()
        proc.join()
        out["decompressed_mib"] = size * count / 2**20
        return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--inputs", type=int, default=5000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--hang-seconds", type=float, default=30)
    ap.add_argument("--big-mib", type=int, default=200)
    ap.add_argument("--big-files", type=int, default=6)
    ap.add_argument("--no-big", action="store_true")
    args = ap.parse_args()
    memory = None if args.no_big else memory_check(args.big_mib, args.big_files)  # first:
    # a forked child's RSS counts the pages it shares with its parent, kept small here
    t0 = time.perf_counter()
    res = soak(args.inputs, args.seed, args.hang_seconds)
    s = res["stats"]
    print(f"logs soak: {s['inputs']} inputs in {time.perf_counter() - t0:.0f} s "
          f"(seed {args.seed})")
    print(f"  tracebacks: {s['tracebacks']}")
    print(f"  hangs (> {args.hang_seconds:.0f} s): {s['hangs']}")
    print(f"  lost valid detections: {s['lost']}")
    print(f"  losses not counted as skipped: {s['uncounted']}")
    print(f"  multi-line skip reasons: {s['multi-line reasons']}")
    print(f"  peak RSS of a soak worker: {res['peak_mb']:.0f} MB")
    for kind, c in res["by_kind"].items():
        print(f"    {kind:<10} inputs {c['inputs']:5d}  with counted skips "
              f"{c['with skips']:5d}  lost {c['lost']}")
    for p in res["problems"][:20]:
        print("  !", p.splitlines()[0] if "Traceback" not in p else p)
    bad = s["tracebacks"] + s["hangs"] + s["lost"] + s["uncounted"]
    if memory is not None:
        m = memory
        print(f"memory: {args.big_files} files x {m['decompressed_mib'] / args.big_files:.0f} "
              f"MiB decompressed ({m['decompressed_mib'] / 1024:.2f} GiB), default workers, "
              f"{os.cpu_count()} CPUs: {m['seconds']:.1f} s, peak RSS parent "
              f"{m['parent_mb']:.0f} MB, largest worker {m['worker_mb']:.0f} MB; "
              f"{m['hits']} hits, skipped {m['skipped']}")
        bad += bool(any(m["skipped"].values()))
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
