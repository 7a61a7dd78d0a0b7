"""One run of a job, in this process, and what became of it (shared by the walk and the Celery
launcher)."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from dagster import AssetKey, DagsterInstance, Definitions

# Every event still goes to the instance (and the UI); the terminal shows only errors.
QUIET_CONSOLE = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}


@dataclass(frozen=True)
class RunOutcome:
    job: str
    partition: str | None
    success: bool
    seconds: float
    error: str | None = None

    def line(self) -> str:
        where = f"[{self.partition}]" if self.partition else ""
        status = "ok" if self.success else f"FAILED: {self.error}"
        return f"  {self.job}{where}: {status} ({self.seconds:.1f} s)"


def _user_error(event: Any) -> str:
    """The user's exception of a failed step (Dagster wraps it in one of its own)."""
    error = event.step_failure_data.error
    return (error.cause or error).message.strip()


def execute(
    defs: Definitions,
    instance: DagsterInstance,
    job_name: str,
    partition: str | None = None,
    run_config: Mapping[str, Any] | None = None,
    assets: Sequence[AssetKey] | None = None,
    tags: Mapping[str, str] | None = None,
) -> RunOutcome:
    """Run one job (one partition, all its assets or only ``assets``) in this process."""
    started = time.perf_counter()
    result = defs.resolve_job_def(job_name).execute_in_process(
        instance=instance,
        partition_key=partition,
        asset_selection=list(assets) if assets is not None else None,
        raise_on_error=False,
        run_config={**QUIET_CONSOLE, **(run_config or {})},
        tags=tags,
    )
    return outcome(job_name, partition, result, started)


def outcome(job_name: str, partition: str | None, result: Any, started: float) -> RunOutcome:
    """The outcome of a finished run's ``result`` (in-process or ``execute_job``)."""
    error = None
    if not result.success:
        failures = [e for e in result.all_events if e.is_step_failure]
        error = "; ".join(f"{e.step_key}: {_user_error(e)}" for e in failures) or "run failed"
    return RunOutcome(job_name, partition, result.success, time.perf_counter() - started, error)
