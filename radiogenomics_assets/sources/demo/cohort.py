"""Generate a demo cohort into a folder, grow or shrink it in place, at most once per state.

Layout of a cohort folder::

    NSCLCR01Radiogenomic_DATA_LABELS_demo.csv   clinical labels (real columns and vocabularies)
    GSE103584_R01_NSCLC_RNAseq_demo.txt.gz      GEO-style expression matrix
    dicom/<PatientID>/<study>/<series>/...      CT series and SEGs, NBIA Data Retriever layout
    ground_truth.csv                            the oracle: latents, true times, flags (no model
                                                may read it)
    signal.json                                 the planted model and the driver genes
    files.csv                                   path, bytes and sha256 of each file above
    cohort.json                                 config, generator version, digest of files.csv

A folder holds one *population* (:meth:`DemoConfig.population_digest`); its size follows the
last caller's ``n_patients``. Bringing a folder to n patients keeps every existing patient
folder that matches ``files.csv`` untouched, writes each missing patient's DICOM into a hidden
folder renamed into place (a patient folder exists completely or not at all), removes the
folders of patients beyond n (how a patient withdrawn from a source is shown), rewrites the
tables through temporary files and writes ``cohort.json`` last. ``cohort.json`` says
``"state": "updating"`` meanwhile, so an interrupted update is finished by the next call. A
folder that does not exist yet, or holds another population, is built in a hidden sibling and
renamed into place. All of it runs under a lock file beside the folder, so concurrent callers
never see a half-written cohort and never build it twice.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import multiprocessing
import os
import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

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
    UPDATING_STATE,
    DemoCohortError,
    FileRecord,
    files_table,
    incomplete_reason,
    read_cohort_json,
    read_files_table,
    same_population,
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
from radiogenomics_assets.store.files import replace_directory, sha256_file

LogFn = Callable[[str], None]

CLINICAL_FILENAME = "NSCLCR01Radiogenomic_DATA_LABELS_demo.csv"
RNASEQ_FILENAME = "GSE103584_R01_NSCLC_RNAseq_demo.txt.gz"
DICOM_DIRNAME = "dicom"
GROUND_TRUTH_FILENAME = "ground_truth.csv"
SIGNAL_FILENAME = "signal.json"
#: Below this many patients per worker a process pool costs more than it saves.
_MIN_PATIENTS_PER_WORKER = 12
#: Hidden names of what an update writes or removes; an interrupted update's are cleared.
_PARTIAL_PREFIX = ".partial-"
_RETIRED_PREFIX = ".retired-"

T = TypeVar("T")


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


def _imaging_summary(
    identity: ImagingIdentity, phantom: Phantom, with_lung: bool
) -> dict[str, Any]:
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


#: The ground-truth columns that come from the phantom rather than the plan.
IMAGING_COLUMNS = (
    "patient_id",
    "nodule_voxels",
    "nodule_equivalent_diameter_mm",
    "nodule_hu_mean",
    "nodule_hu_sd",
    "nodule_center_x_mm",
    "nodule_center_y_mm",
    "nodule_center_z_mm",
    "nodule_slices",
    "study_uid",
    "ct_series_uid",
    "seg_series_uid",
    "nodule_segment_number",
    "nodule_segment_label",
)
_IMAGING_TEXT_COLUMNS = (
    "patient_id",
    "study_uid",
    "ct_series_uid",
    "seg_series_uid",
    "nodule_segment_label",
)


def _write_imaging(dicom_root: Path, config: DemoConfig, patient: pd.Series) -> dict[str, Any]:
    """Write one patient's CT and SEG as ``dicom_root/<PatientID>``, complete or not at all."""
    identity = _identity(config, patient)
    phantom: Phantom = synthesize_phantom(config, patient)
    with_lung = bool(patient["has_second_segment"])
    with replace_directory(dicom_root / identity.patient_id) as patient_dir:
        study_dir = patient_dir / study_folder_name(identity)
        _, datasets = write_ct_series(study_dir, phantom, identity)
        write_seg(study_dir, phantom, identity, datasets, with_lung=with_lung)
    return _imaging_summary(identity, phantom, with_lung)


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


def _replace_file(path: Path, write: Callable[[Path], T]) -> T:
    """``write`` a temporary sibling of ``path``, then rename it over ``path``."""
    temp = path.with_name(f"{_PARTIAL_PREFIX}{path.name}")
    try:
        result = write(temp)
        os.replace(temp, path)
    finally:
        temp.unlink(missing_ok=True)
    return result


def _remove_tree(path: Path) -> None:
    """Rename ``path`` out of the way, then delete it, so it never lies half-deleted."""
    retired = path.with_name(f"{_RETIRED_PREFIX}{uuid.uuid4().hex}-{path.name}")
    os.replace(path, retired)
    shutil.rmtree(retired)


def _remove_leftovers(folder: Path) -> None:
    """Delete what an interrupted update left: temporary tables and patient folders."""
    for directory in (folder, folder / DICOM_DIRNAME):
        for path in directory.glob(".*"):
            if path.name.startswith((_PARTIAL_PREFIX, _RETIRED_PREFIX)):
                if path.is_dir():
                    shutil.rmtree(path)
                else:
                    path.unlink()


def _listing(dicom_root: Path, patient_id: str) -> dict[str, int]:
    """Path (relative to the cohort) and size of each file of one patient folder."""
    folder = dicom_root / patient_id
    return {
        f"{DICOM_DIRNAME}/{path.relative_to(dicom_root).as_posix()}": path.stat().st_size
        for path in folder.rglob("*")
        if path.is_file()
    }


@dataclass(frozen=True)
class _Previous:
    """What a folder held before an update: its files list and trusted imaging summaries."""

    files: dict[str, FileRecord]
    imaging: dict[str, dict[str, Any]]
    patients: tuple[str, ...]

    @classmethod
    def nothing(cls) -> _Previous:
        return cls(files={}, imaging={}, patients=())

    @classmethod
    def read(cls, folder: Path) -> _Previous:
        files = read_files_table(folder)
        path = folder / GROUND_TRUTH_FILENAME
        if not path.is_file():
            return cls(files=files, imaging={}, patients=())
        frame = pd.read_csv(
            path,
            dtype=dict.fromkeys(_IMAGING_TEXT_COLUMNS, str),
            keep_default_na=False,
            na_values=[""],
            float_precision="round_trip",
        )
        patients = tuple(frame["patient_id"]) if "patient_id" in frame else ()
        record = files.get(GROUND_TRUTH_FILENAME)
        # Reuse the phantom figures only from the ground truth the files list vouches for.
        if (
            record is None
            or record[1] != sha256_file(path)
            or not set(IMAGING_COLUMNS) <= set(frame)
        ):
            return cls(files=files, imaging={}, patients=patients)
        imaged = frame.loc[frame["nodule_voxels"].notna(), list(IMAGING_COLUMNS)]
        imaging = {row["patient_id"]: row for row in imaged.to_dict("records")}
        return cls(files=files, imaging=imaging, patients=patients)

    def listing(self, patient_id: str) -> dict[str, int]:
        prefix = f"{DICOM_DIRNAME}/{patient_id}/"
        return {path: size for path, (size, _) in self.files.items() if path.startswith(prefix)}


def _kept_imaging(
    config: DemoConfig, patients: pd.DataFrame, previous: _Previous
) -> list[dict[str, Any]]:
    summaries = []
    for _, patient in patients.iterrows():
        known = previous.imaging.get(str(patient["patient_id"]))
        if known is None:
            # The folder is intact but the old figures are not trusted: redraw the phantom.
            phantom = synthesize_phantom(config, patient)
            known = _imaging_summary(
                _identity(config, patient), phantom, bool(patient["has_second_segment"])
            )
        summaries.append(known)
    return summaries


def _short_list(ids: list[str], limit: int = 8) -> str:
    shown = ", ".join(ids[:limit])
    return f"{shown}, ... ({len(ids)} in all)" if len(ids) > limit else shown


def _build(
    folder: Path,
    config: DemoConfig,
    log: LogFn,
    workers: int,
    previous: _Previous | None = None,
) -> dict[str, int]:
    """Bring ``folder`` to the cohort of ``config``, rewriting only what differs.

    ``previous`` describes what ``folder`` held (nothing for a new folder).
    """
    previous = previous if previous is not None else _Previous.nothing()
    cohort = cohort_at(folder, config)
    description = {
        "generator": GENERATOR_NAME,
        "generator_version": GENERATOR_VERSION,
        "config": config.to_dict(),
        "config_digest": config.digest(),
        "population_digest": config.population_digest(),
    }
    # Until the final description replaces this one, any reader sees an unfinished update.
    _replace_file(
        cohort.cohort_json,
        lambda path: _write_json(path, {**description, "state": UPDATING_STATE}),
    )
    _remove_leftovers(folder)
    cohort.dicom_root.mkdir(exist_ok=True)

    plan = plan_cohort(config)
    imaged = plan[plan["has_seg"]]
    wanted = set(imaged["patient_id"])
    present = {p.name for p in cohort.dicom_root.iterdir() if not p.name.startswith(".")}
    kept = {
        pid
        for pid in present & wanted
        if (cohort.dicom_root / pid).is_dir()
        and _listing(cohort.dicom_root, pid) == previous.listing(pid)
    }
    for name in sorted(present - kept):
        target = cohort.dicom_root / name
        if target.is_dir():
            _remove_tree(target)
        else:
            target.unlink()
    written = _write_all_imaging(
        cohort.dicom_root, config, imaged[~imaged["patient_id"].isin(kept)], workers
    )
    imaging = written + _kept_imaging(config, imaged[imaged["patient_id"].isin(kept)], previous)

    _replace_file(cohort.clinical_csv, lambda path: write_clinical_csv(path, plan))
    truth = _replace_file(
        cohort.rnaseq_matrix, lambda path: write_expression_matrix(path, plan, config)
    )
    ground_truth = ground_truth_table(plan, imaging)
    _replace_file(
        cohort.ground_truth_csv,
        lambda path: ground_truth.to_csv(path, index=False, float_format="%.10g"),
    )
    _replace_file(
        cohort.signal_json, lambda path: _write_json(path, signal_document(config, truth))
    )
    known = {
        path: record
        for path, record in previous.files.items()
        if path.startswith(f"{DICOM_DIRNAME}/") and path.split("/")[1] in kept
    }
    files = files_table(folder, known)
    _replace_file(cohort.files_csv, lambda path: path.write_bytes(files))
    counts = consort_counts(ground_truth)
    _replace_file(
        cohort.cohort_json,
        lambda path: _write_json(
            path,
            {**description, "files_digest": hashlib.sha256(files).hexdigest(), "counts": counts},
        ),
    )

    before, now = set(previous.patients), plan["patient_id"].tolist()
    added = [pid for pid in now if pid not in before]
    removed = [pid for pid in previous.patients if pid not in set(now)]
    if before:
        log(
            f"demo cohort: {len(now)} patients at {folder}: added {len(added)}"
            + (f" ({_short_list(added)})" if added else "")
            + f", removed {len(removed)}"
            + (f" ({_short_list(removed)})" if removed else "")
            + f"; wrote {len(written)} CT+SEG studies, kept {len(kept)}"
        )
    else:
        log(f"demo cohort: wrote {len(written)} CT+SEG studies and {len(plan)} clinical rows")
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
    """Bring ``root`` to the cohort of ``config``: reuse it, grow or shrink it, or build it.

    Same config, same bytes: every random draw, UID, date and time derives from the seed, and
    each patient's files and rows depend only on that patient, so ``workers`` never changes the
    output, and a folder that held another size of the same population ends up byte-identical
    to a fresh build, with the folders of the patients it kept untouched.
    ``workers > 1`` writes the imaging in spawned processes, which re-import the caller's main
    module: use it only from an importable script guarded by ``if __name__ == "__main__"`` (or
    from pytest, Dagster or a notebook), never from code piped into ``python -``.

    Raises:
        TypeError: ``config`` is not a :class:`DemoConfig`.
        ValueError: ``workers`` is not a positive integer, or the realized cohort has no
            patient with RNA-seq.
        DemoCohortError: ``root`` exists, is not empty and was not written by this generator
            (it is never deleted), or holds an unreadable ``cohort.json`` or ``files.csv``.
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
            document = read_cohort_json(root)
            if document is None and any(root.iterdir()):
                raise DemoCohortError(
                    f"{root} is not empty and holds no demo cohort; refusing to replace it"
                )
            if document is not None and same_population(document, config):
                reason = incomplete_reason(root, config)
                if reason is None:
                    emit(f"demo cohort: reusing the complete cohort at {root}")
                    return cohort
                emit(f"demo cohort: updating {root} because {reason}")
                started = time.perf_counter()
                counts = _build(root, config, emit, workers, _Previous.read(root))
                emit(
                    f"demo cohort: updated to {counts['total']} patients in "
                    f"{time.perf_counter() - started:.1f} s at {root}"
                )
                return cohort
            if document is not None:
                emit(f"demo cohort: regenerating {root} because {incomplete_reason(root, config)}")
        with replace_directory(root) as temp:
            started = time.perf_counter()
            counts = _build(temp, config, emit, workers)
        emit(
            f"demo cohort: generated {counts['total']} patients in "
            f"{time.perf_counter() - started:.1f} s at {root}"
        )
    return cohort
