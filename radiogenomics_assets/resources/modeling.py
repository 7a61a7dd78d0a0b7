"""Settings shared by every fold-split and model asset, so one place switches them all."""

from typing import Literal

from dagster import ConfigurableResource
from pydantic import Field


class ModelingSettings(ConfigurableResource):
    """How folds are drawn and how CoxNet picks its alpha, for every model of a run."""

    seed: int = Field(default=2020, description="seeds fold assignment, validation draw, inner CV")
    alpha_selection: Literal["paper", "validation", "inner_cv"] = Field(
        default="inner_cv",
        description="paper: smallest alpha on the path (the paper's code); validation: best "
        "validation C-index on the path; inner_cv: best mean C-index over an inner stratified "
        "k-fold of train+validation (default: least noisy, see README)",
    )
    validation_fraction: float = Field(default=0.1, description="share of patients per fold")
