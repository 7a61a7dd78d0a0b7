"""A refused transform says where the user sets it: the asset's run config, with its op name."""

from __future__ import annotations

import pandas as pd
import pytest
from dagster import build_asset_context

from radiogenomics_assets.defs.assets.genomics import ExpressionConfig, gene_expression
from radiogenomics_assets.omics.expression import ExpressionScaleError


def test_a_log_transform_of_z_scores_names_the_run_config_to_change() -> None:
    patients = ["R01-001", "R01-002"]
    long = pd.DataFrame(
        {"patient_id": patients, "gene": ["A1BG", "A1BG"], "expression": [-0.5, 1.2]}
    ).assign(source_line=2)
    cohort = pd.DataFrame({"patient_id": patients})
    with pytest.raises(ExpressionScaleError) as raised, build_asset_context() as context:
        gene_expression(context, ExpressionConfig(), long, cohort)
    message = str(raised.value)
    assert "clean them with transform='none'" in message
    op_name = gene_expression.op.name
    assert f"ops: {{{op_name}: {{config: {{transform: none}}}}}}" in message

    with build_asset_context() as context:
        cleaned = gene_expression(context, ExpressionConfig(transform="none"), long, cohort)
    assert cleaned.value["expression"].tolist() == [-0.5, 1.2]
