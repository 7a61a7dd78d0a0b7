"""`make profile` (benchmarks/walk_profile.py) on tagged runs of a small graph; the memory probe."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pandas as pd
import pytest
from dagster import (
    AssetIn,
    DagsterInstance,
    Definitions,
    StaticPartitionsDefinition,
    asset,
    define_asset_job,
)

from radiogenomics_assets import memory
from radiogenomics_assets.cli.graph_runner import execute
from radiogenomics_assets.defs.names import PHASE_TAG, WALK_TAG
from radiogenomics_assets.defs.resources.io_manager import DuckDBTableIOManager
from radiogenomics_assets.defs.resources.store import StoreResource

_SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "walk_profile.py"
_spec = importlib.util.spec_from_file_location("benchmarks_profile", _SCRIPT)
profile = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(profile)

letters = StaticPartitionsDefinition(["a", "b"])


@asset(key_prefix="raw", partitions_def=letters, metadata={"partition_expr": "letter"})
def numbers(context) -> pd.DataFrame:
    return pd.DataFrame({"letter": [context.partition_key] * 3, "x": [1.0, 2.0, 3.0]})


@asset(key_prefix="cohort", ins={"numbers": AssetIn(key=["raw", "numbers"])})
def total(numbers: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({"x": [numbers["x"].sum()]})


@asset(key_prefix="cohort")
def nothing_stored() -> None:
    """Stores no output, so it has no memory figure."""


def _defs(tmp_path: Path) -> Definitions:
    store = StoreResource(database=str(tmp_path / "radiogenomics.duckdb"))
    return Definitions(
        assets=[numbers, total, nothing_stored],
        jobs=[
            define_asset_job("numbers_job", [numbers]),
            define_asset_job("total_job", [total, nothing_stored]),
        ],
        resources={"io_manager": DuckDBTableIOManager(store=store)},
    )


@pytest.fixture(scope="module")
def walked(tmp_path_factory: pytest.TempPathFactory):
    """One tagged walk (two partitions, then the total), then one untagged run."""
    defs = _defs(tmp_path_factory.mktemp("profile"))
    with DagsterInstance.ephemeral() as instance:
        for job, partition in [("numbers_job", "a"), ("numbers_job", "b"), ("total_job", None)]:
            tags = {WALK_TAG: "walk-1", PHASE_TAG: job.removesuffix("_job").title()}
            assert execute(defs, instance, job, partition, tags=tags).success
        assert execute(defs, instance, "numbers_job", "a").success  # after the walk, untagged
        yield instance


def test_the_latest_walk_is_its_runs_only(walked: DagsterInstance) -> None:
    assert profile.latest_walk(walked) == "walk-1"
    records = profile.select_runs(walked)
    assert len(records) == 3
    phases = profile.phase_frame(records)
    assert phases["job"].tolist() == ["numbers_job", "total_job"]  # in the order they started
    assert phases["phase"].tolist() == ["Numbers", "Total"]
    assert phases["runs"].tolist() == [2, 1]
    assert phases[["failed", "unfinished"]].sum().sum() == 0
    assert (phases["wall_s"] > 0).all() and (phases["run_sum_s"] > 0).all()
    assert profile.walk_wall_seconds(records) >= phases["wall_s"].max()


def test_steps_have_durations_and_peak_memory_where_they_stored_an_output(
    walked: DagsterInstance,
) -> None:
    steps = profile.step_frame(walked, profile.select_runs(walked)).set_index("step")
    assert set(steps.index) == {"raw__numbers", "cohort__total", "cohort__nothing_stored"}
    assert steps.loc["raw__numbers", "n"] == 2
    assert (steps["total_s"] > 0).all() and (steps["max_s"] >= steps["median_s"]).all()
    assert steps.loc["raw__numbers", "peak_rss_mib"] > 0
    assert steps.loc["cohort__total", "peak_rss_mib"] > 0
    assert pd.isna(steps.loc["cohort__nothing_stored", "peak_rss_mib"])


def test_runs_selects_any_runs_tagged_or_not(walked: DagsterInstance) -> None:
    untagged = [
        r.dagster_run.run_id for r in walked.get_run_records() if WALK_TAG not in r.dagster_run.tags
    ]
    records = profile.select_runs(walked, run_ids=untagged)
    assert [r.dagster_run.run_id for r in records] == untagged
    assert profile.phase_frame(records)["phase"].tolist() == ["numbers_job"]  # no phase tag
    assert len(profile.select_runs(walked, all_runs=True)) == 4
    assert len(profile.select_runs(walked, job="total_job")) == 1


def test_the_printed_profile_says_n_a_where_nothing_was_stored(
    walked: DagsterInstance, capsys: pytest.CaptureFixture[str]
) -> None:
    profile.print_profile(walked, profile.select_runs(walked))
    printed = capsys.readouterr().out
    assert "numbers_job" in printed and "raw__numbers" in printed
    assert "n/a" in printed


needs_proc = pytest.mark.skipif(
    not Path("/proc/self/clear_refs").exists(), reason="no /proc/self/clear_refs (not Linux)"
)


@needs_proc
def test_the_peak_grows_with_an_allocation_and_falls_after_a_reset() -> None:
    memory.reset_peak()
    before = memory.read_peak()
    assert before is not None and before.mib > 0 and before.scope == memory.SINCE_PREVIOUS
    size = 100 * 2**20
    block = bytearray(size)
    block[::4096] = b"\x01" * len(range(0, size, 4096))  # touch every page: make it resident
    grown = memory.take_peak()  # reads, then resets
    assert grown.mib - before.mib > 90
    del block
    memory.reset_peak()
    assert memory.read_peak().mib < grown.mib - 90


def test_without_proc_the_figure_is_the_lifetime_peak_and_nothing_raises(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(memory, "_STATUS", str(tmp_path / "no_status"))
    monkeypatch.setattr(memory, "_CLEAR_REFS", str(tmp_path / "no_dir" / "clear_refs"))
    monkeypatch.setattr(memory, "_resets_ok", True)
    peak = memory.take_peak()
    assert peak is not None and peak.mib > 0 and peak.scope == memory.PROCESS_LIFETIME
    assert memory.reset_peak() is False
