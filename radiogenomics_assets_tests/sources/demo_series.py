"""The demo cohort's DICOM as the loopback servers serve it: one :class:`ServedSeries` per series.

The files are the demo generator's own CT slices and DICOM SEGs (read with pydicom and grouped
by SeriesInstanceUID), so what the download code checks (Part 10 encoding, SeriesInstanceUID,
SOPInstanceUID, the SEG's ReferencedSeriesSequence, sizes and digests) is checked on the same
bytes the rest of the pipeline reads.
"""

from __future__ import annotations

import io
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import pydicom
from pydicom.uid import generate_uid


@dataclass(frozen=True)
class ServedSeries:
    """One series as getImage serves it: (member name, Part 10 bytes), plus its identifiers.

    Members are named ``00000001.dcm``, ``00000002.dcm``, ... in InstanceNumber order, as NBIA
    names them when ``NewFileNames`` is not asked for.
    """

    patient_id: str
    study_uid: str
    series_uid: str
    modality: str
    description: str
    series_number: int
    files: tuple[tuple[str, bytes], ...]

    @property
    def size_bytes(self) -> int:
        return sum(len(data) for _, data in self.files)


#: A patient's (CT series, SEG series), keyed by PatientID.
Cohort = dict[str, tuple[ServedSeries, ServedSeries]]


def _member_name(index: int) -> str:
    return f"{index + 1:08d}.dcm"


def _series_from(datasets: list[tuple[pydicom.Dataset, bytes]]) -> ServedSeries:
    ordered = sorted(datasets, key=lambda item: int(item[0].get("InstanceNumber", 0)))
    first = ordered[0][0]
    return ServedSeries(
        patient_id=str(first.PatientID),
        study_uid=str(first.StudyInstanceUID),
        series_uid=str(first.SeriesInstanceUID),
        modality=str(first.Modality),
        description=str(first.get("SeriesDescription", "")),
        series_number=int(first.get("SeriesNumber", 0)),
        files=tuple((_member_name(index), data) for index, (_, data) in enumerate(ordered)),
    )


def read_served_series(dicom_root: Path) -> list[ServedSeries]:
    """Every series under ``dicom_root`` (any folder layout), sorted by patient then modality.

    Raises:
        ValueError: no ``.dcm`` file under ``dicom_root``.
    """
    groups: dict[str, list[tuple[pydicom.Dataset, bytes]]] = defaultdict(list)
    for path in sorted(Path(dicom_root).rglob("*.dcm")):
        data = path.read_bytes()
        header = pydicom.dcmread(io.BytesIO(data), stop_before_pixels=True)
        groups[str(header.SeriesInstanceUID)].append((header, data))
    if not groups:
        raise ValueError(f"no .dcm file under {dicom_root}")
    series = [_series_from(items) for items in groups.values()]
    return sorted(series, key=lambda s: (s.patient_id, s.modality, s.series_uid))


def demo_cohort_series(dicom_root: Path) -> Cohort:
    """The imaged patients of a demo cohort, each with its one CT and its one SEG.

    Raises:
        ValueError: a patient has another number of CT or SEG series than one each.
    """
    by_patient: dict[str, dict[str, list[ServedSeries]]] = defaultdict(lambda: defaultdict(list))
    for item in read_served_series(dicom_root):
        by_patient[item.patient_id][item.modality].append(item)
    cohort: Cohort = {}
    for patient_id, modalities in sorted(by_patient.items()):
        counts = {modality: len(items) for modality, items in modalities.items()}
        if counts != {"CT": 1, "SEG": 1}:
            raise ValueError(
                f"demo patient {patient_id} has series {counts} under {dicom_root}; "
                "expected one CT and one SEG"
            )
        cohort[patient_id] = (modalities["CT"][0], modalities["SEG"][0])
    return cohort


def as_new_series(
    series: ServedSeries, *, n_instances: int, series_number: int, description: str
) -> ServedSeries:
    """Another series of the same patient and study: the first ``n_instances`` instances of
    ``series`` under a new SeriesInstanceUID and new SOPInstanceUIDs (a second reconstruction,
    as NSCLC-Radiogenomics patients have, that no SEG references).

    Raises:
        ValueError: ``n_instances`` is not in ``[1, len(series.files)]``.
    """
    if not 1 <= n_instances <= len(series.files):
        raise ValueError(
            f"n_instances must be in [1, {len(series.files)}] for series {series.series_uid}, "
            f"got {n_instances}"
        )
    series_uid = generate_uid()
    files = []
    for index, (_, data) in enumerate(series.files[:n_instances]):
        dataset = pydicom.dcmread(io.BytesIO(data))
        sop_uid = generate_uid()
        dataset.SeriesInstanceUID = series_uid
        dataset.SOPInstanceUID = sop_uid
        dataset.file_meta.MediaStorageSOPInstanceUID = sop_uid
        dataset.SeriesNumber = series_number
        dataset.SeriesDescription = description
        buffer = io.BytesIO()
        dataset.save_as(buffer, enforce_file_format=True)
        files.append((_member_name(index), buffer.getvalue()))
    return ServedSeries(
        patient_id=series.patient_id,
        study_uid=series.study_uid,
        series_uid=series_uid,
        modality=series.modality,
        description=description,
        series_number=series_number,
        files=tuple(files),
    )
