"""Where one patient's imaging run spends its time: a cProfile of real patient runs, by library.

Materializes the demo cohort's raw tables into a temporary store and Dagster instance (a
persistent SQLite instance with the settings `make demo` writes, so the event log costs what it
costs there), runs one patient warm, then profiles ``--runs`` patient partitions in this process
(one run each, as `make demo`'s workers do) and prints, per run, the wall and CPU seconds and
the profiled time of each library, from the functions' own time (cProfile's ``tottime``):

    .venv/bin/python benchmarks/patient_profile.py [--runs 6] [--cache DIR]

``--cache`` reuses a generated demo cohort (e.g. ``data/files/sources``); otherwise one is
generated first (about a minute on 2 cores). Profiling slows pure-Python code more than native
code, so the library shares are indicative; the wall and CPU columns are measured unprofiled.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import platform
import pstats
import resource
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

#: Library of a profiled function, by the first matching fragment of its file or name.
CATEGORIES = (
    ("torch", "DenseNet (torch)"),
    ("radiogenomics_assets/store/", "DuckDB store"),
    ("duckdb", "DuckDB store"),
    ("sqlalchemy", "Dagster event log (SQLite)"),
    ("sqlite3", "Dagster event log (SQLite)"),
    ("pydicom", "pydicom"),
    ("highdicom", "pydicom"),
    ("SimpleITK", "SimpleITK (NIfTI, resampling)"),
    ("radiomics", "pyradiomics"),
    ("dagster", "Dagster (Python)"),
    ("pandas", "pandas"),
    ("numpy", "numpy"),
)


def category(filename: str, function: str) -> str:
    where = f"{filename} {function}"
    return next((label for fragment, label in CATEGORIES if fragment in where), "other")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=6)
    parser.add_argument("--cache", default=None, help="an already generated demo cohort's root")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="patient-profile-") as scratch:
        os.environ["RADIOGENOMICS_HOME"] = scratch
        os.environ["DAGSTER_HOME"] = str(Path(scratch, "dagster_home"))
        profile_patients(Path(scratch), args.runs, args.cache)


def profile_patients(home: Path, runs: int, cache: str | None) -> None:
    import torch
    from dagster import DagsterInstance, in_process_executor

    from radiogenomics_assets.cli.graph_runner import execute
    from radiogenomics_assets.definitions import build_definitions
    from radiogenomics_assets.defs.instance_config import ensure_dagster_home
    from radiogenomics_assets.defs.registration import register_patients_from_store
    from radiogenomics_assets.defs.resources.source import DemoSourceResource

    torch.set_num_threads(1)  # as in make demo's worker processes
    ensure_dagster_home()
    source = DemoSourceResource(cache_dir=cache or str(home / "files" / "sources"))
    defs = build_definitions(source=source, executor=in_process_executor)
    with DagsterInstance.get() as instance:
        started = time.perf_counter()
        print(execute(defs, instance, "ingest_job").line().strip(), flush=True)
        print(f"raw tables in {time.perf_counter() - started:.0f} s")
        register_patients_from_store(instance, defs.resources["store"], log=lambda _line: None)
        patients = instance.get_dynamic_partitions("patients")[: runs + 1]
        execute(defs, instance, "patient_assets_job", patients[0])  # warm: imports, weights
        print(
            f"{platform.machine()}, {os.cpu_count()} cores, torch threads 1; "
            f"{len(patients) - 1} patient runs after one warm-up"
        )
        print(f"{'patient':<10} {'wall s':>7} {'cpu s':>6}")
        walls, cpus = [], []
        for patient in patients[1:]:
            before, clock = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
            outcome = execute(defs, instance, "patient_assets_job", patient)
            after = resource.getrusage(resource.RUSAGE_SELF)
            walls.append(time.perf_counter() - clock)
            cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
            status = "" if outcome.success else f"  FAILED: {outcome.error}"
            print(f"{patient:<10} {walls[-1]:>7.2f} {cpus[-1]:>6.2f}{status}")
        print(f"{'mean':<10} {sum(walls) / len(walls):>7.2f} {sum(cpus) / len(cpus):>6.2f}")
        profiler = cProfile.Profile()
        profiler.enable()
        for patient in patients[1:]:
            execute(defs, instance, "patient_assets_job", patient)
        profiler.disable()
    by_library: Counter[str] = Counter()
    stats = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    for (filename, _line, function), (_, _, own, _, _) in stats.items():
        by_library[category(filename, function)] += own
    total = sum(by_library.values())
    n_runs = len(patients) - 1
    print(f"\nprofiled (rerun of the same partitions), seconds per run, {n_runs} runs:")
    print(f"{'library':<32} {'s/run':>6} {'share':>6}")
    for label, seconds in by_library.most_common():
        print(f"{label:<32} {seconds / n_runs:>6.2f} {seconds / total:>6.0%}")
    print(f"{'total':<32} {total / n_runs:>6.2f}")


if __name__ == "__main__":
    main()
