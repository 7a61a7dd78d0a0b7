"""NIfTI files for the CT volume and the nodule mask, written atomically into the file store.

SimpleITK writes them, so the LPS geometry of :class:`CtVolume` is converted to NIfTI's RAS
convention on write and back on read; the arrays here are always (z, y, x) like ``CtVolume.hu``.
The CT is stored as int16 when every voxel is a whole HU value in range (the usual case: it
compresses far better), else as float32.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from radiogenomics_assets.dicom.errors import InconsistentGeometryError
from radiogenomics_assets.dicom.seg import NoduleMask
from radiogenomics_assets.dicom.series import CtVolume
from radiogenomics_assets.ids import validate_patient_id
from radiogenomics_assets.store.files import FileStore, StoredFile

# SimpleITK is imported inside the functions that use it: the code location imports this
# module, and loading it must not cost seconds.

if TYPE_CHECKING:
    import SimpleITK as sitk

CT_FILE_NAME = "ct_hu.nii.gz"
MASK_FILE_NAME = "nodule_mask.nii.gz"


class NiftiImage(NamedTuple):
    """A NIfTI file read back: array (z, y, x), spacing (z, y, x), origin (x, y, z LPS),
    direction (3x3, columns = x, y, z axes in LPS)."""

    array: np.ndarray
    spacing: tuple[float, float, float]
    origin: tuple[float, float, float]
    direction: np.ndarray


def write_volume_nifti(store: FileStore, parts: tuple[str, ...], ct: CtVolume) -> StoredFile:
    """Write the CT in HU to ``parts`` in the store (atomically) and describe the file."""
    hu = ct.hu
    rounded = np.rint(hu)
    if (
        hu.size
        and np.array_equal(rounded, hu)
        and rounded.min() >= np.iinfo(np.int16).min
        and rounded.max() <= np.iinfo(np.int16).max
    ):
        hu = rounded.astype(np.int16)
    return _write(store, parts, ct.image_like(hu))


def write_mask_nifti(
    store: FileStore, parts: tuple[str, ...], mask: np.ndarray, ct: CtVolume
) -> StoredFile:
    """Write a (z, y, x) mask on the CT grid as a uint8 0/1 NIfTI to ``parts`` in the store.

    Raises:
        InconsistentGeometryError: the mask's shape is not the CT's.
    """
    return _write(store, parts, ct.image_like(np.asarray(mask, dtype=bool).astype(np.uint8)))


def read_nifti(path: Path | str) -> NiftiImage:
    """Read a NIfTI file written here (or any 3D NIfTI) into (z, y, x) and LPS geometry."""
    import SimpleITK as sitk

    image = sitk.ReadImage(str(path))
    if image.GetDimension() != 3:
        raise InconsistentGeometryError(
            f"{path}: NIfTI image has {image.GetDimension()} dimensions, expected 3"
        )
    sx, sy, sz = image.GetSpacing()
    ox, oy, oz = image.GetOrigin()
    return NiftiImage(
        array=sitk.GetArrayFromImage(image),
        spacing=(sz, sy, sx),
        origin=(ox, oy, oz),
        direction=np.asarray(image.GetDirection(), dtype=np.float64).reshape(3, 3),
    )


@dataclass(frozen=True)
class NoduleVolumeRecord:
    """The files and figures of one patient's nodule_volume partition."""

    ct_file: StoredFile
    mask_file: StoredFile
    row: dict[str, Any]


def store_nodule_volume(
    store: FileStore,
    patient_id: str,
    ct: CtVolume,
    nodule: NoduleMask,
    *,
    folder: tuple[str, ...] = ("nodule_volume",),
) -> NoduleVolumeRecord:
    """Write CT and mask NIfTIs under ``folder/<patient_id>/`` and build the table row.

    The row holds the geometry (shape, spacing, origin, direction), the voxel count and
    volume in mm³, the segment chosen and how, the source UIDs, and path/size/sha256 of
    both files.

    Raises:
        InvalidPatientIdError: ``patient_id`` is not a safe id.
        InconsistentGeometryError: the mask does not fit the CT grid.
    """
    validate_patient_id(patient_id, where="store_nodule_volume")
    ct_file = write_volume_nifti(store, (*folder, patient_id, CT_FILE_NAME), ct)
    mask_file = write_mask_nifti(store, (*folder, patient_id, MASK_FILE_NAME), nodule.mask, ct)
    depth, rows, columns = ct.shape
    row: dict[str, Any] = {
        "patient_id": patient_id,
        "ct_series_uid": ct.series_uid,
        "seg_series_uid": nodule.seg_series_uid,
        "seg_sop_instance_uid": nodule.seg_sop_instance_uid,
        "frame_of_reference_uid": ct.frame_of_reference_uid,
        "segment_number": nodule.segment_number,
        "segment_label": nodule.segment_label,
        "segment_selection_rule": nodule.selection_rule,
        "shape_z": depth,
        "shape_y": rows,
        "shape_x": columns,
        "spacing_z_mm": ct.spacing[0],
        "spacing_y_mm": ct.spacing[1],
        "spacing_x_mm": ct.spacing[2],
        "origin_x_mm": ct.origin[0],
        "origin_y_mm": ct.origin[1],
        "origin_z_mm": ct.origin[2],
        "direction": [float(v) for v in ct.direction.ravel()],
        "voxel_count": nodule.voxel_count,
        "nodule_volume_mm3": nodule.volume_mm3,
        "ct_path": ct_file.relpath,
        "ct_bytes": ct_file.bytes,
        "ct_sha256": ct_file.sha256,
        "mask_path": mask_file.relpath,
        "mask_bytes": mask_file.bytes,
        "mask_sha256": mask_file.sha256,
    }
    return NoduleVolumeRecord(ct_file=ct_file, mask_file=mask_file, row=row)


def _write(store: FileStore, parts: tuple[str, ...], image: sitk.Image) -> StoredFile:
    import SimpleITK as sitk

    with store.atomic_path(*parts) as temp:
        sitk.WriteImage(image, str(temp), useCompression=True)
    return store.describe(*parts)
