"""The real IDC index for nsclc_radiogenomics: manifest, original SEGs, SEG and CT studies.

The manifest comes from ``idc-index``'s ``IDCClient.index``. Expected values are computed here
independently (pandas/pyarrow on the parquet ``idc-index-data`` ships, the collection manifests
and AIM annotations in ``shared/data``), never copied from the code's output.
"""

from __future__ import annotations

import csv
import logging
import re
import sys
import zipfile
from pathlib import Path

import idc_index_data
import pandas as pd
import pytest

from radiogenomics_assets.sources.base import MANIFEST_COLUMNS
from radiogenomics_assets.sources.idc import IdcSource
from radiogenomics_assets.sources.idc_index import (
    IDC_COLLECTION,
    IdcIndexError,
    _import_idc_client,
    idc_manifest,
    original_segmentations,
)

TCIA_DOI = "10.7937/k9/tcia.2017.7hs46erv"


@pytest.fixture(scope="module")
def manifest() -> pd.DataFrame:
    return idc_manifest()


@pytest.fixture(scope="module")
def parquet_rows() -> pd.DataFrame:
    """The collection's rows read with pyarrow filters, not with the code under test."""
    return pd.read_parquet(
        idc_index_data.IDC_INDEX_PARQUET_FILEPATH,
        columns=[
            "collection_id",
            "PatientID",
            "Modality",
            "SeriesInstanceUID",
            "StudyInstanceUID",
            "analysis_result_id",
            "series_size_MB",
        ],
        filters=[("collection_id", "==", IDC_COLLECTION)],
    )


@pytest.fixture(scope="module")
def shared_manifest(shared_data: Path) -> pd.DataFrame:
    return pd.read_csv(shared_data / "nsclc-radiogenomics-clinical" / "idc_manifest_full_table.csv")


def _tcia_manifest_uids(shared_data: Path) -> set[str]:
    path = (
        shared_data / "nsclc-radiogenomics-clinical" / "NSCLC_Radiogenomics-6-1-21-Version-4.tcia"
    )
    lines = path.read_text().splitlines()
    start = lines.index("ListOfSeriesToDownload=") + 1
    return {line.strip() for line in lines[start:] if line.strip()}


def test_manifest_counts_match_the_parquet(
    manifest: pd.DataFrame, parquet_rows: pd.DataFrame
) -> None:
    assert list(manifest.columns)[: len(MANIFEST_COLUMNS)] == list(MANIFEST_COLUMNS)
    assert manifest["patient_id"].nunique() == parquet_rows["PatientID"].nunique()
    for modality in ("CT", "SEG"):
        expected = set(parquet_rows.loc[parquet_rows["Modality"] == modality, "SeriesInstanceUID"])
        assert set(manifest.loc[manifest["modality"] == modality, "series_uid"]) == expected
    assert manifest["referenced_series_uid"].isna().all()
    expected_bytes = (parquet_rows["series_size_MB"] * 1e6).round().astype("int64")
    by_uid = dict(zip(parquet_rows["SeriesInstanceUID"], expected_bytes, strict=True))
    assert (manifest["size_bytes"] == manifest["series_uid"].map(by_uid)).all()


def test_original_segmentations_are_the_seg_rows_without_an_analysis_result(
    manifest: pd.DataFrame, parquet_rows: pd.DataFrame
) -> None:
    originals = original_segmentations(manifest)
    is_original = (parquet_rows["Modality"] == "SEG") & parquet_rows["analysis_result_id"].isna()
    assert set(originals["series_uid"]) == set(parquet_rows.loc[is_original, "SeriesInstanceUID"])
    assert set(originals["patient_id"]) == set(parquet_rows.loc[is_original, "PatientID"])
    assert not originals["series_description"].str.startswith("AIMI").any()
    assert originals["series_description"].eq("3D Slicer segmentation result").any()


def test_manifest_agrees_with_the_shared_collection_manifests(
    manifest: pd.DataFrame,
    parquet_rows: pd.DataFrame,
    shared_manifest: pd.DataFrame,
    shared_data: Path,
) -> None:
    assert set(manifest["patient_id"]) == set(shared_manifest["PatientID"])
    tcia_rows = shared_manifest["source_DOI"].str.lower() == TCIA_DOI
    tcia_series = set(shared_manifest.loc[tcia_rows, "SeriesInstanceUID"])
    assert tcia_series <= set(parquet_rows["SeriesInstanceUID"])
    # CT and original SEGs are TCIA's own series: in both the IDC v18 table and the .tcia file.
    originals = set(manifest.loc[manifest["modality"] == "CT", "series_uid"]) | set(
        original_segmentations(manifest)["series_uid"]
    )
    assert originals <= tcia_series
    tcia_file = _tcia_manifest_uids(shared_data)
    assert originals <= tcia_file
    ai = manifest.loc[(manifest["modality"] == "SEG") & manifest["analysis_result_id"].notna()]
    assert not set(ai["series_uid"]) & tcia_file


def test_source_manifest_patients_match_the_clinical_labels(
    manifest: pd.DataFrame, shared_data: Path
) -> None:
    labels = shared_data / "nsclc-radiogenomics-clinical"
    with open(labels / "NSCLCR01Radiogenomic_DATA_LABELS_2018-05-22_1500-shifted.csv") as handle:
        case_ids = {row["Case ID"] for row in csv.DictReader(handle)}
    assert len(case_ids) == 211  # the cohort size TCIA publishes (PROVENANCE.md)
    source_manifest = IdcSource().imaging_manifest(lambda _line: None).frame
    assert list(source_manifest.columns) == list(MANIFEST_COLUMNS)
    assert set(source_manifest["patient_id"]) == case_ids
    assert set(source_manifest["series_uid"]) == set(
        manifest.loc[manifest["modality"] == "CT", "series_uid"]
    ) | set(original_segmentations(manifest)["series_uid"])


def test_the_annotated_ct_is_in_the_segs_study(manifest: pd.DataFrame, shared_data: Path) -> None:
    """Where TCIA's AIM file names the CT a radiologist annotated, it is in the SEG's study."""
    archive = shared_data / "nsclc-radiogenomics-aim" / "AIM_files_updated-11-10-2020.zip"
    annotated: dict[str, str] = {}
    with zipfile.ZipFile(archive) as handle:
        for name in handle.namelist():
            if not name.endswith(".xml"):
                continue
            text = handle.read(name).decode("utf-8")
            found = re.search(r'<imageSeries>\s*<instanceUid root="([0-9.]+)"', text)
            patient = re.sub(r"v\d+$", "", Path(name).stem)
            if found:
                annotated[patient] = found.group(1)
    segs = original_segmentations(manifest)
    cts = manifest[manifest["modality"] == "CT"]
    checked = 0
    for seg in segs.itertuples():
        if seg.patient_id not in annotated:
            continue
        same_study = cts[
            (cts["patient_id"] == seg.patient_id) & (cts["study_uid"] == seg.study_uid)
        ]
        assert annotated[seg.patient_id] in set(same_study["series_uid"]), seg.patient_id
        checked += 1
    assert checked > len(segs) // 2


def test_an_unknown_collection_fails_loudly() -> None:
    with pytest.raises(
        IdcIndexError, match="no CT or SEG series for collection 'nsclc-radiogenomics'"
    ):
        idc_manifest("nsclc-radiogenomics")


def test_without_idc_index_the_manifest_fails_naming_it(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "idc_index", None)  # makes the import raise ImportError
    with pytest.raises(IdcIndexError, match="idc-index is not installed"):
        idc_manifest()


def test_importing_idc_index_leaves_the_root_logger_alone(monkeypatch) -> None:
    """idc_index's import calls logging.basicConfig(INFO); a fresh import must not keep it."""
    for name in [name for name in sys.modules if name.split(".")[0] == "idc_index"]:
        monkeypatch.delitem(sys.modules, name)
    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", [])
    monkeypatch.setattr(root, "level", logging.WARNING)
    _import_idc_client()
    assert (root.handlers, root.level) == ([], logging.WARNING)
