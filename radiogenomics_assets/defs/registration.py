"""Keeping the ``patients`` partitions in step with the imaging manifest.

Three things can happen to an imaged patient at the source: they arrive (a new partition), they
leave (the partition and their rows go), or their series change (a corrected SEG or CT). The
last is seen through the external asset ``source/patient_imaging``: per patient, a version that
is a digest of that patient's manifest rows (recorded, not computed, by Dagster). The per-patient
raw assets depend on it, so a changed digest is a changed input of exactly that patient's
partitions in Dagster's own terms. Dagster reads an external input's version from two kinds of
event: its automation conditions from the latest materialization, its stale status (the UI's
"stale" badge) from the latest observation. Each version is recorded as both, so the two agree,
the observation first: a run records the input's latest materialization as what it read, and
the stale status counts an observation after that one as a change.

:func:`patient_changes` only reads; the sensor turns its answer into a ``SensorResult``, and
:func:`sync_patients` applies it directly (``make demo``, ``make refresh``, the registration job).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import pandas as pd
from dagster import (
    AssetKey,
    AssetMaterialization,
    AssetObservation,
    AssetRecordsFilter,
    DagsterInstance,
    DataVersion,
)

from radiogenomics_assets.defs.assets import patient_assets
from radiogenomics_assets.defs.names import PATIENTS_PARTITIONS, RAW, SOURCE_IMAGING
from radiogenomics_assets.defs.resources.store import StoreResource
from radiogenomics_assets.sources.manifest import imaged_patients
from radiogenomics_assets.store.database import delete_partitions, read_table

#: The first per-patient asset: a registered patient without it was never run.
FIRST_PATIENT_ASSET = AssetKey([RAW, "nodule_segmentation"])
#: Manifest columns that describe a patient's series; ``source_location`` is left out because a
#: moved cache folder is not a changed patient.
VERSION_COLUMNS = (
    "modality",
    "series_uid",
    "study_uid",
    "referenced_series_uid",
    "instance_count",
    "series_description",
    "size_bytes",
)
#: Dagster's tag for a data version on an asset event.
DATA_VERSION_TAG = "dagster/data_version"


def patient_source_versions(manifest: pd.DataFrame) -> dict[str, str]:
    """Per imaged patient, a digest of their series rows (independent of row order)."""
    versions = {}
    rows = manifest[manifest["patient_id"].isin(imaged_patients(manifest))]
    for patient_id, series in rows.groupby("patient_id", sort=True):
        text = (
            series.loc[:, list(VERSION_COLUMNS)]
            .astype(str)
            .sort_values(["modality", "series_uid"])
            .to_csv(index=False)
        )
        versions[str(patient_id)] = hashlib.sha256(text.encode()).hexdigest()[:16]
    return versions


def observed_versions(instance: DagsterInstance) -> dict[str, str]:
    """The latest recorded source version of every patient that has one.

    Stores made before the versions were materializations recorded them as observations: the
    later of the two counts, so an unchanged patient is not taken for a changed one.
    """
    latest: dict[str, tuple[int, str]] = {}
    for fetch in (instance.fetch_materializations, instance.fetch_observations):
        cursor = None
        while True:  # newest first, a page at a time (Dagster caps one fetch at 10,000)
            page = fetch(
                AssetRecordsFilter(asset_key=SOURCE_IMAGING),
                limit=5_000,
                cursor=cursor,
                ascending=False,
            )
            for record in page.records:
                event = record.event_log_entry.asset_materialization or (
                    record.event_log_entry.asset_observation
                )
                version = event.tags.get(DATA_VERSION_TAG) if event else None
                if event and event.partition and version:
                    newest = latest.get(event.partition)
                    if newest is None or newest[0] < record.storage_id:
                        latest[event.partition] = (record.storage_id, version)
            if not page.has_more:
                break
            cursor = page.cursor
    return {patient: version for patient, (_, version) in latest.items()}


@dataclass(frozen=True)
class PatientChanges:
    """What the manifest says has happened to the registered patients."""

    added: list[str]
    removed: list[str]
    changed: list[str]
    #: Registered and imaged, but never materialized (e.g. a tick failed after registering).
    never_run: list[str]
    #: Source version of every imaged patient, and of those whose observation is not recorded.
    versions: dict[str, str] = field(default_factory=dict)
    to_observe: dict[str, str] = field(default_factory=dict)

    @property
    def to_run(self) -> list[str]:
        """Patients whose per-patient assets must run: new, changed or never run."""
        return sorted({*self.added, *self.changed, *self.never_run})

    @property
    def nothing(self) -> bool:
        return not (self.added or self.removed or self.changed or self.never_run)

    def source_events(self) -> list[AssetMaterialization | AssetObservation]:
        """A runless materialization and observation of ``source/patient_imaging`` per new or
        changed version (see the module docstring)."""
        return [
            event(
                asset_key=SOURCE_IMAGING,
                partition=patient,
                tags={DATA_VERSION_TAG: DataVersion(version).value},
                metadata={"source_version": version},
            )
            for patient, version in sorted(self.to_observe.items())
            for event in (AssetObservation, AssetMaterialization)
        ]

    def summary(self) -> str:
        parts = [
            f"{len(self.added)} new {self.added[:20]}",
            f"{len(self.changed)} changed {self.changed[:20]}",
            f"{len(self.removed)} removed {self.removed[:20]}",
        ]
        if self.never_run:
            parts.append(f"{len(self.never_run)} registered but never run {self.never_run[:20]}")
        return "; ".join(parts)


def patient_changes(manifest: pd.DataFrame, instance: DagsterInstance) -> PatientChanges:
    """Compare the manifest with the registered partitions and the observed source versions."""
    versions = patient_source_versions(manifest)
    registered = set(instance.get_dynamic_partitions(PATIENTS_PARTITIONS))
    observed = observed_versions(instance)
    materialized = instance.get_materialized_partitions(FIRST_PATIENT_ASSET)
    kept = registered & versions.keys()
    return PatientChanges(
        added=sorted(versions.keys() - registered),
        removed=sorted(registered - versions.keys()),
        changed=sorted(p for p in kept if p in observed and observed[p] != versions[p]),
        never_run=sorted(kept - materialized),
        versions=versions,
        to_observe={p: v for p, v in versions.items() if observed.get(p) != v},
    )


def sync_patients(
    manifest: pd.DataFrame,
    instance: DagsterInstance,
    purge: Callable[[Sequence[str]], None],
    log: Callable[[str], None] = print,
) -> PatientChanges:
    """Apply :func:`patient_changes` to the instance directly (no run is launched).

    ``purge`` deletes the removed patients' rows from every per-patient table.
    """
    changes = patient_changes(manifest, instance)
    if changes.added:
        instance.add_dynamic_partitions(PATIENTS_PARTITIONS, changes.added)
    for event in changes.source_events():
        instance.report_runless_asset_event(event)
    if changes.removed:
        purge(changes.removed)
        for patient in changes.removed:
            instance.delete_dynamic_partition(PATIENTS_PARTITIONS, patient)
    if not changes.nothing:
        log(f"patients: {changes.summary()}")
    return changes


def register_patients_from_store(
    instance: DagsterInstance,
    store: StoreResource | None = None,
    log: Callable[[str], None] = print,
) -> list[str]:
    """Sync the patients with the stored ``raw.imaging_manifest``; return those to run: new
    (the ingest run registers them), changed, or never run."""
    store = store or StoreResource()
    with store.get_connection() as conn:
        manifest = read_table(conn, RAW, "imaging_manifest")
    return sync_patients(manifest, instance, lambda ids: purge_patients(store, ids), log).to_run


def purge_patients(store: StoreResource, patients: Sequence[str]) -> None:
    """Delete ``patients``' rows from every per-patient table of ``store``."""
    with store.get_connection() as conn:
        for assets_def in patient_assets:
            for key in assets_def.keys:
                schema, table = key.path
                delete_partitions(conn, schema, table, "patient_id", patients)
