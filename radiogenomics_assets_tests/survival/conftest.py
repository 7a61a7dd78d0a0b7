"""Fixtures of the survival tests: one synthetic cohort with signal in genomics and radiomics."""

from __future__ import annotations

import dataclasses

import pandas as pd
import pytest

from radiogenomics_assets.survival.registry import ModelSpec, get_spec
from radiogenomics_assets.survival.splits import assign_test_folds, split_fold
from radiogenomics_assets_tests.survival.synthetic import Cohort, make_cohort

SEED = 7


def planted_cohort(seed: int = 0) -> Cohort:
    """Signal in genomics and pyradiomics (equal weight), none in densenet."""
    return make_cohort(
        150,
        seed=seed,
        n_genes=30,
        n_radiomic=15,
        n_deep=20,
        weights=(1.5, 1.5, 0.0),
        n_informative=2,
    )


@pytest.fixture(scope="session")
def cohort() -> Cohort:
    return planted_cohort()


@pytest.fixture(scope="session")
def assignment(cohort: Cohort) -> pd.DataFrame:
    return assign_test_folds(cohort.outcomes[["patient_id", "event"]], seed=SEED)


@pytest.fixture(scope="session")
def fold1(assignment: pd.DataFrame) -> pd.DataFrame:
    return split_fold(assignment, 1, seed=SEED)


def with_hyperparameters(name: str, **changes: object) -> ModelSpec:
    """A registered spec with some hyperparameters replaced (e.g. fewer genes)."""
    spec = get_spec(name)
    return dataclasses.replace(spec, hyperparameters={**spec.hyperparameters, **changes})
