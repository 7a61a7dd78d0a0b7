"""The Celery app a worker runs, on the broker ``$RADIOGENOMICS_CELERY_BROKER`` names.

Start a worker (one step at a time, a name of its own) with::

    celery -A radiogenomics_assets.defs.celery_worker worker --pool solo -n worker1@%h

``--pool solo`` runs each step in the worker process itself: Celery's default pool runs tasks in
daemonic processes, which may not start the process pools some steps use (the demo source's
imaging generation). For more steps at once on a machine, start more workers. Run it in an
environment that holds the settings listed in ``radiogenomics_assets.defs.executor``. It
is dagster-celery's app (``dagster_celery.app``) with its broker and result backend taken from
the variable rather than a generated ``dagster_celery_config`` module, so it matches what the
executor in the code location sends. The variable is read at import: that is when Celery loads
the app.
"""

from __future__ import annotations

from dagster_celery.config import DEFAULT_CONFIG, dict_wrapper
from dagster_celery.make_app import make_app
from dagster_celery.tasks import create_task

from radiogenomics_assets.defs.executor import CELERY_BROKER_VARIABLE, celery_broker

_broker = celery_broker()
if _broker is None:
    raise RuntimeError(f"set {CELERY_BROKER_VARIABLE} to the broker URL, e.g. redis://host:6379/0")

# The settings the executor's app is built with (dagster_celery.executor.CeleryExecutor).
app = make_app(
    {"broker": _broker, "backend": _broker, "config_source": dict_wrapper(dict(DEFAULT_CONFIG))}
)
execute_plan = create_task(app)
