"""Small synthetic CT series and DICOM SEGs, written with pydicom and highdicom, for tests.

A "lung" of -800 HU with a little noise holds a spherical "nodule" of about +30 HU. Every bad
input in the tests is made by changing one thing in these good files.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import highdicom as hd
import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sr.codedict import codes
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

LUNG_HU = -800
NODULE_HU = 30


@dataclass(frozen=True)
class SyntheticCt:
    """What was written, for tests to compare against."""

    folder: Path
    paths: list[Path]
    datasets: list[Dataset]
    hu: np.ndarray  # (z, y, x) in ascending slice position
    nodule: np.ndarray  # (z, y, x) bool, same order
    spacing: tuple[float, float, float]  # z, y, x
    origin: tuple[float, float, float]  # x, y, z of slice 0
    patient_id: str
    series_uid: str
    frame_of_reference_uid: str


def sphere(
    shape: tuple[int, int, int],
    spacing: tuple[float, float, float],
    centre_index: tuple[float, float, float],
    radius_mm: float,
) -> np.ndarray:
    """Boolean (z, y, x) ball of ``radius_mm`` around a voxel index, in physical units."""
    grids = np.meshgrid(*(np.arange(n) for n in shape), indexing="ij")
    squared = sum(((g - c) * s) ** 2 for g, c, s in zip(grids, centre_index, spacing, strict=True))
    return squared <= radius_mm**2


def write_ct_series(
    folder: Path,
    *,
    shape: tuple[int, int, int] = (12, 48, 48),
    spacing: tuple[float, float, float] = (2.5, 0.8, 0.8),
    origin: tuple[float, float, float] = (-19.2, -19.2, -100.0),
    patient_id: str = "SYN-001",
    radius_mm: float = 6.0,
    centre_index: tuple[float, float, float] | None = None,
    seed: int = 0,
) -> SyntheticCt:
    """Write a CT series (one file per slice, names not in slice order) and return its truth."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    if centre_index is None:
        centre_index = tuple((n - 1) / 2 for n in shape)  # type: ignore[assignment]
    nodule = sphere(shape, spacing, centre_index, radius_mm)  # type: ignore[arg-type]
    hu = np.where(nodule, NODULE_HU, LUNG_HU) + rng.integers(-40, 41, size=shape)
    hu = hu.astype(np.int16)
    study_uid, series_uid, for_uid = generate_uid(), generate_uid(), generate_uid()
    datasets, paths = [], []
    for k in range(shape[0]):
        ds = _ct_slice(hu[k], k, shape, spacing, origin, patient_id, study_uid, series_uid, for_uid)
        # Reverse instance numbers and scramble names so that nothing but geometry sorts them.
        path = folder / f"slice-{(k * 7) % shape[0]:03d}-{k}.dcm"
        ds.save_as(path, enforce_file_format=True)
        datasets.append(ds)
        paths.append(path)
    return SyntheticCt(
        folder=folder,
        paths=paths,
        datasets=datasets,
        hu=hu.astype(np.float32),
        nodule=nodule,
        spacing=spacing,
        origin=origin,
        patient_id=patient_id,
        series_uid=series_uid,
        frame_of_reference_uid=for_uid,
    )


def _ct_slice(
    plane: np.ndarray,
    k: int,
    shape: tuple[int, int, int],
    spacing: tuple[float, float, float],
    origin: tuple[float, float, float],
    patient_id: str,
    study_uid: str,
    series_uid: str,
    for_uid: str,
) -> Dataset:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = CTImageStorage
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPInstanceUID = generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.SOPClassUID = CTImageStorage
    ds.Modality = "CT"
    ds.PatientID = patient_id
    ds.PatientName = "Synthetic^Case"
    ds.PatientBirthDate = "19500101"
    ds.PatientSex = "O"
    ds.StudyInstanceUID = study_uid
    ds.StudyID = "1"
    ds.StudyDate = "20200101"
    ds.StudyTime = "120000"
    ds.AccessionNumber = "A1"
    ds.ReferringPhysicianName = ""
    ds.SeriesInstanceUID = series_uid
    ds.SeriesNumber = 1
    ds.InstanceNumber = shape[0] - k
    ds.FrameOfReferenceUID = for_uid
    ds.PositionReferenceIndicator = ""
    ds.Manufacturer = "synthetic"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    ds.ImagePositionPatient = [origin[0], origin[1], origin[2] + k * spacing[0]]
    ds.PixelSpacing = [spacing[1], spacing[2]]
    ds.SliceThickness = spacing[0]
    ds.Rows, ds.Columns = shape[1], shape[2]
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 0
    ds.RescaleIntercept = -1024
    ds.RescaleSlope = 1
    ds.RescaleType = "HU"
    ds.PixelData = (plane.astype(np.int32) + 1024).astype(np.uint16).tobytes()
    return ds


def nodule_description(number: int = 1, label: str = "Nodule") -> hd.seg.SegmentDescription:
    return hd.seg.SegmentDescription(
        segment_number=number,
        segment_label=label,
        segmented_property_category=codes.SCT.MorphologicallyAbnormalStructure,
        segmented_property_type=codes.SCT.Nodule,
        algorithm_type=hd.seg.SegmentAlgorithmTypeValues.MANUAL,
    )


def organ_description(number: int, label: str = "Lung") -> hd.seg.SegmentDescription:
    return hd.seg.SegmentDescription(
        segment_number=number,
        segment_label=label,
        segmented_property_category=codes.SCT.Organ,
        segmented_property_type=codes.SCT.Lung,
        algorithm_type=hd.seg.SegmentAlgorithmTypeValues.MANUAL,
    )


def build_seg(
    ct: SyntheticCt,
    masks: np.ndarray | Sequence[np.ndarray] | None = None,
    descriptions: Sequence[hd.seg.SegmentDescription] | None = None,
    kind: str = "BINARY",
) -> Dataset:
    """A SEG over ``ct`` (default: the nodule as one BINARY 'Nodule' segment), not saved.

    ``kind`` FRACTIONAL takes float masks in [0, 1]; LABELMAP takes non-overlapping masks and
    stores segment numbers as pixel values.
    """
    if masks is None:
        masks = [ct.nodule]
    elif isinstance(masks, np.ndarray):
        masks = [masks]
    if descriptions is None:
        descriptions = [nodule_description()]
    if kind == "LABELMAP":
        pixels = np.zeros(ct.nodule.shape, dtype=np.uint8)
        for number, mask in enumerate(masks, start=1):
            pixels[np.asarray(mask, dtype=bool)] = number
    elif kind == "FRACTIONAL":
        pixels = np.stack([np.asarray(m, dtype=np.float32) for m in masks], axis=-1)
    else:
        pixels = np.stack([np.asarray(m, dtype=np.uint8) for m in masks], axis=-1)
    return hd.seg.Segmentation(
        source_images=ct.datasets,
        pixel_array=pixels,
        segmentation_type=hd.seg.SegmentationTypeValues[kind],
        max_fractional_value=255,
        segment_descriptions=list(descriptions),
        series_instance_uid=hd.UID(),
        series_number=100,
        sop_instance_uid=hd.UID(),
        instance_number=1,
        manufacturer="synthetic",
        manufacturer_model_name="tests",
        software_versions="0",
        device_serial_number="0",
    )


def save(dataset: Dataset, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    dataset.save_as(path)
    return path


def reread(path: Path) -> Dataset:
    return pydicom.dcmread(path)
