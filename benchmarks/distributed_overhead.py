"""The same demo walk embedded and distributed, side by side: wall time, steps, overhead per step.

Embedded is `make demo --models linear` (SQLite instance, two processes, the DuckDB file).
Distributed puts the instance on PostgreSQL, every step on one of two Celery workers over Redis
(``--pool solo``, started from two working directories) and the store on a DuckLake whose
catalog is in the same PostgreSQL; both servers start from the Debian packages on 127.0.0.1
(`make services-packages`). Both walks build the cohort from scratch in a temporary directory.

    .venv/bin/python benchmarks/distributed_overhead.py [--patients 70]

On one machine the distributed walk cannot be faster: it pays for the broker round trips, the
PostgreSQL event log and the DuckLake catalog on every step. The table says how much per step.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from radiogenomics_assets_tests.distributed.walks import (  # noqa: E402
    DEMO,
    overhead_per_step,
    walk_both,
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=DEMO["n_patients"])
    args = parser.parse_args()
    demo = {**DEMO, "n_patients": args.patients}
    with (
        tempfile.TemporaryDirectory(prefix="distributed-overhead-") as root,
        walk_both(Path(root), demo) as (embedded, distributed),
    ):
        pass
    failed = [o.line() for w in (embedded, distributed) for o in w.outcomes if not o.success]
    print(f"\ncores: {os.cpu_count()}; demo cohort: {demo}; linear models, one CV repeat")
    print(f"{'walk':<42} {'wall s':>8} {'runs':>6} {'steps':>6} {'s/step':>7}")
    for name, each in [
        ("embedded (SQLite, 2 processes, DuckDB)", embedded),
        ("distributed (Postgres, 2 Celery, DuckLake)", distributed),
    ]:
        per_step = each.seconds / max(each.steps, 1)
        print(
            f"{name:<42} {each.seconds:>8.1f} {len(each.outcomes):>6} {each.steps:>6} "
            f"{per_step:>7.2f}"
        )
    print(f"overhead_per_step_s={overhead_per_step(embedded, distributed):.2f}")
    if failed:
        print("failed runs:", *failed, sep="\n  ")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
