"""Where the time and memory of a `make demo` went, from the runs Dagster recorded.

    make demo && make profile

reads the runs of the latest walk (the latest ``radiogenomics/walk`` run tag, set by
``graph_runner.materialize_graph``) from the instance at ``$DAGSTER_HOME`` (the Makefile's
``data/dagster_home``). Other runs, e.g. of a store recorded before the runs were tagged:

    DAGSTER_HOME=data/dagster_home .venv/bin/python benchmarks/walk_profile.py --all
    ... benchmarks/walk_profile.py --runs RUN_ID [RUN_ID ...]   (or --job modeling_job, --walk ID)

It prints, per phase (job), its runs, its wall time (first start to last end) and the sum of its
run durations (more than the wall time where runs ran in parallel); the slowest steps over all
partitions (n, median, max, total seconds); and the steps with the largest peak memory:
``peak_rss_mib``, recorded with each stored output by the IO manager, is the process's peak RSS
since the previous output (see ``radiogenomics_assets.memory``), maximum over the step's
partitions. Steps that store nothing through the IO manager have no figure ("n/a").
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

import pandas as pd
from dagster import DagsterEventType, DagsterInstance, RunRecord, RunsFilter

from radiogenomics_assets.defs.names import PHASE_TAG, WALK_TAG
from radiogenomics_assets.memory import PROCESS_LIFETIME

PAGE = 100


def latest_walk(instance: DagsterInstance) -> str | None:
    """The walk tag of the most recently created run that has one."""
    cursor = None
    while True:
        records = instance.get_run_records(limit=PAGE, cursor=cursor)
        for record in records:  # newest first
            if WALK_TAG in record.dagster_run.tags:
                return record.dagster_run.tags[WALK_TAG]
        if len(records) < PAGE:
            return None
        cursor = records[-1].dagster_run.run_id


def select_runs(
    instance: DagsterInstance,
    *,
    walk: str | None = None,
    run_ids: Sequence[str] | None = None,
    job: str | None = None,
    all_runs: bool = False,
) -> list[RunRecord]:
    """The run records to profile: given ids, one job's runs, every run, or one walk's."""
    if run_ids:
        filters = RunsFilter(run_ids=list(run_ids))
    elif job:
        filters = RunsFilter(job_name=job)
    elif all_runs:
        filters = None
    else:
        walk = walk or latest_walk(instance)
        if walk is None:
            return []
        filters = RunsFilter(tags={WALK_TAG: walk})
    return list(instance.get_run_records(filters=filters))


def _runs_frame(records: Sequence[RunRecord]) -> pd.DataFrame:
    rows = [
        {
            "job": r.dagster_run.job_name,
            "phase": r.dagster_run.tags.get(PHASE_TAG, r.dagster_run.job_name),
            "failed": r.dagster_run.is_failure,
            "start": r.start_time,
            "end": r.end_time,
        }
        for r in records
    ]
    frame = pd.DataFrame(rows, columns=["job", "phase", "failed", "start", "end"])
    return frame.astype({"start": float, "end": float}).assign(seconds=lambda f: f.end - f.start)


def phase_frame(records: Sequence[RunRecord]) -> pd.DataFrame:
    """Per job, in the order they started: runs, failed runs, runs that never ended (still
    going, or killed), wall time and summed run time (of the runs that ended)."""
    runs = _runs_frame(records)
    frame = runs.groupby("job").agg(
        phase=("phase", "first"),
        runs=("job", "size"),
        failed=("failed", "sum"),
        unfinished=("end", lambda end: int(end.isna().sum())),
        first_start=("start", "min"),
        wall_s=("end", "max"),
        run_sum_s=("seconds", lambda s: s.sum(min_count=1)),  # NaN while none has ended
    )
    frame["wall_s"] -= frame["first_start"]
    frame = frame.sort_values("first_start").drop(columns="first_start")
    columns = ["phase", "job", "runs", "failed", "unfinished", "wall_s", "run_sum_s"]
    return frame.reset_index()[columns]


def walk_wall_seconds(records: Sequence[RunRecord]) -> float:
    """From the first run's start to the last run's end (planning before the first is not in)."""
    runs = _runs_frame(records)
    return float(runs["end"].max() - runs["start"].min())


def _peaks(instance: DagsterInstance, run_id: str) -> list[dict]:
    connection = instance.get_records_for_run(
        run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION
    )
    rows = []
    for record in connection.records:
        metadata = record.asset_materialization.metadata
        if "peak_rss_mib" in metadata:
            scope = metadata.get("peak_rss_scope")
            rows.append(
                {
                    "step": record.event_log_entry.step_key,
                    "peak_rss_mib": float(metadata["peak_rss_mib"].value),
                    "lifetime": scope is not None and scope.value == PROCESS_LIFETIME,
                }
            )
    return rows


def step_frame(instance: DagsterInstance, records: Sequence[RunRecord]) -> pd.DataFrame:
    """Per step key over the runs: n, median, max and total seconds, and the peak memory
    (NaN where the step stored no output); sorted by total time."""
    times, peaks = [], []
    for record in records:
        run_id = record.dagster_run.run_id
        for stats in instance.get_run_step_stats(run_id):
            if stats.start_time is not None and stats.end_time is not None:
                times.append({"step": stats.step_key, "s": stats.end_time - stats.start_time})
        peaks += _peaks(instance, run_id)
    frame = (
        pd.DataFrame(times, columns=["step", "s"])
        .groupby("step")["s"]
        .agg(n="size", median_s="median", max_s="max", total_s="sum")
    )
    memory = (
        pd.DataFrame(peaks, columns=["step", "peak_rss_mib", "lifetime"])
        .astype({"peak_rss_mib": float})  # numeric even when no run recorded a figure
        .groupby("step")
        .agg(peak_rss_mib=("peak_rss_mib", "max"), lifetime=("lifetime", "any"))
    )
    frame = frame.join(memory)  # a left join: steps that stored no output get NaN
    return frame.sort_values("total_s", ascending=False).reset_index()


def _table(frame: pd.DataFrame) -> str:
    return frame.to_string(index=False, float_format=lambda x: f"{x:.1f}", na_rep="n/a")


def print_profile(
    instance: DagsterInstance, records: Sequence[RunRecord], top: int = 10, label: str = ""
) -> None:
    phases = phase_frame(records)
    steps = step_frame(instance, records)
    print(
        f"{label}{len(records)} runs, wall {walk_wall_seconds(records):.1f} s "
        "(first run's start to last run's end)\n"
    )
    print(_table(phases), end="\n\n")
    columns = ["step", "n", "median_s", "max_s", "total_s", "peak_rss_mib"]
    print(f"The {top} slowest steps, by total seconds over partitions")
    print(_table(steps.head(top)[columns]), end="\n\n")
    by_memory = steps.dropna(subset=["peak_rss_mib"]).nlargest(top, "peak_rss_mib")
    if by_memory.empty:
        print("No step recorded peak_rss_mib (runs from before the IO manager recorded it).")
        return
    print(f"The {top} steps with the largest peak RSS (MiB, max over partitions)")
    print(_table(by_memory[["step", "n", "peak_rss_mib", "total_s"]]))
    print("peak_rss_mib: the process's peak resident memory since the previous stored output,")
    print("interpreter and libraries included; n/a: the step stored no output.")
    if steps["lifetime"].eq(True).any():  # NaN (no figure) is not True
        print("Some figures are whole-process peaks (/proc/self/clear_refs was unavailable).")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--walk", help="a walk id (default: the latest walk)")
    which.add_argument("--runs", nargs="+", metavar="ID", help="these run ids")
    which.add_argument("--job", help="every run of this job")
    which.add_argument("--all", action="store_true", help="every run in the instance")
    parser.add_argument("--top", type=int, default=10, help="rows of the step tables")
    args = parser.parse_args()
    with DagsterInstance.get() as instance:
        records = select_runs(
            instance, walk=args.walk, run_ids=args.runs, job=args.job, all_runs=args.all
        )
        if not records:
            raise SystemExit("no runs selected (no tagged walk yet? try --all or --runs ID ...)")
        walk = {r.dagster_run.tags.get(WALK_TAG) for r in records}
        label = f"walk {walk.pop()}: " if len(walk) == 1 and None not in walk else ""
        print_profile(instance, records, args.top, label)


if __name__ == "__main__":
    main()
