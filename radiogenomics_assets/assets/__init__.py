"""The Dagster assets, by layer; library code does the work, these modules wire it."""

from __future__ import annotations

from dagster import AssetsDefinition

from radiogenomics_assets.assets.cohort import cohort_assets
from radiogenomics_assets.assets.evaluation import evaluation_assets as _evaluation
from radiogenomics_assets.assets.fusion_gain import fusion_gain_assets
from radiogenomics_assets.assets.genomics import genomics_assets
from radiogenomics_assets.assets.imaging import imaging_assets
from radiogenomics_assets.assets.km import km_assets
from radiogenomics_assets.assets.modeling import model_assets, modeling_assets
from radiogenomics_assets.assets.oracle import oracle_assets
from radiogenomics_assets.assets.provenance import lineage
from radiogenomics_assets.assets.raw import raw_assets, source_imaging
from radiogenomics_assets.names import EVALUATION, RAW
from radiogenomics_assets.partitions import patients_partitions, study_partitions

__all__ = [
    "all_assets",
    "cohort_level_assets",
    "evaluation_assets",
    "fold_assets",
    "ingest_assets",
    "model_assets",
    "patient_assets",
    "source_imaging",
]

all_assets: list[AssetsDefinition] = [
    *raw_assets,
    *cohort_assets,
    *genomics_assets,
    *imaging_assets,
    *modeling_assets,
    *_evaluation,
    *km_assets,
    *fusion_gain_assets,
    *oracle_assets,
    lineage,
]


def _groups(asset: AssetsDefinition) -> set[str]:
    return set(asset.group_names_by_key.values())


#: Assets with one partition per patient: what a new patient needs materialized.
patient_assets = [a for a in all_assets if a.partitions_def == patients_partitions]
#: Assets with one partition per study protocol and cross-validation fold.
fold_assets = [a for a in all_assets if a.partitions_def == study_partitions]
_unpartitioned = [a for a in all_assets if a.partitions_def is None]
ingest_assets = [a for a in _unpartitioned if _groups(a) == {RAW}]
evaluation_assets = [a for a in _unpartitioned if _groups(a) == {EVALUATION}]
cohort_level_assets = [
    a for a in _unpartitioned if a not in ingest_assets and a not in evaluation_assets
]
