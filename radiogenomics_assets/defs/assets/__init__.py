"""The Dagster assets, by layer; library code does the work, these modules wire it."""

from __future__ import annotations

from functools import cache
from typing import Literal

from dagster import AssetsDefinition

from radiogenomics_assets.defs.assets.cohort import cohort_assets
from radiogenomics_assets.defs.assets.evaluation import build_td_auc_figures
from radiogenomics_assets.defs.assets.evaluation import evaluation_assets as _evaluation
from radiogenomics_assets.defs.assets.fusion_gain import fusion_gain_assets
from radiogenomics_assets.defs.assets.genomics import genomics_assets
from radiogenomics_assets.defs.assets.imaging import imaging_assets
from radiogenomics_assets.defs.assets.km import km_assets
from radiogenomics_assets.defs.assets.modeling import model_assets, modeling_assets
from radiogenomics_assets.defs.assets.oracle import oracle_assets
from radiogenomics_assets.defs.assets.provenance import build_lineage
from radiogenomics_assets.defs.assets.raw import raw_assets, source_imaging
from radiogenomics_assets.defs.assets.report import build_study_report
from radiogenomics_assets.defs.assets.study_tables import study_table_assets
from radiogenomics_assets.defs.names import EVALUATION, RAW
from radiogenomics_assets.defs.partitions import (
    net_partitions,
    patients_partitions,
    study_partitions,
)

__all__ = [
    "Stage",
    "all_assets",
    "cohort_level_assets",
    "evaluation_assets",
    "fold_assets",
    "fold_metric_assets",
    "graph_assets",
    "ingest_assets",
    "model_assets",
    "net_assets",
    "patient_assets",
    "source_imaging",
    "stage_of",
]

#: Where an asset runs: with the source tables, per patient, on the cohort, per fold (splits
#: and CoxNet models), per net fold, per fold again (metrics of both families), or in the
#: study-wide evaluation (a job and a phase of `make demo` each).
Stage = Literal["ingest", "patients", "cohort", "folds", "nets", "fold_metrics", "evaluation"]


@cache  # built once per process: the definitions load it again for their source
def graph_assets(*, demo: bool) -> tuple[AssetsDefinition, ...]:
    """Every asset of the product's graph; ``demo`` adds the demo source's oracle (the true
    risk scored like a model), which no other source has."""
    assets = [
        *raw_assets,
        *cohort_assets,
        *genomics_assets,
        *imaging_assets,
        *study_table_assets,
        *modeling_assets,
        *_evaluation,
        build_td_auc_figures(oracle=demo),
        *km_assets,
        *fusion_gain_assets,
        *(oracle_assets if demo else []),
    ]
    # The report reads the lineage record, which covers every asset before it.
    return (*assets, build_lineage(assets), build_study_report(oracle=demo))


def stage_of(asset: AssetsDefinition) -> Stage:
    if asset.partitions_def == patients_partitions:
        return "patients"
    if asset.partitions_def == net_partitions:
        return "nets"
    groups = set(asset.group_names_by_key.values())
    if asset.partitions_def == study_partitions:
        return "fold_metrics" if groups == {EVALUATION} else "folds"
    if groups == {RAW}:
        return "ingest"
    return "evaluation" if groups == {EVALUATION} else "cohort"


#: The demo's graph, the largest (tests and the lists below).
all_assets = list(graph_assets(demo=True))


def _at(stage: Stage) -> list[AssetsDefinition]:
    return [a for a in all_assets if stage_of(a) == stage]


#: Assets with one partition per patient: what a new patient needs materialized.
patient_assets = _at("patients")
#: The splits and CoxNet models: one partition per study protocol and cross-validation fold.
fold_assets = _at("folds")
#: The neural nets: one partition per fold of the first ``net_repeats`` repeats.
net_assets = _at("nets")
#: Each fold's metrics of every model, per study protocol.
fold_metric_assets = _at("fold_metrics")
ingest_assets = _at("ingest")
evaluation_assets = _at("evaluation")
cohort_level_assets = _at("cohort")
