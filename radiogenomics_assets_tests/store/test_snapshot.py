"""The published read snapshot: what readers of the DuckDB store see while the pipeline writes.

Writers here are real processes going through the product's store resource; readers open the
published file with DuckDB read-only, as the ``duckdb`` CLI or a notebook does.
"""

from __future__ import annotations

import multiprocessing
import os
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from dagster import asset, materialize

from radiogenomics_assets.defs.resources.io_manager import DuckDBTableIOManager
from radiogenomics_assets.defs.resources.store import StoreResource
from radiogenomics_assets.store import snapshot
from radiogenomics_assets.store.database import replace_partition

ROWS = 20


def _store(root: Path) -> StoreResource:
    # A short lock wait: a writer held up by a reader fails the test instead of hanging it.
    return StoreResource(database=str(root / "radiogenomics.duckdb"), lock_timeout_s=10)


def _write(root: str, key: str) -> None:
    frame = pd.DataFrame({"part": [key] * ROWS, "value": range(ROWS)})
    with _store(Path(root)).get_connection() as conn:
        replace_partition(
            conn, "features", "t", frame, partition_column="part", partition_keys=[key]
        )


def _write_many(root: str, keys: list[str]) -> None:
    for key in keys:
        _write(root, key)


def _partitions(database: Path) -> dict[str, int]:
    with duckdb.connect(str(database), read_only=True) as conn:
        rows = conn.execute("SELECT part, count(*) FROM features.t GROUP BY part").fetchall()
    return dict(rows)


def _spawn(target, *args) -> multiprocessing.Process:
    process = multiprocessing.get_context("spawn").Process(target=target, args=args)
    process.start()
    return process


def test_a_write_is_published_and_a_read_is_not(tmp_path: Path) -> None:
    store = _store(tmp_path)
    snapshot.take_publication()
    _write(str(tmp_path), "a")
    publication = snapshot.take_publication()
    assert publication is not None and publication.bytes == store.working_path.stat().st_size
    assert store.working_path.parent == tmp_path / snapshot.WORKING_DIR
    assert _partitions(store.database_path) == {"a": ROWS}
    inode = store.database_path.stat().st_ino
    with store.get_connection() as conn:
        conn.execute("SELECT count(*) FROM features.t").fetchall()
    assert snapshot.take_publication() is None
    assert store.database_path.stat().st_ino == inode


def test_readers_polling_during_writes_never_fail_and_see_whole_partitions(
    tmp_path: Path,
) -> None:
    keys = [f"p{i}" for i in range(30)]
    writer = _spawn(_write_many, str(tmp_path), keys)
    database = _store(tmp_path).database_path
    reads, errors = [], []
    while writer.is_alive():
        if database.exists():
            try:
                reads.append(_partitions(database))
            except duckdb.Error as error:
                errors.append(str(error))
    writer.join()
    assert writer.exitcode == 0
    assert not errors, f"{len(errors)} of {len(reads) + len(errors)} reads failed: {errors[0]}"
    assert len(reads) > 1 and all(set(read.values()) == {ROWS} for read in reads)
    assert _partitions(database) == dict.fromkeys(keys, ROWS)


def test_a_reader_held_open_keeps_its_snapshot_and_holds_no_writer_up(tmp_path: Path) -> None:
    _write(str(tmp_path), "a")
    database = _store(tmp_path).database_path
    with duckdb.connect(str(database), read_only=True) as held:
        writer = _spawn(_write_many, str(tmp_path), ["b", "c"])
        writer.join(timeout=60)
        assert writer.exitcode == 0
        assert held.execute("SELECT count(*) FROM features.t").fetchone() == (ROWS,)
    assert _partitions(database) == {"a": ROWS, "b": ROWS, "c": ROWS}


def test_a_write_whose_connection_failed_after_the_commit_is_published_next_time(
    tmp_path: Path,
) -> None:
    store = _store(tmp_path)
    _write(str(tmp_path), "a")
    frame = pd.DataFrame({"part": ["b"] * ROWS, "value": range(ROWS)})
    with pytest.raises(RuntimeError), store.get_connection() as conn:
        replace_partition(
            conn, "features", "t", frame, partition_column="part", partition_keys=["b"]
        )
        raise RuntimeError("after the commit")
    assert _partitions(store.database_path) == {"a": ROWS}
    with store.get_connection() as conn:  # any connection, even one that only reads
        conn.execute("SELECT 1").fetchall()
    assert _partitions(store.database_path) == {"a": ROWS, "b": ROWS}


def _killed_mid_run(database: str) -> None:
    conn = duckdb.connect(database)
    conn.execute("CREATE TABLE t AS SELECT 1 AS x")
    os._exit(0)  # the commit is in the write-ahead log only, as a killed run leaves it


def test_a_store_written_before_snapshots_is_adopted_with_its_log(tmp_path: Path) -> None:
    store = _store(tmp_path)
    process = _spawn(_killed_mid_run, str(store.database_path))
    process.join()
    assert snapshot.has_unsaved_writes(store.database_path)
    with store.get_connection() as conn:
        assert conn.execute("SELECT x FROM t").fetchall() == [(1,)]
    assert store.working_path.exists()
    with duckdb.connect(str(store.database_path), read_only=True) as conn:
        assert conn.execute("SELECT x FROM t").fetchall() == [(1,)]


def test_the_io_manager_notes_each_write_in_the_snapshot(tmp_path: Path) -> None:
    @asset(key_prefix="features")
    def numbers() -> pd.DataFrame:
        return pd.DataFrame({"x": [1, 2]})

    store = _store(tmp_path)
    result = materialize([numbers], resources={"io_manager": DuckDBTableIOManager(store=store)})
    with store.read_connection() as conn:
        noted = conn.execute("SELECT run_id, asset_key, partition_keys FROM store_snapshot")
        assert noted.fetchall() == [(result.run_id, "features/numbers", [])]
    metadata = result.asset_materializations_for_node("features__numbers")[0].metadata
    assert metadata["store_bytes"].value == store.working_path.stat().st_size
