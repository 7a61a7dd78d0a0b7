"""The two study protocols every model is fitted under, side by side: ``paper`` and
``recommended``.

``paper`` is what the paper's protocol does, as far as it is known: CoxNet's smallest alpha,
fitted on the training split with the validation split unused; a Cox late fusion that sums the
blocks' raw risks; only genes measured in every patient (no imputation). ``recommended`` is this
project's choice for each of these (alpha by inner cross-validation on train + validation,
standardised late-fusion risks, genes with at most 20 % missing values imputed by their median);
README.md's protocol table gives the reason for each. Everything else (folds, features, gene
selection, scaling on the fitting rows, the nets' training) is the same under both: the paper
does not state its feature scaling and its code is unpublished, so both standardise on the rows
a model is fitted on.

A protocol is a partition dimension of every fold asset, so the two are stored next to each
other and every result row names its protocol. The nets are the exception: the only choice of a
protocol that reaches them is the gene rule, so they are trained once, under
:data:`NET_PROTOCOL`, and both protocols' tables report those same nets.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, get_args

import pandas as pd

if TYPE_CHECKING:
    from radiogenomics_assets.survival.coxnet import AlphaSelection

ProtocolName = Literal["paper", "recommended"]
PROTOCOL_NAMES: tuple[ProtocolName, ...] = get_args(ProtocolName)
#: The protocol whose results are the headline (figures, the demo's printout).
HEADLINE_PROTOCOL: ProtocolName = "recommended"
#: The one protocol the neural nets are trained under (its genes); every protocol reports them.
NET_PROTOCOL: ProtocolName = "recommended"


class StudyProtocolError(ValueError):
    """An unknown protocol name."""


@dataclass(frozen=True)
class StudyProtocol:
    """How a model is fitted under one protocol.

    Attributes:
        name: ``paper`` or ``recommended``.
        alpha_selection: CoxNet's alpha choice (:mod:`.coxnet`).
        late_fusion: the Cox late-fusion rule forced on every late-fusion spec, or ``None`` to
            keep the spec's own (:data:`~.fusion.LATE_FUSION_RULES`).
        complete_genes_only: drop every gene with an imputed value before the model sees it.
    """

    name: ProtocolName
    alpha_selection: AlphaSelection
    late_fusion: str | None
    complete_genes_only: bool


def study_protocol(name: str, *, alpha_selection: AlphaSelection = "inner_cv") -> StudyProtocol:
    """The protocol called ``name``; ``alpha_selection`` is the recommended protocol's choice.

    Raises:
        StudyProtocolError: ``name`` is not one of :data:`PROTOCOL_NAMES`.
    """
    if name == "paper":
        return StudyProtocol("paper", "paper", "sum_risk", complete_genes_only=True)
    if name == "recommended":
        return StudyProtocol("recommended", alpha_selection, None, complete_genes_only=False)
    raise StudyProtocolError(f"protocol must be one of {PROTOCOL_NAMES}, got {name!r}")


def complete_genes(gene_expression: pd.DataFrame) -> pd.DataFrame:
    """The rows of ``features.gene_expression`` (long, with ``imputed``) whose gene was measured
    in every patient: a gene with any imputed value is dropped whole."""
    imputed = gene_expression.groupby("gene")["imputed"].transform("any").astype(bool)
    return gene_expression[~imputed]
