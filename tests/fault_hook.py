"""Faults injected at the client boundary: a botocore `before-send` hook on every session the
auditor opens (the base session, each assumed-role session), in front of the moto server.

    plan = FailOperation("s3:GetBucketLocation")      # every call of one operation fails
    plan = RandomFaults(seed=7, rate=0.3)             # a share of all requests fails
    with inject(monkeypatch, plan):
        scan(...)

A failing request is answered as AWS answers under stress, rotating over three kinds: HTTP 503
with an empty body (botocore's generic 5xx), a throttling error in the service's own protocol
(`tests.faulty_proxy`), or a dropped connection (`ConnectionClosedError`). All three are
retryable, so with retries on, a fault that lasts fails the call only once the retries are used
up; the suites run with one attempt, which is what a call looks like past its retries.
Everything else goes to the emulator unchanged, or, with a `Replay`, is answered with what
the emulator answered the same request before (scans only read: a suite of scans that differ
only in their faults then spends its time in the auditor, not in the emulator). `seen` counts
every attempt by service:Operation, `failed` the attempts answered with a fault.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from botocore.awsrequest import AWSResponse
from botocore.exceptions import ConnectionClosedError
from botocore.httpsession import URLLib3Session

from auditor import aws as aws_mod
from tests.faulty_proxy import _error

_CREDENTIAL = re.compile(r"Credential=([^,]+)/aws4_request")
KINDS = ("503", "throttle", "connection")
# botocore names the event after the service id; the auditor (and AWS) after the endpoint
_SERVICE_OF_ID = {"eventbridge": "events", "cloudwatch-logs": "logs"}


class _Body:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._body


def _answer(kind: str, service: str, operation: str, url: str) -> AWSResponse:
    if kind == "connection":
        raise ConnectionClosedError(endpoint_url=url)
    if kind == "503":
        return AWSResponse(url, 503, {}, _Body(b""))
    status, headers, body = _error("denied" if kind == "denied" else "throttle", service,
                                   operation)
    return AWSResponse(url, status, headers, _Body(body))


class Replay:
    """The emulator's answers, by request (method, URL, body): the first time a request is
    seen it goes to the emulator over HTTP and its answer is kept; later the kept answer is
    given back. A scan only reads, so the answer is the same, and a suite of scans that differ
    only in their faults spends its time on the auditor instead of on the emulator."""

    def __init__(self) -> None:
        self._answers: dict[tuple[str, ...], tuple[int, dict[str, str], bytes]] = {}
        self._lock = threading.Lock()
        self._http = URLLib3Session()
        self.sent = 0

    def __call__(self, request: Any, body: bytes) -> AWSResponse:
        # the same body to another operation (JSON APIs post to "/"), service, region or
        # account (access key) has its own answer
        who = _CREDENTIAL.search(str(request.headers.get("Authorization") or ""))
        key = (who.group(1) if who else "", str(request.headers.get("X-Amz-Target") or ""),
               request.method, request.url, body.hex())
        with self._lock:
            hit = self._answers.get(key)
        if hit is None:
            resp = self._http.send(request)
            hit = (resp.status_code, dict(resp.headers.items()), resp.content)
            with self._lock:
                self._answers[key] = hit
                self.sent += 1
        return AWSResponse(request.url, hit[0], hit[1], _Body(hit[2]))


def _body(request: Any) -> bytes:
    b = request.body
    if b is None:
        return b""
    if isinstance(b, bytes):
        return b
    if isinstance(b, str):
        return b.encode()
    raise TypeError(f"a streamed request body ({type(b).__name__}) cannot be replayed")


class Plan:
    """Which requests fail, and how; counts what it saw and what it failed. With `replay`,
    the requests that do not fail are answered through it."""

    def __init__(self, replay: Replay | None = None) -> None:
        self.seen: Counter[str] = Counter()
        self.failed: Counter[str] = Counter()
        self.replay = replay
        self._lock = threading.Lock()

    def kind(self, op: str, request: Any, n: int) -> str | None:
        raise NotImplementedError

    def __call__(self, request: Any, event_name: str, **_: Any) -> AWSResponse | None:
        _, service_id, operation = event_name.split(".", 2)
        service = _SERVICE_OF_ID.get(service_id, service_id)
        op = f"{service}:{operation}"
        with self._lock:
            n = self.seen[op]
            self.seen[op] += 1
        kind = self.kind(op, request, n)
        if kind is None:
            return self.replay(request, _body(request)) if self.replay is not None else None
        with self._lock:
            self.failed[op] += 1
        return _answer(kind, service, operation, request.url)


class Clean(Plan):
    """No fault (to record a clean scan)."""

    def kind(self, op: str, request: Any, n: int) -> str | None:
        return None


class FailOperation(Plan):
    """Every call of `operation` ("service:Operation") fails, kinds in turn."""

    def __init__(self, operation: str, replay: Replay | None = None) -> None:
        super().__init__(replay)
        self.operation = operation

    def kind(self, op: str, request: Any, n: int) -> str | None:
        return KINDS[n % len(KINDS)] if op == self.operation else None


class FailWhere(Plan):
    """Every call of `operation` whose URL contains `url_contains` fails (a kind may be
    given: "denied" answers AccessDenied in the service's protocol)."""

    def __init__(self, operation: str, url_contains: str = "", kind: str | None = None,
                 replay: Replay | None = None) -> None:
        super().__init__(replay)
        self.operation, self.url_contains, self.fixed = operation, url_contains, kind

    def kind(self, op: str, request: Any, n: int) -> str | None:
        if op != self.operation or self.url_contains not in request.url:
            return None
        return self.fixed or KINDS[n % len(KINDS)]


class RandomFaults(Plan):
    """A share `rate` of every request fails; which ones depends on the seed and the request
    itself (method, URL, body), not on the order threads send them in."""

    def __init__(self, seed: int, rate: float, spare: frozenset[str] = frozenset(),
                 replay: Replay | None = None) -> None:
        super().__init__(replay)
        self.seed, self.rate, self.spare = seed, rate, spare

    def kind(self, op: str, request: Any, n: int) -> str | None:
        if op in self.spare:
            return None
        target = request.headers.get("X-Amz-Target") or ""
        head = f"{self.seed}|{op}|{target}|{request.method}|{request.url}|"
        digest = hashlib.sha256(head.encode() + _body(request)).digest()
        if int.from_bytes(digest[:4], "big") / 2**32 >= self.rate:
            return None
        return KINDS[digest[4] % len(KINDS)]


_LOADER: list[Any] = []


@contextmanager
def inject(monkeypatch: Any, plan: Plan) -> Iterator[Plan]:
    """Put `plan` on every session the auditor opens inside the block. The sessions also share
    one loader of the service models, so that a suite of many scans parses each model once."""
    original = aws_mod._instrument

    def instrument(session: Any) -> None:
        original(session)
        if not _LOADER:
            _LOADER.append(session.get_component("data_loader"))
        session.register_component("data_loader", _LOADER[0])
        session.register("before-send", plan, unique_id="test-faults")

    with monkeypatch.context() as m:
        m.setattr(aws_mod, "_instrument", instrument)
        yield plan
