"""The evaluation on a store where only the genomics models were trained.

Feature, outcome and split tables come straight from the synthetic survival cohort (as in
``test_model_assets``). Under the recommended protocol ``cox_g`` is trained on every fold of two
repeats and ``mlp_g`` on fold_1 only; under the paper protocol ``cox_g`` on the five folds of
repeat 1; nothing else. The metrics, Table 1 and the figures then cover exactly what exists, per
protocol, and name the rest.
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
from radiogenomics_assets.defs.names import (
    CV_FOLDS_PARTITIONS,
    NET_FOLDS_PARTITIONS,
    PATIENTS_PARTITIONS,
)
from radiogenomics_assets.defs.partitions import FOLD_NAMES, fold_partition_key
from radiogenomics_assets.defs.resources.cohort import CohortResource
from radiogenomics_assets.defs.resources.features import (
    DenseNetSettings,
    ExpressionSettings,
    RadiomicsSettings,
)
from radiogenomics_assets.defs.resources.io_manager import DuckDBTableIOManager
from radiogenomics_assets.defs.resources.modeling import ModelingSettings
from radiogenomics_assets.defs.resources.source import TciaSourceResource
from radiogenomics_assets.defs.resources.store import StoreResource
from radiogenomics_assets.defs.resources.study_info import StudyInfo
from radiogenomics_assets.store.database import replace_partition, replace_table
from radiogenomics_assets.survival.registry import MODEL_REGISTRY
from radiogenomics_assets.survival.splits import assign_repeats, cv_fold_name, split_cv_fold
from radiogenomics_assets.survival.study_protocol import NET_PROTOCOL, PROTOCOL_NAMES
from radiogenomics_assets_tests.conftest import REPO_ROOT
from radiogenomics_assets_tests.dagster_layer.test_model_assets import (
    SMALL_NETS,
    _store_with_features,
)
from radiogenomics_assets_tests.survival.synthetic import planted_cohort

SEED = 1
REPEAT_2 = tuple(cv_fold_name(2, n) for n in range(1, 6))
#: Per protocol, the folds each CoxNet model is trained on.
COXNET = {
    "recommended": {"cox_g": FOLD_NAMES + REPEAT_2, "cox_p": FOLD_NAMES, "cox_lf_g_p": FOLD_NAMES},
    "paper": {"cox_g": FOLD_NAMES},
}
#: The folds each net is trained on, once, under NET_PROTOCOL.
NETS = {"mlp_g": ("fold_1",)}
#: Per protocol, the folds each model is reported on: a net under every protocol.
TRAINED = {protocol: {**models, **NETS} for protocol, models in COXNET.items()}
FOLD_METRICS = ["evaluation/fold_metrics", "evaluation/td_auc_curves"]
TABLES = [
    "modeling/model_registry",
    "evaluation/results_table",
    "evaluation/demo_oracle",
    "evaluation/oracle_td_auc_curves",
    "evaluation/td_auc_figures",
    "evaluation/km_figures",
    "evaluation/fusion_gain",
    "evaluation/fusion_gain_folds",
]


def _resources(store: StoreResource) -> dict[str, object]:
    return {
        "io_manager": DuckDBTableIOManager(store=store),
        "store": store,
        "source": TciaSourceResource(),
        "settings": ModelingSettings(alpha_selection="validation", net=SMALL_NETS, seed=SEED),
        "cohort": CohortResource(),
        "expression": ExpressionSettings(),
        "radiomics": RadiomicsSettings(),
        "densenet": DenseNetSettings(),
        "study": StudyInfo(),
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
        assignment = assign_repeats(cohort.outcomes[["patient_id", "event"]], repeats=2, seed=SEED)
        folds = FOLD_NAMES + REPEAT_2
        splits = pd.concat([split_cv_fold(assignment, fold, seed=SEED) for fold in folds])
        keys = [fold_partition_key(f, p) for f in folds for p in PROTOCOL_NAMES]
        with self.store.get_connection() as conn:
            replace_table(conn, "modeling", "fold_assignment", assignment.assign(seed=SEED))
            replace_partition(
                conn,
                "modeling",
                "fold_splits",
                pd.concat([splits.assign(protocol=p) for p in PROTOCOL_NAMES]),
                partition_column=["fold", "protocol"],
                partition_keys=[str(key) for key in keys],
            )
        self.instance = DagsterInstance.ephemeral()
        self.instance.add_dynamic_partitions(
            PATIENTS_PARTITIONS, cohort.outcomes["patient_id"].tolist()
        )
        self.instance.add_dynamic_partitions(CV_FOLDS_PARTITIONS, list(folds))
        self.instance.add_dynamic_partitions(NET_FOLDS_PARTITIONS, ["fold_1"])
        for net, on in NETS.items():
            for fold in on:
                key = fold_partition_key(fold, NET_PROTOCOL)
                assert _run(self.store, self.instance, [f"modeling/{net}"], key).success
        self.fold_runs = {}
        for protocol, trained in TRAINED.items():
            for fold in folds:
                models = [f"modeling/{m}" for m, on in COXNET[protocol].items() if fold in on]
                key = fold_partition_key(fold, protocol)
                if models:
                    assert _run(self.store, self.instance, models, key).success
                if any(fold in on for on in trained.values()):
                    self.fold_runs[(fold, protocol)] = _run(
                        self.store, self.instance, FOLD_METRICS, key
                    )
        self.tables = _run(self.store, self.instance, TABLES)

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
    metrics = evaluated.query(
        "SELECT protocol, repeat, model, fold, split FROM evaluation.fold_metrics"
    )
    by_fold = metrics.groupby(["fold", "protocol"])["model"].agg(set).to_dict()
    expected = {
        (fold, protocol): {m for m, on in trained.items() if fold in on}
        for protocol, trained in TRAINED.items()
        for fold in FOLD_NAMES + REPEAT_2
    }
    assert by_fold == {key: models for key, models in expected.items() if models}
    assert set(metrics["split"]) == {"validation", "test"}
    assert set(metrics.loc[metrics["fold"].isin(REPEAT_2), "repeat"]) == {2}
    for (fold, protocol), result in evaluated.fold_runs.items():
        assert result.success
        meta = evaluated.metadata(result, "evaluation/fold_metrics")
        assert meta["protocol"] == protocol
        missing = meta["missing_models"].split(", ")
        trained = [m for m, on in TRAINED[protocol].items() if fold in on]
        assert missing == [s.name for s in MODEL_REGISTRY if s.name not in trained]


def test_a_net_trained_once_is_reported_under_every_protocol_from_its_one_partition(
    evaluated,
) -> None:
    rows = evaluated.query(
        "SELECT protocol, split, c_index, model_partition, model_run_id "
        "FROM evaluation.fold_metrics WHERE model = 'mlp_g'"
    )
    assert set(rows["protocol"]) == set(PROTOCOL_NAMES)
    assert set(rows["model_partition"]) == {str(fold_partition_key("fold_1", NET_PROTOCOL))}
    assert rows["model_run_id"].nunique() == 1
    c_index = rows.pivot(index="split", columns="protocol", values="c_index")
    assert c_index.nunique(axis=1).eq(1).all()
    cox = evaluated.query(
        "SELECT DISTINCT protocol, model_partition FROM evaluation.fold_metrics "
        "WHERE model = 'cox_g' AND fold = 'fold_1'"
    )
    assert sorted(cox["model_partition"]) == sorted(
        str(fold_partition_key("fold_1", p)) for p in PROTOCOL_NAMES
    )


def test_table1_has_per_protocol_the_models_evaluated_on_every_fold_of_repeat_1(evaluated) -> None:
    assert evaluated.tables.success
    table = evaluated.query("SELECT * FROM evaluation.results_table ORDER BY protocol")
    assert list(zip(table["protocol"], table["model"], strict=True)) == [
        ("paper", "cox_g"),
        ("recommended", "cox_g"),
        ("recommended", "cox_p"),
        ("recommended", "cox_lf_g_p"),
    ]
    meta = evaluated.metadata(evaluated.tables, "evaluation/results_table")
    assert meta["incomplete_models"] == "paper: mlp_g; recommended: mlp_g"
    trained = {m for models in TRAINED.values() for m in models}
    assert meta["absent_models"].split(", ") == [
        s.name for s in MODEL_REGISTRY if s.name not in trained
    ]
    assert "G" in meta["table_1a_paper"] and "G" in meta["table_1a_recommended"]
    assert "table_1b_recommended" not in meta and "table_1b_paper" not in meta
    assert "held fixed" in meta["ci"]
    # The folds of repeat 1 whose stored rows say null_model are the ones the table names.
    flagged = evaluated.query(
        "SELECT DISTINCT protocol, fold FROM modeling.cox_g WHERE null_model ORDER BY fold"
    )
    flagged = flagged[flagged["fold"].isin(FOLD_NAMES)]
    for row in table[table["model"] == "cox_g"].itertuples():
        mine = flagged.loc[flagged["protocol"] == row.protocol, "fold"]
        assert row.null_model_folds == ", ".join(mine)
    null = table[table["null_model_folds"] != ""]
    named = [f"{r.protocol}: {r.model} ({r.null_model_folds})" for r in null.itertuples()]
    assert meta["null_models"] == ("; ".join(named) or "none")
    test = evaluated.query(
        "SELECT protocol, fold, c_index FROM evaluation.fold_metrics "
        "WHERE model = 'cox_g' AND split = 'test'"
    )
    for row in table[table["model"] == "cox_g"].itertuples():
        mine = test[test["protocol"] == row.protocol].set_index("fold")["c_index"]
        np.testing.assert_allclose(
            table.loc[row.Index, list(FOLD_NAMES)].astype(float), mine.loc[list(FOLD_NAMES)]
        )
        # The all-repeats columns summarise every fold of every repeat the model has.
        assert row.n_folds_all == len(mine)
        assert row.mean_all == pytest.approx(mine.mean())
        assert row.sd_all == pytest.approx(mine.std(ddof=1))
    cox_g = table[table["model"] == "cox_g"]
    assert cox_g.set_index("protocol")["n_repeats"].to_dict() == {"paper": 1, "recommended": 2}


def test_the_fusion_gain_is_paired_against_the_best_single_model(evaluated) -> None:
    test = evaluated.query(
        "SELECT model, fold, c_index FROM evaluation.fold_metrics "
        "WHERE split = 'test' AND protocol = 'recommended' AND repeat = 1"
    ).pivot(index="fold", columns="model", values="c_index")
    best = max(("cox_g", "cox_p"), key=lambda m: test[m].mean())
    [gain] = evaluated.query("SELECT * FROM evaluation.fusion_gain").itertuples()
    assert (gain.protocol, gain.fusion_model, gain.best_single_model) == (
        "recommended",
        "cox_lf_g_p",
        best,
    )
    # Every model predicted every test patient: the per-fold gain is the C-index difference.
    folds = evaluated.query("SELECT * FROM evaluation.fusion_gain_folds").set_index("fold")
    expected = (test["cox_lf_g_p"] - test[best]).loc[list(FOLD_NAMES)]
    np.testing.assert_allclose(folds.loc[list(FOLD_NAMES), "gain"], expected)
    assert (folds["gain_ci_low"] <= folds["gain"]).all()
    assert (folds["gain"] <= folds["gain_ci_high"]).all()
    assert gain.n_folds == 5 and gain.mean_gain == pytest.approx(expected.mean())
    assert 0 < gain.p_value <= 1 and gain.ci_low <= gain.mean_gain <= gain.ci_high
    with evaluated.store.get_connection() as conn:
        sql = (REPO_ROOT / "sql" / "select_fusion_gain.sql").read_text()
        rows = conn.execute(sql).fetchall()
    assert [row[1] for row in rows] == ["cox_lf_g_p"]


def test_every_fold_of_every_repeat_and_protocol_shares_one_tau_and_one_grid(evaluated) -> None:
    test = evaluated.query(
        "SELECT tau, tau_rule, n_grid_points FROM evaluation.fold_metrics WHERE split = 'test'"
    )
    assert test["tau"].nunique() == 1 and set(test["tau_rule"]) == {"study"}
    assert test["n_grid_points"].nunique() == 1 and test["n_grid_points"].iloc[0] > 0
    # The rule: at or below every fold's last training and last test time.
    outcomes = planted_cohort().outcomes.set_index("patient_id")["days"]
    splits = evaluated.query("SELECT fold, patient_id, split FROM modeling.fold_splits")
    splits = splits[splits["split"].isin(["train", "test"])]
    last = splits.assign(days=splits["patient_id"].map(outcomes)).groupby(["fold", "split"])
    assert test["tau"].iloc[0] == pytest.approx(last["days"].max().min())


def test_a_fold_c_index_is_harrells_c_of_the_stored_predictions(evaluated) -> None:
    rows = evaluated.query(
        "SELECT p.risk, o.event, o.days FROM modeling.cox_g AS p "
        "JOIN cohort.outcomes AS o USING (patient_id) "
        "WHERE p.fold = 'fold_3' AND p.split = 'test' AND p.protocol = 'paper'"
    )
    expected = concordance_index_censored(
        rows["event"].astype(bool), rows["days"].astype(float), rows["risk"]
    )[0]
    stored = evaluated.query(
        "SELECT c_index FROM evaluation.fold_metrics "
        "WHERE model = 'cox_g' AND fold = 'fold_3' AND split = 'test' AND protocol = 'paper'"
    )
    assert stored["c_index"].iloc[0] == pytest.approx(expected)


def test_figures_are_drawn_for_the_models_there_are(evaluated) -> None:
    figures = evaluated.query("SELECT protocol, fold, panel FROM evaluation.td_auc_figures")
    drawn = set(map(tuple, figures.to_numpy()))
    # The net is trained once and drawn under both protocols.
    assert drawn == {(p, f, "linear") for p in PROTOCOL_NAMES for f in FOLD_NAMES} | {
        (p, "fold_1", "neural") for p in PROTOCOL_NAMES
    }
    meta = evaluated.metadata(evaluated.tables, "evaluation/td_auc_figures")
    assert meta["skipped_panels"] == "none"
    assert meta["time_axis"] == "Days after CT" and meta["oracle_drawn"] is False
    assert "mlp_g" not in meta["absent_models"] and "cox_d" in meta["absent_models"]


def test_km_figures_split_each_protocols_test_patients_at_the_training_median(evaluated) -> None:
    km = evaluated.query("SELECT * FROM evaluation.km_figures ORDER BY protocol")
    assert list(zip(km["protocol"], km["model"], strict=True)) == [
        ("paper", "cox_g"),
        ("recommended", "cox_g"),
        ("recommended", "cox_p"),
        ("recommended", "cox_lf_g_p"),
    ]
    n_patients = len(planted_cohort().outcomes)
    assert (km["n_high"] + km["n_low"] == n_patients).all()  # every patient once, repeat 1
    assert km["p_value"].between(0, 1).all()
    for path in km["path"]:
        assert evaluated.store.files.path(*Path(path).parts).read_bytes()[:4] == b"\x89PNG"
    meta = evaluated.metadata(evaluated.tables, "evaluation/km_figures")
    assert meta["figures"].count("data:image/png;base64,") == 3  # the recommended protocol's


def test_fold_metrics_without_any_model_fail_naming_the_fold(tmp_path: Path) -> None:
    store = _store_with_features(tmp_path, planted_cohort())
    with DagsterInstance.ephemeral() as instance:
        instance.add_dynamic_partitions(CV_FOLDS_PARTITIONS, ["fold_2"])
        key = fold_partition_key("fold_2", "paper")
        result = _run(store, instance, FOLD_METRICS, key, raise_on_error=False)
    assert not result.success
    [failure] = [e for e in result.all_events if e.is_step_failure]
    message = str(failure.step_failure_data.error)
    assert "no model has predictions for fold_2 under the paper protocol" in message


def test_a_cohort_without_a_common_horizon_falls_back_to_each_folds_own_and_says_so() -> None:
    # Fold 2's only test event comes after fold 1's last test time: no tau suits both.
    outcomes = pd.DataFrame(
        {
            "patient_id": [f"P{i}" for i in range(8)],
            "event": [1, 0, 0, 1, 1, 0, 1, 0],
            "days": [100.0, 300.0, 900.0, 950.0, 200.0, 1000.0, 400.0, 1200.0],
        }
    )
    splits = pd.DataFrame(
        {
            "fold": ["fold_1"] * 4 + ["fold_2"] * 4,
            "patient_id": [f"P{i}" for i in (0, 1, 4, 5, 2, 3, 6, 7)],
            "split": ["test", "test", "train", "train", "test", "test", "train", "train"],
        }
    )
    horizon = horizon_and_grid(outcomes, splits)
    assert horizon.tau is None and "no event before the horizon" in horizon.note
    assert horizon.describe().startswith("per fold (training maximum)")


def test_a_nets_rows_outside_net_folds_are_not_evaluated(evaluated) -> None:
    """Rows a net left behind in a fold no longer among ``net_folds`` (``net_repeats`` lowered),
    and rows under another protocol (a store from before the nets' own partitions), are not the
    net's now. Last in the module: it adds rows to the shared store."""
    with evaluated.store.get_connection() as conn:
        conn.execute(
            "INSERT INTO modeling.mlp_g SELECT * REPLACE ('fold_2' AS fold) FROM modeling.mlp_g"
        )
        conn.execute(
            "INSERT INTO modeling.mlp_g SELECT * REPLACE ('paper' AS protocol) FROM modeling.mlp_g "
            "WHERE fold = 'fold_1'"
        )
    for protocol in PROTOCOL_NAMES:
        result = _run(
            evaluated.store,
            evaluated.instance,
            FOLD_METRICS,
            fold_partition_key("fold_2", protocol),
        )
        assert "mlp_g" in evaluated.metadata(result, "evaluation/fold_metrics")["missing_models"]
    result = _run(
        evaluated.store, evaluated.instance, FOLD_METRICS, fold_partition_key("fold_1", "paper")
    )
    assert result.success
    rows = evaluated.query(
        "SELECT protocol, n_patients, c_index FROM evaluation.fold_metrics "
        "WHERE model = 'mlp_g' AND fold = 'fold_1' AND split = 'test'"
    ).set_index("protocol")
    assert len(rows) == 2  # once per protocol, each from the net's own rows only
    assert rows.loc["paper"].tolist() == rows.loc["recommended"].tolist()
