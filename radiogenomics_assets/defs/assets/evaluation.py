"""Evaluation assets: per-fold metrics of the materialized models, Table 1(a) and 1(b), Fig. 2.

Metrics come from scikit-survival through ``survival.metrics``; these assets gather the model
predictions of a fold partition (one fold of one repeat under one study protocol), tabulate per
protocol, draw, and record which materializations produced each number. Every fold is scored up
to one horizon on one TD-AUC grid, both read from every fold's splits.
They depend on every registered model but read only the models whose predictions are stored:
a user who trains some models (the genomics ones, say) gets their metrics, table rows and
curves, and the metadata names the models left out (``missing_models``, ``absent_models``).
"""

# No "from __future__ import annotations": Dagster reads these annotations at definition time.

import base64
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from dagster import (
    AssetDep,
    AssetExecutionContext,
    AssetIn,
    AssetKey,
    AssetOut,
    AssetsDefinition,
    MetadataValue,
    Output,
    asset,
    multi_asset,
)

from radiogenomics_assets.cohort.outcomes import usable_outcomes
from radiogenomics_assets.defs.assets.modeling import partition_parts
from radiogenomics_assets.defs.assets.outputs import table_output
from radiogenomics_assets.defs.assets.versions import with_code_version
from radiogenomics_assets.defs.materializations import latest_materialization
from radiogenomics_assets.defs.names import COHORT, EVALUATION, MODELING, NET_FOLDS_PARTITIONS
from radiogenomics_assets.defs.partitions import (
    FOLD_PARTITION,
    NET_FOR_EVERY_PROTOCOL,
    fold_partition_parts,
    net_partition_key,
    study_partitions,
)
from radiogenomics_assets.defs.resources.cohort import CohortResource
from radiogenomics_assets.defs.resources.io_manager import partition_columns
from radiogenomics_assets.defs.resources.modeling import ModelingSettings
from radiogenomics_assets.defs.resources.store import StoreResource
from radiogenomics_assets.store.database import read_table, table_exists
from radiogenomics_assets.survival.figures import (
    curves_for_panel,
    curves_with_mean_auc,
    td_auc_figure,
    time_axis_label,
)
from radiogenomics_assets.survival.metrics import (
    PAPER_TIME_GRID,
    StudyHorizonError,
    study_horizon,
    study_time_grid,
)
from radiogenomics_assets.survival.registry import MODEL_REGISTRY
from radiogenomics_assets.survival.results import ORACLE_MODEL
from radiogenomics_assets.survival.splits import cv_fold_names, fold_order, split_cv_fold
from radiogenomics_assets.survival.stored import evaluate_stored
from radiogenomics_assets.survival.study_protocol import NET_PROTOCOL, PROTOCOL_NAMES
from radiogenomics_assets.survival.study_results import (
    CI_CONDITION,
    repeat_of,
    study_markdown,
    study_results_table,
    with_repeat,
)

MODEL_NAMES = tuple(spec.name for spec in MODEL_REGISTRY)
#: The models trained once per fold, for every protocol (``partitions.net_partitions``).
NET_NAMES = frozenset(spec.name for spec in MODEL_REGISTRY if spec.estimator == "net")
#: Every model, as a dependency only: its table is read from the store when it holds rows.
MODEL_DEPS = [AssetDep(AssetKey([MODELING, name])) for name in MODEL_NAMES]
#: The same for a fold partition (``fold_1|paper``): a net's ``fold_1|recommended`` serves it.
FOLD_MODEL_DEPS = [
    AssetDep(
        AssetKey([MODELING, name]),
        partition_mapping=NET_FOR_EVERY_PROTOCOL if name in NET_NAMES else None,
    )
    for name in MODEL_NAMES
]
#: Fig. 2 per family: (a)/(b) are the CoxNet curves, (c) the neural ones.
FIGURE_PANELS = {"coxnet": "linear", "net": "neural"}


def study_splits(fold_assignment: pd.DataFrame, settings: ModelingSettings) -> pd.DataFrame:
    """Every fold's splits, drawn from the assignment as ``fold_splits`` draws them: a fold run
    cannot wait for the other folds' runs (the folds are the same under both protocols)."""
    assignment = fold_assignment.drop(columns="seed")
    names = cv_fold_names(int(assignment["repeat"].max()))
    return pd.concat(
        [
            split_cv_fold(
                assignment,
                name,
                validation_fraction=settings.validation_fraction,
                seed=settings.seed,
            )
            for name in names
        ],
        ignore_index=True,
    )


@dataclass(frozen=True)
class StudyHorizon:
    """The Uno tau and TD-AUC grid every fold is scored with; ``tau`` None (with ``note``
    saying why) when no study-wide horizon exists and each fold uses its own."""

    tau: float | None
    grid: np.ndarray
    note: str | None = None

    def describe(self) -> str:
        if self.tau is None:
            return f"per fold (training maximum): {self.note}"
        return f"{self.tau:g} days, grid {', '.join(f'{t:g}' for t in self.grid)}"


def horizon_and_grid(outcomes: pd.DataFrame, splits: pd.DataFrame) -> StudyHorizon:
    """The Uno tau and TD-AUC grid shared by every fold of every repeat, from their test splits
    (the rule is :func:`~radiogenomics_assets.survival.metrics.study_horizon`'s). A cohort too
    small for one (a test split without an event before the common horizon) falls back to each
    fold's own horizon, and says so rather than failing the evaluation."""
    try:
        tau = study_horizon(outcomes, splits, evaluated=("test",))
        return StudyHorizon(tau, study_time_grid(outcomes, splits, tau, evaluated=("test",)))
    except StudyHorizonError as error:
        return StudyHorizon(None, PAPER_TIME_GRID, str(error))


class NoPredictionsError(ValueError):
    """No model has stored predictions for what the evaluation was asked to cover."""


def trained_partition(model: str, partition: str) -> str:
    """The partition of ``model`` that study partition ``partition`` reports: a net's fold
    under ``NET_PROTOCOL``, any other model's own."""
    return net_partition_key(partition) if model in NET_NAMES else partition


def stored_predictions(
    store: StoreResource, models: Sequence[str], partitions: Sequence[str] | None = None
) -> dict[str, pd.DataFrame]:
    """The stored prediction rows of each of ``models`` that has any, of the study
    ``partitions`` (keys such as ``fold_1|paper``) or of all; a net's rows stand for it under
    every protocol, so they are repeated with each protocol's name."""
    found = {}
    with store.get_connection() as conn:
        for model in models:
            if not table_exists(conn, MODELING, model):
                continue
            keys = {trained_partition(model, p) for p in partitions} if partitions else None
            rows = read_table(
                conn,
                MODELING,
                model,
                partition_column=partition_columns(FOLD_PARTITION) if keys else None,
                partition_keys=sorted(keys) if keys else None,
            )
            if model in NET_NAMES:
                rows = _for_every_protocol(rows, partitions)
            if not rows.empty:
                found[model] = rows
    return found


def _for_every_protocol(rows: pd.DataFrame, partitions: Sequence[str] | None) -> pd.DataFrame:
    """A net's rows once per protocol, kept to ``partitions`` where given. Rows under another
    protocol (a store from before the nets had their own partitions) are not the net's."""
    rows = rows[rows["protocol"] == NET_PROTOCOL]
    every = pd.concat([rows.assign(protocol=p) for p in PROTOCOL_NAMES], ignore_index=True)
    if not partitions:
        return every
    wanted = pd.MultiIndex.from_tuples([fold_partition_parts(p) for p in partitions])
    return every[pd.MultiIndex.from_frame(every[["fold", "protocol"]]).isin(wanted)]


def graph_models(context: AssetExecutionContext) -> list[str]:
    """The models of the study's graph: those this asset depends on (``defs.scope`` removes
    the dependencies on models a study leaves out)."""
    assets_def = context.assets_def
    deps = {dep for key in assets_def.keys for dep in assets_def.asset_deps[key]}
    return [name for name in MODEL_NAMES if AssetKey([MODELING, name]) in deps]


def _names(models: Sequence[str]) -> str:
    return ", ".join(models) or "none"


@with_code_version
@multi_asset(
    outs={
        "fold_metrics": AssetOut(
            key=[EVALUATION, "fold_metrics"],
            group_name=EVALUATION,
            metadata=FOLD_PARTITION,
            kinds={"duckdb"},
            description="Per materialized model and split of a fold under one protocol: "
            "Harrell's and Uno's C (one tau for every fold of the study: study_horizon), mean "
            "TD-AUC on one grid shared by every fold (the paper's times below tau), IBS where "
            "survival functions exist, and the model "
            "materialization (partition, run, code and data version) that produced them (a "
            "net's partition is its fold's under the protocol it is trained under); models "
            "without "
            "predictions for the fold are named in metadata (missing_models).",
        ),
        "td_auc_curves": AssetOut(
            key=[EVALUATION, "td_auc_curves"],
            group_name=EVALUATION,
            metadata=FOLD_PARTITION,
            kinds={"duckdb"},
            description="Time-dependent AUC per model, split and time of the paper's grid.",
        ),
    },
    partitions_def=study_partitions,
    ins={
        "outcomes": AssetIn(key=[COHORT, "outcomes"]),
        # Every fold's splits: the study's one horizon and TD-AUC grid are read from them all.
        "fold_assignment": AssetIn(key=[MODELING, "fold_assignment"]),
    },
    deps=FOLD_MODEL_DEPS,
)
def fold_metrics(
    context: AssetExecutionContext,
    store: StoreResource,
    settings: ModelingSettings,
    outcomes: pd.DataFrame,
    fold_assignment: pd.DataFrame,
):
    fold, protocol = partition_parts(context)
    partition = str(context.partition_key)
    usable = usable_outcomes(outcomes)
    # A net's rows of a fold no longer in net_folds (net_repeats lowered) are not evaluated.
    net_folds = set(context.instance.get_dynamic_partitions(NET_FOLDS_PARTITIONS))
    study = graph_models(context)
    models = [name for name in study if name not in NET_NAMES or fold in net_folds]
    predictions = stored_predictions(store, models, [partition])
    if not predictions:
        raise NoPredictionsError(
            f"no model has predictions for {fold} under the {protocol} protocol: materialize at "
            f"least one modeling asset's {partition} partition first (the study's: "
            f"{_names(study)})"
        )
    horizon = horizon_and_grid(usable, study_splits(fold_assignment, settings))
    if horizon.tau is None:
        context.log.warning(f"no study-wide horizon, each fold uses its own: {horizon.note}")
    missing = [name for name in study if name not in predictions]
    if missing:
        context.log.warning(f"{fold}: no predictions of {_names(missing)}; evaluated without")
    metric_frames, curve_frames = [], []
    for name, frame in predictions.items():
        metrics, curves = evaluate_stored(
            frame, usable, model=name, fold=fold, tau=horizon.tau, time_grid=horizon.grid
        )
        model_partition = trained_partition(name, partition)
        produced_by = latest_materialization(
            context.instance, AssetKey([MODELING, name]), model_partition
        )
        metric_frames.append(
            metrics.assign(
                protocol=protocol,
                repeat=repeat_of(fold),
                alpha_selection=frame["alpha_selection"].iloc[0],
                spec_version=frame["spec_version"].iloc[0],
                model_partition=model_partition,
                model_run_id=produced_by.run_id,
                model_code_version=produced_by.code_version,
                model_data_version=produced_by.data_version,
            )
        )
        curve_frames.append(curves.assign(protocol=protocol))
    metrics = pd.concat(metric_frames, ignore_index=True)
    test = metrics[metrics["split"] == "test"].set_index("model")["c_index"]
    yield table_output(
        metrics,
        output_name="fold_metrics",
        metadata={
            "protocol": protocol,
            "study_horizon": horizon.describe(),
            "n_models": len(predictions),
            "missing_models": _names(missing),
            **{f"c_index_{model}": float(value) for model, value in test.items()},
        },
    )
    yield table_output(pd.concat(curve_frames, ignore_index=True), output_name="td_auc_curves")


@with_code_version
@asset(
    name="results_table",
    key_prefix=EVALUATION,
    group_name=EVALUATION,
    ins={
        "fold_metrics": AssetIn(key=[EVALUATION, "fold_metrics"]),
        "outcomes": AssetIn(key=[COHORT, "outcomes"]),
    },
    deps=MODEL_DEPS,
    kinds={"duckdb"},
    description="Table 1(a) and 1(b) regenerated (column paper_table), one set of rows per "
    "study protocol (column protocol): test C-index per fold of repeat 1 (the paper's layout), "
    f"mean ± sd and the {CI_CONDITION}; mean_all, sd_all and n_folds_all over every repeat × "
    "fold; null_model_folds names the folds of repeat 1 whose alpha selection kept no "
    "coefficient (constant risk, C = 0.500). Models without every fold of repeat 1 are named in "
    "metadata (incomplete_models).",
)
def results_table_asset(
    context: AssetExecutionContext,
    store: StoreResource,
    fold_metrics: pd.DataFrame,
    outcomes: pd.DataFrame,
) -> Output[pd.DataFrame]:
    stored = stored_predictions(store, sorted(set(fold_metrics["model"])))
    predictions = pd.concat(stored.values(), ignore_index=True) if stored else pd.DataFrame()
    table, left_out = study_results_table(fold_metrics, predictions, usable_outcomes(outcomes))
    incomplete = {p: models for p, models in left_out.items() if models}
    if table.empty:
        raise NoPredictionsError(
            "no model has test metrics in every fold of repeat 1 under any protocol "
            f"({incomplete}): materialize their missing fold partitions"
        )
    if incomplete:
        context.log.warning(f"left out of Table 1, lacking a fold of repeat 1: {incomplete}")
    texts = study_markdown(table)
    for key, text in texts.items():
        context.log.info(f"{key} regenerated:\n{text}")
    null = table[table["null_model_folds"] != ""]
    null_models = "; ".join(
        f"{row.protocol}: {row.model} ({row.null_model_folds})" for row in null.itertuples()
    )
    if null_models:
        context.log.warning(f"Table 1 folds where the null model was chosen: {null_models}")
    absent = [name for name in graph_models(context) if name not in set(fold_metrics["model"])]
    return table_output(
        table,
        metadata={
            **{key: MetadataValue.md(text) for key, text in texts.items()},
            "protocols": ", ".join(dict.fromkeys(table["protocol"])),
            "alpha_selection": ", ".join(sorted(set(fold_metrics["alpha_selection"].dropna()))),
            "ci": CI_CONDITION,
            "n_models": int(table["model"].nunique()),
            "absent_models": _names(absent),
            "incomplete_models": "; ".join(f"{p}: {_names(m)}" for p, m in incomplete.items())
            or "none",
            "null_models": null_models or "none",
        },
    )


def build_td_auc_figures(*, oracle: bool) -> AssetsDefinition:
    """``evaluation/td_auc_figures``; with ``oracle`` (the demo's graph) it reads the demo
    oracle's curves and draws them as the reference."""
    ins = {
        "td_auc_curves": AssetIn(key=[EVALUATION, "td_auc_curves"]),
        "fold_metrics": AssetIn(key=[EVALUATION, "fold_metrics"]),
    }
    if oracle:
        ins["oracle_curves"] = AssetIn(key=[EVALUATION, "oracle_td_auc_curves"])

    @with_code_version
    @asset(
        key_prefix=EVALUATION,
        group_name=EVALUATION,
        ins=ins,
        deps=MODEL_DEPS,  # so that it knows the study's models (graph_models)
        kinds={"duckdb", "png"},
        description="Fig. 2 regenerated per protocol on the folds of repeat 1: TD-AUC of the "
        "single-modality models (top) and fusion models with the single ones greyed (bottom), "
        "mean AUC in the legend (on the demo, its oracle as a dashed reference); one figure of "
        "the CoxNet models (Fig. 2(a)/(b), panel 'linear') and one of the nets (Fig. 2(c), "
        "'neural') per fold, each drawn from the models evaluated (a family with none is "
        "skipped). The x axis counts days from the cohort's outcome origin.",
    )
    def td_auc_figures(
        context: AssetExecutionContext,
        store: StoreResource,
        cohort: CohortResource,
        td_auc_curves: pd.DataFrame,
        fold_metrics: pd.DataFrame,
        **reference: pd.DataFrame,
    ) -> Output[pd.DataFrame]:
        oracle_curves = reference.get("oracle_curves", pd.DataFrame(columns=td_auc_curves.columns))
        curves = curves_with_mean_auc(td_auc_curves, fold_metrics)
        curves = with_repeat(curves[curves["split"] == "test"])
        curves = curves[curves["repeat"] == 1]
        time_label = time_axis_label(cohort.origin)
        rows, images, skipped = [], [], []
        for protocol in PROTOCOL_NAMES:
            mine = pd.concat(
                [curves[curves["protocol"] == protocol], oracle_curves.assign(protocol=protocol)],
                ignore_index=True,
            )
            for estimator, panel in FIGURE_PANELS.items():
                shown = curves_for_panel(mine, estimator)
                if (shown["model"] == ORACLE_MODEL).all():
                    skipped.append(f"{panel} ({protocol})")
                    continue
                for fold in sorted(set(shown["fold"]) & set(curves["fold"]), key=fold_order):
                    png = td_auc_figure(
                        shown[shown["fold"] == fold],
                        fold=fold,
                        title=f"Test TD-AUC, {fold}, {panel}, {protocol} protocol",
                        time_label=time_label,
                    )
                    name = f"td_auc_{protocol}_{fold}_{panel}.png"
                    stored = store.files.write_bytes(png, "figures", name)
                    rows.append(
                        {
                            "protocol": protocol,
                            "fold": fold,
                            "panel": panel,
                            "path": stored.relpath,
                            "bytes": stored.bytes,
                            "sha256": stored.sha256,
                        }
                    )
                    encoded = base64.b64encode(png).decode()
                    image = f"![{fold}](data:image/png;base64,{encoded})"
                    images.append(f"**{fold}, {panel}, {protocol}**\n\n{image}")
        absent = [name for name in graph_models(context) if name not in set(curves["model"])]
        columns = ["protocol", "fold", "panel", "path", "bytes", "sha256"]
        return table_output(
            pd.DataFrame(rows, columns=columns),
            metadata={
                "figures": MetadataValue.md("\n\n".join(images) or "no curve to draw"),
                "time_axis": time_label,
                "oracle_drawn": not oracle_curves.empty,
                "skipped_panels": _names(skipped),
                "absent_models": _names(absent),
            },
        )

    return td_auc_figures


evaluation_assets = [fold_metrics, results_table_asset]
