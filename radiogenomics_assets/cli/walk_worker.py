"""What a walk's worker processes run: the pool, its initializer and one run of a job.

The workers fork from a fork server, which keeps the environment it started with; a later walk
in the same process (a test session) may have set another. So a worker first takes the walk's
environment, then loads the code location, whose definitions read their settings from it: this
module imports no module of the project that does, and the worker is handed only its functions.
"""

from __future__ import annotations

import importlib
import multiprocessing
import os
from collections.abc import Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from dagster import AssetKey, DagsterInstance

from radiogenomics_assets.cli.runs import RunOutcome, execute

#: What a worker would import on its first patient run. The fork server imports them once per
#: walk and every worker forks with them loaded, instead of each worker importing them (some 5 s
#: of CPU each on 2 cores). Third-party packages only: the project's code location reads its
#: settings from the environment when it loads (see the module docstring).
WORKER_PRELOAD = [
    "torch",
    "torchvision",
    "dagster",
    "duckdb",
    "pandas",
    "scipy",
    "sqlalchemy",
    "alembic",
    "SimpleITK",
    "pydicom",
    "highdicom",
    "radiomics",
]
#: The code location a worker runs the walk's jobs from.
CODE_LOCATION = "radiogenomics_assets.definitions"

#: A worker's Dagster instance, opened by its first run and kept for the others.
_instance: DagsterInstance | None = None


def worker_pool(workers: int) -> ProcessPoolExecutor:
    """Processes for a phase's runs, one torch thread each, with this process's environment.

    Forked from a fork server, a fresh interpreter that has only imported ``WORKER_PRELOAD``:
    not from this process, since a child forked from a process whose torch had already run
    OpenMP threads (a test session, a notebook) hangs in its first parallel op (libgomp is not
    fork-safe; the Celery test's embedded walk hung so).
    """
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(WORKER_PRELOAD)
    return ProcessPoolExecutor(
        max_workers=workers, initializer=start, initargs=(dict(os.environ),), mp_context=context
    )


def start(environment: Mapping[str, str]) -> None:
    """A worker's initializer: the walk's environment, one torch thread, the code location."""
    os.environ.clear()
    os.environ.update(environment)
    # Several processes on few cores: one thread each keeps torch from oversubscribing.
    import torch

    torch.set_num_threads(1)
    importlib.import_module(CODE_LOCATION)  # now, while the walk reads its source tables


def ready() -> None:
    """A task that only makes a worker start (its initializer does the work)."""


def run_job(
    job_name: str,
    partition: str | None,
    run_config: Mapping[str, Any] | None,
    assets: Sequence[AssetKey] | None,
    tags: Mapping[str, str],
    threads: int = 1,
) -> RunOutcome:
    """One run in this worker, on ``threads`` torch threads, with the code location's ``defs``
    and ``$DAGSTER_HOME``'s instance."""
    import torch

    torch.set_num_threads(threads)
    global _instance
    _instance = _instance or DagsterInstance.get()
    defs = importlib.import_module(CODE_LOCATION).defs
    return execute(defs, _instance, job_name, partition, run_config, assets, tags)
