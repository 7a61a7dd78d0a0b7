"""Source-test fixtures: the demo cohort's DICOM, a loopback NBIA server, strict reading."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pydicom import config as pydicom_config

from radiogenomics_assets.sources.demo import DemoCohort
from radiogenomics_assets_tests.sources.clients import SleepRecorder
from radiogenomics_assets_tests.sources.demo_series import Cohort, demo_cohort_series
from radiogenomics_assets_tests.sources.nbia_server import NbiaTestServer, running_nbia_server


@pytest.fixture(scope="session")
def cohort(small_cohort: DemoCohort) -> Cohort:
    """The small demo cohort's imaged patients, each its CT series and the SEG drawn on it."""
    served = demo_cohort_series(small_cohort.dicom_root)
    if len(served) < 2 or not any(p.startswith("AMC-") for p in served):
        raise ValueError(f"the source tests need an AMC and an R01 patient, got {sorted(served)}")
    return served


@pytest.fixture(scope="session")
def patient(cohort: Cohort) -> str:
    """The patient whose series the single-series tests download (the first R01 patient)."""
    return next(p for p in cohort if p.startswith("R01-"))


@pytest.fixture(scope="session")
def other_patient(cohort: Cohort) -> str:
    """A patient of the other site than ``patient``."""
    return next(p for p in cohort if p.startswith("AMC-"))


@pytest.fixture
def nbia(cohort: Cohort) -> Iterator[NbiaTestServer]:
    state = NbiaTestServer()
    for ct, seg in cohort.values():
        state.add(ct, seg)
    with running_nbia_server(state) as running:
        yield running


@pytest.fixture
def sleeps() -> SleepRecorder:
    return SleepRecorder()


@pytest.fixture
def strict_dicom() -> Iterator[None]:
    """pydicom raises on any invalid value while reading, for the duration of a test."""
    previous = pydicom_config.settings.reading_validation_mode
    pydicom_config.settings.reading_validation_mode = pydicom_config.RAISE
    try:
        yield
    finally:
        pydicom_config.settings.reading_validation_mode = previous
