"""Fixtures: one good synthetic CT series and its SEG, rewritten per test under tmp_path."""

from __future__ import annotations

from pathlib import Path

import pytest

from radiogenomics_assets_tests.dicom.synthetic import SyntheticCt, build_seg, save, write_ct_series


@pytest.fixture
def synthetic_ct(tmp_path: Path) -> SyntheticCt:
    return write_ct_series(tmp_path / "ct")


@pytest.fixture
def seg_path(synthetic_ct: SyntheticCt, tmp_path: Path) -> Path:
    return save(build_seg(synthetic_ct), tmp_path / "seg" / "seg.dcm")
