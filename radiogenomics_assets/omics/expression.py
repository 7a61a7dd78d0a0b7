"""Clean the raw RNA-seq long table into the cohort × gene matrix (``features/gene_expression``).

Steps, in order (each is reported in :class:`ExpressionReport`):

1. Keep the requested patients (the cohort). Every one must have at least one measured value.
2. Duplicate gene symbols (the same symbol on several lines of the GEO file): by default the
   lines are averaged cell by cell on the measured scale, ignoring NA (``duplicates="mean"``);
   ``"first"`` keeps the earliest line, ``"error"`` refuses the file.
3. NA policy: a gene is dropped when its NA fraction over the requested patients exceeds
   ``max_na_fraction`` (default 0.2, i.e. genes with at least 80 % measured values are kept).
   This mirrors the only documented preprocessing of GSE103584 for this task (blobgoat's
   ``rna_preprocessing.ipynb``: "more than 80 % non-NA", 22,126 → 10,693 genes). That notebook's
   test is strict, so a gene with exactly 20 % NA is dropped there and kept here. A gene with no
   value at all is always dropped, whatever the threshold.
4. Transform: ``"log1p"`` is ln(x + 1) for FPKM-like values. The notebook above used
   log10(x + 1) (``"log10p"``); the two differ by the constant factor ln 10, so the ranking
   of genes by variance and every scale-free model (z-scored or max-scaled inputs, C-index)
   are the same. ``"none"`` is for values already on a log scale. A log transform of a
   negative value is undefined, so any negative input refuses the transform with an error
   that names a cell: the real 1000-gene derivative in shared data is z-scored and must be
   cleaned with ``transform="none"``. ``"auto"`` (the study file's default) decides from the
   values and reports what it chose and why (:func:`resolve_transform`): no transform for data
   with a negative value (already log-transformed or z-scored) or whose largest value is at
   most :data:`LOG_SCALE_MAX` (no log-scale expression reaches it: log2 of a million is 20),
   else ``log1p``.
5. Imputation: the remaining NA cells get the gene's median over the requested patients
   (``impute="gene_median"``; or ``"gene_mean"``; ``"none"`` keeps NaN). Cohort-level imputation
   uses no outcome, and with at most 20 % NA per gene it moves a handful of cells to a robust
   centre; the long table flags those cells (``imputed``) so a stricter pipeline can blank them
   and refit :class:`~radiogenomics_assets.omics.imputation.GeneImputer` on training rows.

Storage: :attr:`CleanExpression.long` is ``gene, patient_id, expression, imputed`` sorted by gene
then patient. DuckDB keeps min/max statistics per row group, so with rows sorted by gene a
``WHERE gene = ?`` query reads one or two row groups; a ``WHERE patient_id = ?`` query scans the
dictionary-compressed ``patient_id`` column only (about 130 distinct values), which is cheap at
this size (10^6 rows). The wide matrix is for models.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np
import pandas as pd

from radiogenomics_assets.ids import validate_patient_id

Transform = Literal["auto", "log1p", "log10p", "none"]
#: The largest value data already on a log scale can plausibly hold (see ``"auto"``).
LOG_SCALE_MAX = 50.0
Impute = Literal["gene_median", "gene_mean", "none"]
DuplicatePolicy = Literal["mean", "first", "error"]

_LONG_COLUMNS = ("patient_id", "gene", "expression")


class ExpressionInputError(ValueError):
    """The long table or the arguments are unusable (column, gene symbol, patient, option)."""


class ExpressionScaleError(ValueError):
    """The values cannot take the requested transform (negative: already log or z-scored)."""


@dataclass(frozen=True)
class ExpressionReport:
    """What cleaning did; every count can be re-derived from the raw table."""

    n_patients: int
    n_genes_in: int
    n_genes_kept: int
    max_na_fraction: float
    #: The transform applied; with ``"auto"`` requested, what it resolved to.
    transform: Transform
    #: Why: the request, or what ``"auto"`` saw in the values.
    transform_reason: str
    impute: Impute
    duplicates: DuplicatePolicy
    #: ``gene, na_fraction`` of genes dropped by the NA policy (all-NA genes included).
    dropped_for_na: pd.DataFrame
    #: ``gene, n_lines, source_lines, resolution`` of symbols found on several lines.
    duplicated_symbols: pd.DataFrame
    all_na_genes: tuple[str, ...]
    #: ``patient_id, na_fraction`` (over all genes, before dropping) above the threshold.
    mostly_na_patients: pd.DataFrame
    mostly_na_threshold: float
    cells_imputed: int
    #: Patients in the long table that were not requested (not in the cohort).
    patients_not_requested: tuple[str, ...]

    def summary(self) -> dict[str, int | float | str]:
        """Flat figures for run metadata."""
        return {
            "n_patients": self.n_patients,
            "n_genes_in": self.n_genes_in,
            "n_genes_kept": self.n_genes_kept,
            "n_genes_dropped_for_na": len(self.dropped_for_na),
            "n_all_na_genes": len(self.all_na_genes),
            "n_duplicated_symbols": len(self.duplicated_symbols),
            "n_mostly_na_patients": len(self.mostly_na_patients),
            "cells_imputed": self.cells_imputed,
            "max_na_fraction": self.max_na_fraction,
            "transform": self.transform,
            "transform_reason": self.transform_reason,
            "impute": self.impute,
            "duplicates": self.duplicates,
        }


@dataclass(frozen=True)
class CleanExpression:
    """The cleaned matrix (patients × genes), its long form for storage, and the report."""

    matrix: pd.DataFrame
    long: pd.DataFrame
    report: ExpressionReport


def _check_options(
    max_na_fraction: float,
    transform: str,
    impute: str,
    duplicates: str,
    mostly_na_threshold: float,
) -> None:
    for name, value, allowed in (
        ("transform", transform, get_args(Transform)),
        ("impute", impute, get_args(Impute)),
        ("duplicates", duplicates, get_args(DuplicatePolicy)),
    ):
        if value not in allowed:
            raise ExpressionInputError(f"{name} must be one of {allowed}, got {value!r}")
    for name, fraction in (
        ("max_na_fraction", max_na_fraction),
        ("mostly_na_threshold", mostly_na_threshold),
    ):
        if not 0.0 <= fraction <= 1.0:
            raise ExpressionInputError(f"{name} must lie in [0, 1], got {fraction}")


def _requested(long: pd.DataFrame, patient_ids: list[str]) -> list[str]:
    for patient in patient_ids:
        validate_patient_id(patient, where="requested expression patients")
    series = pd.Series(patient_ids, dtype="object")
    if series.empty:
        raise ExpressionInputError("no patients requested")
    if series.duplicated().any():
        raise ExpressionInputError(
            f"requested patients listed twice: {sorted(series[series.duplicated()].unique())}"
        )
    measured = set(long.loc[long["expression"].notna(), "patient_id"].astype(str))
    unmeasured = [patient for patient in patient_ids if patient not in measured]
    if unmeasured:
        raise ExpressionInputError(
            f"{len(unmeasured)} requested patient(s) have no measured expression value: "
            f"{unmeasured[:20]}"
        )
    return sorted(set(long["patient_id"].astype(str)) - set(patient_ids))


def _check_values(long: pd.DataFrame) -> None:
    genes = long["gene"]
    blank = genes.isna() | (genes.astype(str).str.strip() == "")
    if blank.any():
        where = _where(long, int(np.flatnonzero(blank.to_numpy())[0]))
        raise ExpressionInputError(f"empty gene symbol at {where}")
    values = pd.to_numeric(long["expression"], errors="coerce")
    non_numeric = values.isna() & long["expression"].notna()
    if non_numeric.any():
        index = int(np.flatnonzero(non_numeric.to_numpy())[0])
        raise ExpressionInputError(
            f"non-numeric expression value {long['expression'].iloc[index]!r} at "
            f"{_where(long, index)}"
        )
    infinite = np.isinf(values.to_numpy(dtype=float))
    if infinite.any():
        index = int(np.flatnonzero(infinite)[0])
        raise ExpressionInputError(f"infinite expression value at {_where(long, index)}")


def _where(long: pd.DataFrame, index: int) -> str:
    row = long.iloc[index]
    line = f"source line {row['source_line']}, " if "source_line" in long.columns else ""
    return f"{line}gene {row['gene']!r}, patient {row['patient_id']!r}"


def _resolve_duplicates(
    long: pd.DataFrame, policy: DuplicatePolicy
) -> tuple[pd.DataFrame, pd.DataFrame]:
    if "source_line" in long.columns:
        lines = long.groupby("gene")["source_line"].unique()
        repeated = lines[lines.map(len) > 1]
        described = [
            (gene, len(found), ", ".join(str(line) for line in sorted(found)))
            for gene, found in repeated.items()
        ]
    else:
        counts = long.groupby(["gene", "patient_id"]).size().groupby("gene").max()
        repeated = counts[counts > 1]
        described = [(gene, int(n), "") for gene, n in repeated.items()]
    resolution = {"mean": "mean of the lines, NA ignored", "first": "first line kept"}
    report = pd.DataFrame(
        [
            {
                "gene": gene,
                "n_lines": n_lines,
                "source_lines": source_lines,
                "resolution": resolution.get(policy, "refused"),
            }
            for gene, n_lines, source_lines in described
        ],
        columns=["gene", "n_lines", "source_lines", "resolution"],
    )
    if report.empty:
        return long, report
    if policy == "error":
        shown = "; ".join(
            f"{row.gene} (lines {row.source_lines})" if row.source_lines else str(row.gene)
            for row in report.head(10).itertuples()
        )
        raise ExpressionInputError(f"{len(report)} gene symbol(s) appear on several lines: {shown}")
    if policy == "first" and "source_line" in long.columns:
        first_line = long.groupby("gene")["source_line"].transform("min")
        long = long.loc[long["source_line"] == first_line]
    elif policy == "first":
        long = long.drop_duplicates(["gene", "patient_id"], keep="first")
    return long, report


def resolve_transform(values: np.ndarray, transform: Transform) -> tuple[Transform, str]:
    """The transform to apply to ``values`` (NaN ignored) and why; only ``"auto"`` decides."""
    if transform != "auto":
        return transform, "as requested"
    measured = values[~np.isnan(values)]
    if measured.size and measured.min() < 0:
        return "none", (
            f"auto: a negative value ({measured.min():.4g}), so the data are already "
            "log-transformed or z-scored"
        )
    largest = float(measured.max()) if measured.size else 0.0
    if largest <= LOG_SCALE_MAX:
        return "none", (
            f"auto: non-negative, largest value {largest:.4g} <= {LOG_SCALE_MAX:g}, so already "
            "on a log scale"
        )
    return "log1p", f"auto: non-negative, largest value {largest:.4g}, FPKM-like"


def _log_transform(wide: pd.DataFrame, transform: Transform) -> pd.DataFrame:
    if transform == "none":
        return wide
    values = wide.to_numpy(dtype=float)
    negative = np.argwhere(values < 0)
    if len(negative):
        row, column = negative[0]
        raise ExpressionScaleError(
            f"{len(negative)} negative expression value(s), e.g. {values[row, column]:.4g} for "
            f"gene {wide.columns[column]!r}, patient {wide.index[row]!r}: the data look already "
            f"log-transformed or z-scored, and {transform} of a negative value is undefined; "
            "clean them with transform='none'"
        )
    transformed = np.log1p(values) if transform == "log1p" else np.log10(values + 1.0)
    return pd.DataFrame(transformed, index=wide.index, columns=wide.columns)


def clean_expression(
    long: pd.DataFrame,
    patient_ids: list[str],
    *,
    max_na_fraction: float = 0.2,
    transform: Transform = "log1p",
    impute: Impute = "gene_median",
    duplicates: DuplicatePolicy = "mean",
    mostly_na_threshold: float = 0.5,
) -> CleanExpression:
    """Clean ``long`` (``patient_id, gene, expression[, source_line]``) for ``patient_ids``.

    See the module docstring for each step. The matrix has one row per requested patient (in
    the given order, index ``patient_id``) and one column per kept gene (sorted).

    Raises:
        ExpressionInputError: a column or option is invalid, a gene symbol is empty, a value is
            non-numeric or infinite (cell named), a requested patient is listed twice or has
            no measured value, or duplicate symbols are found with ``duplicates="error"``.
        ExpressionScaleError: a log transform was asked for negative values.
        InvalidPatientIdError: a requested patient id is not a safe identifier.
    """
    _check_options(max_na_fraction, transform, impute, duplicates, mostly_na_threshold)
    missing = [column for column in _LONG_COLUMNS if column not in long.columns]
    if missing:
        raise ExpressionInputError(
            f"expression long table lacks column(s) {missing}; got {list(long.columns)}"
        )
    patient_ids = [str(patient) for patient in patient_ids]
    _check_values(long)
    not_requested = _requested(long, patient_ids)

    subset = long.loc[long["patient_id"].astype(str).isin(set(patient_ids))].copy()
    subset["patient_id"] = subset["patient_id"].astype(str)
    subset["gene"] = subset["gene"].astype(str).str.strip()
    subset["expression"] = pd.to_numeric(subset["expression"]).astype(float)
    subset, duplicated = _resolve_duplicates(subset, duplicates)

    wide = subset.groupby(["patient_id", "gene"])["expression"].mean().unstack("gene")
    wide = wide.reindex(index=patient_ids, columns=sorted(wide.columns))
    wide.index.name = "patient_id"
    wide.columns.name = None

    gene_na = wide.isna().mean(axis=0)
    all_na = tuple(gene_na.index[gene_na == 1.0])
    dropped_mask = (gene_na > max_na_fraction) | (gene_na == 1.0)
    dropped = pd.DataFrame(
        {"gene": gene_na.index[dropped_mask], "na_fraction": gene_na[dropped_mask].to_numpy()}
    )
    patient_na = wide.isna().mean(axis=1)
    mostly = patient_na[patient_na > mostly_na_threshold]
    mostly_na = pd.DataFrame({"patient_id": mostly.index, "na_fraction": mostly.to_numpy()})

    kept = wide.loc[:, ~dropped_mask.to_numpy()]
    transform, transform_reason = resolve_transform(kept.to_numpy(dtype=float), transform)
    kept = _log_transform(kept, transform)
    was_na = kept.isna()
    cells_imputed = 0
    if impute != "none" and kept.shape[1]:
        from radiogenomics_assets.omics.imputation import GeneImputer  # imports scikit-learn

        kept = GeneImputer(statistic=impute).fit_transform(kept)
        cells_imputed = int(was_na.to_numpy().sum())

    order = np.argsort(kept.index.to_numpy(dtype=str), kind="stable")
    n_patients, n_genes = kept.shape
    stacked = pd.DataFrame(
        {
            "gene": np.repeat(kept.columns.to_numpy(dtype=object), n_patients),
            "patient_id": np.tile(kept.index.to_numpy(dtype=object)[order], n_genes),
            "expression": kept.to_numpy(dtype=float)[order].T.ravel(),
            "imputed": was_na.to_numpy()[order].T.ravel() & (impute != "none"),
        }
    )

    report = ExpressionReport(
        n_patients=len(patient_ids),
        n_genes_in=wide.shape[1],
        n_genes_kept=kept.shape[1],
        max_na_fraction=max_na_fraction,
        transform=transform,
        transform_reason=transform_reason,
        impute=impute,
        duplicates=duplicates,
        dropped_for_na=dropped,
        duplicated_symbols=duplicated,
        all_na_genes=all_na,
        mostly_na_patients=mostly_na,
        mostly_na_threshold=mostly_na_threshold,
        cells_imputed=cells_imputed,
        patients_not_requested=tuple(not_requested),
    )
    return CleanExpression(matrix=kept, long=stacked, report=report)
