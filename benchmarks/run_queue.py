"""The unattended update at two run-queue limits, side by side: the daemon test's own time.

The daemon test (``test_full_graph.py``) grows the demo cohort and waits while the daemon
refreshes the chain by itself: two patient runs, the cohort, ten fold runs, the evaluation. Each
fold run is its own process, so the queue's limit decides how many train at once. This runs that
test once per limit (Dagster's default of 10, and ours: the core count) and prints the time of
its update (pytest's ``call`` phase; the module's first walk is its ``setup`` and is shown apart).

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
TEST = (
    "radiogenomics_assets_tests/dagster_layer/test_full_graph.py"
    "::test_the_daemon_refreshes_the_chain_once_after_new_patients"
)
DURATION = re.compile(r"^([\d.]+)s (setup|call)\s+\S+test_the_daemon", re.MULTILINE)


def time_daemon_test(limit: str) -> dict[str, float]:
    env = dict(os.environ)
    env.pop(RUN_LIMIT_VARIABLE, None)
    if limit != "default":
        env[RUN_LIMIT_VARIABLE] = limit
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-m", "slow", "-q", "--durations=0", TEST],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise SystemExit(f"the daemon test failed at limit {limit}:\n{done.stdout[-4000:]}")
    return {phase: float(seconds) for seconds, phase in DURATION.findall(done.stdout)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limits", nargs="+", default=["10", "default"])
    args = parser.parse_args()
    print(f"cores: {os.cpu_count()}")
    print(f"| {RUN_LIMIT_VARIABLE} | unattended update (s) | first walk, setup (s) |")
    print("|---|---|---|")
    for limit in args.limits:
        times = time_daemon_test(limit)
        shown = limit if limit != "default" else f"default ({os.cpu_count()})"
        print(f"| {shown} | {times['call']:.1f} | {times['setup']:.1f} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
