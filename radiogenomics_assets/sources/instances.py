r"""Place the verified DICOM instances of one downloaded series as ``<SOPInstanceUID>.dcm``.

Whatever the archive (an NBIA zip, IDC's bucket objects), a series counts as downloaded only when
every file passes :class:`~radiogenomics_assets.dicom.headers.SeriesVerifier` (the same check a
local folder and the store's copy get) and the number of instances equals what the archive
announced. Content failures raise the verifier's :mod:`radiogenomics_assets.dicom.errors`; the
archive's own failures (corrupt zip, checksum, count) are :class:`SeriesVerificationError`\ s.
Messages name the file as the archive calls it (zip member, object key) and the series.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from radiogenomics_assets.dicom.headers import SeriesVerifier
from radiogenomics_assets.ids import validate_uid
from radiogenomics_assets.sources.base import SourceError


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
        self.verifier = SeriesVerifier(self.series_uid)
        self.bytes = 0
        #: ``origin`` of each file added, by its name in ``dest_dir``
        self.origins: dict[str, str] = {}

    def add(self, incoming: Path, *, origin: str) -> Path:
        """Verify the file ``incoming`` (any name inside ``dest_dir``) and rename it into place.

        ``origin`` names the file as the archive calls it (zip member, object key), for messages.

        Raises:
            NotDicomError, TruncatedDicomError, MissingAttributeError, MixedSeriesError,
            DuplicateInstanceError: from the verifier, naming ``origin`` and the series.
        """
        header = self.verifier.add(incoming, name=f"{origin!r} of series {self.series_uid}")
        final = self.dest_dir / f"{header.sop_instance_uid}.dcm"
        incoming.replace(final)
        self.bytes += final.stat().st_size
        self.origins[final.name] = origin
        return final

    @property
    def count(self) -> int:
        return self.verifier.count

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
