"""The command-line walk's options (the walk itself is tested in dagster_layer/test_full_graph)."""

from __future__ import annotations

import multiprocessing
from concurrent.futures import TimeoutError as FutureTimeout

import pytest
from dagster import AssetKey

from radiogenomics_assets.cli.graph_runner import torch_threads
from radiogenomics_assets.cli.refresh import parser, skipped_models
from radiogenomics_assets.cli.walk_worker import worker_pool
from radiogenomics_assets.defs.resources.modeling import CV_REPEATS_ENV
from radiogenomics_assets.survival.registry import MODEL_REGISTRY

MODEL_KEYS = [AssetKey(["modeling", spec.name]) for spec in MODEL_REGISTRY]
NETS = {spec.name for spec in MODEL_REGISTRY if spec.estimator == "net"}


def test_a_linear_walk_skips_exactly_the_neural_grid() -> None:
    assert {key.path[-1] for key in skipped_models("linear")} == NETS
    assert set(skipped_models("linear")) <= set(MODEL_KEYS)
    with pytest.raises(ValueError, match="models must be one of"):
        skipped_models("neural")


def test_the_default_walk_is_the_whole_graph_the_daemon_keeps() -> None:
    assert not skipped_models("all")
    with pytest.raises(ValueError, match="models must be one of"):
        skipped_models("full")  # the nets' repeats are the net_repeats setting now


def test_models_option_defaults_to_every_model() -> None:
    assert parser("x").parse_args([]).models == "all"
    assert parser("x").parse_args(["--models", "linear"]).models == "linear"


def test_only_a_last_partial_round_of_runs_shares_the_cores() -> None:
    five_folds = [torch_threads(i, 5, workers=2, cores=2) for i in range(5)]
    assert five_folds == [1, 1, 1, 1, 2]
    assert {torch_threads(i, 184, workers=2, cores=2) for i in range(184)} == {1}
    assert [torch_threads(i, 7, workers=4, cores=8) for i in range(4, 7)] == [2, 2, 2]
    assert [torch_threads(i, 3, workers=4, cores=2) for i in range(3)] == [1, 1, 1]


def _resize_on_threads(threads: int) -> float:
    """A parallel torch op (DenseNet's slice resize) on ``threads`` OpenMP threads."""
    import torch

    torch.set_num_threads(threads)
    slices = torch.rand(4, 3, 256, 256)
    return float(
        torch.nn.functional.interpolate(
            slices, size=(224, 224), mode="bilinear", antialias=True
        ).sum()
    )


def test_a_worker_runs_torch_after_its_parent_ran_openmp_threads() -> None:
    import torch

    before = torch.get_num_threads()
    _resize_on_threads(2)  # the parent's OpenMP pool now exists, as after an earlier test
    pool = worker_pool(1)
    try:
        assert pool.submit(_resize_on_threads, 2).result(timeout=60) > 0
    except FutureTimeout:
        for child in multiprocessing.active_children():  # a forked worker hangs: free the pool
            child.kill()
        pytest.fail("the worker hung in torch's first parallel op")
    finally:
        pool.shutdown(cancel_futures=True)
        torch.set_num_threads(before)


def _cv_repeats_of_the_code_location() -> int:
    from radiogenomics_assets import definitions

    return definitions.defs.resources["settings"].cv_repeats


def test_a_worker_loads_the_code_location_with_the_environment_of_its_walk(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The fork server keeps the environment it started with: a worker's definitions must be
    built from the walk's, which sets the modeling settings among others."""
    for repeats in (2, 3):  # the second pool forks from the same, older server
        monkeypatch.setenv(CV_REPEATS_ENV, str(repeats))
        pool = worker_pool(1)
        try:
            assert pool.submit(_cv_repeats_of_the_code_location).result(timeout=120) == repeats
        finally:
            pool.shutdown(cancel_futures=True)


def test_the_demo_printout_reads_the_repositorys_sql_files() -> None:
    import re
    from pathlib import Path

    from radiogenomics_assets.cli import demo

    named = re.findall(r'SQL_DIR / "([^"]+)"', Path(demo.__file__).read_text())
    assert named  # otherwise nothing below is checked
    for name in named:
        assert (demo.SQL_DIR / name).is_file(), demo.SQL_DIR / name
