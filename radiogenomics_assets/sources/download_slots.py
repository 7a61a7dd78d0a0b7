"""A cap on series downloads in flight across every run and process sharing one store.

Public archives throttle or ban clients that open many connections. Patients are separate
Dagster partitions, often run by separate processes, so a per-process limit would not hold: the
cap is ``limit`` slot files in the store, each held with an exclusive ``flock`` for one series
download. A process that dies releases its slot with its file descriptors.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from radiogenomics_assets.sources.base import LogFn

POLL_S = 0.2


@contextmanager
def download_slot(
    slots_dir: Path, limit: int, *, what: str, log: LogFn, poll_s: float = POLL_S
) -> Iterator[int]:
    """Hold one of ``limit`` download slots under ``slots_dir`` until the block ends.

    Waits (logging once) while every slot is taken. Yields the slot number.

    Raises:
        ValueError: ``limit`` < 1.
    """
    if limit < 1:
        raise ValueError(f"the download limit must be >= 1, got {limit}")
    slots_dir.mkdir(parents=True, exist_ok=True)
    waited_since: float | None = None
    while True:
        for slot in range(limit):
            fd = os.open(slots_dir / f"slot-{slot}.lock", os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            try:
                if waited_since is not None:
                    log(f"{what}: download slot free after {time.monotonic() - waited_since:.1f} s")
                yield slot
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
                os.close(fd)
            return
        if waited_since is None:
            waited_since = time.monotonic()
            log(f"{what}: waiting, {limit} series download(s) already in flight")
        time.sleep(poll_s)
