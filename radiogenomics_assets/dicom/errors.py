"""One exception type per kind of DICOM failure, all under :class:`DicomValidationError`."""

from __future__ import annotations


class DicomValidationError(ValueError):
    """A DICOM file or series is unusable; the message names the file, series or UID."""


class NotDicomError(DicomValidationError):
    """The file is not DICOM."""


class TruncatedDicomError(DicomValidationError):
    """The file ends early or its pixel data is shorter than its header says."""


class MixedSeriesError(DicomValidationError):
    """Files of more than one SeriesInstanceUID (or duplicate instances) in one series."""


class WrongModalityError(DicomValidationError):
    """A file of another modality where CT or SEG was expected."""
