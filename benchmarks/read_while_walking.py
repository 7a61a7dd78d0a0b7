"""The demo walk with and without users reading the store, and what publishing their copy costs.

Runs ``python -m radiogenomics_assets.cli.demo`` (`make demo`) in a fresh store on the small demo
cohort the whole-graph test walks (``WALK_DEMO``, one CV repeat, alpha by validation;
``--patients N``: the default demo cohort of N patients, about 100 or more so that every fold
keeps comparable pairs), once alone and once while two readers use the store as people do (the
test's readers,
``radiogenomics_assets_tests.dagster_layer.store_readers``): one opens it read-only every 0.2 s
and checks that every model's fold partitions are whole, the other opens it when it appears and
holds that connection to the end. Then, from the Dagster instance, it sums what each run spent
publishing the readers' copy (output metadata ``store_published_s``). Usage (`make bench-reads`)::

    PYTHONPATH=$PWD .venv/bin/python benchmarks/read_while_walking.py [--patients N]
        [--models linear|all]

Both walks run one after the other on the same machine; it shares with whatever else runs there.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from contextlib import nullcontext
from pathlib import Path

from dagster import DagsterInstance, DagsterRunStatus

from radiogenomics_assets_tests.dagster_layer.store_readers import ReaderLogs, StoreReaders
from radiogenomics_assets_tests.demo_fixtures import WALK_DEMO


def walk(
    home: Path, patients: int | None, models: str, *, readers: bool
) -> tuple[float, ReaderLogs]:
    env = {
        **os.environ,
        "RADIOGENOMICS_HOME": str(home),
        "DAGSTER_HOME": str(home / "dagster_home"),
        "RADIOGENOMICS_SOURCE": "demo",
    }
    if patients:
        env["RADIOGENOMICS_DEMO_PATIENTS"] = str(patients)
    else:  # with the whole-graph test's settings: too few patients for an inner CV per fold
        env |= {
            "RADIOGENOMICS_DEMO_CONFIG": json.dumps(WALK_DEMO),
            "RADIOGENOMICS_ALPHA_SELECTION": "validation",
            "RADIOGENOMICS_CV_REPEATS": "1",
        }
    command = [sys.executable, "-m", "radiogenomics_assets.cli.demo", "--models", models]
    store_readers = StoreReaders(home / "radiogenomics.duckdb", home / "readers")
    started = time.perf_counter()
    with store_readers if readers else nullcontext():
        completed = subprocess.run(command, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if completed.returncode != 0:
        sys.stderr.write(completed.stdout[-4000:] + completed.stderr[-4000:])
        raise SystemExit(f"the demo exited with {completed.returncode}")
    return seconds, store_readers.logs()


def publications(dagster_home: Path) -> tuple[int, int, dict[str, list[float]]]:
    """Runs, failed runs, and each run's publication times from its outputs' metadata."""
    per_run: dict[str, list[float]] = defaultdict(list)
    with DagsterInstance.from_config(str(dagster_home)) as instance:
        runs = instance.get_runs()
        for key in instance.get_asset_keys():
            cursor, more = None, True
            while more:  # Dagster hands out at most 10,000 records a call
                page = instance.fetch_materializations(key, limit=10_000, cursor=cursor)
                for record in page.records:
                    metadata = record.asset_materialization.metadata
                    if "store_published_s" in metadata:
                        per_run[record.run_id].append(float(metadata["store_published_s"].value))
                cursor, more = page.cursor, page.has_more
    failed = sum(run.status != DagsterRunStatus.SUCCESS for run in runs)
    return len(runs), failed, per_run


def row(label: str, home: Path, seconds: float, logs: ReaderLogs) -> dict[str, object]:
    runs, failed, per_run = publications(home / "dagster_home")
    times = [t for run in per_run.values() for t in run]
    polls = logs.polls
    return {
        "walk": label,
        "walk s": f"{seconds:.1f}",
        "runs": runs,
        "failed": failed,
        "publications": len(times),
        "publishing s": f"{sum(times):.2f}",
        "% of walk": f"{100 * sum(times) / seconds:.2f}",
        "ms/run": f"{1000 * sum(times) / max(runs, 1):.1f}",
        "ms/publication (max)": f"{1000 * statistics.fmean(times):.1f} ({1000 * max(times):.0f})"
        if times
        else "-",
        "store MiB": f"{(home / 'radiogenomics.duckdb').stat().st_size / 2**20:.1f}",
        "polls ok/failed/incomplete": f"{sum(p['ok'] for p in polls)}/"
        f"{sum(not p['ok'] for p in polls)}/{sum(bool(p.get('incomplete')) for p in polls)}"
        if polls
        else "-",
        "held reads ok": sum(1 for r in logs.held if r.get("ok")) if logs.held else "-",
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=None)
    parser.add_argument("--models", choices=("linear", "all"), default="linear")
    args = parser.parse_args()
    rows = []
    for label, readers in (("alone", False), ("with readers", True)):
        with tempfile.TemporaryDirectory(prefix="read-while-walking-") as folder:
            home = Path(folder)
            seconds, logs = walk(home, args.patients, args.models, readers=readers)
            rows.append(row(label, home, seconds, logs))
    print(
        f"make demo on {args.patients or WALK_DEMO['n_patients']} demo patients, "
        f"models {args.models}; "
        f"{os.cpu_count()} cores; {time.strftime('%Y-%m-%d')}"
    )
    widths = {key: max(len(key), *(len(str(r[key])) for r in rows)) for key in rows[0]}
    print("  ".join(key.ljust(width) for key, width in widths.items()))
    for r in rows:
        print("  ".join(str(r[key]).ljust(width) for key, width in widths.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
