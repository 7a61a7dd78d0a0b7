"""Modeling assets: sticky fold assignment, fold splits, and one asset per registered model.

Model assets are generated from ``survival.registry.MODEL_REGISTRY``: each depends on exactly
the feature assets its modalities need, on ``fold_splits`` and on ``cohort/outcomes``. A CoxNet
model is partitioned by study protocol and CV fold (``partitions.study_partitions``): the
protocol (:mod:`~radiogenomics_assets.survival.study_protocol`) decides the alpha choice, the Cox
late-fusion rule and whether imputed genes are used. A net is trained once per fold of the
first ``net_repeats`` repeats, under ``NET_PROTOCOL`` (``partitions.net_partitions``), since
only the gene rule of a protocol would reach it. Adding a spec to the registry adds an asset;
nothing here changes. The fitting is dispatched on the spec's estimator (``survival.fitting``),
so the same asset body serves CoxNet and the neural nets. Every model asset carries a WARN check
that its test predictions are not constant.

A CoxNet late fusion fits, per block, what the single-modality CoxNet of that block fits
(``registry.late_fusion_members``). Its asset therefore depends on those assets (same fold),
reads their model files and reuses a block's fit when the stored fit fingerprint equals its
own; otherwise it refits the block and says why in its notes. ``reused_fits`` and
``refitted_blocks`` in its metadata say which.
"""

# No "from __future__ import annotations": Dagster reads these annotations at definition time.

import base64
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

import pandas as pd
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetIn,
    AssetKey,
    AssetsDefinition,
    DagsterInstance,
    MetadataValue,
    Output,
    asset,
)

from radiogenomics_assets.code_hash import code_digest
from radiogenomics_assets.defs.assets.outputs import markdown_table, table_output
from radiogenomics_assets.defs.assets.versions import with_code_version
from radiogenomics_assets.defs.names import (
    COHORT,
    CV_FOLDS_PARTITIONS,
    FEATURES,
    MODELING,
    NET_FOLDS_PARTITIONS,
)
from radiogenomics_assets.defs.partitions import (
    FOLD_PARTITION,
    NET_READS_ITS_FOLD,
    fold_partition_parts,
    net_partitions,
    study_partitions,
)
from radiogenomics_assets.defs.resources.modeling import ModelingSettings
from radiogenomics_assets.defs.resources.store import StoreResource
from radiogenomics_assets.features.blocks import densenet_block, genomics_block, radiomics_block
from radiogenomics_assets.store.database import read_table, table_exists
from radiogenomics_assets.survival import registry
from radiogenomics_assets.survival.figures import training_curve_figure
from radiogenomics_assets.survival.fitting import constant_prediction, fit_predict
from radiogenomics_assets.survival.model_file import MODEL_FILE_SUFFIX
from radiogenomics_assets.survival.registry import (
    MODEL_REGISTRY,
    ModelSpec,
    spec_frame,
    spec_version,
)
from radiogenomics_assets.survival.splits import (
    assign_repeats,
    cv_fold_names,
    cv_fold_parts,
    fold_order,
    split_cv_fold,
    split_event_counts,
)
from radiogenomics_assets.survival.stored import predictions_frame
from radiogenomics_assets.survival.study_protocol import complete_genes, study_protocol

if TYPE_CHECKING:
    from radiogenomics_assets.survival.fingerprint import FittedBlock
    from radiogenomics_assets.survival.neural import FittedNet
    from radiogenomics_assets.survival.registry import Modality

#: Dagster kinds shown in the UI, per estimator family.
FAMILY_KINDS = {"coxnet": {"duckdb", "scikitlearn"}, "net": {"duckdb", "pytorch"}}
CONSTANT_CHECK = "test_predictions_vary"

#: The study-level table each modality is read from, and how it becomes a model block.
FEATURE_SOURCES = {
    "genomics": ([FEATURES, "gene_expression"], genomics_block),
    "pyradiomics": ([FEATURES, "radiomic_table"], radiomics_block),
    "densenet": ([FEATURES, "densenet_table"], densenet_block),
}


@with_code_version
@asset(
    key_prefix=MODELING,
    group_name=MODELING,
    ins={"study_cohort": AssetIn(key=[COHORT, "study_cohort"])},
    kinds={"duckdb"},
    description="Each patient's test fold in every repeat of the cross-validation (cv_repeats, "
    "each its own seed), stratified by event and sticky: patients already assigned (same seed) "
    "keep their fold, new patients fill the emptiest fold of their stratum. Registers the fold "
    "partitions of those repeats, and the nets' folds (those of the first net_repeats).",
)
def fold_assignment(
    context: AssetExecutionContext,
    study_cohort: pd.DataFrame,
    settings: ModelingSettings,
    store: StoreResource,
) -> Output[pd.DataFrame]:
    previous = None
    with store.get_connection() as conn:
        if table_exists(conn, MODELING, "fold_assignment"):
            stored = read_table(conn, MODELING, "fold_assignment")
            if not stored.empty and set(stored["seed"]) == {settings.seed}:
                previous = stored
            else:
                context.log.info("seed changed: folds are drawn afresh")
    patients = study_cohort[["patient_id", "event"]].astype({"event": int})
    assignment = assign_repeats(
        patients, repeats=settings.cv_repeats, seed=settings.seed, previous=previous
    )
    first = assignment[assignment["repeat"] == 1]
    kept = 0 if previous is None else int(first["patient_id"].isin(previous["patient_id"]).sum())
    net_repeats = min(settings.net_repeats, settings.cv_repeats)
    for partitions, repeats in (
        (CV_FOLDS_PARTITIONS, settings.cv_repeats),
        (NET_FOLDS_PARTITIONS, net_repeats),
    ):
        added, removed = sync_folds(context.instance, partitions, cv_fold_names(repeats))
        if added or removed:
            context.log.info(
                f"{partitions} partitions added: {added or 'none'}; removed: {removed or 'none'}"
            )
    counts = (
        assignment.groupby(["repeat", "test_fold"])["event"].agg(["count", "sum"]).reset_index()
    )
    return table_output(
        assignment.assign(seed=settings.seed),
        metadata={
            "seed": settings.seed,
            "cv_repeats": settings.cv_repeats,
            "net_repeats": net_repeats,
            "n_patients": len(first),
            "n_kept_from_previous": kept,
            "n_newly_assigned": len(first) - kept,
            "patients_and_events_per_fold": markdown_table(
                counts.rename(columns={"count": "n_patients", "sum": "n_events"})
            ),
        },
    )


def sync_folds(
    instance: DagsterInstance, partitions: str, names: Sequence[str]
) -> tuple[list[str], list[str]]:
    """Make the dynamic fold partitions ``partitions`` exactly ``names``; return the keys added
    and removed."""
    present = set(instance.get_dynamic_partitions(partitions))
    added = [name for name in names if name not in present]
    removed = sorted(present - set(names), key=fold_order)
    if added:
        instance.add_dynamic_partitions(partitions, added)
    for name in removed:
        instance.delete_dynamic_partition(partitions, name)
    return added, removed


@with_code_version
@asset(
    key_prefix=MODELING,
    group_name=MODELING,
    partitions_def=study_partitions,
    metadata=FOLD_PARTITION,
    ins={"fold_assignment": AssetIn(key=[MODELING, "fold_assignment"])},
    kinds={"duckdb"},
    description="One fold's train/validation/test rows (≈70/10/20), stratified by event; the "
    "same rows under both protocols.",
)
def fold_splits(
    context: AssetExecutionContext, fold_assignment: pd.DataFrame, settings: ModelingSettings
) -> Output[pd.DataFrame]:
    fold, protocol = partition_parts(context)
    splits = split_cv_fold(
        fold_assignment.drop(columns=["seed"]),
        fold,
        validation_fraction=settings.validation_fraction,
        seed=settings.seed,
    )
    counts = split_event_counts(splits)
    return table_output(
        splits.assign(protocol=protocol),
        metadata={
            "seed": settings.seed,
            "repeat": cv_fold_parts(fold)[0],
            **{f"n_{row.split}": int(row.n_patients) for row in counts.itertuples()},
            **{f"n_events_{row.split}": int(row.n_events) for row in counts.itertuples()},
        },
    )


@with_code_version
@asset(
    key_prefix=MODELING,
    group_name=MODELING,
    kinds={"duckdb"},
    description="The model registry: one row per model spec (modalities, fusion, estimator, "
    "hyperparameters, spec_version), for joining predictions and metrics to their spec.",
)
def model_registry() -> Output[pd.DataFrame]:
    frame = spec_frame()
    return table_output(frame, metadata={"n_models": len(frame)})


def partition_parts(context: AssetExecutionContext) -> tuple[str, str]:
    """``(fold, protocol)`` of the partition being materialized."""
    return fold_partition_parts(context.partition_key)


def _training_metadata(fitted: "FittedNet", fold: str) -> dict[str, object]:
    """The grid's outcome and its training-curve PNG (as markdown), for a neural model."""
    outcomes = pd.DataFrame(
        {
            "weight_decay": o.config.weight_decay,
            "initialisation": o.config.initialisation,
            "steps": o.steps,
            "best_step": o.best_step,
            "best_validation_c": round(o.best_validation_c, 4),
            "discarded": o.reason or "",
        }
        for o in fitted.grid.outcomes
    )
    png = training_curve_figure(
        fitted.grid.history,
        chosen=fitted.grid.chosen,
        min_steps=fitted.training.min_steps,
        title=f"{fitted.label}, {fold}: training grid",
    )
    encoded = base64.b64encode(png).decode()
    return {
        "training_curve": MetadataValue.md(f"![training curve](data:image/png;base64,{encoded})"),
        "configurations": markdown_table(outcomes),
    }


def _constant_check(spec: ModelSpec, fold: str, constant: bool) -> AssetCheckResult:
    return AssetCheckResult(
        check_name=CONSTANT_CHECK,
        passed=not constant,
        severity=AssetCheckSeverity.WARN,
        description=f"{spec.name} on {fold} predicts the same risk for every test patient "
        "(every pair tied, C = 0.50)"
        if constant
        else f"{spec.name} on {fold} ranks its test patients",
        metadata={"model": spec.name, "fold": fold, "constant_prediction": constant},
    )


def model_code_version(compute: Callable[..., object], spec: ModelSpec) -> str:
    """The code the model runs (registry left out) and the version of its own spec.

    Changing one spec then makes only that model stale, while a change to the fitting code
    reaches every model.
    """
    return f"{code_digest(compute, exclude_modules=[registry.__name__])}.{spec_version(spec)}"


def model_file(spec: ModelSpec, protocol: str, fold: str) -> tuple[str, ...]:
    """Where in the file store the model of ``spec`` on ``fold`` under ``protocol`` lives."""
    return ("models", spec.name, protocol, f"{fold}{MODEL_FILE_SUFFIX}")


def offered_fits(
    store: StoreResource, members: Mapping["Modality", ModelSpec], fold: str, protocol: str
) -> tuple[dict["Modality", "FittedBlock"], list[str]]:
    """The fits of a late fusion's member models stored for ``fold`` under ``protocol``, and
    notes on the missing.

    A member whose file is absent or unreadable offers nothing (its block is refitted); the
    fits offered are still checked against the late fusion's own fingerprints when it fits.
    """
    from radiogenomics_assets.survival.fusion import load_model, reusable_fits

    offered: dict[Modality, FittedBlock] = {}
    notes: list[str] = []
    for modality, member in members.items():
        parts = model_file(member, protocol, fold)
        if not store.files.path(*parts).is_file():
            notes.append(f"block {modality} refitted: {member.name} not materialized for {fold}")
            continue
        try:
            fits, reason = reusable_fits(load_model(store.files.path(*parts)))
        # Any failure to read the member's file only means the block is refitted; it is noted.
        except Exception as error:
            reason = (
                f"{member.name}'s file for {fold} cannot be read ({type(error).__name__}: {error})"
            )
            fits = {}
        if modality in fits:
            offered[modality] = fits[modality]
        else:
            notes.append(
                f"block {modality} refitted: {reason or f'{member.name} offers no {modality} fit'}"
            )
    return offered, notes


def genes_note(available: int, wanted: int, dropped: int, protocol: str) -> str | None:
    """Why a model selects fewer genes than its ``n_genes``, or ``None`` when it has enough.

    Args:
        available: genes the model reads (after the protocol's gene rule).
        wanted: the spec's ``n_genes``.
        dropped: genes the complete-genes rule removed for an imputed value.
        protocol: the study protocol's name.
    """
    if available >= wanted:
        return None
    if dropped:
        reason = (
            f"the {protocol} protocol's complete-genes rule dropped {dropped} of "
            f"{available + dropped} genes for having an imputed value"
        )
    else:
        reason = f"the gene table holds only {available} genes"
    return (
        f"under the {protocol} protocol {available} genes are available, fewer than "
        f"n_genes = {wanted}: {reason}; the model selects from all {available}"
    )


def genes_metadata(
    spec: ModelSpec, blocks: Mapping[str, pd.DataFrame], dropped: int, protocol: str
) -> tuple[dict[str, object], list[str]]:
    """The gene counts of a genomics model's metadata, and its note when short of ``n_genes``
    (none for a model without genomics)."""
    if "genomics" not in blocks or "n_genes" not in spec.hyperparameters:
        return {}, []
    available = blocks["genomics"].shape[1]
    wanted = int(spec.hyperparameters["n_genes"])
    note = genes_note(available, wanted, dropped, protocol)
    metadata: dict[str, object] = {
        "n_genes_available": available,
        "n_genes_used": min(available, wanted),
        "genes_note": note or "none",
    }
    return metadata, [note] if note else []


def build_model_asset(spec: ModelSpec) -> AssetsDefinition:
    """The fold-partitioned asset of one registered model."""
    net = spec.estimator == "net"
    ins = {
        "fold_splits": AssetIn(
            key=[MODELING, "fold_splits"], partition_mapping=NET_READS_ITS_FOLD if net else None
        ),
        "outcomes": AssetIn(key=[COHORT, "outcomes"]),
    }
    for modality in spec.modalities:
        ins[modality] = AssetIn(key=FEATURE_SOURCES[modality][0])
    # A CoxNet late fusion reuses its blocks' single-modality fits: it depends on those models.
    members = registry.late_fusion_members(spec)

    def model_asset(
        context: AssetExecutionContext,
        settings: ModelingSettings,
        store: StoreResource,
        fold_splits: pd.DataFrame,
        outcomes: pd.DataFrame,
        **features: pd.DataFrame,
    ):
        fold, protocol_name = partition_parts(context)
        protocol = study_protocol(protocol_name, alpha_selection=settings.alpha_selection)
        genes_dropped = 0
        if "genomics" in features and protocol.complete_genes_only:
            measured = features["genomics"]["gene"].nunique()
            features["genomics"] = complete_genes(features["genomics"])
            genes_dropped = measured - features["genomics"]["gene"].nunique()
        blocks = {m: FEATURE_SOURCES[m][1](features[m]) for m in spec.modalities}
        genes, gene_notes = genes_metadata(spec, blocks, genes_dropped, protocol_name)
        usable = outcomes[outcomes["outcome_problem"].isna()][["patient_id", "event", "days"]]
        reuse, reuse_notes = (
            offered_fits(store, members, fold, protocol_name) if members else ({}, [])
        )
        fitted = fit_predict(
            spec,
            blocks,
            usable,
            fold_splits.drop(columns="protocol"),
            seed=settings.seed,
            alpha_selection=protocol.alpha_selection,
            net_training=settings.net.protocol(),
            coxnet_reuse=reuse,
            late_fusion=protocol.late_fusion,
        )
        notes = [*gene_notes, *reuse_notes, *fitted.notes]
        for note in notes:
            context.log.warning(f"{spec.name} {fold}: {note}")
        constant = constant_prediction(fitted.predictions)
        if constant:
            context.log.warning(f"{spec.name} {fold}: constant risk on every test patient")
        with store.files.atomic_path(*model_file(spec, protocol_name, fold)) as tmp:
            fitted.save(tmp)
        stored = store.files.describe(*model_file(spec, protocol_name, fold))
        # The estimator, not isinstance: a CoxNet run should not import torch to rule it out.
        extra = _training_metadata(fitted, fold) if spec.estimator == "net" else {}
        summary = {k: v for k, v in fitted.summary().items() if v is not None}
        yield table_output(
            predictions_frame(fitted).assign(protocol=protocol_name),
            metadata={
                "protocol": protocol_name,
                **genes,
                **summary,
                **extra,
                "c_index": fitted.test_c_index,
                "constant_prediction": constant,
                "model_file": stored.relpath,
                "model_sha256": stored.sha256,
                "notes": "\n".join(notes) or "none",
            },
        )
        yield _constant_check(spec, f"{fold} ({protocol_name})", constant)

    return asset(
        name=spec.name,
        key_prefix=MODELING,
        group_name=MODELING,
        partitions_def=net_partitions if net else study_partitions,
        code_version=model_code_version(model_asset, spec),
        ins=ins,
        deps=[AssetKey([MODELING, member.name]) for member in members.values()],
        metadata={
            **FOLD_PARTITION,
            "column_types": {"survival_times": "DOUBLE[]", "survival": "DOUBLE[]"},
            "label": spec.label,
            "modalities": ",".join(spec.modalities),
            "fusion": spec.fusion,
            "estimator": spec.estimator,
            "paper_table": spec.paper_table,
            "spec_version": spec_version(spec),
        },
        check_specs=[
            AssetCheckSpec(
                CONSTANT_CHECK,
                asset=AssetKey([MODELING, spec.name]),
                description="WARN when the model predicts one risk for every test patient",
            )
        ],
        kinds=FAMILY_KINDS[spec.estimator],
        description=f"{spec.label}: {spec.estimator} on {', '.join(spec.modalities)} "
        f"({spec.fusion} fusion); predictions per patient and split, model file in the store.",
    )(model_asset)


model_assets = [build_model_asset(spec) for spec in MODEL_REGISTRY]
modeling_assets = [fold_assignment, fold_splits, model_registry, *model_assets]
