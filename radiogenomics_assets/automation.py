"""New patients at the source: a schedule re-reads the source, a sensor runs only the new ones.

The schedule (off by default: it polls the archive) re-materializes the source tables. When the
imaging manifest changes, the sensor registers a ``patients`` partition for every imaged patient
not yet known and requests the per-patient run of exactly those partitions; existing patients'
partitions are untouched, so the cost of an update grows with the new patients, not the cohort.
"""

# No "from __future__ import annotations": Dagster reads these annotations at definition time.

from dagster import (
    AssetKey,
    DefaultScheduleStatus,
    DefaultSensorStatus,
    EventLogEntry,
    RunRequest,
    ScheduleDefinition,
    SensorEvaluationContext,
    SensorResult,
    asset_sensor,
)

from radiogenomics_assets.jobs import ingest_job, patient_assets_job
from radiogenomics_assets.names import RAW
from radiogenomics_assets.registration import register_patients
from radiogenomics_assets.resources.store import StoreResource
from radiogenomics_assets.store.database import read_table

source_refresh_schedule = ScheduleDefinition(
    name="source_refresh_schedule",
    job=ingest_job,
    cron_schedule="0 3 * * *",
    default_status=DefaultScheduleStatus.STOPPED,
    description="Nightly: re-read the source's clinical labels, RNA-seq and imaging manifest.",
)


@asset_sensor(
    asset_key=AssetKey([RAW, "imaging_manifest"]),
    job=patient_assets_job,
    default_status=DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=60,
    description="After each new manifest: add and run the patients partitions of new patients.",
)
def new_patients_sensor(
    context: SensorEvaluationContext, asset_event: EventLogEntry, store: StoreResource
) -> SensorResult:
    with store.get_connection() as conn:
        manifest = read_table(conn, RAW, "imaging_manifest")
    # Registered here rather than through a SensorResult request so the sensor, the
    # registration job and `make demo` add partitions through one function.
    added = register_patients(manifest, context.instance)
    context.log.info(f"{len(added)} new imaged patient(s): {added[:20]}")
    return SensorResult(
        run_requests=[
            RunRequest(partition_key=patient, run_key=f"{patient}:{asset_event.run_id}")
            for patient in added
        ]
    )
