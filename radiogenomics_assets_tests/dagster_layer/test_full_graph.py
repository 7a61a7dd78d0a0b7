"""The whole graph on a small demo cohort: every phase, the SQL files, provenance, determinism,
and then the refresh path (`make refresh`) on the same store: an unchanged refresh, a changed
spec, two new patients. The daemon's unattended update is ``test_daemon_update``.

One materialization per module (slow: a few minutes on 2 cores), shared by the tests below.
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from dagster import AssetKey, AssetRecordsFilter

from radiogenomics_assets.cli.graph_runner import execute, materialize_graph, plan_phase
from radiogenomics_assets.cli.refresh import skipped_models
from radiogenomics_assets.cli.report import report_path
from radiogenomics_assets.defs.jobs import PHASES, job_asset_keys
from radiogenomics_assets.defs.names import PATIENTS_PARTITIONS, WALK_TAG
from radiogenomics_assets.defs.resources.source import DemoSourceResource
from radiogenomics_assets.survival.registry import MODEL_REGISTRY, get_spec
from radiogenomics_assets.survival.study_protocol import NET_PROTOCOL, PROTOCOL_NAMES
from radiogenomics_assets_tests.conftest import REPO_ROOT
from radiogenomics_assets_tests.dagster_layer.store_readers import (
    ReaderLogs,
    StoreReaders,
    read_snapshot,
)
from radiogenomics_assets_tests.dagster_layer.walked_graph import (
    DEMO,
    FOLD_PARTITIONS,
    NET_PARTITIONS,
    Graph,
    grown_size,
    included,
    patients_tested,
)
from radiogenomics_assets_tests.report.browser import chromium
from radiogenomics_assets_tests.report.page_checks import (
    decoded_images,
    external_references,
    model_rows,
    protocol_sections,
    text_of,
)

pytestmark = pytest.mark.slow

SQL_FILES = sorted((REPO_ROOT / "sql").glob("*.sql"))


@pytest.fixture(scope="module")
def walk(tmp_path_factory: pytest.TempPathFactory, sources_cache: Path) -> tuple[Graph, ReaderLogs]:
    """The walk, with a user's reader polling the store and another holding it open throughout."""
    root = tmp_path_factory.mktemp("graph")
    with StoreReaders(root / "radiogenomics.duckdb", root / "readers") as readers:
        graph = Graph(root, sources_cache, persistent=False)
    return graph, readers.logs()


@pytest.fixture(scope="module")
def graph(walk: tuple[Graph, ReaderLogs]) -> Graph:
    return walk[0]


def test_every_phase_succeeds(graph: Graph) -> None:
    failed = [o.line() for o in graph.outcomes if not o.success]
    assert not failed, failed
    assert {o.job for o in graph.outcomes} >= {
        "ingest_job",
        "patient_assets_job",
        "cohort_job",
        "modeling_job",
        "net_job",
        "fold_metrics_job",
        "evaluation_job",
    }
    # One walk: every run carries its id (what `make profile` selects by).
    walks = {run.tags.get(WALK_TAG) for run in graph.instance.get_runs()}
    assert len(walks) == 1 and None not in walks


def test_a_reader_polling_during_the_walk_always_gets_a_whole_snapshot(
    walk: tuple[Graph, ReaderLogs],
) -> None:
    graph, logs = walk
    failed = [poll["error"] for poll in logs.polls if not poll["ok"]]
    assert not failed, f"{len(failed)} of {len(logs.polls)} reads failed, first: {failed[0]}"
    assert not [poll["incomplete"] for poll in logs.polls if poll["incomplete"]]
    # It read all along: snapshots before the models, while they were written, and after.
    models = [poll["models"] for poll in logs.polls]
    assert models[0] == 0 and len(set(models)) > 2 and max(models) == len(MODEL_REGISTRY)
    # Snapshots never go back in time, and each ends on a write of one of the walk's runs.
    commits = [poll["committed_at"] for poll in logs.polls if poll["committed_at"]]
    assert commits == sorted(commits)
    runs = {run.run_id for run in graph.instance.get_runs()}
    assert {poll["run_id"] for poll in logs.polls if poll["run_id"]} <= runs
    # The copy users read has caught up with the pipeline's own file.
    with graph.store.read_connection() as published:
        seen = read_snapshot(published)
    with graph.store.get_connection() as working:
        assert seen == read_snapshot(working)


def test_a_reader_held_open_during_the_walk_neither_fails_nor_holds_it_up(
    walk: tuple[Graph, ReaderLogs],
) -> None:
    graph, logs = walk
    opened, *reads, closing = logs.held
    assert opened["opened"] and closing["closing"]
    assert reads and all(read["ok"] for read in reads)
    # It kept reading the snapshot it opened, while newer ones were published past it, and
    # every run of the walk succeeded (test_every_phase_succeeds) without waiting for it.
    assert {read["committed_at"] for read in reads} == {opened["committed_at"]}
    assert opened["models"] < len(MODEL_REGISTRY) and closing["replaced"]
    assert all(outcome.success for outcome in graph.outcomes)


def test_the_docs_duckdb_command_line_reads_the_published_store(graph: Graph) -> None:
    # As docs/sql.md writes it, with the `duckdb` command of the environment (duckdb-cli).
    duckdb_cli = Path(sys.executable).with_name("duckdb")
    line = f"duckdb -readonly {graph.store.database_path} < sql/select_table1.sql"
    assert (
        line.replace(str(graph.store.database_path), "data/radiogenomics.duckdb")
        in (REPO_ROOT / "docs" / "sql.md").read_text()
    )
    table1 = subprocess.run(
        [duckdb_cli, "-readonly", graph.store.database_path],
        input=(REPO_ROOT / "sql" / "select_table1.sql").read_text(),
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        check=True,
    ).stdout
    models = graph.query(
        "SELECT DISTINCT model FROM evaluation.results_table WHERE protocol = 'recommended'"
    )
    assert all(f" {model} " in table1 for model in models["model"])
    noted = subprocess.run(
        [duckdb_cli, "-readonly", "-csv", graph.store.database_path, "-c", "FROM store_snapshot"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert graph.query("SELECT run_id FROM store_snapshot")["run_id"].iloc[0] in noted


def test_an_unchanged_store_refreshes_without_a_run(graph: Graph) -> None:
    lines: list[str] = []
    outcomes = materialize_graph(graph.defs, graph.instance, announce=lines.append)

    assert outcomes == []
    assert sum(line.startswith("  nothing missing or stale") for line in lines) == len(PHASES)


def test_a_linear_walk_leaves_out_exactly_the_net_phase(graph: Graph) -> None:
    nets = {AssetKey(["modeling", s.name]) for s in MODEL_REGISTRY if s.estimator == "net"}
    assert set(job_asset_keys(graph.defs, "net_job")) == nets == set(skipped_models("linear"))
    lines: list[str] = []
    assert materialize_graph(graph.defs, graph.instance, announce=lines.append, skip=nets) == []
    net_phase = next(p.title for p in PHASES if p.job == "net_job")
    assert lines[lines.index(f"== {net_phase}") + 1] == "  left out of this walk"


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
    metrics = graph.query(
        "SELECT protocol, model, fold, split, model_partition FROM evaluation.fold_metrics"
    )
    assert len(metrics) == len(MODEL_REGISTRY) * 5 * 2 * len(PROTOCOL_NAMES)
    assert not metrics.drop(columns="model_partition").duplicated().any()
    # A net is trained once per fold: both protocols report its recommended partition.
    nets = {s.name for s in MODEL_REGISTRY if s.estimator == "net"}
    trained = metrics["model_partition"].str.split("|").str[1]
    assert set(trained[metrics["model"].isin(nets)]) == {NET_PROTOCOL}
    coxnet = ~metrics["model"].isin(nets)
    assert (trained[coxnet] == metrics.loc[coxnet, "protocol"]).all()
    for key in job_asset_keys(graph.defs, "net_job"):
        records = graph.instance.fetch_materializations(key, limit=100).records
        assert sorted(r.partition_key for r in records) == sorted(NET_PARTITIONS)


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
        "null_model_folds",
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
        "features/radiomic_table",
        "features/densenet_table",
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


def test_the_study_report_shows_every_model_figure_and_provenance_of_the_store(
    graph: Graph,
) -> None:
    page = report_path(graph.store).read_text()  # checked against the sha256 of its row
    results = graph.query("SELECT * FROM evaluation.results_table")
    sections = protocol_sections(page)
    assert set(sections) == set(results["protocol"])
    for row in results.itertuples():
        [table_row, *_] = model_rows(sections[row.protocol])[row.model]
        folds = [getattr(row, f"fold_{n}") for n in range(1, 6)]
        assert all(f"{value:.2f}" in table_row for value in folds), (row.model, table_row)
        assert f"{row.mean:.2f} ± {row.sd:.2f}" in table_row
    [(figures,)] = graph.query(
        "SELECT (SELECT count(*) FROM evaluation.td_auc_figures)"
        " + (SELECT count(*) FROM evaluation.km_figures)"
    ).itertuples(index=False)
    assert len(decoded_images(page)) == figures > 0
    assert external_references(page) == []
    runs = graph.query(
        "SELECT DISTINCT model_run_id FROM evaluation.fold_metrics WHERE split = 'test' "
        "AND repeat = 1"
    )["model_run_id"]
    assert [run for run in runs if run not in page] == []
    # The walk's DenseNet ran on random weights: the page says so before any number.
    assert "come from untrained random" in text_of(page[: page.index('<section id="cohort">')])


def test_the_study_report_renders_in_chromium_and_a_c_index_opens_on_its_run(
    graph: Graph, tmp_path: Path
) -> None:
    path = report_path(graph.store)
    errors, fetched = [], []
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.on("request", lambda r: None if r.url.startswith("data:") else fetched.append(r.url))
        page.goto(path.as_uri())
        images = page.locator("img").count()
        undecoded = page.eval_on_selector_all(
            "img", "all => all.filter(i => !(i.complete && i.naturalWidth > 0)).length"
        )
        entry = page.locator("details.prov").first
        body = entry.locator(".prov-body")
        hidden_before = not body.is_visible()
        entry.locator("summary").click()
        opened = entry.evaluate("details => details.open") and body.is_visible()
        shown = body.inner_text()
        page.screenshot(path=str(tmp_path / "study_report.png"))
    assert errors == []
    assert fetched == [path.as_uri()]  # the page itself, nothing else
    assert images > 0 and undecoded == 0
    assert hidden_before and opened
    runs = graph.query("SELECT DISTINCT model_run_id FROM evaluation.fold_metrics")["model_run_id"]
    assert any(run in shown for run in runs), shown


def test_rerunning_a_fold_gives_identical_metrics(graph: Graph) -> None:
    where = "WHERE fold = 'fold_2' AND protocol = 'paper'"
    before = graph.query(f"SELECT * FROM evaluation.fold_metrics {where}")
    for job, partition in (
        ("modeling_job", "fold_2|paper"),
        ("net_job", f"fold_2|{NET_PROTOCOL}"),
        ("fold_metrics_job", "fold_2|paper"),
    ):
        outcome = execute(graph.defs, graph.instance, job, partition)
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


def _refresh(graph: Graph, defs, models: str | None = None) -> list:
    """A walk as `make refresh` (``MODELS=models``) does it."""
    skip = skipped_models(models) if models else ()
    return materialize_graph(
        defs,
        graph.instance,
        announce=_quiet,
        skip=skip,
        scope=models or "all",
    )


def _runs(outcomes) -> list[tuple[str, str | None]]:
    assert all(o.success for o in outcomes), [o.line() for o in outcomes if not o.success]
    return sorted((o.job, o.partition) for o in outcomes)


FOLD_RUNS = [(job, p) for job in ("modeling_job", "fold_metrics_job") for p in FOLD_PARTITIONS]


def _with_spec(spec):
    from radiogenomics_assets.defs.assets import all_assets
    from radiogenomics_assets.defs.assets.modeling import build_model_asset

    key = AssetKey(["modeling", spec.name])
    return [build_model_asset(spec) if key in a.keys else a for a in all_assets]


@pytest.fixture(scope="module")
def respecified(graph: Graph):
    """The definitions after one registry edit: cox_g with another l1_ratio."""
    return graph.definitions(graph.source, assets=_with_spec(_respecified_cox_g()))


def test_a_changed_spec_plans_only_that_model_and_what_reads_it(graph: Graph, respecified) -> None:
    # The rerun of fold_2 above changed fold_metrics (its rows record run ids): catch up first.
    assert _runs(_refresh(graph, graph.defs)) == [("evaluation_job", None)]
    planned = {
        (item.key.to_user_string(), item.partition): item.reason
        for phase in PHASES
        for _, items in plan_phase(respecified, graph.instance, phase).steps
        for item in items
    }
    # Planned, not run: only the readers of cox_g in its own phase (the late fusions reusing its
    # fits) follow it; the fold metrics, a phase later, see the change once it has run.
    cox_g = AssetKey(["modeling", "cox_g"])
    asset_graph = respecified.resolve_asset_graph()
    fold_readers = {
        k.to_user_string()
        for k in asset_graph.get(cox_g).child_keys
        if k in job_asset_keys(respecified, "modeling_job")
    }
    assert fold_readers
    assert {key for key, _ in planned} == {"modeling/cox_g", *fold_readers}
    for (key, partition), reason in planned.items():
        assert partition in FOLD_PARTITIONS
        if key == "modeling/cox_g":
            assert reason == "its code version changed"
        else:
            assert reason == "an input's data version changed (or is recomputed now)"
    assert len(planned) == len(FOLD_PARTITIONS) * (1 + len(fold_readers))


def test_refreshing_a_changed_spec_reruns_that_model_and_the_evaluation(
    graph: Graph, respecified
) -> None:
    outcomes = _refresh(graph, respecified)

    assert _runs(outcomes) == sorted([*FOLD_RUNS, ("evaluation_job", None)])
    assert _refresh(graph, respecified) == []


def test_growing_the_cohort_runs_only_the_new_patients(graph: Graph, respecified) -> None:
    """`make refresh MODELS=linear` after two new study patients: the CoxNets of every fold
    partition retrain (the nets' retraining, with the grid's cost, is test_daemon_update's)."""
    old = set(graph.instance.get_dynamic_partitions(PATIENTS_PARTITIONS))
    n, imaged = grown_size(DEMO, DEMO["n_patients"])
    grown_source = DemoSourceResource(
        config={**DEMO, "n_patients": n}, cache_dir=graph.source.cache_dir
    )
    grown = graph.definitions(grown_source, assets=_with_spec(_respecified_cox_g()))

    outcomes = _refresh(graph, grown, "linear")

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
    assert patients_tested(graph) == included(graph, n)
    # The nets it left out stay as they were: nothing reads that as news.
    assert _refresh(graph, grown, "linear") == []


def _respecified_cox_g():
    spec = get_spec("cox_g")
    return dataclasses.replace(spec, hyperparameters={**spec.hyperparameters, "l1_ratio": 0.5})
