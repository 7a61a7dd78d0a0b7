"""Scale-out: steps on Celery workers, selected by ``$RADIOGENOMICS_CELERY_BROKER``.

When the variable is set (e.g. ``redis://127.0.0.1:6379/0``), the code location's executor is
dagster-celery's, with that URL as broker and result backend, and ``cli.celery_runs`` launches each
run with :func:`dagster.execute_job` on a reconstructable job: the launching process plans and
orchestrates, every step runs on a worker (``radiogenomics_assets.defs.celery_worker``). Unset, the
executor and the runs stay as they are (in-process and multiprocess).

A worker rebuilds the job from its own environment, so it needs the variables the definitions
read (``RADIOGENOMICS_HOME`` or the store's, ``RADIOGENOMICS_SOURCE`` and its settings such as
``RADIOGENOMICS_DEMO_CONFIG``, ``RADIOGENOMICS_CV_REPEATS``, ``RADIOGENOMICS_NET_REPEATS``,
``RADIOGENOMICS_ALPHA_SELECTION``),
``RADIOGENOMICS_POSTGRES_URL`` for the instance, and this one; ``DAGSTER_HOME`` it does not
need (the instance comes with each task).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dagster import ExecutorDefinition

CELERY_BROKER_VARIABLE = "RADIOGENOMICS_CELERY_BROKER"


def celery_broker() -> str | None:
    """The broker URL ``$RADIOGENOMICS_CELERY_BROKER`` names, or None (no Celery)."""
    return os.environ.get(CELERY_BROKER_VARIABLE, "").strip() or None


def executor_from_environment() -> ExecutorDefinition | None:
    """dagster-celery's executor on the broker, or None (Dagster's default) when unset."""
    if celery_broker() is None:
        return None
    from dagster_celery import celery_executor

    # The variable's name, not its value, goes in the run config that Dagster stores.
    url = {"env": CELERY_BROKER_VARIABLE}
    return celery_executor.configured({"broker": url, "backend": url}, name="celery")
