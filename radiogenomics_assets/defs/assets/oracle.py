"""The demo cohort's oracle: Table 1's row of the generator's true risk, an upper reference.

Only the synthetic demo source knows each patient's planted log-hazard; no model and no
production table asks for it. The asset belongs to the demo's graph only (``graph_assets``,
chosen by the source's name when the code location loads); a graph built with it over another
source stores an empty table and says so in metadata (``has_ground_truth``).
"""

# No "from __future__ import annotations": Dagster reads these annotations at definition time.

import pandas as pd
from dagster import AssetExecutionContext, AssetIn, AssetOut, MetadataValue, multi_asset

from radiogenomics_assets.cohort.outcomes import usable_outcomes
from radiogenomics_assets.defs.assets.evaluation import horizon_and_grid
from radiogenomics_assets.defs.assets.outputs import table_output
from radiogenomics_assets.defs.assets.versions import with_code_version
from radiogenomics_assets.defs.names import COHORT, EVALUATION, MODELING
from radiogenomics_assets.defs.resources.source import DemoSourceResource, SourceResource
from radiogenomics_assets.defs.resources.store import StoreResource
from radiogenomics_assets.survival.figures import curves_with_mean_auc
from radiogenomics_assets.survival.results import ORACLE_MODEL, oracle_predictions
from radiogenomics_assets.survival.stored import evaluate_stored
from radiogenomics_assets.survival.study_protocol import HEADLINE_PROTOCOL
from radiogenomics_assets.survival.study_results import study_markdown, study_results_table

#: The columns of a Table 1 row (``evaluation.results_table``), with their DuckDB types.
ROW_TYPES = {
    "model": "VARCHAR",
    "label": "VARCHAR",
    "paper_table": "VARCHAR",
    **{f"fold_{i}": "DOUBLE" for i in range(1, 6)},
    "mean": "DOUBLE",
    "sd": "DOUBLE",
    "ci_low": "DOUBLE",
    "ci_high": "DOUBLE",
    "n_boot": "BIGINT",
    "mean_all": "DOUBLE",
    "sd_all": "DOUBLE",
    "n_folds_all": "BIGINT",
    "n_repeats": "BIGINT",
}


def planted_risk(source: SourceResource, store: StoreResource) -> pd.Series | None:
    """The demo's true log-hazard per patient; None for a source without planted truth."""
    if not isinstance(source, DemoSourceResource):
        return None
    demo = source.build(store.files.path("sources"))
    return demo.ground_truth().set_index("patient_id")["log_hazard"]


#: The columns of the oracle's TD-AUC curves (``evaluation.oracle_td_auc_curves``).
CURVE_TYPES = {
    "model": "VARCHAR",
    "fold": "VARCHAR",
    "split": "VARCHAR",
    "time": "DOUBLE",
    "auc": "DOUBLE",
    "mean_auc": "DOUBLE",
}


@with_code_version
@multi_asset(
    outs={
        "demo_oracle": AssetOut(
            key=[EVALUATION, "demo_oracle"],
            group_name=EVALUATION,
            metadata={"column_types": ROW_TYPES},
            kinds={"duckdb"},
            description="Demo only: Table 1's oracle row, the generator's true risk scored like "
            "a model (test C-index per fold of repeat 1, mean ± sd, bootstrap CI, and over every "
            "repeat); the folds are the same under both protocols; metadata shows Table 1 with "
            "it. Empty on real sources (has_ground_truth: false).",
        ),
        "oracle_td_auc_curves": AssetOut(
            key=[EVALUATION, "oracle_td_auc_curves"],
            group_name=EVALUATION,
            metadata={"column_types": CURVE_TYPES},
            kinds={"duckdb"},
            description="Demo only: the oracle's test TD-AUC per fold, the reference curve of "
            "Fig. 2; empty on real sources.",
        ),
    },
    ins={
        "fold_splits": AssetIn(key=[MODELING, "fold_splits"]),
        "outcomes": AssetIn(key=[COHORT, "outcomes"]),
        "table1": AssetIn(key=[EVALUATION, "results_table"]),
    },
)
def demo_oracle(
    context: AssetExecutionContext,
    source: SourceResource,
    store: StoreResource,
    fold_splits: pd.DataFrame,
    outcomes: pd.DataFrame,
    table1: pd.DataFrame,
):
    truth = planted_risk(source, store)
    if truth is None:
        name = type(source).__name__
        context.log.info(f"{name} has no planted truth: no oracle row")
        metadata = {"has_ground_truth": False, "source": name}
        yield table_output(_empty(ROW_TYPES), output_name="demo_oracle", metadata=metadata)
        yield table_output(
            _empty(CURVE_TYPES), output_name="oracle_td_auc_curves", metadata=metadata
        )
        return
    usable = usable_outcomes(outcomes)
    # The folds are the same under every protocol; the truth needs no fitting.
    splits = fold_splits[fold_splits["protocol"] == HEADLINE_PROTOCOL].drop(columns="protocol")
    predictions = oracle_predictions(truth, splits).assign(
        fit_splits="train", protocol=HEADLINE_PROTOCOL
    )
    # Scored up to the models' horizon on their grid, so Fig. 2 compares like with like.
    horizon = horizon_and_grid(usable, splits)
    evaluated = [
        evaluate_stored(
            part,
            usable,
            model=ORACLE_MODEL,
            fold=fold,
            splits=("test",),
            tau=horizon.tau,
            time_grid=horizon.grid,
        )
        for fold, part in predictions.groupby("fold")
    ]
    metrics = pd.concat([m for m, _ in evaluated], ignore_index=True)
    curves = curves_with_mean_auc(pd.concat([c for _, c in evaluated], ignore_index=True), metrics)
    metrics = metrics.assign(protocol=HEADLINE_PROTOCOL)
    row = study_results_table(metrics, predictions, usable)[0].drop(columns="protocol")
    shown = [
        pd.concat([table1[table1["protocol"] == p], row.assign(protocol=p)], ignore_index=True)
        for p in dict.fromkeys(table1["protocol"])
    ]
    halves = study_markdown(pd.concat(shown, ignore_index=True))
    yield table_output(
        row,
        output_name="demo_oracle",
        metadata={
            **{key: MetadataValue.md(text) for key, text in halves.items()},
            "has_ground_truth": True,
            "source": "demo",
            "mean_c_index": float(row["mean"].iloc[0]),
            "study_horizon": horizon.describe(),
        },
    )
    yield table_output(
        curves[list(CURVE_TYPES)], output_name="oracle_td_auc_curves", metadata={"source": "demo"}
    )


def _empty(columns: dict[str, str]) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=object) for c in columns})


oracle_assets = [demo_oracle]
