"""Soak: at least 10,000 generated hostile inputs across config, state, the pack and logs.

    python benchmarks/soak.py [--config 2000] [--state 3000] [--pack 2500] [--logs 2500]
                              [--seed 1] [--hang-seconds 20]

The inputs come from the fuzz suite's generators (tests/test_fuzz_config.py,
tests/test_fuzz_state.py, tests/test_fuzz_pack.py) driven by hypothesis with many more
examples; logs inputs from benchmarks/soak_logs.py (LOGS's soak, called in-process).

- config: mutated auditor/pack configs (JSON and YAML), byte-flipped files and waiver files,
  through `drguard.settings.load_file` / `drguard.settings.load_waiver_file`.
- state: mutated `pulumi stack export` documents through `auditor.state` (load + judge).
- pack: Configure, Analyze and AnalyzeStack over gRPC against the real pack process.

For each input the outcome must be a result (settings, findings, diagnostics) or a one-line
error; anything else is a traceback. An input running longer than --hang-seconds is a hang.
A lost valid detection is a violation on an untouched resource (or beside an unrelated
hostile property) that is missing. Prints the counts and the peak RSS (this process and the
pack), and exits 1 when any traceback, hang or loss was seen.
"""

from __future__ import annotations

import argparse
import json
import resource
import signal
import sys
import tempfile
import time
import traceback
import warnings
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import grpc  # noqa: E402
import yaml  # noqa: E402
from hypothesis import HealthCheck, given, seed, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from hypothesis.errors import NonInteractiveExampleWarning  # noqa: E402
from pulumi.runtime.proto import analyzer_pb2 as pb  # noqa: E402

from auditor import state  # noqa: E402
from drguard.errors import ConfigError  # noqa: E402
from drguard.settings import Settings, load_file, load_waiver_file  # noqa: E402

warnings.simplefilter("ignore", NonInteractiveExampleWarning)


class Hang(Exception):
    pass


def _alarm(_sig: int, _frame: Any) -> None:
    raise Hang()


class Tally:
    def __init__(self, name: str) -> None:
        self.name = name
        self.c: Counter[str] = Counter()
        self.samples: list[str] = []
        self.peak_mb = 0.0  # of worker processes, when the area runs in them (logs)

    def run(self, fn: Any, *args: Any, hang_seconds: float) -> None:
        self.c["inputs"] += 1
        signal.setitimer(signal.ITIMER_REAL, hang_seconds)
        try:
            self.c[fn(*args)] += 1
        except Hang:
            self.c["hangs"] += 1
            self.samples.append(f"{self.name}: hang on input #{self.c['inputs']}")
        except AssertionError as e:  # a lost detection or a multi-line error
            self.c["lost" if str(e).startswith("lost") else "tracebacks"] += 1
            self.samples.append(f"{self.name}: {str(e)[:300]}")
        except Exception:  # noqa: BLE001 - this is what the soak counts
            self.c["tracebacks"] += 1
            self.samples.append(f"{self.name}: {traceback.format_exc()[-1500:]}")
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)


def _one_line(e: BaseException, prefix: str) -> str:
    text = str(e)
    assert "\n" not in text and text.startswith(prefix), f"bad error line: {text[:200]}"
    return "one-line errors"


def _drive(strategy: Any, n: int, seed_value: int, body: Any, tally: Tally) -> None:
    """Run `body(example)` on examples of `strategy` (hypothesis, no shrinking) until `tally`
    has counted n inputs (some examples are not usable inputs and are not counted)."""
    while tally.c["inputs"] < n:
        missing = n - tally.c["inputs"]

        @seed(seed_value)
        @settings(max_examples=missing + missing // 10 + 1, deadline=None, database=None,
                  phases=["generate"], suppress_health_check=list(HealthCheck))
        @given(strategy)
        def run(example: Any) -> None:
            if tally.c["inputs"] < n:
                body(example)
        run()
        seed_value += 1


# ---- config --------------------------------------------------------------------------------

def soak_config(n: int, seed_value: int, hang: float) -> Tally:
    from tests.test_fuzz_config import VALID, WAIVER, _write, mutated, values

    t = Tally("config")
    tmp = Path(tempfile.mkdtemp(prefix="dr-guard-soak-config-"))

    def load(path: Path) -> str:
        try:
            load_file(path)
            return "loaded"
        except ConfigError as e:
            return _one_line(e, str(path))

    def load_waivers(path: Path) -> str:
        try:
            load_waiver_file(path)
            return "loaded"
        except ConfigError as e:
            return _one_line(e, str(path))

    def body(example: tuple[str, Any, Any]) -> None:
        kind, doc, extra = example
        if kind == "doc":
            path = _write(tmp, doc, extra)
            if path is not None:
                t.run(load, path, hang_seconds=hang)
        elif kind == "bytes":
            base, edits = doc
            data = bytearray(json.dumps(base).encode() if extra == "json"
                             else yaml.safe_dump(base).encode())
            for pos, chunk in edits:
                at = pos % (len(data) + 1)
                data[at:at + len(chunk)] = chunk
            path = tmp / f"b.{extra}"
            path.write_bytes(bytes(data))
            t.run(load, path, hang_seconds=hang)
        else:
            path = tmp / "w.yaml"
            try:
                path.write_text(yaml.safe_dump({"waivers": doc}), encoding="utf-8",
                                errors="surrogatepass")
            except (yaml.YAMLError, RecursionError, ValueError):
                return
            t.run(load_waivers, path, hang_seconds=hang)

    flips = st.tuples(st.sampled_from(VALID),
                      st.lists(st.tuples(st.integers(0, 10 ** 6), st.binary(max_size=4)),
                               min_size=1, max_size=4))
    waiver_lists = st.lists(st.one_of(values, st.builds(
        lambda k, v: {**WAIVER, k: v}, st.sampled_from(sorted(WAIVER) + ["tags", "x"]),
        values)), max_size=3)
    strategy = st.one_of(
        st.tuples(st.just("doc"), mutated(), st.sampled_from(["json", "yaml"])),
        st.tuples(st.just("bytes"), flips, st.sampled_from(["json", "yaml"])),
        st.tuples(st.just("waivers"), waiver_lists, st.none()))
    _drive(strategy, n, seed_value, body, t)
    return t


# ---- state ---------------------------------------------------------------------------------

def soak_state(n: int, seed_value: int, hang: float) -> Tally:
    from tests.test_fuzz_state import BASE_SECRETS, KEPT, mutated

    t = Tally("state")

    def judge(text: str, touched: set[str]) -> str:
        try:
            export = state.parse(state.loads(text), "soak.json")
        except state.StateError as e:
            return _one_line(e, "soak.json: ")
        findings = state.evaluate(export, Settings())
        seen = {(f.resource.rsplit("::", 1)[-1], f.control): f.status for f in findings}
        for name, control in KEPT:
            if name not in touched and seen.get((name, control)) != "fail":
                raise AssertionError(f"lost {control} on {name} (touched {sorted(touched)})")
        dumped = json.dumps([f.to_dict() for f in findings], default=str)
        assert not any(s in dumped for s in BASE_SECRETS), "a secret reached a finding"
        return "judged (incomplete)" if export.unreadable or export.unjudged else "judged"

    _drive(mutated(), n, seed_value, lambda case: t.run(judge, *case, hang_seconds=hang), t)
    return t


# ---- pack ----------------------------------------------------------------------------------

def soak_pack(n: int, seed_value: int, hang: float) -> tuple[Tally, float]:
    from tests.harness.analyzer import PolicyPackProcess
    from tests.test_fuzz_pack import BASE, BY_NAME, POLICIES, _mutate, _struct_ok, mutation

    t = Tally("pack")
    with PolicyPackProcess(ROOT) as pack:
        client = pack.client(timeout=hang)
        client.configure()
        native = BY_NAME["native-backups"]["urn"]

        def configure(name: str, props: dict[str, Any]) -> str:
            req = pb.ConfigureAnalyzerRequest()
            req.policyConfig[name].enforcementLevel = pb.ADVISORY
            req.policyConfig[name].properties.update(props)
            try:
                client.stub.Configure(req, timeout=hang)
                return "configured"
            except grpc.RpcError as e:
                if e.code() == grpc.StatusCode.DEADLINE_EXCEEDED:
                    raise Hang() from None
                assert e.code() == grpc.StatusCode.INVALID_ARGUMENT, \
                    f"Configure answered {e.code()}: {e.details()[:200]}"
                return _one_line(RuntimeError(e.details()), "invalid policy pack config")
            finally:
                client.configure()

        def analyze(change: tuple[str, str, Any]) -> str:
            name, key, value = change
            try:
                client.analyze(_mutate(BY_NAME[name], key, value))
                got = {d.policy_name for d in client.analyze(
                    _mutate(BY_NAME["orders-db"], "xUnrelated", value)).diagnostics}
                if not {"rds-backup-retention", "rds-deletion-protection"} <= got:
                    raise AssertionError(f"lost a violation on orders-db beside {key}")
                resources = [(_mutate(r, key, value) if r["name"] == name else r)
                             for r in BASE]
                result = client.analyze_stack(resources)
            except grpc.RpcError as e:
                if e.code() == grpc.StatusCode.DEADLINE_EXCEEDED:
                    raise Hang() from None
                raise AssertionError(f"Analyze answered {e.code()}: {e.details()[:200]}") \
                    from None
            kept = [d for d in result.diagnostics if d.policy_name == "backup-bucket-versioning"
                    and (d.urn == native or "native-backups" in d.message)]
            if name != "native-backups" and not kept:
                raise AssertionError(f"lost backup-bucket-versioning on native-backups "
                                     f"({name}.{key} mutated)")
            return "analyzed"

        def body(example: tuple[str, Any]) -> None:
            kind, payload = example
            if not _struct_ok(payload[-1] if kind == "analyze" else payload[1]):
                return
            if kind == "configure":
                t.run(configure, *payload, hang_seconds=hang * 2)
            else:
                t.run(analyze, payload, hang_seconds=hang * 3)

        from tests.test_fuzz_pack import values
        props = st.dictionaries(st.sampled_from(["minRetentionDays", "allowedLockModes",
                                                 "backupBucketPatterns", "waivers",
                                                 "waiversFile", "stateBucket", "x"]),
                                values, max_size=3)
        strategy = st.one_of(
            st.tuples(st.just("configure"),
                      st.tuples(st.sampled_from([*POLICIES, "all", "nope"]), props)),
            st.tuples(st.just("analyze"), mutation()))
        _drive(strategy, n, seed_value, body, t)
        alive = client.get_analyzer_info().name == "dr-guard"
        if not alive:
            t.c["hangs"] += 1
        pack_rss = _pack_rss(pack)
    return t, pack_rss


def _pack_rss(pack: Any) -> float:
    try:
        status = Path(f"/proc/{pack.proc.pid}/status").read_text()
    except (OSError, AttributeError):
        return 0.0
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


# ---- logs ----------------------------------------------------------------------------------

def soak_logs(n: int, seed_value: int, hang: float) -> Tally | None:
    try:
        import soak_logs as logs_soak  # benchmarks/soak_logs.py (LOGS)
    except ImportError:
        sys.path.insert(0, str(ROOT / "benchmarks"))
        try:
            import soak_logs as logs_soak
        except ImportError:
            return None
    t = Tally("logs")
    s = logs_soak.soak(n, seed_value, max(hang, 30))
    stats = s.get("stats", s)  # soak_logs returns {"stats": Counter, "problems", "peak_mb"}
    t.c.update(inputs=stats.get("inputs", 0), tracebacks=stats.get("tracebacks", 0),
               hangs=stats.get("hangs", 0),
               lost=stats.get("lost", 0) + stats.get("uncounted", 0))
    t.peak_mb = float(s.get("peak_mb", 0) or 0)
    t.samples += [p.splitlines()[0] for p in s.get("problems", [])][:5]
    return t


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", type=int, default=2000)
    ap.add_argument("--state", type=int, default=3000)
    ap.add_argument("--pack", type=int, default=2500)
    ap.add_argument("--logs", type=int, default=2500, help="0 to skip the logs soak")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--hang-seconds", type=float, default=20)
    args = ap.parse_args()
    signal.signal(signal.SIGALRM, _alarm)
    t0 = time.perf_counter()
    tallies: list[Tally] = []
    pack_rss = 0.0
    for name in ("config", "state", "pack", "logs"):
        n = getattr(args, name)
        if n <= 0:
            continue
        t1 = time.perf_counter()
        if name == "config":
            tally: Tally | None = soak_config(n, args.seed, args.hang_seconds)
        elif name == "state":
            tally = soak_state(n, args.seed, args.hang_seconds)
        elif name == "pack":
            tally, pack_rss = soak_pack(n, args.seed, args.hang_seconds)
        else:
            tally = soak_logs(n, args.seed, args.hang_seconds)
            if tally is None:
                print("logs: benchmarks/soak_logs.py not available; skipped")
                continue
        tallies.append(tally)
        c = tally.c
        rest = {k: v for k, v in sorted(c.items())
                if k not in ("inputs", "tracebacks", "hangs", "lost")}
        print(f"{name:<7} inputs {c['inputs']:6d}  tracebacks {c['tracebacks']}  hangs "
              f"{c['hangs']}  lost valid detections {c['lost']}  "
              f"({', '.join(f'{k} {v}' for k, v in rest.items())}; "
              f"{time.perf_counter() - t1:.0f} s)", flush=True)
    total = Counter()
    for tally in tallies:
        total.update(tally.c)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"total   inputs {total['inputs']}  tracebacks {total['tracebacks']}  hangs "
          f"{total['hangs']}  lost valid detections {total['lost']}  in "
          f"{time.perf_counter() - t0:.0f} s")
    workers = max((t.peak_mb for t in tallies), default=0.0)
    print(f"peak RSS: soak process {rss:.0f} MiB, pack process {pack_rss:.0f} MiB, logs soak "
          f"worker {workers:.0f} MiB, largest child {children:.0f} MiB")
    for tally in tallies:
        for s in tally.samples[:5]:
            print("  !", s)
    return 1 if total["tracebacks"] or total["hangs"] or total["lost"] else 0


if __name__ == "__main__":
    sys.exit(main())
