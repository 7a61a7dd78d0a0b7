"""The one interface every data source implements: demo, local, tcia and idc.

The raw assets talk only to this interface, so switching ``RADIOGENOMICS_SOURCE`` changes where
bytes come from and nothing downstream. Each method leaves complete, verified files or raises;
none returns a partial result.
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import pandas as pd

from radiogenomics_assets.sources.rejections import Rejection

LogFn = Callable[[str], None]
#: What :meth:`DataSource.fetch_series` placed: file name in ``dest_dir`` -> its origin.
SeriesOrigins = dict[str, str]

# Columns of DataSource.imaging_manifest(), one row per series.
MANIFEST_COLUMNS: dict[str, str] = {
    "patient_id": "patient the series belongs to (validated id)",
    "modality": "'CT' or 'SEG'",
    "series_uid": "SeriesInstanceUID",
    "study_uid": "StudyInstanceUID",
    "referenced_series_uid": "for a SEG, the CT series it segments (NULL where the source "
    "cannot know it before the SEG is downloaded); NULL for CT",
    "instance_count": "number of DICOM instances the source announces",
    "series_description": "SeriesDescription",
    "size_bytes": "announced size of the series in bytes (NULL if unknown)",
    "source_location": "where the series is fetched from (path, URL or IDC uuid)",
}


def empty_manifest() -> pd.DataFrame:
    return pd.DataFrame({column: pd.Series(dtype="object") for column in MANIFEST_COLUMNS})


@dataclass(frozen=True)
class Manifest:
    """What a source offers: one row per series (:data:`MANIFEST_COLUMNS`), and what it refused.

    ``rejections`` lists every file, series or patient the source saw but will not serve, so
    the raw asset stores them beside the rows instead of leaving them in a log; ``warnings``
    are facts about kept series worth a WARN line (a SeriesInstanceUID two patients share).
    """

    frame: pd.DataFrame
    rejections: tuple[Rejection, ...] = ()
    warnings: tuple[str, ...] = ()


class SourceError(RuntimeError):
    """A source could not deliver what was asked; the message names patient, series or URL."""


class DataSource(abc.ABC):
    """Where the cohort's bytes come from."""

    name: ClassVar[str]
    #: True when the source works without network access (demo, local, IDC manifest).
    offline: ClassVar[bool]

    @abc.abstractmethod
    def fetch_clinical_labels(self, dest: Path, log: LogFn) -> None:
        """Write the TCIA clinical labels CSV to ``dest`` (complete, or not at all)."""

    @abc.abstractmethod
    def fetch_rnaseq_matrix(self, dest: Path, log: LogFn) -> None:
        """Write the GEO-format RNA-seq matrix (tab-separated, optionally gzipped) to ``dest``."""

    def clinical_origin(self) -> str:
        """The clinical labels file as the user named it (configured path or URL).

        Messages and rejected records name this, never the file store's copy.
        """
        return f"the {self.name} source's clinical labels"

    def rnaseq_origin(self) -> str:
        """The RNA-seq matrix as the user named it (configured path or URL)."""
        return f"the {self.name} source's RNA-seq matrix"

    @abc.abstractmethod
    def imaging_manifest(self, log: LogFn) -> Manifest:
        """One row per CT or SEG series (:data:`MANIFEST_COLUMNS`) and the records refused."""

    def patient_series(self, patient_id: str, log: LogFn) -> pd.DataFrame:
        """The manifest rows of one patient (a source with a cheaper query overrides this)."""
        manifest = self.imaging_manifest(log).frame
        return manifest[manifest["patient_id"] == patient_id].reset_index(drop=True)

    @abc.abstractmethod
    def fetch_series(
        self, patient_id: str, series_uid: str, dest_dir: Path, log: LogFn
    ) -> SeriesOrigins | None:
        """Place every DICOM instance of one series into the empty folder ``dest_dir``.

        Returns where each placed file came from, by its name in ``dest_dir``, as the user
        knows it (their own file, a zip member of a URL, an object URL): the store renames the
        files, and errors about them later must name the user's file (None: cannot tell).
        The caller publishes ``dest_dir`` atomically only if this returns; on any failure it
        raises :class:`SourceError` (or a subclass) and the caller discards the folder.
        Sources do not cap their own downloads: the raw assets call this inside the Dagster
        pool :data:`~radiogenomics_assets.defs.names.DOWNLOAD_POOL`, whose limit holds across every
        run on the instance (see :mod:`radiogenomics_assets.defs.instance_config`).
        """

    def describe(self) -> dict[str, str]:
        """Metadata for the Dagster UI: which source, where from, and whether it was offline."""
        return {"source": self.name, "offline": str(self.offline)}
