"""The whole graph on a small demo cohort: every phase, the SQL files, provenance, determinism.

One materialization per module (slow: a few minutes on 2 cores), shared by the tests below.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from dagster import DagsterInstance

from radiogenomics_assets.definitions import build_definitions
from radiogenomics_assets.graph_runner import execute, materialize_graph
from radiogenomics_assets.resources.modeling import ModelingSettings, NetTrainingSettings
from radiogenomics_assets.resources.source import SourceResource
from radiogenomics_assets.resources.store import StoreResource
from radiogenomics_assets.survival.registry import MODEL_REGISTRY
from radiogenomics_assets_tests.conftest import REPO_ROOT

pytestmark = pytest.mark.slow

DEMO = {"n_patients": 70, "seed": 2037, "n_genes": 600}
#: A small grid: the graph's wiring is under test here, the protocol in survival/test_training.
SMALL_NETS = NetTrainingSettings(
    weight_decays=[0.0, 1e-3], initialisations=2, min_steps=50, patience=50, max_steps=150
)
RUN_CONFIGS = {
    "patient_assets_job": {
        "ops": {"features__densenet_features": {"config": {"weights": "random"}}}
    }
}
SQL_FILES = sorted((REPO_ROOT / "sql").glob("*.sql"))


class Graph:
    def __init__(self, root: Path, sources_cache: Path) -> None:
        self.store = StoreResource(database=str(root / "radiogenomics.duckdb"))
        source = SourceResource(name="demo", demo_config=DEMO, cache_dir=str(sources_cache))
        self.defs = build_definitions(
            self.store, source, ModelingSettings(alpha_selection="validation", net=SMALL_NETS)
        )
        self.instance = DagsterInstance.ephemeral()
        self.outcomes = materialize_graph(
            self.defs, self.instance, run_configs=RUN_CONFIGS, announce=lambda _line: None
        )

    def query(self, sql: str, params: list[object] | None = None) -> pd.DataFrame:
        with self.store.get_connection() as conn:
            return conn.execute(sql, params or []).fetchdf()


@pytest.fixture(scope="module")
def graph(tmp_path_factory: pytest.TempPathFactory, sources_cache: Path) -> Graph:
    return Graph(tmp_path_factory.mktemp("graph"), sources_cache)


def test_every_phase_succeeds(graph: Graph) -> None:
    failed = [o.line() for o in graph.outcomes if not o.success]
    assert not failed, failed
    assert {o.job for o in graph.outcomes} >= {
        "ingest_job",
        "patient_assets_job",
        "cohort_job",
        "modeling_job",
        "evaluation_job",
    }


def test_results_table_has_every_model_and_the_oracle(graph: Graph) -> None:
    table = graph.query("SELECT * FROM evaluation.results_table")
    assert set(table["model"]) == {s.name for s in MODEL_REGISTRY} | {"oracle"}
    halves = table.set_index("model")["paper_table"]
    assert {m: halves[m] for m in ("cox_g", "mlp_g", "mfh_g_d")} == {
        "cox_g": "1a",
        "mlp_g": "1b",
        "mfh_g_d": "1b",
    }
    assert halves.isna().sum() == 1 and halves.isna()["oracle"]
    table1 = graph.query((REPO_ROOT / "sql" / "select_table1.sql").read_text())
    for half in ("1a", "1b"):
        rows = table1[table1["paper_table"] == half]
        registered = [s.name for s in MODEL_REGISTRY if s.paper_table == half]
        assert rows["model"].tolist() == [*registered, "oracle"]
    folds = table[[f"fold_{i}" for i in range(1, 6)]].to_numpy(dtype=float)
    assert np.allclose(table["mean"], folds.mean(axis=1))
    assert (table["ci_low"] <= table["mean"]).all() and (table["mean"] <= table["ci_high"]).all()


def test_fold_metrics_cover_every_model_fold_and_split(graph: Graph) -> None:
    metrics = graph.query("SELECT model, fold, split FROM evaluation.fold_metrics")
    assert len(metrics) == len(MODEL_REGISTRY) * 5 * 2
    assert not metrics.duplicated().any()


def test_each_patient_is_a_test_patient_in_exactly_one_fold(graph: Graph) -> None:
    splits = graph.query("SELECT * FROM modeling.fold_splits")
    cohort = graph.query("SELECT patient_id FROM cohort.study_cohort")
    test = splits[splits["split"] == "test"]
    assert sorted(test["patient_id"]) == sorted(cohort["patient_id"])


EXPECTED_COLUMNS = {
    "select_table1.sql": [
        "paper_table",
        "model",
        "label",
        "fold_1",
        "fold_2",
        "fold_3",
        "fold_4",
        "fold_5",
        "mean_sd",
        "ci_95",
    ],
    "select_model_fold_metrics.sql": [
        "fold",
        "split",
        "c_index",
        "c_index_uno",
        "mean_auc",
        "ibs",
        "n_patients",
        "n_events",
        "alpha_selection",
        "auc_note",
        "ibs_note",
    ],
    "select_fusion_gain.sql": [
        "fold",
        "fusion_model",
        "fusion",
        "fusion_c_index",
        "best_single_model",
        "best_single_c_index",
        "gain",
    ],
    "select_cohort_flow.sql": [
        "step",
        "criterion",
        "description",
        "patients_remaining",
        "patients_removed",
    ],
    "select_exclusions.sql": ["patient_id", "exclusion_reason", "exclusion_detail"],
    "select_c_index_provenance.sql": [
        "depth",
        "asset_key",
        "partition",
        "code_version",
        "data_version",
        "run_id",
        "version_matches",
    ],
    "select_patient_gene.sql": ["patient_id", "expression", "imputed", "event", "days"],
}


def test_every_sql_file_has_expected_columns_listed() -> None:
    assert sorted(EXPECTED_COLUMNS) == [p.name for p in SQL_FILES]


@pytest.mark.parametrize("path", SQL_FILES, ids=lambda p: p.name)
def test_every_sql_file_runs_and_returns_its_columns(graph: Graph, path: Path) -> None:
    with graph.store.get_connection() as conn:
        conn.execute("SET VARIABLE model = 'cox_ef_g_p'")
        conn.execute("SET VARIABLE fold = 'fold_2'")
        frame = conn.execute(path.read_text()).fetchdf()
    assert list(frame.columns) == EXPECTED_COLUMNS[path.name]
    assert not frame.empty, path.name


@pytest.mark.parametrize("model", ["cox_ef_g_p_d", "if_g_p_d"])
def test_provenance_reaches_the_raw_files_of_the_c_index(graph: Graph, model: str) -> None:
    sql = (REPO_ROOT / "sql" / "select_c_index_provenance.sql").read_text()
    with graph.store.get_connection() as conn:
        conn.execute("SET VARIABLE model = ?", [model])
        conn.execute("SET VARIABLE fold = 'fold_3'")
        chain = conn.execute(sql).fetchdf()
    reached = set(chain["asset_key"])
    assert {
        f"modeling/{model}",
        "modeling/fold_splits",
        "features/gene_expression",
        "features/radiomic_features",
        "features/densenet_features",
        "features/nodule_volume",
        "raw/ct_series",
        "raw/nodule_segmentation",
        "raw/rnaseq_expression",
        "raw/clinical_labels",
    } <= reached
    exact = chain.dropna(subset=["version_matches"])
    assert exact["version_matches"].all()


def test_rerunning_a_fold_gives_identical_metrics(graph: Graph) -> None:
    before = graph.query("SELECT * FROM evaluation.fold_metrics WHERE fold = 'fold_2'")
    outcome = execute(graph.defs, graph.instance, "modeling_job", "fold_2")
    assert outcome.success, outcome.error
    after = graph.query("SELECT * FROM evaluation.fold_metrics WHERE fold = 'fold_2'")
    columns = ["model", "split", "c_index", "c_index_uno", "mean_auc", "ibs", "model_data_version"]
    key = ["model", "split"]
    pd.testing.assert_frame_equal(
        before[columns].sort_values(key, ignore_index=True),
        after[columns].sort_values(key, ignore_index=True),
    )
    assert set(before["model_run_id"]).isdisjoint(set(after["model_run_id"]))
