"""The whole graph materialized on a small demo cohort, for the modules that test it end to end
(``test_full_graph``: every phase, the SQL files, the refresh path; ``test_daemon_update``: the
unattended update). Each module walks its own store, so that under pytest-xdist both run at once.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from dagster import DagsterInstance, Definitions

from radiogenomics_assets.cli.graph_runner import materialize_graph
from radiogenomics_assets.definitions import build_definitions
from radiogenomics_assets.defs.instance_config import download_pool_limit, run_limit, write_settings
from radiogenomics_assets.defs.partitions import FOLD_NAMES, fold_partition_key
from radiogenomics_assets.defs.resources.modeling import ModelingSettings, NetTrainingSettings
from radiogenomics_assets.defs.resources.source import DemoSourceResource
from radiogenomics_assets.defs.resources.store import StoreResource
from radiogenomics_assets.sources.demo import DemoConfig, DemoSource
from radiogenomics_assets.sources.demo.plan import plan_cohort
from radiogenomics_assets.survival.study_protocol import NET_PROTOCOL, PROTOCOL_NAMES
from radiogenomics_assets_tests.dagster_layer.local_cohort import random_weights
from radiogenomics_assets_tests.demo_fixtures import WALK_DEMO

DEMO = WALK_DEMO
#: A tiny grid (two configurations of at most 40 steps): the graph's wiring is under test here,
#: the training protocol in survival/test_training.
SMALL_NET_FIELDS = {
    "weight_decays": [0.0, 1e-3],
    "initialisations": 1,
    "min_steps": 20,
    "patience": 20,
    "max_steps": 40,
    "eval_every": 10,
}
SMALL_NETS = NetTrainingSettings(**SMALL_NET_FIELDS)
FOLD_PARTITIONS = [str(fold_partition_key(f, p)) for f in FOLD_NAMES for p in PROTOCOL_NAMES]
#: The nets' partitions: the same five folds, once, under the protocol they are trained under.
NET_PARTITIONS = [str(fold_partition_key(f, NET_PROTOCOL)) for f in FOLD_NAMES]


class Graph:
    """A store under ``root`` walked once on construction, with its Dagster instance.

    ``persistent``: a Dagster home under ``root`` with the product's settings (`make ui`, the
    daemon's run queue among them), which a daemon in another process can share; otherwise an
    in-memory instance, on which the in-process walks and their planning run faster (a quarter
    off the walk, half off a refresh's planning, on 2 cores) with the same storage code.
    """

    def __init__(self, root: Path, sources_cache: Path, *, persistent: bool) -> None:
        self.store = StoreResource(database=str(root / "radiogenomics.duckdb"))
        self.source = DemoSourceResource(config=DEMO, cache_dir=str(sources_cache))
        # One repeat: the graph's wiring is under test; repeats are in test_evaluation_assets.
        self.settings = ModelingSettings(alpha_selection="validation", net=SMALL_NETS, cv_repeats=1)
        self.n_patients = DEMO["n_patients"]
        self.defs = self.definitions(self.source)
        self.dagster_home = root / "dagster_home"
        if persistent:
            self.dagster_home.mkdir()
            write_settings(self.dagster_home / "dagster.yaml", download_pool_limit(), run_limit())
            self.instance = DagsterInstance.local_temp(str(self.dagster_home))
        else:
            self.instance = DagsterInstance.ephemeral()
        self.outcomes = materialize_graph(self.defs, self.instance, announce=lambda _line: None)

    def definitions(self, source: DemoSourceResource, **kwargs) -> Definitions:
        """The graph's definitions over ``source`` (DenseNet on random weights: no network)."""
        return build_definitions(
            self.store, source, self.settings, study=random_weights(), **kwargs
        )

    def query(self, sql: str, params: list[object] | None = None) -> pd.DataFrame:
        with self.store.get_connection() as conn:
            return conn.execute(sql, params or []).fetchdf()


def grown_size(demo: dict, base: int, *, new: int = 2) -> tuple[int, int]:
    """The smallest cohort size above ``base`` that adds ``new`` study patients (so every layer
    downstream has news), and how many imaged patients it adds (study patients and others)."""
    plan = plan_cohort(DemoConfig(**{**demo, "n_patients": base + 60}))
    for n in range(base + 1, base + 61):
        added = plan.iloc[base:n]
        if added["in_study_cohort"].sum() == new:
            return n, int(added["has_seg"].sum())
    raise AssertionError(f"no growth of {base} adds {new} study patients")


def included(graph: Graph, n: int) -> int:
    """Study patients of the demo cohort of ``n`` patients, by the generator's truth."""
    cache = Path(graph.source.cache_dir) / "demo"
    truth = DemoSource(cache, DemoConfig(**{**DEMO, "n_patients": n})).ground_truth()
    return int(truth["in_study_cohort"].sum())


def patients_tested(graph: Graph) -> int:
    """Patients Cox(P) was tested on across the five folds of the recommended protocol."""
    frame = graph.query(
        "SELECT sum(n_patients) AS n FROM evaluation.fold_metrics "
        "WHERE model = 'cox_p' AND split = 'test' AND protocol = 'recommended'"
    )
    return int(frame["n"].iloc[0])
