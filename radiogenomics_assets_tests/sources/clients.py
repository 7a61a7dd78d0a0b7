"""Clients wired for fast tests: tiny backoff, a recorded sleep, collected log lines."""

from __future__ import annotations

from radiogenomics_assets.sources.http import HttpClient, RetryPolicy
from radiogenomics_assets.sources.nbia import NbiaClient


class SleepRecorder:
    """Stands in for time.sleep: records the delays instead of waiting."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


def make_client(
    base_url: str,
    sleeps: SleepRecorder,
    *,
    attempts: int = 3,
    read_timeout_s: float = 5.0,
    series_attempts: int = 2,
    log: list[str] | None = None,
) -> NbiaClient:
    lines = log if log is not None else []
    http = HttpClient(
        timeout_s=(2.0, read_timeout_s),
        retry=RetryPolicy(attempts=attempts, backoff_initial_s=0.5, backoff_max_s=4.0),
        sleep=sleeps,
        log=lines.append,
    )
    return NbiaClient(base_url, http=http, series_attempts=series_attempts, log=lines.append)
