"""Step times of the recorded runs of one job, from the Dagster instance at ``$DAGSTER_HOME``.

After ``make demo`` (whose runs are recorded in ``data/dagster_home``):

    DAGSTER_HOME=data/dagster_home .venv/bin/python benchmarks/step_times.py modeling_job

prints, per step, the median, maximum and sum of its wall time over the job's runs, then the
sum per estimator family of the model steps (CoxNet against the neural nets).
"""

from __future__ import annotations

import argparse
import statistics
from collections import defaultdict

from dagster import DagsterInstance, RunsFilter

from radiogenomics_assets.names import MODELING
from radiogenomics_assets.survival.registry import MODEL_REGISTRY


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("job", nargs="?", default="modeling_job")
    args = parser.parse_args()
    family = {f"{MODELING}__{spec.name}": spec.estimator for spec in MODEL_REGISTRY}
    durations: dict[str, list[float]] = defaultdict(list)
    with DagsterInstance.get() as instance:
        runs = instance.get_runs(RunsFilter(job_name=args.job))
        for run in runs:
            for stats in instance.get_run_step_stats(run.run_id):
                if stats.start_time and stats.end_time:
                    durations[stats.step_key].append(stats.end_time - stats.start_time)
    print(f"{len(runs)} runs of {args.job}")
    print(f"{'step':<45} {'median s':>9} {'max s':>8} {'sum s':>8}")
    for step, values in sorted(durations.items(), key=lambda item: -sum(item[1])):
        print(
            f"{step:<45} {statistics.median(values):>9.1f} {max(values):>8.1f} {sum(values):>8.1f}"
        )
    by_family: dict[str, float] = defaultdict(float)
    for step, values in durations.items():
        by_family[family.get(step, "other")] += sum(values)
    print("sum per family: " + ", ".join(f"{k} {v:.0f} s" for k, v in sorted(by_family.items())))


if __name__ == "__main__":
    main()
