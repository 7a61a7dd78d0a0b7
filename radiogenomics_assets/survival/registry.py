"""The model registry: one declarative table of model specs from which the model assets are made.

A spec says which feature blocks a model reads (``modalities``), how it combines them
(``fusion``), which estimator family fits it (``estimator``) and with which hyperparameters.
The paper's nine linear models are the rows of :data:`_COXNET_TABLE`; the neural models of
Table 1(b) will be further rows with ``estimator="mlp"`` and fusions such as ``"intermediate"``,
``"block"`` or ``"mfh"`` (extend :data:`Fusion` and :data:`Estimator` and add a fitter keyed by
the estimator name), so the Dagster layer never changes when a model is added.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal, get_args

import pandas as pd

Modality = Literal["genomics", "pyradiomics", "densenet"]
Fusion = Literal["single", "early", "late"]
Estimator = Literal["coxnet"]

MODALITIES: tuple[Modality, ...] = get_args(Modality)
MODALITY_CODES: Mapping[Modality, str] = MappingProxyType(
    {"genomics": "g", "pyradiomics": "p", "densenet": "d"}
)
CODE_MODALITIES: Mapping[str, Modality] = MappingProxyType(
    {code: modality for modality, code in MODALITY_CODES.items()}
)
_NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,62}$")


class RegistryError(ValueError):
    """A model spec is inconsistent, or a requested model is not registered."""


#: CoxNet settings of the paper's code (``linear_cox.ipynb`` / ``utils.run_coxnet``): l1_ratio
#: 0.3 over a 100-alpha path. ``alpha_min_ratio`` 1e-4 is scikit-survival 0.12's default, the
#: version the paper used (newer releases pick 0.01 when features outnumber patients).
COXNET_HYPERPARAMETERS: Mapping[str, Any] = MappingProxyType(
    {
        "l1_ratio": 0.3,
        "n_alphas": 100,
        "alpha_min_ratio": 1e-4,
        "n_genes": 500,
        "inner_cv_folds": 5,
        "late_fusion": "mean_standardised_risk",
    }
)


@dataclass(frozen=True)
class ModelSpec:
    """One registered model.

    Attributes:
        name: asset-safe snake_case name, e.g. ``cox_ef_g_p``.
        modalities: the feature blocks it reads, in registry order (G, P, D).
        fusion: ``single`` (one block), ``early`` (blocks concatenated into one estimator) or
            ``late`` (one estimator per block, risks aggregated).
        estimator: estimator family that fits the spec.
        hyperparameters: JSON-serialisable settings of the estimator family.
        label: the paper's notation, e.g. ``Cox(EF(G, P))``.
    """

    name: str
    modalities: tuple[Modality, ...]
    fusion: Fusion
    estimator: Estimator
    hyperparameters: Mapping[str, Any] = field(hash=False)
    label: str

    def __post_init__(self) -> None:
        if not _NAME_PATTERN.fullmatch(self.name):
            raise RegistryError(
                f"model name {self.name!r} must be snake_case matching {_NAME_PATTERN.pattern}"
            )
        if not self.modalities:
            raise RegistryError(f"model {self.name!r} reads no modality")
        unknown = [m for m in self.modalities if m not in MODALITIES]
        if unknown:
            raise RegistryError(
                f"model {self.name!r} has unknown modalities {unknown}; known: {MODALITIES}"
            )
        if len(set(self.modalities)) != len(self.modalities):
            raise RegistryError(f"model {self.name!r} repeats a modality: {self.modalities}")
        if self.fusion not in get_args(Fusion):
            raise RegistryError(f"model {self.name!r} has unknown fusion {self.fusion!r}")
        if self.estimator not in get_args(Estimator):
            raise RegistryError(f"model {self.name!r} has unknown estimator {self.estimator!r}")
        if (self.fusion == "single") != (len(self.modalities) == 1):
            raise RegistryError(
                f"model {self.name!r}: fusion {self.fusion!r} does not fit "
                f"{len(self.modalities)} modalities (single ⇔ exactly one)"
            )
        try:
            frozen = json.loads(json.dumps(dict(self.hyperparameters), sort_keys=True))
        except (TypeError, ValueError) as error:
            raise RegistryError(
                f"model {self.name!r}: hyperparameters are not JSON-serialisable ({error})"
            ) from error
        object.__setattr__(self, "hyperparameters", MappingProxyType(frozen))
        object.__setattr__(self, "modalities", tuple(self.modalities))

    def __getstate__(self) -> dict[str, Any]:
        # A mapping proxy cannot be pickled; store the plain dict and re-wrap it on load.
        state = dict(self.__dict__)
        state["hyperparameters"] = dict(self.hyperparameters)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        for key, value in state.items():
            object.__setattr__(self, key, value)
        object.__setattr__(self, "hyperparameters", MappingProxyType(state["hyperparameters"]))

    @property
    def codes(self) -> str:
        """Modality codes joined, e.g. ``gpd``."""
        return "".join(MODALITY_CODES[m] for m in self.modalities)

    def as_dict(self) -> dict[str, Any]:
        """Plain-data form (lists and dicts), used for hashing and storage."""
        return {
            "name": self.name,
            "modalities": list(self.modalities),
            "fusion": self.fusion,
            "estimator": self.estimator,
            "hyperparameters": dict(self.hyperparameters),
            "label": self.label,
        }


# The paper's Table 1(a): (name, modality codes, fusion, label). Names follow
# cox_<fusion prefix><codes>; the hyperparameters are shared.
_COXNET_TABLE: tuple[tuple[str, str, Fusion, str], ...] = (
    ("cox_g", "g", "single", "Cox(G)"),
    ("cox_p", "p", "single", "Cox(P)"),
    ("cox_d", "d", "single", "Cox(D)"),
    ("cox_ef_g_p", "gp", "early", "Cox(EF(G, P))"),
    ("cox_lf_g_p", "gp", "late", "Cox(LF(G, P))"),
    ("cox_ef_g_d", "gd", "early", "Cox(EF(G, D))"),
    ("cox_lf_g_d", "gd", "late", "Cox(LF(G, D))"),
    ("cox_ef_g_p_d", "gpd", "early", "Cox(EF(G, P, D))"),
    ("cox_lf_g_p_d", "gpd", "late", "Cox(LF(G, P, D))"),
)

MODEL_REGISTRY: tuple[ModelSpec, ...] = tuple(
    ModelSpec(
        name=name,
        modalities=tuple(CODE_MODALITIES[code] for code in codes),
        fusion=fusion,
        estimator="coxnet",
        hyperparameters=COXNET_HYPERPARAMETERS,
        label=label,
    )
    for name, codes, fusion, label in _COXNET_TABLE
)


def _check_unique(specs: tuple[ModelSpec, ...]) -> None:
    names = [spec.name for spec in specs]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise RegistryError(f"model names repeat in the registry: {repeated}")


_check_unique(MODEL_REGISTRY)


def get_spec(name: str, registry: tuple[ModelSpec, ...] = MODEL_REGISTRY) -> ModelSpec:
    """The registered spec called ``name``.

    Raises:
        RegistryError: no spec has that name (the message lists the registered names).
    """
    for spec in registry:
        if spec.name == name:
            return spec
    raise RegistryError(f"no model named {name!r}; registered: {[spec.name for spec in registry]}")


def spec_version(spec: ModelSpec) -> str:
    """A stable 16-hex-digit hash of the spec's content (sorted-key JSON, sha256)."""
    canonical = json.dumps(spec.as_dict(), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def spec_frame(registry: tuple[ModelSpec, ...] = MODEL_REGISTRY) -> pd.DataFrame:
    """The registry as a table for DuckDB: one row per spec, hyperparameters as JSON text.

    Columns: ``name, label, modalities`` (comma-separated modality names), ``modality_codes,
    fusion, estimator, hyperparameters, spec_version``.
    """
    return pd.DataFrame(
        [
            {
                "name": spec.name,
                "label": spec.label,
                "modalities": ",".join(spec.modalities),
                "modality_codes": spec.codes,
                "fusion": spec.fusion,
                "estimator": spec.estimator,
                "hyperparameters": json.dumps(dict(spec.hyperparameters), sort_keys=True),
                "spec_version": spec_version(spec),
            }
            for spec in registry
        ]
    )
