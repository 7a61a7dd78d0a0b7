from __future__ import annotations

import multiprocessing
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from radiogenomics_assets.store.database import (
    connect,
    frame_digest,
    in_transaction,
    read_table,
    replace_partition,
    replace_table,
)


def _rows(patient: str, n: int) -> pd.DataFrame:
    return pd.DataFrame({"patient_id": [patient] * n, "value": np.arange(n, dtype=float)})


def test_rerunning_a_partition_replaces_its_rows(tmp_path: Path) -> None:
    db = tmp_path / "s.duckdb"
    with connect(db) as conn:
        for _ in range(2):
            replace_partition(
                conn, "raw", "t", _rows("A", 3), partition_column="patient_id", partition_keys=["A"]
            )
        replace_partition(
            conn, "raw", "t", _rows("B", 2), partition_column="patient_id", partition_keys=["B"]
        )
        counts = dict(conn.execute("SELECT patient_id, count(*) FROM raw.t GROUP BY 1").fetchall())
    assert counts == {"A": 3, "B": 2}


def test_rows_outside_the_partition_are_refused_and_nothing_changes(tmp_path: Path) -> None:
    db = tmp_path / "s.duckdb"
    with connect(db) as conn:
        replace_partition(
            conn, "raw", "t", _rows("A", 3), partition_column="patient_id", partition_keys=["A"]
        )
        with pytest.raises(ValueError, match=r"rows for partitions \['B'\]"):
            replace_partition(
                conn, "raw", "t", _rows("B", 1), partition_column="patient_id", partition_keys=["A"]
            )
        assert conn.execute("SELECT count(*) FROM raw.t").fetchone() == (3,)


def test_a_failed_insert_rolls_back_the_delete(tmp_path: Path) -> None:
    db = tmp_path / "s.duckdb"
    with connect(db) as conn:
        replace_partition(
            conn, "raw", "t", _rows("A", 3), partition_column="patient_id", partition_keys=["A"]
        )
        bad = _rows("A", 1).assign(value=["not a number"])
        with pytest.raises(Exception, match=r"(?i)conver|cast"):
            replace_partition(
                conn, "raw", "t", bad, partition_column="patient_id", partition_keys=["A"]
            )
        assert conn.execute("SELECT count(*) FROM raw.t").fetchone() == (3,)


def test_fixed_size_array_columns_and_partition_reads(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {"patient_id": ["A", "B"], "vec": [np.ones(4, np.float32), np.zeros(4, np.float32)]}
    )
    with connect(tmp_path / "s.duckdb") as conn:
        replace_table(conn, "features", "v", frame, column_types={"vec": "FLOAT[4]"})
        kind = conn.execute(
            "SELECT data_type FROM information_schema.columns WHERE column_name = 'vec'"
        ).fetchone()
        subset = read_table(
            conn, "features", "v", partition_column="patient_id", partition_keys=["B"]
        )
    assert kind == ("FLOAT[4]",)
    assert subset["patient_id"].tolist() == ["B"]
    assert np.array_equal(subset["vec"].iloc[0], np.zeros(4))


def test_frame_digest_tracks_content_not_index() -> None:
    frame = _rows("A", 3)
    assert frame_digest(frame) == frame_digest(frame.set_axis([7, 8, 9]))
    assert frame_digest(frame) != frame_digest(frame.assign(value=[0.0, 1.0, 2.5]))


def _write_partition(db: str, patient: str) -> None:
    with connect(db) as conn:
        replace_partition(
            conn,
            "raw",
            "t",
            _rows(patient, 50),
            partition_column="patient_id",
            partition_keys=[patient],
        )


def test_parallel_writers_queue_on_the_lock_instead_of_failing(tmp_path: Path) -> None:
    db = str(tmp_path / "s.duckdb")
    patients = [f"P{i}" for i in range(8)]
    # close + join, not the context manager's terminate(): a worker started where SIGTERM is
    # ignored (Dagster maps SIGTERM to SIGINT's handler, and a background shell ignores SIGINT)
    # would never die, and the test would hang.
    pool = multiprocessing.get_context("spawn").Pool(4)
    try:
        pool.starmap(_write_partition, [(db, p) for p in patients])
    finally:
        pool.close()
        pool.join()
    with connect(db) as conn:
        assert conn.execute(
            "SELECT count(DISTINCT patient_id), count(*) FROM raw.t"
        ).fetchone() == (8, 400)


def test_a_column_all_null_in_the_first_partition_takes_the_type_of_later_ones(
    tmp_path: Path,
) -> None:
    with connect(tmp_path / "s.duckdb") as conn:
        first = pd.DataFrame({"fold": ["f1"], "curve": [None], "note": [None]})
        later = pd.DataFrame({"fold": ["f2"], "curve": [[0.9, 0.8]], "note": ["clipped"]})
        replace_partition(conn, "m", "t", first, partition_column="fold", partition_keys=["f1"])
        replace_partition(conn, "m", "t", later, partition_column="fold", partition_keys=["f2"])
        types = dict(conn.execute("SELECT column_name, data_type FROM duckdb_columns()").fetchall())
        rows = conn.execute("SELECT fold, curve, note FROM m.t ORDER BY fold").fetchall()
    assert types["curve"] == "DOUBLE[]" and types["note"] == "VARCHAR"
    assert rows == [("f1", None, None), ("f2", [0.9, 0.8], "clipped")]


def test_a_transaction_that_lost_a_commit_race_runs_again_and_other_errors_do_not(
    tmp_path: Path,
) -> None:
    calls = []

    def body(conn: duckdb.DuckDBPyConnection, error: Exception | None) -> None:
        calls.append(1)
        conn.execute("CREATE TABLE IF NOT EXISTS t (n INTEGER)")
        conn.execute("INSERT INTO t VALUES (?)", [len(calls)])
        if error is not None and len(calls) == 1:
            raise error

    with connect(tmp_path / "s.duckdb") as conn:
        conflict = duckdb.TransactionException("Transaction conflict - table t created already")
        in_transaction(conn, lambda: body(conn, conflict), attempts=3)
        assert conn.execute("SELECT n FROM t").fetchall() == [(2,)]  # the first attempt undone
        calls.clear()
        with pytest.raises(duckdb.TransactionException, match="write-write"):
            in_transaction(conn, lambda: body(conn, duckdb.TransactionException("write-write")))
        assert len(calls) == 1
        assert conn.execute("SELECT n FROM t").fetchall() == [(2,)]
