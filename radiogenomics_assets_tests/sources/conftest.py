"""Fixtures for the source tests: tiny real DICOM, a loopback NBIA server, strict reading."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pydicom import config as pydicom_config

from radiogenomics_assets_tests.sources.clients import SleepRecorder
from radiogenomics_assets_tests.sources.dicom_fixtures import FixtureSeries, patient_series
from radiogenomics_assets_tests.sources.nbia_server import NbiaTestServer, running_nbia_server


@pytest.fixture(scope="session")
def cohort() -> dict[str, tuple[FixtureSeries, FixtureSeries]]:
    """Two patients, each a 3-slice CT series and the SEG that references it."""
    return {
        patient: patient_series(patient, n_slices=3, seed=index)
        for index, patient in enumerate(("R01-005", "AMC-001"))
    }


@pytest.fixture
def nbia(cohort: dict[str, tuple[FixtureSeries, FixtureSeries]]) -> Iterator[NbiaTestServer]:
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
