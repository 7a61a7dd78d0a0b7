"""A data source over files already on disk: any DICOM tree, a clinical CSV and a GEO matrix.

The imaging manifest comes from the DICOM headers, never from folder names, so the NBIA Data
Retriever layout, IDC downloads and hand-made trees all work.

Which files become which series, and what is refused (every refusal a
:class:`~radiogenomics_assets.sources.rejections.Rejection` that ``raw/imaging_manifest`` stores
and logs as a warning), is :mod:`radiogenomics_assets.sources.dicom_tree`'s job: in short, a
series is one patient's instances of one SeriesInstanceUID, so two patients sharing a UID keep
their own series.

Fetching a series checks every file of its folder(s) with the one
:class:`~radiogenomics_assets.dicom.headers.SeriesVerifier` before copying, and names the user's
file in any error. A folder must therefore hold one series (as NBIA and IDC downloads do): a
stray file of another series or patient in it is refused by name rather than silently left
behind or mixed in.
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path
from typing import ClassVar

import pandas as pd

from radiogenomics_assets.dicom.errors import NotDicomError
from radiogenomics_assets.dicom.headers import (
    SeriesVerifier,
    inspect_dicom_file,
)
from radiogenomics_assets.ids import (
    InvalidUidError,
    validate_patient_id,
    validate_uid,
)
from radiogenomics_assets.sources.base import (
    DataSource,
    LogFn,
    Manifest,
    SeriesOrigins,
    SourceError,
    empty_manifest,
)
from radiogenomics_assets.sources.dicom_tree import DicomTree, is_system_companion
from radiogenomics_assets.sources.header_cache import HeaderCache

_EXAMPLES = 3


class LocalSourceError(SourceError):
    """A local input is missing or unusable; the message names the path."""


class SeriesNotFoundError(LocalSourceError):
    """No DICOM file of the requested series and patient is under the DICOM root."""


def _examples(names: list[str]) -> str:
    more = f" and {len(names) - _EXAMPLES} more" if len(names) > _EXAMPLES else ""
    return ", ".join(names[:_EXAMPLES]) + more


def _atomic_copy(source: Path, dest: Path, what: str, log: LogFn) -> None:
    if not source.is_file():
        raise LocalSourceError(f"{what} not found at {source}")
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    temp = dest.parent / f".tmp-{uuid.uuid4().hex}-{dest.name}"
    try:
        shutil.copyfile(source, temp)
        with open(temp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(temp, dest)
    finally:
        temp.unlink(missing_ok=True)
    log(f"copied {what} {source} ({dest.stat().st_size} bytes) to {dest}")


def _place(source: Path, dest: Path, *, link: bool) -> bool:
    """Hard-link (when asked and the file system allows it) or copy; True if linked."""
    if link:
        try:
            os.link(source, dest)
            return True
        except OSError:  # another file system, or one without hard links
            pass
    shutil.copyfile(source, dest)
    return False


class LocalSource(DataSource):
    """Serve a cohort from a local DICOM tree, clinical CSV and RNA-seq matrix."""

    name: ClassVar[str] = "local"
    offline: ClassVar[bool] = True

    def __init__(
        self,
        dicom_root: Path | None,
        clinical_csv: Path,
        rnaseq_matrix: Path,
        *,
        link_series: bool = False,
        header_cache: Path | None = None,
    ) -> None:
        """``link_series``: hard-link fetched DICOM files instead of copying them, for trees
        that are never written again (the demo's generated cohort); a user's tree is copied,
        since the user may edit or delete it after the ingest. ``header_cache``: a folder
        where the headers read are kept until their files change
        (:mod:`~radiogenomics_assets.sources.header_cache`); None reads every header on every
        scan. ``dicom_root`` None: a source without imaging (a genomics-only study), whose
        manifest is empty."""
        self.dicom_root = Path(dicom_root) if dicom_root is not None else None
        self.clinical_csv = Path(clinical_csv)
        self.rnaseq_matrix = Path(rnaseq_matrix)
        self.link_series = link_series
        self.header_cache = HeaderCache(header_cache) if header_cache else None

    def describe(self) -> dict[str, str]:
        return {
            **super().describe(),
            "dicom_root": str(self.dicom_root) if self.dicom_root else "none (no imaging)",
            "clinical_csv": str(self.clinical_csv),
            "rnaseq_matrix": str(self.rnaseq_matrix),
        }

    def clinical_origin(self) -> str:
        return str(self.clinical_csv)

    def rnaseq_origin(self) -> str:
        return str(self.rnaseq_matrix)

    def fetch_clinical_labels(self, dest: Path, log: LogFn) -> None:
        """Copy the clinical CSV to ``dest`` atomically.

        Raises:
            LocalSourceError: the CSV does not exist.
        """
        _atomic_copy(self.clinical_csv, dest, "clinical labels CSV", log)

    def fetch_rnaseq_matrix(self, dest: Path, log: LogFn) -> None:
        """Copy the expression matrix to ``dest`` atomically.

        Raises:
            LocalSourceError: the matrix does not exist.
        """
        _atomic_copy(self.rnaseq_matrix, dest, "RNA-seq matrix", log)

    def _require_root(self) -> None:
        if self.dicom_root is None:
            raise LocalSourceError(
                "this local source has no DICOM root (RADIOGENOMICS_LOCAL_DICOM or the study's "
                "source.dicom_root): it serves no imaging"
            )
        if not self.dicom_root.is_dir():
            raise LocalSourceError(f"DICOM root {self.dicom_root} is not a folder")

    def imaging_manifest(self, log: LogFn) -> Manifest:
        """One row per (patient, CT or SEG series) read from every file's header, and the
        records of every file, series and patient refused (see the module docstring).

        Raises:
            LocalSourceError: the DICOM root is not a folder.
        """
        if self.dicom_root is None:
            log("no DICOM root: the source serves no imaging, the manifest is empty")
            return Manifest(empty_manifest())
        self._require_root()
        return self._manifest_under(self.dicom_root, log)

    def patient_series(self, patient_id: str, log: LogFn) -> pd.DataFrame:
        """The manifest rows of one patient, reading only ``<root>/<patient_id>`` when it exists.

        The NBIA and IDC layouts keep a patient's series under a folder named by the id, so a
        per-patient partition reads a few dozen headers instead of the whole tree. When that
        folder holds no SEG with its CT (a series saved beside the patients' folders), the whole
        tree is read, as the manifest was: the patient is not lost to the layout.
        """
        validate_patient_id(patient_id, where="patient_series")
        self._require_root()
        patient_root = self.dicom_root / patient_id
        if patient_root.is_dir():
            rows = self._patient_rows(self._manifest_under(patient_root, log).frame, patient_id)
            if (rows["modality"] == "SEG").any():  # a SEG is kept only beside its CT
                return rows
            log(f"patient {patient_id}: no SEG with its CT under {patient_root}; reading the tree")
        return self._patient_rows(self._manifest_under(self.dicom_root, log).frame, patient_id)

    @staticmethod
    def _patient_rows(manifest: pd.DataFrame, patient_id: str) -> pd.DataFrame:
        return manifest[manifest["patient_id"] == patient_id].reset_index(drop=True)

    def _tree(self) -> DicomTree:
        return DicomTree(self.dicom_root, self.header_cache)

    def _manifest_under(self, root: Path, log: LogFn) -> Manifest:
        listed = self._tree().manifest(root)
        frame = listed.frame
        log(
            f"found {int((frame['modality'] == 'CT').sum())} CT and "
            f"{int((frame['modality'] == 'SEG').sum())} SEG series of "
            f"{frame['patient_id'].nunique()} patients under {root}; refused "
            f"{len(listed.rejections)} record(s)"
        )
        return listed

    def _series_files(self, patient_id: str, series_uid: str) -> list[Path]:
        """Every file in the folders that hold the patient's instances of the series."""
        patient_root = self.dicom_root / patient_id
        searched = [patient_root] if patient_root.is_dir() else []
        searched.append(self.dicom_root)
        for root in searched:
            folders = sorted(
                {
                    i.path.parent
                    for i in self._tree().scan(root).instances
                    if i.series_uid == series_uid and i.patient_id == patient_id
                }
            )
            if folders:
                return [p for folder in folders for p in sorted(folder.iterdir()) if p.is_file()]
        raise SeriesNotFoundError(
            f"series {series_uid} of patient {patient_id} not found under {self.dicom_root}"
        )

    def fetch_series(
        self, patient_id: str, series_uid: str, dest_dir: Path, log: LogFn
    ) -> SeriesOrigins:
        """Copy the series' files into the empty folder ``dest_dir`` as ``<SOPInstanceUID>.dcm``
        and return the user's file each came from, by that name.

        Files in the series' folder(s) that are not DICOM and not named ``*.dcm``, and macOS
        ``._*`` companions, are skipped (and logged); a byte-identical second copy of an
        instance is skipped too.

        Raises:
            InvalidPatientIdError: ``patient_id`` is not a safe id.
            LocalSourceError: the DICOM root is missing, ``series_uid`` is not a UID, or
                ``dest_dir`` is not an empty folder.
            SeriesNotFoundError: no file of the patient's series exists under the DICOM root.
            DicomValidationError (subclasses): from the verifier, naming the user's file: a
                ``*.dcm`` file that is not DICOM, a truncated file, a file of another series or
                patient, or a SOPInstanceUID repeated with different bytes.
        """
        validate_patient_id(patient_id, where="fetch_series")
        try:
            validate_uid(series_uid, what="series UID")
        except InvalidUidError as error:
            raise LocalSourceError(f"series UID {series_uid!r} is not a valid DICOM UID") from error
        self._require_root()
        dest_dir = Path(dest_dir)
        if not dest_dir.is_dir() or any(dest_dir.iterdir()):
            raise LocalSourceError(f"destination {dest_dir} must be an existing, empty folder")

        verifier = SeriesVerifier(series_uid, patient_id=patient_id)
        chosen: dict[str, Path] = {}
        skipped: list[str] = []
        for path in self._series_files(patient_id, series_uid):
            if is_system_companion(path.name):
                skipped.append(self._tree().name(path))
                continue
            try:
                header = inspect_dicom_file(path)
            except NotDicomError:
                if path.suffix.lower() == ".dcm":
                    raise
                skipped.append(self._tree().name(path))
                continue
            first = chosen.get(header.sop_instance_uid)
            if first is not None and first.read_bytes() == path.read_bytes():
                continue
            verifier.check(header)
            chosen[header.sop_instance_uid] = path
        linked = 0
        for sop_uid, path in chosen.items():
            linked += _place(path, dest_dir / f"{sop_uid}.dcm", link=self.link_series)
        if skipped:
            examples = _examples(skipped)
            log(f"skipped {len(skipped)} non-DICOM or macOS companion file(s): {examples}")
        how = f"linked {linked}, copied {len(chosen) - linked}" if self.link_series else "copied"
        log(f"{how} instance(s) of series {series_uid} ({patient_id})")
        return {f"{sop_uid}.dcm": str(path) for sop_uid, path in chosen.items()}
