"""The store maintenance job and its schedule on the DuckDB file store (the lake's upkeep is
tested against PostgreSQL in ``distributed/test_ducklake_store.py``)."""

from __future__ import annotations

import pandas as pd
from dagster import DagsterInstance, DefaultScheduleStatus

from radiogenomics_assets.defs.maintenance import store_maintenance_job, store_maintenance_schedule
from radiogenomics_assets.defs.resources.store import StoreResource
from radiogenomics_assets.store.database import read_table, replace_table


def test_on_the_file_store_the_job_checkpoints_and_keeps_every_row(store: StoreResource) -> None:
    rows = pd.DataFrame({"n": [1, 2, 3]})
    with store.get_connection() as conn:
        replace_table(conn, "lake", "notes", rows)
    with DagsterInstance.ephemeral() as instance:
        result = store_maintenance_job.execute_in_process(
            resources={"store": store}, instance=instance
        )
        assert result.success
        logged = [entry.user_message for entry in instance.all_logs(result.run_id)]
    assert any("only needs a CHECKPOINT" in message for message in logged)
    with store.get_connection() as conn:
        pd.testing.assert_frame_equal(read_table(conn, "lake", "notes"), rows, check_dtype=False)


def test_the_schedule_runs_by_default_only_where_the_store_is_a_lake() -> None:
    lake = StoreResource(backend="ducklake", ducklake_catalog="host=db dbname=lake")
    assert store_maintenance_schedule(lake).default_status == DefaultScheduleStatus.RUNNING
    file_store = StoreResource(backend="duckdb")
    assert store_maintenance_schedule(file_store).default_status == DefaultScheduleStatus.STOPPED
