"""The small demo cohort as a user's own download (the ``local`` source), and a corrected SEG."""

from __future__ import annotations

import shutil
from pathlib import Path

import pydicom
from pydicom.uid import generate_uid

from radiogenomics_assets.defs.study import Study, load_study
from radiogenomics_assets.sources.demo import DemoCohort

#: DenseNet features without ImageNet weights (none can be fetched here), as a study file:
#: processes that rebuild the code location read it from ``$RADIOGENOMICS_STUDY``.
RANDOM_WEIGHTS_STUDY = Path(__file__).with_name("random_weights.yaml")


def random_weights() -> Study:
    """The study of :data:`RANDOM_WEIGHTS_STUDY`, read now (its source from the environment)."""
    return load_study(RANDOM_WEIGHTS_STUDY)


def copy_as_local_folder(cohort: DemoCohort, root: Path) -> dict[str, Path]:
    """Copy the cohort's files under ``root``; return the paths the ``local`` source takes."""
    paths = {
        "dicom_root": root / "dicom",
        "clinical_csv": root / "clinical.csv",
        "rnaseq_matrix": root / "rnaseq.txt.gz",
    }
    shutil.copytree(cohort.dicom_root, paths["dicom_root"])
    shutil.copy(cohort.clinical_csv, paths["clinical_csv"])
    shutil.copy(cohort.rnaseq_matrix, paths["rnaseq_matrix"])
    return paths


def clear_one_mask_voxel(dicom_root: Path, patient: str) -> None:
    """A re-segmentation that shrinks the nodule by one voxel (new series, as a correction)."""
    (seg,) = [
        p for p in (dicom_root / patient).rglob("*.dcm") if pydicom.dcmread(p).Modality == "SEG"
    ]
    dataset = pydicom.dcmread(seg)
    pixels = bytearray(dataset.PixelData)
    index = next(i for i, byte in enumerate(pixels) if byte)
    pixels[index] &= pixels[index] - 1  # clears the lowest set bit: one mask voxel less
    dataset.PixelData = bytes(pixels)
    dataset.SeriesInstanceUID = generate_uid()
    dataset.SOPInstanceUID = generate_uid()
    dataset.file_meta.MediaStorageSOPInstanceUID = dataset.SOPInstanceUID
    dataset.save_as(seg)
