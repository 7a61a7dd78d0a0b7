"""Resources for materializing the real asset definitions into a DuckDB under tmp_path."""

from __future__ import annotations

from pathlib import Path

import pytest
from dagster import DagsterInstance

from radiogenomics_assets.defs.instance_config import (
    DOWNLOAD_POOL_LIMIT_VARIABLE,
    POSTGRES_URL_VARIABLE,
    RUN_LIMIT_VARIABLE,
)
from radiogenomics_assets.defs.resources.cohort import CohortResource
from radiogenomics_assets.defs.resources.features import (
    DenseNetSettings,
    ExpressionSettings,
    RadiomicsSettings,
)
from radiogenomics_assets.defs.resources.io_manager import DuckDBTableIOManager
from radiogenomics_assets.defs.resources.modeling import ModelingSettings
from radiogenomics_assets.defs.resources.source import DemoSourceResource, SourceResource
from radiogenomics_assets.defs.resources.store import StoreResource
from radiogenomics_assets.defs.resources.study_info import StudyInfo
from radiogenomics_assets_tests.demo_fixtures import SMALL_CONFIG


def resources_for(
    store: StoreResource,
    source: SourceResource,
    cohort: CohortResource | None = None,
    densenet: DenseNetSettings | None = None,
) -> dict[str, object]:
    return {
        "cohort": cohort or CohortResource(),
        "io_manager": DuckDBTableIOManager(store=store),
        "store": store,
        "source": source,
        "settings": ModelingSettings(),
        "expression": ExpressionSettings(),
        "radiomics": RadiomicsSettings(),
        "densenet": densenet or DenseNetSettings(),
        "study": StudyInfo(),
    }


@pytest.fixture
def store(tmp_path: Path) -> StoreResource:
    return StoreResource(database=str(tmp_path / "home" / "radiogenomics.duckdb"))


@pytest.fixture
def demo_source(sources_cache: Path, small_cohort) -> SourceResource:
    """The session's small demo cohort (already generated) as the run's source."""
    return DemoSourceResource(config=SMALL_CONFIG.to_dict(), cache_dir=str(sources_cache))


@pytest.fixture
def instance() -> DagsterInstance:
    return DagsterInstance.ephemeral()


@pytest.fixture
def dagster_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``$DAGSTER_HOME`` under tmp_path, none of the instance settings' variables set."""
    home = tmp_path / "dagster_home"
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    for variable in (DOWNLOAD_POOL_LIMIT_VARIABLE, RUN_LIMIT_VARIABLE, POSTGRES_URL_VARIABLE):
        monkeypatch.delenv(variable, raising=False)
    return home
