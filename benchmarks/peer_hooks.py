"""A peer tool's hooks, for the benchmarks that run one (c7n-org, Prowler): the latency the
other runs get before every HTTP attempt, and a count of its API calls, without changing the
tool. `write_site(folder)` writes a sitecustomize.py there; a process with that folder on its
PYTHONPATH loads it at start-up (as does every process it forks or spawns) and, with
DRG_BENCH_LATENCY (seconds) and DRG_BENCH_CALLS (a file) in its environment, registers both
on every botocore session it makes.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

SITECUSTOMIZE = """\
# Loaded by every process of a peer tool (PYTHONPATH): the benchmark's latency before every
# HTTP attempt, as the other runs get, and one line per API call in DRG_BENCH_CALLS.
import os
import time

_LATENCY = float(os.environ.get("DRG_BENCH_LATENCY", "0"))
_CALLS = os.environ.get("DRG_BENCH_CALLS")


def _sleep(**_):
    time.sleep(_LATENCY)


def _record(model, **_):
    line = f"{model.service_model.service_name} {model.name}\\n".encode()
    fd = os.open(_CALLS, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)


def _install():
    import botocore.session

    init = botocore.session.Session.__init__

    def session_init(self, *a, **kw):
        init(self, *a, **kw)
        if _LATENCY:
            self.register("request-created", _sleep)
        if _CALLS:
            self.register("before-call", _record)

    botocore.session.Session.__init__ = session_init


_install()
"""


def write_site(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "sitecustomize.py").write_text(SITECUSTOMIZE)
    return folder


def calls_by_service(calls: Path) -> Counter[str]:
    """The API calls DRG_BENCH_CALLS recorded, by service."""
    if not calls.exists():
        return Counter()
    return Counter(line.split()[0] for line in calls.read_text().splitlines() if line)
