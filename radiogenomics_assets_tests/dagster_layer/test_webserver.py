"""The UI's GraphQL on the project's workspace: `dagster dev` lists the graph and launches runs,
and `dagster-webserver` reports Dagster's own stale status while a changed SEG propagates.

A real webserver on a free loopback port, over a store and Dagster home under tmp_path, with the
small demo cohort as the source: what a user does and sees in the UI, end to end.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from dagster import DagsterInstance

from radiogenomics_assets.cli.runs import execute
from radiogenomics_assets.definitions import build_definitions
from radiogenomics_assets.defs.assets import patient_assets
from radiogenomics_assets.defs.instance_config import ensure_dagster_home
from radiogenomics_assets.defs.names import PATIENTS_PARTITIONS, SOURCE_IMAGING
from radiogenomics_assets.defs.registration import register_patients_from_store
from radiogenomics_assets.defs.resources.source import (
    LOCAL_CLINICAL_ENV,
    LOCAL_DICOM_ENV,
    LOCAL_RNASEQ_ENV,
)
from radiogenomics_assets.defs.resources.store import StoreResource
from radiogenomics_assets.defs.study import STUDY_ENV
from radiogenomics_assets_tests.dagster_layer.local_cohort import (
    RANDOM_WEIGHTS_STUDY,
    clear_one_mask_voxel,
    copy_as_local_folder,
)

pytestmark = [pytest.mark.slow, pytest.mark.integration]

REPO_ROOT = Path(__file__).resolve().parents[2]
SNAPSHOT = Path(__file__).with_name("asset_graph.json")
STARTUP_TIMEOUT_S = 180.0
RUN_TIMEOUT_S = 300.0
N_PATIENTS = 6
GRACEFUL_STOP_S = 10.0


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Webserver:
    def __init__(self, url: str) -> None:
        self.url = url

    def graphql(self, query: str, variables: dict | None = None) -> dict:
        response = requests.post(
            f"{self.url}/graphql", json={"query": query, "variables": variables or {}}, timeout=60
        )
        response.raise_for_status()
        body = response.json()
        assert "errors" not in body, body
        return body["data"]


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("RADIOGENOMICS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home" / "dagster_home"))
    monkeypatch.setenv("RADIOGENOMICS_SOURCE", "demo")
    monkeypatch.setenv("RADIOGENOMICS_DEMO_PATIENTS", str(N_PATIENTS))
    ensure_dagster_home()
    return tmp_path / "home"


@contextlib.contextmanager
def _serving(log_path: Path, *command: str) -> Iterator[Webserver]:
    """``dagster <command>`` on the workspace, on a free loopback port, until the block ends."""
    port = _free_port()
    dagster = Path(sys.executable).with_name(command[0])
    log = log_path.open("w")
    where = ["--host", "127.0.0.1", "--port", str(port), "-w", "workspace.yaml"]
    process = subprocess.Popen(
        [str(dagster), *command[1:], *where],
        cwd=REPO_ROOT,
        env=os.environ.copy(),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    server = Webserver(f"http://127.0.0.1:{port}")
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while True:
            if process.poll() is not None:
                pytest.fail(f"{command} exited with {process.returncode}; see {log.name}")
            try:
                if requests.get(f"{server.url}/server_info", timeout=5).ok:
                    break
            except requests.ConnectionError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"{command} did not answer within {STARTUP_TIMEOUT_S:.0f} s")
            time.sleep(1)
        yield server
    finally:
        # Ctrl-C, as a user stops it: `dagster dev` then shuts its webserver and daemon down
        # itself. It still waited a whole minute on them in CI (60 s of teardown on the slow
        # suite's longest worker), so after a few seconds the group is killed: nothing in the
        # store or the test's home depends on a graceful stop.
        process.send_signal(signal.SIGINT)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=GRACEFUL_STOP_S)
        with contextlib.suppress(ProcessLookupError):  # runs the daemon launched, if any
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        log.close()


@pytest.fixture
def webserver(home: Path, tmp_path: Path) -> Iterator[Webserver]:
    """`dagster dev`: the webserver and the daemon, whose run queue launches the UI's runs."""
    with _serving(tmp_path / "dagster_dev.log", "dagster", "dev") as server:
        yield server


def _location(server: Webserver) -> str:
    data = server.graphql(
        "{ workspaceOrError { ... on Workspace { locationEntries { name "
        "locationOrLoadError { __typename ... on PythonError { message } } } } } }"
    )
    (entry,) = data["workspaceOrError"]["locationEntries"]
    assert entry["locationOrLoadError"]["__typename"] == "RepositoryLocation", entry
    return entry["name"]


def _errors(server: Webserver, run_id: str) -> list[str]:
    events = server.graphql(
        """query Events($id: ID!) { logsForRun(runId: $id) { ... on EventConnection {
             events { ... on ErrorEvent { error { message } } } } } }""",
        {"id": run_id},
    )["logsForRun"]["events"]
    return [event["error"]["message"] for event in events if event.get("error")]


def _launch_and_wait(server: Webserver, location: str, job: str) -> None:
    launched = server.graphql(
        """mutation Launch($params: ExecutionParams!) {
             launchRun(executionParams: $params) {
               __typename
               ... on LaunchRunSuccess { run { runId } }
               ... on PythonError { message }
             }
           }""",
        {
            "params": {
                "selector": {
                    "repositoryLocationName": location,
                    "repositoryName": "__repository__",
                    "jobName": job,
                },
                "runConfigData": {},
            }
        },
    )["launchRun"]
    assert launched["__typename"] == "LaunchRunSuccess", launched
    run_id = launched["run"]["runId"]
    deadline = time.monotonic() + RUN_TIMEOUT_S
    while time.monotonic() < deadline:
        status = server.graphql(
            "query Run($id: ID!) { runOrError(runId: $id) { ... on Run { status } } }",
            {"id": run_id},
        )["runOrError"]["status"]
        if status == "SUCCESS":
            return
        if status in {"FAILURE", "CANCELED"}:
            pytest.fail(f"{job} run {run_id} ended {status}: {_errors(server, run_id)}")
        time.sleep(2)
    pytest.fail(f"{job} run {run_id} did not finish within {RUN_TIMEOUT_S:.0f} s")


def test_ui_lists_the_graph_and_runs_ingest_then_registration(webserver: Webserver, home: Path):
    location = _location(webserver)

    nodes = webserver.graphql("{ assetNodes { assetKey { path } groupName } }")["assetNodes"]
    listed = {"/".join(node["assetKey"]["path"]): node["groupName"] for node in nodes}
    snapshot = json.loads(SNAPSHOT.read_text())["assets"]
    expected = {key: spec["group"] for key, spec in snapshot.items()}
    assert listed == expected

    _launch_and_wait(webserver, location, "ingest_job")
    _launch_and_wait(webserver, location, "register_patients_job")

    # Through the store's own connection: the daemon's patients sensor reads the file too, and a
    # plain DuckDB connection failed on its lock when a tick coincided.
    store = StoreResource(database=str(home / "radiogenomics.duckdb"))
    with store.get_connection() as conn:
        n_clinical = conn.execute("SELECT count(*) FROM raw.clinical_labels").fetchone()[0]
        imaged = {
            row[0]
            for row in conn.execute(
                "SELECT DISTINCT patient_id FROM raw.imaging_manifest WHERE modality = 'SEG'"
            ).fetchall()
        }
    assert n_clinical == N_PATIENTS
    assert imaged

    with DagsterInstance.get() as instance:
        registered = set(instance.get_dynamic_partitions(PATIENTS_PARTITIONS))
    assert registered == imaged


@pytest.fixture
def local_dicom(home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, small_cohort) -> Path:
    """The small demo cohort served as the ``local`` source; returns its DICOM root."""
    paths = copy_as_local_folder(small_cohort, tmp_path / "local")
    monkeypatch.setenv("RADIOGENOMICS_SOURCE", "local")
    monkeypatch.setenv(LOCAL_DICOM_ENV, str(paths["dicom_root"]))
    monkeypatch.setenv(LOCAL_CLINICAL_ENV, str(paths["clinical_csv"]))
    monkeypatch.setenv(LOCAL_RNASEQ_ENV, str(paths["rnaseq_matrix"]))
    # The local source has no random fallback: DenseNet's weights are the study's, for the
    # webserver's code location as for this process's.
    monkeypatch.setenv(STUDY_ENV, str(RANDOM_WEIGHTS_STUDY))
    return paths["dicom_root"]


Node = tuple[str, str | None]


def _stale_status(server: Webserver, patients: list[str]) -> dict[Node, str]:
    """Dagster's own stale status of every asset, per patient for the patient partitions."""
    nodes = server.graphql(
        """{ assetNodes { assetKey { path } staleStatus
             partitionDefinition { dimensionTypes { dynamicPartitionsDefinitionName } } } }"""
    )["assetNodes"]
    status: dict[Node, str] = {}
    per_patient = []
    for node in nodes:
        dimensions = (node["partitionDefinition"] or {}).get("dimensionTypes") or []
        if not dimensions:
            status[("/".join(node["assetKey"]["path"]), None)] = node["staleStatus"]
        elif [d["dynamicPartitionsDefinitionName"] for d in dimensions] == [PATIENTS_PARTITIONS]:
            per_patient.append(node["assetKey"])
    nodes = server.graphql(
        """query Stale($keys: [AssetKeyInput!], $patients: [String!]) {
             assetNodes(assetKeys: $keys) {
               assetKey { path } staleStatusByPartition(partitions: $patients) } }""",
        {"keys": per_patient, "patients": patients},
    )["assetNodes"]
    for node in nodes:
        key = "/".join(node["assetKey"]["path"])
        by_patient = zip(patients, node["staleStatusByPartition"], strict=True)
        status.update(((key, patient), value) for patient, value in by_patient)
    return status


def _readers(nodes: set[Node], patients: list[str]) -> set[Node]:
    """The asset partitions that read ``nodes`` directly, from the snapshot of the graph: a
    patient's partition is read by the same patient's partitions and by every study asset."""
    deps = json.loads(SNAPSHOT.read_text())["assets"]
    readers: set[Node] = set()
    for key, partition in nodes:
        for reader, spec in deps.items():
            if key not in spec["deps"]:
                continue
            if spec["partitions"] is None:
                readers.add((reader, None))
            elif spec["partitions"] == "patients":
                readers |= {(reader, p) for p in ([partition] if partition else patients)}
    return readers


def test_after_a_changed_seg_dagster_marks_stale_that_patient_then_what_reads_it(
    local_dicom: Path, tmp_path: Path
):
    """Materialized here on the instance the webserver reads, asked through its GraphQL as the
    UI asks: Dagster's own stale status (not the walk's plan) while a changed SEG propagates.
    Dagster calls stale what reads an input with a new data version, one edge at a time."""
    defs = build_definitions()
    store = defs.resources["store"]
    with DagsterInstance.get() as instance:
        assert execute(defs, instance, "ingest_job").success
        register_patients_from_store(instance, store, log=lambda _line: None)
        patients = instance.get_dynamic_partitions(PATIENTS_PARTITIONS)
        for patient in patients:
            assert execute(defs, instance, "patient_assets_job", patient).success
        assert execute(defs, instance, "cohort_job").success

    with _serving(tmp_path / "webserver.log", "dagster-webserver") as server:

        def stale() -> set[Node]:
            return {
                node for node, value in _stale_status(server, patients).items() if value == "STALE"
            }

        assert stale() == set()
        changed = patients[1]
        clear_one_mask_voxel(local_dicom, changed)
        with DagsterInstance.get() as instance:
            # What the daemon's source schedule and patients sensor do when the source changes.
            assert execute(defs, instance, "ingest_job").success
            register_patients_from_store(instance, store, log=lambda _line: None)
        # A new source version of the patient, and a new manifest (the SEG's series UID).
        changed_inputs = {
            (SOURCE_IMAGING.to_user_string(), changed),
            ("raw/imaging_manifest", None),
        }
        assert stale() == _readers(changed_inputs, patients)

        with DagsterInstance.get() as instance:
            assert execute(defs, instance, "patient_assets_job", changed).success
        rerun = {(key.to_user_string(), changed) for a in patient_assets for key in a.keys}
        after_patient = stale()
        # One voxel less changes the radiomic features; the DenseNet crop may stay the same, and
        # then so does its data version and its table is fresh.
        assert ("features/radiomic_table", None) in after_patient
        assert after_patient <= _readers(rerun | changed_inputs, patients) - rerun
        assert not {partition for _, partition in after_patient} - {None}  # no patient left

        with DagsterInstance.get() as instance:
            assert execute(defs, instance, "cohort_job").success
        assert stale() == set()
