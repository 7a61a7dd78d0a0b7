"""Write a phantom as a CT Image Storage series (pydicom) and its DICOM SEG (highdicom).

Both follow the NBIA Data Retriever layout of TCIA downloads::

    <PatientID>/<MM-DD-YYYY>-NA-<StudyDescription>-<last 5 digits of StudyInstanceUID>/
        <SeriesNumber>.000000-<SeriesDescription>-<last 5 digits of SeriesInstanceUID>/1-001.dcm

where descriptions keep only letters, digits, spaces, '.' and '-' (the retriever drops the rest,
so ``Thorax^01_DEMOCHEST (Adult)`` becomes ``Thorax01DEMOCHEST Adult``). The SEG is its own
series, ``1000.000000-3D Slicer segmentation result-NNNNN/1-1.dcm``, as on TCIA.

Every UID, date and time is fixed by the caller, so the same inputs give the same bytes.
"""

from __future__ import annotations

import datetime as dt
import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import highdicom as hd
import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sr.codedict import codes
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian

from radiogenomics_assets.sources.demo.config import GENERATOR_VERSION
from radiogenomics_assets.sources.demo.phantom import HU_MAX, HU_MIN, Phantom
from radiogenomics_assets.sources.demo.randomness import (
    IMPLEMENTATION_CLASS_UID,
    IMPLEMENTATION_VERSION_NAME,
)

RESCALE_INTERCEPT = -1024
RESCALE_SLOPE = 1
CT_SERIES_NUMBER = 2
SEG_SERIES_NUMBER = 1000
STUDY_DESCRIPTION = "Thorax^01_DEMOCHEST (Adult)"
CT_SERIES_DESCRIPTION = "Thorax  2.5  B45f DEMO"
SEG_SERIES_DESCRIPTION = "3D Slicer segmentation result"
MANUFACTURER = "radiogenomics_assets"
MODEL_NAME = "demo phantom"
NODULE_SEGMENT_LABEL = "Nodule"
LUNG_SEGMENT_LABEL = "Lung"

_NBIA_UNSAFE = re.compile(r"[^A-Za-z0-9 .\-]")


@dataclass(frozen=True)
class ImagingIdentity:
    """Who and when: the patient and study attributes shared by the CT and the SEG."""

    patient_id: str
    patient_sex: str
    patient_age: int
    study_date: dt.date
    study_time: str
    study_uid: str
    ct_series_uid: str
    frame_of_reference_uid: str
    ct_instance_uids: tuple[str, ...]
    seg_series_uid: str
    seg_instance_uid: str
    dimension_organization_uid: str


def nbia_component(text: str) -> str:
    """A description as the NBIA Data Retriever writes it into a folder name."""
    return _NBIA_UNSAFE.sub("", text)


def study_folder_name(identity: ImagingIdentity) -> str:
    date = identity.study_date
    return (
        f"{date.month:02d}-{date.day:02d}-{date.year:04d}-NA-"
        f"{nbia_component(STUDY_DESCRIPTION)}-{identity.study_uid[-5:]}"
    )


def series_folder_name(series_number: int, description: str, series_uid: str) -> str:
    return f"{series_number}.000000-{nbia_component(description)}-{series_uid[-5:]}"


def _ds(value: float) -> str:
    """A decimal string that fits DICOM's 16 characters."""
    text = format(float(value), ".10g")
    return "0" if text == "-0" else text


def _ct_template(phantom: Phantom, identity: ImagingIdentity) -> Dataset:
    """Every attribute the slices share; :func:`_ct_slice` adds the per-slice ones."""
    geometry = phantom.geometry
    date = identity.study_date.strftime("%Y%m%d")
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CTImageStorage
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = IMPLEMENTATION_CLASS_UID
    meta.ImplementationVersionName = IMPLEMENTATION_VERSION_NAME

    ds = Dataset()
    ds.file_meta = meta
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.SOPClassUID = CTImageStorage
    ds.StudyDate = date
    ds.SeriesDate = date
    ds.AcquisitionDate = date
    ds.ContentDate = date
    ds.StudyTime = identity.study_time
    ds.SeriesTime = identity.study_time
    ds.AcquisitionTime = identity.study_time
    ds.ContentTime = identity.study_time
    ds.AccessionNumber = ""
    ds.Modality = "CT"
    ds.Manufacturer = MANUFACTURER
    ds.ReferringPhysicianName = ""
    ds.StudyDescription = STUDY_DESCRIPTION
    ds.SeriesDescription = CT_SERIES_DESCRIPTION
    ds.ManufacturerModelName = MODEL_NAME
    ds.PatientName = identity.patient_id
    ds.PatientID = identity.patient_id
    ds.PatientBirthDate = ""
    ds.PatientSex = identity.patient_sex
    ds.PatientAge = f"{identity.patient_age:03d}Y"
    ds.PatientIdentityRemoved = "YES"
    ds.DeidentificationMethod = "synthetic demo cohort, no real patient"
    ds.BodyPartExamined = "CHEST"
    ds.SliceThickness = _ds(geometry.slice_thickness_mm)
    ds.KVP = "120"
    ds.SoftwareVersions = f"demo {GENERATOR_VERSION}"
    ds.PatientPosition = "HFS"
    ds.StudyInstanceUID = identity.study_uid
    ds.SeriesInstanceUID = identity.ct_series_uid
    ds.StudyID = ""
    ds.SeriesNumber = CT_SERIES_NUMBER
    ds.AcquisitionNumber = 1
    ds.ImageOrientationPatient = ["1", "0", "0", "0", "1", "0"]
    ds.FrameOfReferenceUID = identity.frame_of_reference_uid
    ds.PositionReferenceIndicator = ""
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows = geometry.rows
    ds.Columns = geometry.cols
    ds.PixelSpacing = [_ds(geometry.pixel_spacing_mm), _ds(geometry.pixel_spacing_mm)]
    ds.BitsAllocated = 16
    ds.BitsStored = 12
    ds.HighBit = 11
    ds.PixelRepresentation = 0
    ds.WindowCenter = ["-600", "40"]
    ds.WindowWidth = ["1500", "400"]
    ds.RescaleIntercept = str(RESCALE_INTERCEPT)
    ds.RescaleSlope = str(RESCALE_SLOPE)
    ds.RescaleType = "HU"
    return ds


def _ct_slice(phantom: Phantom, identity: ImagingIdentity, k: int) -> Dataset:
    # A fresh template per slice: building it costs a fraction of deep-copying one.
    ds = _ct_template(phantom, identity)
    sop_uid = identity.ct_instance_uids[k]
    ds.file_meta.MediaStorageSOPInstanceUID = sop_uid
    ds.SOPInstanceUID = sop_uid
    ds.InstanceNumber = k + 1
    position = phantom.geometry.slice_position(k)
    ds.ImagePositionPatient = [_ds(v) for v in position]
    ds.SliceLocation = _ds(position[2])
    stored = phantom.hu[k].astype(np.int32) - RESCALE_INTERCEPT
    ds.PixelData = stored.astype("<u2").tobytes()
    return ds


def write_ct_series(
    study_dir: Path, phantom: Phantom, identity: ImagingIdentity
) -> tuple[Path, list[Dataset]]:
    """Write one file per slice; return the series folder and the datasets (for the SEG).

    Raises:
        ValueError: the phantom holds HU outside what 12 stored bits with intercept -1024 hold,
            or the number of instance UIDs differs from the number of slices.
    """
    low, high = int(phantom.hu.min()), int(phantom.hu.max())
    if low < HU_MIN or high > HU_MAX:
        raise ValueError(
            f"patient {identity.patient_id}: HU range [{low}, {high}] exceeds [{HU_MIN}, {HU_MAX}]"
        )
    n_slices = phantom.hu.shape[0]
    if len(identity.ct_instance_uids) != n_slices:
        raise ValueError(
            f"patient {identity.patient_id}: {len(identity.ct_instance_uids)} instance UIDs "
            f"for {n_slices} slices"
        )
    folder = study_dir / series_folder_name(
        CT_SERIES_NUMBER, CT_SERIES_DESCRIPTION, identity.ct_series_uid
    )
    folder.mkdir(parents=True)
    width = max(3, len(str(n_slices)))
    datasets = []
    for k in range(n_slices):
        ds = _ct_slice(phantom, identity, k)
        ds.save_as(folder / f"1-{k + 1:0{width}d}.dcm", enforce_file_format=True)
        datasets.append(ds)
    return folder, datasets


def _segment(number: int, label: str) -> hd.seg.SegmentDescription:
    if label == NODULE_SEGMENT_LABEL:
        category, kind = codes.SCT.MorphologicallyAbnormalStructure, codes.SCT.Nodule
    else:
        category, kind = codes.SCT.AnatomicalStructure, codes.SCT.Lung
    return hd.seg.SegmentDescription(
        segment_number=number,
        segment_label=label,
        segmented_property_category=category,
        segmented_property_type=kind,
        algorithm_type=hd.seg.SegmentAlgorithmTypeValues.MANUAL,
        anatomic_regions=[codes.SCT.Lung] if label == NODULE_SEGMENT_LABEL else None,
    )


def write_seg(
    study_dir: Path,
    phantom: Phantom,
    identity: ImagingIdentity,
    ct_datasets: list[Dataset],
    with_lung: bool,
) -> Path:
    """Write the SEG of the nodule (and, if ``with_lung``, the lungs as segment 1 before it)."""
    if with_lung:
        labels = [LUNG_SEGMENT_LABEL, NODULE_SEGMENT_LABEL]
        pixels = np.stack([phantom.lung_mask, phantom.nodule_mask], axis=-1)
    else:
        labels = [NODULE_SEGMENT_LABEL]
        pixels = phantom.nodule_mask
    date = identity.study_date.strftime("%Y%m%d")
    with warnings.catch_warnings():
        # TCIA's PatientName is the bare case id, which highdicom flags as a one-part name.
        warnings.filterwarnings(
            "ignore", message=r"The string .* is unlikely to represent", category=UserWarning
        )
        seg = _segmentation(ct_datasets, pixels, labels, identity, date)
    # highdicom stamps the wall clock and a fresh UID; pin them for byte-identical output.
    seg.InstanceCreationDate = date
    seg.InstanceCreationTime = identity.study_time
    for item in seg.DimensionOrganizationSequence:
        item.DimensionOrganizationUID = identity.dimension_organization_uid
    for item in seg.DimensionIndexSequence:
        item.DimensionOrganizationUID = identity.dimension_organization_uid
    for item in seg.get("ContributingEquipmentSequence", []):
        if "ContributionDateTime" in item:
            item.ContributionDateTime = date + identity.study_time
    folder = study_dir / series_folder_name(
        SEG_SERIES_NUMBER, SEG_SERIES_DESCRIPTION, identity.seg_series_uid
    )
    folder.mkdir(parents=True)
    path = folder / "1-1.dcm"
    seg.save_as(path)
    return path


def _segmentation(
    ct_datasets: list[Dataset],
    pixels: np.ndarray,
    labels: list[str],
    identity: ImagingIdentity,
    date: str,
) -> hd.seg.Segmentation:
    return hd.seg.Segmentation(
        source_images=ct_datasets,
        pixel_array=pixels.astype(np.uint8),
        segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=[_segment(i, label) for i, label in enumerate(labels, start=1)],
        series_instance_uid=identity.seg_series_uid,
        series_number=SEG_SERIES_NUMBER,
        sop_instance_uid=identity.seg_instance_uid,
        instance_number=1,
        manufacturer=MANUFACTURER,
        manufacturer_model_name=MODEL_NAME,
        software_versions=f"demo {GENERATOR_VERSION}",
        device_serial_number="0",
        content_description="Nodule segmentation of the demo phantom",
        content_creator_name="Demo^Phantom",
        content_label="SEGMENTATION",
        series_description=SEG_SERIES_DESCRIPTION,
        content_date=date,
        content_time=identity.study_time,
        series_date=date,
        series_time=identity.study_time,
    )
