"""Registering patients as partitions: the one step between the manifest and per-patient assets."""

from __future__ import annotations

import pandas as pd
from dagster import DagsterInstance

from radiogenomics_assets.ids import validate_patient_id
from radiogenomics_assets.names import PATIENTS_PARTITIONS


def imaged_patients(manifest: pd.DataFrame) -> list[str]:
    """Patients with at least one SEG series: only they can get a nodule mask."""
    ids = manifest.loc[manifest["modality"] == "SEG", "patient_id"].unique()
    return sorted(validate_patient_id(p, where="the imaging manifest") for p in ids)


def new_patients(manifest: pd.DataFrame, instance: DagsterInstance) -> list[str]:
    existing = set(instance.get_dynamic_partitions(PATIENTS_PARTITIONS))
    return [p for p in imaged_patients(manifest) if p not in existing]


def register_patients(manifest: pd.DataFrame, instance: DagsterInstance) -> list[str]:
    """Add a ``patients`` partition for every imaged patient not yet registered; return them."""
    added = new_patients(manifest, instance)
    if added:
        instance.add_dynamic_partitions(PATIENTS_PARTITIONS, added)
    return added


def register_patients_from_store(
    instance: DagsterInstance, store: object | None = None
) -> list[str]:
    """Register patients from the stored ``raw.imaging_manifest`` (the default store if none)."""
    from radiogenomics_assets.resources.store import StoreResource
    from radiogenomics_assets.store.database import read_table

    store = store if isinstance(store, StoreResource) else StoreResource()
    with store.get_connection() as conn:
        manifest = read_table(conn, "raw", "imaging_manifest")
    return register_patients(manifest, instance)
