"""Read a folder of DICOM files into a manifest: one series per (patient, SeriesInstanceUID).

What the manifest keeps, and what it refuses (each refusal is a
:class:`~radiogenomics_assets.sources.rejections.Rejection` that ``raw/imaging_manifest`` stores
in ``raw.rejected_records`` and logs as a warning; nothing is dropped with only a log line):

* A series is the instances of **one patient** with one SeriesInstanceUID: every instance belongs
  to the patient its own PatientID names. When two patients' instances share a SeriesInstanceUID
  (a de-identification that mapped UIDs wrongly), each patient keeps its own instances as its
  own series, and the manifest warns about the shared UID. Neither patient is dropped for the
  collision: each series is consistent within its patient, every later step addresses a series
  by patient and UID, and a SEG is only matched to a CT of its own patient.
* ``dicom_file``: a file that is not DICOM or whose header cannot be parsed or lacks its UIDs;
  a second file holding a SOPInstanceUID already seen in its series (the first, in path order,
  is kept).
* ``dicom_series`` (one patient's instances of one UID): files that disagree on Modality or
  StudyInstanceUID, an invalid UID or patient id (an instance without a valid PatientID cannot
  be attributed to anyone), a modality other than CT and SEG, and a SEG that references no
  series, several series, or a series that is not a CT series of the same patient here.
* ``patient``: a patient left without a SEG series by these refusals (only patients with a SEG
  get partitions) gets one more record saying so, so a patient never leaves the partitions
  silently.
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Iterator
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from radiogenomics_assets.dicom.errors import DicomValidationError, NotDicomError
from radiogenomics_assets.dicom.headers import inspect_dicom_file, referenced_series_uid
from radiogenomics_assets.ids import (
    InvalidPatientIdError,
    InvalidUidError,
    validate_patient_id,
    validate_uid,
)
from radiogenomics_assets.sources.base import MANIFEST_COLUMNS, Manifest, empty_manifest
from radiogenomics_assets.sources.header_cache import HeaderCache, file_signature
from radiogenomics_assets.sources.rejections import Rejection

KEPT_MODALITIES = ("CT", "SEG")
_EXAMPLES = 3


@dataclass(frozen=True)
class TreeInstance:
    """The header fields of one DICOM file that decide which series it belongs to."""

    path: Path
    #: the file's path under the DICOM root, as messages and records name it
    name: str
    size: int
    sop_uid: str
    series_uid: str
    study_uid: str
    modality: str
    patient_id: str
    description: str
    referenced: str | None
    #: why the SEG's reference could not be read (several series), else None
    reference_error: str | None


@dataclass
class TreeScan:
    """What a scan found: the readable instances and a record per refused file."""

    instances: list[TreeInstance] = field(default_factory=list)
    refused: list[Rejection] = field(default_factory=list)


def is_system_companion(name: str) -> bool:
    """A file macOS writes beside each copied file (AppleDouble ``._<name>``, resource fork and
    Finder attributes): never DICOM, though it keeps the ``.dcm`` suffix of the file it shadows."""
    return name.startswith("._")


def _files(root: Path) -> Iterator[Path]:
    """Every file under ``root``, in path order, through linked folders too (a patient folder
    kept on another disk) but into no real folder twice (a link that loops back)."""
    visited: set[str] = set()
    for folder, dirs, files in os.walk(root, followlinks=True):
        real = os.path.realpath(folder)
        if real in visited:
            dirs.clear()
            continue
        visited.add(real)
        dirs.sort()
        for name in sorted(files):
            if is_system_companion(name):
                continue
            path = Path(folder) / name
            if path.is_file():
                yield path


def _single(values: set[str]) -> str | None:
    return next(iter(values)) if len(values) == 1 else None


def _examples(names: list[str]) -> str:
    more = f" and {len(names) - _EXAMPLES} more" if len(names) > _EXAMPLES else ""
    return ", ".join(names[:_EXAMPLES]) + more


class DicomTree:
    """The DICOM files under the user's ``dicom_root``, named in records relative to it."""

    def __init__(self, dicom_root: Path, header_cache: HeaderCache | None = None) -> None:
        self.dicom_root = Path(dicom_root)
        self.header_cache = header_cache

    def name(self, path: Path) -> str:
        """``path`` as the user knows it: relative to the configured DICOM root."""
        return (
            path.relative_to(self.dicom_root).as_posix()
            if path.is_relative_to(self.dicom_root)
            else str(path)
        )

    def scan(self, root: Path) -> TreeScan:
        """Every file under ``root``: the instances read, and a record for each refused.

        With a header cache, a file unchanged since it was last read is not read again.
        """
        scan = TreeScan()
        seen: list[str] = []
        with self.header_cache or nullcontext() as cache:
            for path in _files(root):
                name = self.name(path)
                stat = path.stat()
                signature = file_signature(stat)
                outcome = cache.get(name, signature) if cache else None
                if outcome is None:
                    outcome = self._read(path, name)
                    if cache:
                        cache.put(name, signature, outcome)
                seen.append(name)
                if "refused" in outcome:
                    scan.refused.append(self._file_refused(name, outcome["refused"]))
                else:
                    scan.instances.append(
                        TreeInstance(path=path, name=name, size=stat.st_size, **outcome)
                    )
            if cache and root == self.dicom_root:
                cache.forget_all_but(seen)
        return scan

    @staticmethod
    def _read(path: Path, name: str) -> dict[str, str | None]:
        """One file's outcome: the header fields of :class:`TreeInstance` (less the path,
        name and size), or ``{"refused": reason}``."""
        try:
            header = inspect_dicom_file(path, name=name, check_pixels=False)
        except NotDicomError:
            return {"refused": "not a DICOM file"}
        except DicomValidationError as error:
            return {"refused": str(error).removeprefix(f"{name}: ")}
        referenced, reference_error = None, None
        if header.modality == "SEG":
            try:
                referenced = referenced_series_uid(header.dataset, name)
            except DicomValidationError as error:
                reference_error = str(error).removeprefix(f"{name}: ")
        return {
            "sop_uid": header.sop_instance_uid,
            "series_uid": header.series_uid,
            "study_uid": header.study_uid,
            "modality": header.modality,
            "patient_id": header.patient_id,
            "description": str(header.dataset.get("SeriesDescription", "") or ""),
            "referenced": referenced,
            "reference_error": reference_error,
        }

    def _file_refused(self, name: str, reason: str, patient_id: str | None = None) -> Rejection:
        return Rejection(
            kind="dicom_file",
            source_file=str(self.dicom_root),
            location=name,
            reason=reason,
            patient_id=patient_id,
        )

    def manifest(self, root: Path) -> Manifest:
        """The series under ``root`` (the DICOM root or a folder inside it) and the refusals."""
        scan = self.scan(root)
        refused = list(scan.refused)
        groups: dict[tuple[str, str], list[TreeInstance]] = defaultdict(list)
        for instance in scan.instances:
            groups[(instance.series_uid, instance.patient_id)].append(instance)
        warnings = _shared_uid_warnings(groups)
        rows: list[dict[str, object]] = []
        for (series_uid, raw_patient), instances in sorted(groups.items()):
            row = self._series_row(series_uid, raw_patient, instances, refused)
            if row is not None:
                rows.append(row)
        rows = self._segs_with_their_ct(rows, groups, refused)
        refused.extend(self._lost_patients(scan.instances, rows, refused))
        if not rows:
            return Manifest(empty_manifest(), tuple(refused), tuple(warnings))
        frame = pd.DataFrame(rows, columns=list(MANIFEST_COLUMNS))
        frame = frame.sort_values(["patient_id", "modality", "series_uid"], ignore_index=True)
        frame["instance_count"] = frame["instance_count"].astype("int64")
        frame["size_bytes"] = frame["size_bytes"].astype("int64")
        return Manifest(frame, tuple(refused), tuple(warnings))

    def _series_refused(
        self,
        series_uid: str,
        instances: list[TreeInstance],
        reason: str,
        *,
        patient_id: str | None,
        raw_value: str | None = None,
    ) -> Rejection:
        folders = sorted({self.name(i.path.parent) for i in instances})
        return Rejection(
            kind="dicom_series",
            source_file=str(self.dicom_root),
            location=f"series {series_uid} ({len(instances)} file(s) in {_examples(folders)})",
            reason=reason,
            patient_id=patient_id,
            raw_value=raw_value,
        )

    def _series_row(
        self,
        series_uid: str,
        raw_patient: str,
        instances: list[TreeInstance],
        refused: list[Rejection],
    ) -> dict[str, object] | None:
        """The manifest row of one patient's instances of one UID, or None after recording why."""
        try:
            patient_id: str | None = validate_patient_id(raw_patient, where="its PatientID")
        except InvalidPatientIdError as error:
            patient_id = None
            problem: str | None = f"{error}; its files cannot be attributed to a patient"
        else:
            problem = None

        def refuse(reason: str, raw_value: str | None = None) -> None:
            refused.append(
                self._series_refused(
                    series_uid, instances, reason, patient_id=patient_id, raw_value=raw_value
                )
            )

        if problem is not None:
            refuse(problem, raw_value=raw_patient)
            return None
        modalities = {i.modality for i in instances}
        modality = _single(modalities)
        if modality is None:
            refuse(f"its files disagree on Modality {sorted(modalities)}")
            return None
        if modality not in KEPT_MODALITIES:
            refuse(f"Modality {modality!r}: only CT and SEG series are used")
            return None
        try:
            validate_uid(series_uid, what="SeriesInstanceUID")
            study_uid = _single({i.study_uid for i in instances})
            if study_uid is None:
                raise InvalidUidError("its files disagree on StudyInstanceUID")
            validate_uid(study_uid, what="StudyInstanceUID")
        except InvalidUidError as error:
            refuse(str(error))
            return None
        kept: dict[str, TreeInstance] = {}
        for instance in sorted(instances, key=lambda i: i.name):
            first = kept.setdefault(instance.sop_uid, instance)
            if first is not instance:
                refused.append(
                    self._file_refused(
                        instance.name,
                        f"a second file of SOPInstanceUID {instance.sop_uid} (series "
                        f"{series_uid}); {first.name} is used",
                        patient_id,
                    )
                )
        referenced = None
        if modality == "SEG":
            errors = sorted({i.reference_error for i in instances if i.reference_error})
            references = {i.referenced for i in instances if i.referenced}
            if errors or len(references) > 1:
                refuse(errors[0] if errors else f"the SEG references {sorted(references)}")
                return None
            if not references:
                refuse("the SEG names no referenced series (ReferencedSeriesSequence)")
                return None
            referenced = references.pop()
        return {
            "patient_id": patient_id,
            "modality": modality,
            "series_uid": series_uid,
            "study_uid": study_uid,
            "referenced_series_uid": referenced,
            "instance_count": len(kept),
            "series_description": next((i.description for i in kept.values() if i.description), ""),
            "size_bytes": sum(i.size for i in kept.values()),
            "source_location": os.pathsep.join(sorted({str(i.path.parent) for i in instances})),
        }

    def _segs_with_their_ct(
        self,
        rows: list[dict[str, object]],
        groups: dict[tuple[str, str], list[TreeInstance]],
        refused: list[Rejection],
    ) -> list[dict[str, object]]:
        """Drop (and record) the SEGs whose referenced series is not a CT of their patient."""
        cts = {(r["patient_id"], r["series_uid"]) for r in rows if r["modality"] == "CT"}
        kept = []
        for row in rows:
            patient_id, series_uid = row["patient_id"], row["series_uid"]
            if row["modality"] == "SEG" and (patient_id, row["referenced_series_uid"]) not in cts:
                refused.append(
                    self._series_refused(
                        str(series_uid),
                        groups[(str(series_uid), str(patient_id))],
                        f"the SEG references series {row['referenced_series_uid']}, which is "
                        f"not a CT series of patient {patient_id} under {self.dicom_root}",
                        patient_id=str(patient_id),
                    )
                )
            else:
                kept.append(row)
        return kept

    def _lost_patients(
        self,
        instances: list[TreeInstance],
        rows: list[dict[str, object]],
        refused: list[Rejection],
    ) -> list[Rejection]:
        """One ``patient`` record per patient that lost its partitions to refusals.

        Only patients with a SEG series get partitions (``registration.imaged_patients``), so a
        patient who had a SEG here, had records refused and has no SEG left is named here, not
        only in its series' records.
        """
        had_seg = {i.patient_id for i in instances if i.modality == "SEG"}
        refusals: dict[str, int] = defaultdict(int)
        for record in refused:
            if record.patient_id is not None:
                refusals[record.patient_id] += 1
        with_seg = {row["patient_id"] for row in rows if row["modality"] == "SEG"}
        return [
            Rejection(
                kind="patient",
                source_file=str(self.dicom_root),
                location=f"patient {patient_id}",
                reason=f"no SEG series of patient {patient_id} is left after "
                f"{refusals[patient_id]} refused record(s); the patient gets no partitions",
                patient_id=patient_id,
            )
            for patient_id in sorted((set(refusals) & had_seg) - with_seg)
        ]


def _shared_uid_warnings(groups: dict[tuple[str, str], list[TreeInstance]]) -> list[str]:
    """One line per SeriesInstanceUID that several patients' instances carry."""
    owners: dict[str, list[str]] = defaultdict(list)
    for series_uid, patient_id in groups:
        owners[series_uid].append(patient_id)
    return [
        f"series UID {uid} is carried by the instances of {len(patients)} patients "
        f"{sorted(patients)} (a de-identification error?); each patient's instances are kept "
        "as that patient's series"
        for uid, patients in sorted(owners.items())
        if len(patients) > 1
    ]
