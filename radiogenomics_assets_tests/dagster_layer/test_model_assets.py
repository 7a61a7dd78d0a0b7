"""Model assets of both families through Dagster, over feature tables in a real DuckDB store.

The upstream tables (features, outcomes, fold splits) are written straight into the store from
the synthetic survival cohort, so one model partition materializes in seconds; the whole graph
on the demo cohort is the slow suite's job (``test_full_graph``).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import torch
from dagster import AssetCheckSeverity, AssetKey, DagsterInstance, materialize

from radiogenomics_assets.defs.assets import all_assets
from radiogenomics_assets.defs.assets.modeling import genes_metadata, genes_note
from radiogenomics_assets.defs.names import (
    CV_FOLDS_PARTITIONS,
    NET_FOLDS_PARTITIONS,
    PATIENTS_PARTITIONS,
)
from radiogenomics_assets.defs.partitions import fold_partition_key
from radiogenomics_assets.defs.resources.cohort import CohortResource
from radiogenomics_assets.defs.resources.features import (
    DenseNetSettings,
    ExpressionSettings,
    RadiomicsSettings,
)
from radiogenomics_assets.defs.resources.io_manager import DuckDBTableIOManager
from radiogenomics_assets.defs.resources.modeling import ModelingSettings, NetTrainingSettings
from radiogenomics_assets.defs.resources.source import DemoSourceResource
from radiogenomics_assets.defs.resources.store import StoreResource
from radiogenomics_assets.defs.resources.study_info import StudyInfo
from radiogenomics_assets.features.blocks import DENSENET_COLUMN, DENSENET_WEIGHTS_COLUMN
from radiogenomics_assets.store.database import replace_partition, replace_table
from radiogenomics_assets.store.files import sha256_file
from radiogenomics_assets.survival.fitting import load_predictor
from radiogenomics_assets.survival.model_file import MODEL_FILE_SUFFIX, read_header
from radiogenomics_assets.survival.registry import get_spec
from radiogenomics_assets.survival.splits import all_fold_splits, assign_test_folds
from radiogenomics_assets.survival.study_protocol import PROTOCOL_NAMES
from radiogenomics_assets_tests.survival.synthetic import Cohort, planted_cohort

SMALL_NETS = NetTrainingSettings(
    weight_decays=[0.0, 1e-2], initialisations=2, min_steps=40, patience=40, max_steps=120
)


def _store_with_features(root: Path, cohort: Cohort) -> StoreResource:
    store = StoreResource(database=str(root / "radiogenomics.duckdb"))
    genes = cohort.features["genomics"]
    gene_expression = (
        genes.rename_axis("patient_id")
        .reset_index()
        .melt(id_vars="patient_id", var_name="gene", value_name="expression")
        .assign(imputed=False)
    )
    radiomic = cohort.features["pyradiomics"].rename_axis("patient_id").reset_index()
    deep = cohort.features["densenet"]
    densenet = pd.DataFrame(
        {
            "patient_id": deep.index,
            DENSENET_COLUMN: [list(row) for row in deep.to_numpy()],
            DENSENET_WEIGHTS_COLUMN: "random:seed=0",
        }
    )
    outcomes = cohort.outcomes.assign(outcome_problem=None)
    assignment = assign_test_folds(cohort.outcomes[["patient_id", "event"]], seed=1)
    splits = all_fold_splits(assignment, seed=1)
    splits = splits[splits["fold"] == "fold_1"]
    splits = pd.concat([splits.assign(protocol=p) for p in PROTOCOL_NAMES], ignore_index=True)
    with store.get_connection() as conn:
        replace_table(conn, "features", "gene_expression", gene_expression)
        replace_table(conn, "modeling", "fold_assignment", assignment.assign(repeat=1, seed=1))
        replace_table(
            conn, "cohort", "outcomes", outcomes, column_types={"outcome_problem": "VARCHAR"}
        )
        for table, frame in (("radiomic_features", radiomic), ("densenet_features", densenet)):
            replace_partition(
                conn,
                "features",
                table,
                frame,
                partition_column="patient_id",
                partition_keys=list(frame["patient_id"]),
            )
        # What the models read: the study-level tables of the per-patient rows.
        replace_table(conn, "features", "radiomic_table", radiomic)
        replace_table(conn, "features", "densenet_table", densenet)
        replace_partition(
            conn,
            "modeling",
            "fold_splits",
            splits,
            partition_column=["fold", "protocol"],
            partition_keys=[str(fold_partition_key("fold_1", p)) for p in PROTOCOL_NAMES],
        )
    return store


@pytest.fixture
def features_store(tmp_path: Path) -> StoreResource:
    return _store_with_features(tmp_path, planted_cohort())


def _materialize(
    store: StoreResource, names: list[str], cohort_ids: list[str], protocol: str = "recommended"
):
    instance = DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(PATIENTS_PARTITIONS, cohort_ids)
    instance.add_dynamic_partitions(CV_FOLDS_PARTITIONS, ["fold_1"])
    instance.add_dynamic_partitions(NET_FOLDS_PARTITIONS, ["fold_1"])
    return materialize(
        all_assets,
        selection=[AssetKey(["modeling", name]) for name in names],
        partition_key=fold_partition_key("fold_1", protocol),
        instance=instance,
        resources={
            "io_manager": DuckDBTableIOManager(store=store),
            "store": store,
            "source": DemoSourceResource(),
            "settings": ModelingSettings(net=SMALL_NETS),
            "cohort": CohortResource(),
            "expression": ExpressionSettings(),
            "radiomics": RadiomicsSettings(),
            "densenet": DenseNetSettings(),
            "study": StudyInfo(),
        },
    )


def test_a_net_and_a_coxnet_materialize_through_the_same_asset_body(features_store) -> None:
    cohort = planted_cohort()
    ids = cohort.outcomes["patient_id"].tolist()
    # A net and a CoxNet are partitioned apart (a net once per fold, for every protocol): two runs.
    result = _materialize(features_store, ["mlp_g", "mfh_g_d"], ids)
    coxnet = _materialize(features_store, ["cox_g"], ids)
    assert result.success and coxnet.success
    for name, estimator, run in (("mlp_g", "net", result), ("cox_g", "coxnet", coxnet)):
        event = run.asset_materializations_for_node(f"modeling__{name}")[0]
        metadata = {key: value.value for key, value in event.metadata.items()}
        stored = features_store.files.path(*Path(metadata["model_file"]).parts)
        # One file contract for both families: the header, not the suffix, names the family.
        assert stored.suffix == MODEL_FILE_SUFFIX
        assert read_header(stored)["estimator"] == estimator
        assert read_header(stored)["model"] == name
        assert sha256_file(stored) == metadata["model_sha256"]
        assert metadata["constant_prediction"] is False
        # The planted signal is found: no fold of either family is the null model.
        assert metadata.get("null_model", False) is False
        with features_store.get_connection() as conn:
            table = conn.execute(f"SELECT patient_id, risk FROM modeling.{name}").fetchdf()
            flags = conn.execute(f"SELECT DISTINCT null_model FROM modeling.{name}").fetchall()
        assert flags == [(False,)]
        reloaded = load_predictor(stored).predict({"genomics": cohort.features["genomics"]})
        pd.testing.assert_series_equal(
            reloaded.loc[table["patient_id"]].reset_index(drop=True),
            table["risk"],
            check_names=False,
            rtol=1e-6,
        )
    net = {
        key: value.value
        for key, value in result.asset_materializations_for_node("modeling__mlp_g")[
            0
        ].metadata.items()
    }
    assert net["n_configurations"] == 4 and net["device"] == "cpu"
    assert net["torch_version"] == str(torch.__version__)
    assert net["training_curve"].startswith("![training curve](data:image/png;base64,")
    assert "weight_decay" in net and "steps_trained" in net and "n_parameters" in net
    with features_store.get_connection() as conn:
        stored = conn.execute(
            "SELECT model, count(*) AS n, count(alpha_selection) AS alpha FROM modeling.mlp_g "
            "GROUP BY model"
        ).fetchall()
    assert stored == [("mlp_g", len(ids), 0)]
    checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert checks["test_predictions_vary"].passed


def test_a_constant_prediction_fails_the_warn_check_naming_model_and_fold(tmp_path) -> None:
    cohort = planted_cohort()
    flat = Cohort(
        cohort.outcomes,
        {**cohort.features, "pyradiomics": cohort.features["pyradiomics"] * 0.0 + 1.0},
        cohort.true_risk,
    )
    store = _store_with_features(tmp_path, flat)
    result = _materialize(store, ["mlp_p"], cohort.outcomes["patient_id"].tolist())
    assert result.success  # a WARN check does not fail the run
    [check] = result.get_asset_check_evaluations()
    assert not check.passed and check.severity == AssetCheckSeverity.WARN
    assert check.description.startswith("mlp_p on fold_1 (recommended) predicts the same risk")
    event = result.asset_materializations_for_node("modeling__mlp_p")[0]
    assert event.metadata["constant_prediction"].value is True


def _metadata(result, name: str) -> dict[str, object]:
    event = result.asset_materializations_for_node(f"modeling__{name}")[0]
    return {key: value.value for key, value in event.metadata.items()}


def _risks(store: StoreResource, name: str) -> pd.DataFrame:
    with store.get_connection() as conn:
        return conn.execute(
            f"SELECT patient_id, split, risk FROM modeling.{name} ORDER BY patient_id"
        ).fetchdf()


def test_coxnet_late_fusion_depends_on_and_reuses_its_single_modality_fits(
    features_store,
) -> None:
    from radiogenomics_assets.defs.assets import modeling

    lf = next(a for a in modeling.model_assets if a.key == AssetKey(["modeling", "cox_lf_g_p"]))
    assert {AssetKey(["modeling", "cox_g"]), AssetKey(["modeling", "cox_p"])} <= set(
        lf.asset_deps[lf.key]
    )
    ef = next(a for a in modeling.model_assets if a.key == AssetKey(["modeling", "cox_ef_g_p"]))
    assert not {k for k in ef.asset_deps[ef.key] if k.path[-1].startswith("cox_")}

    ids = planted_cohort().outcomes["patient_id"].tolist()
    # Only cox_g has been fitted: the pyradiomics block is refitted, and the note says why.
    first = _materialize(features_store, ["cox_g", "cox_lf_g_p"], ids)
    assert first.success
    metadata = _metadata(first, "cox_lf_g_p")
    assert metadata["reused_fits"] == "cox_g"
    assert metadata["refitted_blocks"] == "pyradiomics"
    assert "block pyradiomics refitted: cox_p not materialized for fold_1" in metadata["notes"]
    partly_reused = _risks(features_store, "cox_lf_g_p")

    # With no member file at all, every block is refitted: the stored numbers are identical.
    features_store.files.path(
        "models", "cox_g", "recommended", f"fold_1{MODEL_FILE_SUFFIX}"
    ).unlink()
    refit = _materialize(features_store, ["cox_lf_g_p"], ids)
    assert _metadata(refit, "cox_lf_g_p")["reused_fits"] == "none"
    refitted = _risks(features_store, "cox_lf_g_p")
    pd.testing.assert_frame_equal(partly_reused, refitted, check_exact=True)

    both = _materialize(features_store, ["cox_g", "cox_p", "cox_lf_g_p"], ids)
    assert _metadata(both, "cox_lf_g_p")["reused_fits"] == "cox_g, cox_p"
    pd.testing.assert_frame_equal(_risks(features_store, "cox_lf_g_p"), refitted, check_exact=True)


def test_the_paper_protocol_sums_raw_risks_takes_the_smallest_alpha_and_complete_genes(
    tmp_path: Path,
) -> None:
    cohort = planted_cohort()
    store = _store_with_features(tmp_path, cohort)
    gene = cohort.features["genomics"].columns[0]
    with store.get_connection() as conn:  # one gene was imputed in one patient
        conn.execute("UPDATE features.gene_expression SET imputed = gene = ?", [gene])
    ids = cohort.outcomes["patient_id"].tolist()
    runs = {p: _materialize(store, ["cox_lf_g_p"], ids, protocol=p) for p in PROTOCOL_NAMES}
    meta = {p: _metadata(run, "cox_lf_g_p") for p, run in runs.items()}
    assert meta["paper"]["protocol"] == "paper" and meta["paper"]["alpha_selection"] == "paper"
    assert meta["recommended"]["alpha_selection"] == "inner_cv"
    n_genes = cohort.features["genomics"].shape[1]
    assert meta["paper"]["n_genes_available"] == n_genes - 1
    assert meta["recommended"]["n_genes_available"] == n_genes
    # Both fall short of n_genes = 500; only the paper's shortfall is the complete-genes rule's.
    assert meta["paper"]["n_genes_used"] == n_genes - 1
    dropped = f"complete-genes rule dropped 1 of {n_genes} genes for having an imputed value"
    assert dropped in meta["paper"]["genes_note"]
    assert meta["paper"]["genes_note"] in meta["paper"]["notes"]
    assert f"the gene table holds only {n_genes} genes" in meta["recommended"]["genes_note"]
    model = load_predictor(store.files.path(*Path(meta["paper"]["model_file"]).parts))
    assert model.rule == "sum_risk"
    assert "paper" in meta["paper"]["model_file"].split("/")
    with store.get_connection() as conn:
        rows = conn.execute(
            "SELECT protocol, count(*) FROM modeling.cox_lf_g_p GROUP BY protocol ORDER BY 1"
        ).fetchall()
    assert rows == [("paper", len(ids)), ("recommended", len(ids))]


def test_the_genes_note_says_how_many_genes_a_model_lacks_and_why() -> None:
    assert genes_note(500, 500, 40, "paper") is None
    assert genes_note(467, 500, 33, "paper") == (
        "under the paper protocol 467 genes are available, fewer than n_genes = 500: the paper "
        "protocol's complete-genes rule dropped 33 of 500 genes for having an imputed value; the "
        "model selects from all 467"
    )
    assert "the gene table holds only 30 genes" in str(genes_note(30, 500, 0, "recommended"))
    blocks = {"genomics": pd.DataFrame(columns=[f"G{i}" for i in range(459)])}
    metadata, notes = genes_metadata(get_spec("mlp_g"), blocks, 41, "paper")
    assert metadata == {
        "n_genes_available": 459,
        "n_genes_used": 459,
        "genes_note": notes[0],
    }
    assert "dropped 41 of 500 genes" in notes[0]
    assert genes_metadata(get_spec("cox_p"), {"pyradiomics": pd.DataFrame()}, 0, "paper") == (
        {},
        [],
    )
