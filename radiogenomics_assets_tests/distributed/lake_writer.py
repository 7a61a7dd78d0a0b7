"""A writer process for the DuckLake tests: replace partitions of one table, one per transaction.

``python -m radiogenomics_assets_tests.distributed.lake_writer CATALOG DATA_PATH WRITER N``
writes partitions ``<WRITER>_0`` … ``<WRITER>_<N-1>`` of ``lake.rows`` (three rows each, values
derived from the key); ``--table`` names another table, ``--start-at`` waits for a common start
time so that several writers race to create it, ``--attach-at`` waits for one before attaching,
so that they race to initialize a new catalog. With ``--hang KEY`` it writes KEY inside a
transaction, announces it on stdout and sleeps before the commit, for the test to kill it there.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
import pandas as pd

from radiogenomics_assets.resources.store import StoreResource
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("catalog")
    parser.add_argument("data_path")
    parser.add_argument("writer")
    parser.add_argument("n", type=int)
    parser.add_argument("--hang", help="write this partition (version 2) and hang before COMMIT")
    parser.add_argument("--table", default="rows", help="the table of lake to write")
    parser.add_argument("--start-at", type=float, help="wait until this epoch time, to race")
    parser.add_argument("--attach-at", type=float, help="attach at this epoch time, to race")
    args = parser.parse_args(argv)
    if args.attach_at:
        time.sleep(max(0.0, args.attach_at - time.time()))
    store = StoreResource(
        backend="ducklake", ducklake_catalog=args.catalog, data_path=args.data_path
    )
    if args.start_at:
        with store.get_connection():  # attached (half a second) before the start line
            pass
        time.sleep(max(0.0, args.start_at - time.time()))
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
