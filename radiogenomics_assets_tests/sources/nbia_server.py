"""A loopback server that speaks the NBIA v4 endpoints the client uses, with fault injection.

It imitates what ``shared/data/tcia-nbia-api/API_NOTES.md`` records of the real server: JSON rows
with null fields left out, HTTP 200 with an empty body for "no rows", HTTP 400 for an unknown
query parameter, and ``getImage`` zips whose first entry is ``LICENSE`` (plus ``md5hashes.csv``
with ``IncludeMD5=yes``). Faults are set per series and apply to the first ``times`` getImage
requests of that series (``None``: every request). The series it serves are
:class:`~radiogenomics_assets_tests.sources.demo_series.ServedSeries`: in the tests, the demo
cohort's own CT and SEG files.
"""

from __future__ import annotations

import hashlib
import io
import json
import threading
import time
import zipfile
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Literal
from urllib.parse import parse_qs, urlsplit

from radiogenomics_assets_tests.sources.demo_series import ServedSeries

PREFIX = "/nbia-api/services/v4/"
ALLOWED = {
    "getSeries": {
        "Collection",
        "PatientID",
        "StudyInstanceUID",
        "SeriesInstanceUID",
        "Modality",
        "BodyPartExamined",
        "Manufacturer",
        "ManufacturerModelName",
        "format",
    },
    "getImage": {"SeriesInstanceUID", "NewFileNames", "IncludeMD5"},
}

FaultKind = Literal[
    "status",
    "drop_mid_body",
    "stall",
    "truncated_zip",
    "wrong_md5",
    "missing_instances",
    "empty_body",
    "foreign_instance",
    "not_dicom",
]


@dataclass
class Fault:
    """What goes wrong with a series' getImage, and for how many requests."""

    kind: FaultKind
    times: int | None = 1
    status: int = 500
    retry_after: str | None = None
    stall_s: float = 1.0
    foreign_file: bytes = b""


@dataclass
class NbiaTestServer:
    """Holds the served series, the faults and a log of requests; ``base_url`` is for clients."""

    collection: str = "NSCLC Radiogenomics"
    series: dict[str, ServedSeries] = field(default_factory=dict)
    announced_counts: dict[str, int] = field(default_factory=dict)
    faults: dict[str, Fault] = field(default_factory=dict)
    requests: Counter = field(default_factory=Counter)
    #: Plain files served at ``/files/<name>`` (clinical CSV, GEO matrix), with their faults.
    files: dict[str, bytes] = field(default_factory=dict)
    file_faults: dict[str, Fault] = field(default_factory=dict)
    base_url: str = ""
    files_url: str = ""
    in_flight: int = 0
    max_in_flight: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, *series: ServedSeries) -> None:
        for item in series:
            self.series[item.series_uid] = item

    def image_requests(self, series_uid: str) -> int:
        return self.requests[("getImage", series_uid)]

    def requested_images(self) -> dict[str, int]:
        """getImage requests so far, by SeriesInstanceUID (series never asked for left out)."""
        return {uid: n for (endpoint, uid), n in self.requests.items() if endpoint == "getImage"}

    def build_zip(self, item: ServedSeries, *, md5: bool, fault: Fault | None) -> bytes:
        files = list(item.files)
        kind = fault.kind if fault else None
        if kind == "missing_instances":
            files = files[:-1]
        if kind == "foreign_instance":
            files.append((f"{len(files) + 1:08d}.dcm", fault.foreign_file))
        if kind == "not_dicom":
            files.append((f"{len(files) + 1:08d}.dcm", b"this is not a DICOM file" * 10))
        buffer = io.BytesIO()
        # Level 1: a demo CT series zips in tens of milliseconds instead of a fifth of a second.
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
            archive.writestr("LICENSE", "Creative Commons Attribution 3.0 Unported License\n")
            for name, data in files:
                archive.writestr(name, data)
            if md5:
                lines = ["Filename,MD5Hash"]
                for index, (name, data) in enumerate(files):
                    digest = hashlib.md5(data).hexdigest()
                    if kind == "wrong_md5" and index == 0:
                        digest = hashlib.md5(data + b"x").hexdigest()
                    lines.append(f"{name},{digest}")
                archive.writestr("md5hashes.csv", "\n".join(lines) + "\n")
        data = buffer.getvalue()
        if kind == "truncated_zip":
            data = data[: len(data) // 2]
        return data

    def series_row(self, item: ServedSeries) -> dict[str, object]:
        # Null fields are left out, as the real server's org.json rows do (no ProtocolName).
        row: dict[str, object] = {
            "SeriesInstanceUID": item.series_uid,
            "StudyInstanceUID": item.study_uid,
            "Modality": item.modality,
            "SeriesDescription": item.description,
            "SeriesNumber": item.series_number,
            "AnnotationsFlag": False,
            "Collection": self.collection,
            "PatientID": item.patient_id,
            "ImageCount": self.announced_counts.get(item.series_uid, len(item.files)),
            "LicenseName": "Creative Commons Attribution 3.0 Unported License",
            "LicenseURI": "http://creativecommons.org/licenses/by/3.0/",
            "DataDescriptionURI": "https://doi.org/10.7937/K9/TCIA.2017.7hs46erv",
            "FileSize": item.size_bytes,
        }
        return row


def _take(faults: dict[str, Fault], key: str) -> Fault | None:
    """The fault for ``key`` if it still applies to this request (counting it down)."""
    fault = faults.get(key)
    if fault is None or (fault.times is not None and fault.times <= 0):
        return None
    if fault.times is not None:
        fault.times -= 1
    return fault


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: tests read the request counter instead."""

    def _send(
        self,
        status: int,
        body: bytes,
        content_type: str = "text/plain",
        extra: dict[str, str] | None = None,
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in (extra or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        state = self.server.state
        parts = urlsplit(self.path)
        if parts.path.startswith("/files/"):
            self._get_file(state, parts.path[len("/files/") :])
            return
        if not parts.path.startswith(PREFIX):
            self._send(404, b"not found")
            return
        endpoint = parts.path[len(PREFIX) :]
        params = {key: values[0] for key, values in parse_qs(parts.query).items()}
        if endpoint not in ALLOWED:
            self._send(404, f"no endpoint {endpoint}".encode())
            return
        for key in params:
            if key not in ALLOWED[endpoint]:
                message = (
                    f"Invalid query parameter: '{key}'. Allowed parameters are: "
                    f"{sorted(ALLOWED[endpoint])}"
                )
                self._send(400, message.encode())
                return
        if endpoint == "getSeries":
            self._get_series(state, params)
        else:
            self._get_image(state, params)

    def _get_file(self, state: NbiaTestServer, name: str) -> None:
        state.requests[("file", name)] += 1
        if name not in state.files:
            self._send(404, b"not found")
            return
        body = state.files[name]
        fault = _take(state.file_faults, name)
        kind = fault.kind if fault else None
        if kind == "status":
            self._send(fault.status, b"server trouble")
        elif kind == "truncated_zip":
            self._send(200, body[: len(body) // 2], "application/octet-stream")
        elif kind == "empty_body":
            self._send(200, b"", "application/octet-stream")
        elif kind == "drop_mid_body":
            self._drop_mid_body(body)
        else:
            self._send(200, body, "application/octet-stream")

    def _drop_mid_body(self, body: bytes) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body[: len(body) // 2])
        self.wfile.flush()
        self.close_connection = True

    def _get_series(self, state: NbiaTestServer, params: dict[str, str]) -> None:
        state.requests[("getSeries", params.get("PatientID"))] += 1
        rows = []
        for item in state.series.values():
            row = state.series_row(item)
            if all(str(row.get(key)) == value for key, value in params.items() if key != "format"):
                rows.append(row)
        body = json.dumps(rows).encode() if rows else b""
        self._send(200, body, "application/json")

    def _get_image(self, state: NbiaTestServer, params: dict[str, str]) -> None:
        uid = params.get("SeriesInstanceUID")
        if uid is None:
            self._send(400, b"SeriesInstanceUID is required")
            return
        with state.lock:
            state.requests[("getImage", uid)] += 1
            state.in_flight += 1
            state.max_in_flight = max(state.max_in_flight, state.in_flight)
        try:
            self._serve_image(state, uid, params)
        finally:
            with state.lock:
                state.in_flight -= 1

    def _serve_image(self, state: NbiaTestServer, uid: str, params: dict[str, str]) -> None:
        item = state.series.get(uid)
        if item is None:
            self._send(200, b"", "application/octet-stream")
            return
        fault = _take(state.faults, uid)
        kind = fault.kind if fault else None
        if kind == "status":
            extra = {"Retry-After": fault.retry_after} if fault.retry_after else None
            self._send(fault.status, b"server trouble", extra=extra)
            return
        if kind == "stall":
            time.sleep(fault.stall_s)
        if kind == "empty_body":
            self._send(200, b"", "application/octet-stream")
            return
        body = state.build_zip(item, md5=params.get("IncludeMD5") == "yes", fault=fault)
        headers = {"Content-Disposition": f'attachment; filename="{uid}.zip"'}
        if kind == "drop_mid_body":
            self._drop_mid_body(body)
            return
        self._send(200, body, "application/octet-stream", headers)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, state: NbiaTestServer) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.state = state

    def handle_error(self, request: object, client_address: object) -> None:
        """Quiet: a client that timed out and hung up is part of the tests."""


@contextmanager
def running_nbia_server(state: NbiaTestServer) -> Iterator[NbiaTestServer]:
    """Serve ``state`` on a random loopback port; ``state.base_url`` is set while it runs."""
    server = _Server(state)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    host, port = server.server_address[:2]
    state.base_url = f"http://{host}:{port}/nbia-api/services/v4"
    state.files_url = f"http://{host}:{port}/files"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
