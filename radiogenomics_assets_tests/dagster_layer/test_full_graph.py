"""The whole graph on a small demo cohort: every phase, the SQL files, provenance, determinism,
and then the update path on the same store: an unchanged refresh, a changed spec, two new
patients.

One materialization per module (slow: a few minutes on 2 cores), shared by the tests below.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from dagster import AssetKey, AssetRecordsFilter, DagsterInstance, DagsterRunStatus, RunsFilter

from radiogenomics_assets.definitions import build_definitions
from radiogenomics_assets.graph_runner import execute, materialize_graph, plan_phase
from radiogenomics_assets.instance_config import download_pool_limit, run_limit, write_settings
from radiogenomics_assets.jobs import PHASES
from radiogenomics_assets.names import PATIENTS_PARTITIONS, WALK_TAG
from radiogenomics_assets.partitions import FOLD_NAMES, fold_partition_key
from radiogenomics_assets.refresh import skipped_models
from radiogenomics_assets.resources.modeling import ModelingSettings, NetTrainingSettings
from radiogenomics_assets.resources.source import DemoSourceResource
from radiogenomics_assets.resources.store import StoreResource
from radiogenomics_assets.sources.demo import DemoConfig, DemoSource
from radiogenomics_assets.sources.demo.plan import plan_cohort
from radiogenomics_assets.staleness import Staleness, StaleStatus
from radiogenomics_assets.survival.registry import MODEL_REGISTRY, get_spec
from radiogenomics_assets.survival.study_protocol import PROTOCOL_NAMES
from radiogenomics_assets_tests.conftest import REPO_ROOT
from radiogenomics_assets_tests.demo_fixtures import WALK_DEMO

pytestmark = pytest.mark.slow

DEMO = WALK_DEMO
#: A tiny grid (two configurations of at most 40 steps): the graph's wiring is under test here,
#: the training protocol in survival/test_training. The nets train in every fold run, three
#: times over in this module (the first walk, the grown cohort, the daemon).
SMALL_NET_FIELDS = {
    "weight_decays": [0.0, 1e-3],
    "initialisations": 1,
    "min_steps": 20,
    "patience": 20,
    "max_steps": 40,
    "eval_every": 10,
}
SMALL_NETS = NetTrainingSettings(**SMALL_NET_FIELDS)
RUN_CONFIGS = {
    "patient_assets_job": {
        "ops": {"features__densenet_features": {"config": {"weights": "random"}}}
    }
}
SQL_FILES = sorted((REPO_ROOT / "sql").glob("*.sql"))


class Graph:
    def __init__(self, root: Path, sources_cache: Path) -> None:
        self.store = StoreResource(database=str(root / "radiogenomics.duckdb"))
        self.source = DemoSourceResource(config=DEMO, cache_dir=str(sources_cache))
        # One repeat: the graph's wiring is under test; repeats are in test_evaluation_assets.
        self.settings = ModelingSettings(alpha_selection="validation", net=SMALL_NETS, cv_repeats=1)
        self.n_patients = DEMO["n_patients"]
        self.defs = build_definitions(self.store, self.source, self.settings)
        # A persistent instance: the daemon test at the end shares it from other processes.
        # Its settings are the product's (`make ui`): the daemon's run queue among them.
        self.dagster_home = root / "dagster_home"
        self.dagster_home.mkdir()
        write_settings(self.dagster_home / "dagster.yaml", download_pool_limit(), run_limit())
        self.instance = DagsterInstance.local_temp(str(self.dagster_home))
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
    # One walk: every run carries its id (what `make profile` selects by).
    walks = {run.tags.get(WALK_TAG) for run in graph.instance.get_runs()}
    assert len(walks) == 1 and None not in walks


def test_an_unchanged_store_refreshes_without_a_run(graph: Graph) -> None:
    lines: list[str] = []
    outcomes = materialize_graph(graph.defs, graph.instance, announce=lines.append)

    assert outcomes == []
    assert sum(line.startswith("  nothing missing or stale") for line in lines) == 5


def test_a_linear_walk_plans_no_net(graph: Graph) -> None:
    modeling = next(phase for phase in PHASES if phase.job == "modeling_job")
    skip = skipped_models("linear")
    planned = {
        item.key.path[-1]
        for _, items in plan_phase(graph.defs, graph.instance, modeling, force=True, skip=skip)
        for item in items
    }
    everything = {
        item.key.path[-1]
        for _, items in plan_phase(graph.defs, graph.instance, modeling, force=True)
        for item in items
    }
    nets = {spec.name for spec in MODEL_REGISTRY if spec.estimator == "net"}
    assert nets <= everything and not nets & planned
    assert planned == everything - nets


def test_results_table_has_every_model_and_the_oracle_its_own_row(graph: Graph) -> None:
    every = graph.query("SELECT * FROM evaluation.results_table")
    for protocol in PROTOCOL_NAMES:  # this walk fits every model under both protocols
        assert set(every.loc[every["protocol"] == protocol, "model"]) == {
            s.name for s in MODEL_REGISTRY
        }
    table = every[every["protocol"] == "recommended"]
    halves = table.set_index("model")["paper_table"]
    assert {m: halves[m] for m in ("cox_g", "mlp_g", "mfh_g_d")} == {
        "cox_g": "1a",
        "mlp_g": "1b",
        "mfh_g_d": "1b",
    }
    assert halves.notna().all()
    table1 = graph.query((REPO_ROOT / "sql" / "select_table1.sql").read_text())
    for half in ("1a", "1b"):
        rows = table1[table1["paper_table"] == half]
        registered = [s.name for s in MODEL_REGISTRY if s.paper_table == half]
        assert rows["model"].tolist() == registered
    oracle = graph.query("SELECT * FROM evaluation.demo_oracle")
    assert oracle["model"].tolist() == ["oracle"] and oracle["paper_table"].isna().all()
    both = pd.concat([table, oracle], ignore_index=True)
    folds = both[[f"fold_{i}" for i in range(1, 6)]].to_numpy(dtype=float)
    assert np.allclose(both["mean"], folds.mean(axis=1))
    assert (both["ci_low"] <= both["mean"]).all() and (both["mean"] <= both["ci_high"]).all()


def test_fold_metrics_cover_every_model_fold_and_split(graph: Graph) -> None:
    metrics = graph.query("SELECT protocol, model, fold, split FROM evaluation.fold_metrics")
    assert len(metrics) == len(MODEL_REGISTRY) * 5 * 2 * len(PROTOCOL_NAMES)
    assert not metrics.duplicated().any()


def test_each_patient_is_a_test_patient_in_exactly_one_fold(graph: Graph) -> None:
    splits = graph.query("SELECT * FROM modeling.fold_splits WHERE protocol = 'paper'")
    cohort = graph.query("SELECT patient_id FROM cohort.study_cohort")
    test = splits[splits["split"] == "test"]
    assert sorted(test["patient_id"]) == sorted(cohort["patient_id"])


EXPECTED_COLUMNS = {
    "select_table1.sql": [
        "protocol",
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
        "mean_sd_all_repeats",
        "n_folds_all",
    ],
    "select_demo_oracle.sql": [
        "model",
        "label",
        "fold_1",
        "fold_2",
        "fold_3",
        "fold_4",
        "fold_5",
        "mean_sd",
        "ci_95",
        "mean_sd_all_repeats",
        "n_folds_all",
    ],
    "select_model_fold_metrics.sql": [
        "protocol",
        "repeat",
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
        "protocol",
        "fusion_model",
        "best_single_model",
        "n_folds",
        "gain",
        "ci_95",
        "p_value",
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
    where = "WHERE fold = 'fold_2' AND protocol = 'paper'"
    before = graph.query(f"SELECT * FROM evaluation.fold_metrics {where}")
    outcome = execute(graph.defs, graph.instance, "modeling_job", "fold_2|paper")
    assert outcome.success, outcome.error
    after = graph.query(f"SELECT * FROM evaluation.fold_metrics {where}")
    columns = ["model", "split", "c_index", "c_index_uno", "mean_auc", "ibs", "model_data_version"]
    key = ["model", "split"]
    pd.testing.assert_frame_equal(
        before[columns].sort_values(key, ignore_index=True),
        after[columns].sort_values(key, ignore_index=True),
    )
    assert set(before["model_run_id"]).isdisjoint(set(after["model_run_id"]))


# The update path, on the same store. Order matters from here on: each test changes the graph.


def _quiet(_line: str) -> None:
    return None


def _refresh(graph: Graph, defs) -> list:
    return materialize_graph(defs, graph.instance, run_configs=RUN_CONFIGS, announce=_quiet)


def _runs(outcomes) -> list[tuple[str, str | None]]:
    assert all(o.success for o in outcomes), [o.line() for o in outcomes if not o.success]
    return sorted((o.job, o.partition) for o in outcomes)


FOLD_PARTITIONS = [str(fold_partition_key(f, p)) for f in FOLD_NAMES for p in PROTOCOL_NAMES]
FOLD_RUNS = [("modeling_job", partition) for partition in FOLD_PARTITIONS]


def _with_spec(spec):
    from radiogenomics_assets.assets import all_assets
    from radiogenomics_assets.assets.modeling import build_model_asset

    key = AssetKey(["modeling", spec.name])
    return [build_model_asset(spec) if key in a.keys else a for a in all_assets]


@pytest.fixture(scope="module")
def respecified(graph: Graph):
    """The definitions after one registry edit: cox_g with another l1_ratio."""
    return build_definitions(
        graph.store, graph.source, graph.settings, assets=_with_spec(_respecified_cox_g())
    )


def test_a_changed_spec_makes_only_that_models_partitions_stale(graph: Graph, respecified) -> None:
    # The rerun of fold_2 above changed fold_metrics (its rows record run ids): catch up first.
    assert _runs(_refresh(graph, graph.defs)) == [("evaluation_job", None)]
    staleness = Staleness(respecified, graph.instance)
    asset_graph = respecified.resolve_asset_graph()
    stale = {}
    for key in asset_graph.materializable_asset_keys:
        partitions_def = asset_graph.get(key).partitions_def
        partitions = (
            partitions_def.get_partition_keys(dynamic_partitions_store=graph.instance)
            if partitions_def
            else [None]
        )
        for partition in partitions:
            status = staleness.status(key, partition)
            if status != StaleStatus.FRESH:
                stale[(key.to_user_string(), str(partition))] = status
    assert stale == {("modeling/cox_g", p): StaleStatus.STALE for p in FOLD_PARTITIONS}


def test_refreshing_a_changed_spec_reruns_that_model_and_the_evaluation(
    graph: Graph, respecified
) -> None:
    outcomes = _refresh(graph, respecified)

    assert _runs(outcomes) == sorted([*FOLD_RUNS, ("evaluation_job", None)])
    assert _refresh(graph, respecified) == []


def test_growing_the_cohort_runs_only_the_new_patients(graph: Graph, respecified) -> None:
    old = set(graph.instance.get_dynamic_partitions(PATIENTS_PARTITIONS))
    n, imaged = _grown_size(DEMO, DEMO["n_patients"])
    grown_source = DemoSourceResource(
        config={**DEMO, "n_patients": n}, cache_dir=graph.source.cache_dir
    )
    grown = build_definitions(
        graph.store, grown_source, graph.settings, assets=_with_spec(_respecified_cox_g())
    )

    outcomes = _refresh(graph, grown)

    runs = _runs(outcomes)
    new = set(graph.instance.get_dynamic_partitions(PATIENTS_PARTITIONS)) - old
    assert len(new) == imaged
    assert runs == sorted(
        [
            ("ingest_job", None),
            *[("patient_assets_job", p) for p in new],
            ("cohort_job", None),
            *FOLD_RUNS,
            ("evaluation_job", None),
        ]
    )
    for patient in old:  # no old patient partition was materialized again
        records = graph.instance.fetch_materializations(
            AssetRecordsFilter(
                asset_key=AssetKey(["raw", "nodule_segmentation"]), asset_partitions=[patient]
            ),
            limit=5,
        ).records
        assert len(records) == 1, patient
    assert _tested(graph) == _included(graph, n)
    graph.n_patients = n


def _respecified_cox_g():
    spec = get_spec("cox_g")
    return dataclasses.replace(spec, hyperparameters={**spec.hyperparameters, "l1_ratio": 0.5})


def _grown_size(demo: dict, base: int, *, new: int = 2) -> tuple[int, int]:
    """The smallest cohort size above ``base`` that adds ``new`` study patients (so every layer
    downstream has news), and how many imaged patients it adds (study patients and others)."""
    plan = plan_cohort(DemoConfig(**{**demo, "n_patients": base + 60}))
    for n in range(base + 1, base + 61):
        added = plan.iloc[base:n]
        if added["in_study_cohort"].sum() == new:
            return n, int(added["has_seg"].sum())
    raise AssertionError(f"no growth of {base} adds {new} study patients")


def _included(graph: Graph, n: int) -> int:
    cache = Path(graph.source.cache_dir) / "demo"
    truth = DemoSource(cache, DemoConfig(**{**DEMO, "n_patients": n})).ground_truth()
    return int(truth["in_study_cohort"].sum())


def _tested(graph: Graph) -> int:
    tested = graph.query(
        "SELECT sum(n_patients) AS n FROM evaluation.fold_metrics "
        "WHERE model = 'cox_p' AND split = 'test' AND protocol = 'recommended'"
    )
    return int(tested["n"].iloc[0])


LOCATION = """
from dagster import in_process_executor

from radiogenomics_assets.definitions import build_definitions
from radiogenomics_assets.resources.modeling import ModelingSettings, NetTrainingSettings
from radiogenomics_assets.resources.source import DemoSourceResource
from radiogenomics_assets.resources.store import StoreResource

defs = build_definitions(
    StoreResource(database={database!r}),
    DemoSourceResource(config={demo!r}, cache_dir={cache!r}),
    ModelingSettings(
        alpha_selection="validation", net=NetTrainingSettings(**{nets!r}), cv_repeats=1
    ),
    retrain_cron="* * * * *",
    # One process per run, not per step: 125 step processes importing torch would dominate.
    executor=in_process_executor,
)
"""
#: Bound on the whole unattended update (two patient runs, cohort, five folds under two
#: protocols, evaluation). It took about 27 min on 2 cores while the daemon started all ten fold
#: runs at once; its queue now starts as many at a time as there are cores.
DAEMON_DEADLINE_S = 2700
#: Quiet time that proves nothing else is launched: two automation ticks and a cron tick.
SETTLE_S = 75


def _sensor_ticks(instance: DagsterInstance, name: str) -> int:
    for state in instance.all_instigator_state():
        if state.instigator_name == name:
            return len(instance.get_ticks(state.instigator_origin_id, state.selector_id))
    return 0


def _runs_in_progress(instance: DagsterInstance) -> list:
    """Runs started or waiting to start (in the daemon's queue)."""
    from dagster._core.storage.dagster_run import IN_PROGRESS_RUN_STATUSES

    waiting = [DagsterRunStatus.QUEUED, DagsterRunStatus.NOT_STARTED]
    return instance.get_runs(filters=RunsFilter(statuses=[*waiting, *IN_PROGRESS_RUN_STATUSES]))


def _wait_until(condition, deadline: float, what: str, daemon_log: Path) -> None:
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(
                f"timed out waiting for {what}; daemon log:\n" + daemon_log.read_text()[-4000:]
            )
        time.sleep(5)


def _materialized_since(instance: DagsterInstance, key: AssetKey, after: int) -> list:
    return [r.partition_key for r in _materializations_since(instance, key, after)]


def _materializations_since(instance: DagsterInstance, key: AssetKey, after: int) -> list:
    return instance.fetch_materializations(
        AssetRecordsFilter(asset_key=key, after_storage_id=after), limit=1000
    ).records


def _who_wrote(instance: DagsterInstance, key: AssetKey, partition: str | None, after: int) -> list:
    """The runs that wrote ``key[partition]`` since ``after``: what launched each, and when."""
    runs = []
    for record in _materializations_since(instance, key, after):
        if record.partition_key == partition:
            run = instance.get_run_record_by_id(record.run_id)
            launcher = {
                k: v for k, v in run.dagster_run.tags.items() if "sensor" in k or "tick" in k
            }
            runs.append((record.run_id[:8], run.create_timestamp.isoformat(), launcher))
    return runs


def test_the_daemon_refreshes_the_chain_once_after_new_patients(graph: Graph, tmp_path) -> None:
    from radiogenomics_assets.assets import (
        cohort_level_assets,
        evaluation_assets,
        fold_assets,
        ingest_assets,
        patient_assets,
    )

    n, imaged = _grown_size(DEMO, graph.n_patients)
    demo = {**DEMO, "n_patients": n}
    (tmp_path / "location.py").write_text(
        LOCATION.format(
            database=graph.store.database,
            demo=demo,
            cache=graph.source.cache_dir,
            nets=SMALL_NET_FIELDS,
        )
    )
    workspace = tmp_path / "workspace.yaml"
    workspace.write_text(
        f"load_from:\n  - python_file:\n      relative_path: location.py\n"
        f"      working_directory: {tmp_path}\n"
    )
    daemon_log = tmp_path / "daemon.log"
    env = {**os.environ, "DAGSTER_HOME": str(graph.dagster_home)}
    old = set(graph.instance.get_dynamic_partitions(PATIENTS_PARTITIONS))
    with open(daemon_log, "wb") as log:
        daemon = subprocess.Popen(
            [str(Path(sys.executable).with_name("dagster-daemon")), "run", "-w", str(workspace)],
            env=env,
            cwd=tmp_path,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + DAEMON_DEADLINE_S
        # The automation sensor's first tick is its baseline: changes before it are not news.
        _wait_until(
            lambda: (
                _sensor_ticks(graph.instance, "automation_sensor") > 0
                and _sensor_ticks(graph.instance, "patients_sensor") > 0
            ),
            deadline,
            "the sensors' first ticks",
            daemon_log,
        )
        before = graph.instance.event_log_storage.get_maximum_record_id()
        grown = DemoSourceResource(config=demo, cache_dir=graph.source.cache_dir)
        manual_ingest = build_definitions(graph.store, grown, graph.settings)
        assert execute(manual_ingest, graph.instance, "ingest_job").success

        results = AssetKey(["evaluation", "results_table"])
        _wait_until(
            lambda: (
                _materialized_since(graph.instance, results, before)
                and not _runs_in_progress(graph.instance)
            ),
            deadline,
            "the evaluation to refresh",
            daemon_log,
        )
        time.sleep(SETTLE_S)
        assert not _runs_in_progress(graph.instance)
    finally:
        os.killpg(daemon.pid, signal.SIGTERM)
        try:
            daemon.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(daemon.pid, signal.SIGKILL)

    failed = graph.instance.get_runs(filters=RunsFilter(statuses=[DagsterRunStatus.FAILURE]))
    assert not failed, [r.run_id for r in failed]
    new = set(graph.instance.get_dynamic_partitions(PATIENTS_PARTITIONS)) - old
    assert len(new) == imaged
    counts = {}
    groups = {
        "ingest": ingest_assets,
        "patients": patient_assets,
        "cohort": cohort_level_assets,
        "folds": fold_assets,
        "evaluation": evaluation_assets,
    }
    for group, assets in groups.items():
        for key in (k for a in assets for k in a.keys):
            for partition in _materialized_since(graph.instance, key, before):
                counts[(group, key.to_user_string(), partition)] = (
                    counts.get((group, key.to_user_string(), partition), 0) + 1
                )
    twice = {
        (key, partition): _who_wrote(
            graph.instance, AssetKey.from_user_string(key), partition, before
        )
        for (_, key, partition), count in counts.items()
        if count > 1
    }
    assert not twice  # nothing ran twice
    assert {p for (g, _, p) in counts if g == "patients"} == new  # and no old patient again
    expected = {
        *((k.to_user_string(), None) for a in ingest_assets for k in a.keys),
        *((k.to_user_string(), p) for a in patient_assets for k in a.keys for p in new),
        *(
            (k.to_user_string(), None)
            for a in cohort_level_assets
            for k in a.keys
            if k != AssetKey(["modeling", "model_registry"])  # its input, the code, is unchanged
        ),
        *((k.to_user_string(), p) for a in fold_assets for k in a.keys for p in FOLD_PARTITIONS),
        *((k.to_user_string(), None) for a in evaluation_assets for k in a.keys),
    }
    assert {(key, p) for (_, key, p) in counts} == expected
    assert _tested(graph) == _included(graph, n)
