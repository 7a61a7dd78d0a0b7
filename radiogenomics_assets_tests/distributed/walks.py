"""The graph walked twice on one demo cohort, embedded and distributed, for the distributed test
and ``benchmarks/distributed_overhead.py``.

Embedded is `make demo --models linear` with four of its CoxNets (``MODELS``): the SQLite
instance, a process pool, the DuckDB file.
Distributed: the instance on PostgreSQL, every step on one of two Celery workers over Redis,
the store a DuckLake. The workers are separate processes started from two different working
directories; they share only the store path and the environment, as workers on other machines
would. PostgreSQL and Redis come from the Debian packages, on 127.0.0.1 (``services``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
from dagster import AssetKey, DagsterEventType, DagsterInstance

from radiogenomics_assets.cli.graph_runner import RunOutcome, cpu_workers, materialize_graph
from radiogenomics_assets.config import DUCKLAKE_CATALOG_ENV, STORE_ENV
from radiogenomics_assets.definitions import build_definitions
from radiogenomics_assets.defs.executor import CELERY_BROKER_VARIABLE
from radiogenomics_assets.defs.instance_config import POSTGRES_URL_VARIABLE, ensure_dagster_home
from radiogenomics_assets.defs.names import MODELING
from radiogenomics_assets.defs.resources.modeling import ALPHA_SELECTION_ENV, CV_REPEATS_ENV
from radiogenomics_assets.defs.resources.source import DEMO_CONFIG_ENV
from radiogenomics_assets.defs.study import STUDY_ENV
from radiogenomics_assets.survival.registry import MODEL_REGISTRY
from radiogenomics_assets_tests.conftest import REPO_ROOT
from radiogenomics_assets_tests.dagster_layer.local_cohort import RANDOM_WEIGHTS_STUDY
from radiogenomics_assets_tests.demo_fixtures import WALK_DEMO
from radiogenomics_assets_tests.services import postgres_server, redis_server

#: test_full_graph's cohort (the smallest known to give every fold events), one repeat and four
#: CoxNets, one per modality and a late fusion that reads the single fits back from the store:
#: the executor is under test here, not the models.
DEMO = WALK_DEMO
MODELS = ("cox_g", "cox_p", "cox_d", "cox_lf_g_p")
SKIPPED = {AssetKey([MODELING, spec.name]) for spec in MODEL_REGISTRY if spec.name not in MODELS}


def settings(demo: Mapping[str, object] = DEMO) -> dict[str, str]:
    """The environment both walks and the workers build their definitions from."""
    return {
        "RADIOGENOMICS_SOURCE": "demo",
        DEMO_CONFIG_ENV: json.dumps(dict(demo)),
        CV_REPEATS_ENV: "1",
        ALPHA_SELECTION_ENV: "validation",
        STUDY_ENV: str(RANDOM_WEIGHTS_STUDY),
    }


WORKERS = ("alpha", "beta")
WORKER_START_S = 120


def duckdb_store(root: Path) -> dict[str, str]:
    """The embedded walk's store: the DuckDB file under ``root``."""
    return {"RADIOGENOMICS_HOME": str(root)}


def ducklake_store(root: Path, catalog: str) -> dict[str, str]:
    """The distributed walk's store: a DuckLake, catalog in PostgreSQL, data and files under
    ``root`` (the path the workers share)."""
    return {
        "RADIOGENOMICS_HOME": str(root),
        STORE_ENV: "ducklake",
        DUCKLAKE_CATALOG_ENV: catalog,
    }


@dataclass
class Walk:
    env: dict[str, str]
    outcomes: list[RunOutcome]
    seconds: float
    #: (asset key, partition) of every materialization, with how often it happened.
    materialized: Counter[tuple[str, str | None]]
    #: Worker names that executed each patient run's steps, from the instance's event log.
    patient_workers: set[str]
    steps: int

    def query(self, sql: str) -> pd.DataFrame:
        # In the walk's environment: the store resource finds its files from it when it connects.
        with environment(self.env), build_definitions().resources["store"].get_connection() as conn:
            return conn.execute(sql).fetchdf()


@contextmanager
def environment(values: Mapping[str, str]) -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        for name in (POSTGRES_URL_VARIABLE, CELERY_BROKER_VARIABLE, STORE_ENV, "DAGSTER_HOME"):
            patch.delenv(name, raising=False)
        for name, value in values.items():
            patch.setenv(name, value)
        yield


def walk(env: dict[str, str]) -> Walk:
    """What `make demo --models linear` does for ``MODELS`` (DenseNet weights random: no
    network)."""
    with environment(env):
        started = time.perf_counter()
        ensure_dagster_home()
        with DagsterInstance.get() as instance:
            outcomes = materialize_graph(
                build_definitions(),
                instance,
                workers=cpu_workers(),
                skip=SKIPPED,
                announce=print,
            )
            seconds = time.perf_counter() - started
            materialized: Counter[tuple[str, str | None]] = Counter()
            patient_workers: set[str] = set()
            steps = 0
            for run in instance.get_runs():
                for entry in instance.all_logs(run.run_id):
                    event = entry.dagster_event
                    if event is None:
                        continue
                    if event.event_type == DagsterEventType.ASSET_MATERIALIZATION:
                        materialization = event.step_materialization_data.materialization
                        key = materialization.asset_key.to_user_string()
                        materialized[(key, materialization.partition)] += 1
                    elif event.event_type == DagsterEventType.STEP_SUCCESS:
                        steps += 1
                    elif (
                        event.event_type == DagsterEventType.ENGINE_EVENT
                        and run.job_name == "patient_assets_job"
                        and "Celery worker" in event.engine_event_data.metadata
                    ):
                        # dagster-celery's "Executing steps ... in celery worker" event.
                        patient_workers.add(event.engine_event_data.metadata["Celery worker"].text)
    return Walk(env, outcomes, seconds, materialized, patient_workers, steps)


@contextmanager
def celery_workers(root: Path, env: Mapping[str, str]) -> Iterator[None]:
    """Two workers, one step at a time each, each started in a directory of its own."""
    processes = []
    try:
        for name in WORKERS:
            cwd = root / f"worker_{name}"
            cwd.mkdir()
            command = [
                *(sys.executable, "-m", "celery", "-A", "radiogenomics_assets.defs.celery_worker"),
                *("worker", "--pool", "solo", "-n", f"{name}@%h", "--loglevel", "INFO"),
            ]
            worker_env = {**os.environ, **env, "PYTHONPATH": str(REPO_ROOT)}
            worker_env.pop("DAGSTER_HOME", None)  # the instance comes with each task
            with open(cwd / "worker.log", "w") as log:  # the child keeps its own descriptor
                process = subprocess.Popen(
                    command, cwd=cwd, env=worker_env, stdout=log, stderr=subprocess.STDOUT
                )
            processes.append((cwd / "worker.log", process))
        deadline = time.monotonic() + WORKER_START_S
        while not all(" ready." in log.read_text() for log, _ in processes):
            dead = [log for log, process in processes if process.poll() is not None]
            if dead or time.monotonic() > deadline:
                raise RuntimeError(f"a Celery worker did not start:\n{dead[0].read_text()[-3000:]}")
            time.sleep(0.5)
        yield
    finally:
        for _, process in processes:
            process.terminate()
        for _, process in processes:
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@contextmanager
def walk_both(root: Path, demo: Mapping[str, object] = DEMO) -> Iterator[tuple[Walk, Walk]]:
    """The embedded and the distributed walk of one cohort, each in a directory under ``root``;
    PostgreSQL stays up until the context exits, so the DuckLake can still be queried.

    The distributed walk runs first: a fault of the Celery path shows before the longer wait.
    """
    common = settings(demo)
    with postgres_server() as postgres, redis_server(root / "redis") as broker:
        postgres.create_database("dagster")
        postgres.create_database("lake")
        shared = {
            **common,
            **ducklake_store(root / "shared_store", postgres.dsn("lake")),
            # psycopg2 named: SQLAlchemy 2.1 reads a bare postgresql:// as psycopg 3.
            POSTGRES_URL_VARIABLE: postgres.url("dagster").replace(
                "postgresql://", "postgresql+psycopg2://"
            ),
            CELERY_BROKER_VARIABLE: broker,
        }
        with celery_workers(root, shared):
            distributed = walk({**shared, "DAGSTER_HOME": str(root / "dagster_home")})
        embedded = walk({**common, **duckdb_store(root / "embedded")})
        yield embedded, distributed


def overhead_per_step(embedded: Walk, distributed: Walk) -> float:
    """Seconds the distributed walk spent beyond the embedded one, per step it ran."""
    return (distributed.seconds - embedded.seconds) / max(distributed.steps, 1)
