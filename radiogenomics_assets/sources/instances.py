"""Verify the DICOM instances of one downloaded series and place them as ``<SOPInstanceUID>.dcm``.

Whatever the archive (an NBIA zip, IDC's bucket objects), a series counts as downloaded only when
every file parses as DICOM, belongs to the requested series, appears once, and the number of
instances equals what the archive announced. Each way of failing has its own exception, all
subclasses of :class:`SeriesVerificationError`, whose message names the series and the file.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pydicom
from pydicom.errors import InvalidDicomError

from radiogenomics_assets.sources.base import SourceError

#: DICOM UI value: dot-separated digit groups, at most 64 characters.
UID_PATTERN = re.compile(r"^(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*$")


class InvalidUidError(ValueError):
    """A value that should be a DICOM UID is not one (it would reach a path or a URL)."""


def validate_uid(uid: object, *, what: str = "UID") -> str:
    """Return ``uid`` if it is a well-formed DICOM UID, else raise.

    Raises:
        InvalidUidError: naming ``what`` and the value received.
    """
    if not isinstance(uid, str) or len(uid) > 64 or not UID_PATTERN.fullmatch(uid):
        raise InvalidUidError(f"invalid {what} {uid!r}: expected digits and dots, at most 64")
    return uid


class SeriesMismatchError(SourceError):
    """The archive files a series under another patient or collection than the caller expects."""


class SeriesVerificationError(SourceError):
    """A downloaded series failed verification; ``series_uid`` names it."""

    def __init__(self, message: str, *, series_uid: str) -> None:
        super().__init__(message)
        self.series_uid = series_uid


class CorruptArchiveError(SeriesVerificationError):
    """The archive (zip) is truncated or corrupt: a transfer problem, worth one more try."""


class EmptyArchiveError(SeriesVerificationError):
    """The archive answered with no bytes at all: it holds nothing for this series."""


class ChecksumMismatchError(SeriesVerificationError):
    """A file's MD5 differs from the one the archive published (or no checksum was published)."""


class InstanceCountMismatchError(SeriesVerificationError):
    """The series holds a different number of instances than the archive announced."""


class NotDicomError(SeriesVerificationError):
    """A file of the series does not parse as DICOM."""


class ForeignInstanceError(SeriesVerificationError):
    """A file belongs to another series than the one requested."""


class DuplicateInstanceError(SeriesVerificationError):
    """Two files carry the same SOPInstanceUID."""


def clear_directory(directory: Path) -> None:
    """Remove everything inside ``directory`` (kept itself), so a failed attempt leaves nothing."""
    for child in directory.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()


class SeriesAssembler:
    """Collects the verified instances of one series into ``dest_dir``.

    Args:
        series_uid: the SeriesInstanceUID every instance must carry.
        dest_dir: an empty folder that receives ``<SOPInstanceUID>.dcm`` files.
    """

    def __init__(self, series_uid: str, dest_dir: Path) -> None:
        self.series_uid = validate_uid(series_uid, what="SeriesInstanceUID")
        self.dest_dir = Path(dest_dir)
        self.sop_instance_uids: dict[str, str] = {}
        self.bytes = 0

    def add(self, incoming: Path, *, origin: str) -> Path:
        """Verify the file ``incoming`` (any name inside ``dest_dir``) and rename it into place.

        ``origin`` names the file as the archive calls it (zip member, object key), for messages.

        Raises:
            NotDicomError: the file does not parse as DICOM.
            ForeignInstanceError: its SeriesInstanceUID is not the requested one.
            DuplicateInstanceError: its SOPInstanceUID was already added.
        """
        where = f"{origin!r} of series {self.series_uid}"
        try:
            # Pixel data is read too, so a file cut short inside its pixels fails here.
            dataset = pydicom.dcmread(incoming)
        except (InvalidDicomError, EOFError, OSError, ValueError, KeyError) as error:
            raise NotDicomError(
                f"file {where} is not readable DICOM: {error}", series_uid=self.series_uid
            ) from error
        found_series = dataset.get("SeriesInstanceUID")
        if found_series != self.series_uid:
            raise ForeignInstanceError(
                f"file {where} belongs to series {found_series!r}, not {self.series_uid}",
                series_uid=self.series_uid,
            )
        sop_uid = dataset.get("SOPInstanceUID")
        try:
            validate_uid(sop_uid, what=f"SOPInstanceUID in file {where}")
        except InvalidUidError as error:
            raise NotDicomError(str(error), series_uid=self.series_uid) from error
        if sop_uid in self.sop_instance_uids:
            raise DuplicateInstanceError(
                f"files {self.sop_instance_uids[sop_uid]!r} and {origin!r} of series "
                f"{self.series_uid} both hold SOPInstanceUID {sop_uid}",
                series_uid=self.series_uid,
            )
        final = self.dest_dir / f"{sop_uid}.dcm"
        incoming.replace(final)
        self.sop_instance_uids[str(sop_uid)] = origin
        self.bytes += final.stat().st_size
        return final

    @property
    def count(self) -> int:
        return len(self.sop_instance_uids)

    def check_count(self, expected: int, *, source: str) -> None:
        """Raise unless exactly ``expected`` instances were added.

        Raises:
            InstanceCountMismatchError: naming the series, both counts and ``source``.
        """
        if self.count != expected:
            raise InstanceCountMismatchError(
                f"series {self.series_uid}: {source} holds {self.count} DICOM instance(s) "
                f"but the archive announced {expected}",
                series_uid=self.series_uid,
            )
