"""Fixtures: a synthetic CT with a spherical nodule, read back as a CtVolume."""

from __future__ import annotations

from pathlib import Path

import pytest

from radiogenomics_assets.dicom.series import CtVolume, read_ct_series
from radiogenomics_assets_tests.dicom.synthetic import SyntheticCt, write_ct_series


@pytest.fixture
def synthetic_ct(tmp_path: Path) -> SyntheticCt:
    return write_ct_series(tmp_path / "ct")


@pytest.fixture
def ct_volume(synthetic_ct: SyntheticCt) -> CtVolume:
    return read_ct_series(synthetic_ct.paths, patient_id=synthetic_ct.patient_id)
