"""Raw assets: the source's bytes in the store, one table per source file and per patient series.

Each asset records where its bytes came from and returns a data version derived from them, so
everything downstream is traceable to exact inputs. Fetched bytes are parsed and verified under
a hidden staging name and published, under a name derived from their content, by the IO manager
in the transaction that writes their rows (:mod:`radiogenomics_assets.store.publish`): a refused
or killed run leaves the previous rows and files exactly as they were. The per-patient assets are
partitioned by the dynamic ``patients`` set and fetch only that patient's series: a new patient
never makes an existing patient's partitions stale.
"""

# No "from __future__ import annotations": Dagster reads these annotations at definition time.

import tempfile
from pathlib import Path

import pandas as pd
from dagster import (
    AssetExecutionContext,
    AssetIn,
    AssetKey,
    AssetSpec,
    MetadataValue,
    Output,
    asset,
)

from radiogenomics_assets.defs.assets.outputs import digest_of, table_output
from radiogenomics_assets.defs.assets.versions import with_code_version
from radiogenomics_assets.defs.names import (
    DOWNLOAD_POOL,
    PATIENTS_PARTITIONS,
    RAW,
    SOURCE_IMAGING,
)
from radiogenomics_assets.defs.partitions import patients_partitions
from radiogenomics_assets.defs.resources.source import SourceResource
from radiogenomics_assets.defs.resources.store import StoreResource
from radiogenomics_assets.dicom.headers import read_series_instances
from radiogenomics_assets.ids import validate_patient_id
from radiogenomics_assets.omics.geo import matrix_suffix, read_geo_matrix
from radiogenomics_assets.sources.base import DataSource
from radiogenomics_assets.sources.clinical_csv import read_clinical_labels
from radiogenomics_assets.sources.manifest import (
    choose_segmentation,
    imaged_patients,
    validate_manifest,
)
from radiogenomics_assets.sources.rejections import describe, rejections_frame
from radiogenomics_assets.store.database import frame_digest
from radiogenomics_assets.store.files import sha256_file
from radiogenomics_assets.store.publish import (
    Staged,
    stage_file,
    stage_folder,
    staging_file,
    staging_folder,
)

PATIENT_PARTITION = {"partition_expr": "patient_id"}


def _source(source: SourceResource, store: StoreResource) -> DataSource:
    return source.build(store.files.path("sources"))


def _file_metadata(src: DataSource, staged: Staged) -> dict[str, object]:
    return {
        **src.describe(),
        "source_file": MetadataValue.text(staged.origin or ""),
        "file": staged.relpath,
        "sha256": staged.sha256,
        "bytes": staged.bytes,
    }


@with_code_version
@asset(
    key_prefix=RAW,
    group_name=RAW,
    kinds={"duckdb", "csv"},
    description="The TCIA clinical labels CSV, one row per line, values as written.",
)
def clinical_labels(
    context: AssetExecutionContext, source: SourceResource, store: StoreResource
) -> Output:
    src = _source(source, store)
    origin = src.clinical_origin()
    with staging_file(store.files, RAW, "clinical_labels") as staging:
        src.fetch_clinical_labels(staging, context.log.info)
        parsed = read_clinical_labels(staging, display_name=origin)
        staged = stage_file(store.files, staging, ".csv", origin=origin)
    for record in parsed.rejected:
        context.log.warning(f"clinical row set aside: {describe(record)}")
    return table_output(
        parsed.frame,
        rejections=rejections_frame(parsed.rejected),
        staged=[staged],
        data_version=staged.sha256,
        metadata={
            **_file_metadata(src, staged),
            "n_patients": len(parsed.frame),
            "n_rejected_rows": len(parsed.rejected),
        },
    )


@with_code_version
@asset(
    key_prefix=RAW,
    group_name=RAW,
    kinds={"duckdb"},
    description="The GEO RNA-seq matrix as a long table (patient_id, gene, expression; NA → NULL).",
)
def rnaseq_expression(
    context: AssetExecutionContext, source: SourceResource, store: StoreResource
) -> Output:
    src = _source(source, store)
    origin = src.rnaseq_origin()
    with staging_file(store.files, RAW, "rnaseq_expression") as staging:
        src.fetch_rnaseq_matrix(staging, context.log.info)
        matrix = read_geo_matrix(staging, display_name=origin)
        staged = stage_file(store.files, staging, matrix_suffix(staging), origin=origin)
    for record in matrix.rejected:
        context.log.warning(f"RNA-seq column set aside: {describe(record)}")
    long = matrix.long
    return table_output(
        long,
        rejections=rejections_frame(matrix.rejected),
        staged=[staged],
        data_version=staged.sha256,
        metadata={
            **_file_metadata(src, staged),
            "n_patients": int(long["patient_id"].nunique()),
            "n_genes": int(long["gene"].nunique()),
            "n_missing_values": int(long["expression"].isna().sum()),
            "n_rejected_columns": len(matrix.rejected),
        },
    )


@with_code_version
@asset(
    key_prefix=RAW,
    group_name=RAW,
    kinds={"duckdb"},
    description="One row per CT or SEG series at the source; registers the patients partitions.",
)
def imaging_manifest(
    context: AssetExecutionContext, source: SourceResource, store: StoreResource
) -> Output:
    src = _source(source, store)
    listed = src.imaging_manifest(context.log.info)
    manifest = validate_manifest(listed.frame, source=src.name)
    for line in listed.warnings:
        context.log.warning(line)
    for record in listed.rejections:
        context.log.warning(f"refused: {describe(record)}")
    # New imaged patients get their partitions in this run, before the manifest's new version is
    # news: no automation tick can then see the new cohort without them (the patients sensor
    # runs them; the study tables wait for them, see automation).
    registered = set(context.instance.get_dynamic_partitions(PATIENTS_PARTITIONS))
    new = [p for p in imaged_patients(manifest) if p not in registered]
    if new:
        context.instance.add_dynamic_partitions(PATIENTS_PARTITIONS, new)
    counts = manifest.groupby("modality")["series_uid"].count().to_dict()
    return table_output(
        manifest,
        rejections=rejections_frame(listed.rejections),
        metadata={
            **src.describe(),
            "n_patients": int(manifest["patient_id"].nunique()),
            "n_ct_series": int(counts.get("CT", 0)),
            "n_seg_series": int(counts.get("SEG", 0)),
            "n_refused": len(listed.rejections),
            "n_patients_registered": len(new),
        },
    )


def _fetch_series_rows(
    context: AssetExecutionContext,
    src: DataSource,
    store: StoreResource,
    *,
    patient_id: str,
    series_uid: str,
    modality: str,
) -> tuple[pd.DataFrame, Staged]:
    """Fetch one series into a staging folder under ``files/raw/<modality>/<patient>/<series>/``.

    Every file is checked as a complete DICOM instance of that series and modality there. The
    rows point into ``<series>/<digest>/``, the name the IO manager publishes the folder under
    with them (a digest of the instances' names and sha256s), so a re-fetched series that
    differs never overwrites the files the current rows describe. ``source_file`` says where
    the source got each file (the user's own file for a local tree), so that the imaging steps
    name it rather than the store's renamed copy.
    """
    series_folder = (RAW, modality.lower(), patient_id, series_uid)
    with staging_folder(store.files, *series_folder) as staging:
        origins = src.fetch_series(patient_id, series_uid, staging, context.log.info) or {}
        files = sorted(p for p in staging.iterdir() if p.is_file())
        if not files:
            raise FileNotFoundError(f"patient {patient_id}: series {series_uid} arrived empty")
        # Staged files are named <SOPInstanceUID>.dcm: name them by series and instance.
        headers = read_series_instances(
            files,
            expected_series_uid=series_uid,
            expected_modality=modality,
            expected_patient_id=patient_id,
            name=lambda path: f"instance {path.stem} of {modality} series {series_uid}",
        )
        sha256s = {path.name: sha256_file(path) for path in files}
        staged = stage_folder(
            store.files, staging, sha256s, origin=f"{src.name} series {series_uid}"
        )
    rows = []
    for header in headers:
        name = Path(header.path).name
        rows.append(
            {
                "patient_id": patient_id,
                "series_uid": series_uid,
                "study_uid": header.study_uid,
                "sop_instance_uid": header.sop_instance_uid,
                "instance_number": header.instance_number,
                "frame_of_reference_uid": header.frame_of_reference_uid,
                "referenced_series_uid": header.referenced_series_uid,
                "path": f"{staged.relpath}/{name}",
                "bytes": (staging / name).stat().st_size,
                "sha256": sha256s[name],
                "source_file": origins.get(name),
            }
        )
    return pd.DataFrame(rows), staged


def _series_output(frame: pd.DataFrame, staged: Staged, src: DataSource, **extra: object) -> Output:
    return table_output(
        frame.assign(source=src.name),
        staged=[staged],
        data_version=digest_of(frame["sha256"]),
        metadata={
            **src.describe(),
            "folder": staged.relpath,
            "n_files": len(frame),
            "mb": round(float(frame["bytes"].sum()) / 1e6, 2),
            **extra,
        },
    )


@with_code_version
@asset(
    key_prefix=RAW,
    group_name=RAW,
    partitions_def=patients_partitions,
    deps=[SOURCE_IMAGING],
    metadata=PATIENT_PARTITION,
    pool=DOWNLOAD_POOL,
    kinds={"duckdb", "dicom"},
    description="The patient's nodule DICOM SEG in the file store, one row per file. "
    "Fetched first: its ReferencedSeriesSequence names the only CT series to fetch.",
)
def nodule_segmentation(
    context: AssetExecutionContext, source: SourceResource, store: StoreResource
) -> Output:
    patient_id = validate_patient_id(context.partition_key, where="the patients partitions")
    src = _source(source, store)
    chosen = choose_segmentation(src.patient_series(patient_id, context.log.info), patient_id)
    frame, staged = _fetch_series_rows(
        context, src, store, patient_id=patient_id, series_uid=chosen["series_uid"], modality="SEG"
    )
    return _series_output(
        frame,
        staged,
        src,
        seg_series_uid=chosen["series_uid"],
        seg_series_description=MetadataValue.text(str(chosen["series_description"])),
        referenced_ct_series_uid=MetadataValue.text(str(frame["referenced_series_uid"].iloc[0])),
    )


@with_code_version
@asset(
    key_prefix=RAW,
    group_name=RAW,
    partitions_def=patients_partitions,
    deps=[SOURCE_IMAGING],
    metadata=PATIENT_PARTITION,
    ins={"nodule_segmentation": AssetIn(key=[RAW, "nodule_segmentation"])},
    pool=DOWNLOAD_POOL,
    kinds={"duckdb", "dicom"},
    description="The CT series the patient's SEG references (and only that one), one row per file.",
)
def ct_series(
    context: AssetExecutionContext,
    nodule_segmentation: pd.DataFrame,
    source: SourceResource,
    store: StoreResource,
) -> Output:
    patient_id = validate_patient_id(context.partition_key, where="the patients partitions")
    referenced = nodule_segmentation["referenced_series_uid"].dropna().unique()
    if len(referenced) != 1:
        raise ValueError(
            f"patient {patient_id}: the SEG references {len(referenced)} CT series "
            f"({list(referenced)}), expected exactly one"
        )
    src = _source(source, store)
    frame, staged = _fetch_series_rows(
        context, src, store, patient_id=patient_id, series_uid=str(referenced[0]), modality="CT"
    )
    return _series_output(
        frame.drop(columns=["referenced_series_uid"]),
        staged,
        src,
        ct_series_uid=str(referenced[0]),
    )


def source_data_versions(source: SourceResource, store: StoreResource) -> dict[AssetKey, str]:
    """The data versions the unpartitioned raw tables would get if ingested now.

    Reads the source as the assets do (files into a scratch folder, then hashed) but stores
    nothing and launches no run: `make refresh` compares them with the stored versions.
    """
    src = _source(source, store)
    scratch_root = store.files.path("sources")
    scratch_root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=scratch_root, prefix=".observe-") as scratch:
        clinical, rnaseq = Path(scratch, "clinical"), Path(scratch, "rnaseq")
        src.fetch_clinical_labels(clinical, _quiet)
        src.fetch_rnaseq_matrix(rnaseq, _quiet)
        manifest = validate_manifest(src.imaging_manifest(_quiet).frame, source=src.name)
        return {
            clinical_labels.key: sha256_file(clinical),
            rnaseq_expression.key: sha256_file(rnaseq),
            imaging_manifest.key: frame_digest(manifest),
        }


def _quiet(_message: str) -> None:
    return None


source_imaging = AssetSpec(
    SOURCE_IMAGING,
    group_name=SOURCE_IMAGING.path[0],
    partitions_def=patients_partitions,
    description="A patient's CT and SEG series at the source. Not computed here: recorded as a "
    "runless materialization whose data version is a digest of the patient's manifest rows, so "
    "a corrected series makes only that patient's partitions stale.",
)

raw_assets = [clinical_labels, rnaseq_expression, imaging_manifest, nodule_segmentation, ct_series]
