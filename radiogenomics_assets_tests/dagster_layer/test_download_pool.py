"""Series downloads share one Dagster concurrency pool whose limit the instance config sets.

A real instance under tmp_path, configured by ``ensure_dagster_home`` as `make demo` and
`make ui` configure theirs; the slow test runs two unrelated runs in two processes, as
`make demo`'s worker pool does, and checks that the pool makes the second download wait.
A bad value of either limit read from the environment (the pool's, the run queue's) is refused
here; the run queue's own tests are in ``test_run_limit``.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from pathlib import Path

import pytest
import yaml
from dagster import AssetKey, DagsterInstance, asset, materialize
from dagster._core.instance.config import PoolGranularity

from radiogenomics_assets.definitions import defs
from radiogenomics_assets.defs.instance_config import (
    DEFAULT_DOWNLOAD_POOL_LIMIT,
    DOWNLOAD_POOL_LIMIT_VARIABLE,
    RUN_LIMIT_VARIABLE,
    ensure_dagster_home,
)
from radiogenomics_assets.defs.names import DOWNLOAD_POOL, RAW

HOLD_S = 2.0


def _pool_limit(home: Path) -> int | None:
    with DagsterInstance.from_config(str(home)) as instance:
        return instance.event_log_storage.get_concurrency_info(DOWNLOAD_POOL).limit


def test_only_the_series_downloads_are_in_the_download_pool() -> None:
    graph = defs.resolve_asset_graph()
    pooled = {key for key in graph.get_all_asset_keys() if graph.get(key).pools}
    assert pooled == {AssetKey([RAW, "nodule_segmentation"]), AssetKey([RAW, "ct_series"])}
    assert all(graph.get(key).pools == {DOWNLOAD_POOL} for key in pooled)


def test_dagster_home_caps_the_pool_and_keeps_the_users_settings(
    dagster_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dagster_home.mkdir()
    (dagster_home / "dagster.yaml").write_text(
        "telemetry:\n  enabled: true\nretention:\n  schedule:\n    purge_after_days: 90\n"
    )
    monkeypatch.setenv(DOWNLOAD_POOL_LIMIT_VARIABLE, "3")

    assert ensure_dagster_home() == dagster_home

    settings = yaml.safe_load((dagster_home / "dagster.yaml").read_text())
    assert settings == {
        "telemetry": {"enabled": False},
        "retention": {"schedule": {"purge_after_days": 90}},
        "concurrency": {
            "pools": {"granularity": "op", "default_limit": 3},
            "runs": {"max_concurrent_runs": os.cpu_count()},
        },
    }
    with DagsterInstance.from_config(str(dagster_home)) as instance:
        pool_config = instance.get_concurrency_config().pool_config
        info = instance.event_log_storage.get_concurrency_info(DOWNLOAD_POOL)
    assert pool_config.pool_granularity == PoolGranularity.OP
    assert pool_config.default_pool_limit == 3
    assert (info.limit, info.slot_count) == (3, 3)


def test_the_default_limit_applies_without_the_variable(dagster_home: Path) -> None:
    ensure_dagster_home()
    assert _pool_limit(dagster_home) == DEFAULT_DOWNLOAD_POOL_LIMIT


def test_a_new_limit_reaches_the_pool_but_one_set_in_the_ui_wins(
    dagster_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ensure_dagster_home()
    monkeypatch.setenv(DOWNLOAD_POOL_LIMIT_VARIABLE, "4")
    ensure_dagster_home()
    assert _pool_limit(dagster_home) == 4

    with DagsterInstance.from_config(str(dagster_home)) as instance:
        # What the UI's "Edit pool limit" and `dagster instance concurrency set` do.
        instance.event_log_storage.set_concurrency_slots(DOWNLOAD_POOL, 1)
    monkeypatch.setenv(DOWNLOAD_POOL_LIMIT_VARIABLE, "5")
    ensure_dagster_home()
    assert _pool_limit(dagster_home) == 1


@pytest.mark.parametrize("variable", [DOWNLOAD_POOL_LIMIT_VARIABLE, RUN_LIMIT_VARIABLE])
@pytest.mark.parametrize("value", ["0", "-1", "two", "1.5"])
def test_a_bad_limit_is_refused(
    dagster_home: Path, monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValueError, match=rf"{variable} must be an integer"):
        ensure_dagster_home()
    assert not (dagster_home / "dagster.yaml").exists()


def test_settings_that_are_not_a_mapping_are_refused(dagster_home: Path) -> None:
    dagster_home.mkdir()
    (dagster_home / "dagster.yaml").write_text("- telemetry\n")
    with pytest.raises(ValueError, match=r"dagster\.yaml: expected a YAML mapping.*got list"):
        ensure_dagster_home()


@asset(pool=DOWNLOAD_POOL)
def pooled_download() -> tuple[float, float]:
    started = time.time()
    time.sleep(HOLD_S)
    return started, time.time()


def _run_download(home: str, start, results, delay_s: float) -> None:  # type: ignore[no-untyped-def]
    with DagsterInstance.from_config(home) as instance:
        start.wait(120)
        time.sleep(delay_s)
        result = materialize([pooled_download], instance=instance)
        blocked = [
            e.message
            for e in result.all_events
            if e.message and e.message.startswith("Step blocked by limit for pool")
        ]
        results.put((result.output_for_node("pooled_download"), blocked))


@pytest.mark.slow
def test_the_pool_serialises_downloads_of_separate_runs_in_separate_processes(
    dagster_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(DOWNLOAD_POOL_LIMIT_VARIABLE, "1")
    ensure_dagster_home()
    spawn = multiprocessing.get_context("spawn")
    start, results = spawn.Barrier(2), spawn.Queue()
    # The second starts a second later: SQLite run storage does not make two claims in the
    # same instant atomic (both can win the last slot), a race Postgres storage does not have.
    workers = [
        spawn.Process(target=_run_download, args=(str(dagster_home), start, results, delay))
        for delay in (0.0, 1.0)
    ]
    for worker in workers:
        worker.start()
    try:
        outcomes = [results.get(timeout=180) for _ in workers]
    finally:
        for worker in workers:
            worker.join(30)
    (first, first_blocked), (second, second_blocked) = sorted(outcomes)
    # Each held for HOLD_S, the second starting inside the first: only the pool keeps them apart.
    assert second[0] >= first[1], (first, second)
    assert not first_blocked
    assert second_blocked == [f"Step blocked by limit for pool {DOWNLOAD_POOL}"]
    assert _pool_limit(dagster_home) == 1
