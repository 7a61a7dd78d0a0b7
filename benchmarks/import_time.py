"""How long the code location takes to load, in fresh interpreters.

Dagster loads ``radiogenomics_assets.definitions`` in every webserver, daemon, sensor tick and
run worker process, so its import time is paid many times. Runs ``--statement`` (by default it
imports the module and builds ``defs``, i.e. what Dagster's loader does) ``--repeat`` times in
fresh subprocesses, prints the median and minimum wall seconds, then the ten imports with the
largest cumulative time under ``python -X importtime`` (median over the same number of runs),
and the core count the numbers were taken on. Usage::

    .venv/bin/python benchmarks/import_time.py [--repeat 5] [--statement "import x"]

Run from the repository root (or with ``PYTHONPATH`` naming the checkout to measure).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from collections import defaultdict

LOAD_DEFINITIONS = "from radiogenomics_assets.definitions import defs"


def wall_seconds(statement: str) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", statement], check=True)
    return time.perf_counter() - started


def cumulative_imports(statement: str) -> dict[str, tuple[int, float]]:
    """Module -> (nesting depth, cumulative seconds) from one ``-X importtime`` run."""
    completed = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", statement],
        check=True,
        capture_output=True,
        text=True,
    )
    found: dict[str, tuple[int, float]] = {}
    for line in completed.stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _self_us, cumulative_us, name = line.removeprefix("import time:").split("|")
        depth = (len(name) - len(name.lstrip())) // 2
        found[name.strip()] = (depth, int(cumulative_us) / 1e6)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--statement", default=LOAD_DEFINITIONS)
    args = parser.parse_args()

    walls = [wall_seconds(args.statement) for _ in range(args.repeat)]
    samples: dict[str, list[float]] = defaultdict(list)
    depths: dict[str, int] = {}
    for _ in range(args.repeat):
        for name, (depth, seconds) in cumulative_imports(args.statement).items():
            samples[name].append(seconds)
            depths[name] = depth
    top = sorted(samples, key=lambda name: statistics.median(samples[name]), reverse=True)[:10]

    print(f"statement: {args.statement}")
    print(f"cores: {os.cpu_count()}, runs: {args.repeat}")
    print(f"wall s: median {statistics.median(walls):.2f}, min {min(walls):.2f}")
    print("top 10 cumulative imports (median s, -X importtime; depth 0 = imported by -c):")
    for name in top:
        print(f"  {statistics.median(samples[name]):7.3f}  depth {depths[name]}  {name}")


if __name__ == "__main__":
    main()
