"""Materialize what is missing or stale in the asset graph, phase by phase (`make demo`,
`make refresh` and the slow tests).

The phases follow ``jobs.PHASES``: source tables, patient sync and per-patient runs, cohort, one run
per fold (splits and CoxNet models), one per net fold, one per fold (metrics), evaluation. Before
each phase Dagster's automation conditions, the daemon's own in their on-demand form, say what must
run (``walk_plan``), after the previous phase has run, so a rerun that produced the same content
recomputes nothing below it. The source itself is compared with the raw tables without a run: an
unchanged store launches no run at all. A failed patient partition is reported and the cohort goes
on without it; a failed phase that later phases need stops the walk.

Every run of one walk carries the tags ``radiogenomics/walk`` (one id per walk) and
``radiogenomics/phase`` (the phase's title), by which ``make profile`` finds the latest walk.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Callable, Collection, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from typing import Any

from dagster import AssetKey, DagsterInstance, Definitions

from radiogenomics_assets.cli.celery_runs import run_on_celery
from radiogenomics_assets.cli.runs import QUIET_CONSOLE, RunOutcome, execute
from radiogenomics_assets.cli.walk_plan import PhasePlan, Planned, WalkPlanner
from radiogenomics_assets.cli.walk_worker import ready, run_job, worker_pool
from radiogenomics_assets.defs.assets.raw import source_data_versions
from radiogenomics_assets.defs.executor import celery_broker
from radiogenomics_assets.defs.jobs import PHASES, Phase, job_asset_keys
from radiogenomics_assets.defs.names import (
    CV_FOLDS_PARTITIONS,
    NET_FOLDS_PARTITIONS,
    PATIENTS_PARTITIONS,
    PHASE_TAG,
    WALK_TAG,
)
from radiogenomics_assets.defs.partitions import fold_partition_key
from radiogenomics_assets.defs.registration import register_patients_from_store
from radiogenomics_assets.survival.splits import fold_order
from radiogenomics_assets.survival.study_protocol import NET_PROTOCOL, PROTOCOL_NAMES

RunConfigs = Mapping[str, Mapping[str, Any]]
#: Assets a walk leaves alone: their keys, or a test of (key, partition).
Skip = Collection[AssetKey] | Callable[[AssetKey, str | None], bool]


def torch_threads(index: int, n_steps: int, workers: int, cores: int) -> int:
    """Torch threads for the ``index``-th of ``n_steps`` runs on ``workers`` processes.

    One each, so the workers do not oversubscribe the cores; but the runs of a last, partial
    round (the fifth fold on two workers) would leave cores idle, so they share them.
    """
    tail = n_steps % workers
    if tail and index >= n_steps - tail:
        return max(1, cores // tail)
    return 1


#: One run to launch: a partition (or None) and the assets it must materialize.
Step = tuple[str | None, Sequence[AssetKey]]


class WarmPool:
    """The worker processes of one walk: started once, by the first run the walk launches, and
    kept for every phase, so a walk pays for starting them once; and started in the background,
    so they load the project, torch and Dagster while the walk reads its source tables."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self._pool: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()
        self._warming: threading.Thread | None = None

    def get(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = worker_pool(self.workers)
            return self._pool

    def warm(self) -> None:
        """Start the workers in the background, unless they are started or only one would be."""
        if self.workers > 1 and self._pool is None and self._warming is None:
            # Submitting starts a worker, and waits for the fork server's imports: not here.
            self._warming = threading.Thread(target=self._start_workers, daemon=True)
            self._warming.start()

    def _start_workers(self) -> None:
        pool = self.get()
        for _ in range(self.workers):
            pool.submit(ready)

    def __enter__(self) -> WarmPool:
        return self

    def __exit__(self, *_exc: object) -> None:
        if self._warming is not None:
            self._warming.join()
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)


def _run_steps(
    defs: Definitions,
    instance: DagsterInstance,
    job_name: str,
    steps: Sequence[Step],
    run_config: Mapping[str, Any] | None,
    pool: WarmPool,
    announce: Callable[[str], None],
    tags: Mapping[str, str],
) -> list[RunOutcome]:
    if celery_broker() is not None:
        config = {**QUIET_CONSOLE, **(run_config or {})}
        return run_on_celery(instance, job_name, steps, config, announce, tags)
    outcomes: list[RunOutcome] = []
    # A walk that runs anything runs its later phases in the workers: start them now, beside
    # this run (the source tables'). Not earlier: a walk with nothing to run needs none.
    pool.warm()
    if pool.workers <= 1 or len(steps) == 1:
        for partition, assets in steps:
            outcomes.append(execute(defs, instance, job_name, partition, run_config, assets, tags))
            announce(outcomes[-1].line())
        return outcomes
    cores = os.cpu_count() or 1
    futures = [
        pool.get().submit(
            run_job,
            job_name,
            partition,
            run_config,
            assets,
            tags,
            torch_threads(index, len(steps), pool.workers, cores),
        )
        for index, (partition, assets) in enumerate(steps)
    ]
    for future in futures:
        outcomes.append(future.result())
        announce(outcomes[-1].line())
    return outcomes


def _phase_partitions(phase: Phase, instance: DagsterInstance) -> Sequence[str | None]:
    if phase.partitioned_by == "patients":
        return instance.get_dynamic_partitions(PATIENTS_PARTITIONS)
    if phase.partitioned_by == "folds":
        folds = sorted(instance.get_dynamic_partitions(CV_FOLDS_PARTITIONS), key=fold_order)
        return [str(fold_partition_key(fold, p)) for fold in folds for p in PROTOCOL_NAMES]
    if phase.partitioned_by == "net_folds":
        folds = sorted(instance.get_dynamic_partitions(NET_FOLDS_PARTITIONS), key=fold_order)
        return [str(fold_partition_key(fold, NET_PROTOCOL)) for fold in folds]
    return (None,)


def _selection(defs: Definitions, planned: Sequence[Planned]) -> list[AssetKey]:
    """The planned keys, widened to whole multi-assets (they materialize together)."""
    graph = defs.resolve_asset_graph()
    keys = {key for p in planned for key in graph.get(p.key).assets_def.keys}
    return sorted(keys, key=lambda k: k.to_user_string())


def _announce_plan(planned: Sequence[Planned], announce: Callable[[str], None]) -> None:
    """One line per asset and reason, counting partitions (184 patients stay readable)."""
    groups: dict[tuple[str, str], list[str]] = {}
    for item in planned:
        groups.setdefault((item.key.to_user_string(), item.reason), []).append(item.partition)
    for (key, reason), partitions in groups.items():
        where = "" if partitions == [None] else f" ({len(partitions)} partitions)"
        announce(f"  to run: {key}{where}: {reason}")


def plan_phase(
    defs: Definitions,
    instance: DagsterInstance,
    phase: Phase,
    *,
    force: bool = False,
    source_changed: Sequence[AssetKey] = (),
    skip: Skip = (),
    planner: WalkPlanner | None = None,
) -> PhasePlan:
    """Per partition of ``phase``, what must run now (all of it with ``force``), leaving out
    what ``skip`` names (keys, or ``skip(key, partition)``). Nothing is remembered until the
    plan's ``commit``."""
    planner = planner or WalkPlanner(defs, instance)
    leave = skip if callable(skip) else (lambda key, _partition: key in skip)
    return planner.plan(
        phase.job,
        job_asset_keys(defs, phase.job),
        _phase_partitions(phase, instance),
        force=force,
        forced=dict.fromkeys(source_changed, "the source changed"),
        leave=leave,
    )


def materialize_graph(
    defs: Definitions,
    instance: DagsterInstance,
    *,
    workers: int = 1,
    run_configs: RunConfigs | None = None,
    announce: Callable[[str], None] = print,
    force: bool = False,
    skip: Skip = (),
    scope: str = "all",
) -> list[RunOutcome]:
    """Walk the phases, materializing what is missing or stale; return every run's outcome.

    ``force`` rebuilds everything. ``workers > 1`` runs the patient and fold partitions in worker
    processes, which load the code location's own ``definitions.defs`` and ``DagsterInstance.get()``
    (``$DAGSTER_HOME``); use it only with those. ``run_configs`` maps a job name to its run config.
    ``skip`` names assets to leave alone, or is a ``skip(key, partition)`` test (the neural grid of
    a linear-only demo: a phase whose assets are all named is left out whole); whatever reads them
    runs on what is there. ``scope`` names that choice: walks of one scope share the memory of what
    they planned (``walk_plan``).

    With ``$RADIOGENOMICS_CELERY_BROKER`` set, every run's steps go to Celery workers instead
    (``celery_runs``; ``workers`` is then unused): the runs are rebuilt from the environment,
    so ``defs`` must be the code location's own there too, and ``instance`` persistent.
    """
    run_configs = run_configs or {}
    outcomes: list[RunOutcome] = []
    walk = uuid.uuid4().hex
    planner = WalkPlanner(defs, instance, scope)
    with WarmPool(workers) as pool:
        for phase in PHASES:
            announce(f"== {phase.title}")
            if not callable(skip) and set(job_asset_keys(defs, phase.job)) <= set(skip):
                announce("  left out of this walk")
                continue
            started = time.perf_counter()
            changed: Sequence[AssetKey] = ()
            if phase.job == "ingest_job" and not force:
                changed = _source_changes(defs, planner, announce)
            if phase.partitioned_by == "patients":
                register_patients_from_store(
                    instance, defs.resources["store"], log=lambda line: announce(f"  {line}")
                )
            tags = {WALK_TAG: walk, PHASE_TAG: phase.title}
            ran, planned = _walk_phase(
                defs,
                instance,
                phase,
                planner,
                partial(
                    _run_steps,
                    defs,
                    instance,
                    phase.job,
                    run_config=run_configs.get(phase.job),
                    pool=pool,
                    announce=announce,
                    tags=tags,
                ),
                announce,
                force=force,
                source_changed=changed,
                skip=skip,
            )
            seconds = time.perf_counter() - started
            if not ran:
                announce(f"  nothing missing or stale (checked in {seconds:.1f} s)")
                continue
            outcomes += ran
            announce(
                f"  phase: {len(ran)} runs, {planned} asset partitions planned, {seconds:.1f} s"
            )
            if phase.must_succeed and not all(o.success for o in ran):
                announce(f"{phase.title} failed; the later phases need it, stopping.")
                break
    return outcomes


def _walk_phase(
    defs: Definitions,
    instance: DagsterInstance,
    phase: Phase,
    planner: WalkPlanner,
    run: Callable[[Sequence[Step]], list[RunOutcome]],
    announce: Callable[[str], None],
    *,
    force: bool,
    source_changed: Sequence[AssetKey],
    skip: Skip,
) -> tuple[list[RunOutcome], int]:
    """Plan ``phase``, run the plan, and plan again, until nothing is due that this walk has not
    tried; return the runs and how many asset partitions were planned.

    Only the last plan, made after the runs, is committed: in it the runs' own
    materializations are already handled. A walk is not evaluated every 30 seconds as the
    daemon is: were the next walk first to see them, beside a change that arrived since, Dagster
    would settle the two in favour of the rerun, and the change would go unplanned.
    """
    ran: list[RunOutcome] = []
    tried: set[tuple[AssetKey, str | None]] = set()
    plan = plan_phase(
        defs,
        instance,
        phase,
        force=force,
        source_changed=source_changed,
        skip=skip,
        planner=planner,
    )
    while True:
        due = [
            (partition, [p for p in planned if (p.key, partition) not in tried])
            for partition, planned in plan.steps
        ]
        due = [(partition, planned) for partition, planned in due if planned]
        if not due:
            plan.commit(instance)  # a failed run is planned again: its last run failed
            return ran, len(tried)
        _announce_plan([p for _, planned in due for p in planned], announce)
        ran += run([(partition, _selection(defs, planned)) for partition, planned in due])
        tried |= {(p.key, partition) for partition, planned in due for p in planned}
        plan = plan_phase(defs, instance, phase, skip=skip, planner=planner)


def _source_changes(
    defs: Definitions, planner: WalkPlanner, announce: Callable[[str], None]
) -> list[AssetKey]:
    """Raw tables whose source content differs from their stored data version (no run)."""
    current = {key: planner.latest_data_version(key) for key in job_asset_keys(defs, "ingest_job")}
    if None in current.values():
        return []  # never materialized: the plan runs the ingest anyway
    # Outside a run nothing resolves the resource's EnvVar settings; a missing variable is a
    # configuration error, raised here rather than taken for an unreachable archive below.
    source = defs.resources["source"].process_config_and_initialize()
    try:
        versions = source_data_versions(source, defs.resources["store"])
    except Exception as error:  # an unreachable archive must not stop a refresh of the rest
        announce(f"  could not read the source, raw tables kept as stored: {error}")
        return []
    changed = [key for key, version in versions.items() if current.get(key) != version]
    if changed:
        announce(f"  the source changed: {[k.to_user_string() for k in changed]}")
    return changed


def cpu_workers() -> int:
    return max(1, min(2, os.cpu_count() or 1))
