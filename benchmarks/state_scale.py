"""`dr-audit state` on large stack exports: time and peak memory grow linearly.

Generates v3 exports (`pulumi stack export` shape) where many resources share a bucket name
(the case that used to be quadratic: every split S3 resource compared with every bucket),
plus RDS instances, trails and padding, at several sizes and in two shapes: `pulumi`, each
resource with every property pulumi-aws keeps for its type (names from the pulumi_aws SDK;
~1.7 KB a resource), and `dense`, only the properties the controls read (~0.8 KB; twice the
resources and findings per MB, the harder case for a parser ratio). It runs the real CLI
(`dr-audit state --file X --format json`) once per size in a fresh process and prints wall
time, peak RSS and findings, and the same figures of the floor in the same run: a fresh
process that only `json.load`s the file and one that only `msgspec.json.decode`s it (the
parser `dr-audit state` uses). Ratios: state CPU / json.load CPU and / msgspec CPU, state peak
RSS / file size (json.load's beside it), and per MB of export (CPU s/MB, RSS MiB/MB) with the
largest/smallest ratio of each: linear growth keeps them flat; last, the two goals at 20 MB
(CPU <= 4x json.load's, peak RSS <= 6x the file) of each shape, with the load average. CPU
time, not wall: the machine may be shared. The checkout is compiled first (an install runs
from bytecode), and each child's peak memory is its own high-water mark (VmHWM).

    python benchmarks/state_scale.py               # 5, 20 MB, both shapes, medians of 3 runs
    python benchmarks/state_scale.py --sizes 20 --repeat 7
    python benchmarks/state_scale.py --shape pulumi --sizes 20
    python benchmarks/state_scale.py --full        # 5, 20, 50, 200 MB
    python benchmarks/state_scale.py --sizes 50 --keep /tmp/exports
    python benchmarks/state_scale.py --also ../main   # the same exports through another checkout
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _bytecode import compile_checkout  # benchmarks/, next to this script

ROOT = Path(__file__).resolve().parents[1]
STACK = "urn:pulumi:prod::big"
PROVIDER = f"{STACK}::pulumi:providers:aws::default_7_51_1"
SHARED = 50  # resources per shared bucket name


def _r(type_: str, name: str, outputs: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"urn": f"{STACK}::{type_}::{name}", "custom": True, "id": name, "type": type_,
            "outputs": outputs, "inputs": outputs, "provider": f"{PROVIDER}::p-1", **extra}


# The zero value the Terraform bridge writes for an unset property of each declared type
# (a nested object: null), as in the state pulumi-aws keeps.
_ZERO = (("Sequence[", list), ("Mapping[", dict), ("_builtins.str", str), ("_builtins.bool", bool),
         ("_builtins.int", int), ("_builtins.float", float))
_GETTER = re.compile(r'@pulumi\.getter(?:\(name="(\w+)"\))?\n(?:    @[^\n]*\n)*'
                     r'    def (\w+)\(self\) -> pulumi\.Output\[(.*?)\]:\n')
_TIMEOUTS = ('{"e2bfb730-ecaa-11e6-8f88-34363bc7c4c0":{"create":2400000000000,'
             '"delete":3600000000000,"update":4800000000000},"schema_version":"2"}')


def _sdk_outputs(type_: str) -> dict[str, Any]:
    """Every output property of a pulumi-aws resource type with the zero value the provider
    keeps for it when unset, read from the pulumi_aws SDK's own getters (its camelCase names)."""
    import inspect

    import pulumi_aws

    _, path, class_name = type_.split(":")  # aws:s3/bucket:Bucket -> pulumi_aws.s3.Bucket
    cls = getattr(getattr(pulumi_aws, path.partition("/")[0]), class_name)
    outputs: dict[str, Any] = {}
    for m in _GETTER.finditer(inspect.getsource(cls)):
        prop = m.group(1) or m.group(2)  # the camelCase name, else the method's
        declared = m.group(3).removeprefix("Optional[")
        outputs[prop] = next((kind() for prefix, kind in _ZERO if declared.startswith(prefix)),
                             None)
    return outputs


class PulumiShape:
    """Resources as `pulumi stack export` writes them for pulumi-aws: the outputs carry every
    property of the type (unset ones at the provider's zero value, timeouts in `__meta`), the
    inputs what the program set plus `__defaults`, and each resource its parent, dependencies,
    property dependencies and timestamps. The same resources and values as the dense shape,
    so the same number of findings, ~2.2x its bytes per resource (~1.7 KB: an RDS instance
    ~4.7 KB); the zero values of what the dense shape leaves out (`skipFinalSnapshot: false`,
    `objectLockEnabled: ""`) turn some verdicts, as they would in a real export."""

    def __init__(self) -> None:
        self.outputs: dict[str, dict[str, Any]] = {}

    def __call__(self, res: dict[str, Any]) -> dict[str, Any]:
        type_ = res["type"]
        if type_ not in self.outputs:
            self.outputs[type_] = _sdk_outputs(type_)
        zero = self.outputs[type_]
        set_ = res["outputs"]
        outputs = {**zero, **set_, "id": res["id"]}
        if "timeouts" in zero:
            outputs["__meta"] = _TIMEOUTS
        if "region" in zero:  # the provider records the region of each resource
            outputs["region"] = "us-east-1"
        if "tagsAll" in zero:
            outputs["tagsAll"] = set_.get("tags", {})
        defaults = sorted(k for k in zero if k not in set_ and zero[k] not in (None, "", []))
        deps = [f"{PROVIDER}::p-1"]
        return {**res, "outputs": outputs, "inputs": {**set_, "__defaults": defaults},
                "parent": f"{STACK}::pulumi:pulumi:Stack::big-prod", "dependencies": deps,
                "propertyDependencies": {k: [] for k in set_},
                "created": "2026-11-02T09:14:27.451902Z", "modified": "2026-12-01T17:40:03.118Z"}


SHAPES = ("pulumi", "dense")


def export(target_bytes: int, shape: str = "dense") -> dict[str, Any]:
    resources: list[dict[str, Any]] = [
        {"urn": f"{STACK}::pulumi:pulumi:Stack::big-prod", "custom": False,
         "type": "pulumi:pulumi:Stack"},
        {"urn": PROVIDER, "custom": True, "id": "p-1", "type": "pulumi:providers:aws",
         "outputs": {"region": "us-east-1"}, "inputs": {"region": "us-east-1"}}]
    reshape = PulumiShape()
    size = 0
    i = 0
    pad = {f"note-{k}": "x" * 40 for k in range(8)}
    while size < target_bytes:
        group = i // SHARED
        bucket = f"backup-shared-{group}"
        batch = [
            _r("aws:s3/bucket:Bucket", f"b{i}", {"bucket": bucket, "arn": f"arn:aws:s3:::{bucket}",
                                                  "tags": {"dr:backup": "true", **pad}}),
            _r("aws:s3/bucketVersioning:BucketVersioning", f"v{i}",
               {"bucket": bucket, "versioningConfiguration": {"status": "Enabled"}}),
            _r("aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration", f"l{i}",
               {"bucket": bucket, "rule": {"defaultRetention": {"days": 30,
                                                                "mode": "COMPLIANCE"}}}),
            _r("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", f"p{i}",
               {"bucket": bucket, "blockPublicAcls": True, "blockPublicPolicy": True,
                "ignorePublicAcls": True, "restrictPublicBuckets": True}),
            _r("aws:s3/bucketReplicationConfig:BucketReplicationConfig", f"r{i}",
               {"bucket": bucket, "role": "arn:aws:iam::123456789012:role/replication",
                "rules": [{"id": "all", "status": "Enabled",
                           "destination": {"bucket": f"arn:aws:s3:::copy-{bucket}"}}]}),
            _r("aws:s3/bucketNotification:BucketNotification", f"n{i}",
               {"bucket": bucket, "topics": [{"topicArn": "arn:aws:sns:us-east-1:"
                                              "123456789012:alerts",
                                              "events": ["s3:ObjectRemoved:*"]}]}),
            _r("aws:rds/instance:Instance", f"db{i}",
               {"identifier": f"db{i}", "arn": f"arn:aws:rds:us-east-1:123456789012:db:db{i}",
                "backupRetentionPeriod": 1 + i % 30, "deletionProtection": i % 2 == 0,
                "engine": "postgres", "tags": pad}),
        ]
        if i % SHARED == 0:  # the replication destination of the group
            batch.append(_r("aws:s3/bucket:Bucket", f"c{i}", {
                "bucket": f"copy-{bucket}", "arn": f"arn:aws:s3:::copy-{bucket}"}))
        if i % 10 == 0:
            batch.append(_r("aws:cloudtrail/trail:Trail", f"t{i}",
                            {"name": f"t{i}", "s3BucketName": bucket,
                             "enableLogFileValidation": True, "isMultiRegionTrail": True}))
        if shape == "pulumi":
            batch = [reshape(r) for r in batch]
        size += len(json.dumps(batch))
        resources += batch
        i += 1
    return {"version": 3, "deployment": {"manifest": {"version": "v3.272.0"},
                                         "resources": resources}}


# A child's peak resident memory, KiB: its own memory's high-water mark (VmHWM). Linux keeps
# ru_maxrss across fork and exec, so a child of this (large) process would report this
# process's resident size when that is the larger.
PEAK = ("next((int(line.split()[1]) for line in open('/proc/self/status') "
        "if line.startswith('VmHWM:')), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)")


def run_cli(path: Path, out: Path, root: Path = ROOT) -> tuple[float, float, float, int, int]:
    """(wall seconds, CPU seconds, peak RSS MiB, exit code, findings) of one `dr-audit state`
    process (CPU time too: the machine may be shared)."""
    code = ("import resource, sys; from auditor.cli import main; rc = main(sys.argv[1:]); "
            "u = resource.getrusage(resource.RUSAGE_SELF); "
            f"print('RSS', {PEAK}, u.ru_utime + u.ru_stime, file=sys.stderr); "
            "sys.exit(rc)")
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", code, "state", "--file", str(path),
                           "--output-dir", str(out), "--format", "json"],
                          cwd=root, capture_output=True, text=True, check=False,
                          env={**os.environ, "PYTHONPATH": str(root)})
    wall = time.perf_counter() - t0
    usage = next((line.split()[1:] for line in proc.stderr.splitlines()
                  if line.startswith("RSS ")), ["0", "0"])
    rss, cpu = int(usage[0]) / 1024, float(usage[1])
    if proc.returncode not in (0, 1, 3):
        sys.exit(f"dr-audit state failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    findings = len(json.loads((out / "report.json").read_text())["findings"])
    # each run writes into a new folder, as a CI job does: replacing the report of the run
    # before would add the kernel's freeing of its pages (~25 ms for 30 MB) to the next run
    shutil.rmtree(out)
    return wall, cpu, rss, proc.returncode, findings


FLOOR = ("import resource, sys, time, json{imp}; t = time.process_time(); "
         "d = {call}; t = time.process_time() - t; "
         "print(t, " + PEAK.replace("{", "{{").replace("}", "}}") + ")")
PARSERS = {"json.load": ("", "json.load(open(sys.argv[1], encoding='utf-8'))"),
           "msgspec": (", msgspec", "msgspec.json.decode(open(sys.argv[1], 'rb').read())")}


def median_of(n: int, run: Callable[..., tuple[Any, ...]], *args: Any) -> tuple[Any, ...]:
    """Field by field, the median of `n` runs (a process's CPU time moves by ~10% from run
    to run on a shared machine; a ratio of two single runs twice that)."""
    runs = [run(*args) for _ in range(max(1, n))]
    return tuple(statistics.median_low(field) for field in zip(*runs, strict=True))


def run_floor(path: Path, parser: str) -> tuple[float, float]:
    """(parse CPU seconds, peak RSS MiB) of a fresh process that only parses the file."""
    imp, call = PARSERS[parser]
    proc = subprocess.run([sys.executable, "-c", FLOOR.format(imp=imp, call=call), str(path)],
                          capture_output=True, text=True, check=True)
    cpu, rss = proc.stdout.split()
    return float(cpu), int(rss) / 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="5,20", help="export sizes in MB (default 5,20)")
    ap.add_argument("--full", action="store_true",
                    help="the big sizes, 5, 20, 50 and 200 MB (in place of --sizes)")
    ap.add_argument("--shape", default=",".join(SHAPES),
                    help="export shapes, comma-separated: pulumi (resources with every "
                         "property, as pulumi-aws writes them) and dense (only the properties "
                         "the controls read); default both")
    ap.add_argument("--repeat", type=int, default=None,
                    help="runs of each process per size (default 3; --full: 1); each figure "
                         "is the median of its runs, the floors' too")
    ap.add_argument("--keep", type=Path, help="write the exports here instead of a temp dir")
    ap.add_argument("--also", type=Path, metavar="CHECKOUT",
                    help="also run another checkout's dr-audit state (e.g. the code before a "
                         "change) on each export, in the same run")
    args = ap.parse_args()
    if args.full:
        args.sizes = "5,20,50,200"
    if args.repeat is None:
        args.repeat = 1 if args.full else 3
    compile_checkout(ROOT)  # an install runs from bytecode (see _bytecode.py)
    if args.also is not None:
        compile_checkout(args.also.resolve())
    folder = args.keep or Path(tempfile.mkdtemp(prefix="dr-guard-state-scale-"))
    folder.mkdir(parents=True, exist_ok=True)
    shapes = [x for x in args.shape.split(",") if x]
    if not shapes or set(shapes) - set(SHAPES):
        ap.error(f"--shape: one or more of {', '.join(SHAPES)}")
    print(f"{'shape':>6} {'MB':>5} {'resources':>10} {'findings':>9} {'exit':>4} {'wall s':>7} "
          f"{'CPU s':>6} {'RSS MiB':>8} {'json.load s':>11} {'msgspec s':>9} "
          f"{'x json.load':>11} {'x msgspec':>9} {'RSS/file':>8} {'json.load RSS/file':>18} "
          f"{'CPU s/MB':>8} {'RSS MiB/MB':>10}")
    try:
        for shape in shapes:
            run_shape(shape, [float(x) for x in args.sizes.split(",")], folder, args)
    finally:
        if not args.keep:  # the reports written (up to hundreds of MB)
            shutil.rmtree(folder, ignore_errors=True)
    print(f"(machine: {os.cpu_count()} cores; this process peak "
          f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB)")


def run_shape(shape: str, sizes: list[float], folder: Path, args: argparse.Namespace) -> None:
    """Each size of one export shape, then its linearity and its goals at 20 MB."""
    per_mb: list[tuple[float, float, float]] = []  # (MB, state CPU s, state peak RSS MiB)
    goals: list[tuple[float, float, float]] = []  # (MB, x json.load CPU, peak RSS / file)
    for mb in sizes:
        doc = export(int(mb * 1e6), shape)
        path = folder / f"export-{shape}-{mb:g}mb.json"
        path.write_text(json.dumps(doc))
        n = len(doc["deployment"]["resources"])
        del doc
        size = path.stat().st_size / 2**20
        load_cpu, load_rss = median_of(args.repeat, run_floor, path, "json.load")
        fast_cpu, _ = median_of(args.repeat, run_floor, path, "msgspec")
        wall, cpu, rss, code, findings = median_of(args.repeat, run_cli, path,
                                                   folder / f"out-{shape}-{mb:g}")
        mbytes = path.stat().st_size / 1e6
        per_mb.append((mbytes, cpu, rss))
        goals.append((mbytes, cpu / load_cpu, rss / size))
        print(f"{shape:>6} {mbytes:5.1f} {n:10,} {findings:9,} {code:4} {wall:7.1f} {cpu:6.1f} "
              f"{rss:8.0f} {load_cpu:11.2f} {fast_cpu:9.2f} {cpu / load_cpu:11.1f} "
              f"{cpu / fast_cpu:9.1f} {rss / size:8.1f} {load_rss / size:18.1f} "
              f"{cpu / mbytes:8.3f} {rss / mbytes:10.2f}", flush=True)
        if args.also is not None:
            wall, cpu, rss, code, findings = median_of(
                args.repeat, run_cli, path, folder / f"also-{shape}-{mb:g}",
                args.also.resolve())
            print(f"{'':6} {'':5} {'(--also)':>10} {findings:9,} {code:4} {wall:7.1f} {cpu:6.1f} "
                  f"{rss:8.0f} {'':11} {'':9} {cpu / load_cpu:11.1f} {cpu / fast_cpu:9.1f} "
                  f"{rss / size:8.1f}", flush=True)
        if not args.keep:
            path.unlink()
    if len(per_mb) > 1:  # linear: each further MB costs the same CPU and memory
        steps = [f"{a[0]:.0f}->{b[0]:.0f} MB: {(b[1] - a[1]) / (b[0] - a[0]):.3f} CPU s/MB, "
                 f"{(b[2] - a[2]) / (b[0] - a[0]):.2f} MiB/MB"
                 for a, b in zip(per_mb, per_mb[1:], strict=False)]
        cpus = [c / mb for mb, c, _ in per_mb]
        print(f"{shape}: linearity, per further MB: " + "; ".join(steps) +
              f" (CPU s/MB overall {min(cpus):.3f}-{max(cpus):.3f}; the interpreter's fixed "
              "~30 MiB and imports weigh most on the small sizes)")
    # the goals, at the size they are set for (20 MB): CPU <= 4x json.load, RSS <= 6x the file
    mb, ratio, rss_ratio = min(goals, key=lambda g: abs(g[0] - 20))
    if abs(mb - 20) > 1:
        print(f"{shape}: the goals are set at 20 MB, which this run did not measure")
        return
    print(f"{shape}: goals at {mb:.0f} MB: state CPU {ratio:.1f}x json.load's (goal <= 4x: "
          f"{'held' if ratio <= 4 else 'NOT held'}), peak RSS {rss_ratio:.1f}x the file "
          f"(goal <= 6x: {'held' if rss_ratio <= 6 else 'NOT held'}); load average "
          f"{os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
