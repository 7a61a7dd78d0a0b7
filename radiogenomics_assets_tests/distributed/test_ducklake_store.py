"""The DuckLake store backend on a real PostgreSQL catalog: the IO manager, many writers at once,
a writer killed inside its transaction, and the ``ATTACH`` a ``duckdb`` session uses."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
from dagster import DagsterInstance, materialize

from radiogenomics_assets.cli.query import run_sql_file
from radiogenomics_assets.defs.maintenance import store_maintenance_job
from radiogenomics_assets.defs.resources.io_manager import DuckDBTableIOManager
from radiogenomics_assets.defs.resources.store import StoreResource
from radiogenomics_assets.store import ducklake
from radiogenomics_assets.store.database import read_table, replace_partition, replace_table
from radiogenomics_assets.store.ducklake import attach_statements
from radiogenomics_assets_tests.dagster_layer.test_io_manager import scores, summary, vectors
from radiogenomics_assets_tests.distributed.lake_writer import ROWS_PER_PARTITION, partition_rows
from radiogenomics_assets_tests.services import free_port

pytestmark = pytest.mark.integration

WRITER = [sys.executable, "-m", "radiogenomics_assets_tests.distributed.lake_writer"]


def lake_store(catalog: str, tmp_path: Path) -> StoreResource:
    return StoreResource(
        backend="ducklake", ducklake_catalog=catalog, data_path=str(tmp_path / "lake")
    )


def test_the_io_manager_keeps_partitions_arrays_and_late_typed_columns(
    lake_catalog: str, tmp_path: Path
) -> None:
    store = lake_store(lake_catalog, tmp_path)
    resources = {"io_manager": DuckDBTableIOManager(store=store)}
    with DagsterInstance.ephemeral() as instance:
        instance.add_dynamic_partitions("people", ["A", "BB"])
        for key in ["A", "BB", "A"]:  # the rerun of A replaces its rows
            assert materialize(
                [scores], partition_key=key, instance=instance, resources=resources
            ).success
        result = materialize(
            [scores, summary, vectors],
            selection=[summary, vectors],
            instance=instance,
            resources=resources,
        )
    assert dict(result.output_for_node("cohort__summary").itertuples(index=False)) == {
        "A": 2,
        "BB": 3,
    }
    with store.get_connection() as conn:
        stored = read_table(conn, "features", "vectors")
    np.testing.assert_array_equal(stored["vec"].iloc[0], np.array([1.0, 2.0, 3.0], np.float32))


def test_a_column_null_in_the_first_partition_takes_the_type_of_later_ones(
    lake_catalog: str, tmp_path: Path
) -> None:
    with lake_store(lake_catalog, tmp_path).get_connection() as conn:
        first = pd.DataFrame({"fold": ["f1"], "curve": [None], "note": [None]})
        later = pd.DataFrame({"fold": ["f2"], "curve": [[0.9, 0.8]], "note": ["clipped"]})
        replace_partition(conn, "m", "t", first, partition_column="fold", partition_keys=["f1"])
        replace_partition(conn, "m", "t", later, partition_column="fold", partition_keys=["f2"])
        rows = conn.execute("SELECT fold, curve, note FROM m.t ORDER BY fold").fetchall()
    assert rows == [("f1", None, None), ("f2", [0.9, 0.8], "clipped")]


def _stored(store: StoreResource) -> pd.DataFrame:
    with store.get_connection() as conn:
        return read_table(conn, "lake", "rows").sort_values(["key", "row"], ignore_index=True)


def test_concurrent_writers_lose_nothing_and_a_writer_killed_in_its_transaction_leaves_no_trace(
    lake_catalog: str, tmp_path: Path
) -> None:
    store = lake_store(lake_catalog, tmp_path)
    data_path = str(tmp_path / "lake")
    # The partition the killed writer will be replacing, stored once beforehand (version 1).
    subprocess.run([*WRITER, lake_catalog, data_path, "victim", "1"], check=True, timeout=120)
    writers = [
        subprocess.Popen([*WRITER, lake_catalog, data_path, f"w{index}", "8"]) for index in range(4)
    ]
    hanging = subprocess.Popen(
        [*WRITER, lake_catalog, data_path, "h", "2", "--hang", "victim_0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert hanging.stdout is not None
        assert hanging.stdout.readline().strip() == "in transaction"
        hanging.kill()  # SIGKILL: no rollback, no cleanup, mid-transaction
        hanging.wait(timeout=30)
        assert [writer.wait(timeout=300) for writer in writers] == [0, 0, 0, 0]
    finally:
        for process in [*writers, hanging]:
            process.kill()
        hanging.stdout.close()
    keys = ["victim_0", "h_0", "h_1", *(f"w{w}_{i}" for w in range(4) for i in range(8))]
    expected = pd.concat([partition_rows(key) for key in keys]).sort_values(
        ["key", "row"], ignore_index=True
    )
    stored = _stored(store)
    assert not stored.duplicated(["key", "row"]).any()
    assert (stored.groupby("key").size() == ROWS_PER_PARTITION).all()
    # The killed replacement left the earlier rows of its partition exactly as they were.
    pd.testing.assert_frame_equal(stored, expected[stored.columns], check_dtype=False)
    # Its rerun succeeds and replaces them.
    with store.get_connection() as conn:
        replace_partition(
            conn,
            "lake",
            "rows",
            partition_rows("victim_0", version=2),
            partition_column="key",
            partition_keys=["victim_0"],
        )
    after = _stored(store)
    victim = after[after["key"] == "victim_0"].reset_index(drop=True)
    pd.testing.assert_frame_equal(
        victim, partition_rows("victim_0", version=2)[victim.columns], check_dtype=False
    )
    assert len(after) == len(stored)


def _race(stage: str, tmp_path: Path, racers: int) -> list[str]:
    """The writer's arguments that start ``stage`` of ``racers`` writers together."""
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    return ["--race", stage, "--barrier", str(barrier), "--racers", str(racers)]


def test_writers_racing_to_create_one_table_all_land(lake_catalog: str, tmp_path: Path) -> None:
    """The first partitions of a new asset, written at once: DuckLake fails every commit but
    one that creates the table, and ``in_transaction`` runs the losers again."""
    data_path = str(tmp_path / "lake")
    race = ["--table", "race", *_race("write", tmp_path, racers=4)]
    racers = [
        subprocess.Popen([*WRITER, lake_catalog, data_path, f"r{index}", "2", *race])
        for index in range(4)
    ]
    try:
        assert [racer.wait(timeout=300) for racer in racers] == [0, 0, 0, 0]
    finally:
        for racer in racers:
            racer.kill()
    with lake_store(lake_catalog, tmp_path).get_connection() as conn:
        stored = read_table(conn, "lake", "race")
    assert sorted(stored.groupby("key").size().items()) == [
        (f"r{w}_{i}", ROWS_PER_PARTITION) for w in range(4) for i in range(2)
    ]


def test_writers_attaching_a_new_catalog_at_once_all_land(
    lake_catalog: str, tmp_path: Path
) -> None:
    """Workers started together on a fresh deployment: their first ``ATTACH`` races to create
    DuckLake's tables in PostgreSQL, and the losers attach again."""
    data_path = str(tmp_path / "lake")
    attach = _race("attach", tmp_path, racers=6)
    writers = [
        subprocess.Popen([*WRITER, lake_catalog, data_path, f"a{index}", "1", *attach])
        for index in range(6)
    ]
    try:
        assert [writer.wait(timeout=300) for writer in writers] == [0] * 6
    finally:
        for writer in writers:
            writer.kill()
    stored = _stored(lake_store(lake_catalog, tmp_path))
    assert sorted(stored.groupby("key").size().items()) == [
        (f"a{index}_0", ROWS_PER_PARTITION) for index in range(6)
    ]


def test_an_unreachable_catalog_fails_at_once_naming_the_connection(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only the race to initialize a catalog is attached again, not a catalog that is down."""
    waits: list[float] = []
    monkeypatch.setattr(ducklake.time, "sleep", waits.append)
    store = lake_store(f"host=127.0.0.1 port={free_port()} user=nobody dbname=lake", tmp_path)
    refused = r"Unable to connect to Postgres at \"host=127.0.0.1"
    with pytest.raises(duckdb.Error, match=refused), store.get_connection():
        pass
    assert waits == []


@pytest.mark.parametrize(
    ("postgres_says", "is_race"),
    [  # the first is what CI's PostgreSQL 15 answered the loser of the race
        (
            'duplicate key value violates unique constraint "pg_type_typname_nsp_index"',
            True,
        ),
        ('relation "ducklake_metadata" already exists', True),
        ("permission denied for schema public", False),
    ],
)
def test_only_losing_the_race_to_create_the_catalog_is_attached_again(
    postgres_says: str, is_race: bool
) -> None:
    error = duckdb.Error(
        'Failed to initialize DuckLake: Failed to execute query "CREATE TABLE '
        f'"public"."ducklake_metadata"(...);": ERROR:  {postgres_says}'
    )
    assert ducklake._is_initialization_race(error) is is_race


def _parquet_files(data_path: Path) -> set[Path]:
    return {path.resolve() for path in data_path.rglob("*.parquet")}


def test_maintenance_compacts_and_deletes_only_what_no_snapshot_kept_needs(
    lake_catalog: str, tmp_path: Path
) -> None:
    store = lake_store(lake_catalog, tmp_path)
    for version in (1, 2, 3):  # every rerun supersedes the partition's files
        for key in ("a", "b"):
            with store.get_connection() as conn:
                replace_partition(
                    conn,
                    "lake",
                    "rows",
                    partition_rows(key, version),
                    partition_column="key",
                    partition_keys=[key],
                )
    orphan = store.lake_data_path / "lake" / "rows" / "ducklake-orphan.parquet"
    with duckdb.connect() as scratch:  # what a writer killed before its commit leaves
        scratch.execute(f"COPY (SELECT 1 AS x) TO '{orphan}'")
    stored = _stored(store)

    def run(config: dict[str, float]) -> None:
        run_config = {"ops": {"maintain_store": {"config": config}}}
        result = store_maintenance_job.execute_in_process(
            resources={"store": store}, run_config=run_config
        )
        assert result.success
        pd.testing.assert_frame_equal(_stored(store), stored)

    def snapshots() -> int:
        with store.get_connection() as conn:
            return len(conn.execute("FROM ducklake_snapshots('store')").fetchall())

    def referenced() -> set[Path]:
        with store.get_connection() as conn:
            rows = conn.execute(
                "SELECT data_file, delete_file FROM ducklake_list_files('store', 'rows', "
                "schema => 'lake')"
            ).fetchall()
        return {Path(name).resolve() for row in rows for name in row if name}

    kept = snapshots()
    run({})  # the defaults keep a week of snapshots and a day's files: nothing is deleted
    assert orphan.exists() and snapshots() > kept  # the flush and the merge commit snapshots
    run({"keep_snapshot_days": 0, "file_grace_hours": 0})
    assert snapshots() == 1
    assert _parquet_files(store.lake_data_path) == referenced() != set()


def test_a_plain_duckdb_session_and_make_sql_read_the_lake(
    lake_catalog: str, tmp_path: Path
) -> None:
    store = lake_store(lake_catalog, tmp_path)
    with store.get_connection() as conn:
        replace_table(conn, "lake", "notes", pd.DataFrame({"n": [1, 2, 3]}))
    with duckdb.connect() as session:  # what the duckdb CLI does with the README's statements
        for statement in attach_statements(lake_catalog, tmp_path / "lake"):
            session.execute(statement)
        assert session.execute("SELECT sum(n) FROM lake.notes").fetchone() == (6,)
    query = tmp_path / "q.sql"
    query.write_text(
        "SELECT CAST(sum(n) * getvariable('k')::INT AS INTEGER) AS total FROM lake.notes"
    )
    assert run_sql_file(store, query, {"k": "2"}).split() == ["total", "12"]  # `make sql`
