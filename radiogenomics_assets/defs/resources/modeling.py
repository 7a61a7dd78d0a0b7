"""Settings shared by every fold-split and model asset, so one place switches them all."""

from collections.abc import Mapping
from typing import Any, Literal

from dagster import Config, ConfigurableResource
from pydantic import Field

from radiogenomics_assets.survival.protocol import NetTraining

_PAPER = NetTraining()


class NetTrainingSettings(Config):
    """The neural models' training protocol (defaults: the paper's Section 4.2 where it says).

    See ``radiogenomics_assets.survival.training`` for the policy behind each field.
    """

    learning_rate: float = Field(default=_PAPER.learning_rate, description="SGD step (paper)")
    momentum: float = Field(
        default=_PAPER.momentum,
        description="SGD momentum; the paper does not state it, 0.9 as the authors' released code",
    )
    dropout: float = Field(default=_PAPER.dropout, description="after every hidden ReLU (paper)")
    weight_decays: list[float] = Field(
        default=list(_PAPER.weight_decays), description="the L2 weight-decay grid searched"
    )
    initialisations: int = Field(
        default=_PAPER.initialisations, description="initialisations per weight decay"
    )
    min_steps: int = Field(
        default=_PAPER.min_steps,
        description="checkpoints before this step are not eligible; runs stopping earlier are "
        "discarded (paper: 1000)",
    )
    patience: int = Field(
        default=_PAPER.patience, description="steps without validation improvement before stop"
    )
    max_steps: int = Field(default=_PAPER.max_steps, description="step budget per configuration")
    eval_every: int = Field(
        default=_PAPER.eval_every, description="steps between validation C-index checks"
    )
    batch_size: int = Field(
        default=_PAPER.batch_size,
        description="patients per SGD step, stratified by event (0 = the whole training split)",
    )
    early_stopping: Literal["after_min_steps", "paper"] = Field(
        default=_PAPER.early_stopping,
        description="after_min_steps: patience counted from min_steps (default); paper: from "
        "the start, which on ~11 validation patients discards most runs",
    )
    loss: Literal["pairwise", "cox"] = Field(
        default=_PAPER.loss,
        description="pairwise: the paper's ranking loss; cox: partial likelihood",
    )
    device: Literal["auto", "cpu", "cuda"] = Field(
        default=_PAPER.device, description="auto = CUDA when torch sees a GPU"
    )

    def protocol(self) -> NetTraining:
        """The library's settings object (validated there)."""
        return NetTraining(**{**self.model_dump(), "weight_decays": tuple(self.weight_decays)})


class ModelingSettings(ConfigurableResource):
    """How folds are drawn, how CoxNet picks its alpha and how the nets train, for every model."""

    seed: int = Field(
        default=2020,
        description="seeds fold assignment, validation draw, inner CV and the nets' grid",
    )
    alpha_selection: Literal["paper", "validation", "inner_cv"] = Field(
        default="inner_cv",
        description="the recommended protocol's CoxNet alpha (the paper protocol always takes "
        "the smallest): paper: smallest alpha on the path; validation: best validation C-index "
        "on the path; inner_cv: best mean C-index over an inner stratified k-fold of "
        "train+validation (default: least noisy, see README)",
    )
    validation_fraction: float = Field(default=0.1, description="share of patients per fold")
    cv_repeats: int = Field(
        default=3,
        ge=1,
        description="repeats of the stratified 5-fold split, each with its own seed (repeat 1 "
        "is the paper's layout); 3 fits the demo's time, use 10 or more for a real study",
    )
    net_repeats: int = Field(
        default=1,
        ge=1,
        description="repeats of the cross-validation the neural nets are trained on, the first "
        "ones (at most cv_repeats): the nets cost minutes per fold, and Table 1(b) is the paper's "
        "five folds of repeat 1; the CoxNet models run on every repeat",
    )
    net: NetTrainingSettings = Field(
        default_factory=NetTrainingSettings, description="training protocol of the neural models"
    )


CV_REPEATS_ENV = "RADIOGENOMICS_CV_REPEATS"
NET_REPEATS_ENV = "RADIOGENOMICS_NET_REPEATS"
ALPHA_SELECTION_ENV = "RADIOGENOMICS_ALPHA_SELECTION"


def modeling_from_environment(base: Mapping[str, Any] | None = None) -> ModelingSettings:
    """``base`` (a study file's settings; else the defaults), with ``$RADIOGENOMICS_CV_REPEATS`` and
    ``$RADIOGENOMICS_NET_REPEATS`` (integers >= 1) and ``$RADIOGENOMICS_ALPHA_SELECTION``
    (``paper``, ``validation`` or ``inner_cv``) where set.

    Processes that rebuild the code location on their own (Celery workers) must get the
    settings of the process that planned the run, and the environment is what they share.

    Raises:
        ValueError: a variable is set to a value the field refuses.
    """
    import os

    names = {
        "cv_repeats": CV_REPEATS_ENV,
        "net_repeats": NET_REPEATS_ENV,
        "alpha_selection": ALPHA_SELECTION_ENV,
    }
    values = {f: os.environ[v].strip() for f, v in names.items() if os.environ.get(v, "").strip()}
    try:
        return ModelingSettings(**{**(base or {}), **values})
    except ValueError as error:  # pydantic's ValidationError is a ValueError
        settings = ", ".join(f"{names[f]}={v!r}" for f, v in values.items())
        raise ValueError(f"invalid modeling settings from the environment ({settings})") from error
