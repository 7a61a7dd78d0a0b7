"""Per-patient imaging feature assets: the nodule on its CT grid, PyRadiomics, DenseNet-121.

All three are partitioned by patient and read only that patient's rows and files, so one
patient's rerun touches only that patient and the cost per run does not grow with the cohort.
"""

# No "from __future__ import annotations": Dagster reads these annotations at definition time.

import json
import os
import re
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

import pandas as pd
from dagster import AssetExecutionContext, AssetIn, MetadataValue, Output, asset

from radiogenomics_assets.defs.assets.outputs import table_output
from radiogenomics_assets.defs.assets.versions import with_code_version
from radiogenomics_assets.defs.names import FEATURES, RAW
from radiogenomics_assets.defs.partitions import patients_partitions
from radiogenomics_assets.defs.resources.features import DenseNetSettings, RadiomicsSettings
from radiogenomics_assets.defs.resources.source import SourceResource, source_kind
from radiogenomics_assets.defs.resources.store import StoreResource
from radiogenomics_assets.dicom.errors import DicomValidationError
from radiogenomics_assets.dicom.headers import read_series_instances
from radiogenomics_assets.dicom.nifti import store_nodule_volume
from radiogenomics_assets.dicom.seg import decode_segmentation
from radiogenomics_assets.dicom.series import read_ct_series
from radiogenomics_assets.features.densenet import FEATURE_DIM
from radiogenomics_assets.features.densenet_weights import (
    RandomWeightsWarning,
    load_densenet121,
    refuse_random_fallback,
)
from radiogenomics_assets.features.rows import densenet_row, radiomics_row
from radiogenomics_assets.ids import validate_patient_id

PATIENT_PARTITION = {"partition_expr": "patient_id"}


def _files(store: StoreResource, rows: pd.DataFrame) -> list:
    return [store.files.root / path for path in rows["path"]]


def _source_files(rows: pd.DataFrame) -> list:
    # Rows stored before raw series recorded source_file have none: their copy is all we know.
    if "source_file" not in rows.columns:
        return [None] * len(rows)
    return [f if isinstance(f, str) else None for f in rows["source_file"]]


def _series_source(rows: pd.DataFrame) -> str | None:
    """The user's series in a few words: its file, its folder(s) on disk, or its first file."""
    files = sorted(f for f in _source_files(rows) if f)
    if not files:
        return None
    if len(files) == 1:
        return files[0]
    if all(os.path.isabs(f) for f in files):
        return ", ".join(sorted({os.path.dirname(f) for f in files}))
    return f"{files[0]} and {len(files) - 1} more"


def _for_the_user(
    error: DicomValidationError,
    patient_id: str,
    store: StoreResource,
    series: Mapping[str, pd.DataFrame],
) -> DicomValidationError:
    """``error`` with each store copy it names replaced by the user's file, and the patient.

    A message naming no file gets the user's series (``series``: modality -> rows) appended.
    """
    users = {
        str(store.files.root / path): source
        for rows in series.values()
        for path, source in zip(rows["path"], _source_files(rows), strict=True)
        if source
    }
    message, renamed = str(error), 0
    if users:
        # Longest first, so that no stored path is replaced inside a longer one.
        stored = re.compile("|".join(map(re.escape, sorted(users, key=len, reverse=True))))
        message, renamed = stored.subn(lambda match: users[match.group()], message)
    if not renamed:
        wheres = [
            f"{modality} series {rows['series_uid'].iloc[0]} from {where}"
            for modality, rows in series.items()
            if (where := _series_source(rows))
        ]
        if wheres:
            message += f" ({'; '.join(wheres)})"
    if not re.search(rf"patient {re.escape(patient_id)}(?![\w-])", message):
        message = f"patient {patient_id}: {message}"
    # The same type, so callers still tell the kinds apart; the cause keeps the store's path.
    return type(error)(message)


@contextmanager
def _naming_the_users_files(
    patient_id: str, store: StoreResource, **series: pd.DataFrame
) -> Iterator[None]:
    """Errors about the store's copies of ``series`` name the files the user gave instead.

    The store renames each instance ``files/raw/<modality>/<patient>/<series>/<digest>/
    <SOPInstanceUID>.dcm``: a name the user never saw, which would not lead them to the file
    to fix.
    """
    try:
        yield
    except DicomValidationError as error:
        raise _for_the_user(error, patient_id, store, series) from error


@with_code_version
@asset(
    key_prefix=FEATURES,
    group_name=FEATURES,
    partitions_def=patients_partitions,
    metadata=PATIENT_PARTITION,
    ins={
        "ct_series": AssetIn(key=[RAW, "ct_series"]),
        "nodule_segmentation": AssetIn(key=[RAW, "nodule_segmentation"]),
    },
    kinds={"duckdb", "nifti"},
    description="The SEG decoded onto its CT's grid after whole-series validation; CT (HU) and "
    "mask NIfTIs in the file store; geometry, voxel count and nodule volume in mm³.",
)
def nodule_volume(
    context: AssetExecutionContext,
    store: StoreResource,
    ct_series: pd.DataFrame,
    nodule_segmentation: pd.DataFrame,
) -> Output[pd.DataFrame]:
    patient_id = validate_patient_id(context.partition_key, where="the patients partitions")
    ct_uid = str(ct_series["series_uid"].iloc[0])
    with _naming_the_users_files(patient_id, store, CT=ct_series):
        ct = read_ct_series(
            _files(store, ct_series), patient_id=patient_id, expected_series_uid=ct_uid
        )
    seg_files = _files(store, nodule_segmentation)
    seg_uid = str(nodule_segmentation["series_uid"].iloc[0])
    # SEG errors may name the CT's files too (a grid or reference that does not match them).
    with _naming_the_users_files(patient_id, store, SEG=nodule_segmentation, CT=ct_series):
        read_series_instances(seg_files, expected_series_uid=seg_uid, expected_modality="SEG")
        if len(seg_files) != 1:
            raise ValueError(
                f"patient {patient_id}: SEG series {seg_uid} has {len(seg_files)} instances; "
                "one segmentation object per series is expected"
            )
        nodule = decode_segmentation(seg_files[0], ct, patient_id=patient_id)
    record = store_nodule_volume(store.files, patient_id, ct, nodule)
    row = record.row
    return table_output(
        pd.DataFrame([row]),
        data_version=f"{row['ct_sha256']}:{row['mask_sha256']}",
        metadata={
            "segment": f"{row['segment_number']} ({row['segment_label']})",
            "segment_selection_rule": row["segment_selection_rule"],
            "voxel_count": int(row["voxel_count"]),
            "nodule_volume_mm3": float(row["nodule_volume_mm3"]),
            "shape_zyx": f"{row['shape_z']}×{row['shape_y']}×{row['shape_x']}",
            "ct_file": row["ct_path"],
            "mask_file": row["mask_path"],
        },
    )


@with_code_version
@asset(
    key_prefix=FEATURES,
    group_name=FEATURES,
    partitions_def=patients_partitions,
    metadata=PATIENT_PARTITION,
    ins={"nodule_volume": AssetIn(key=[FEATURES, "nodule_volume"])},
    kinds={"duckdb", "pyradiomics"},
    description="The 107 default PyRadiomics features (original image) of the nodule and its "
    "immediate surroundings, one column per feature with pyradiomics' names.",
)
def radiomic_features(
    radiomics: RadiomicsSettings, store: StoreResource, nodule_volume: pd.DataFrame
) -> Output[pd.DataFrame]:
    volume = nodule_volume.iloc[0]
    row = radiomics_row(
        str(volume["patient_id"]),
        store.files.root / volume["ct_path"],
        store.files.root / volume["mask_path"],
        margin_mm=radiomics.margin_mm,
        bin_width=radiomics.bin_width,
    )
    n_features = sum(1 for name in row if name.startswith("original_"))
    return table_output(
        pd.DataFrame([row]),
        metadata={
            "n_features": n_features,
            "pyradiomics_version": row["pyradiomics_version"],
            "radiomics_settings": MetadataValue.json(json.loads(row["radiomics_settings"])),
        },
    )


@with_code_version
@asset(
    key_prefix=FEATURES,
    group_name=FEATURES,
    partitions_def=patients_partitions,
    metadata={**PATIENT_PARTITION, "column_types": {"densenet_features": f"FLOAT[{FEATURE_DIM}]"}},
    ins={"nodule_volume": AssetIn(key=[FEATURES, "nodule_volume"])},
    kinds={"duckdb", "pytorch"},
    description="DenseNet-121 features: every axial slice through the nodule, cropped, "
    "windowed, 224×224, max-pooled over slices into one FLOAT[1024]; densenet_weights says "
    "which weights made them.",
)
def densenet_features(
    context: AssetExecutionContext,
    densenet: DenseNetSettings,
    store: StoreResource,
    source: SourceResource,
    nodule_volume: pd.DataFrame,
) -> Output[pd.DataFrame]:
    with warnings.catch_warnings():
        # The fallback is reported below, loudly and on every run, not once per process.
        warnings.simplefilter("ignore", RandomWeightsWarning)
        network = load_densenet121(densenet.weights, densenet.weights_path, device=densenet.device)
    # Only the offline demo may fall back; elsewhere random features are asked for by name.
    refuse_random_fallback(network, source=source_kind(source))
    if network.fell_back:
        context.log.warning(
            f"DenseNet-121 uses RANDOM weights ({network.weights_used}): ImageNet weights were "
            f"not available ({network.fallback_reason}). These are not the paper's features."
        )
    volume = nodule_volume.iloc[0]
    row = densenet_row(
        str(volume["patient_id"]),
        store.files.root / volume["ct_path"],
        store.files.root / volume["mask_path"],
        network,
        margin_mm=densenet.crop_margin_mm,
        window=(densenet.window_level_hu, densenet.window_width_hu),
        batch_size=densenet.batch_size,
    )
    return table_output(
        pd.DataFrame([row]),
        metadata={
            "densenet_weights": row["densenet_weights"],
            "weights_fallback": bool(row["densenet_weights_fallback"]),
            "device": str(network.device),
            "n_slices": int(row["n_slices"]),
        },
    )


imaging_assets = [nodule_volume, radiomic_features, densenet_features]
