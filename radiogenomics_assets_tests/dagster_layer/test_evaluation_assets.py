"""The evaluation on a store where only the genomics models were trained.

Feature, outcome and split tables come straight from the synthetic survival cohort (as in
``test_model_assets``); ``cox_g`` is trained on every fold and ``mlp_g`` on fold_1 only, nothing
else. The metrics, Table 1 and the figures then cover exactly what exists and name the rest.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from dagster import AssetKey, DagsterInstance, materialize
from sksurv.metrics import concordance_index_censored

from radiogenomics_assets.assets import all_assets
from radiogenomics_assets.names import PATIENTS_PARTITIONS
from radiogenomics_assets.partitions import FOLD_NAMES
from radiogenomics_assets.resources.cohort import CohortResource
from radiogenomics_assets.resources.io_manager import DuckDBTableIOManager
from radiogenomics_assets.resources.modeling import ModelingSettings
from radiogenomics_assets.resources.source import TciaSourceResource
from radiogenomics_assets.resources.store import StoreResource
from radiogenomics_assets.store.database import replace_partition
from radiogenomics_assets.survival.registry import MODEL_REGISTRY
from radiogenomics_assets.survival.splits import all_fold_splits, assign_test_folds
from radiogenomics_assets_tests.dagster_layer.test_model_assets import (
    SMALL_NETS,
    _store_with_features,
)
from radiogenomics_assets_tests.survival.synthetic import planted_cohort

TRAINED = {"cox_g": FOLD_NAMES, "mlp_g": ("fold_1",)}
FOLD_METRICS = ["evaluation/fold_metrics", "evaluation/td_auc_curves"]


def _resources(store: StoreResource) -> dict[str, object]:
    return {
        "io_manager": DuckDBTableIOManager(store=store),
        "store": store,
        "source": TciaSourceResource(),
        "settings": ModelingSettings(alpha_selection="validation", net=SMALL_NETS),
        "cohort": CohortResource(),
    }


def _run(store, instance, names, partition=None, **kwargs):
    return materialize(
        all_assets,
        selection=[AssetKey(name.split("/")) for name in names],
        partition_key=partition,
        instance=instance,
        resources=_resources(store),
        **kwargs,
    )


class Evaluated:
    def __init__(self, root: Path) -> None:
        cohort = planted_cohort()
        self.store = _store_with_features(root, cohort)
        assignment = assign_test_folds(cohort.outcomes[["patient_id", "event"]], seed=1)
        with self.store.get_connection() as conn:
            replace_partition(
                conn,
                "modeling",
                "fold_splits",
                all_fold_splits(assignment, seed=1),
                partition_column="fold",
                partition_keys=list(FOLD_NAMES),
            )
        self.instance = DagsterInstance.ephemeral()
        self.instance.add_dynamic_partitions(
            PATIENTS_PARTITIONS, cohort.outcomes["patient_id"].tolist()
        )
        for fold in FOLD_NAMES:
            models = [f"modeling/{m}" for m, folds in TRAINED.items() if fold in folds]
            assert _run(self.store, self.instance, models, fold).success
        self.fold_runs = {
            fold: _run(self.store, self.instance, FOLD_METRICS, fold) for fold in FOLD_NAMES
        }
        self.tables = _run(
            self.store, self.instance, ["evaluation/results_table", "evaluation/td_auc_figures"]
        )

    def query(self, sql: str) -> pd.DataFrame:
        with self.store.get_connection() as conn:
            return conn.execute(sql).fetchdf()

    def metadata(self, result, key: str) -> dict[str, object]:
        [event] = [
            e.materialization
            for e in result.get_asset_materialization_events()
            if e.asset_key == AssetKey(key.split("/"))
        ]
        return {name: value.value for name, value in event.metadata.items()}


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory: pytest.TempPathFactory):
    graph = Evaluated(tmp_path_factory.mktemp("evaluation"))
    yield graph
    graph.instance.dispose()


def test_fold_metrics_cover_the_trained_models_and_name_the_others(evaluated) -> None:
    metrics = evaluated.query("SELECT model, fold, split FROM evaluation.fold_metrics")
    by_fold = metrics.groupby("fold")["model"].agg(set).to_dict()
    assert by_fold == {f: {m for m, folds in TRAINED.items() if f in folds} for f in FOLD_NAMES}
    assert set(metrics["split"]) == {"validation", "test"}
    for fold, result in evaluated.fold_runs.items():
        assert result.success
        meta = evaluated.metadata(result, "evaluation/fold_metrics")
        missing = meta["missing_models"].split(", ")
        trained = [m for m, folds in TRAINED.items() if fold in folds]
        assert missing == [s.name for s in MODEL_REGISTRY if s.name not in trained]


def test_table1_has_only_the_models_evaluated_on_every_fold(evaluated) -> None:
    assert evaluated.tables.success
    table = evaluated.query("SELECT * FROM evaluation.results_table")
    assert table["model"].tolist() == ["cox_g"]
    meta = evaluated.metadata(evaluated.tables, "evaluation/results_table")
    assert meta["incomplete_models"] == "mlp_g"
    assert meta["absent_models"].split(", ") == [
        s.name for s in MODEL_REGISTRY if s.name not in TRAINED
    ]
    assert "cox_g" not in meta["table_1b"] and "G" in meta["table_1a"]
    test = evaluated.query(
        "SELECT fold, c_index FROM evaluation.fold_metrics "
        "WHERE model = 'cox_g' AND split = 'test' ORDER BY fold"
    )
    np.testing.assert_allclose(table.loc[0, list(FOLD_NAMES)].astype(float), test["c_index"])


def test_a_fold_c_index_is_harrells_c_of_the_stored_predictions(evaluated) -> None:
    rows = evaluated.query(
        "SELECT p.risk, o.event, o.days FROM modeling.cox_g AS p "
        "JOIN cohort.outcomes AS o USING (patient_id) "
        "WHERE p.fold = 'fold_3' AND p.split = 'test'"
    )
    expected = concordance_index_censored(
        rows["event"].astype(bool), rows["days"].astype(float), rows["risk"]
    )[0]
    stored = evaluated.query(
        "SELECT c_index FROM evaluation.fold_metrics "
        "WHERE model = 'cox_g' AND fold = 'fold_3' AND split = 'test'"
    )
    assert stored["c_index"].iloc[0] == pytest.approx(expected)


def test_figures_are_drawn_for_the_models_there_are(evaluated) -> None:
    figures = evaluated.query("SELECT fold, panel FROM evaluation.td_auc_figures")
    drawn = set(map(tuple, figures.to_numpy()))
    assert drawn == {(f, "linear") for f in FOLD_NAMES} | {("fold_1", "neural")}
    meta = evaluated.metadata(evaluated.tables, "evaluation/td_auc_figures")
    assert meta["skipped_panels"] == "none"
    assert "mlp_g" not in meta["absent_models"] and "cox_p" in meta["absent_models"]


def test_fold_metrics_without_any_model_fail_naming_the_fold(tmp_path: Path) -> None:
    store = _store_with_features(tmp_path, planted_cohort())
    with DagsterInstance.ephemeral() as instance:
        result = _run(store, instance, FOLD_METRICS, "fold_2", raise_on_error=False)
    assert not result.success
    [failure] = [e for e in result.all_events if e.is_step_failure]
    assert "no model has predictions for fold_2" in str(failure.step_failure_data.error)
