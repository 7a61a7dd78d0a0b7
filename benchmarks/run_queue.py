"""The unattended update at two run-queue limits, side by side: the daemon test's own time.

The daemon test (``test_daemon_update.py``) walks a small demo store, grows the cohort by two
study patients and waits while the daemon refreshes the chain by itself: the patient runs, the
cohort, the fold runs under both protocols, the nets once per fold, the fold metrics, the
evaluation. Each run is its own process, so the queue's limit decides how many run at once. This
runs that module once per limit (Dagster's default of 10, and ours: the core count) and prints
the update's wall time and runs, and the first walk's time apart, as the test prints them.

    .venv/bin/python benchmarks/run_queue.py [--limits 10 default]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from pathlib import Path

from radiogenomics_assets.defs.instance_config import RUN_LIMIT_VARIABLE

REPO_ROOT = Path(__file__).resolve().parents[1]
TEST = "radiogenomics_assets_tests/dagster_layer/test_daemon_update.py"
WALK = re.compile(r"^first walk: ([\d.]+) s$", re.MULTILINE)
UPDATE = re.compile(r"^unattended update: ([\d.]+) s, (\d+) runs$", re.MULTILINE)


def time_daemon_test(limit: str) -> tuple[float, float, int]:
    """(first walk s, unattended update s, runs) of one run of the daemon test's module."""
    env = dict(os.environ)
    env.pop(RUN_LIMIT_VARIABLE, None)
    if limit != "default":
        env[RUN_LIMIT_VARIABLE] = limit
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-m", "slow", "-q", "-s", "-p", "no:cacheprovider", TEST],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    walk, update = WALK.search(done.stdout), UPDATE.search(done.stdout)
    if done.returncode != 0 or walk is None or update is None:
        raise SystemExit(f"the daemon test failed at limit {limit}:\n{done.stdout[-4000:]}")
    return float(walk.group(1)), float(update.group(1)), int(update.group(2))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limits", nargs="+", default=["10", "default"])
    args = parser.parse_args()
    print(f"cores: {os.cpu_count()}")
    print(f"| {RUN_LIMIT_VARIABLE} | unattended update (s) | runs | first walk (s) |")
    print("|---|---|---|---|")
    for limit in args.limits:
        walk, update, runs = time_daemon_test(limit)
        shown = limit if limit != "default" else f"default ({os.cpu_count()})"
        print(f"| {shown} | {update:.1f} | {runs} | {walk:.1f} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
