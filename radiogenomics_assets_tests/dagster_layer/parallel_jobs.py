"""A module-level job loader, so the multiprocess executor can rebuild the job in workers."""

from __future__ import annotations

from dagster import JobDefinition


def patient_assets_job() -> JobDefinition:
    from radiogenomics_assets.definitions import defs

    return defs.resolve_job_def("patient_assets_job")
