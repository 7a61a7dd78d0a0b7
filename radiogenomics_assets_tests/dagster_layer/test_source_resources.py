"""The source resources: the one ``$RADIOGENOMICS_SOURCE`` binds, and its EnvVar settings."""

from __future__ import annotations

from pathlib import Path

import pytest
from dagster import DagsterInstance, DagsterInvalidConfigError, materialize

from radiogenomics_assets.definitions import build_definitions
from radiogenomics_assets.defs.assets.raw import clinical_labels
from radiogenomics_assets.defs.resources.source import (
    DemoSourceResource,
    IdcSourceResource,
    LocalSourceResource,
    SourceResource,
    TciaSourceResource,
    source_from_environment,
)
from radiogenomics_assets.sources.demo import DemoSource
from radiogenomics_assets.sources.http import RetryPolicy
from radiogenomics_assets.sources.local import LocalSource
from radiogenomics_assets_tests.dagster_layer.conftest import resources_for

LOCAL_VARIABLES = (
    "RADIOGENOMICS_LOCAL_DICOM",
    "RADIOGENOMICS_LOCAL_CLINICAL",
    "RADIOGENOMICS_LOCAL_RNASEQ",
)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch) -> None:
    for variable in ("RADIOGENOMICS_SOURCE", "RADIOGENOMICS_DEMO_PATIENTS", *LOCAL_VARIABLES):
        monkeypatch.delenv(variable, raising=False)


@pytest.mark.parametrize(
    ("name", "resource"),
    [
        (None, DemoSourceResource),
        ("demo", DemoSourceResource),
        ("Local", LocalSourceResource),
        ("tcia", TciaSourceResource),
        ("idc", IdcSourceResource),
    ],
)
def test_the_variable_picks_the_backend(monkeypatch, name, resource) -> None:
    if name is not None:
        monkeypatch.setenv("RADIOGENOMICS_SOURCE", name)
    assert type(source_from_environment()) is resource
    assert type(build_definitions().resources["source"]) is resource


def test_an_unknown_source_is_refused_naming_the_variable(monkeypatch) -> None:
    monkeypatch.setenv("RADIOGENOMICS_SOURCE", "nbia")
    with pytest.raises(ValueError, match="RADIOGENOMICS_SOURCE='nbia' is not one of demo"):
        build_definitions()


def test_the_base_resource_is_abstract() -> None:
    with pytest.raises(TypeError, match="abstract"):
        SourceResource()


def test_local_settings_are_read_when_the_resource_starts(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("RADIOGENOMICS_SOURCE", "local")
    resource = source_from_environment()  # the variables may be set after the code loaded
    for variable, name in zip(
        LOCAL_VARIABLES, ("dicom", "clinical.csv", "rnaseq.txt"), strict=True
    ):
        monkeypatch.setenv(variable, str(tmp_path / name))
    built = resource.process_config_and_initialize().build(tmp_path / "cache")
    assert isinstance(built, LocalSource)
    assert built.dicom_root == tmp_path / "dicom"
    assert built.clinical_csv == tmp_path / "clinical.csv"
    assert built.rnaseq_matrix == tmp_path / "rnaseq.txt"


@pytest.mark.parametrize("missing", LOCAL_VARIABLES)
def test_a_missing_local_setting_fails_the_run_naming_its_variable(
    monkeypatch, tmp_path: Path, store, missing: str
) -> None:
    monkeypatch.setenv("RADIOGENOMICS_SOURCE", "local")
    for variable in LOCAL_VARIABLES:
        if variable != missing:
            monkeypatch.setenv(variable, str(tmp_path / variable))
    with (
        DagsterInstance.ephemeral() as instance,
        pytest.raises(
            DagsterInvalidConfigError, match=f'environment variable "{missing}" which is not set'
        ),
    ):
        materialize(
            [clinical_labels],
            resources=resources_for(store, source_from_environment()),
            instance=instance,
        )


def test_demo_patients_come_from_the_variable_when_set(monkeypatch, tmp_path: Path) -> None:
    assert source_from_environment().process_config_and_initialize().patients is None
    monkeypatch.setenv("RADIOGENOMICS_DEMO_PATIENTS", "12")
    resource = source_from_environment().process_config_and_initialize()
    assert resource.patients == 12
    built = resource.build(tmp_path)
    assert isinstance(built, DemoSource)
    assert built.config.n_patients == 12
    assert built.cache_root == tmp_path / "demo"


def test_demo_settings_override_the_config(tmp_path: Path) -> None:
    built = DemoSourceResource(
        patients=5, seed=7, config={"n_patients": 9, "n_genes": 200}, cache_dir=str(tmp_path / "c")
    ).build(tmp_path / "default")
    assert (built.config.n_patients, built.config.seed, built.config.n_genes) == (5, 7, 200)
    assert built.cache_root == tmp_path / "c" / "demo"


def test_remote_urls_reach_the_source(tmp_path: Path) -> None:
    described = (
        TciaSourceResource(base_url="http://127.0.0.1:9/nbia", clinical_url="http://127.0.0.1:9/c")
        .build(tmp_path)
        .describe()
    )
    assert described["nbia_base_url"] == "http://127.0.0.1:9/nbia"
    assert described["clinical_url"] == "http://127.0.0.1:9/c"


def test_idc_settings_reach_s5cmd(tmp_path: Path) -> None:
    """The endpoint and the retry budget of the idc resource govern s5cmd's bucket requests."""
    built = IdcSourceResource(s3_endpoint="http://127.0.0.1:9", http_attempts=3).build(tmp_path)
    assert (built.s5cmd.endpoint_url, built.s5cmd.retry_count) == ("http://127.0.0.1:9", 2)
    assert built.describe()["s3_endpoint"] == "http://127.0.0.1:9"
    default = IdcSourceResource().build(tmp_path)
    assert default.s5cmd.endpoint_url == "https://s3.amazonaws.com"
    assert default.s5cmd.retry_count == RetryPolicy().attempts - 1
