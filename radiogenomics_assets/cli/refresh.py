"""`make refresh`: materialize only what is missing or stale, over the whole graph, in order.

Dagster's automation conditions, the daemon's own, decide what runs (see ``walk_plan``), against
the persistent instance at ``$DAGSTER_HOME``; the source is compared with the raw tables first,
without a run. On an
unchanged store nothing runs and it says so. ``--rebuild`` materializes everything again.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Collection, Sequence

from dagster import AssetKey, DagsterInstance

from radiogenomics_assets.cli.graph_runner import RunOutcome, cpu_workers, materialize_graph
from radiogenomics_assets.definitions import defs
from radiogenomics_assets.defs.assets import net_assets
from radiogenomics_assets.defs.instance_config import ensure_dagster_home
from radiogenomics_assets.defs.study import STUDY_ENV

REBUILD_HINT = "to rebuild everything: make demo REBUILD=1 (or make refresh REBUILD=1)"


#: ``--models``: which model families a walk materializes.
MODEL_CHOICES = ("all", "linear")


def skipped_models(models: str) -> Collection[AssetKey]:
    """What a walk over ``models`` leaves alone: every net for ``linear``, nothing for ``all``.

    ``all`` is the whole graph, exactly what the daemon keeps fresh: the CoxNet models on every
    protocol and repeat, the nets once per fold of the first ``net_repeats`` repeats
    (``$RADIOGENOMICS_NET_REPEATS``, default 1).
    """
    if models not in MODEL_CHOICES:
        raise ValueError(f"models must be one of {MODEL_CHOICES}, got {models!r}")
    if models == "linear":
        return {key for a in net_assets for key in a.keys}
    return set()


def refresh(*, workers: int, rebuild: bool, models: str = "all") -> list[RunOutcome]:
    """Walk the graph of the code location's ``defs`` in the instance at ``$DAGSTER_HOME``.

    ``models`` as :func:`skipped_models`: ``linear`` leaves the neural grid out, so Table
    1(a), its figures and the lineage are made from the CoxNet models alone (a later ``all``
    walk adds the nets).
    """
    ensure_dagster_home()
    skip = skipped_models(models)
    study = defs.metadata["study"].text
    print(f"Study: {study} ({STUDY_ENV}={os.environ.get(STUDY_ENV) or 'unset: the demo study'})")
    started = time.perf_counter()
    with DagsterInstance.get() as instance:
        outcomes = materialize_graph(
            defs, instance, workers=workers, force=rebuild, skip=skip, scope=models
        )
    seconds = time.perf_counter() - started
    failed = [o for o in outcomes if not o.success]
    if outcomes:
        print(f"\nDone in {seconds:.0f} s: {len(outcomes)} runs, {len(failed)} failed.")
    else:
        print(f"\nNothing was missing or stale: no run launched ({seconds:.1f} s). {REBUILD_HINT}")
    return outcomes


def parser(description: str) -> argparse.ArgumentParser:
    parsed = argparse.ArgumentParser(description=description)
    parsed.add_argument("--workers", type=int, default=cpu_workers())
    parsed.add_argument("--rebuild", action="store_true", help="materialize everything again")
    parsed.add_argument(
        "--models",
        choices=MODEL_CHOICES,
        default="all",
        help="linear: the CoxNet models only (Table 1(a)), leaving the neural grid for later; "
        "all: the whole graph, as the daemon keeps it (the nets on the first "
        "$RADIOGENOMICS_NET_REPEATS repeats, default 1)",
    )
    return parsed


def exit_code(outcomes: Sequence[RunOutcome]) -> int:
    """1 when a run other than a single patient's failed (a failed patient is reported only)."""
    return 1 if any(o.job != "patient_assets_job" and not o.success for o in outcomes) else 0


def main(argv: Sequence[str] | None = None) -> int:
    args = parser(__doc__.splitlines()[0]).parse_args(argv)
    return exit_code(refresh(workers=args.workers, rebuild=args.rebuild, models=args.models))


if __name__ == "__main__":
    sys.exit(main())
