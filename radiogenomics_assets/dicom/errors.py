"""One exception type per way a CT series or a DICOM SEG can be unfit for feature extraction.

All of them derive from :class:`DicomValidationError` (a ``ValueError``), so a caller can catch
"this input is bad" in one place while tests and asset checks can tell the kinds apart. Every
message names the file, patient, series UID or SOP instance UID concerned.
"""

from __future__ import annotations


class DicomValidationError(ValueError):
    """Base class: a DICOM input cannot be turned into a CT volume or a nodule mask."""


class NotDicomError(DicomValidationError):
    """A file is not DICOM Part 10 (no preamble and ``DICM`` prefix, or unparseable header)."""


class TruncatedDicomError(DicomValidationError):
    """A DICOM file ends before its header or its Pixel Data is complete."""


class MissingAttributeError(DicomValidationError):
    """A DICOM header lacks an attribute that geometry or identity depends on."""


class EmptySeriesError(DicomValidationError):
    """A series was given no files."""


class MixedSeriesError(DicomValidationError):
    """Files meant to form one series carry more than one SeriesInstanceUID."""


class DuplicateInstanceError(MixedSeriesError):
    """The same SOPInstanceUID appears in more than one file of a series (a kind of mixed
    series: copies of one instance do not make two slices)."""


class PatientMismatchError(DicomValidationError):
    """A file's PatientID is not the patient whose data is being processed."""


class WrongModalityError(DicomValidationError):
    """A file's Modality is not the one expected (CT for the image, SEG for the mask)."""


class UnsupportedDicomError(DicomValidationError):
    """A valid DICOM object this library does not handle (multi-frame CT, undecodable pixels)."""


class InconsistentGeometryError(DicomValidationError):
    """Orientation, pixel spacing, matrix size or in-plane position differ within or across
    the CT series and the SEG."""


class IrregularSliceSpacingError(DicomValidationError):
    """Slice positions along the normal are not evenly spaced (missing slice, mixed spacing)."""


class DuplicateSlicePositionError(DicomValidationError):
    """Two CT slices sit at the same position along the slice normal."""


class FrameOfReferenceMismatchError(DicomValidationError):
    """The SEG and the CT it should segment are in different frames of reference (or the CT
    series mixes several)."""


class ReferencedSeriesMismatchError(DicomValidationError):
    """The SEG references a series other than the CT series it is decoded onto."""


class SeveralReferencedSeriesError(ReferencedSeriesMismatchError):
    """The SEG references more than one series, so which CT it was drawn on is ambiguous."""


class MissingReferencedInstanceError(DicomValidationError):
    """The SEG references CT SOP instances that are not in the CT series given."""


class NoNoduleSegmentError(DicomValidationError):
    """No segment of the SEG can be chosen as the nodule (none fits, or several do)."""


class EmptySegmentError(DicomValidationError):
    """The chosen segment has no foreground pixel."""


class MaskOutsideVolumeError(DicomValidationError):
    """Foreground frames of the SEG lie outside the CT volume (touch no CT slice, or only
    partly)."""


class CropTooSmallError(DicomValidationError):
    """The image is smaller than the crop the nodule and its margin need."""
