"""Module-level helpers that worker processes can import: the job loader and one partition run."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dagster import DagsterInstance, JobDefinition, execute_job, reconstructable


def patient_assets_job() -> JobDefinition:
    from radiogenomics_assets.definitions import defs

    return defs.resolve_job_def("patient_assets_job")


def run_patient_partition(
    dagster_home: str, patient: str, run_config: Mapping[str, Any]
) -> tuple[bool, str]:
    """Run one patient's partition of the job, as a separate launched run would; (ok, run id).

    Each concurrent run gets its own process: Dagster's logging setup is not safe to run from
    two threads of one process at once.
    """
    with DagsterInstance.from_config(dagster_home) as instance:
        result = execute_job(
            reconstructable(patient_assets_job),
            instance=instance,
            tags={"dagster/partition": patient},
            run_config=run_config,
        )
        with result:
            return result.success, result.run_id
