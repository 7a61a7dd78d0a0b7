"""A loopback S3-like server (path style ``/<bucket>/<key>``) for the IDC download tests.

It answers what s5cmd sends with ``--endpoint-url http://127.0.0.1:<port> --no-sign-request``:
``HEAD /<bucket>`` (the SDK's region lookup, answered by an ``x-amz-bucket-region`` header),
``ListObjectsV2`` (``GET /<bucket>?list-type=2&prefix=...``) in AWS's XML shape, paged
``page_size`` keys at a time with ``NextContinuationToken``, and object GETs with a
``Range: bytes=a-b`` header (206 and ``Content-Range``) or without, with a quoted MD5 ETag.
Faults are set per object key (or ``"<listing>"``) for the first ``times`` requests; a ``stall``
holds the request unanswered for ``stall_s`` seconds, or until the server stops.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Literal
from urllib.parse import parse_qs, unquote, urlsplit
from xml.sax.saxutils import escape

LISTING = "<listing>"
_RANGE = re.compile(r"^bytes=(\d+)-(\d*)$")
S3FaultKind = Literal["status", "drop_mid_body", "corrupt_body", "unlisted", "not_xml", "stall"]


@dataclass
class S3Fault:
    kind: S3FaultKind
    times: int | None = 1
    status: int = 500
    stall_s: float = 60.0


@dataclass
class S3TestServer:
    buckets: dict[str, dict[str, bytes]] = field(default_factory=dict)
    faults: dict[str, S3Fault] = field(default_factory=dict)
    page_size: int = 2
    requests: Counter = field(default_factory=Counter)
    endpoint: str = ""
    stopping: threading.Event = field(default_factory=threading.Event)

    def put(self, bucket: str, key: str, data: bytes) -> None:
        self.buckets.setdefault(bucket, {})[key] = data

    def take(self, key: str) -> S3Fault | None:
        fault = self.faults.get(key)
        if fault is None or (fault.times is not None and fault.times <= 0):
            return None
        if fault.times is not None:
            fault.times -= 1
        return fault

    def listing_xml(self, bucket: str, prefix: str, token: str | None) -> bytes:
        keys = sorted(
            key
            for key in self.buckets.get(bucket, {})
            if key.startswith(prefix)
            and not (key in self.faults and self.faults[key].kind == "unlisted")
        )
        start = int(token) if token else 0
        page = keys[start : start + self.page_size]
        truncated = start + self.page_size < len(keys)
        parts = [
            '<?xml version="1.0" encoding="UTF-8"?>',
            '<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">',
            f"<Name>{escape(bucket)}</Name><Prefix>{escape(prefix)}</Prefix>",
            f"<KeyCount>{len(page)}</KeyCount><MaxKeys>{self.page_size}</MaxKeys>",
            f"<IsTruncated>{'true' if truncated else 'false'}</IsTruncated>",
        ]
        for key in page:
            data = self.buckets[bucket][key]
            parts.append(
                f"<Contents><Key>{escape(key)}</Key>"
                "<LastModified>2024-01-01T00:00:00.000Z</LastModified>"
                f"<ETag>&quot;{hashlib.md5(data).hexdigest()}&quot;</ETag>"
                f"<Size>{len(data)}</Size><StorageClass>STANDARD</StorageClass></Contents>"
            )
        if truncated:
            parts.append(f"<NextContinuationToken>{start + self.page_size}</NextContinuationToken>")
        parts.append("</ListBucketResult>")
        return "".join(parts).encode()


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: tests read the request counter instead."""

    def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)

    def do_HEAD(self) -> None:
        """The bucket's region (s5cmd asks before listing); no body follows a HEAD."""
        bucket = unquote(urlsplit(self.path).path).strip("/")
        status = 200 if bucket in self.server.state.buckets else 404
        self.send_response(status)
        self.send_header("x-amz-bucket-region", "us-east-1")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _byte_range(self, data: bytes) -> tuple[bytes, dict[str, str], int]:
        """The requested part of ``data``, its headers and status (206 for a Range request)."""
        found = _RANGE.match(self.headers.get("Range", ""))
        if found is None:
            return data, {}, 200
        first = int(found.group(1))
        last = min(int(found.group(2) or len(data) - 1), len(data) - 1)
        return data[first : last + 1], {"Content-Range": f"bytes {first}-{last}/{len(data)}"}, 206

    def _stall(self, fault: S3Fault) -> None:
        """Send nothing, then hang up: a server that accepted the request and went silent."""
        self.server.state.stopping.wait(fault.stall_s)
        self.close_connection = True

    def do_GET(self) -> None:
        state = self.server.state
        parts = urlsplit(self.path)
        bucket, _, key = unquote(parts.path).lstrip("/").partition("/")
        if bucket not in state.buckets:
            self._send(404, b"<Error><Code>NoSuchBucket</Code></Error>")
            return
        if not key:
            params = {k: v[0] for k, v in parse_qs(parts.query).items()}
            state.requests[LISTING] += 1
            fault = state.take(LISTING)
            if fault is not None and fault.kind == "stall":
                self._stall(fault)
                return
            if fault is not None and fault.kind == "status":
                self._send(fault.status, b"<Error><Code>InternalError</Code></Error>")
                return
            if fault is not None and fault.kind == "not_xml":
                self._send(200, b"<html>maintenance", {"Content-Type": "text/html"})
                return
            body = state.listing_xml(
                bucket, params.get("prefix", ""), params.get("continuation-token")
            )
            self._send(200, body, {"Content-Type": "application/xml"})
            return
        state.requests[key] += 1
        data = state.buckets[bucket].get(key)
        if data is None:
            self._send(404, b"<Error><Code>NoSuchKey</Code></Error>")
            return
        etag = f'"{hashlib.md5(data).hexdigest()}"'
        fault = state.take(key)
        kind = fault.kind if fault else None
        body, headers, status = self._byte_range(data)
        headers = {**headers, "ETag": etag}
        if kind == "stall":
            self._stall(fault)
        elif kind == "status":
            self._send(fault.status, b"<Error><Code>SlowDown</Code></Error>")
        elif kind == "corrupt_body":
            self._send(status, bytes(255 - b for b in body), headers)
        elif kind == "drop_mid_body":
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
        else:
            self._send(status, body, {**headers, "Content-Type": "application/dicom"})


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, state: S3TestServer) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.state = state

    def handle_error(self, request: object, client_address: object) -> None:
        """Quiet: clients that hang up early are part of the tests."""


@contextmanager
def running_s3_server(state: S3TestServer) -> Iterator[S3TestServer]:
    """Serve ``state`` on a random loopback port; ``state.endpoint`` is its S3 endpoint URL."""
    server = _Server(state)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    host, port = server.server_address[:2]
    state.endpoint = f"http://{host}:{port}"
    try:
        yield state
    finally:
        state.stopping.set()  # release stalled requests
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
