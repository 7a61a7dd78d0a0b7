"""Materialize the whole asset graph, phase by phase, as `make demo` and the slow tests do.

The phases follow ``jobs.PHASES``: source tables, patient registration and per-patient runs,
cohort, one run per fold, evaluation. A failed patient partition is reported and the cohort goes
on without it; a failed phase that later phases need stops the walk.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any

from dagster import DagsterInstance, Definitions

from radiogenomics_assets.jobs import PHASES
from radiogenomics_assets.names import PATIENTS_PARTITIONS
from radiogenomics_assets.partitions import FOLD_NAMES
from radiogenomics_assets.registration import register_patients_from_store

# Every event still goes to the instance (and the UI); the terminal shows only errors.
QUIET_CONSOLE = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}

RunConfigs = Mapping[str, Mapping[str, Any]]


@dataclass(frozen=True)
class RunOutcome:
    job: str
    partition: str | None
    success: bool
    seconds: float
    error: str | None = None

    def line(self) -> str:
        where = f"[{self.partition}]" if self.partition else ""
        status = "ok" if self.success else f"FAILED: {self.error}"
        return f"  {self.job}{where}: {status} ({self.seconds:.1f} s)"


def _user_error(event: Any) -> str:
    """The user's exception of a failed step (Dagster wraps it in one of its own)."""
    error = event.step_failure_data.error
    return (error.cause or error).message.strip()


def execute(
    defs: Definitions,
    instance: DagsterInstance,
    job_name: str,
    partition: str | None = None,
    run_config: Mapping[str, Any] | None = None,
) -> RunOutcome:
    """Run one job (one partition) in this process."""
    started = time.perf_counter()
    result = defs.resolve_job_def(job_name).execute_in_process(
        instance=instance,
        partition_key=partition,
        raise_on_error=False,
        run_config={**QUIET_CONSOLE, **(run_config or {})},
    )
    error = None
    if not result.success:
        failures = [e for e in result.all_events if e.is_step_failure]
        error = "; ".join(f"{e.step_key}: {_user_error(e)}" for e in failures) or "run failed"
    return RunOutcome(job_name, partition, result.success, time.perf_counter() - started, error)


def _init_worker() -> None:
    # Several processes on few cores: one thread each keeps torch from oversubscribing.
    import torch

    torch.set_num_threads(1)


def _execute_in_worker(
    job_name: str, partition: str, run_config: Mapping[str, Any] | None
) -> RunOutcome:
    from radiogenomics_assets.definitions import defs

    with DagsterInstance.get() as instance:
        return execute(defs, instance, job_name, partition, run_config)


def _run_partitions(
    defs: Definitions,
    instance: DagsterInstance,
    job_name: str,
    partitions: Sequence[str],
    run_config: Mapping[str, Any] | None,
    workers: int,
    announce: Callable[[str], None],
) -> list[RunOutcome]:
    outcomes: list[RunOutcome] = []
    if workers <= 1:
        for partition in partitions:
            outcomes.append(execute(defs, instance, job_name, partition, run_config))
            announce(outcomes[-1].line())
        return outcomes
    with ProcessPoolExecutor(max_workers=workers, initializer=_init_worker) as pool:
        futures = [
            pool.submit(_execute_in_worker, job_name, partition, run_config)
            for partition in partitions
        ]
        for future in futures:
            outcomes.append(future.result())
            announce(outcomes[-1].line())
    return outcomes


def materialize_graph(
    defs: Definitions,
    instance: DagsterInstance,
    *,
    workers: int = 1,
    run_configs: RunConfigs | None = None,
    announce: Callable[[str], None] = print,
) -> list[RunOutcome]:
    """Walk the phases; return every run's outcome.

    ``workers > 1`` runs the patient and fold partitions in worker processes, which load the
    code location's own ``definitions.defs`` and ``DagsterInstance.get()`` (``$DAGSTER_HOME``);
    use it only with those. ``run_configs`` maps a job name to its run config.
    """
    run_configs = run_configs or {}
    outcomes: list[RunOutcome] = []
    for phase in PHASES:
        announce(f"== {phase.title}")
        config = run_configs.get(phase.job)
        if phase.partitioned_by == "patients":
            added = register_patients_from_store(instance, defs.resources["store"])
            patients = instance.get_dynamic_partitions(PATIENTS_PARTITIONS)
            announce(f"  {len(patients)} patient partitions ({len(added)} new)")
            ran = _run_partitions(defs, instance, phase.job, patients, config, workers, announce)
        elif phase.partitioned_by == "folds":
            ran = _run_partitions(defs, instance, phase.job, FOLD_NAMES, config, workers, announce)
        else:
            ran = [execute(defs, instance, phase.job, None, config)]
            announce(ran[0].line())
        outcomes += ran
        if phase.must_succeed and not all(o.success for o in ran):
            announce(f"{phase.title} failed; the later phases need it, stopping.")
            break
    return outcomes


def cpu_workers() -> int:
    return max(1, min(2, os.cpu_count() or 1))
