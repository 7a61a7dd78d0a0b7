"""Launch a phase's runs for the Celery executor: each with :func:`dagster.execute_job` on a
reconstructable job, a few at once, so that several workers get steps.

``execute_in_process`` ignores the executor, hence this path. Each launching process
orchestrates one run at a time (plans, submits steps to the broker, waits for their events);
the steps run on the workers, which rebuild the job from their environment (see
``defs.executor``). The launchers are processes, not threads: setting up a run configures
Python's logging, and two threads doing so at once deadlock on its locks.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from dagster import AssetKey, DagsterInstance, JobDefinition, build_reconstructable_job

from radiogenomics_assets.cli.runs import RunOutcome, outcome
from radiogenomics_assets.definitions import build_definitions

#: Runs orchestrated at once; each mostly waits on its steps, so more than the cores.
CONCURRENT_RUNS = 4
PARTITION_TAG = "dagster/partition"


def job_from_environment(job_name: str) -> JobDefinition:
    """The named job of the code location built from this process's environment.

    The target of :func:`reconstructable_job`: each worker process calls it to rebuild the job.
    """
    return build_definitions().resolve_job_def(job_name)


def reconstructable_job(job_name: str):
    """``job_name`` as a job that each worker rebuilds with :func:`job_from_environment`."""
    return build_reconstructable_job(
        __name__, job_from_environment.__name__, reconstructable_args=(job_name,)
    )


def execute_on_celery(
    instance_ref: Any,  # the launching instance's get_ref()
    job_name: str,
    partition: str | None,
    run_config: Mapping[str, Any],
    assets: Sequence[AssetKey] | None,
    tags: Mapping[str, str],
) -> RunOutcome:
    """One run (one partition, ``assets`` or the whole job), its steps on the workers."""
    from celery.exceptions import DuplicateTaskNameWarning
    from dagster import execute_job

    started = time.perf_counter()
    run_tags = {**tags, **({PARTITION_TAG: partition} if partition is not None else {})}
    with (
        # dagster-celery registers its task again for every step it submits, and Celery 5.7
        # warns each time (an error where warnings are errors); it is the same task.
        warnings.catch_warnings(),
        DagsterInstance.from_ref(instance_ref) as instance,
    ):
        warnings.filterwarnings("ignore", category=DuplicateTaskNameWarning)
        with execute_job(
            reconstructable_job(job_name),
            instance=instance,
            run_config=dict(run_config),
            tags=run_tags,
            asset_selection=list(assets) if assets is not None else None,
        ) as result:
            return outcome(job_name, partition, result, started)


def run_on_celery(
    instance: DagsterInstance,
    job_name: str,
    steps: Sequence[tuple[str | None, Sequence[AssetKey]]],
    run_config: Mapping[str, Any],
    announce: Callable[[str], None],
    tags: Mapping[str, str],
) -> list[RunOutcome]:
    """Every (partition, assets) of ``steps`` as one run, :data:`CONCURRENT_RUNS` at a time."""
    ref = instance.get_ref()
    with ProcessPoolExecutor(max_workers=min(CONCURRENT_RUNS, len(steps))) as pool:
        futures = [
            pool.submit(execute_on_celery, ref, job_name, partition, run_config, assets, tags)
            for partition, assets in steps
        ]
        outcomes = []
        for future in futures:
            outcomes.append(future.result())
            announce(outcomes[-1].line())
    return outcomes
