"""Stored feature tables → the per-modality blocks a model reads (patients × features).

The stored layouts are made for SQL (long gene table, one FLOAT[1024] column); models want one
numeric column per feature, indexed by ``patient_id``.

DenseNet vectors are comparable only when one network made them: every row records its weights
(``densenet_weights``), and :func:`densenet_block` refuses a table whose rows record more than
one (or none). :func:`densenet_weights_use` says which patients each weights record covers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

RADIOMIC_PREFIX = "original_"
DENSENET_COLUMN = "densenet_features"
DENSENET_WEIGHTS_COLUMN = "densenet_weights"
#: How a row without a weights record is listed among the weights.
UNRECORDED_WEIGHTS = "(not recorded)"
#: Patients named per weights record in a message; the metadata of a check lists them all.
NAMED_PATIENTS = 3


class FeatureTableError(ValueError):
    """A stored feature table lacks the columns its block needs (named)."""


class MixedDenseNetWeightsError(FeatureTableError):
    """Rows of a DenseNet table were made with different weights, or do not say with which."""


@dataclass(frozen=True)
class DenseNetWeightsUse:
    """The patients of each weights record in a DenseNet feature table.

    Attributes:
        patients: per weights record (``LoadedDenseNet.weights_used``, or
            :data:`UNRECORDED_WEIGHTS`), its patients sorted by id; the record with most
            patients first, ties by record.
    """

    patients: Mapping[str, tuple[str, ...]]

    @property
    def consistent(self) -> bool:
        """At most one weights record, and every row has one (an empty table is consistent)."""
        return len(self.patients) <= 1 and UNRECORDED_WEIGHTS not in self.patients

    @property
    def weights(self) -> tuple[str, ...]:
        return tuple(self.patients)

    @property
    def outliers(self) -> tuple[str, ...]:
        """Patients outside the most common recorded weights: the ones to extract again."""
        recorded = [w for w in self.patients if w != UNRECORDED_WEIGHTS]
        keep = recorded[0] if recorded else None
        return tuple(sorted(p for w, ps in self.patients.items() if w != keep for p in ps))

    def describe(self, table: str = "features.densenet_features") -> str:
        """One line naming every weights record with its patient count and a few patients."""
        if not self.patients:
            return f"{table} holds no rows"
        parts = [f"{w!r} ({_some(patients)})" for w, patients in self.patients.items()]
        if self.consistent:
            return f"{table}: every row made with {parts[0]}"
        problem = "mixes DenseNet weights" if len(parts) > 1 else "records no DenseNet weights"
        return (
            f"{table} {problem}: {'; '.join(parts)}. Features made with different weights are "
            "not comparable: materialize features/densenet_features again, with one weights "
            f"setting, for the patients whose weights differ ({_some(self.outliers)})"
        )


def _some(patients: tuple[str, ...]) -> str:
    """``"2 patients: A, B"``, or the first few and how many more."""
    noun = "patient" if len(patients) == 1 else "patients"
    named = ", ".join(patients[:NAMED_PATIENTS])
    more = len(patients) - NAMED_PATIENTS
    return f"{len(patients)} {noun}: {named}" + (f", … ({more} more)" if more > 0 else "")


def densenet_weights_use(densenet_features: pd.DataFrame) -> DenseNetWeightsUse:
    """Which patients of ``features.densenet_features`` each weights record covers.

    Raises:
        FeatureTableError: the table lacks ``patient_id`` or ``densenet_weights``.
    """
    _require(
        densenet_features,
        ["patient_id", DENSENET_WEIGHTS_COLUMN],
        "features.densenet_features",
    )
    weights = densenet_features[DENSENET_WEIGHTS_COLUMN].astype(object)
    records = weights.where(weights.notna(), UNRECORDED_WEIGHTS).astype(str)
    groups: dict[str, list[str]] = {}
    for record, patient in zip(records, densenet_features["patient_id"].astype(str), strict=True):
        groups.setdefault(record, []).append(patient)
    ordered = sorted(groups.items(), key=lambda item: (-len(item[1]), item[0]))
    return DenseNetWeightsUse({w: tuple(sorted(ps)) for w, ps in ordered})


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
    """``features.densenet_features`` with its vector column expanded to ``dn_0000`` … columns.

    Raises:
        FeatureTableError: a needed column is missing.
        MixedDenseNetWeightsError: the rows record different weights, or some record none; the
            message names each weights record and some of its patients.
    """
    _require(
        densenet_features,
        ["patient_id", DENSENET_COLUMN, DENSENET_WEIGHTS_COLUMN],
        "features.densenet_features",
    )
    use = densenet_weights_use(densenet_features)
    if not use.consistent:
        raise MixedDenseNetWeightsError(use.describe())
    if densenet_features.empty:
        return pd.DataFrame(index=pd.Index([], name="patient_id"))
    matrix = np.stack([np.asarray(v, dtype=np.float64) for v in densenet_features[DENSENET_COLUMN]])
    columns = [f"dn_{i:04d}" for i in range(matrix.shape[1])]
    index = pd.Index(densenet_features["patient_id"].astype(str), name="patient_id")
    return pd.DataFrame(matrix, index=index, columns=columns).sort_index()
