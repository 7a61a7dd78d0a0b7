"""How the feature assets clean RNA-seq, run PyRadiomics and DenseNet-121: study settings, not
run config.

Resources of the code location, set by the study file (see ``defs.study``): their values are
part of the code versions of the assets that read them (``defs.assets.settings_versions``), so
changing one makes exactly those assets stale, and every process (walk worker, daemon, Celery
worker) that builds the code location from the same study runs them the same way.
"""

from typing import Literal

from dagster import ConfigurableResource
from pydantic import Field

from radiogenomics_assets.features.densenet import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_CROP_MARGIN_MM,
    LUNG_WINDOW,
)
from radiogenomics_assets.features.radiomics import DEFAULT_BIN_WIDTH, DEFAULT_MARGIN_MM


class ExpressionSettings(ConfigurableResource):
    """The RNA-seq cleaning of ``features/gene_expression`` (see ``omics.expression``)."""

    transform: Literal["auto", "log1p", "log10p", "none"] = Field(
        default="auto",
        description="auto: none for values already log-transformed or z-scored (a negative "
        "value, or none above 50), else log1p (FPKM); the choice and its reason are recorded",
    )
    max_na_fraction: float = Field(
        default=0.2, ge=0.0, le=1.0, description="drop genes with more NA than this"
    )
    impute: Literal["gene_median", "gene_mean", "none"] = Field(
        default="gene_median", description="what fills the remaining NA cells"
    )
    duplicates: Literal["mean", "first", "error"] = Field(
        default="mean", description="gene symbols on several lines: mean, first line, refuse"
    )


class RadiomicsSettings(ConfigurableResource):
    """The region and binning of ``features/radiomic_features`` (see ``features.radiomics``)."""

    margin_mm: float = Field(
        default=DEFAULT_MARGIN_MM,
        ge=0.0,
        description="ROI = nodule dilated by this many mm (its immediate surroundings); 0 = mask",
    )
    bin_width: float = Field(default=DEFAULT_BIN_WIDTH, gt=0.0, description="intensity bin (HU)")


class DenseNetSettings(ConfigurableResource):
    """How ``features/densenet_features`` runs DenseNet-121 (see ``features.densenet_weights``)."""

    weights: Literal["auto", "imagenet", "path", "random"] = Field(
        default="auto",
        description="auto: ImageNet if available, else RANDOM with a warning on the demo source "
        "and an error on any other; imagenet; path (weights_path); random",
    )
    weights_path: str | None = Field(default=None, description="state dict for weights=path")
    device: Literal["auto", "cpu", "cuda"] = Field(
        default="auto", description="auto: CUDA when torch sees a GPU"
    )
    batch_size: int = Field(default=DEFAULT_BATCH_SIZE, ge=1, description="slices per pass")
    crop_margin_mm: float = Field(default=DEFAULT_CROP_MARGIN_MM, ge=0.0, description="crop margin")
    window_level_hu: float = Field(default=LUNG_WINDOW[0], description="CT window level (HU)")
    window_width_hu: float = Field(default=LUNG_WINDOW[1], gt=0.0, description="window width")
