"""`dagster dev` on the project's workspace: the UI's GraphQL lists the graph and launches runs.

A real webserver (and daemon) on a free loopback port, over a store and Dagster home under
tmp_path, with the small demo cohort as the source: what a user does in the UI, end to end.
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

from radiogenomics_assets.defs.instance_config import ensure_dagster_home
from radiogenomics_assets.defs.names import PATIENTS_PARTITIONS
from radiogenomics_assets.defs.resources.store import StoreResource

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


@pytest.fixture
def webserver(home: Path, tmp_path: Path) -> Iterator[Webserver]:
    port = _free_port()
    dagster = Path(sys.executable).with_name("dagster")
    log = (tmp_path / "dagster_dev.log").open("w")
    process = subprocess.Popen(
        [str(dagster), "dev", "--host", "127.0.0.1", "--port", str(port), "-w", "workspace.yaml"],
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
                pytest.fail(f"dagster dev exited with {process.returncode}; see {log.name}")
            try:
                if requests.get(f"{server.url}/server_info", timeout=5).ok:
                    break
            except requests.ConnectionError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"dagster dev did not answer within {STARTUP_TIMEOUT_S:.0f} s")
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
