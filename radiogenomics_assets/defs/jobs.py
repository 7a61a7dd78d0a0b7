"""Jobs, and the order in which `make demo` (or a user) runs them over the whole graph."""

# No "from __future__ import annotations": Dagster reads these annotations at definition time.

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from dagster import (
    AssetKey,
    AssetsDefinition,
    AssetSelection,
    Definitions,
    OpExecutionContext,
    define_asset_job,
    job,
    op,
)

from radiogenomics_assets.defs.assets import Stage, stage_of
from radiogenomics_assets.defs.registration import register_patients_from_store
from radiogenomics_assets.defs.resources.store import StoreResource


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


#: Each asset job and the stage of the graph it materializes (one partition of it per run).
JOB_STAGES: dict[str, Stage] = {
    "ingest_job": "ingest",
    "patient_assets_job": "patients",
    "cohort_job": "cohort",
    "modeling_job": "folds",
    "net_job": "nets",
    "fold_metrics_job": "fold_metrics",
    "evaluation_job": "evaluation",
}
JOB_DESCRIPTIONS = {
    "ingest_job": "Clinical labels, RNA-seq and manifest.",
    "patient_assets_job": "One patient's SEG, CT and imaging features.",
    "cohort_job": "Outcomes, cohort filter, gene expression, study-level imaging tables.",
    "modeling_job": "One fold under one protocol: splits and the CoxNet models.",
    "net_job": "One fold's neural nets (trained once, for every protocol).",
    "fold_metrics_job": "One fold under one protocol: every model's metrics.",
    "evaluation_job": "Table 1, Fig. 2 and provenance.",
}


def _asset_job(name: str, assets: Sequence[AssetsDefinition]):
    staged = [a for a in assets if stage_of(a) == JOB_STAGES[name]]
    return define_asset_job(
        name, selection=AssetSelection.assets(*staged), description=JOB_DESCRIPTIONS[name]
    )


def build_asset_jobs(assets: Sequence[AssetsDefinition]) -> list:
    """Every asset job over ``assets`` (the study's graph); the schedule and the patients
    sensor name theirs, so a study without imaging has an empty patients job."""
    return [_asset_job(name, assets) for name in JOB_STAGES]


def job_asset_keys(defs: Definitions, job_name: str) -> list[AssetKey]:
    """The keys ``job_name`` materializes in ``defs`` (what a phase of a walk plans over)."""
    assets = [a for a in defs.assets or () if isinstance(a, AssetsDefinition)]
    return [key for a in assets if stage_of(a) == JOB_STAGES[job_name] for key in a.keys]


@dataclass(frozen=True)
class Phase:
    title: str
    job: str
    partitioned_by: Literal["patients", "folds", "net_folds"] | None
    #: Later phases need this one: stop the demo if it fails.
    must_succeed: bool


PHASES = (
    Phase("Raw tables from the source", "ingest_job", None, True),
    Phase("Per-patient SEG, CT and imaging features", "patient_assets_job", "patients", False),
    Phase("Cohort and gene expression", "cohort_job", None, True),
    Phase("Fold splits and CoxNet models", "modeling_job", "folds", True),
    Phase("Neural nets, once per fold for every protocol", "net_job", "net_folds", True),
    Phase("Fold metrics of every model", "fold_metrics_job", "folds", True),
    Phase("Table 1, Fig. 2 and provenance", "evaluation_job", None, True),
)
