"""An embedded AWS emulator: a moto server in a child process on a free loopback port.

Used by `dr-audit demo`, the tests and the benchmarks; boto3 reaches it over HTTP through an
endpoint URL, exactly as the auditor reaches AWS.

Where moto has no model for a read the auditor makes, the child answers it the way AWS answers
an account that has none of those things (`python -m auditor.emulator` is moto's server with
those routes added): AWS Backup's ListRestoreJobs is an empty list, since nothing in the
emulator can run a restore job, and ListBackupSelections too, since it cannot create one.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from types import TracebackType
from typing import Any

log = logging.getLogger(__name__)

CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
               "AWS_SESSION_TOKEN": "testing", "AWS_DEFAULT_REGION": "us-east-1"}

def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class MotoServer:
    """`with MotoServer() as m: boto3.client("s3", endpoint_url=m.url)`."""

    def __init__(self, port: int | None = None, startup_timeout: float = 30.0,
                 clock: dt.datetime | None = None) -> None:
        """`clock`: the emulator's wall clock stands still at that instant (every creation
        time, lock date and deletion date it hands out), for runs that must repeat exactly."""
        self.port = port or free_port()
        self.clock = clock
        self.url = f"http://127.0.0.1:{self.port}"
        self._timeout = startup_timeout
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> MotoServer:
        env = {**os.environ, **CREDENTIALS}
        clock = ["--clock", self.clock.isoformat()] if self.clock is not None else []
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "auditor.emulator", *clock, "-H", "127.0.0.1",
             "-p", str(self.port)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        deadline = time.monotonic() + self._timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"moto server exited with code {self._proc.returncode}")
            try:
                with urllib.request.urlopen(f"{self.url}/moto-api/", timeout=1):
                    log.debug("moto server ready on %s", self.url)
                    return self
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"moto server did not start on {self.url} within {self._timeout}s")

    def reset(self) -> None:
        """Forget every resource (between tests)."""
        req = urllib.request.Request(f"{self.url}/moto-api/reset", method="POST")
        with urllib.request.urlopen(req, timeout=10):
            pass

    def seed_random(self, seed: int) -> None:
        """Seed the emulator's id generator (account, key, plan ids...): the same calls in the
        same order then make the same ids, so two runs of the demo give the same report."""
        req = urllib.request.Request(f"{self.url}/moto-api/seed?a={int(seed)}", method="POST")
        with urllib.request.urlopen(req, timeout=10):
            pass

    def stop(self) -> None:
        if self._proc and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
        self._proc = None

    def __enter__(self) -> MotoServer:
        return self.start()

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


def _no_restore_jobs(_request: object, _full_url: str, _headers: object
                     ) -> tuple[int, dict[str, str], str]:
    """backup:ListRestoreJobs of an account where no restore job ever ran."""
    return 200, {"Content-Type": "application/json"}, json.dumps({"RestoreJobs": []})


def _no_backup_selections(_request: object, _full_url: str, _headers: object
                          ) -> tuple[int, dict[str, str], str]:
    """backup:ListBackupSelections: moto cannot create a selection, so no plan has one (moto
    itself answers the path with a 500, as a plan id it cannot parse)."""
    return 200, {"Content-Type": "application/json"}, json.dumps({"BackupSelectionsList": []})


def serve(argv: list[str]) -> None:
    """moto's server, plus the empty answers above (run in the child process). `--clock ISO`
    first stops its wall clock at that instant: time-machine patches the C time functions, so
    every datetime.now()/time.time() in moto sees the same instant (monotonic time still runs)."""
    if argv[:1] == ["--clock"]:
        import time_machine

        time_machine.travel(dt.datetime.fromisoformat(argv[1]), tick=False).start()
        argv = argv[2:]
    from moto.backup import urls as backup_urls
    from moto.server import main

    backup_urls.url_paths["{0}/restore-jobs/?$"] = _no_restore_jobs
    # moto's "{0}/backup/plans/(?P<name>.+)/?$" takes the selections path too: answer it first
    plan_path = "{0}/backup/plans/(?P<name>.+)/?$"
    moto_plan = backup_urls.url_paths[plan_path]

    def plan_or_selections(request: Any, full_url: str, headers: Any) -> Any:
        if urllib.parse.urlsplit(full_url).path.rstrip("/").endswith("/selections"):
            return _no_backup_selections(request, full_url, headers)
        return moto_plan(request, full_url, headers)

    backup_urls.url_paths[plan_path] = plan_or_selections
    main(argv)


if __name__ == "__main__":
    serve(sys.argv[1:])
