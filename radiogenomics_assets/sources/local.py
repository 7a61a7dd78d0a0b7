"""A data source over files already on disk: any DICOM tree, a clinical CSV and a GEO matrix.

The imaging manifest comes from the DICOM headers, never from folder names, so the NBIA Data
Retriever layout, IDC downloads and hand-made trees all work. Series are grouped by
SeriesInstanceUID; CT and SEG series are kept, everything else is counted and reported.

Fetching a series copies every file of its folder(s) after checking that each one parses and
belongs to that series and patient. A folder must therefore hold one series (as NBIA and IDC
downloads do): a stray file of another series in it is refused by name rather than silently
left behind or mixed in.
"""

from __future__ import annotations

import os
import re
import shutil
import struct
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import pandas as pd
import pydicom
from pydicom.errors import InvalidDicomError

from radiogenomics_assets.dicom.errors import TruncatedDicomError
from radiogenomics_assets.dicom.headers import check_pixel_data_complete
from radiogenomics_assets.ids import InvalidPatientIdError, validate_patient_id
from radiogenomics_assets.sources.base import (
    MANIFEST_COLUMNS,
    DataSource,
    LogFn,
    SourceError,
    empty_manifest,
)

KEPT_MODALITIES = ("CT", "SEG")
UID_PATTERN = re.compile(r"^(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*$")
_HEADER_TAGS = [
    "SOPClassUID",
    "SOPInstanceUID",
    "Modality",
    "PatientID",
    "StudyInstanceUID",
    "SeriesInstanceUID",
    "SeriesDescription",
    "ReferencedSeriesSequence",
]
# What pydicom raises on a file that starts like DICOM but is truncated or malformed.
_MALFORMED = (EOFError, OSError, ValueError, KeyError, IndexError, struct.error)
_EXAMPLES = 3


class LocalSourceError(SourceError):
    """A local input is missing or unusable; the message names the path."""


class SeriesNotFoundError(LocalSourceError):
    """No DICOM file of the requested series is under the DICOM root."""


class SeriesFileError(LocalSourceError):
    """A file in a series folder does not parse, or belongs to another series or patient."""


def is_valid_uid(value: object) -> bool:
    """Whether ``value`` is a syntactically valid DICOM UID (digits and dots, at most 64)."""
    return isinstance(value, str) and len(value) <= 64 and bool(UID_PATTERN.fullmatch(value))


@dataclass(frozen=True)
class _Header:
    path: Path
    size: int
    sop_uid: str
    series_uid: str
    study_uid: str
    modality: str
    patient_id: str
    description: str
    referenced_series_uids: tuple[str, ...]


@dataclass
class _Scan:
    headers: list[_Header]
    non_dicom: list[Path]
    malformed: list[tuple[Path, str]]


def _text(ds: pydicom.Dataset, keyword: str) -> str:
    value = ds.get(keyword, "")
    return "" if value is None else str(value)


def _read_header(path: Path) -> _Header | None:
    """The header of ``path``, or None if it is not a DICOM file (no 'DICM' preamble)."""
    try:
        ds = pydicom.dcmread(path, stop_before_pixels=True, specific_tags=_HEADER_TAGS)
    except InvalidDicomError:
        return None
    referenced = tuple(
        str(item.SeriesInstanceUID)
        for item in ds.get("ReferencedSeriesSequence", [])
        if "SeriesInstanceUID" in item
    )
    return _Header(
        path=path,
        size=path.stat().st_size,
        sop_uid=_text(ds, "SOPInstanceUID"),
        series_uid=_text(ds, "SeriesInstanceUID"),
        study_uid=_text(ds, "StudyInstanceUID"),
        modality=_text(ds, "Modality"),
        patient_id=_text(ds, "PatientID"),
        description=_text(ds, "SeriesDescription"),
        referenced_series_uids=referenced,
    )


def _scan(root: Path) -> _Scan:
    scan = _Scan(headers=[], non_dicom=[], malformed=[])
    for folder, dirs, files in os.walk(root):
        dirs.sort()
        for name in sorted(files):
            path = Path(folder) / name
            if not path.is_file():
                continue
            try:
                header = _read_header(path)
            except _MALFORMED as error:
                scan.malformed.append((path, f"{type(error).__name__}: {error}"))
                continue
            if header is None:
                scan.non_dicom.append(path)
            elif not header.series_uid or not header.sop_uid:
                scan.malformed.append(
                    (path, "no SeriesInstanceUID or SOPInstanceUID (a DICOMDIR or damaged file)")
                )
            else:
                scan.headers.append(header)
    return scan


def _examples(paths: list[Path], root: Path) -> str:
    shown = [p.relative_to(root).as_posix() if p.is_relative_to(root) else str(p) for p in paths]
    more = f" and {len(paths) - _EXAMPLES} more" if len(paths) > _EXAMPLES else ""
    return ", ".join(shown[:_EXAMPLES]) + more


def _single(values: set[str]) -> str | None:
    return next(iter(values)) if len(values) == 1 else None


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


class LocalSource(DataSource):
    """Serve a cohort from a local DICOM tree, clinical CSV and RNA-seq matrix."""

    name: ClassVar[str] = "local"
    offline: ClassVar[bool] = True

    def __init__(self, dicom_root: Path, clinical_csv: Path, rnaseq_matrix: Path) -> None:
        self.dicom_root = Path(dicom_root)
        self.clinical_csv = Path(clinical_csv)
        self.rnaseq_matrix = Path(rnaseq_matrix)

    def describe(self) -> dict[str, str]:
        return {
            **super().describe(),
            "dicom_root": str(self.dicom_root),
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
        if not self.dicom_root.is_dir():
            raise LocalSourceError(f"DICOM root {self.dicom_root} is not a folder")

    def imaging_manifest(self, log: LogFn) -> pd.DataFrame:
        """One row per CT or SEG series found by reading every file's header.

        Series with an invalid patient id or UID, or whose files disagree on patient, study or
        modality, are skipped and logged by UID; files that are not DICOM, malformed DICOM
        files and series of other modalities are counted and logged with examples.

        Raises:
            LocalSourceError: the DICOM root is not a folder.
        """
        self._require_root()
        return self._manifest_under(self.dicom_root, log)

    def patient_series(self, patient_id: str, log: LogFn) -> pd.DataFrame:
        """The manifest rows of one patient, reading only ``<root>/<patient_id>`` when it exists.

        The NBIA and IDC layouts keep a patient's series under a folder named by the id, so a
        per-patient partition reads a few dozen headers instead of the whole tree.
        """
        validate_patient_id(patient_id, where="patient_series")
        self._require_root()
        patient_root = self.dicom_root / patient_id
        root = patient_root if patient_root.is_dir() else self.dicom_root
        manifest = self._manifest_under(root, log)
        return manifest[manifest["patient_id"] == patient_id].reset_index(drop=True)

    def _manifest_under(self, root: Path, log: LogFn) -> pd.DataFrame:
        scan = _scan(root)
        if scan.non_dicom:
            log(
                f"skipped {len(scan.non_dicom)} non-DICOM file(s) under {root}: "
                f"{_examples(scan.non_dicom, self.dicom_root)}"
            )
        for path, reason in scan.malformed:
            log(f"skipped malformed DICOM file {path}: {reason}")

        by_series: dict[str, list[_Header]] = defaultdict(list)
        for header in scan.headers:
            by_series[header.series_uid].append(header)
        rows = []
        other: Counter[str] = Counter()
        other_files: list[Path] = []
        for series_uid in sorted(by_series):
            row = self._manifest_row(series_uid, by_series[series_uid], log, other, other_files)
            if row is not None:
                rows.append(row)
        if other:
            summary = ", ".join(f"{m or '(no Modality)'}: {n}" for m, n in sorted(other.items()))
            log(
                f"skipped {sum(other.values())} series of other modalities ({summary}), "
                f"{len(other_files)} file(s): {_examples(other_files, self.dicom_root)}"
            )
        if not rows:
            log(f"no CT or SEG series under {root}")
            return empty_manifest()
        frame = pd.DataFrame(rows, columns=list(MANIFEST_COLUMNS))
        frame = frame.sort_values(["patient_id", "modality", "series_uid"], ignore_index=True)
        frame["instance_count"] = frame["instance_count"].astype("int64")
        frame["size_bytes"] = frame["size_bytes"].astype("int64")
        log(
            f"found {int((frame['modality'] == 'CT').sum())} CT and "
            f"{int((frame['modality'] == 'SEG').sum())} SEG series of "
            f"{frame['patient_id'].nunique()} patients under {root}"
        )
        return frame

    def _manifest_row(
        self,
        series_uid: str,
        headers: list[_Header],
        log: LogFn,
        other: Counter[str],
        other_files: list[Path],
    ) -> dict[str, object] | None:
        folders = sorted({str(h.path.parent) for h in headers})
        where = f"series {series_uid!r} in {folders[0]}"
        modality = _single({h.modality for h in headers})
        if modality is None:
            log(f"skipped {where}: its files disagree on Modality")
            return None
        if modality not in KEPT_MODALITIES:
            other[modality] += 1
            other_files.extend(h.path for h in headers)
            return None
        if not is_valid_uid(series_uid):
            log(f"skipped {where}: SeriesInstanceUID is not a valid UID")
            return None
        raw_patient = _single({h.patient_id for h in headers})
        if raw_patient is None:
            patients = sorted({h.patient_id for h in headers})
            log(f"skipped {where}: its files name several patients {patients}")
            return None
        try:
            patient_id = validate_patient_id(raw_patient, where=where)
        except InvalidPatientIdError as error:
            log(f"skipped {where}: {error}")
            return None
        study_uid = _single({h.study_uid for h in headers})
        if study_uid is None or not is_valid_uid(study_uid):
            log(f"skipped {where}: no single valid StudyInstanceUID")
            return None
        first_of: dict[str, _Header] = {}
        for header in headers:
            first_of.setdefault(header.sop_uid, header)
        if len(first_of) < len(headers):
            log(f"{where}: {len(headers) - len(first_of)} duplicate SOPInstanceUID(s) counted once")
        referenced = None
        if modality == "SEG":
            uids = sorted({u for h in headers for u in h.referenced_series_uids})
            if len(uids) > 1:
                log(f"{where}: the SEG references several series {uids}; using {uids[0]}")
            referenced = uids[0] if uids else None
        description = next((h.description for h in headers if h.description), "")
        return {
            "patient_id": patient_id,
            "modality": modality,
            "series_uid": series_uid,
            "study_uid": study_uid,
            "referenced_series_uid": referenced,
            "instance_count": len(first_of),
            "series_description": description,
            "size_bytes": sum(h.size for h in first_of.values()),
            "source_location": os.pathsep.join(folders),
        }

    def _series_folders(self, patient_id: str, series_uid: str) -> list[Path]:
        patient_root = self.dicom_root / patient_id
        searched: list[Path] = []
        if patient_root.is_dir():
            searched.append(patient_root)
        searched.append(self.dicom_root)
        for root in searched:
            folders = sorted(
                {h.path.parent for h in _scan(root).headers if h.series_uid == series_uid}
            )
            if folders:
                return folders
        raise SeriesNotFoundError(
            f"series {series_uid} of patient {patient_id} not found under {self.dicom_root}"
        )

    def fetch_series(self, patient_id: str, series_uid: str, dest_dir: Path, log: LogFn) -> None:
        """Copy the series' files into the empty folder ``dest_dir`` as ``<SOPInstanceUID>.dcm``.

        Raises:
            InvalidPatientIdError: ``patient_id`` is not a safe id.
            LocalSourceError: the DICOM root is missing, ``series_uid`` is not a UID, or
                ``dest_dir`` is not an empty folder.
            SeriesNotFoundError: no file of the series exists under the DICOM root.
            SeriesFileError: a DICOM file in the series folder(s) does not parse, belongs to
                another series or patient, has an invalid SOPInstanceUID, or repeats one with
                different bytes (the file is named).
        """
        validate_patient_id(patient_id, where="fetch_series")
        if not is_valid_uid(series_uid):
            raise LocalSourceError(f"series UID {series_uid!r} is not a valid DICOM UID")
        self._require_root()
        dest_dir = Path(dest_dir)
        if not dest_dir.is_dir() or any(dest_dir.iterdir()):
            raise LocalSourceError(f"destination {dest_dir} must be an existing, empty folder")

        chosen: dict[str, Path] = {}
        skipped: list[Path] = []
        for folder in self._series_folders(patient_id, series_uid):
            for path in sorted(p for p in folder.iterdir() if p.is_file()):
                sop_uid = self._check_file(path, patient_id, series_uid)
                if sop_uid is None:
                    if path.suffix.lower() == ".dcm":
                        raise SeriesFileError(
                            f"{path} in series {series_uid} of patient {patient_id} is named "
                            "like a DICOM instance but is not a DICOM file"
                        )
                    skipped.append(path)
                    continue
                if sop_uid in chosen:
                    if chosen[sop_uid].read_bytes() != path.read_bytes():
                        raise SeriesFileError(
                            f"{path} and {chosen[sop_uid]} both hold SOPInstanceUID {sop_uid} "
                            "with different contents"
                        )
                    continue
                chosen[sop_uid] = path
        for sop_uid, path in chosen.items():
            shutil.copyfile(path, dest_dir / f"{sop_uid}.dcm")
        if skipped:
            log(f"skipped {len(skipped)} non-DICOM file(s): {_examples(skipped, self.dicom_root)}")
        log(f"copied {len(chosen)} instance(s) of series {series_uid} ({patient_id})")

    def _check_file(self, path: Path, patient_id: str, series_uid: str) -> str | None:
        """The file's SOPInstanceUID after the checks, or None if it is not DICOM at all."""
        try:
            ds = pydicom.dcmread(path)
        except InvalidDicomError:
            return None
        except _MALFORMED as error:
            raise SeriesFileError(
                f"{path} in series {series_uid} does not parse: {type(error).__name__}: {error}"
            ) from error
        found_series = _text(ds, "SeriesInstanceUID")
        if found_series != series_uid:
            raise SeriesFileError(
                f"{path} belongs to series {found_series!r}, not {series_uid}; a series folder "
                "must hold only that series"
            )
        found_patient = _text(ds, "PatientID")
        if found_patient != patient_id:
            raise SeriesFileError(
                f"{path} of series {series_uid} belongs to patient {found_patient!r}, "
                f"not {patient_id}"
            )
        sop_uid = _text(ds, "SOPInstanceUID")
        if not is_valid_uid(sop_uid):
            raise SeriesFileError(f"{path} has an invalid SOPInstanceUID {sop_uid!r}")
        if "PixelData" not in ds:
            raise SeriesFileError(f"{path} of series {series_uid} has no pixel data")
        try:
            check_pixel_data_complete(ds, path)
        except TruncatedDicomError as error:
            raise SeriesFileError(
                f"series {series_uid} of patient {patient_id}: {error}"
            ) from error
        return sop_uid
