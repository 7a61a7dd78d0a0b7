"""Jobs, and the order in which `make demo` (or a user) runs them over the whole graph."""

# No "from __future__ import annotations": Dagster reads these annotations at definition time.

from dataclasses import dataclass
from typing import Literal

from dagster import AssetKey, AssetSelection, OpExecutionContext, define_asset_job, job, op

from radiogenomics_assets.assets import (
    cohort_level_assets,
    evaluation_assets,
    fold_assets,
    ingest_assets,
    patient_assets,
)
from radiogenomics_assets.registration import register_patients_from_store
from radiogenomics_assets.resources.store import StoreResource


@op(
    description="Bring the patients partitions in step with raw.imaging_manifest: add new "
    "patients, remove departed ones, record each patient's source version."
)
def register_patients_from_manifest(context: OpExecutionContext, store: StoreResource) -> None:
    # No output: the project's IO manager stores assets only, and the partitions are the result.
    register_patients_from_store(context.instance, store, log=context.log.info)


@job(description="Sync the patients partitions with the stored imaging manifest.")
def register_patients_job() -> None:
    register_patients_from_manifest()


#: The asset keys each asset job materializes (what a phase plans over).
JOB_ASSETS: dict[str, list[AssetKey]] = {}


def _asset_job(name: str, assets: list, description: str):
    JOB_ASSETS[name] = [key for a in assets for key in a.keys]
    return define_asset_job(name, selection=AssetSelection.assets(*assets), description=description)


ingest_job = _asset_job("ingest_job", ingest_assets, "Clinical labels, RNA-seq and manifest.")
patient_assets_job = _asset_job(
    "patient_assets_job", patient_assets, "One patient's SEG, CT and imaging features."
)
asset_jobs = [
    ingest_job,
    patient_assets_job,
    _asset_job("cohort_job", cohort_level_assets, "Outcomes, cohort filter, gene expression."),
    _asset_job("modeling_job", fold_assets, "One fold: splits, every model, fold metrics."),
    _asset_job("evaluation_job", evaluation_assets, "Table 1, Fig. 2 and provenance."),
]


@dataclass(frozen=True)
class Phase:
    title: str
    job: str
    partitioned_by: Literal["patients", "folds"] | None
    #: Later phases need this one: stop the demo if it fails.
    must_succeed: bool


PHASES = (
    Phase("Raw tables from the source", "ingest_job", None, True),
    Phase("Per-patient SEG, CT and imaging features", "patient_assets_job", "patients", False),
    Phase("Cohort and gene expression", "cohort_job", None, True),
    Phase("Fold splits, models and fold metrics", "modeling_job", "folds", True),
    Phase("Table 1, Fig. 2 and provenance", "evaluation_job", None, True),
)
