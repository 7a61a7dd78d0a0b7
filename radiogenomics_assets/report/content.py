"""What the study report shows, gathered from the stored result tables (no Dagster, no HTML).

:func:`study_report` turns the evaluation's tables (Table 1, the fusion gains, the figures'
file rows, the CONSORT flow, the fold metrics and Dagster's lineage record) into a
:class:`StudyReport`; :mod:`radiogenomics_assets.report.render` lays it out as HTML. Figures
are read back from the file store and checked against the sha256 their table row recorded, so
the page shows exactly the files the results name.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from radiogenomics_assets.store.files import FileStore, sha256_bytes
from radiogenomics_assets.survival.results import ORACLE_LABEL, ORACLE_MODEL, model_label
from radiogenomics_assets.survival.study_results import CI_CONDITION

#: Table 1's halves, as the paper titles them.
TABLE_TITLES = {"1a": "Table 1(a): linear models (CoxNet)", "1b": "Table 1(b): neural models"}
_FOLD_COLUMN = re.compile(r"^fold_\d+$")


class ReportInputError(ValueError):
    """A figure the results name is missing from the file store or differs from its sha256."""


@dataclass(frozen=True)
class Provenance:
    """Where one C-index came from: the model's materialization and the inputs it read."""

    model: str
    fold: str
    protocol: str
    partition: str
    run_id: str
    code_version: str
    data_version: str
    materialized_at: str
    #: (input asset key, the data version the run read), as Dagster recorded them.
    inputs: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Cell:
    value: float | None
    provenance: Provenance | None = None


@dataclass(frozen=True)
class ModelRow:
    model: str
    label: str
    cells: tuple[Cell, ...]
    mean: float
    sd: float
    ci_low: float
    ci_high: float
    mean_all: float
    sd_all: float
    n_folds_all: int
    null_model_folds: str
    oracle: bool = False


@dataclass(frozen=True)
class ResultTable:
    key: str
    title: str
    folds: tuple[str, ...]
    rows: tuple[ModelRow, ...]


@dataclass(frozen=True)
class Figure:
    caption: str
    data_uri: str


@dataclass(frozen=True)
class ProtocolSection:
    name: str
    headline: bool
    tables: tuple[ResultTable, ...]
    #: The fusion-gain rows, labelled (fusion_label, single_label, n_folds, mean_gain, ...).
    gains: tuple[dict[str, Any], ...]
    #: Fig. 2 per fold: (fold, figures of its panels).
    fig2: tuple[tuple[str, tuple[Figure, ...]], ...]
    km: tuple[Figure, ...]


@dataclass(frozen=True)
class ConsortStep:
    criterion: str
    description: str
    remaining: int
    removed: int
    #: The excluded patients of this step with the detail recorded for each.
    excluded: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class StudyReport:
    title: str
    description: str
    rendered_at: str
    #: The Dagster run that rendered the page.
    run_id: str
    #: How Table 1's confidence interval was computed.
    ci_condition: str
    consort: tuple[ConsortStep, ...]
    protocols: tuple[ProtocolSection, ...]
    #: Section → setting → value (a nested value as JSON text).
    settings: Mapping[str, Mapping[str, Any]]
    versions: Mapping[str, str]
    #: What a reader must know to read the numbers (offline fallbacks, a synthetic cohort).
    notes: tuple[str, ...] = ()

    @property
    def n_included(self) -> int:
        return self.consort[-1].remaining if self.consort else 0

    @property
    def models(self) -> tuple[str, ...]:
        """Every model (not the oracle) with a row in some table."""
        found = {
            row.model
            for section in self.protocols
            for table in section.tables
            for row in table.rows
            if not row.oracle
        }
        return tuple(sorted(found))


def embedded_png(files: FileStore, relpath: str, sha256: str) -> str:
    """The PNG at ``relpath`` as a data URI, after checking it is the file its row recorded.

    Raises:
        ReportInputError: the file is missing or its sha256 differs.
    """
    path = files.root / relpath
    try:
        data = path.read_bytes()
    except FileNotFoundError as error:
        raise ReportInputError(f"figure {relpath} is missing from {files.root}") from error
    if sha256_bytes(data) != sha256:
        raise ReportInputError(
            f"figure {relpath} changed since it was recorded (sha256 {sha256_bytes(data)[:12]}, "
            f"recorded {sha256[:12]}): materialize its figure asset again"
        )
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


def provenance_index(
    fold_metrics: pd.DataFrame, lineage: pd.DataFrame
) -> dict[tuple[str, str, str], Provenance]:
    """Per (protocol, model, fold) of repeat 1's test metrics: its model's provenance."""
    test = fold_metrics[(fold_metrics["split"] == "test") & (fold_metrics["repeat"] == 1)]
    by_partition = {
        key: group for key, group in lineage.groupby(["asset_key", "partition"], dropna=False)
    }
    index = {}
    for row in test.itertuples(index=False):
        records = by_partition.get((f"modeling/{row.model}", row.model_partition))
        inputs: tuple[tuple[str, str], ...] = ()
        materialized = ""
        if records is not None:
            # Dagster's timestamps are UTC.
            materialized = (
                f"{pd.Timestamp(records['materialized_at'].iloc[0]):%Y-%m-%d %H:%M:%S} UTC"
            )
            inputs = tuple(
                (str(r.input_asset_key), str(r.input_data_version))
                for r in records.itertuples(index=False)
                if isinstance(r.input_asset_key, str)
            )
        index[(row.protocol, row.model, row.fold)] = Provenance(
            model=row.model,
            fold=row.fold,
            protocol=row.protocol,
            partition=str(row.model_partition),
            run_id=str(row.model_run_id),
            code_version=str(row.model_code_version),
            data_version=str(row.model_data_version),
            materialized_at=materialized,
            inputs=inputs,
        )
    return index


def _model_row(
    row: Mapping[str, Any],
    folds: Sequence[str],
    provenance: Mapping[tuple[str, str, str], Provenance],
    protocol: str,
    *,
    oracle: bool = False,
) -> ModelRow:
    model = str(row["model"])
    cells = tuple(
        Cell(
            None if pd.isna(row[fold]) else float(row[fold]),
            None if oracle else provenance.get((protocol, model, fold)),
        )
        for fold in folds
    )
    return ModelRow(
        model=model,
        label=ORACLE_LABEL if oracle else model_label(model),
        cells=cells,
        mean=float(row["mean"]),
        sd=float(row["sd"]),
        ci_low=float(row["ci_low"]),
        ci_high=float(row["ci_high"]),
        mean_all=float(row["mean_all"]),
        sd_all=float(row["sd_all"]),
        n_folds_all=int(row["n_folds_all"]),
        null_model_folds="" if pd.isna(row["null_model_folds"]) else str(row["null_model_folds"]),
        oracle=oracle,
    )


def result_tables(
    results: pd.DataFrame,
    protocol: str,
    provenance: Mapping[tuple[str, str, str], Provenance],
    oracle: pd.DataFrame | None,
) -> tuple[ResultTable, ...]:
    """Table 1's halves under ``protocol`` in the paper's layout, each closed by the oracle."""
    folds = tuple(c for c in results.columns if _FOLD_COLUMN.match(c))
    mine = results[results["protocol"] == protocol]
    tables = []
    for half in sorted(set(mine["paper_table"].dropna())):
        rows = [
            _model_row(r, folds, provenance, protocol)
            for r in mine[mine["paper_table"] == half].to_dict("records")
        ]
        if oracle is not None:
            rows += [
                _model_row(r, folds, provenance, protocol, oracle=True)
                for r in oracle.to_dict("records")
                if r["model"] == ORACLE_MODEL
            ]
        tables.append(ResultTable(half, TABLE_TITLES.get(half, half), folds, tuple(rows)))
    return tuple(tables)


def gain_rows(gains: pd.DataFrame, protocol: str) -> tuple[dict[str, Any], ...]:
    mine = gains[gains["protocol"] == protocol]
    return tuple(
        {
            **row,
            "fusion_label": model_label(row["fusion_model"]),
            "single_label": model_label(row["best_single_model"]),
        }
        for row in mine.to_dict("records")
    )


def fig2_figures(
    files: FileStore, figures: pd.DataFrame, protocol: str
) -> tuple[tuple[str, tuple[Figure, ...]], ...]:
    mine = figures[figures["protocol"] == protocol]
    by_fold = []
    for fold, rows in mine.groupby("fold", sort=False):
        shown = tuple(
            Figure(f"{fold}, {row.panel} models", embedded_png(files, row.path, row.sha256))
            for row in rows.itertuples(index=False)
        )
        by_fold.append((str(fold), shown))
    return tuple(by_fold)


def km_figures(files: FileStore, km: pd.DataFrame, protocol: str) -> tuple[Figure, ...]:
    mine = km[km["protocol"] == protocol]
    return tuple(
        Figure(
            f"{model_label(row.model)}: high risk {row.n_high} ({row.events_high} events), "
            f"low risk {row.n_low} ({row.events_low} events), log-rank p = {row.p_value:.3g}",
            embedded_png(files, row.path, row.sha256),
        )
        for row in mine.itertuples(index=False)
    )


def consort_steps(flow: pd.DataFrame, patients: pd.DataFrame) -> tuple[ConsortStep, ...]:
    """The CONSORT flow with, per step, the patients it excluded and why."""
    excluded = patients[~patients["included"].astype(bool)]
    steps = []
    for row in flow.sort_values("step").itertuples(index=False):
        mine = excluded[excluded["exclusion_reason"] == row.criterion].sort_values("patient_id")
        steps.append(
            ConsortStep(
                criterion=row.criterion,
                description=row.description,
                remaining=int(row.patients_remaining),
                removed=int(row.patients_removed),
                excluded=tuple(
                    (str(p), "" if pd.isna(d) else str(d))
                    for p, d in zip(mine["patient_id"], mine["exclusion_detail"], strict=True)
                ),
            )
        )
    return tuple(steps)


@dataclass(frozen=True)
class StoredResults:
    """The stored tables the report is drawn from (the oracle only on the demo)."""

    results: pd.DataFrame
    gains: pd.DataFrame
    fig2: pd.DataFrame
    km: pd.DataFrame
    consort_flow: pd.DataFrame
    patients: pd.DataFrame
    fold_metrics: pd.DataFrame
    lineage: pd.DataFrame
    oracle: pd.DataFrame | None = None


def study_report(
    stored: StoredResults,
    files: FileStore,
    *,
    title: str,
    description: str,
    rendered_at: str,
    run_id: str,
    protocols: Sequence[str],
    headline: str,
    settings: Mapping[str, Mapping[str, Any]],
    versions: Mapping[str, str],
    notes: Sequence[str] = (),
) -> StudyReport:
    """The report of one study, every protocol of ``protocols`` with results in its section.

    Raises:
        ReportInputError: a figure the results name is missing or changed.
    """
    provenance = provenance_index(stored.fold_metrics, stored.lineage)
    sections = tuple(
        ProtocolSection(
            name=protocol,
            headline=protocol == headline,
            tables=result_tables(stored.results, protocol, provenance, stored.oracle),
            gains=gain_rows(stored.gains, protocol),
            fig2=fig2_figures(files, stored.fig2, protocol),
            km=km_figures(files, stored.km, protocol),
        )
        for protocol in protocols
        if (stored.results["protocol"] == protocol).any()
    )
    return StudyReport(
        title=title,
        description=description,
        rendered_at=rendered_at,
        run_id=run_id,
        ci_condition=CI_CONDITION,
        consort=consort_steps(stored.consort_flow, stored.patients),
        protocols=sections,
        settings=settings,
        versions=versions,
        notes=tuple(notes),
    )
