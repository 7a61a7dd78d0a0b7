"""A writer process for the DuckLake tests: replace partitions of one table, one per transaction.

``python -m radiogenomics_assets_tests.distributed.lake_writer CATALOG DATA_PATH WRITER N``
writes partitions ``<WRITER>_0`` … ``<WRITER>_<N-1>`` of ``lake.rows`` (three rows each, values
derived from the key); ``--table`` names another table. ``--race write --barrier DIR --racers
N`` attaches, then waits in DIR until all N writers have, so that they race to create the table;
``--race attach`` waits there before attaching, so that they race to initialize a new catalog.
With ``--hang KEY`` it writes KEY inside a transaction, announces it on stdout and sleeps before
the commit, for the test to kill it there.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from radiogenomics_assets.defs.resources.store import StoreResource
from radiogenomics_assets.store.database import replace_partition, transaction, write_partition

ROWS_PER_PARTITION = 3


def partition_rows(key: str, version: int = 1) -> pd.DataFrame:
    """The rows a writer stores for ``key``: a deterministic function of key and version."""
    seed = sum(key.encode()) + 1000 * version
    return pd.DataFrame(
        {
            "key": [key] * ROWS_PER_PARTITION,
            "row": range(ROWS_PER_PARTITION),
            "value": np.random.default_rng(seed).normal(size=ROWS_PER_PARTITION),
            "version": version,
        }
    )


def meet(barrier: Path, writer: str, racers: int) -> None:
    """Say that ``writer`` is ready in ``barrier``, then wait until all ``racers`` are."""
    (barrier / writer).touch()
    while sum(1 for _ in barrier.iterdir()) < racers:
        time.sleep(0.005)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("catalog")
    parser.add_argument("data_path")
    parser.add_argument("writer")
    parser.add_argument("n", type=int)
    parser.add_argument("--hang", help="write this partition (version 2) and hang before COMMIT")
    parser.add_argument("--table", default="rows", help="the table of lake to write")
    parser.add_argument("--race", choices=["attach", "write"], help="what to start together")
    parser.add_argument("--barrier", type=Path, help="the folder where the racers meet")
    parser.add_argument("--racers", type=int, help="how many writers race")
    args = parser.parse_args(argv)
    if args.race == "attach":
        meet(args.barrier, args.writer, args.racers)
    store = StoreResource(
        backend="ducklake", ducklake_catalog=args.catalog, data_path=args.data_path
    )
    if args.race == "write":
        with store.get_connection():  # attached (half a second) before the start line
            pass
        meet(args.barrier, args.writer, args.racers)
    for index in range(args.n):
        key = f"{args.writer}_{index}"
        with store.get_connection() as conn:
            replace_partition(
                conn,
                "lake",
                args.table,
                partition_rows(key),
                partition_column="key",
                partition_keys=[key],
            )
    if args.hang:
        with store.get_connection() as conn, transaction(conn):
            frame = partition_rows(args.hang, version=2)
            write_partition(
                conn, "lake", "rows", frame, partition_column="key", partition_keys=[args.hang]
            )
            print("in transaction", flush=True)
            time.sleep(600)
    return 0


if __name__ == "__main__":
    sys.exit(main())
