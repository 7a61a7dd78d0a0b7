"""The code location: every asset, check, job, sensor and resource of the product.

``defs`` is built when accessed rather than at import (PEP 562 module ``__getattr__``):
binding the ``source`` resource reads ``$RADIOGENOMICS_SOURCE``, and importing the module must
read no environment. Dagster's loader (``workspace.yaml``: attribute ``defs``) and
``from radiogenomics_assets.definitions import defs`` both access the attribute, so they get a
``Definitions`` as before.
"""

from __future__ import annotations

from collections.abc import Sequence

from dagster import AssetsDefinition, Definitions, ExecutorDefinition

from radiogenomics_assets.assets import all_assets, source_imaging
from radiogenomics_assets.assets.cohort import with_cohort_settings
from radiogenomics_assets.automation import (
    RETRAIN_CRON,
    automation_sensor,
    patients_sensor,
    source_refresh_schedule,
    with_automation,
)
from radiogenomics_assets.checks.cohort import cohort_checks
from radiogenomics_assets.checks.densenet import densenet_checks
from radiogenomics_assets.checks.intake import intake_checks
from radiogenomics_assets.checks.modeling import modeling_checks
from radiogenomics_assets.distributed import executor_from_environment
from radiogenomics_assets.jobs import asset_jobs, register_patients_job
from radiogenomics_assets.maintenance import store_maintenance_job, store_maintenance_schedule
from radiogenomics_assets.resources.cohort import CohortResource
from radiogenomics_assets.resources.io_manager import DuckDBTableIOManager
from radiogenomics_assets.resources.modeling import ModelingSettings, modeling_from_environment
from radiogenomics_assets.resources.source import SourceResource, source_from_environment
from radiogenomics_assets.resources.store import StoreResource


def build_definitions(
    store: StoreResource | None = None,
    source: SourceResource | None = None,
    settings: ModelingSettings | None = None,
    cohort: CohortResource | None = None,
    retrain_cron: str = RETRAIN_CRON,
    assets: Sequence[AssetsDefinition] = all_assets,
    executor: ExecutorDefinition | None = None,
) -> Definitions:
    """The definitions with the given resources (tests pass a store under ``tmp_path``).

    ``retrain_cron``: the model grid retrains at most once per tick of it (see automation).
    ``assets``: the product's assets, or a variant of them (a test changing one model's spec).
    ``executor``: unless given, Celery's when ``$RADIOGENOMICS_CELERY_BROKER`` is set (see
    ``distributed``), else Dagster's multiprocess executor (a test runs steps in-process).
    ``source``: unless given, the backend ``$RADIOGENOMICS_SOURCE`` names, read now.
    ``settings``: unless given, the defaults with ``$RADIOGENOMICS_CV_REPEATS`` applied.
    ``cohort``: the cohort filter and outcome origin (the paper's unless given); its values are
    part of the cohort assets' code versions, so changing one makes them stale.

    Raises:
        ValueError: ``source`` is not given and ``$RADIOGENOMICS_SOURCE`` names no backend.
    """
    store = store or StoreResource()
    cohort = cohort or CohortResource()
    assets = with_cohort_settings(assets, cohort)
    return Definitions(
        executor=executor or executor_from_environment(),
        assets=[*with_automation(assets, retrain_cron), source_imaging],
        asset_checks=[*cohort_checks, *intake_checks, *modeling_checks, *densenet_checks],
        jobs=[register_patients_job, store_maintenance_job, *asset_jobs],
        schedules=[source_refresh_schedule, store_maintenance_schedule(store)],
        sensors=[patients_sensor, automation_sensor],
        resources={
            "io_manager": DuckDBTableIOManager(store=store),
            "store": store,
            "source": source or source_from_environment(),
            "settings": settings or modeling_from_environment(),
            "cohort": cohort,
        },
    )


def __getattr__(name: str) -> Definitions:
    # Built on every access (about 10 ms) rather than cached, so that it follows the environment
    # of the moment: a process that changes $RADIOGENOMICS_SOURCE (a test) gets that backend.
    if name == "defs":
        return build_definitions()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
