"""A loopback HTTP proxy in front of the moto server that injects AWS faults.

    with FaultyProxy(moto_url, [Fault("denied", service="rds")]) as proxy:
        scan(... endpoint_url=proxy.url ...)

A fault matches on the service (signing name from the SigV4 credential scope), optionally the
operation (X-Amz-Target, the query `Action`, or the S3 sub-resource of a GET) and a substring of
the request body (`operation_re`: a regular expression the whole operation must match, e.g.
an S3 PUT to a bucket whose name is not known in advance); it answers AccessDenied (`denied`),
throttling (`throttle`: HTTP 400 Throttling/ThrottlingException, HTTP 503 SlowDown for S3), a
canned JSON body (`reply`, for JSON APIs the emulator lacks) or, for S3, after forwarding the
request, HTTP 500 InternalError (`lost`: the request took effect, its answer never arrived) for
the first `times` matches (every match when `times` is None).
Everything else is forwarded unchanged. `seen` records every (service, operation) that went
through.
"""

from __future__ import annotations

import http.client
import json
import re
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from urllib.parse import parse_qs, urlparse

_SCOPE = re.compile(r"Credential=[^/]+/\d+/[^/]+/([^/]+)/aws4_request")
_QUERY_SERVICES = {"rds", "sts", "iam", "sqs", "sns", "elasticache", "cloudformation",
                   "redshift"}
_S3_GET = {"versioning": "GetBucketVersioning", "object-lock": "GetObjectLockConfiguration",
           "publicAccessBlock": "GetPublicAccessBlock", "replication": "GetBucketReplication",
           "notification": "GetBucketNotificationConfiguration", "tagging": "GetBucketTagging",
           "location": "GetBucketLocation", "policyStatus": "GetBucketPolicyStatus",
           "versions": "ListObjectVersions", "policy": "GetBucketPolicy",
           "encryption": "GetBucketEncryption"}
_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "server", "date"}


@dataclass
class Fault:
    kind: str  # "denied" | "throttle" | "missing" (404 ResourceNotFoundException) | "reply"
    # (answer 200 with `reply` as JSON) | "lost" (forward, then answer 500 InternalError)
    service: str
    operation: str | None = None
    body_contains: str | None = None
    times: int | None = None
    hits: int = 0
    reply: dict | str | None = None  # str: an XML body, for query APIs
    operation_re: str | None = None

    def wants(self, service: str, operation: str, body: str) -> bool:
        if service != self.service or (self.operation and operation != self.operation):
            return False
        if self.operation_re and not re.fullmatch(self.operation_re, operation):
            return False
        if self.body_contains and self.body_contains not in body:
            return False
        return self.times is None or self.hits < self.times


def _operation(service: str, method: str, path: str, headers: dict[str, str],
               body: str) -> str:
    target = headers.get("x-amz-target")
    if target:
        return target.split(".")[-1]
    url = urlparse(path)
    params = {**parse_qs(url.query, keep_blank_values=True)}
    if headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        params.update(parse_qs(body))
    if "Action" in params:
        return params["Action"][0]
    if service == "s3" and method == "GET":
        for key, op in _S3_GET.items():
            if key in params:
                return op
        return "ListBuckets" if url.path in ("", "/") else "ListObjects"
    return f"{method} {url.path}"


def _error(kind: str, service: str, operation: str) -> tuple[int, dict[str, str], bytes]:
    if kind == "missing":  # a JSON API's "there is none" (e.g. no vault access policy)
        code = "ResourceNotFoundException"
        return (404, {"Content-Type": "application/json", "x-amzn-ErrorType": code},
                json.dumps({"__type": code, "message": f"{operation}: not found"}).encode())
    denied = kind == "denied"
    message = (f"User is not authorized to perform: {service}:{operation}" if denied
               else "Rate exceeded")
    if kind == "lost" and service == "s3":
        body = ("<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>InternalError</Code>"
                "<Message>We encountered an internal error.</Message>"
                "<RequestId>faulty</RequestId></Error>")
        return 500, {"Content-Type": "application/xml"}, body.encode()
    if service == "s3":
        code, status = ("AccessDenied", 403) if denied else ("SlowDown", 503)
        body = (f"<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>{code}</Code>"
                f"<Message>{message}</Message><RequestId>faulty</RequestId></Error>")
        return status, {"Content-Type": "application/xml"}, body.encode()
    if service == "ec2":
        code, status = ("UnauthorizedOperation", 403) if denied else ("RequestLimitExceeded", 503)
        body = (f"<Response><Errors><Error><Code>{code}</Code><Message>{message}</Message>"
                "</Error></Errors><RequestID>faulty</RequestID></Response>")
        return status, {"Content-Type": "text/xml"}, body.encode()
    if service in _QUERY_SERVICES:
        code, status = ("AccessDenied", 403) if denied else ("Throttling", 400)
        body = (f"<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}"
                "</Message></Error><RequestId>faulty</RequestId></ErrorResponse>")
        return status, {"Content-Type": "text/xml"}, body.encode()
    code = "AccessDeniedException" if denied else "ThrottlingException"
    return (403 if denied else 400,
            {"Content-Type": "application/x-amz-json-1.1", "x-amzn-ErrorType": code},
            json.dumps({"__type": code, "message": message}).encode())


class FaultyProxy:
    def __init__(self, upstream: str, faults: list[Fault] | None = None) -> None:
        up = urlparse(upstream)
        self.upstream = (up.hostname or "127.0.0.1", up.port or 80)
        self.faults = list(faults or [])
        self.seen: list[tuple[str, str]] = []
        self.injected: list[tuple[str, str, str]] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def _decide(self, service: str, operation: str, body: str) -> Fault | None:
        with self._lock:
            self.seen.append((service, operation))
            for f in self.faults:
                if f.wants(service, operation, body):
                    f.hits += 1
                    self.injected.append((f.kind, service, operation))
                    return f
        return None

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                headers = {k.lower(): v for k, v in self.headers.items()}
                m = _SCOPE.search(headers.get("authorization", ""))
                service = m.group(1) if m else ""
                text = raw.decode("utf-8", "replace")
                op = _operation(service, self.command, self.path, headers, text)
                fault = proxy._decide(service, op, text)
                if fault and fault.kind == "reply" and isinstance(fault.reply, str):
                    # a query API's answer (XML), for what the emulator lacks there
                    status, out_headers = 200, {"Content-Type": "text/xml"}
                    body = fault.reply.encode()
                elif fault and fault.kind == "reply":
                    status, out_headers = 200, {"Content-Type": "application/json"}
                    body = json.dumps(fault.reply or {}).encode()
                elif fault and fault.kind == "lost":
                    proxy._forward(self.command, self.path, dict(self.headers), raw)
                    status, out_headers, body = _error(fault.kind, service, op)
                elif fault:
                    status, out_headers, body = _error(fault.kind, service, op)
                else:
                    status, out_headers, body = proxy._forward(self.command, self.path,
                                                               dict(self.headers), raw)
                self.send_response(status)
                for k, v in out_headers.items():
                    if k.lower() not in _HOP:
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _handle  # noqa: N815

        return Handler

    def _forward(self, method: str, path: str, headers: dict[str, str],
                 body: bytes) -> tuple[int, dict[str, str], bytes]:
        conn = http.client.HTTPConnection(*self.upstream, timeout=30)
        try:
            headers = {k: v for k, v in headers.items() if k.lower() not in ("host",)}
            headers["Host"] = f"{self.upstream[0]}:{self.upstream[1]}"
            conn.request(method, path, body=body or None, headers=headers)
            resp = conn.getresponse()
            return resp.status, dict(resp.getheaders()), resp.read()
        finally:
            conn.close()

    def __enter__(self) -> FaultyProxy:
        self._thread.start()
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._server.shutdown()
        self._server.server_close()
