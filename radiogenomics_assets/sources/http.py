"""A careful HTTP layer for the archives: timeouts, bounded retries, atomic streamed downloads.

Every request carries a (connect, read) timeout. Connection errors, timeouts, bodies cut short,
HTTP 5xx and HTTP 429 are retried with exponential backoff and jitter (a ``Retry-After`` header
is honoured up to a cap); any other 4xx is a caller error and fails at once. Downloads stream to
a hidden temporary file beside the destination, hashed on the way, and are renamed into place only
when the body is complete, so a file under its final name is always whole.

Failures raise subclasses of :class:`~radiogenomics_assets.sources.base.SourceError` whose
message names the URL and the last status or error, so a user knows which request to retry.
"""

from __future__ import annotations

import email.utils
import hashlib
import os
import random
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import requests

from radiogenomics_assets.sources.base import LogFn, SourceError

T = TypeVar("T")

#: Called with (bytes received so far, total bytes announced or None).
ProgressFn = Callable[[int, int | None], None]

_CHUNK = 1 << 20
_RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
_USER_AGENT = "radiogenomics_assets/0.1 (research pipeline; python-requests)"


class HttpError(SourceError):
    """Base class of HTTP-layer failures; ``url`` is the request that failed."""

    def __init__(self, message: str, *, url: str) -> None:
        super().__init__(message)
        self.url = url


class HttpStatusError(HttpError):
    """The server answered with a status that retrying cannot fix (4xx other than 429)."""

    def __init__(self, message: str, *, url: str, status: int) -> None:
        super().__init__(message, url=url)
        self.status = status


class RetriesExhaustedError(HttpError):
    """Every attempt allowed by the retry policy failed; ``last`` says how the last one did."""

    def __init__(self, message: str, *, url: str, attempts: int, last: str) -> None:
        super().__init__(message, url=url)
        self.attempts = attempts
        self.last = last


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently a request is tried.

    Attributes:
        attempts: total tries per request, the first included (1 = no retry).
        backoff_initial_s: delay before the first retry; doubles with each further retry.
        backoff_max_s: ceiling of the exponential delay.
        jitter: the delay is multiplied by a uniform factor in ``[1 - jitter, 1]`` so that
            parallel downloads do not retry in lockstep.
        retry_after_cap_s: longest ``Retry-After`` the client accepts; a longer one is cut.
    """

    attempts: int = 5
    backoff_initial_s: float = 1.0
    backoff_max_s: float = 60.0
    jitter: float = 0.5
    retry_after_cap_s: float = 120.0

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError(f"RetryPolicy.attempts must be >= 1, got {self.attempts}")
        if self.backoff_initial_s < 0 or self.backoff_max_s < 0 or self.retry_after_cap_s < 0:
            raise ValueError(
                "RetryPolicy delays must be >= 0, got "
                f"backoff_initial_s={self.backoff_initial_s}, backoff_max_s={self.backoff_max_s}, "
                f"retry_after_cap_s={self.retry_after_cap_s}"
            )
        if not 0.0 <= self.jitter <= 1.0:
            raise ValueError(f"RetryPolicy.jitter must be in [0, 1], got {self.jitter}")

    def backoff(self, retry_number: int, rng: random.Random) -> float:
        """Delay before retry ``retry_number`` (1 for the first retry)."""
        base = min(self.backoff_max_s, self.backoff_initial_s * 2 ** (retry_number - 1))
        return base * (1.0 - self.jitter * rng.random())


@dataclass(frozen=True)
class DownloadedFile:
    """A complete file: where it is, its size and its digests."""

    path: Path
    bytes: int
    sha256: str
    md5: str


class _Retryable(Exception):
    """One attempt failed in a way another attempt may fix."""

    def __init__(self, reason: str, retry_after_s: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after_s = retry_after_s


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP-date), or None."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    current = time.time() if now is None else now
    return max(0.0, when.timestamp() - current)


def url_with_params(url: str, params: Mapping[str, str] | None) -> str:
    """``url`` with ``params`` encoded as its query string, as it is sent and named in errors."""
    if not params:
        return url
    prepared = requests.Request("GET", url, params=dict(params)).prepare()
    return prepared.url or url


class HttpClient:
    """GET requests and streamed downloads with timeouts, retries and atomic publication.

    Args:
        timeout_s: (connect, read) timeout of every request, in seconds. The read timeout bounds
            the wait for each chunk, not the whole body, so big files are fine.
        retry: the retry policy.
        sleep: called with the seconds to wait between attempts (tests pass a recorder).
        rng: source of jitter; seed it for reproducible delays.
        log: receives one line per retry (a call's own ``log`` takes precedence).
        headers: extra headers sent with every request.
    """

    def __init__(
        self,
        *,
        timeout_s: tuple[float, float] = (10.0, 120.0),
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
        log: LogFn | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        connect_s, read_s = timeout_s
        if connect_s <= 0 or read_s <= 0:
            raise ValueError(f"timeouts must be > 0 seconds, got {timeout_s}")
        self.timeout_s = (float(connect_s), float(read_s))
        self.retry = retry or RetryPolicy()
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._rng_lock = threading.Lock()
        self._log = log or (lambda _line: None)
        self._headers = {"User-Agent": _USER_AGENT, **(headers or {})}
        # requests.Session is not documented as thread-safe; one per thread keeps pooling
        # without sharing connection state between concurrent downloads.
        self._local = threading.local()

    def _session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            session.headers.update(self._headers)
            self._local.session = session
        return session

    def close(self) -> None:
        """Close this thread's connection pool (other threads' pools close when collected)."""
        session = getattr(self._local, "session", None)
        if session is not None:
            session.close()
            self._local.session = None

    def get(
        self,
        url: str,
        params: Mapping[str, str] | None = None,
        *,
        log: LogFn | None = None,
    ) -> requests.Response:
        """GET a small resource whole (JSON, XML listings) and return the 2xx response.

        Raises:
            HttpStatusError: a 4xx other than 429.
            RetriesExhaustedError: every attempt failed; names the URL and the last failure.
        """
        # Without streaming, requests reads the whole body inside the call, so a body cut short
        # raises within _send and is retried there.
        return self._with_retries(
            url_with_params(url, params), lambda: self._send(url, params, stream=False), log
        )

    def download_file(
        self,
        url: str,
        dest: Path,
        *,
        params: Mapping[str, str] | None = None,
        progress: ProgressFn | None = None,
        log: LogFn | None = None,
    ) -> DownloadedFile:
        """Stream ``url`` into ``dest``; the file appears under ``dest`` only when complete.

        Each attempt restarts the body from byte 0 into a fresh temporary file: NBIA builds
        its zips per request, and nothing promises two builds are byte-identical, so resuming
        mid-body with a byte range could splice two different streams.

        Raises:
            HttpStatusError: a 4xx other than 429.
            RetriesExhaustedError: every attempt failed (connection dropped, body shorter than
                its Content-Length, timeouts, 5xx, 429); names the URL and the last failure.
        """
        dest = Path(dest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        temp = dest.parent / f".download-{uuid.uuid4().hex}-{dest.name}"
        described = url_with_params(url, params)

        def attempt() -> DownloadedFile:
            response = self._send(url, params, stream=True, identity=True)
            announced = response.headers.get("Content-Length")
            total = int(announced) if announced and announced.isdigit() else None
            sha256, md5, size = hashlib.sha256(), hashlib.md5(), 0
            try:
                with open(temp, "wb") as out:
                    for chunk in response.iter_content(_CHUNK):
                        out.write(chunk)
                        sha256.update(chunk)
                        md5.update(chunk)
                        size += len(chunk)
                        if progress is not None:
                            progress(size, total)
                    out.flush()
                    os.fsync(out.fileno())
            except (requests.ConnectionError, requests.Timeout) as error:
                raise _Retryable(
                    f"body interrupted after {size} bytes: {error.__class__.__name__}"
                ) from error
            except requests.exceptions.ChunkedEncodingError as error:
                raise _Retryable(f"body interrupted after {size} bytes: {error}") from error
            finally:
                response.close()
            if total is not None and size != total:
                raise _Retryable(f"body has {size} bytes but Content-Length said {total}")
            os.replace(temp, dest)
            return DownloadedFile(dest, size, sha256.hexdigest(), md5.hexdigest())

        try:
            return self._with_retries(described, attempt, log)
        finally:
            temp.unlink(missing_ok=True)

    def _send(
        self,
        url: str,
        params: Mapping[str, str] | None,
        *,
        stream: bool,
        identity: bool = False,
    ) -> requests.Response:
        described = url_with_params(url, params)
        # Downloads keep the bytes as stored: a .gz must stay gzipped, and Content-Length
        # must count the bytes we write.
        headers = {"Accept-Encoding": "identity"} if identity else None
        try:
            response = self._session().get(
                url,
                params=dict(params) if params else None,
                timeout=self.timeout_s,
                stream=stream,
                headers=headers,
            )
        except (
            requests.ConnectionError,
            requests.Timeout,
            requests.exceptions.ChunkedEncodingError,
        ) as error:
            raise _Retryable(f"{error.__class__.__name__}: {error}") from error
        if response.status_code in _RETRY_STATUSES:
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            response.close()
            raise _Retryable(f"HTTP {response.status_code}", retry_after)
        if not 200 <= response.status_code < 300:
            snippet = response.text[:200].strip() if not stream else ""
            response.close()
            detail = f": {snippet}" if snippet else ""
            raise HttpStatusError(
                f"GET {described} answered HTTP {response.status_code}{detail}",
                url=described,
                status=response.status_code,
            )
        return response

    def _with_retries(
        self, described: str, attempt: Callable[[], T], log: LogFn | None = None
    ) -> T:
        policy = self.retry
        log = log or self._log
        last = "no attempt made"
        for number in range(1, policy.attempts + 1):
            try:
                return attempt()
            except _Retryable as failure:
                last = failure.reason
                if number == policy.attempts:
                    break
                if failure.retry_after_s is not None:
                    delay = min(failure.retry_after_s, policy.retry_after_cap_s)
                else:
                    with self._rng_lock:
                        delay = policy.backoff(number, self._rng)
                log(
                    f"GET {described} failed ({last}); retry {number}/{policy.attempts - 1} "
                    f"in {delay:.1f} s"
                )
                self._sleep(delay)
        raise RetriesExhaustedError(
            f"GET {described} failed {policy.attempts} time(s); last failure: {last}",
            url=described,
            attempts=policy.attempts,
            last=last,
        )
