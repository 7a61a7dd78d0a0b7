"""Fixtures of the survival tests: one synthetic cohort with signal in genomics and radiomics."""

from __future__ import annotations

import pandas as pd
import pytest

from radiogenomics_assets.survival.splits import assign_test_folds, split_fold
from radiogenomics_assets_tests.survival.synthetic import SEED, Cohort, planted_cohort


@pytest.fixture(scope="session")
def cohort() -> Cohort:
    return planted_cohort()


@pytest.fixture(scope="session")
def assignment(cohort: Cohort) -> pd.DataFrame:
    return assign_test_folds(cohort.outcomes[["patient_id", "event"]], seed=SEED)


@pytest.fixture(scope="session")
def fold1(assignment: pd.DataFrame) -> pd.DataFrame:
    return split_fold(assignment, 1, seed=SEED)
