"""Fit one registered CoxNet model on one fold: single block, early fusion or late fusion.

* ``single`` / ``early``: one CoxNet over the (concatenated) preprocessed blocks.
* ``late``: one CoxNet per block, each with its own alpha selection, risks aggregated. The
  default aggregation, ``mean_standardised_risk``, standardises each block's risk with the mean
  and standard deviation of that block's risk on the model's fitting rows and averages them, so
  a block whose linear predictor happens to have a large scale cannot dominate. A block whose
  fitting-row risk is constant (all coefficients zero at its alpha) contributes 0 and is noted.
  ``sum_risk`` sums the raw risks, as the paper's code does.

  A late-fusion block fits exactly what the single-modality model of that block fits when both
  read the same rows with the same settings. ``fit_coxnet(..., reuse=...)`` takes such fits
  (:class:`~.fingerprint.FittedBlock`, e.g. read back from the single models' files with
  :func:`reusable_fits`) and uses one instead of refitting only when its fit fingerprint equals
  the block's own (:func:`~.fingerprint.fit_fingerprint`); otherwise the block is refitted and a
  note says why. Reuse never changes a result: the reused model and alpha are the ones a refit
  computes.

The result, :class:`FittedCoxnet`, carries the predictions of every used patient (all splits),
the chosen alpha(s), feature counts per block, the selected genes, the patients dropped for lack
of a modality, notes on numerical fallbacks, and the fitted estimator (picklable, see
:func:`save_model`, a model file of :mod:`.model_file`).
"""

from __future__ import annotations

import dataclasses
import io
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd

from radiogenomics_assets.survival.coxnet import (
    AlphaChoice,
    AlphaSelection,
    CoxnetBlockModel,
    SurvivalFunctionError,
    fit_with_alpha_selection,
)
from radiogenomics_assets.survival.design import ModelData
from radiogenomics_assets.survival.fingerprint import FitFingerprint, FittedBlock, fit_fingerprint
from radiogenomics_assets.survival.fitted import common_summary
from radiogenomics_assets.survival.model_file import (
    ModelFileError,
    library_versions,
    read_model_file,
    write_model_file,
)
from radiogenomics_assets.survival.registry import (
    Modality,
    ModelSpec,
    RegistryError,
    spec_version,
)
from radiogenomics_assets.survival.splits import Split

LATE_FUSION_RULES = ("mean_standardised_risk", "sum_risk")


_CONSTANT_SD = 1e-12


class LateFusionModel:
    """One CoxNet per block; the fused risk aggregates the blocks' risks (picklable)."""

    def __init__(
        self,
        members: tuple[CoxnetBlockModel, ...],
        means: np.ndarray,
        sds: np.ndarray,
        rule: str,
    ) -> None:
        self.members = members
        self.means = means
        self.sds = sds
        self.rule = rule

    @property
    def modalities(self) -> tuple[Modality, ...]:
        return tuple(member.modalities[0] for member in self.members)

    def block_risks(self, blocks: Mapping[Modality, pd.DataFrame]) -> pd.DataFrame:
        """Each block's raw risk, one column per modality."""
        return pd.DataFrame(
            {member.modalities[0]: member.predict(blocks) for member in self.members}
        )

    def predict(self, blocks: Mapping[Modality, pd.DataFrame]) -> pd.Series:
        """The fused risk, indexed like the blocks."""
        raw = self.block_risks(blocks)
        if self.rule == "sum_risk":
            return raw.sum(axis=1).rename("risk")
        scale = np.where(self.sds > _CONSTANT_SD, self.sds, np.inf)
        standardised = (raw - self.means) / scale
        return standardised.mean(axis=1).rename("risk")


@dataclass(frozen=True)
class BlockReport:
    """One fitted CoxNet of a model (the only one, or one per block for late fusion).

    Attributes:
        modalities: blocks it reads.
        choice: how its alpha was chosen.
        n_features_in: per block, columns given.
        n_features_out: per block, columns reaching CoxNet (after gene selection and
            constant-column removal).
        n_nonzero: non-zero coefficients at the chosen alpha.
        selected_genes: the genes kept by the top-variance selection, if genomics is read.
        fingerprint: what the fit depended on (:func:`~.fingerprint.fit_fingerprint`).
        reused_from: the model whose fit was reused instead of refitting, if any.
    """

    modalities: tuple[Modality, ...]
    choice: AlphaChoice
    n_features_in: Mapping[Modality, int]
    n_features_out: Mapping[Modality, int]
    n_nonzero: int
    selected_genes: tuple[str, ...] | None
    fingerprint: FitFingerprint | None = None
    reused_from: str | None = None


@dataclass(frozen=True)
class FittedCoxnet:
    """A registered CoxNet model fitted on one fold.

    Attributes:
        model, label, spec_version: identify the spec.
        fold: fold name from the splits (``None`` if they carried none).
        alpha_selection, seed: how it ran.
        fit_splits: the splits whose rows the CoxNet(s) were fitted on.
        predictions: ``patient_id, split, risk`` for every used patient, sorted by id.
        survival_functions: for validation and test patients, survival probabilities on the
            baseline's time points (index ``patient_id``, float day columns); ``None`` for late
            fusion or when the baseline was numerically degenerate (see ``notes``).
        blocks: one report per fitted CoxNet.
        dropped: per split, patients of the fold left out for lack of a modality.
        c_index: Harrell's C per split (in-sample for the fit splits).
        notes: numerical fallbacks and omissions, for the caller to report.
        estimator: the fitted model (:class:`CoxnetBlockModel` or :class:`LateFusionModel`).
        reused_fits: models whose fits late fusion reused instead of refitting a block.
    """

    model: str
    label: str
    spec_version: str
    fold: str | None
    alpha_selection: AlphaSelection
    seed: int
    fit_splits: tuple[Split, ...]
    predictions: pd.DataFrame
    survival_functions: pd.DataFrame | None
    blocks: tuple[BlockReport, ...]
    dropped: Mapping[Split, tuple[str, ...]]
    c_index: Mapping[Split, float]
    notes: tuple[str, ...]
    estimator: CoxnetBlockModel | LateFusionModel
    reused_fits: tuple[str, ...] = ()

    @property
    def n_dropped(self) -> dict[Split, int]:
        return {split: len(ids) for split, ids in self.dropped.items()}

    @property
    def test_c_index(self) -> float:
        return self.c_index["test"]

    @property
    def selected_genes(self) -> tuple[str, ...] | None:
        for block in self.blocks:
            if block.selected_genes is not None:
                return block.selected_genes
        return None

    @property
    def null_model(self) -> bool:
        """Whether every CoxNet of the model keeps no coefficient at its chosen alpha, so the
        model gives every patient the same risk (the notes say why). A late fusion with one null
        block still ranks by its other blocks."""
        return all(block.n_nonzero == 0 for block in self.blocks)

    def summary(self) -> dict[str, Any]:
        """Flat, JSON-friendly figures for asset metadata."""
        summary = {
            **common_summary(self),
            "alpha_selection": self.alpha_selection,
            "null_model": self.null_model,
        }
        for block in self.blocks:
            prefix = "alpha" if len(self.blocks) == 1 else f"alpha_{block.modalities[0]}"
            summary[prefix] = block.choice.alpha
            summary[f"{prefix}_index"] = block.choice.alpha_index
            for modality in block.modalities:
                summary[f"n_features_in_{modality}"] = block.n_features_in[modality]
                summary[f"n_features_out_{modality}"] = block.n_features_out[modality]
        if isinstance(self.estimator, LateFusionModel):
            summary["reused_fits"] = ", ".join(self.reused_fits) or "none"
            summary["refitted_blocks"] = (
                ", ".join(b.modalities[0] for b in self.blocks if b.reused_from is None) or "none"
            )
        return summary

    def fitted_blocks(self, source: str | None = None) -> tuple[FittedBlock, ...]:
        """Each fitted CoxNet with its fingerprint and choice, as later models may reuse it."""
        models = (
            self.estimator.members
            if isinstance(self.estimator, LateFusionModel)
            else (self.estimator,)
        )
        return tuple(
            FittedBlock(block.fingerprint, model, block.choice, source or self.model)
            for block, model in zip(self.blocks, models, strict=True)
            if block.fingerprint is not None
        )

    def reusable_fits(self, source: str | None = None) -> dict[Modality, FittedBlock]:
        """The single-block fits, by modality (what :func:`fit_coxnet`'s ``reuse`` takes)."""
        return {
            block.fingerprint.modalities[0]: block
            for block in self.fitted_blocks(source)
            if len(block.fingerprint.modalities) == 1
        }

    def save(self, path: Path) -> None:
        """Write the fitted estimator (see :func:`save_model`)."""
        save_model(self, path)


def _report(
    model: CoxnetBlockModel,
    choice: AlphaChoice,
    blocks: Mapping,
    fingerprint: FitFingerprint,
    reused_from: str | None = None,
) -> BlockReport:
    selected: tuple[str, ...] | None = None
    n_out: dict[Modality, int] = {}
    for modality in model.modalities:
        pipeline = model.preprocessors[modality]
        n_out[modality] = len(pipeline.get_feature_names_out())
        if modality == "genomics":
            selected = tuple(pipeline.named_steps["select"].genes_)
    coefficients = model.coefficients()
    return BlockReport(
        modalities=model.modalities,
        choice=choice,
        n_features_in={modality: blocks[modality].shape[1] for modality in model.modalities},
        n_features_out=n_out,
        n_nonzero=int((coefficients != 0).sum()),
        selected_genes=selected,
        fingerprint=fingerprint,
        reused_from=reused_from,
    )


def fit_coxnet(
    spec: ModelSpec,
    data: ModelData,
    *,
    alpha_selection: AlphaSelection,
    seed: int,
    reuse: Mapping[Modality, FittedBlock] | None = None,
) -> FittedCoxnet:
    """Fit ``spec`` on one fold's training rows and predict every used patient.

    Args:
        spec: a CoxNet model spec from the registry.
        data: the fold's aligned inputs (:func:`~.design.prepare_model_data`).
        alpha_selection: ``paper``, ``validation`` or ``inner_cv`` (see :mod:`.coxnet`).
        seed: seeds the inner cross-validation.
        reuse: for late fusion, per block, a fit to use instead of refitting that block; used
            only when its fingerprint equals the block's own, else the block is refitted and a
            note says why. Ignored by single and early fusion.

    Raises:
        RegistryError: the spec's estimator or late-fusion rule has no implementation here.
        AlphaSelectionError, CoxnetNumericalError: fitting failed (see :mod:`.coxnet`).
    """
    if spec.estimator != "coxnet":
        raise RegistryError(f"fit_coxnet fits CoxNet specs; {spec.name!r} is {spec.estimator!r}")
    hyperparameters = spec.hyperparameters
    where = f"{spec.name} on {data.fold or 'the given splits'}"
    used = data.split_of.index
    notes: list[str] = []
    survival: pd.DataFrame | None = None
    reports: list[BlockReport] = []
    reused: list[str] = []

    if spec.fusion in ("single", "early"):
        fingerprint = fit_fingerprint(
            spec.modalities, data, hyperparameters, alpha_selection=alpha_selection, seed=seed
        )
        model, choice = fit_with_alpha_selection(
            spec.modalities,
            data,
            hyperparameters,
            alpha_selection=alpha_selection,
            seed=seed,
            baseline=True,
            where=where,
        )
        notes.extend(choice.notes)
        reports.append(_report(model, choice, data.blocks, fingerprint))
        estimator: CoxnetBlockModel | LateFusionModel = model
        fit_splits = choice.fit_splits
        try:
            survival = model.survival_functions(data.rows(data.patients("validation", "test")))
        except SurvivalFunctionError as error:
            notes.append(f"{where}: {error}; survival functions and IBS omitted")
    elif spec.fusion == "late":
        rule = str(hyperparameters["late_fusion"])
        if rule not in LATE_FUSION_RULES:
            raise RegistryError(
                f"{spec.name}: late_fusion must be one of {LATE_FUSION_RULES}, got {rule!r}"
            )
        members: list[CoxnetBlockModel] = []
        means: list[float] = []
        sds: list[float] = []
        fit_splits = ("train",)
        for modality in spec.modalities:
            fingerprint = fit_fingerprint(
                (modality,), data, hyperparameters, alpha_selection=alpha_selection, seed=seed
            )
            offered = (reuse or {}).get(modality)
            reason = (
                None
                if offered is None
                else fingerprint.mismatch(
                    offered.fingerprint, source=offered.source, here=f"{spec.name}'s {modality}"
                )
            )
            reused_from: str | None = None
            if offered is not None and reason is None and offered.model.alpha_index is not None:
                model, choice = offered.model, offered.choice
                reused_from = offered.source
                reused.append(offered.source)
            else:
                if offered is not None:
                    notes.append(
                        f"{where}: block {modality} refitted, the fit of {offered.source} not "
                        f"reused: {reason or 'it has no chosen alpha'}"
                    )
                model, choice = fit_with_alpha_selection(
                    (modality,),
                    data,
                    hyperparameters,
                    alpha_selection=alpha_selection,
                    seed=seed,
                    baseline=False,
                    where=f"{where}, block {modality}",
                )
            notes.extend(choice.notes)
            reports.append(_report(model, choice, data.blocks, fingerprint, reused_from))
            fit_splits = choice.fit_splits
            fit_risk = model.predict(data.rows(data.patients(*fit_splits))).to_numpy()
            members.append(model)
            means.append(float(fit_risk.mean()))
            sds.append(float(fit_risk.std()))
            if sds[-1] <= _CONSTANT_SD and rule == "mean_standardised_risk":
                notes.append(
                    f"{where}: block {modality} has constant risk on its fitting rows at alpha "
                    f"{choice.alpha:.4g}; it contributes 0 to the fused risk"
                )
        estimator = LateFusionModel(tuple(members), np.array(means), np.array(sds), rule)
    else:
        raise RegistryError(f"{spec.name}: fusion {spec.fusion!r} is not a CoxNet fusion")

    predictions, c_index = data.score(estimator.predict(data.rows(used)), where)
    return FittedCoxnet(
        model=spec.name,
        label=spec.label,
        spec_version=spec_version(spec),
        fold=data.fold,
        alpha_selection=alpha_selection,
        seed=seed,
        fit_splits=fit_splits,
        predictions=predictions,
        survival_functions=survival,
        blocks=tuple(reports),
        dropped=data.dropped,
        c_index=c_index,
        notes=tuple(notes),
        estimator=estimator,
        reused_fits=tuple(reused),
    )


#: What a CoxNet payload's pickles depend on, recorded in the header.
COXNET_LIBRARIES = ("scikit-survival", "scikit-learn", "numpy")


def save_model(fitted: FittedCoxnet, path: Path) -> None:
    """Write the fitted estimator and what identifies it to ``path``, a model file.

    The header holds the identity; the payload (joblib) the estimator and its fits. The caller
    chooses the path (the file store's atomic temporary path) and hashes the file.

    Raises:
        OSError: the file cannot be written.
    """
    header = {
        "estimator": "coxnet",
        "model": fitted.model,
        "label": fitted.label,
        "spec_version": fitted.spec_version,
        "fold": fitted.fold,
        "seed": fitted.seed,
        "fit_splits": list(fitted.fit_splits),
        "alpha_selection": fitted.alpha_selection,
        "libraries": library_versions(*COXNET_LIBRARIES),
    }
    payload = {
        "estimator": fitted.estimator,
        # Per fitted CoxNet (in estimator order): what it was fitted on and how its alpha was
        # chosen, so that a later model can reuse it (:func:`reusable_fits`).
        "fits": [
            {
                # Plain data, so that a file of an older format is recognised, not misread.
                "fingerprint": None
                if block.fingerprint is None
                else dataclasses.asdict(block.fingerprint),
                "choice": block.choice,
                "reused_from": block.reused_from,
            }
            for block in fitted.blocks
        ],
    }
    write_model_file(Path(path), header, lambda stream: joblib.dump(payload, stream))


def load_model(path: Path) -> dict[str, Any]:
    """The header of the CoxNet model file at ``path`` with its payload's ``estimator`` and
    ``fits`` (only from files this project wrote: the payload is unpickled).

    Raises:
        ModelFileError: not a model file, not a CoxNet one, or its payload is unreadable.
    """
    header, raw = read_model_file(Path(path), "coxnet")
    try:
        payload = joblib.load(io.BytesIO(raw))
    # Unpickling raises many unrelated types for a damaged or foreign payload.
    except Exception as error:
        raise ModelFileError(f"{path}: its CoxNet payload cannot be read: {error}") from error
    if not isinstance(payload, dict) or "estimator" not in payload:
        raise ModelFileError(f"{path}: its CoxNet payload holds no estimator")
    return {**header, "fit_splits": tuple(header["fit_splits"]), **payload}


def reusable_fits(payload: Mapping[str, Any]) -> tuple[dict[Modality, FittedBlock], str | None]:
    """The single-block CoxNet fits stored in a :func:`load_model` payload, by modality.

    Returns:
        The fits, and why there are none when the payload cannot offer any (written before fit
        fingerprints were stored, or not a CoxNet).
    """
    source = str(payload.get("model", "the stored model"))
    fits = payload.get("fits")
    estimator = payload["estimator"]
    if fits is None:
        return {}, f"{source}'s file was written before fit fingerprints were stored"
    if isinstance(estimator, LateFusionModel):
        models: tuple[CoxnetBlockModel, ...] = estimator.members
    elif isinstance(estimator, CoxnetBlockModel):
        models = (estimator,)
    else:
        return {}, f"{source}'s file does not hold a CoxNet"
    if len(models) != len(fits):
        return {}, f"{source}'s file holds {len(models)} CoxNets but {len(fits)} fingerprints"
    offered: dict[Modality, FittedBlock] = {}
    for model, fit in zip(models, fits, strict=True):
        try:
            fingerprint = FitFingerprint(**fit["fingerprint"])
        except (TypeError, KeyError) as error:
            return {}, f"{source}'s file stores no fit fingerprint this code reads ({error})"
        if len(model.modalities) == 1:
            offered[model.modalities[0]] = FittedBlock(fingerprint, model, fit["choice"], source)
    return offered, None
