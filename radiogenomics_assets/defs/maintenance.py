"""Weekly store upkeep: DuckLake's maintenance, which nothing else runs.

Every partition write to a DuckLake commits a snapshot and writes a small file (or inlines
its rows in the catalog); a writer killed before its commit leaves orphaned files. Left alone,
the catalog and the data path only grow. ``store_maintenance_job`` runs
:func:`~radiogenomics_assets.store.ducklake.maintain`; on the DuckDB file store it only
checkpoints. Its schedule is on by default where the store is a lake.
"""

# No "from __future__ import annotations": Dagster reads these annotations at definition time.

from datetime import timedelta

from dagster import (
    Config,
    DefaultScheduleStatus,
    OpExecutionContext,
    ScheduleDefinition,
    job,
    op,
)
from pydantic import Field

from radiogenomics_assets.defs.resources.store import StoreResource
from radiogenomics_assets.store import ducklake

#: Sundays, after the nightly re-read and retraining.
STORE_MAINTENANCE_CRON = "0 6 * * 0"


class MaintenanceConfig(Config):
    keep_snapshot_days: float = Field(
        default=7.0, ge=0, description="Time travel reaches back this far; older snapshots expire."
    )
    file_grace_hours: float = Field(
        default=24.0,
        ge=0,
        description="Unreferenced and orphaned files are deleted once this old: longer than "
        "any transaction or query that may still use them.",
    )


@op(description="Flush inlined rows, merge small files, expire old snapshots, delete old files.")
def maintain_store(
    context: OpExecutionContext, config: MaintenanceConfig, store: StoreResource
) -> None:
    with store.get_connection() as conn:
        if store.store_backend != "ducklake":
            conn.execute("CHECKPOINT")
            context.log.info(f"{store.location}: the DuckDB file store only needs a CHECKPOINT")
            return
        done = ducklake.maintain(
            conn,
            keep_snapshots=timedelta(days=config.keep_snapshot_days),
            file_grace=timedelta(hours=config.file_grace_hours),
        )
    context.log.info(
        f"{store.location}: " + ", ".join(f"{name} {count}" for name, count in done.items())
    )


@job(description="Upkeep of the store (DuckLake: flush, merge, expire, delete old files).")
def store_maintenance_job() -> None:
    maintain_store()


def store_maintenance_schedule(store: StoreResource) -> ScheduleDefinition:
    """Weekly; running by default only where the store is a lake (the file store needs none)."""
    on = store.store_backend == "ducklake"
    return ScheduleDefinition(
        name="store_maintenance_schedule",
        job=store_maintenance_job,
        cron_schedule=STORE_MAINTENANCE_CRON,
        default_status=DefaultScheduleStatus.RUNNING if on else DefaultScheduleStatus.STOPPED,
        description="Weekly: DuckLake upkeep (store_maintenance_job).",
    )
