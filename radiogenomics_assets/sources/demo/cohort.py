"""Generate a whole demo cohort into a folder, atomically and at most once per configuration.

Layout of a cohort folder::

    NSCLCR01Radiogenomic_DATA_LABELS_demo.csv   clinical labels (real columns and vocabularies)
    GSE103584_R01_NSCLC_RNAseq_demo.txt.gz      GEO-style expression matrix
    dicom/<PatientID>/<study>/<series>/...      CT series and SEGs, NBIA Data Retriever layout
    ground_truth.csv                            the oracle: latents, true times, flags (no model
                                                may read it)
    signal.json                                 the planted model and the driver genes
    files.csv                                   path, bytes and sha256 of each file above
    cohort.json                                 config, generator version, digest of files.csv

The cohort is built in a hidden sibling folder and renamed into place, under a lock file beside
it, so concurrent callers never see a half-written cohort and never build it twice.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import multiprocessing
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from radiogenomics_assets.sources.demo.clinical import write_clinical_csv
from radiogenomics_assets.sources.demo.config import DEFAULT_CONFIG, GENERATOR_VERSION, DemoConfig
from radiogenomics_assets.sources.demo.dicom_writer import (
    NODULE_SEGMENT_LABEL,
    ImagingIdentity,
    study_folder_name,
    write_ct_series,
    write_seg,
)
from radiogenomics_assets.sources.demo.expression import write_expression_matrix
from radiogenomics_assets.sources.demo.integrity import (
    COHORT_FILENAME,
    FILES_FILENAME,
    GENERATOR_NAME,
    DemoCohortError,
    files_table,
    incomplete_reason,
    read_cohort_json,
    verify_files,
)
from radiogenomics_assets.sources.demo.phantom import Phantom, synthesize_phantom
from radiogenomics_assets.sources.demo.plan import plan_cohort
from radiogenomics_assets.sources.demo.randomness import uid
from radiogenomics_assets.sources.demo.truth import (
    consort_counts,
    ground_truth_table,
    signal_document,
)
from radiogenomics_assets.store.files import replace_directory

LogFn = Callable[[str], None]

CLINICAL_FILENAME = "NSCLCR01Radiogenomic_DATA_LABELS_demo.csv"
RNASEQ_FILENAME = "GSE103584_R01_NSCLC_RNAseq_demo.txt.gz"
DICOM_DIRNAME = "dicom"
GROUND_TRUTH_FILENAME = "ground_truth.csv"
SIGNAL_FILENAME = "signal.json"
#: Below this many patients per worker a process pool costs more than it saves.
_MIN_PATIENTS_PER_WORKER = 12


@dataclass(frozen=True)
class DemoCohort:
    """Where the files of a generated cohort are."""

    root: Path
    clinical_csv: Path
    rnaseq_matrix: Path
    dicom_root: Path
    ground_truth_csv: Path
    config: DemoConfig

    @property
    def signal_json(self) -> Path:
        return self.root / SIGNAL_FILENAME

    @property
    def files_csv(self) -> Path:
        return self.root / FILES_FILENAME

    @property
    def cohort_json(self) -> Path:
        return self.root / COHORT_FILENAME


def cohort_at(root: Path, config: DemoConfig) -> DemoCohort:
    """The paths a cohort for ``config`` has under ``root`` (whether or not it exists yet)."""
    root = Path(root)
    return DemoCohort(
        root=root,
        clinical_csv=root / CLINICAL_FILENAME,
        rnaseq_matrix=root / RNASEQ_FILENAME,
        dicom_root=root / DICOM_DIRNAME,
        ground_truth_csv=root / GROUND_TRUTH_FILENAME,
        config=config,
    )


def _identity(config: DemoConfig, patient: pd.Series) -> ImagingIdentity:
    pid = str(patient["patient_id"])
    seed = config.seed
    return ImagingIdentity(
        patient_id=pid,
        patient_sex=str(patient["sex"]),
        patient_age=int(patient["age"]),
        study_date=patient["ct_date"],
        study_time=str(patient["ct_time"]),
        study_uid=uid(seed, pid, "study"),
        ct_series_uid=uid(seed, pid, "ct-series"),
        frame_of_reference_uid=uid(seed, pid, "frame-of-reference"),
        ct_instance_uids=tuple(uid(seed, pid, "ct", str(k)) for k in range(config.n_slices)),
        seg_series_uid=uid(seed, pid, "seg-series"),
        seg_instance_uid=uid(seed, pid, "seg"),
        dimension_organization_uid=uid(seed, pid, "dimension-organization"),
    )


def _write_imaging(dicom_root: Path, config: DemoConfig, patient: pd.Series) -> dict[str, Any]:
    identity = _identity(config, patient)
    phantom: Phantom = synthesize_phantom(config, patient)
    study_dir = dicom_root / identity.patient_id / study_folder_name(identity)
    _, datasets = write_ct_series(study_dir, phantom, identity)
    with_lung = bool(patient["has_second_segment"])
    write_seg(study_dir, phantom, identity, datasets, with_lung=with_lung)
    center = phantom.nodule_center_mm
    return {
        "patient_id": identity.patient_id,
        "nodule_voxels": phantom.nodule_voxels,
        "nodule_equivalent_diameter_mm": phantom.equivalent_diameter_mm,
        "nodule_hu_mean": phantom.nodule_hu_mean,
        "nodule_hu_sd": phantom.nodule_hu_sd,
        "nodule_center_x_mm": center[0],
        "nodule_center_y_mm": center[1],
        "nodule_center_z_mm": center[2],
        "nodule_slices": int(phantom.nodule_mask.any(axis=(1, 2)).sum()),
        "study_uid": identity.study_uid,
        "ct_series_uid": identity.ct_series_uid,
        "seg_series_uid": identity.seg_series_uid,
        "nodule_segment_number": 2 if with_lung else 1,
        "nodule_segment_label": NODULE_SEGMENT_LABEL,
    }


def _write_json(path: Path, document: dict[str, Any]) -> None:
    path.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def _write_all_imaging(
    dicom_root: Path, config: DemoConfig, patients: pd.DataFrame, workers: int
) -> list[dict[str, Any]]:
    rows = [row for _, row in patients.iterrows()]
    if workers <= 1 or len(rows) < _MIN_PATIENTS_PER_WORKER * 2:
        return [_write_imaging(dicom_root, config, row) for row in rows]
    # Spawned workers: forking a process that may hold threads (torch, Dagster) can deadlock.
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        futures = [pool.submit(_write_imaging, dicom_root, config, row) for row in rows]
        return [future.result() for future in futures]


def _build(folder: Path, config: DemoConfig, log: LogFn, workers: int) -> dict[str, int]:
    cohort = cohort_at(folder, config)
    plan = plan_cohort(config)
    write_clinical_csv(cohort.clinical_csv, plan)
    truth = write_expression_matrix(cohort.rnaseq_matrix, plan, config)
    cohort.dicom_root.mkdir()
    imaging = _write_all_imaging(cohort.dicom_root, config, plan[plan["has_seg"]], workers)
    ground_truth = ground_truth_table(plan, imaging)
    ground_truth.to_csv(cohort.ground_truth_csv, index=False, float_format="%.10g")
    _write_json(cohort.signal_json, signal_document(config, truth))
    files = files_table(folder)
    cohort.files_csv.write_bytes(files)
    counts = consort_counts(ground_truth)
    _write_json(
        cohort.cohort_json,
        {
            "generator": GENERATOR_NAME,
            "generator_version": GENERATOR_VERSION,
            "config": config.to_dict(),
            "config_digest": config.digest(),
            "files_digest": hashlib.sha256(files).hexdigest(),
            "counts": counts,
        },
    )
    log(f"demo cohort: wrote {len(imaging)} CT+SEG studies and {len(plan)} clinical rows")
    return counts


def verify_demo_cohort(cohort: DemoCohort) -> None:
    """Re-hash every file of ``cohort`` against its ``files.csv``.

    Raises:
        DemoCohortError: the cohort is incomplete, or a file's sha256 differs (file named).
    """
    verify_files(cohort.root, cohort.config)


@contextmanager
def _exclusive_lock(path: Path) -> Iterator[None]:
    with open(path, "a+b") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def generate_demo_cohort(
    root: Path,
    config: DemoConfig = DEFAULT_CONFIG,
    *,
    log: LogFn | None = None,
    workers: int = 1,
) -> DemoCohort:
    """Write the cohort of ``config`` into ``root``, or return the complete one already there.

    Same config, same bytes: every random draw, UID, date and time derives from the seed, and
    each patient's files depend only on that patient, so ``workers`` never changes the output.
    ``workers > 1`` writes the imaging in spawned processes, which re-import the caller's main
    module: use it only from an importable script guarded by ``if __name__ == "__main__"`` (or
    from pytest, Dagster or a notebook), never from code piped into ``python -``.

    Raises:
        TypeError: ``config`` is not a :class:`DemoConfig`.
        ValueError: ``workers`` is not a positive integer.
        DemoCohortError: ``root`` exists, is not empty and was not written by this generator
            (it is never deleted), or holds an unreadable ``cohort.json``.
    """
    if not isinstance(config, DemoConfig):
        raise TypeError(f"config must be a DemoConfig, got {type(config).__name__}")
    emit: LogFn = log if log is not None else (lambda _message: None)
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be a positive integer, got {workers!r}")
    root = Path(root).absolute()
    root.parent.mkdir(parents=True, exist_ok=True)
    cohort = cohort_at(root, config)
    with _exclusive_lock(root.parent / f".{root.name}.lock"):
        if root.exists():
            if not root.is_dir():
                raise DemoCohortError(f"{root} exists and is not a folder")
            reason = incomplete_reason(root, config)
            if reason is None:
                emit(f"demo cohort: reusing the complete cohort at {root}")
                return cohort
            if read_cohort_json(root) is None and any(root.iterdir()):
                raise DemoCohortError(
                    f"{root} is not empty and holds no demo cohort; refusing to replace it"
                )
            emit(f"demo cohort: regenerating {root} because {reason}")
        with replace_directory(root) as temp:
            started = time.perf_counter()
            counts = _build(temp, config, emit, workers)
        emit(
            f"demo cohort: generated {counts['total']} patients in "
            f"{time.perf_counter() - started:.1f} s at {root}"
        )
    return cohort
