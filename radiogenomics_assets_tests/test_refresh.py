"""The command-line walk's options (the walk itself is tested in dagster_layer/test_full_graph)."""

from __future__ import annotations

import pytest

from radiogenomics_assets.refresh import parser, skipped_models
from radiogenomics_assets.survival.registry import MODEL_REGISTRY


def test_a_linear_walk_skips_exactly_the_neural_grid() -> None:
    skipped = {key.path[-1] for key in skipped_models("linear")}
    assert skipped == {spec.name for spec in MODEL_REGISTRY if spec.estimator == "net"}
    assert skipped_models("all") == []
    with pytest.raises(ValueError, match="models must be one of"):
        skipped_models("neural")


def test_models_option_defaults_to_every_model() -> None:
    assert parser("x").parse_args([]).models == "all"
    assert parser("x").parse_args(["--models", "linear"]).models == "linear"
