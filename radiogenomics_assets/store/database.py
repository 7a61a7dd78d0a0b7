"""The DuckDB store: one file, one writer at a time, idempotent table and partition writes.

The writes here also serve the DuckLake backend (:mod:`radiogenomics_assets.store.ducklake`),
where many writers share the store and no lock file is taken.

DuckDB lets one process hold a database file for writing. Dagster's multiprocess executor runs
partitions in parallel processes, so every connection here first takes an exclusive advisory
lock on ``<database>.lock`` (``fcntl.flock``): writers queue instead of failing on DuckDB's own
lock, and each holds it only for one short transaction. Readers never open the file it writes:
they query the copy each change publishes (:mod:`radiogenomics_assets.store.snapshot`).
Identifiers come from asset keys and are validated; values are always bound as parameters.
"""

from __future__ import annotations

import fcntl
import hashlib
import random
import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from radiogenomics_assets.store import snapshot
from radiogenomics_assets.store.ducklake import is_lake

# Quoted, so pyradiomics' mixed-case names ("original_firstorder_10Percentile") keep their case.
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
_TYPE = re.compile(r"^[A-Z]+(\[\d*\])?$")
_FRAME = "_frame_to_write"
#: The types an all-NULL column gets when a frame creates it (see _reconcile_columns).
_UNTYPED = ('"NULL"', "NULL", "INTEGER")


class StoreLockTimeout(TimeoutError):
    """The database stayed locked by another process for longer than the timeout."""


def identifier(name: str) -> str:
    """Return ``name`` double-quoted if it is a plain SQL identifier, else raise."""
    if not _IDENTIFIER.fullmatch(name):
        raise ValueError(f"invalid SQL identifier {name!r}: expected [A-Za-z_][A-Za-z0-9_]*")
    return f'"{name}"'


def qualified(schema: str, table: str) -> str:
    return f"{identifier(schema)}.{identifier(table)}"


@contextmanager
def _file_lock(lock_path: Path, timeout_s: float) -> Iterator[None]:
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "a") as handle:
        deadline = time.monotonic() + timeout_s
        delay = 0.01
        while True:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise StoreLockTimeout(
                        f"{lock_path} stayed locked for {timeout_s:.0f} s by another process"
                    ) from None
                time.sleep(delay)
                delay = min(delay * 2, 0.5)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


@contextmanager
def connect(
    database: Path | str,
    *,
    timeout_s: float = 600.0,
    config: Mapping[str, object] | None = None,
    publish_to: Path | None = None,
) -> Iterator[duckdb.DuckDBPyConnection]:
    """An exclusive connection to the store, serialized across processes.

    ``publish_to``: the path readers query; once the connection closed, still under the lock,
    what it changed is published there (:mod:`radiogenomics_assets.store.snapshot`).

    DuckDB's own file lock can still be held by a process outside this code (a ``duckdb``
    CLI session on the working file, say); that case is retried until ``timeout_s`` and then
    named.

    Raises:
        StoreLockTimeout: the lock was not free within ``timeout_s``.
    """
    database = Path(database)
    database.parent.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + timeout_s
    with _file_lock(database.with_name(database.name + ".lock"), timeout_s):
        if publish_to is not None:
            snapshot.adopt(publish_to, database)
        while True:
            try:
                conn = duckdb.connect(str(database), config=dict(config or {}))
                break
            except duckdb.IOException as error:
                if "lock" not in str(error).lower() or time.monotonic() > deadline:
                    raise StoreLockTimeout(
                        f"{database} is held by a process outside this pipeline ({error}); "
                        "close other DuckDB sessions on it"
                    ) from error
                time.sleep(0.5)
        try:
            yield conn
            written = snapshot.has_unsaved_writes(database)
        finally:
            conn.close()
        if publish_to is not None:
            snapshot.publish(database, publish_to, written=written)


def _select_list(
    frame: pd.DataFrame, column_types: Mapping[str, str], *, fixed_arrays: bool = True
) -> str:
    """The frame's columns, cast to their pinned types.

    ``fixed_arrays=False`` (DuckLake, which stores lists but not fixed-size arrays) pins
    ``FLOAT[1024]`` as the list ``FLOAT[]``: the values read back are the same arrays.
    """
    parts = []
    for column in frame.columns:
        name = identifier(str(column))
        sql_type = column_types.get(str(column))
        if sql_type is None:
            parts.append(name)
        else:
            if not _TYPE.fullmatch(sql_type):
                raise ValueError(f"invalid SQL type {sql_type!r} for column {column!r}")
            if not fixed_arrays:
                sql_type = re.sub(r"\[\d+\]$", "[]", sql_type)
            parts.append(f"CAST({name} AS {sql_type}) AS {name}")
    return ", ".join(parts)


def table_exists(conn: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    row = conn.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = ?",
        [schema, table],
    ).fetchone()
    return bool(row and row[0])


def _holds_no_value(conn: duckdb.DuckDBPyConnection, target: str, column: str) -> bool:
    row = conn.execute(f"SELECT count({identifier(column)}) FROM {target}").fetchone()
    return not (row and row[0])


def _reconcile_columns(
    conn: duckdb.DuckDBPyConnection, schema: str, table: str, select_list: str
) -> None:
    """Make the table accept the frame: add its new columns, type columns that were all NULL.

    A partition whose values of a column are all missing creates that column untyped: DuckDB
    2 gives it the ``NULL`` type, DuckDB 1.5 and DuckLake ``INTEGER``. The first partition with
    real values then gives it their type; the column holds no value yet, so it is dropped and
    added again (DuckLake changes a type only by widening, so ``ALTER ... TYPE`` would not do).
    """
    existing = dict(
        conn.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = ? AND table_name = ?",
            [schema, table],
        ).fetchall()
    )
    described = conn.execute(f"DESCRIBE SELECT {select_list} FROM {_FRAME}").fetchall()
    target = qualified(schema, table)
    for column_name, column_type, *_ in described:
        column = identifier(column_name)
        if column_name not in existing:
            conn.execute(f"ALTER TABLE {target} ADD COLUMN {column} {column_type}")
        elif (
            existing[column_name] != column_type
            and column_type not in _UNTYPED
            and existing[column_name] in _UNTYPED
            and _holds_no_value(conn, target, column_name)
        ):
            conn.execute(f"ALTER TABLE {target} DROP COLUMN {column}")
            conn.execute(f"ALTER TABLE {target} ADD COLUMN {column} {column_type}")


@contextmanager
def transaction(conn: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """One DuckDB transaction: committed on a clean exit, rolled back on any exception.

    A process killed inside it leaves nothing: DuckDB replays only committed transactions.
    A failed ``COMMIT`` has already ended the transaction, so it is not rolled back again.
    """
    conn.execute("BEGIN TRANSACTION")
    try:
        yield
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


#: Attempts of a transaction that lost a DuckLake commit race (see in_transaction).
CONFLICT_ATTEMPTS = 8


def _is_conflict(error: duckdb.Error) -> bool:
    message = str(error).lower()
    return isinstance(error, duckdb.TransactionException) and "transaction conflict" in message


def in_transaction(
    conn: duckdb.DuckDBPyConnection,
    body: Callable[[], None],
    *,
    attempts: int = CONFLICT_ATTEMPTS,
) -> None:
    """Run ``body`` in one :func:`transaction`, again from the start if its commit conflicted.

    DuckLake merges concurrent commits that touch different partitions, but two writers that
    both create the same schema or table (the first partitions of a new asset) conflict, and
    the loser's commit fails. Its whole body runs again, in a new snapshot where the table
    exists. ``body`` must be safe to repeat (partition writes are). The single-writer DuckDB
    file never conflicts.
    """
    delay = 0.05
    for attempt in range(1, attempts + 1):
        try:
            with transaction(conn):
                body()
            return
        except duckdb.Error as error:
            if not _is_conflict(error) or attempt == attempts:
                raise
            time.sleep(delay * (1 + random.random()))  # jitter: racers do not collide again
            delay = min(delay * 2, 2.0)


#: One partition column, or one per dimension of a multi-partition (in dimension-name order).
PartitionColumns = str | Sequence[str]
#: How Dagster joins the dimension keys of a multi-partition key (``fold_1|paper``).
MULTI_KEY_SEPARATOR = "|"


def _partition_columns(partition_column: PartitionColumns) -> list[str]:
    if isinstance(partition_column, str):
        return [partition_column]
    return list(partition_column)


def partition_sql(partition_column: PartitionColumns) -> str:
    """The SQL expression of a row's partition key: the column, or the dimension columns joined
    as Dagster joins a multi-partition key."""
    cast = [f"CAST({identifier(c)} AS VARCHAR)" for c in _partition_columns(partition_column)]
    if len(cast) == 1:
        return cast[0]
    return f"concat_ws('{MULTI_KEY_SEPARATOR}', {', '.join(cast)})"


def replace_partition(
    conn: duckdb.DuckDBPyConnection,
    schema: str,
    table: str,
    frame: pd.DataFrame,
    *,
    partition_column: PartitionColumns,
    partition_keys: Sequence[str],
    column_types: Mapping[str, str] | None = None,
) -> None:
    """Replace the rows of ``partition_keys`` in ``schema.table`` with ``frame``, atomically.

    Rerunning a partition therefore replaces its rows and never duplicates them. Columns the
    frame adds (a newer code version) are added to the table; columns it lacks stay NULL.
    """
    in_transaction(
        conn,
        lambda: write_partition(
            conn,
            schema,
            table,
            frame,
            partition_column=partition_column,
            partition_keys=partition_keys,
            column_types=column_types,
        ),
    )


def write_partition(
    conn: duckdb.DuckDBPyConnection,
    schema: str,
    table: str,
    frame: pd.DataFrame,
    *,
    partition_column: PartitionColumns,
    partition_keys: Sequence[str],
    column_types: Mapping[str, str] | None = None,
) -> None:
    """:func:`replace_partition` inside a :func:`transaction` the caller holds."""
    columns = _partition_columns(partition_column)
    missing = [column for column in columns if column not in frame.columns]
    if missing:
        raise ValueError(
            f"{schema}.{table}: partition column(s) {missing} missing from the output "
            f"columns {list(frame.columns)}"
        )
    keys = frame[columns].astype(str).agg(MULTI_KEY_SEPARATOR.join, axis=1) if len(frame) else []
    stray = set(keys) - set(partition_keys)
    if stray:
        raise ValueError(
            f"{schema}.{table}: rows for partitions {sorted(stray)} outside the partitions "
            f"being written {list(partition_keys)}"
        )
    select_list = _select_list(frame, column_types or {}, fixed_arrays=not is_lake(conn))
    target = qualified(schema, table)
    # Registered inside the caller's transaction: on a failure the rollback drops the view too
    # (an aborted transaction refuses even an unregister).
    conn.register(_FRAME, frame)
    conn.execute(f"CREATE SCHEMA IF NOT EXISTS {identifier(schema)}")
    if table_exists(conn, schema, table):
        _reconcile_columns(conn, schema, table, select_list)
    else:
        conn.execute(f"CREATE TABLE {target} AS SELECT {select_list} FROM {_FRAME} LIMIT 0")
    conn.execute(
        f"DELETE FROM {target} WHERE {partition_sql(columns)} IN (SELECT unnest(?::VARCHAR[]))",
        [list(partition_keys)],
    )
    conn.execute(f"INSERT INTO {target} BY NAME SELECT {select_list} FROM {_FRAME}")
    conn.unregister(_FRAME)


def delete_partitions(
    conn: duckdb.DuckDBPyConnection,
    schema: str,
    table: str,
    partition_column: str,
    partition_keys: Sequence[str],
) -> int:
    """Delete the rows of ``partition_keys`` from ``schema.table``, if any; return the count."""
    if not partition_keys or not table_exists(conn, schema, table):
        return 0
    deleted = conn.execute(
        f"DELETE FROM {qualified(schema, table)} WHERE CAST({identifier(partition_column)} "
        "AS VARCHAR) IN (SELECT unnest(?::VARCHAR[]))",
        [list(partition_keys)],
    ).fetchone()
    return int(deleted[0]) if deleted else 0


def replace_table(
    conn: duckdb.DuckDBPyConnection,
    schema: str,
    table: str,
    frame: pd.DataFrame,
    *,
    column_types: Mapping[str, str] | None = None,
) -> None:
    """Replace the whole of ``schema.table`` with ``frame`` in one transaction."""
    in_transaction(conn, lambda: write_table(conn, schema, table, frame, column_types=column_types))


def write_table(
    conn: duckdb.DuckDBPyConnection,
    schema: str,
    table: str,
    frame: pd.DataFrame,
    *,
    column_types: Mapping[str, str] | None = None,
) -> None:
    """:func:`replace_table` inside a :func:`transaction` the caller holds."""
    select_list = _select_list(frame, column_types or {}, fixed_arrays=not is_lake(conn))
    conn.register(_FRAME, frame)  # dropped by the rollback on a failure, as above
    conn.execute(f"CREATE SCHEMA IF NOT EXISTS {identifier(schema)}")
    conn.execute(
        f"CREATE OR REPLACE TABLE {qualified(schema, table)} AS SELECT {select_list} FROM {_FRAME}"
    )
    conn.unregister(_FRAME)


def read_table(
    conn: duckdb.DuckDBPyConnection,
    schema: str,
    table: str,
    *,
    partition_column: PartitionColumns | None = None,
    partition_keys: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Read a table, or only the rows of some partitions."""
    sql = f"SELECT * FROM {qualified(schema, table)}"
    params: list[object] = []
    if partition_column is not None and partition_keys is not None:
        sql += f" WHERE {partition_sql(partition_column)} IN (SELECT unnest(?::VARCHAR[]))"
        params.append(list(partition_keys))
    return conn.execute(sql, params).fetchdf()


def frame_digest(frame: pd.DataFrame) -> str:
    """A sha256 of a frame's columns, dtypes and values, independent of row index labels.

    Used as the Dagster data version of every table asset, so the same content always gives
    the same version and downstream assets go stale only when content changes.
    """
    digest = hashlib.sha256()
    for column in frame.columns:
        series = frame[column]
        digest.update(f"{column}\x1f{series.dtype}\x1e".encode())
        values = series.to_numpy()
        if values.dtype.kind in "biufcmM":
            digest.update(np.ascontiguousarray(values).tobytes())
        else:
            for value in values:
                if isinstance(value, np.ndarray):
                    digest.update(np.ascontiguousarray(value).tobytes())
                else:
                    digest.update(repr(value).encode())
                digest.update(b"\x1f")
    return digest.hexdigest()
