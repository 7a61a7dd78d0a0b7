"""One small demo cohort per test session, shared by every source test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from pydicom import config as pydicom_config

from radiogenomics_assets.sources.demo import DemoCohort, DemoConfig, generate_demo_cohort
from radiogenomics_assets.sources.demo.source import DemoSource

#: Six patients chosen so that every gap occurs once: one AMC patient, one R01 patient without
#: RNA-seq, one patient without imaging, one SEG with a lung segment, one adjuvant patient and
#: one unknown recurrence status.
SMALL_CONFIG = DemoConfig(
    n_patients=6,
    seed=11,
    n_genes=300,
    amc_fraction=1 / 6,
    r01_without_rnaseq_fraction=0.2,
    without_seg_fraction=1 / 6,
    adjuvant_fraction=1 / 6,
    second_segment_fraction=0.2,
    recurrence_not_collected=1,
)


@pytest.fixture(scope="session")
def demo_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("demo-cache")


@pytest.fixture(scope="session")
def small_cohort(demo_cache: Path) -> DemoCohort:
    return generate_demo_cohort(demo_cache / SMALL_CONFIG.short_digest(), SMALL_CONFIG, workers=1)


@pytest.fixture(scope="session")
def small_ground_truth(small_cohort: DemoCohort, demo_cache: Path) -> pd.DataFrame:
    return DemoSource(demo_cache, SMALL_CONFIG).ground_truth()


@pytest.fixture
def strict_dicom() -> Iterator[None]:
    """pydicom raises on any invalid value while reading, for the duration of a test."""
    previous = pydicom_config.settings.reading_validation_mode
    pydicom_config.settings.reading_validation_mode = pydicom_config.RAISE
    try:
        yield
    finally:
        pydicom_config.settings.reading_validation_mode = previous
