"""The code location: every asset, check, job, sensor and resource of the product."""

from __future__ import annotations

from dagster import Definitions

from radiogenomics_assets.assets import all_assets
from radiogenomics_assets.automation import new_patients_sensor, source_refresh_schedule
from radiogenomics_assets.checks.cohort import cohort_checks
from radiogenomics_assets.checks.modeling import modeling_checks
from radiogenomics_assets.jobs import asset_jobs, register_patients_job
from radiogenomics_assets.resources.io_manager import DuckDBTableIOManager
from radiogenomics_assets.resources.modeling import ModelingSettings
from radiogenomics_assets.resources.source import SourceResource
from radiogenomics_assets.resources.store import StoreResource


def build_definitions(
    store: StoreResource | None = None,
    source: SourceResource | None = None,
    settings: ModelingSettings | None = None,
) -> Definitions:
    """The definitions with the given resources (tests pass a store under ``tmp_path``)."""
    store = store or StoreResource()
    return Definitions(
        assets=all_assets,
        asset_checks=[*cohort_checks, *modeling_checks],
        jobs=[register_patients_job, *asset_jobs],
        schedules=[source_refresh_schedule],
        sensors=[new_patients_sensor],
        resources={
            "io_manager": DuckDBTableIOManager(store=store),
            "store": store,
            "source": source or SourceResource(),
            "settings": settings or ModelingSettings(),
        },
    )


defs = build_definitions()
