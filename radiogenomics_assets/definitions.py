"""The code location: every asset, check, job, sensor and resource of the product.

``defs`` is a module attribute, built when the module loads, so that ``dagster dev -m
radiogenomics_assets.definitions`` and every other Dagster command find it as in any Dagster
project. Loading reads the settings that shape the graph: the source's name
(``$RADIOGENOMICS_SOURCE``, see ``source_from_environment``), the modeling settings'
variables, the store's backend and the Celery broker; paths and credentials are ``EnvVar``s
that Dagster resolves when a run starts. A process with other settings (a test) builds its own
with :func:`build_definitions`.
"""

from __future__ import annotations

from collections.abc import Sequence

from dagster import AssetsDefinition, Definitions, ExecutorDefinition

from radiogenomics_assets.defs.assets import graph_assets, source_imaging
from radiogenomics_assets.defs.assets.cohort import with_cohort_settings
from radiogenomics_assets.defs.automation import (
    RETRAIN_CRON,
    automation_sensor,
    patients_sensor,
    source_refresh_schedule,
    with_automation,
)
from radiogenomics_assets.defs.checks.cohort import cohort_checks
from radiogenomics_assets.defs.checks.densenet import densenet_checks
from radiogenomics_assets.defs.checks.intake import intake_checks
from radiogenomics_assets.defs.checks.modeling import modeling_checks
from radiogenomics_assets.defs.executor import executor_from_environment
from radiogenomics_assets.defs.jobs import build_asset_jobs, register_patients_job
from radiogenomics_assets.defs.maintenance import store_maintenance_job, store_maintenance_schedule
from radiogenomics_assets.defs.resources.cohort import CohortResource
from radiogenomics_assets.defs.resources.io_manager import DuckDBTableIOManager
from radiogenomics_assets.defs.resources.modeling import ModelingSettings, modeling_from_environment
from radiogenomics_assets.defs.resources.source import (
    SourceResource,
    source_from_environment,
    source_kind,
)
from radiogenomics_assets.defs.resources.store import StoreResource


def build_definitions(
    store: StoreResource | None = None,
    source: SourceResource | None = None,
    settings: ModelingSettings | None = None,
    cohort: CohortResource | None = None,
    retrain_cron: str = RETRAIN_CRON,
    assets: Sequence[AssetsDefinition] | None = None,
    executor: ExecutorDefinition | None = None,
) -> Definitions:
    """The definitions with the given resources (tests pass a store under ``tmp_path``).

    ``retrain_cron``: the model grid retrains at most once per tick of it (see automation).
    ``assets``: unless given, the product's graph for the source (the demo's adds its oracle,
    see ``graph_assets``); or a variant of it (a test changing one model's spec).
    ``executor``: unless given, Celery's when ``$RADIOGENOMICS_CELERY_BROKER`` is set (see
    ``defs.executor``), else Dagster's multiprocess executor (a test runs steps in-process).
    ``source``: unless given, the backend ``$RADIOGENOMICS_SOURCE`` names, read now.
    ``settings``: unless given, the defaults with ``$RADIOGENOMICS_CV_REPEATS`` applied.
    ``cohort``: the cohort filter and outcome origin (the paper's unless given); its values are
    part of the cohort assets' code versions, so changing one makes them stale.

    Raises:
        ValueError: ``source`` is not given and ``$RADIOGENOMICS_SOURCE`` names no backend.
    """
    store = store or StoreResource()
    source = source or source_from_environment()
    cohort = cohort or CohortResource()
    if assets is None:
        assets = graph_assets(demo=source_kind(source) == "demo")
    assets = with_automation(with_cohort_settings(assets, cohort), retrain_cron)
    return Definitions(
        executor=executor or executor_from_environment(),
        assets=[*assets, source_imaging],
        asset_checks=[*cohort_checks, *intake_checks, *modeling_checks, *densenet_checks],
        jobs=[register_patients_job, store_maintenance_job, *build_asset_jobs(assets)],
        schedules=[source_refresh_schedule, store_maintenance_schedule(store)],
        sensors=[patients_sensor, automation_sensor],
        resources={
            "io_manager": DuckDBTableIOManager(store=store),
            "store": store,
            "source": source,
            "settings": settings or modeling_from_environment(),
            "cohort": cohort,
        },
    )


defs = build_definitions()
