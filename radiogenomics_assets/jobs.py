"""Jobs: registering patients from the manifest, and one patient's raw + feature assets."""

# No "from __future__ import annotations": Dagster reads these annotations at definition time.

from dagster import AssetSelection, OpExecutionContext, define_asset_job, job, op

from radiogenomics_assets.assets import patient_assets
from radiogenomics_assets.names import RAW
from radiogenomics_assets.registration import register_patients
from radiogenomics_assets.resources.store import StoreResource
from radiogenomics_assets.store.database import read_table


@op(description="Read raw.imaging_manifest and add a patients partition per imaged patient.")
def register_patients_from_manifest(context: OpExecutionContext, store: StoreResource) -> list[str]:
    with store.get_connection() as conn:
        manifest = read_table(conn, RAW, "imaging_manifest")
    added = register_patients(manifest, context.instance)
    context.log.info(f"registered {len(added)} new patient partition(s): {added[:20]}")
    return added


@job(description="Register the patients partitions from the stored imaging manifest.")
def register_patients_job() -> None:
    register_patients_from_manifest()


patient_assets_job = define_asset_job(
    "patient_assets_job",
    selection=AssetSelection.assets(*patient_assets),
    description="One patient's SEG, CT and imaging features (run per patients partition).",
)
