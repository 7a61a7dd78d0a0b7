"""The unattended update: a real `dagster-daemon` (sensors and declarative automation on) takes
a walked store through two new study patients, and every affected asset is materialized exactly
once: the new patients' partitions, the cohort, every fold partition of every CoxNet model under
both protocols, every net once per fold, the fold metrics, the evaluation; nothing else, no old
patient again, and exactly the model partitions the walk made (one scope).

Its own walked store (``walked_graph``), so that under pytest-xdist it runs beside
``test_full_graph``: most of its wall time is the daemon's ticks, not work.
"""

from __future__ import annotations

import os
import pprint
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from dagster import AssetKey, AssetRecordsFilter, DagsterInstance, DagsterRunStatus, RunsFilter

from radiogenomics_assets.cli.graph_runner import execute
from radiogenomics_assets.defs.names import PATIENTS_PARTITIONS
from radiogenomics_assets.defs.resources.source import DemoSourceResource
from radiogenomics_assets_tests.dagster_layer.local_cohort import RANDOM_WEIGHTS_STUDY
from radiogenomics_assets_tests.dagster_layer.walked_graph import (
    DEMO,
    FOLD_PARTITIONS,
    NET_PARTITIONS,
    SMALL_NET_FIELDS,
    Graph,
    grown_size,
    included,
    patients_tested,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def graph(tmp_path_factory: pytest.TempPathFactory, sources_cache: Path) -> Graph:
    started = time.perf_counter()
    walked = Graph(tmp_path_factory.mktemp("graph"), sources_cache, persistent=True)
    # Read by benchmarks/run_queue.py (pytest -s).
    print(f"\nfirst walk: {time.perf_counter() - started:.1f} s")
    return walked


LOCATION = """
from dagster import in_process_executor

from radiogenomics_assets.definitions import build_definitions
from radiogenomics_assets.defs.resources.modeling import ModelingSettings, NetTrainingSettings
from radiogenomics_assets.defs.resources.source import DemoSourceResource
from radiogenomics_assets.defs.resources.store import StoreResource
from radiogenomics_assets.defs.study import load_study

defs = build_definitions(
    StoreResource(database={database!r}),
    DemoSourceResource(config={demo!r}, cache_dir={cache!r}),
    ModelingSettings(
        alpha_selection="validation", net=NetTrainingSettings(**{nets!r}), cv_repeats=1
    ),
    retrain_cron="* * * * *",
    # One process per run, not per step: 125 step processes importing torch would dominate.
    executor=in_process_executor,
    study=load_study({study!r}),
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


#: Runs waiting in the daemon's queue, starting, running, suspended or being cancelled.
UNFINISHED = [
    DagsterRunStatus.QUEUED,
    DagsterRunStatus.NOT_STARTED,
    DagsterRunStatus.STARTING,
    DagsterRunStatus.STARTED,
    DagsterRunStatus.CANCELING,
    DagsterRunStatus.SUSPENDED,
]


def _runs_in_progress(instance: DagsterInstance) -> list:
    return instance.get_runs(filters=RunsFilter(statuses=UNFINISHED))


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


#: Run tags that say what launched a run.
LAUNCHER_TAGS = ("dagster/sensor_name", "dagster/tick", "dagster/backfill")


def _who_wrote(instance: DagsterInstance, key: AssetKey, partition: str | None, after: int) -> list:
    """The runs that wrote ``key[partition]`` since ``after``: what launched each, and when; and
    the automation evaluations that requested it, with the conditions that held."""
    runs = []
    for record in _materializations_since(instance, key, after):
        if record.partition_key == partition:
            run = instance.get_run_record_by_id(record.run_id)
            launcher = {k: v for k, v in run.dagster_run.tags.items() if k in LAUNCHER_TAGS}
            runs.append((record.run_id[:8], run.create_timestamp.isoformat(), launcher))
    return [*runs, *_why_requested(instance, key, partition)]


def _why_requested(instance: DagsterInstance, key: AssetKey, partition: str | None) -> list:
    """Each automation evaluation that requested ``key[partition]``: its id and the
    labels of the conditions true for that partition, down to the inputs."""

    def holds(evaluation) -> bool:
        subset = evaluation.true_subset.value
        return subset if isinstance(subset, bool) else partition in subset.get_partition_keys()

    def reasons(evaluation, depth: int) -> list[str]:
        children = [c for c in evaluation.child_evaluations if holds(c)]
        if depth == 0 or not children:
            return []
        found = []
        for child in children:
            snapshot = child.condition_snapshot
            found.append(snapshot.label or snapshot.name)
            found += reasons(child, depth - 1)
        return found

    try:
        records = instance.schedule_storage.get_auto_materialize_asset_evaluations(
            key=key, limit=500
        )
        requested = []
        for record in records:
            evaluation = record.get_evaluation_with_run_ids().evaluation
            if holds(evaluation):
                requested.append((f"evaluation {record.evaluation_id}", reasons(evaluation, 4)))
        return requested
    except Exception as error:  # a diagnostic only: never hide the assertion behind it
        return [f"evaluations unreadable: {error!r}"]


@dataclass(frozen=True)
class Update:
    """What the daemon materialized after the new patients arrived."""

    graph: Graph
    n_patients: int
    imaged: int
    #: The patients partitions the sensor added.
    new: set[str]
    #: (group, asset key, partition): materializations since the ingest, counted.
    counts: dict[tuple[str, str, str | None], int]
    #: Storage id of the last event before the ingest.
    before: int


@pytest.fixture(scope="module")
def update(graph: Graph, tmp_path_factory: pytest.TempPathFactory) -> Update:
    """Start the daemon on the walked store, ingest a source grown by two study patients, wait
    until the evaluation is refreshed and nothing more is launched."""
    root = tmp_path_factory.mktemp("daemon")
    n, imaged = grown_size(DEMO, graph.n_patients)
    demo = {**DEMO, "n_patients": n}
    (root / "location.py").write_text(
        LOCATION.format(
            database=graph.store.database,
            demo=demo,
            cache=graph.source.cache_dir,
            nets=SMALL_NET_FIELDS,
            study=str(RANDOM_WEIGHTS_STUDY),
        )
    )
    workspace = root / "workspace.yaml"
    workspace.write_text(
        f"load_from:\n  - python_file:\n      relative_path: location.py\n"
        f"      working_directory: {root}\n"
    )
    daemon_log = root / "daemon.log"
    env = {**os.environ, "DAGSTER_HOME": str(graph.dagster_home)}
    old = set(graph.instance.get_dynamic_partitions(PATIENTS_PARTITIONS))
    walk_runs = len(graph.instance.get_run_ids())
    with open(daemon_log, "wb") as log:
        daemon = subprocess.Popen(
            [str(Path(sys.executable).with_name("dagster-daemon")), "run", "-w", str(workspace)],
            env=env,
            cwd=root,
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
        started = time.perf_counter()
        grown = DemoSourceResource(config=demo, cache_dir=graph.source.cache_dir)
        manual_ingest = graph.definitions(grown)
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
        seconds = time.perf_counter() - started
        time.sleep(SETTLE_S)
        assert not _runs_in_progress(graph.instance)
    finally:
        os.killpg(daemon.pid, signal.SIGTERM)
        try:
            daemon.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(daemon.pid, signal.SIGKILL)
    new = set(graph.instance.get_dynamic_partitions(PATIENTS_PARTITIONS)) - old
    runs = len(graph.instance.get_run_ids()) - walk_runs
    print(f"\nunattended update: {seconds:.1f} s, {runs} runs")  # read by benchmarks/run_queue.py
    return Update(graph, n, imaged, new, _counts(graph.instance, before), before)


def _groups() -> dict[str, list]:
    from radiogenomics_assets.defs.assets import (
        cohort_level_assets,
        evaluation_assets,
        fold_assets,
        fold_metric_assets,
        ingest_assets,
        net_assets,
        patient_assets,
    )

    return {
        "ingest": ingest_assets,
        "patients": patient_assets,
        "cohort": cohort_level_assets,
        "folds": fold_assets,
        "nets": net_assets,
        "fold_metrics": fold_metric_assets,
        "evaluation": evaluation_assets,
    }


def _counts(instance: DagsterInstance, before: int) -> dict[tuple[str, str, str | None], int]:
    counts: dict[tuple[str, str, str | None], int] = {}
    for group, assets in _groups().items():
        for key in (k for a in assets for k in a.keys):
            for partition in _materialized_since(instance, key, before):
                entry = (group, key.to_user_string(), partition)
                counts[entry] = counts.get(entry, 0) + 1
    return counts


def test_no_run_failed(update: Update) -> None:
    instance = update.graph.instance
    failed = instance.get_runs(filters=RunsFilter(statuses=[DagsterRunStatus.FAILURE]))
    assert not failed, [r.run_id for r in failed]


def test_the_sensor_runs_the_new_patients_and_no_old_one(update: Update) -> None:
    assert len(update.new) == update.imaged
    assert {p for (g, _, p) in update.counts if g == "patients"} == update.new


def test_nothing_is_materialized_twice(update: Update) -> None:
    twice = {
        (key, partition): _who_wrote(
            update.graph.instance, AssetKey.from_user_string(key), partition, update.before
        )
        for (_, key, partition), count in update.counts.items()
        if count > 1
    }
    assert not twice, pprint.pformat(twice, width=100)


def test_exactly_the_assets_downstream_of_the_new_patients_are_materialized(
    update: Update,
) -> None:
    groups = _groups()
    expected = {
        *((k.to_user_string(), None) for a in groups["ingest"] for k in a.keys),
        *((k.to_user_string(), p) for a in groups["patients"] for k in a.keys for p in update.new),
        *(
            (k.to_user_string(), None)
            for a in groups["cohort"]
            for k in a.keys
            if k != AssetKey(["modeling", "model_registry"])  # its input, the code, is unchanged
        ),
        *(
            (k.to_user_string(), p)
            for a in [*groups["folds"], *groups["fold_metrics"]]
            for k in a.keys
            for p in FOLD_PARTITIONS
        ),
        # A net once per fold, for both protocols: never trained twice on the same inputs.
        *((k.to_user_string(), p) for a in groups["nets"] for k in a.keys for p in NET_PARTITIONS),
        *((k.to_user_string(), None) for a in groups["evaluation"] for k in a.keys),
    }
    assert {(key, p) for (_, key, p) in update.counts} == expected


def test_the_daemon_keeps_fresh_exactly_what_the_walk_materialized(update: Update) -> None:
    """One scope: the model partitions the daemon retrained are those `make demo`'s walk made
    (every partition of the graph), and the graph holds none that neither materializes."""
    instance = update.graph.instance
    model_stages = ("folds", "nets", "fold_metrics")
    walked = {
        (key.to_user_string(), record.partition_key)
        for group, assets in _groups().items()
        if group in model_stages
        for key in (k for a in assets for k in a.keys)
        for record in instance.fetch_materializations(
            AssetRecordsFilter(asset_key=key, before_storage_id=update.before), limit=1000
        ).records
    }
    retrained = {(key, p) for (g, key, p) in update.counts if g in model_stages}
    assert retrained == walked
    graph = update.graph.defs.resolve_asset_graph()
    every = {
        (key.to_user_string(), partition)
        for group, assets in _groups().items()
        if group in model_stages
        for key in (k for a in assets for k in a.keys)
        for partition in graph.get(key).partitions_def.get_partition_keys(
            dynamic_partitions_store=instance
        )
    }
    assert every == walked


def test_the_models_are_tested_on_every_study_patient_of_the_grown_cohort(update: Update) -> None:
    assert patients_tested(update.graph) == included(update.graph, update.n_patients)
