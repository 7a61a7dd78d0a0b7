"""The code location: every asset, check, job, sensor and resource of the study's graph.

``defs`` is a module attribute, built when the module loads, so that ``dagster dev -m
radiogenomics_assets.definitions`` and every other Dagster command find it as in any Dagster
project. Loading reads the study file ``$RADIOGENOMICS_STUDY`` names (the demo study when unset,
see ``defs.study``) with the variables that override it, the store's backend and the Celery
broker; paths and credentials are ``EnvVar``s that Dagster resolves when a run starts. A process
with other settings (a test) builds its own with :func:`build_definitions`.
"""

from __future__ import annotations

from collections.abc import Sequence

from dagster import AssetsDefinition, Definitions, ExecutorDefinition, MetadataValue

from radiogenomics_assets.defs.assets import graph_assets, source_imaging
from radiogenomics_assets.defs.assets.report import with_report_settings
from radiogenomics_assets.defs.assets.settings_versions import with_settings_versions
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
from radiogenomics_assets.defs.resources.modeling import ModelingSettings
from radiogenomics_assets.defs.resources.source import SourceResource, source_kind
from radiogenomics_assets.defs.resources.store import StoreResource
from radiogenomics_assets.defs.resources.study_info import StudyInfo
from radiogenomics_assets.defs.scope import left_out, scoped_assets, scoped_checks
from radiogenomics_assets.defs.study import Study, study_from_environment


def build_definitions(
    store: StoreResource | None = None,
    source: SourceResource | None = None,
    settings: ModelingSettings | None = None,
    cohort: CohortResource | None = None,
    retrain_cron: str = RETRAIN_CRON,
    assets: Sequence[AssetsDefinition] | None = None,
    executor: ExecutorDefinition | None = None,
    study: Study | None = None,
) -> Definitions:
    """The definitions of ``study`` with the given resources (tests pass a store under
    ``tmp_path``).

    ``study``: unless given, the one ``$RADIOGENOMICS_STUDY`` names (see ``defs.study``); its
    source, cohort, feature and modeling settings are the resources that ``source``,
    ``cohort`` and ``settings`` do not replace, and its modalities and models scope the graph.
    ``retrain_cron``: the model grid retrains at most once per tick of it (see automation).
    ``assets``: unless given, the product's graph for the source (the demo's adds its oracle,
    see ``graph_assets``); or a variant of it (a test changing one model's spec).
    ``executor``: unless given, Celery's when ``$RADIOGENOMICS_CELERY_BROKER`` is set (see
    ``defs.executor``), else Dagster's multiprocess executor (a test runs steps in-process).
    Every setting an asset reads is part of its code version, so changing one makes exactly
    the assets that read it stale.

    Raises:
        StudyError: the study file is unreadable or refused by its schema.
        ValueError: ``$RADIOGENOMICS_SOURCE`` names no backend.
    """
    study = study or study_from_environment()
    store = store or StoreResource()
    source = source or study.source
    resources = {
        "io_manager": DuckDBTableIOManager(store=store),
        "store": store,
        "source": source,
        "settings": settings or study.modeling,
        "cohort": cohort or study.cohort,
        "expression": study.genomics,
        "radiomics": study.radiomics,
        "densenet": study.densenet,
        "study": StudyInfo(
            name=study.name,
            description=study.description,
            file=str(study.path or ""),
            modalities=list(study.modalities),
            models=list(study.models),
        ),
    }
    if assets is None:
        assets = graph_assets(demo=source_kind(source) == "demo")
    assets = scoped_assets(assets, left_out(study.modalities, study.models))
    assets = with_report_settings(with_settings_versions(assets, resources), resources)
    assets = with_automation(assets, retrain_cron)
    keys = {key for a in assets for key in a.keys}
    checks = [*cohort_checks, *intake_checks, *modeling_checks, *densenet_checks]
    return Definitions(
        executor=executor or executor_from_environment(),
        assets=[*assets, source_imaging],
        asset_checks=scoped_checks(checks, keys),
        jobs=[register_patients_job, store_maintenance_job, *build_asset_jobs(assets)],
        schedules=[source_refresh_schedule, store_maintenance_schedule(store)],
        sensors=[patients_sensor, automation_sensor],
        resources=resources,
        metadata={
            "study": study.name,
            "study_description": study.description,
            "study_settings": MetadataValue.json(study.describe()),
        },
    )


defs = build_definitions()
