"""The settings a Celery worker rebuilds the code location from: the executor, the demo
cohort and the modeling settings, each from one environment variable (no broker needed)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from radiogenomics_assets.cli.celery_runs import reconstructable_job
from radiogenomics_assets.definitions import build_definitions
from radiogenomics_assets.defs.executor import CELERY_BROKER_VARIABLE
from radiogenomics_assets.defs.resources.modeling import (
    ALPHA_SELECTION_ENV,
    CV_REPEATS_ENV,
    modeling_from_environment,
)
from radiogenomics_assets.defs.resources.source import DEMO_CONFIG_ENV, source_from_environment


@pytest.fixture(autouse=True)
def clean(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (CELERY_BROKER_VARIABLE, DEMO_CONFIG_ENV, CV_REPEATS_ENV, ALPHA_SELECTION_ENV):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("RADIOGENOMICS_SOURCE", raising=False)


def test_the_broker_selects_the_celery_executor(monkeypatch: pytest.MonkeyPatch) -> None:
    default = build_definitions().resolve_job_def("patient_assets_job").executor_def
    assert default.name != "celery"

    monkeypatch.setenv(CELERY_BROKER_VARIABLE, "redis://127.0.0.1:6379/0")
    job = build_definitions().resolve_job_def("patient_assets_job")
    assert job.executor_def.name == "celery"
    # What a worker rebuilds: the same job, from the same environment.
    rebuilt = reconstructable_job("modeling_job").get_definition()
    assert (rebuilt.name, rebuilt.executor_def.name) == ("modeling_job", "celery")


def test_the_demo_cohort_comes_from_the_variable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(DEMO_CONFIG_ENV, json.dumps({"n_patients": 12, "seed": 7, "n_genes": 200}))
    built = source_from_environment().process_config_and_initialize().build(tmp_path)
    assert (built.config.n_patients, built.config.seed, built.config.n_genes) == (12, 7, 200)


@pytest.mark.parametrize("value", ["[1, 2]", "{not json"])
def test_a_demo_config_that_is_not_an_object_is_refused(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv(DEMO_CONFIG_ENV, value)
    with pytest.raises(ValueError, match=DEMO_CONFIG_ENV):
        source_from_environment()


def test_modeling_settings_come_from_the_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    assert modeling_from_environment().cv_repeats == 3
    monkeypatch.setenv(CV_REPEATS_ENV, "1")
    monkeypatch.setenv(ALPHA_SELECTION_ENV, "validation")
    settings = build_definitions().resources["settings"]
    assert (settings.cv_repeats, settings.alpha_selection) == (1, "validation")

    monkeypatch.setenv(CV_REPEATS_ENV, "0")
    with pytest.raises(ValueError, match=CV_REPEATS_ENV):
        modeling_from_environment()
