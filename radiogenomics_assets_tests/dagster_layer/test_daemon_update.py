"""The unattended update: a real `dagster-daemon` (sensors and declarative automation on) takes
a walked store through two new study patients, and every affected asset is materialized exactly
once: the new patients' partitions, the cohort, every fold partition of every model (the nets
included), the evaluation; nothing else, and no old patient again.

Its own walked store (``walked_graph``), so that under pytest-xdist it runs beside
``test_full_graph``: most of its wall time is the daemon's ticks, not work.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from dagster import AssetKey, AssetRecordsFilter, DagsterInstance, DagsterRunStatus, RunsFilter

from radiogenomics_assets.definitions import build_definitions
from radiogenomics_assets.graph_runner import execute
from radiogenomics_assets.names import PATIENTS_PARTITIONS
from radiogenomics_assets.resources.source import DemoSourceResource
from radiogenomics_assets_tests.dagster_layer.walked_graph import (
    DEMO,
    FOLD_PARTITIONS,
    SMALL_NET_FIELDS,
    Graph,
    grown_size,
    included,
    patients_tested,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def graph(tmp_path_factory: pytest.TempPathFactory, sources_cache: Path) -> Graph:
    return Graph(tmp_path_factory.mktemp("graph"), sources_cache)


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

    n, imaged = grown_size(DEMO, graph.n_patients)
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
    assert patients_tested(graph) == included(graph, n)
