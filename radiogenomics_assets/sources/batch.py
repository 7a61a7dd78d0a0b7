"""Download a list of series with bounded concurrency, each published atomically.

Public archives throttle or ban clients that open many connections, so the number of series in
flight is capped (a source's ``max_concurrent_downloads``, 2 by default). Every series goes
through ``FileStore.atomic_directory``: its folder appears under the final name only after the
source verified it, and a failure leaves nothing there. One failed series does not stop the
others; the failures are raised together once every series has been tried.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from radiogenomics_assets.ids import validate_patient_id
from radiogenomics_assets.sources.base import DataSource, LogFn, SourceError
from radiogenomics_assets.store.files import FileStore


@dataclass(frozen=True)
class SeriesJob:
    """One series to fetch and the file-store folder (path components) it is published to."""

    patient_id: str
    series_uid: str
    parts: tuple[str, ...]


class BatchDownloadError(SourceError):
    """Some series of a batch failed; ``failures`` maps each series UID to its exception."""

    def __init__(self, message: str, failures: dict[str, BaseException]) -> None:
        super().__init__(message)
        self.failures = failures


def fetch_series_batch(
    source: DataSource,
    store: FileStore,
    jobs: Sequence[SeriesJob],
    *,
    log: LogFn,
    max_concurrent: int | None = None,
) -> list[Path]:
    """Fetch every job's series into its folder, at most ``max_concurrent`` at a time.

    ``max_concurrent`` defaults to the source's ``max_concurrent_downloads`` (1 if it has
    none). Returns the published folders in job order.

    Raises:
        ValueError: ``max_concurrent`` < 1, or two jobs publish to the same folder.
        InvalidPatientIdError: a job's patient id is unsafe.
        BatchDownloadError: after all jobs ran, naming every series that failed and why.
    """
    limit = max_concurrent or int(getattr(source, "max_concurrent_downloads", 1))
    if limit < 1:
        raise ValueError(f"max_concurrent must be >= 1, got {limit}")
    targets = [tuple(job.parts) for job in jobs]
    if len(set(targets)) != len(targets):
        raise ValueError("two jobs of the batch publish to the same folder")
    for job in jobs:
        validate_patient_id(job.patient_id, where=f"batch job for series {job.series_uid}")
    lock = threading.Lock()
    done = 0

    def run(job: SeriesJob) -> Path:
        nonlocal done
        with store.atomic_directory(*job.parts) as temp:
            source.fetch_series(job.patient_id, job.series_uid, temp, log)
        with lock:
            done += 1
            log(f"batch: {done}/{len(jobs)} series done (patient {job.patient_id})")
        return store.path(*job.parts)

    with ThreadPoolExecutor(max_workers=limit, thread_name_prefix="series-download") as pool:
        futures = [pool.submit(run, job) for job in jobs]
    failures: dict[str, BaseException] = {}
    published: list[Path] = []
    for job, future in zip(jobs, futures, strict=True):
        error = future.exception()
        if error is None:
            published.append(future.result())
        else:
            failures[job.series_uid] = error
    if failures:
        detail = "; ".join(
            f"{uid}: {type(error).__name__}: {error}" for uid, error in failures.items()
        )
        raise BatchDownloadError(
            f"{len(failures)} of {len(jobs)} series failed: {detail}", failures
        )
    return published
