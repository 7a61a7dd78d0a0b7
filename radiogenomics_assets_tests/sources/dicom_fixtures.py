"""Tiny real DICOM for the source tests: a CT series (pydicom) and a SEG on it (highdicom).

Slices are 8x8 so a whole series is a few kilobytes; what the download code checks (Part 10
encoding, SeriesInstanceUID, SOPInstanceUID, the SEG's ReferencedSeriesSequence) is all real.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import highdicom as hd
import numpy as np
import pydicom
from pydicom.dataset import FileMetaDataset
from pydicom.sr.codedict import codes
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid


@dataclass(frozen=True)
class FixtureSeries:
    """One series as files: (member name, Part 10 bytes), plus its identifiers."""

    patient_id: str
    study_uid: str
    series_uid: str
    modality: str
    description: str
    files: tuple[tuple[str, bytes], ...]


def _to_bytes(dataset: pydicom.Dataset) -> bytes:
    buffer = io.BytesIO()
    dataset.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def ct_datasets(
    patient_id: str,
    n_slices: int,
    *,
    study_uid: str | None = None,
    series_uid: str | None = None,
    seed: int = 0,
) -> list[pydicom.Dataset]:
    """``n_slices`` axial 8x8 CT slices of one series, 1 mm apart."""
    study_uid = study_uid or generate_uid()
    series_uid = series_uid or generate_uid()
    frame_uid = generate_uid()
    rng = np.random.default_rng(seed)
    slices = []
    for index in range(n_slices):
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = CTImageStorage
        meta.MediaStorageSOPInstanceUID = generate_uid()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = pydicom.Dataset()
        ds.file_meta = meta
        ds.SOPClassUID = CTImageStorage
        ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
        ds.PatientID = patient_id
        ds.PatientName = f"{patient_id}^"
        ds.PatientBirthDate = ""
        ds.PatientSex = "O"
        ds.StudyInstanceUID = study_uid
        ds.SeriesInstanceUID = series_uid
        ds.FrameOfReferenceUID = frame_uid
        ds.StudyID = "1"
        ds.StudyDate = "19910307"
        ds.StudyTime = "120000"
        ds.AccessionNumber = ""
        ds.ReferringPhysicianName = ""
        ds.Modality = "CT"
        ds.SeriesNumber = 1
        ds.InstanceNumber = index + 1
        ds.Manufacturer = "test"
        ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
        ds.PositionReferenceIndicator = ""
        ds.ImagePositionPatient = [0.0, 0.0, float(index)]
        ds.ImageOrientationPatient = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
        ds.PixelSpacing = [1.0, 1.0]
        ds.SliceThickness = 1.0
        ds.Rows = 8
        ds.Columns = 8
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.BitsAllocated = 16
        ds.BitsStored = 16
        ds.HighBit = 15
        ds.PixelRepresentation = 1
        ds.RescaleIntercept = 0
        ds.RescaleSlope = 1
        ds.KVP = 120
        ds.PixelData = rng.integers(-1000, 400, (8, 8), dtype=np.int16).tobytes()
        slices.append(ds)
    return slices


def seg_dataset(ct: list[pydicom.Dataset]) -> pydicom.Dataset:
    """A binary DICOM SEG (one nodule segment) on the CT slices ``ct``."""
    mask = np.zeros((len(ct), 8, 8), dtype=bool)
    mask[:, 2:5, 3:6] = True
    description = hd.seg.SegmentDescription(
        segment_number=1,
        segment_label="Nodule",
        segmented_property_category=codes.SCT.MorphologicallyAbnormalStructure,
        segmented_property_type=codes.SCT.Nodule,
        algorithm_type=hd.seg.SegmentAlgorithmTypeValues.MANUAL,
    )
    return hd.seg.Segmentation(
        source_images=ct,
        pixel_array=mask,
        segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=[description],
        series_instance_uid=generate_uid(),
        series_number=1000,
        sop_instance_uid=generate_uid(),
        instance_number=1,
        manufacturer="test",
        manufacturer_model_name="3D Slicer",
        software_versions="1",
        device_serial_number="1",
        series_description="3D Slicer segmentation result",
    )


def patient_series(
    patient_id: str, n_slices: int = 3, seed: int = 0
) -> tuple[FixtureSeries, FixtureSeries]:
    """A CT series and the SEG that references it, for one patient."""
    ct = ct_datasets(patient_id, n_slices, seed=seed)
    seg = seg_dataset(ct)
    ct_series = FixtureSeries(
        patient_id=patient_id,
        study_uid=ct[0].StudyInstanceUID,
        series_uid=ct[0].SeriesInstanceUID,
        modality="CT",
        description="Thorax  1.0  B45f",
        files=tuple((f"{index + 1:08d}.dcm", _to_bytes(ds)) for index, ds in enumerate(ct)),
    )
    seg_series = FixtureSeries(
        patient_id=patient_id,
        study_uid=seg.StudyInstanceUID,
        series_uid=seg.SeriesInstanceUID,
        modality="SEG",
        description="3D Slicer segmentation result",
        files=(("00000001.dcm", _to_bytes(seg)),),
    )
    return ct_series, seg_series
