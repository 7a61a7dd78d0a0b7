"""Evaluation assets: per-fold metrics of every model, Table 1(a) and 1(b), Fig. 2, lineage.

Metrics come from scikit-survival through ``survival.metrics``; these assets gather the model
predictions of a fold, tabulate, draw, and record which materializations produced each number.
"""

# No "from __future__ import annotations": Dagster reads these annotations at definition time.

import base64

import pandas as pd
from dagster import (
    AssetExecutionContext,
    AssetIn,
    AssetKey,
    AssetOut,
    MetadataValue,
    Output,
    asset,
    multi_asset,
)

from radiogenomics_assets.assets.outputs import table_output
from radiogenomics_assets.assets.versions import with_code_version
from radiogenomics_assets.materializations import latest_materialization
from radiogenomics_assets.names import COHORT, EVALUATION, MODELING
from radiogenomics_assets.partitions import FOLD_NAMES, FOLD_PARTITION, folds_partitions
from radiogenomics_assets.resources.source import SourceResource
from radiogenomics_assets.resources.store import StoreResource
from radiogenomics_assets.survival.figures import curves_with_mean_auc, td_auc_figure
from radiogenomics_assets.survival.metrics import evaluate_predictions
from radiogenomics_assets.survival.registry import MODEL_REGISTRY, PAPER_TABLES
from radiogenomics_assets.survival.results import (
    ORACLE_MODEL,
    oracle_predictions,
    results_markdown,
    results_table,
)
from radiogenomics_assets.survival.stored import survival_functions_of

MODEL_INS = {spec.name: AssetIn(key=[MODELING, spec.name]) for spec in MODEL_REGISTRY}
#: Fig. 2 per family: (a)/(b) are the CoxNet curves, (c) the neural ones.
FIGURE_PANELS = {"coxnet": "linear", "net": "neural"}


def _usable_outcomes(outcomes: pd.DataFrame) -> pd.DataFrame:
    return outcomes[outcomes["outcome_problem"].isna()][["patient_id", "event", "days"]]


def _evaluate(predictions: pd.DataFrame, outcomes: pd.DataFrame, model: str, fold: str):
    fit_splits = tuple(str(predictions["fit_splits"].iloc[0]).split(","))
    return evaluate_predictions(
        predictions,
        outcomes,
        model=model,
        fold=fold,
        fit_splits=fit_splits,
        survival_functions=survival_functions_of(predictions),
    )


@with_code_version
@multi_asset(
    outs={
        "fold_metrics": AssetOut(
            key=[EVALUATION, "fold_metrics"],
            group_name=EVALUATION,
            metadata=FOLD_PARTITION,
            kinds={"duckdb"},
            description="Per model and split of a fold: Harrell's and Uno's C, mean TD-AUC on "
            "the paper's grid, IBS where survival functions exist, and the model "
            "materialization (run, code and data version) that produced them.",
        ),
        "td_auc_curves": AssetOut(
            key=[EVALUATION, "td_auc_curves"],
            group_name=EVALUATION,
            metadata=FOLD_PARTITION,
            kinds={"duckdb"},
            description="Time-dependent AUC per model, split and time of the paper's grid.",
        ),
    },
    partitions_def=folds_partitions,
    ins={"outcomes": AssetIn(key=[COHORT, "outcomes"]), **MODEL_INS},
)
def fold_metrics(context: AssetExecutionContext, outcomes: pd.DataFrame, **predictions):
    fold = context.partition_key
    usable = _usable_outcomes(outcomes)
    metric_frames, curve_frames = [], []
    for spec in MODEL_REGISTRY:
        frame = predictions[spec.name]
        metrics, curves = _evaluate(frame, usable, spec.name, fold)
        produced_by = latest_materialization(
            context.instance, AssetKey([MODELING, spec.name]), fold
        )
        metric_frames.append(
            metrics.assign(
                alpha_selection=frame["alpha_selection"].iloc[0],
                spec_version=frame["spec_version"].iloc[0],
                model_run_id=produced_by.run_id,
                model_code_version=produced_by.code_version,
                model_data_version=produced_by.data_version,
            )
        )
        curve_frames.append(curves)
    metrics = pd.concat(metric_frames, ignore_index=True)
    test = metrics[metrics["split"] == "test"].set_index("model")["c_index"]
    yield table_output(
        metrics,
        output_name="fold_metrics",
        metadata={f"c_index_{model}": float(value) for model, value in test.items()},
    )
    yield table_output(pd.concat(curve_frames, ignore_index=True), output_name="td_auc_curves")


def _oracle_metrics(
    source: SourceResource, store: StoreResource, splits: pd.DataFrame, outcomes: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame] | None:
    """The oracle's metrics and predictions on the demo cohort (None for real sources)."""
    src = source.build(store.files.path("sources"))
    ground_truth = getattr(src, "ground_truth", None)
    if ground_truth is None:
        return None
    truth = ground_truth().set_index("patient_id")["log_hazard"]
    predictions = oracle_predictions(truth, splits).assign(fit_splits="train")
    metrics = [
        _evaluate(part, outcomes, ORACLE_MODEL, fold)[0]
        for fold, part in predictions.groupby("fold")
    ]
    return pd.concat(metrics, ignore_index=True), predictions


@with_code_version
@asset(
    name="results_table",
    key_prefix=EVALUATION,
    group_name=EVALUATION,
    ins={
        "fold_metrics": AssetIn(key=[EVALUATION, "fold_metrics"]),
        "fold_splits": AssetIn(key=[MODELING, "fold_splits"]),
        "outcomes": AssetIn(key=[COHORT, "outcomes"]),
        **MODEL_INS,
    },
    kinds={"duckdb"},
    description="Table 1(a) and 1(b) regenerated (column paper_table): test C-index per model "
    "and fold, mean ± sd and a bootstrap 95% CI of the mean; an oracle row from the true risk on "
    "the demo cohort.",
)
def results_table_asset(
    context: AssetExecutionContext,
    source: SourceResource,
    store: StoreResource,
    fold_metrics: pd.DataFrame,
    fold_splits: pd.DataFrame,
    outcomes: pd.DataFrame,
    **model_predictions: pd.DataFrame,
) -> Output[pd.DataFrame]:
    usable = _usable_outcomes(outcomes)
    predictions = pd.concat(model_predictions.values(), ignore_index=True)
    oracle = _oracle_metrics(source, store, fold_splits, usable)
    if oracle is not None:
        fold_metrics = pd.concat([fold_metrics, oracle[0]], ignore_index=True)
        predictions = pd.concat([predictions, oracle[1]], ignore_index=True)
    table = results_table(fold_metrics, predictions, usable)
    halves = {}
    for half in sorted(set(PAPER_TABLES.values())):
        halves[f"table_{half}"] = results_markdown(table, paper_table=half)
        context.log.info(f"Table {half[0]}({half[1]}) regenerated:\n" + halves[f"table_{half}"])
    alpha = sorted(set(fold_metrics["alpha_selection"].dropna()))
    return table_output(
        table,
        metadata={
            **{key: MetadataValue.md(text) for key, text in halves.items()},
            "alpha_selection": ", ".join(alpha),
            "has_oracle": oracle is not None,
        },
    )


@with_code_version
@asset(
    key_prefix=EVALUATION,
    group_name=EVALUATION,
    ins={
        "td_auc_curves": AssetIn(key=[EVALUATION, "td_auc_curves"]),
        "fold_metrics": AssetIn(key=[EVALUATION, "fold_metrics"]),
    },
    kinds={"duckdb", "png"},
    description="Fig. 2 regenerated: per fold, TD-AUC of the single-modality models (top) and "
    "fusion models with the single ones greyed (bottom), mean AUC in the legend; one figure of "
    "the CoxNet models (Fig. 2(a)/(b), panel 'linear') and one of the nets (Fig. 2(c), 'neural').",
)
def td_auc_figures(
    store: StoreResource, td_auc_curves: pd.DataFrame, fold_metrics: pd.DataFrame
) -> Output[pd.DataFrame]:
    curves = curves_with_mean_auc(td_auc_curves, fold_metrics)
    curves = curves[curves["split"] == "test"]
    family_of = {spec.name: spec.estimator for spec in MODEL_REGISTRY}
    rows, images = [], []
    for estimator, panel in FIGURE_PANELS.items():
        # Unregistered models (the oracle) are the reference drawn on every panel.
        shown = curves[curves["model"].map(family_of).fillna(estimator) == estimator]
        for fold in FOLD_NAMES:
            png = td_auc_figure(
                shown[shown["fold"] == fold], fold=fold, title=f"Test TD-AUC, {fold}, {panel}"
            )
            stored = store.files.write_bytes(png, "figures", f"td_auc_{fold}_{panel}.png")
            rows.append(
                {
                    "fold": fold,
                    "panel": panel,
                    "path": stored.relpath,
                    "bytes": stored.bytes,
                    "sha256": stored.sha256,
                }
            )
            encoded = base64.b64encode(png).decode()
            images.append(f"**{fold}, {panel}**\n\n![{fold}](data:image/png;base64,{encoded})")
    return table_output(
        pd.DataFrame(rows), metadata={"figures": MetadataValue.md("\n\n".join(images))}
    )


evaluation_assets = [fold_metrics, results_table_asset, td_auc_figures]
