"""Progress lines for long series downloads: patient, series, instances, megabytes and rate.

A CT series is a few hundred megabytes; a silent download looks hung. One line every few seconds
(and one at the end) says how far it got without flooding the Dagster log.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from radiogenomics_assets.sources.base import LogFn

_MB = 1_000_000


class SeriesProgress:
    """Throttled progress of one series.

    Feed it bytes with :meth:`on_bytes` (usable as an ``HttpClient`` progress callback) and
    finished instances with :meth:`on_instance`; call :meth:`finish` once verified.

    Args:
        log: where lines go.
        patient_id: the patient, for the line.
        series_uid: the series, for the line.
        instances_total: the instance count the archive announced.
        interval_s: least time between two lines (the final line is always written).
        clock: monotonic seconds (tests pass a fake).
    """

    def __init__(
        self,
        log: LogFn,
        *,
        patient_id: str,
        series_uid: str,
        instances_total: int,
        interval_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._log = log
        self._label = f"patient {patient_id} series {series_uid}"
        self.instances_total = instances_total
        self._interval_s = interval_s
        self._clock = clock
        self._started = clock()
        self._last_line = self._started
        self._lock = threading.Lock()
        self.instances_done = 0
        self.bytes_done = 0
        self._bytes_before_current = 0

    def on_bytes(self, done: int, total: int | None) -> None:
        """Bytes of the current transfer so far (restarts from 0 on a new file or retry)."""
        with self._lock:
            self.bytes_done = self._bytes_before_current + done
            self._maybe_log()

    def end_transfer(self) -> None:
        """The current transfer is complete; the next one adds to the byte count."""
        with self._lock:
            self._bytes_before_current = self.bytes_done

    def on_instance(self) -> None:
        """One more instance verified and in place."""
        with self._lock:
            self.instances_done += 1
            self._maybe_log()

    def line(self) -> str:
        elapsed = max(self._clock() - self._started, 1e-9)
        megabytes = self.bytes_done / _MB
        return (
            f"{self._label}: {self.instances_done}/{self.instances_total} instances, "
            f"{megabytes:.1f} MB, {megabytes / elapsed:.1f} MB/s"
        )

    def finish(self) -> None:
        with self._lock:
            self._log(self.line() + " (verified)")

    def _maybe_log(self) -> None:
        now = self._clock()
        if now - self._last_line >= self._interval_s:
            self._last_line = now
            self._log(self.line())
