"""What the policy pack costs the machines that enforce it.

1. Install: a fresh virtualenv from the pack's requirements.txt (what the Pulumi CLI installs
   for the pack) against one from pulumi-policy alone (the floor: the SDK and its pulumi),
   both with the warm pip cache this machine has: wall time, size on disk, packages.
2. Time to serve: the pack staged as `make policy-pack` stages it (what `pulumi policy
   publish` ships), run from the requirements.txt virtualenv, against the harness's no-op
   pack on the same interpreter: wall time from process start to the first answered
   GetAnalyzerInfo, median of --rounds runs after one untimed run (bytecode compiled).
   The staged pack is then configured and sent a stack, so a virtualenv missing a package
   fails here rather than in production.

    python benchmarks/pack_footprint.py [--rounds 5] [--keep DIR]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.harness.analyzer import PolicyPackProcess, make_resource  # noqa: E402

NOOP = ROOT / "tests" / "harness" / "noop_pack"
FLOOR = "pulumi-policy==1.21.0"


def venv_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def make_venv(path: Path, requirement_args: list[str]) -> tuple[float, int, int]:
    """(seconds, bytes, packages) of `python -m venv` + `pip install ...` into `path`."""
    t = time.perf_counter()
    subprocess.run([sys.executable, "-m", "venv", str(path)], check=True)
    done = subprocess.run([str(path / "bin" / "python"), "-m", "pip", "install", "-q",
                           "--disable-pip-version-check", *requirement_args],
                          capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"pip install {' '.join(requirement_args)} failed:\n{done.stderr}")
    seconds = time.perf_counter() - t
    listed = subprocess.run([str(path / "bin" / "python"), "-m", "pip", "list",
                             "--disable-pip-version-check", "--format=freeze"],
                            check=True, capture_output=True, text=True).stdout.split()
    return seconds, venv_size(path), len(listed)


def stage_pack(dest: Path) -> Path:
    subprocess.run(["make", "-s", "policy-pack", f"PACK_DIR={dest}"], cwd=ROOT, check=True,
                   stdout=subprocess.DEVNULL)
    return dest


def stage_noop(dest: Path, venv: Path) -> Path:
    shutil.copytree(NOOP, dest, ignore=shutil.ignore_patterns("__pycache__"))
    (dest / "PulumiPolicy.yaml").write_text(
        "description: no-op pack (benchmark copy)\nruntime:\n  name: python\n  options:\n"
        f"    virtualenv: {venv}\nversion: 0.0.1\n")
    return dest


def time_to_serve(pack: Path, rounds: int, warm_up: bool = True) -> list[float]:
    """Seconds from process start to the first answered GetAnalyzerInfo, `rounds` times
    (after one untimed run that compiles the pack's modules, as any later start finds them)."""
    if warm_up:
        time_to_serve(pack, 1, warm_up=False)
    samples = []
    for _ in range(rounds):
        t = time.perf_counter()
        with PolicyPackProcess(pack) as proc:
            proc.client().get_analyzer_info()
            samples.append(time.perf_counter() - t)
    return samples


def smoke(pack: Path) -> str:
    """Configure the staged pack and analyze a small stack: it must answer, not crash."""
    with PolicyPackProcess(pack) as proc:
        client = proc.client()
        info = client.get_analyzer_info()
        client.configure({})
        bucket = make_resource("aws:s3/bucket:Bucket", "prod-backups",
                               {"bucket": "prod-backups", "tags": {"dr:backup": "true"}})
        result = client.analyze_stack([bucket])
        return (f"{len(info.policies)} policies; a 1-bucket stack -> "
                f"{len(result.diagnostics)} diagnostics")


def mb(n: int) -> str:
    return f"{n / 1e6:.0f} MB"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--keep", type=Path, help="work here and keep it (default: a temp dir)")
    args = ap.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="dr-guard-footprint-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        pack = stage_pack(work / "pack")
        floor = work / "floor-venv"
        print("install (fresh virtualenv, warm pip cache):")
        s1, b1, n1 = make_venv(pack / ".venv", ["-r", str(ROOT / "requirements.txt")])
        print(f"  requirements.txt     {s1:5.1f} s  {mb(b1):>7}  {n1} packages")
        s2, b2, n2 = make_venv(floor, [FLOOR])
        print(f"  {FLOOR:<20} {s2:5.1f} s  {mb(b2):>7}  {n2} packages")
        print(f"  pack / floor: {s1 / s2:.2f}x time, {b1 / b2:.2f}x size, "
              f"+{mb(b1 - b2)} for drguard's own needs")
        noop = stage_noop(work / "noop", pack / ".venv")
        print(f"time to serve (start -> first GetAnalyzerInfo answered), "
              f"median of {args.rounds}, same interpreter:")
        ours = time_to_serve(pack, args.rounds)
        base = time_to_serve(noop, args.rounds)
        m1, m2 = statistics.median(ours), statistics.median(base)
        print(f"  dr-guard (staged, requirements.txt venv)  {m1:.3f} s  "
              f"(min {min(ours):.3f}, max {max(ours):.3f})")
        print(f"  no-op pack                                {m2:.3f} s  "
              f"(min {min(base):.3f}, max {max(base):.3f})")
        print(f"  dr-guard / no-op: {m1 / m2:.2f}x (+{(m1 - m2) * 1000:.0f} ms)")
        print(f"smoke test of the staged pack on its own venv: {smoke(pack)}")
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
