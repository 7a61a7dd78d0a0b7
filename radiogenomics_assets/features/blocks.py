"""Stored feature tables → the per-modality blocks a model reads (patients × features).

The stored layouts are made for SQL (long gene table, one FLOAT[1024] column); models want one
numeric column per feature, indexed by ``patient_id``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

RADIOMIC_PREFIX = "original_"
DENSENET_COLUMN = "densenet_features"


class FeatureTableError(ValueError):
    """A stored feature table lacks the columns its block needs (named)."""


def _require(table: pd.DataFrame, columns: list[str], name: str) -> None:
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise FeatureTableError(f"{name} lacks column(s) {missing}")


def genomics_block(gene_expression: pd.DataFrame) -> pd.DataFrame:
    """``features.gene_expression`` (gene, patient_id, expression) as patients × genes."""
    _require(gene_expression, ["gene", "patient_id", "expression"], "features.gene_expression")
    return (
        gene_expression.pivot(index="patient_id", columns="gene", values="expression")
        .sort_index()
        .sort_index(axis=1)
        .rename_axis(columns=None)
    )


def radiomics_block(radiomic_features: pd.DataFrame) -> pd.DataFrame:
    """``features.radiomic_features`` as patients × the 107 ``original_*`` features."""
    _require(radiomic_features, ["patient_id"], "features.radiomic_features")
    columns = [c for c in radiomic_features.columns if c.startswith(RADIOMIC_PREFIX)]
    if not columns:
        raise FeatureTableError("features.radiomic_features holds no original_* feature column")
    return radiomic_features.set_index("patient_id")[columns].astype(float).sort_index()


def densenet_block(densenet_features: pd.DataFrame) -> pd.DataFrame:
    """``features.densenet_features`` with its vector column expanded to ``dn_0000`` … columns."""
    _require(densenet_features, ["patient_id", DENSENET_COLUMN], "features.densenet_features")
    if densenet_features.empty:
        return pd.DataFrame(index=pd.Index([], name="patient_id"))
    matrix = np.stack([np.asarray(v, dtype=np.float64) for v in densenet_features[DENSENET_COLUMN]])
    columns = [f"dn_{i:04d}" for i in range(matrix.shape[1])]
    index = pd.Index(densenet_features["patient_id"].astype(str), name="patient_id")
    return pd.DataFrame(matrix, index=index, columns=columns).sort_index()
