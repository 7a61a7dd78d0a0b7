"""Raw files are published with their rows: a refused or killed run leaves both as they were.

Every raw asset is first ingested from a local copy of the small demo cohort; then the user's
input is broken (or the run is killed with SIGKILL in the middle of a write) and the DuckDB
tables and the file store are compared byte for byte with what they were.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pydicom
import pytest
from dagster import DagsterInstance, materialize

from radiogenomics_assets.defs.assets.raw import (
    clinical_labels,
    ct_series,
    imaging_manifest,
    nodule_segmentation,
    rnaseq_expression,
)
from radiogenomics_assets.defs.registration import register_patients_from_store
from radiogenomics_assets.defs.resources.source import LocalSourceResource
from radiogenomics_assets.defs.resources.store import StoreResource
from radiogenomics_assets.store.snapshot import SNAPSHOT_TABLE
from radiogenomics_assets_tests.conftest import REPO_ROOT
from radiogenomics_assets_tests.dagster_layer.conftest import resources_for
from radiogenomics_assets_tests.dagster_layer.test_raw_bad_input import _ct_files, _local_copy

INGEST = [clinical_labels, rnaseq_expression, imaging_manifest]
PER_PATIENT = [nodule_segmentation, ct_series]
_MARKER_WAIT_S = 120


@dataclass
class Ingested:
    source: LocalSourceResource
    dicom_root: Path
    instance: DagsterInstance
    resources: dict[str, object]
    patients: list[str]

    def run(self, assets, partition: str | None = None):
        return materialize(
            assets,
            partition_key=partition,
            instance=self.instance,
            resources=self.resources,
            raise_on_error=False,
        )


@pytest.fixture
def ingested(small_cohort, store: StoreResource, tmp_path: Path):
    source, dicom_root = _local_copy(small_cohort, tmp_path)
    # One refused clinical row, so that raw.rejected_records has a slice to keep as well.
    csv = Path(source.clinical_csv)
    lines = csv.read_text().splitlines()
    csv.write_text("\n".join([*lines, "R01/../x" + lines[1][lines[1].index(",") :]]) + "\n")
    with DagsterInstance.ephemeral() as instance:
        state = Ingested(source, dicom_root, instance, resources_for(store, source), [])
        assert state.run(INGEST).success
        state.patients = register_patients_from_store(instance, store)
        assert state.run(PER_PATIENT, state.patients[0]).success
        yield state


def _tables(store: StoreResource) -> dict[str, list[tuple]]:
    """Every table's rows, but ``store_snapshot``: it names the last write, not what it wrote
    (a refused run whose other assets stored the same rows again still moves it)."""
    with store.get_connection() as conn:
        names = conn.execute(
            "SELECT table_schema, table_name FROM information_schema.tables "
            f"WHERE table_name <> '{SNAPSHOT_TABLE}' ORDER BY ALL"
        ).fetchall()
        return {
            f"{schema}.{name}": conn.execute(f'SELECT * FROM "{schema}"."{name}" ORDER BY ALL')
            .fetchdf()
            .astype(str)
            .values.tolist()
            for schema, name in names
        }


def _files(store: StoreResource, *, hidden: bool = True) -> dict[str, str]:
    """Every entry under files/raw: sha256 of a file, "dir" for a folder."""
    root = store.files.path("raw")
    entries = {}
    for path in sorted(root.rglob("*")):
        relpath = path.relative_to(root).as_posix()
        if not hidden and any(part.startswith(".") for part in relpath.split("/")):
            continue
        entries[relpath] = "dir" if path.is_dir() else hashlib.sha256(path.read_bytes()).hexdigest()
    return entries


def _seg_file(dicom_root: Path, patient: str) -> Path:
    (seg,) = [
        p
        for p in (dicom_root / patient).rglob("*.dcm")
        if pydicom.dcmread(p, stop_before_pixels=True).Modality == "SEG"
    ]
    return seg


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _drop_required_column(state: Ingested) -> None:
    csv = Path(state.source.clinical_csv)
    pd.read_csv(csv, dtype=str).drop(columns=["CT Date"]).to_csv(csv, index=False)


def _break_a_matrix_cell(state: Ingested) -> None:
    matrix = Path(state.source.rnaseq_matrix)
    with gzip.open(matrix, "rt") as handle:
        lines = handle.read().splitlines()
    cells = lines[2].split("\t")
    cells[1] = "n/a"
    lines[2] = "\t".join(cells)
    with gzip.open(matrix, "wt") as handle:
        handle.write("\n".join(lines) + "\n")


BREAKS = {
    "clinical_labels": _drop_required_column,
    "rnaseq_expression": _break_a_matrix_cell,
    "imaging_manifest": lambda state: state.dicom_root.rename(state.dicom_root.with_name("gone")),
    "nodule_segmentation": lambda state: _truncate(_seg_file(state.dicom_root, state.patients[0])),
    "ct_series": lambda state: _truncate(_ct_files(state.dicom_root, state.patients[0])[3]),
}
ASSETS = {asset.key.path[-1]: asset for asset in [*INGEST, *PER_PATIENT]}


@pytest.mark.parametrize("name", list(BREAKS))
def test_a_refused_reingest_leaves_rows_and_files_as_they_were(
    ingested: Ingested, store: StoreResource, name: str
) -> None:
    tables, files = _tables(store), _files(store)
    assert tables["raw.rejected_records"] and tables["raw.stored_files"]

    BREAKS[name](ingested)
    partitioned = name in {"nodule_segmentation", "ct_series"}
    assets = PER_PATIENT if partitioned else [ASSETS[name]]
    if name == "ct_series":  # the SEG is unchanged; rerun both, as a patient's run does
        assets = PER_PATIENT
    result = ingested.run(assets, ingested.patients[0] if partitioned else None)
    assert not result.success

    assert _tables(store) == tables
    assert _files(store) == files


def test_a_changed_file_is_published_beside_and_replaces_the_old_one(
    ingested: Ingested, store: StoreResource
) -> None:
    user_csv = Path(ingested.source.clinical_csv)
    before = _files(store)
    user_csv.write_text(user_csv.read_text().replace("\n", "\r\n"))  # same rows, new bytes
    assert ingested.run([clinical_labels]).success

    digest = hashlib.sha256(user_csv.read_bytes()).hexdigest()
    assert sorted(p.name for p in store.files.path("raw", "clinical_labels").iterdir()) == [
        f"{digest}.csv"
    ]
    with store.get_connection() as conn:
        pointer = conn.execute(
            "SELECT path, sha256, source_file FROM raw.stored_files "
            "WHERE recorded_by = 'raw/clinical_labels'"
        ).fetchall()
    assert pointer == [(f"raw/clinical_labels/{digest}.csv", digest, str(user_csv))]
    assert {k: v for k, v in _files(store).items() if "clinical" not in k} == {
        k: v for k, v in before.items() if "clinical" not in k
    }


def test_a_changed_series_gets_a_new_folder_and_rows_that_match_it(
    ingested: Ingested, store: StoreResource
) -> None:
    patient = ingested.patients[0]
    with store.get_connection() as conn:
        (old_folder,) = conn.execute(
            "SELECT path FROM raw.stored_files WHERE recorded_by = ?",
            [f"raw/ct_series[{patient}]"],
        ).fetchone()
    victim = _ct_files(ingested.dicom_root, patient)[0]
    ds = pydicom.dcmread(victim)
    ds.ImageComments = "re-exported"
    ds.save_as(victim)

    assert ingested.run(PER_PATIENT, patient).success
    with store.get_connection() as conn:
        rows = conn.execute(
            "SELECT path, sha256 FROM raw.ct_series WHERE patient_id = ?", [patient]
        ).fetchall()
    new_folders = {path.rsplit("/", 1)[0] for path, _ in rows}
    assert len(new_folders) == 1 and new_folders != {old_folder}
    assert not (store.files.root / old_folder).exists()
    for path, sha256 in rows:
        assert hashlib.sha256((store.files.root / path).read_bytes()).hexdigest() == sha256
    series_folder = (store.files.root / next(iter(new_folders))).parent
    assert [p.name for p in series_folder.iterdir()] == [next(iter(new_folders)).split("/")[-1]]


def _run_until_stopped(
    tmp_path: Path, store: StoreResource, source: LocalSourceResource, **spec: str
) -> None:
    """Start :mod:`interrupted_run` in a real process; SIGKILL it once it reports the stop."""
    marker = tmp_path / f"stopped-{spec['where']}"
    spec_path = tmp_path / "spec.json"
    settings = ("dicom_root", "clinical_csv", "rnaseq_matrix")
    spec_path.write_text(
        json.dumps(
            {
                **spec,
                "database": store.database,
                "source": {key: getattr(source, key) for key in settings},
                "marker": str(marker),
            }
        )
    )
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "DAGSTER_HOME": str(tmp_path)}
    child = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "radiogenomics_assets_tests.dagster_layer.interrupted_run",
            str(spec_path),
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + _MARKER_WAIT_S
        while not marker.exists():
            if child.poll() is not None:
                output = child.stdout.read().decode(errors="replace")[-3000:]
                pytest.fail(f"the child ended (rc {child.returncode}) before its stop:\n{output}")
            if time.monotonic() > deadline:
                pytest.fail(f"the child did not reach its stop within {_MARKER_WAIT_S} s")
            time.sleep(0.1)
        os.kill(child.pid, signal.SIGKILL)
        assert child.wait(timeout=30) == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()
        child.stdout.close()


@pytest.mark.slow  # a fresh interpreter imports Dagster: about 12 s
@pytest.mark.parametrize("where", ["rows", "publish"])
def test_a_partition_write_killed_midway_leaves_nothing_partial(
    ingested: Ingested, store: StoreResource, tmp_path: Path, where: str
) -> None:
    """Killed inside the transaction of a new patient's CT rows: before the files' rename, and
    after it (a complete folder no row points at yet)."""
    patient = ingested.patients[1]
    assert ingested.run([nodule_segmentation], patient).success
    tables, files = _tables(store), _files(store, hidden=False)

    _run_until_stopped(
        tmp_path, store, ingested.source, asset="ct_series", partition=patient, where=where
    )

    assert _tables(store) == tables
    published = {k: v for k, v in _files(store, hidden=False).items() if k not in files}
    ours = [k for k in published if k.split("/")[:2] == ["ct", patient]]
    assert ours == list(published)
    if where == "rows":  # only the (empty) folders the staging folder was made in
        assert set(published.values()) == {"dir"}
    else:  # renamed, not committed: complete, under its content name, and pointed at by no row
        assert "dir" in published.values() and len(set(published.values())) > 1

    assert ingested.run(PER_PATIENT, patient).success
    with store.get_connection() as conn:
        rows = conn.execute(
            "SELECT path, sha256 FROM raw.ct_series WHERE patient_id = ?", [patient]
        ).fetchall()
    after = _files(store)
    assert rows and all(after[path.removeprefix("raw/")] == sha256 for path, sha256 in rows)
    assert not [k for k in after if k.split("/")[:2] == ["ct", patient] and "/." in "/" + k]


@pytest.mark.slow  # a fresh interpreter imports Dagster: about 11 s
def test_a_file_store_write_killed_midway_leaves_nothing_partial(
    ingested: Ingested, store: StoreResource, tmp_path: Path
) -> None:
    """Killed halfway through copying a changed clinical CSV into the file store."""
    user_csv = Path(ingested.source.clinical_csv)
    user_csv.write_text(user_csv.read_text().replace("\n", "\r\n"))
    tables, files = _tables(store), _files(store, hidden=False)

    _run_until_stopped(tmp_path, store, ingested.source, asset="clinical_labels", where="file")

    assert _tables(store) == tables
    assert _files(store, hidden=False) == files
    leftovers = [k for k in _files(store) if k not in files]
    assert leftovers and all(k.split("/")[-1].startswith(".") for k in leftovers)

    assert ingested.run([clinical_labels]).success
    digest = hashlib.sha256(user_csv.read_bytes()).hexdigest()
    assert [p.name for p in store.files.path("raw", "clinical_labels").iterdir()] == [
        f"{digest}.csv"
    ]
