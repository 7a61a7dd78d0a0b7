"""One fitting interface over the estimator families: a spec in, a :class:`FittedModel` out.

:func:`fit_predict` aligns a fold's inputs once (:func:`~.design.prepare_model_data`) and hands
them to the fitter of ``spec.estimator`` (:data:`FITTERS`): CoxNet (:mod:`.fusion`) or the
neural nets (:mod:`.neural`). Whatever the family, the result has the same predictions table,
per-split C-indices, notes, flat summary and ``save(path)``; the model asset and the evaluation
never ask which family produced it. :func:`load_predictor` reads a saved model (one file
format for every family, :mod:`.model_file`) back to an object with ``predict(blocks)``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from radiogenomics_assets.survival.design import ModelData, prepare_model_data
from radiogenomics_assets.survival.fitted import FittedModel
from radiogenomics_assets.survival.model_file import read_header
from radiogenomics_assets.survival.protocol import NetTraining
from radiogenomics_assets.survival.registry import Estimator, Modality, ModelSpec, RegistryError
from radiogenomics_assets.survival.splits import Split

if TYPE_CHECKING:
    from radiogenomics_assets.survival.coxnet import AlphaSelection
    from radiogenomics_assets.survival.fingerprint import FittedBlock


@dataclass(frozen=True)
class FitOptions:
    """Run-wide settings; each family reads its own.

    ``coxnet_reuse``: fits a CoxNet late fusion may reuse per block (see :mod:`.fusion`).
    """

    seed: int
    alpha_selection: AlphaSelection = "inner_cv"
    net_training: NetTraining = field(default_factory=NetTraining)
    coxnet_reuse: Mapping[Modality, FittedBlock] = field(default_factory=dict)


Fitter = Callable[[ModelSpec, ModelData, FitOptions], FittedModel]


# The families are imported when they fit: scikit-survival and torch cost seconds to import,
# and the code location imports this module only to name the fitting.
def _fit_coxnet(spec: ModelSpec, data: ModelData, options: FitOptions) -> FittedModel:
    from radiogenomics_assets.survival.fusion import fit_coxnet

    return fit_coxnet(
        spec,
        data,
        alpha_selection=options.alpha_selection,
        seed=options.seed,
        reuse=options.coxnet_reuse,
    )


def _fit_net(spec: ModelSpec, data: ModelData, options: FitOptions) -> FittedModel:
    from radiogenomics_assets.survival.neural import fit_net

    return fit_net(spec, data, options.net_training, seed=options.seed)


FITTERS: Mapping[Estimator, Fitter] = {"coxnet": _fit_coxnet, "net": _fit_net}


# Like the fitters, each family's reader is imported only when a file of that family is read,
# so that reading a CoxNet imports no torch.
def _load_coxnet(path: Path) -> Any:
    from radiogenomics_assets.survival.fusion import load_model

    return load_model(path)["estimator"]


def _load_net(path: Path) -> Any:
    from radiogenomics_assets.survival.neural import load_net

    return load_net(path)


LOADERS: Mapping[Estimator, Callable[[Path], Any]] = {"coxnet": _load_coxnet, "net": _load_net}


def fit_predict(
    spec: ModelSpec,
    features: Mapping[Modality, pd.DataFrame],
    outcomes: pd.DataFrame,
    splits: pd.DataFrame,
    *,
    seed: int,
    alpha_selection: AlphaSelection = "inner_cv",
    net_training: NetTraining | None = None,
    coxnet_reuse: Mapping[Modality, FittedBlock] | None = None,
    late_fusion: str | None = None,
) -> FittedModel:
    """Fit ``spec`` on one fold's training rows and predict every used patient.

    Args:
        spec: a registered model spec.
        features: per modality, a DataFrame indexed by ``patient_id``.
        outcomes: ``patient_id, event, days``.
        splits: one fold's ``patient_id, split`` rows (``fold`` optional).
        seed: seeds every random choice of the fit.
        alpha_selection: CoxNet's alpha choice (see :mod:`.coxnet`).
        net_training: the neural training protocol (default: the paper's).
        coxnet_reuse: per block, fits a CoxNet late fusion may use instead of refitting, when
            their fingerprints match (see :func:`~.fusion.fit_coxnet`).
        late_fusion: a CoxNet late fusion's aggregation rule in place of the spec's (the study
            protocol's, :mod:`.study_protocol`); ignored by every other model.

    Raises:
        RegistryError: no fitter for the spec's estimator.
        FeatureError, SurvivalTargetError, NoEventInSplitError: inputs are unusable.
        Fitting errors of the family (:mod:`.coxnet`, :mod:`.training`).
    """
    fitter = FITTERS.get(spec.estimator)
    if fitter is None:
        raise RegistryError(f"no fitter for estimator {spec.estimator!r} of {spec.name!r}")
    if late_fusion is not None and spec.estimator == "coxnet" and spec.fusion == "late":
        spec = dataclasses.replace(
            spec, hyperparameters={**spec.hyperparameters, "late_fusion": late_fusion}
        )
    data = prepare_model_data(spec.modalities, features, outcomes, splits)
    options = FitOptions(
        seed, alpha_selection, net_training or NetTraining(), dict(coxnet_reuse or {})
    )
    return fitter(spec, data, options)


def load_predictor(path: Path) -> Any:
    """The model saved at ``path``, as an object with ``predict(blocks) -> risk Series``.

    The family is the one the file's header names (:func:`~.model_file.read_header`), whatever
    the file is called.

    Raises:
        ModelFileError: the file is not a model file this code reads, or its payload is not
            what its header says.
    """
    return LOADERS[read_header(Path(path))["estimator"]](Path(path))


def constant_prediction(predictions: pd.DataFrame, split: Split = "test") -> bool:
    """Whether every ``split`` patient got the same risk (so every pair is tied, C = 0.5)."""
    risk = predictions.loc[predictions["split"] == split, "risk"].to_numpy(dtype=float)
    return len(risk) > 0 and bool(np.ptp(risk) == 0.0)
