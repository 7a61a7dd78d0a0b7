"""``evaluation/demo_oracle``: the demo's planted risk scored like a model, and nothing elsewhere.

The demo cohort (30 patients, generated once for the module) gives the true log-hazard; the
outcomes, splits and a Table 1 are written into the store from it, and the oracle's C-index of
each fold is checked against scikit-survival on the same test patients.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from dagster import AssetKey, DagsterInstance, materialize
from sksurv.metrics import concordance_index_censored

from radiogenomics_assets.defs.assets import all_assets
from radiogenomics_assets.defs.assets.evaluation import horizon_and_grid
from radiogenomics_assets.defs.names import CV_FOLDS_PARTITIONS
from radiogenomics_assets.defs.partitions import FOLD_NAMES, fold_partition_key
from radiogenomics_assets.defs.resources.source import (
    DemoSourceResource,
    SourceResource,
    TciaSourceResource,
)
from radiogenomics_assets.defs.resources.store import StoreResource
from radiogenomics_assets.sources.demo import DemoConfig, DemoSource
from radiogenomics_assets.store.database import replace_partition, replace_table
from radiogenomics_assets.survival.results import results_table
from radiogenomics_assets.survival.splits import all_fold_splits, assign_test_folds
from radiogenomics_assets.survival.study_protocol import PROTOCOL_NAMES
from radiogenomics_assets_tests.dagster_layer.conftest import resources_for

DEMO = {"n_patients": 30, "seed": 2037, "n_genes": 150}
ORACLE = AssetKey(["evaluation", "demo_oracle"])
CURVES = AssetKey(["evaluation", "oracle_td_auc_curves"])


@pytest.fixture(scope="module")
def demo_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("oracle_sources")


@pytest.fixture(scope="module")
def truth(demo_cache: Path) -> pd.DataFrame:
    frame = DemoSource(demo_cache / "demo", DemoConfig(**DEMO)).ground_truth()
    return frame[frame["in_study_cohort"]]


def _store(root: Path, truth: pd.DataFrame) -> StoreResource:
    """Outcomes, splits and a noisy model's Table 1 for the study patients of ``truth``."""
    store = StoreResource(database=str(root / "radiogenomics.duckdb"))
    outcomes = pd.DataFrame(
        {
            "patient_id": truth["patient_id"].to_numpy(),
            "event": truth["event"].astype(int).to_numpy(),
            "days": truth["observed_days"].astype(float).to_numpy(),
            "outcome_problem": None,
        }
    )
    splits = all_fold_splits(assign_test_folds(outcomes[["patient_id", "event"]], seed=3), seed=3)
    noisy = splits.assign(
        model="cox_g",
        risk=np.random.default_rng(0).normal(size=len(splits)),
        fit_splits="train",
    )
    test = noisy[noisy["split"] == "test"].drop(columns="event").merge(outcomes, on="patient_id")
    metrics = pd.DataFrame(
        {
            "model": "cox_g",
            "fold": fold,
            "split": "test",
            "c_index": concordance_index_censored(
                rows["event"].astype(bool), rows["days"], rows["risk"]
            )[0],
        }
        for fold, rows in test.groupby("fold")
    )
    with store.get_connection() as conn:
        replace_table(
            conn, "cohort", "outcomes", outcomes, column_types={"outcome_problem": "VARCHAR"}
        )
        # The same splits under both protocols, as fold_splits stores them.
        replace_partition(
            conn,
            "modeling",
            "fold_splits",
            pd.concat([splits.assign(protocol=p) for p in PROTOCOL_NAMES]),
            partition_column=["fold", "protocol"],
            partition_keys=[
                str(fold_partition_key(f, p)) for f in FOLD_NAMES for p in PROTOCOL_NAMES
            ],
        )
        table1 = results_table(metrics).assign(protocol="recommended")
        replace_table(conn, "evaluation", "results_table", table1)
    return store


def _oracle(store: StoreResource, source: SourceResource):
    selection = [ORACLE, CURVES]
    with DagsterInstance.ephemeral() as instance:
        instance.add_dynamic_partitions(CV_FOLDS_PARTITIONS, list(FOLD_NAMES))
        result = materialize(
            all_assets,
            selection=selection,
            resources=resources_for(store, source),
            instance=instance,
        )
    assert result.success
    [event] = [e for e in result.get_asset_materialization_events() if e.asset_key == ORACLE]
    metadata = {key: value.value for key, value in event.materialization.metadata.items()}
    with store.get_connection() as conn:
        return conn.execute("SELECT * FROM evaluation.demo_oracle").fetchdf(), metadata


def test_the_oracle_row_scores_the_planted_risk_on_every_fold(tmp_path, truth, demo_cache):
    store = _store(tmp_path, truth)
    source = DemoSourceResource(config=DEMO, cache_dir=str(demo_cache))
    row, metadata = _oracle(store, source)
    assert row["model"].tolist() == ["oracle"] and row["paper_table"].isna().all()
    risk = truth.set_index("patient_id")["log_hazard"]
    with store.get_connection() as conn:
        test = conn.execute(
            "SELECT s.fold, s.patient_id, o.event, o.days FROM modeling.fold_splits AS s "
            "JOIN cohort.outcomes AS o USING (patient_id) "
            "WHERE s.split = 'test' AND s.protocol = 'paper'"
        ).fetchdf()
        curves = conn.execute("SELECT * FROM evaluation.oracle_td_auc_curves").fetchdf()
    for fold, rows in test.groupby("fold"):
        expected = concordance_index_censored(
            rows["event"].astype(bool), rows["days"], risk.loc[rows["patient_id"]].to_numpy()
        )[0]
        assert row.loc[0, fold] == pytest.approx(expected)
    assert metadata["has_ground_truth"] is True
    assert metadata["mean_c_index"] == pytest.approx(row.loc[0, list(FOLD_NAMES)].mean())
    # Table 1 with the oracle: the model's row and the oracle's, in each half's markdown.
    table_1a = metadata["table_1a_recommended"]
    assert "Cox(G)" in table_1a and "Oracle (true risk)" in table_1a
    # Fig. 2's reference curve: the oracle's test TD-AUC on every fold.
    assert set(curves["fold"]) == set(FOLD_NAMES) and set(curves["model"]) == {"oracle"}
    assert curves["auc"].between(0, 1).all() and curves["mean_auc"].notna().all()
    # Scored with the models' horizon: the study rule on the same splits.
    with store.get_connection() as conn:
        splits = conn.execute(
            "SELECT fold, patient_id, split FROM modeling.fold_splits WHERE protocol = 'paper'"
        ).fetchdf()
        outcomes = conn.execute("SELECT patient_id, event, days FROM cohort.outcomes").fetchdf()
    assert metadata["study_horizon"] == horizon_and_grid(outcomes, splits).describe()


def test_a_source_without_planted_truth_stores_an_empty_oracle(tmp_path, truth):
    store = _store(tmp_path, truth)
    row, metadata = _oracle(store, TciaSourceResource())
    assert row.empty and "mean" in row.columns
    assert metadata["has_ground_truth"] is False and metadata["source"] == "TciaSourceResource"


def test_table1_no_longer_asks_the_source() -> None:
    """Production Table 1 takes no source resource; only the demo oracle does."""
    by_key = {key: a for a in all_assets for key in a.keys}
    results = by_key[AssetKey(["evaluation", "results_table"])]
    assert "source" not in results.required_resource_keys
    assert "source" in by_key[ORACLE].required_resource_keys
