"""Stored DenseNet tables as model blocks: one network's vectors only, or a named refusal."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from radiogenomics_assets.features.blocks import (
    DENSENET_COLUMN,
    DENSENET_WEIGHTS_COLUMN,
    UNRECORDED_WEIGHTS,
    FeatureTableError,
    MixedDenseNetWeightsError,
    densenet_block,
    densenet_weights_use,
)

IMAGENET = "imagenet:DenseNet121_Weights.IMAGENET1K_V1:sha256=a639ec97"
RANDOM = "random:seed=0"


def table(weights: list[str | None]) -> pd.DataFrame:
    """One row per entry of ``weights``, patients P00, P01, ... in reverse order, 4-d vectors."""
    patients = [f"P{i:02d}" for i in range(len(weights))][::-1]
    vectors = [[float(i), float(i) + 0.5, 0.0, -1.0] for i in range(len(weights))]
    return pd.DataFrame(
        {"patient_id": patients, DENSENET_COLUMN: vectors, DENSENET_WEIGHTS_COLUMN: weights}
    )


def test_the_use_groups_patients_by_weights_most_patients_first() -> None:
    frame = table([RANDOM, IMAGENET, IMAGENET, RANDOM, IMAGENET])
    use = densenet_weights_use(frame)
    assert use.patients == {IMAGENET: ("P00", "P02", "P03"), RANDOM: ("P01", "P04")}
    assert use.weights == (IMAGENET, RANDOM)
    assert not use.consistent
    assert use.outliers == ("P01", "P04")


def test_one_weights_record_is_consistent() -> None:
    use = densenet_weights_use(table([IMAGENET] * 5))
    assert use.consistent and use.outliers == ()
    assert use.describe() == (
        f"features.densenet_features: every row made with {IMAGENET!r} "
        "(5 patients: P00, P01, P02, … (2 more))"
    )
    assert densenet_weights_use(table([])).consistent


def test_a_row_without_a_record_is_never_consistent() -> None:
    alone = densenet_weights_use(table([None, None]))
    assert alone.patients == {UNRECORDED_WEIGHTS: ("P00", "P01")}
    assert not alone.consistent and alone.outliers == ("P00", "P01")
    assert alone.describe().startswith("features.densenet_features records no DenseNet weights")
    beside = densenet_weights_use(table([IMAGENET, IMAGENET, None]))
    assert not beside.consistent and beside.outliers == ("P00",)


def test_the_message_names_each_weights_and_a_few_of_its_patients() -> None:
    message = densenet_weights_use(table([IMAGENET] * 6 + [RANDOM])).describe()
    assert f"{IMAGENET!r} (6 patients: P01, P02, P03, … (3 more))" in message
    assert f"{RANDOM!r} (1 patient: P00)" in message
    assert message.startswith("features.densenet_features mixes DenseNet weights")
    assert message.endswith("for the patients whose weights differ (1 patient: P00)")


def test_the_block_refuses_a_mixed_table_naming_weights_and_patients() -> None:
    with pytest.raises(
        MixedDenseNetWeightsError,
        match=rf"mixes DenseNet weights: '{IMAGENET}' \(2 patients: P00, P01\); "
        rf"'{RANDOM}' \(1 patient: P02\)",
    ):
        densenet_block(table([RANDOM, IMAGENET, IMAGENET]))
    with pytest.raises(MixedDenseNetWeightsError, match=r"'\(not recorded\)' \(1 patient: P02\)"):
        densenet_block(table([None, IMAGENET, IMAGENET]))


def test_the_block_of_one_weights_expands_the_vectors() -> None:
    block = densenet_block(table([IMAGENET] * 3))
    assert list(block.index) == ["P00", "P01", "P02"]
    assert list(block.columns) == ["dn_0000", "dn_0001", "dn_0002", "dn_0003"]
    np.testing.assert_array_equal(block.loc["P00"], [2.0, 2.5, 0.0, -1.0])


def test_a_table_without_its_weights_record_is_refused() -> None:
    with pytest.raises(FeatureTableError, match=r"lacks column\(s\) \['densenet_weights'\]"):
        densenet_block(table([IMAGENET]).drop(columns=[DENSENET_WEIGHTS_COLUMN]))
    with pytest.raises(FeatureTableError, match=r"lacks column\(s\) \['densenet_weights'\]"):
        densenet_weights_use(table([IMAGENET]).drop(columns=[DENSENET_WEIGHTS_COLUMN]))
