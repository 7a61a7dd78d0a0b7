"""The expression transform: ``auto`` decides from the values and says why, and a refused
transform says where the user sets it: the study file's ``genomics.transform``."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from dagster import build_asset_context

from radiogenomics_assets.defs.assets.genomics import gene_expression
from radiogenomics_assets.defs.resources.features import ExpressionSettings
from radiogenomics_assets.omics.expression import ExpressionScaleError

PATIENTS = ["R01-001", "R01-002"]
COHORT = pd.DataFrame({"patient_id": PATIENTS})


def _long(values: list[float]) -> pd.DataFrame:
    return pd.DataFrame(
        {"patient_id": PATIENTS, "gene": ["A1BG", "A1BG"], "expression": values}
    ).assign(source_line=2)


def _clean(settings: ExpressionSettings, values: list[float]):
    with build_asset_context() as context:
        return gene_expression(context, settings, _long(values), COHORT)


def test_a_log_transform_of_z_scores_names_the_study_setting_to_change() -> None:
    with pytest.raises(ExpressionScaleError) as raised:
        _clean(ExpressionSettings(transform="log1p"), [-0.5, 1.2])
    message = str(raised.value)
    assert "clean them with transform='none'" in message
    assert "study file's genomics.transform" in message
    assert _clean(ExpressionSettings(transform="none"), [-0.5, 1.2]).value[
        "expression"
    ].tolist() == [-0.5, 1.2]


@pytest.mark.parametrize(
    ("values", "applied", "why"),
    [
        ([-0.5, 1.2], "none", "negative"),  # z-scored
        ([3.5, 12.0], "none", "log scale"),  # log2 FPKM
        ([0.0, 800.0], "log1p", "FPKM-like"),
    ],
)
def test_auto_applies_log1p_to_fpkm_only_and_records_why(values, applied, why) -> None:
    cleaned = _clean(ExpressionSettings(), values)
    assert cleaned.metadata["transform"].value == applied
    assert why in cleaned.metadata["transform_reason"].value
    expected = np.log1p(values) if applied == "log1p" else values
    assert np.allclose(cleaned.value["expression"].to_numpy(), expected)
