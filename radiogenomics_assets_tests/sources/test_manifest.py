"""Which SEG a patient's raw assets fetch, the patient without one, and what a manifest may list."""

from __future__ import annotations

import pandas as pd
import pytest

from radiogenomics_assets.sources.base import MANIFEST_COLUMNS
from radiogenomics_assets.sources.manifest import (
    ORIGINAL_SEG_DESCRIPTION,
    ManifestError,
    NoSegmentationError,
    choose_segmentation,
    validate_manifest,
)


def _rows(*series: tuple[str, str, str, int]) -> pd.DataFrame:
    return pd.DataFrame(
        series, columns=["series_uid", "modality", "series_description", "instance_count"]
    ).assign(patient_id="R01-001")


def test_the_original_seg_wins_over_a_larger_other_seg() -> None:
    rows = _rows(
        ("1.1", "CT", "Chest", 120),
        ("1.2", "SEG", "ePAD DSO", 40),
        ("1.3", "SEG", ORIGINAL_SEG_DESCRIPTION, 1),
    )
    assert choose_segmentation(rows, "R01-001")["series_uid"] == "1.3"


def test_among_equal_ranks_the_most_instances_then_the_smallest_uid() -> None:
    rows = _rows(
        ("1.5", "SEG", "ePAD DSO", 3), ("1.4", "SEG", "ePAD DSO", 3), ("1.9", "SEG", "x", 9)
    )
    assert choose_segmentation(rows, "R01-001")["series_uid"] == "1.9"
    assert choose_segmentation(rows.iloc[:2], "R01-001")["series_uid"] == "1.4"


def test_a_patient_without_seg_is_named() -> None:
    with pytest.raises(NoSegmentationError, match="patient R01-001 has no SEG series"):
        choose_segmentation(_rows(("1.1", "CT", "Chest", 120)), "R01-001")


def _manifest(*keys: tuple[str, str]) -> pd.DataFrame:
    rows = [
        dict.fromkeys(MANIFEST_COLUMNS, "") | {"patient_id": p, "series_uid": u} for p, u in keys
    ]
    return pd.DataFrame(rows).assign(modality="CT")


def test_a_series_uid_two_patients_share_is_two_series_but_not_twice_for_one() -> None:
    shared = _manifest(("R01-001", "1.2.3"), ("R01-002", "1.2.3"))
    assert validate_manifest(shared, source="local")["patient_id"].tolist() == [
        "R01-001",
        "R01-002",
    ]
    with pytest.raises(ManifestError, match=r"lists series 1\.2\.3 of patient R01-001 twice"):
        validate_manifest(_manifest(("R01-001", "1.2.3"), ("R01-001", "1.2.3")), source="local")
