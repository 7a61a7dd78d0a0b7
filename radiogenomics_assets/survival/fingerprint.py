"""Fit fingerprints: when a fitted CoxNet can stand in for a refit.

:func:`fit_fingerprint` digests everything one :func:`~.coxnet.fit_with_alpha_selection` call
depends on: the modalities, the rows it reads (patient ids in order and their split, since the
splits decide which rows are fitted and scored), those rows' block columns and values and their
target, the fit-relevant hyperparameters (:func:`~.registry.fit_hyperparameters`), the alpha
selection, the seed (it draws the inner folds), the source of the fitting code and the versions
of the numerical libraries. Two calls with equal fingerprints compute the same model and alpha,
so a fitted :class:`FittedBlock` can stand in for a refit (late fusion reuses the single-
modality models' fits this way). The Breslow baseline is left out: it does not change
coefficients, risks or the alpha.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import metadata
from typing import Any

import numpy as np

from radiogenomics_assets.survival.coxnet import (
    ALPHA_SELECTIONS,
    AlphaChoice,
    AlphaSelection,
    AlphaSelectionError,
    CoxnetBlockModel,
)
from radiogenomics_assets.survival.design import ModelData
from radiogenomics_assets.survival.registry import Modality, fit_hyperparameters
from radiogenomics_assets.survival.splits import Split

#: Splits whose rows a fit reads, per alpha selection (fitted on, or scored for the alpha).
READ_SPLITS: Mapping[AlphaSelection, tuple[Split, ...]] = {
    "paper": ("train",),
    "validation": ("train", "validation"),
    "inner_cv": ("train", "validation"),
}
#: Code a fit's result depends on: its source is part of every fingerprint.
_FIT_MODULES = (
    "radiogenomics_assets.survival.coxnet",
    "radiogenomics_assets.survival.metrics",
    "radiogenomics_assets.survival.targets",
    "radiogenomics_assets.omics.selection",
)
_FIT_LIBRARIES = ("numpy", "pandas", "scikit-learn", "scikit-survival", "scipy")
_FINGERPRINT_VERSION = "1"


@cache
def _fit_code_digest() -> str:
    digest = hashlib.sha256()
    for name in _FIT_MODULES:
        try:
            source = inspect.getsource(importlib.import_module(name))
        except OSError:
            # No source to digest: a token of this process, so fits are reused only within it.
            source = f"no source for {name}: {uuid.uuid4()}"
        digest.update(source.encode())
    for library in _FIT_LIBRARIES:
        digest.update(f"{library}={metadata.version(library)}".encode())
    return digest.hexdigest()


def _sha256(*parts: bytes | str) -> str:
    digest = hashlib.sha256()
    for part in parts:
        data = part.encode() if isinstance(part, str) else part
        digest.update(len(data).to_bytes(8, "little"))
        digest.update(data)
    return digest.hexdigest()


@dataclass(frozen=True)
class FitFingerprint:
    """What one :func:`fit_with_alpha_selection` call depends on, digested (module docstring).

    Attributes:
        modalities: the blocks fitted.
        n_rows: rows the fit reads.
        rows: digest of those rows' patient ids, in order, and their splits.
        values: digest of those rows' block columns, dtypes and values and their target.
        settings: digest of the fit hyperparameters, alpha selection, seed, code and libraries.
        digest: sha256 over all of the above; equal digests mean the same fit.
    """

    modalities: tuple[Modality, ...]
    n_rows: int
    rows: str
    values: str
    settings: str

    @property
    def digest(self) -> str:
        return _sha256(
            ",".join(self.modalities), str(self.n_rows), self.rows, self.values, self.settings
        )

    def mismatch(self, other: FitFingerprint, *, source: str, here: str) -> str | None:
        """Why a fit of ``source`` fingerprinted ``other`` is not this fit, or ``None``."""
        if self.modalities != other.modalities:
            return (
                f"{source} fitted blocks {list(other.modalities)}, {here} {list(self.modalities)}"
            )
        if self.n_rows != other.n_rows:
            return (
                f"{source} was fitted on {other.n_rows} rows, {here} on {self.n_rows} "
                "(the patients that have every block it reads)"
            )
        if self.rows != other.rows:
            return f"{source} was fitted on other patients or splits than {here}"
        if self.settings != other.settings:
            return (
                f"settings differ between {source} and {here} (hyperparameters, alpha "
                "selection, seed, fitting code or library versions)"
            )
        if self.values != other.values:
            return f"the feature values or outcomes {source} was fitted on differ from {here}'s"
        if self.digest != other.digest:
            return f"the fit fingerprints of {source} and {here} differ"
        return None


def fit_fingerprint(
    modalities: Sequence[Modality],
    data: ModelData,
    hyperparameters: Mapping[str, Any],
    *,
    alpha_selection: AlphaSelection,
    seed: int,
) -> FitFingerprint:
    """The fingerprint of ``fit_with_alpha_selection(modalities, data, ...)`` (same arguments).

    Raises:
        AlphaSelectionError: unknown alpha selection.
    """
    if alpha_selection not in ALPHA_SELECTIONS:
        raise AlphaSelectionError(
            f"alpha_selection must be one of {ALPHA_SELECTIONS}, got {alpha_selection!r}"
        )
    patients = data.patients(*READ_SPLITS[alpha_selection])
    splits = data.split_of.loc[patients]
    rows = _sha256(json.dumps([list(map(str, patients)), list(map(str, splits))]))
    value_parts: list[bytes | str] = []
    for modality in modalities:
        block = data.blocks[modality].loc[patients]
        value_parts.append(modality)
        value_parts.append(
            json.dumps([list(map(str, block.columns)), list(map(str, block.dtypes))])
        )
        value_parts.append(np.ascontiguousarray(block.to_numpy(dtype=np.float64)).tobytes())
    target = data.target(patients)
    value_parts.extend([str(target.dtype.descr), np.ascontiguousarray(target).tobytes()])
    settings = _sha256(
        _FINGERPRINT_VERSION,
        json.dumps(
            {
                "hyperparameters": fit_hyperparameters(hyperparameters),
                "alpha_selection": alpha_selection,
                "seed": int(seed),
            },
            sort_keys=True,
        ),
        _fit_code_digest(),
    )
    return FitFingerprint(
        modalities=tuple(modalities),
        n_rows=len(patients),
        rows=rows,
        values=_sha256(*value_parts),
        settings=settings,
    )


@dataclass(frozen=True)
class FittedBlock:
    """One fitted CoxNet with its chosen alpha, its fingerprint and the model that fitted it.

    What a later model may reuse instead of refitting when its own fingerprint is equal.
    """

    fingerprint: FitFingerprint
    model: CoxnetBlockModel
    choice: AlphaChoice
    source: str
