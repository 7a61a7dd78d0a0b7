"""Fit one registered neural model (``estimator="net"``) on one fold.

Inputs are prepared exactly as for CoxNet, on the fold's training rows only: the 500 most
variant genes and standard scaling per block. Constant columns are kept (they scale to 0), so
the input widths are the paper's 500, 107 and 1024. The (weight decay × initialisation) grid is
trained at once by :func:`~radiogenomics_assets.survival.training.train_grid`; the chosen
configuration becomes a one-configuration network that predicts every used patient.

A model file (:meth:`FittedNet.save`, the format of :mod:`.model_file`) holds plain data only:
its JSON header the identity, the spec, the input widths, the training settings and the chosen
configuration; its payload the network's ``state_dict`` and the preprocessing (selected columns,
means, scales), which loads with ``torch.load(weights_only=True)`` (:func:`load_net`), never by
unpickling code.
"""

from __future__ import annotations

import dataclasses
import io
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from radiogenomics_assets.survival.coxnet import block_preprocessor
from radiogenomics_assets.survival.design import FeatureError, ModelData
from radiogenomics_assets.survival.fitted import common_summary
from radiogenomics_assets.survival.model_file import (
    ModelFileError,
    read_model_file,
    write_model_file,
)
from radiogenomics_assets.survival.modules import SurvivalNet, build_net, parameter_count
from radiogenomics_assets.survival.protocol import NetTraining
from radiogenomics_assets.survival.registry import Modality, ModelSpec, spec_version
from radiogenomics_assets.survival.splits import Split
from radiogenomics_assets.survival.training import GridData, GridResult, train_grid


@dataclass(frozen=True)
class BlockScaling:
    """The fitted preprocessing of one block: columns kept (in order), their means and scales."""

    columns: tuple[str, ...]
    mean: np.ndarray
    scale: np.ndarray

    def apply(self, block: pd.DataFrame) -> np.ndarray:
        missing = [c for c in self.columns if c not in block.columns]
        if missing:
            raise FeatureError(f"columns the network was fitted on are missing: {missing[:10]}")
        values = block.loc[:, list(self.columns)].to_numpy(dtype=float)
        return ((values - self.mean) / self.scale).astype(np.float32)

    def as_payload(self) -> dict[str, Any]:
        return {
            "columns": list(self.columns),
            "mean": torch.from_numpy(self.mean),
            "scale": torch.from_numpy(self.scale),
        }


def _fit_scaling(modality: Modality, rows: pd.DataFrame, hyperparameters: Mapping) -> BlockScaling:
    pipeline = block_preprocessor(modality, hyperparameters, drop_constant=False).fit(rows)
    scaler = pipeline.named_steps["scale"]
    return BlockScaling(
        columns=tuple(str(c) for c in pipeline.get_feature_names_out()),
        mean=np.asarray(scaler.mean_, dtype=float),
        scale=np.asarray(scaler.scale_, dtype=float),
    )


class NetPredictor:
    """A fitted network with its preprocessing: ``predict`` takes the raw feature blocks."""

    def __init__(self, net: SurvivalNet, scalings: Mapping[str, BlockScaling]) -> None:
        self.net = net.eval()
        self.scalings = dict(scalings)

    def predict(self, blocks: Mapping[str, pd.DataFrame]) -> pd.Series:
        """Risk of every row (index of the first block)."""
        missing = [m for m in self.net.modalities if m not in blocks]
        if missing:
            raise FeatureError(f"the network needs blocks {self.net.modalities}; missing {missing}")
        inputs = {
            m: torch.from_numpy(self.scalings[m].apply(blocks[m])) for m in self.net.modalities
        }
        with torch.no_grad():
            risk = self.net(inputs)[0].double().numpy()
        return pd.Series(risk, index=blocks[self.net.modalities[0]].index, name="risk")


@dataclass(frozen=True)
class FittedNet:
    """A registered neural model fitted on one fold (the fields the model asset reports).

    Attributes:
        model, label, spec_version, fold, seed: identify the fit.
        fit_splits: the splits the network was trained on (``train``; validation chose it).
        predictions: ``patient_id, split, risk`` for every used patient.
        dropped: per split, patients of the fold left out for lack of a modality.
        c_index: Harrell's C per split (in-sample for train, the selection split for
            validation).
        notes: what the caller should report (discarded configurations).
        grid: the trained grid (outcomes, history, chosen weights).
        predictor: the chosen network with its preprocessing.
        spec, training: what was fitted and how.
        input_dims: the input width of every stream.
        seconds: wall time of preprocessing, training and prediction.
    """

    model: str
    label: str
    spec_version: str
    fold: str | None
    seed: int
    fit_splits: tuple[Split, ...]
    predictions: pd.DataFrame
    dropped: Mapping[Split, tuple[str, ...]]
    c_index: Mapping[Split, float]
    notes: tuple[str, ...]
    grid: GridResult
    predictor: NetPredictor
    spec: ModelSpec
    training: NetTraining
    input_dims: Mapping[str, int]
    seconds: float

    alpha_selection = None
    survival_functions = None

    @property
    def test_c_index(self) -> float:
        return self.c_index["test"]

    @property
    def n_dropped(self) -> dict[Split, int]:
        return {split: len(ids) for split, ids in self.dropped.items()}

    @property
    def n_parameters(self) -> int:
        return parameter_count(self.predictor.net)

    def summary(self) -> dict[str, Any]:
        """Flat, JSON-friendly figures for asset metadata."""
        chosen = self.grid.chosen_outcome
        return {
            **common_summary(self),
            "weight_decay": chosen.config.weight_decay,
            "initialisation": chosen.config.initialisation,
            "steps_trained": chosen.steps,
            "best_step": chosen.best_step,
            "best_validation_c": chosen.best_validation_c,
            "n_configurations": len(self.grid.outcomes),
            "n_discarded": self.grid.n_discarded,
            "n_parameters": self.n_parameters,
            "device": self.grid.device,
            "torch_version": str(torch.__version__),
            "training_seconds": round(self.grid.seconds, 2),
            "wall_seconds": round(self.seconds, 2),
            "loss": self.training.loss,
            "early_stopping": self.training.early_stopping,
            "batch_size": self.training.batch_size,
            **{f"n_features_in_{m}": width for m, width in self.input_dims.items()},
        }

    def save(self, path: Path) -> None:
        """Write the network and what identifies it to ``path``, a model file (module doc)."""
        header = {
            "estimator": "net",
            "model": self.model,
            "label": self.label,
            "spec_version": self.spec_version,
            "fold": self.fold,
            "seed": self.seed,
            "fit_splits": list(self.fit_splits),
            "spec": self.spec.as_dict(),
            "input_dims": dict(self.input_dims),
            "training": _plain(dataclasses.asdict(self.training)),
            "chosen": _plain(dataclasses.asdict(self.grid.chosen_outcome)),
            # torch's own string: it names the build (e.g. +cu130), the distribution does not.
            "libraries": {"torch": str(torch.__version__)},
        }
        payload = {
            "state_dict": self.grid.state_dict,
            "preprocessing": {m: s.as_payload() for m, s in self.predictor.scalings.items()},
        }
        write_model_file(Path(path), header, partial(torch.save, payload))


def _plain(value: Any) -> Any:
    """JSON-ready: lists for tuples, ``None`` for a non-finite float (no such JSON number)."""
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def load_net(path: Path) -> NetPredictor:
    """The predictor stored by :meth:`FittedNet.save` (``weights_only``: no code is unpickled).

    Raises:
        ModelFileError: not a model file, not a network one, or its payload is unreadable.
    """
    header, raw = read_model_file(Path(path), "net")
    try:
        payload = torch.load(io.BytesIO(raw), weights_only=True)
        spec = header["spec"]
        net = build_net(spec["fusion"], header["input_dims"], spec["hyperparameters"])
        net.load_state_dict(payload["state_dict"])
        scalings = {
            m: BlockScaling(tuple(p["columns"]), p["mean"].numpy(), p["scale"].numpy())
            for m, p in payload["preprocessing"].items()
        }
    # torch raises several unrelated types for a foreign payload (a pickle of code included).
    except Exception as error:
        raise ModelFileError(f"{path}: its network payload cannot be read: {error}") from error
    return NetPredictor(net, scalings)


def _positions(used: pd.Index, patients: pd.Index) -> torch.Tensor:
    return torch.from_numpy(used.get_indexer(patients).astype(np.int64))


def fit_net(spec: ModelSpec, data: ModelData, training: NetTraining, *, seed: int) -> FittedNet:
    """Train the spec's grid on the fold's training rows; choose on validation; predict all.

    Raises:
        TrainingError, NoModelError, NoComparablePairsError: see :func:`train_grid`.
        ArchitectureError: the spec's sizes do not build a network.
    """
    started = time.perf_counter()
    where = f"{spec.name} on {data.fold or 'the given splits'}"
    train_ids = data.patients("train")
    scalings = {
        m: _fit_scaling(m, data.blocks[m].loc[train_ids], spec.hyperparameters)
        for m in spec.modalities
    }
    used = data.split_of.index
    features = {m: torch.from_numpy(scalings[m].apply(data.blocks[m])) for m in spec.modalities}
    outcomes = data.outcomes.loc[used]
    grid_data = GridData(
        features=features,
        event=torch.from_numpy(outcomes["event"].to_numpy(dtype=bool)),
        time=torch.from_numpy(outcomes["days"].to_numpy(dtype=np.float64)),
        train_rows=_positions(used, train_ids),
        validation_rows=_positions(used, data.patients("validation")),
    )
    input_dims = {m: int(features[m].shape[1]) for m in spec.modalities}
    build = partial(build_net, spec.fusion, input_dims, spec.hyperparameters)
    grid = train_grid(build, grid_data, training, seed=seed, where=where)
    net = build(1)
    net.load_state_dict(grid.state_dict)
    predictor = NetPredictor(net, scalings)
    risk = predictor.predict({m: data.blocks[m] for m in spec.modalities})
    predictions, c_index = data.score(risk, where)
    notes = []
    if grid.n_discarded:
        reasons = sorted({str(o.reason) for o in grid.outcomes if o.discarded})
        notes.append(
            f"{where}: {grid.n_discarded} of {len(grid.outcomes)} configurations discarded "
            f"({'; '.join(reasons[:5])})"
        )
    return FittedNet(
        model=spec.name,
        label=spec.label,
        spec_version=spec_version(spec),
        fold=data.fold,
        seed=seed,
        fit_splits=("train",),
        predictions=predictions,
        dropped=data.dropped,
        c_index=c_index,
        notes=tuple(notes),
        grid=grid,
        predictor=predictor,
        spec=spec,
        training=training,
        input_dims=input_dims,
        seconds=time.perf_counter() - started,
    )
