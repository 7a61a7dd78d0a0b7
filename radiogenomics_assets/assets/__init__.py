"""The Dagster assets, by layer; library code does the work, these modules wire it."""

from __future__ import annotations

from dagster import AssetsDefinition

from radiogenomics_assets.assets.cohort import cohort_assets
from radiogenomics_assets.assets.genomics import genomics_assets
from radiogenomics_assets.assets.raw import raw_assets
from radiogenomics_assets.partitions import patients_partitions

all_assets: list[AssetsDefinition] = [*raw_assets, *cohort_assets, *genomics_assets]

#: Assets with one partition per patient: what a new patient needs materialized.
patient_assets: list[AssetsDefinition] = [
    a for a in all_assets if a.partitions_def == patients_partitions
]
