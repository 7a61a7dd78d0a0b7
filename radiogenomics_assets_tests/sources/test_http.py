"""Unit tests of the HTTP layer's policy pieces: backoff, Retry-After, progress lines."""

from __future__ import annotations

import email.utils
import random
from pathlib import Path

import pytest

from radiogenomics_assets.sources.http import RetryPolicy, parse_retry_after
from radiogenomics_assets.sources.progress import SeriesProgress
from radiogenomics_assets_tests.sources.clients import SleepRecorder, make_client
from radiogenomics_assets_tests.sources.demo_series import Cohort
from radiogenomics_assets_tests.sources.nbia_server import Fault, NbiaTestServer


def test_backoff_doubles_up_to_the_cap_within_the_jitter_band() -> None:
    policy = RetryPolicy(backoff_initial_s=1.0, backoff_max_s=5.0, jitter=0.25)
    rng = random.Random(3)
    for retry, ceiling in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 5.0), (9, 5.0)]:
        for _ in range(20):
            assert 0.75 * ceiling <= policy.backoff(retry, rng) <= ceiling


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"attempts": 0}, "attempts must be >= 1, got 0"),
        ({"jitter": 1.5}, r"jitter must be in \[0, 1\], got 1.5"),
        ({"backoff_initial_s": -1}, "delays must be >= 0"),
    ],
)
def test_retry_policy_refuses_nonsense(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RetryPolicy(**kwargs)


def test_retry_after_accepts_seconds_and_http_dates() -> None:
    assert parse_retry_after("12") == 12.0
    now = 1_700_000_000.0
    in_30_s = email.utils.formatdate(now + 30, usegmt=True)
    assert parse_retry_after(in_30_s, now=now) == pytest.approx(30.0)
    assert parse_retry_after(email.utils.formatdate(now - 30, usegmt=True), now=now) == 0.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


def test_a_long_retry_after_is_cut_to_the_cap(
    nbia: NbiaTestServer,
    cohort: Cohort,
    other_patient: str,
    sleeps: SleepRecorder,
    tmp_path: Path,
) -> None:
    ct = cohort[other_patient][0]
    nbia.faults[ct.series_uid] = Fault("status", status=503, retry_after="86400", times=1)
    client = make_client(nbia.base_url, sleeps)
    client.http.retry = RetryPolicy(attempts=2, retry_after_cap_s=9.0)
    folder = tmp_path / "s"
    folder.mkdir()
    client.download_series(ct.series_uid, folder, expected_count=len(ct.files))
    assert sleeps.delays == [9.0]


def test_progress_lines_are_throttled_and_name_the_series() -> None:
    now = [0.0]
    lines: list[str] = []
    progress = SeriesProgress(
        lines.append,
        patient_id="R01-005",
        series_uid="1.2.3",
        instances_total=2,
        interval_s=5.0,
        clock=lambda: now[0],
    )
    progress.on_bytes(1_000_000, None)
    assert lines == []
    now[0] = 6.0
    progress.on_bytes(3_000_000, None)
    progress.end_transfer()
    progress.on_instance()
    now[0] = 8.0
    progress.on_instance()
    progress.finish()
    assert lines == [
        "patient R01-005 series 1.2.3: 0/2 instances, 3.0 MB, 0.5 MB/s",
        "patient R01-005 series 1.2.3: 2/2 instances, 3.0 MB, 0.4 MB/s (verified)",
    ]
