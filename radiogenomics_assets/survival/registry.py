"""The model registry: one declarative table of model specs from which the model assets are made.

A spec says which feature blocks a model reads (``modalities``), how it combines them
(``fusion``), which estimator family fits it (``estimator``) and with which hyperparameters.
The paper's nine linear models (Table 1(a)) are the rows of :data:`_COXNET_TABLE`, its eleven
neural models (Table 1(b)) and two three-modality nets the paper ran only for CoxNet are the rows
of :data:`_NET_TABLE`. Adding a row adds a model asset; the Dagster layer never changes.

Each estimator family has its own fusion kinds, because the same word means different things:

* ``coxnet``: ``single``; ``early`` (blocks concatenated into one CoxNet); ``late`` (one CoxNet
  per block, **fitted separately**, risks aggregated).
* ``net``: ``single`` (an MLP); ``intermediate`` (IF, streams concatenated); ``late_joint`` (LF:
  a risk per stream and a trained combining layer, **all trained jointly**, labelled "joint");
  ``block`` and ``mfh`` (the bilinear fusions, two modalities).
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
Fusion = Literal["single", "early", "late", "intermediate", "late_joint", "block", "mfh"]
Estimator = Literal["coxnet", "net"]

MODALITIES: tuple[Modality, ...] = get_args(Modality)
MODALITY_CODES: Mapping[Modality, str] = MappingProxyType(
    {"genomics": "g", "pyradiomics": "p", "densenet": "d"}
)
CODE_MODALITIES: Mapping[str, Modality] = MappingProxyType(
    {code: modality for modality, code in MODALITY_CODES.items()}
)
_NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
FUSIONS: Mapping[Estimator, tuple[Fusion, ...]] = MappingProxyType(
    {
        "coxnet": ("single", "early", "late"),
        "net": ("single", "intermediate", "late_joint", "block", "mfh"),
    }
)
#: Fusions of exactly two modalities.
_PAIRWISE_FUSIONS: tuple[Fusion, ...] = ("block", "mfh")
#: Which half of the paper's Table 1 a family's rows belong to.
PAPER_TABLES: Mapping[Estimator, str] = MappingProxyType({"coxnet": "1a", "net": "1b"})


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

#: Network sizes of the paper's Section 4.1 (see ``survival.modules``): streams G 500→256→64,
#: D 1024→256→64, P 107→64; a 64-wide fusion layer; BLOCK with R = 15 block terms (core size
#: 16, not stated by the paper) and MFH with l = 1200. ``output_activation`` ``linear`` replaces
#: the paper's ReLU on the risk output, which can die and predict a constant (``relu`` keeps it).
NET_HYPERPARAMETERS: Mapping[str, Any] = MappingProxyType(
    {
        "n_genes": 500,
        "stream_widths": {"genomics": [256, 64], "densenet": [256, 64], "pyradiomics": [64]},
        "fusion_width": 64,
        "output_activation": "linear",
        "block_terms": 15,
        "block_size": 16,
        "mfh_width": 1200,
    }
)


@dataclass(frozen=True)
class ModelSpec:
    """One registered model.

    Attributes:
        name: asset-safe snake_case name, e.g. ``cox_ef_g_p``.
        modalities: the feature blocks it reads, in registry order (G, P, D).
        fusion: how blocks combine, one of the estimator family's :data:`FUSIONS` (module
            docstring).
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
        if self.estimator not in get_args(Estimator):
            raise RegistryError(f"model {self.name!r} has unknown estimator {self.estimator!r}")
        if self.fusion not in FUSIONS[self.estimator]:
            raise RegistryError(
                f"model {self.name!r} has fusion {self.fusion!r}, not one of the {self.estimator} "
                f"fusions {FUSIONS[self.estimator]}"
            )
        if self.fusion in _PAIRWISE_FUSIONS and len(self.modalities) != 2:
            raise RegistryError(
                f"model {self.name!r}: {self.fusion} fuses exactly two modalities, "
                f"got {len(self.modalities)}"
            )
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
    def paper_table(self) -> str:
        """``1a`` (linear) or ``1b`` (neural): the half of the paper's Table 1 it belongs to."""
        return PAPER_TABLES[self.estimator]

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

# The paper's Table 1(b), then the three-modality nets it ran only for CoxNet.
_NET_TABLE: tuple[tuple[str, str, Fusion, str], ...] = (
    ("mlp_g", "g", "single", "MLP(G)"),
    ("mlp_p", "p", "single", "MLP(P)"),
    ("mlp_d", "d", "single", "MLP(D)"),
    ("if_g_p", "gp", "intermediate", "IF(G, P)"),
    ("lf_g_p", "gp", "late_joint", "LF(G, P) joint"),
    ("if_g_d", "gd", "intermediate", "IF(G, D)"),
    ("lf_g_d", "gd", "late_joint", "LF(G, D) joint"),
    ("block_g_p", "gp", "block", "BLOCK(G, P)"),
    ("mfh_g_p", "gp", "mfh", "MFH(G, P)"),
    ("block_g_d", "gd", "block", "BLOCK(G, D)"),
    ("mfh_g_d", "gd", "mfh", "MFH(G, D)"),
    ("if_g_p_d", "gpd", "intermediate", "IF(G, P, D)"),
    ("lf_g_p_d", "gpd", "late_joint", "LF(G, P, D) joint"),
)


def _specs(
    table: tuple[tuple[str, str, Fusion, str], ...],
    estimator: Estimator,
    hyperparameters: Mapping[str, Any],
) -> tuple[ModelSpec, ...]:
    return tuple(
        ModelSpec(
            name=name,
            modalities=tuple(CODE_MODALITIES[code] for code in codes),
            fusion=fusion,
            estimator=estimator,
            hyperparameters=hyperparameters,
            label=label,
        )
        for name, codes, fusion, label in table
    )


MODEL_REGISTRY: tuple[ModelSpec, ...] = (
    *_specs(_COXNET_TABLE, "coxnet", COXNET_HYPERPARAMETERS),
    *_specs(_NET_TABLE, "net", NET_HYPERPARAMETERS),
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


#: CoxNet hyperparameters that do not change how one block's CoxNet is fitted (only how late
#: fusion combines the blocks' risks).
_NOT_FIT_HYPERPARAMETERS = ("late_fusion",)


def fit_hyperparameters(hyperparameters: Mapping[str, Any]) -> dict[str, Any]:
    """The CoxNet hyperparameters that decide one fitted CoxNet (all but ``late_fusion``)."""
    return {k: v for k, v in hyperparameters.items() if k not in _NOT_FIT_HYPERPARAMETERS}


def late_fusion_members(
    spec: ModelSpec, registry: tuple[ModelSpec, ...] = MODEL_REGISTRY
) -> dict[Modality, ModelSpec]:
    """For a CoxNet late-fusion spec, the single-modality CoxNet spec of each of its blocks.

    A block's member is the registered ``coxnet`` / ``single`` spec on that modality with the
    same fit hyperparameters (:func:`fit_hyperparameters`), so that it fits what the late
    fusion fits for that block; blocks without one are left out. Empty for other specs.
    """
    if spec.estimator != "coxnet" or spec.fusion != "late":
        return {}
    wanted = fit_hyperparameters(spec.hyperparameters)
    members: dict[Modality, ModelSpec] = {}
    for modality in spec.modalities:
        for candidate in registry:
            if (
                candidate.estimator == "coxnet"
                and candidate.fusion == "single"
                and candidate.modalities == (modality,)
                and fit_hyperparameters(candidate.hyperparameters) == wanted
            ):
                members[modality] = candidate
                break
    return members


def spec_version(spec: ModelSpec) -> str:
    """A stable 16-hex-digit hash of the spec's content (sorted-key JSON, sha256)."""
    canonical = json.dumps(spec.as_dict(), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def spec_frame(registry: tuple[ModelSpec, ...] = MODEL_REGISTRY) -> pd.DataFrame:
    """The registry as a table for DuckDB: one row per spec, hyperparameters as JSON text.

    Columns: ``name, label, modalities`` (comma-separated modality names), ``modality_codes,
    fusion, estimator, paper_table, hyperparameters, spec_version``.
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
                "paper_table": spec.paper_table,
                "hyperparameters": json.dumps(dict(spec.hyperparameters), sort_keys=True),
                "spec_version": spec_version(spec),
            }
            for spec in registry
        ]
    )
