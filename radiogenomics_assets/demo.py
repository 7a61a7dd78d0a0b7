"""`make demo`: materialize the whole asset graph on the offline demo cohort, then say where it is.

Runs go into the persistent Dagster instance at ``$DAGSTER_HOME``, so `make ui` afterwards shows
every materialization with its lineage and metadata. Per-patient partitions run in a small
process pool; a patient whose partition fails is reported and the rest of the cohort goes on.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

from radiogenomics_assets.config import radiogenomics_home
from radiogenomics_assets.instance_config import ensure_dagster_home

# Every event still goes to the instance (and the UI); the terminal shows only errors.
QUIET_CONSOLE = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}


@dataclass(frozen=True)
class RunOutcome:
    job: str
    partition: str | None
    success: bool
    seconds: float
    error: str | None = None


def run_job(job_name: str, partition: str | None = None) -> RunOutcome:
    """Execute one job (one partition) in this process against the persistent instance."""
    from dagster import DagsterInstance

    from radiogenomics_assets.definitions import defs

    started = time.perf_counter()
    with DagsterInstance.get() as instance:
        result = defs.resolve_job_def(job_name).execute_in_process(
            instance=instance,
            partition_key=partition,
            raise_on_error=False,
            run_config=QUIET_CONSOLE,
        )
    error = None
    if not result.success:
        failures = [e for e in result.all_events if e.is_step_failure]
        error = "; ".join(f"{e.step_key}: {_root_cause(e)}" for e in failures) or "run failed"
    return RunOutcome(job_name, partition, result.success, time.perf_counter() - started, error)


def _root_cause(event) -> str:
    """The user's exception of a failed step (Dagster wraps it in one of its own)."""
    error = event.step_failure_data.error
    error = error.cause or error
    return error.message.strip()


def _announce(outcome: RunOutcome) -> None:
    where = f"[{outcome.partition}]" if outcome.partition else ""
    status = "ok" if outcome.success else f"FAILED: {outcome.error}"
    print(f"  {outcome.job}{where}: {status} ({outcome.seconds:.1f} s)", flush=True)


def _worker_init() -> None:
    # Two processes on two cores: one thread each keeps torch from oversubscribing.
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import torch

    torch.set_num_threads(1)


def run_partitions(job_name: str, partitions: Sequence[str], workers: int) -> list[RunOutcome]:
    if workers <= 1:
        outcomes = []
        for partition in partitions:
            outcomes.append(run_job(job_name, partition))
            _announce(outcomes[-1])
        return outcomes
    with ProcessPoolExecutor(max_workers=workers, initializer=_worker_init) as pool:
        outcomes = []
        for outcome in pool.map(run_job, [job_name] * len(partitions), partitions):
            _announce(outcome)
            outcomes.append(outcome)
        return outcomes


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    args = parser.parse_args(argv)

    os.environ.setdefault("RADIOGENOMICS_SOURCE", "demo")
    dagster_home = ensure_dagster_home()
    home = radiogenomics_home()
    from dagster import DagsterInstance

    from radiogenomics_assets.jobs import PHASES
    from radiogenomics_assets.partitions import FOLD_NAMES
    from radiogenomics_assets.registration import register_patients_from_store

    started = time.perf_counter()
    failures: list[RunOutcome] = []
    from radiogenomics_assets.jobs import asset_jobs

    available = {j.name for j in asset_jobs}
    for phase in PHASES:
        if phase.job not in available:
            continue
        print(f"== {phase.title}", flush=True)
        if phase.partitioned_by == "patients":
            with DagsterInstance.get() as instance:
                added = register_patients_from_store(instance)
                patients = instance.get_dynamic_partitions("patients")
            print(f"  {len(patients)} patient partitions ({len(added)} new)", flush=True)
            outcomes = run_partitions(phase.job, patients, args.workers)
        elif phase.partitioned_by == "folds":
            outcomes = run_partitions(phase.job, FOLD_NAMES, 1)
        else:
            outcomes = [run_job(phase.job)]
            _announce(outcomes[0])
        failures += [o for o in outcomes if not o.success]
        if phase.must_succeed and any(not o.success for o in outcomes):
            print(f"\n{phase.title} failed; stopping.", file=sys.stderr)
            return 1

    print(f"\nDone in {time.perf_counter() - started:.0f} s.")
    if failures:
        print(f"{len(failures)} run(s) failed (see above); the rest of the graph is materialized.")
    database = home / "radiogenomics.duckdb"
    print(f"DuckDB store:   {database}")
    print(f"File store:     {home / 'files'}")
    print(f"Dagster home:   {dagster_home}")
    print("Open the UI:    make ui   (then http://127.0.0.1:3000)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
