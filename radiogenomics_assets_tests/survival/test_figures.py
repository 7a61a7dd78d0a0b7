from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from matplotlib.image import imread

from radiogenomics_assets.cohort.criteria import CohortCriteria
from radiogenomics_assets.survival.figures import (
    FigureInputError,
    build_td_auc_figure,
    curve_kind,
    curves_for_panel,
    curves_with_mean_auc,
    td_auc_figure,
    time_axis_label,
)

MODELS = ["cox_g", "cox_p", "cox_d", "cox_ef_g_p", "cox_lf_g_d", "oracle"]


def _curves() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    times = np.arange(250.0, 1500.0, 50.0)
    frames = []
    for model in MODELS:
        for fold in ("fold_4", "fold_5"):
            frames.append(
                pd.DataFrame(
                    {
                        "model": model,
                        "fold": fold,
                        "split": "test",
                        "time": times,
                        "auc": rng.uniform(0.4, 0.9, size=len(times)),
                    }
                )
            )
    curves = pd.concat(frames, ignore_index=True)
    metrics = (
        curves.groupby(["model", "fold", "split"], as_index=False)["auc"]
        .mean()
        .rename(columns={"auc": "mean_auc"})
    )
    return curves_with_mean_auc(curves, metrics)


def test_panels_split_single_and_fusion_models_with_mean_auc_in_the_legend() -> None:
    curves = _curves()
    figure = build_td_auc_figure(curves, fold="fold_4", title="Fig. 2")
    top, bottom = figure.axes
    means = curves[curves["fold"] == "fold_4"].groupby("model")["mean_auc"].first()
    top_labels = [text.get_text() for text in top.get_legend().get_texts()]
    bottom_labels = [text.get_text() for text in bottom.get_legend().get_texts()]
    assert top_labels == [
        f"Cox(G) ({means['cox_g']:.2f})",
        f"Cox(P) ({means['cox_p']:.2f})",
        f"Cox(D) ({means['cox_d']:.2f})",
        f"Oracle (true risk) ({means['oracle']:.2f})",
    ]
    assert bottom_labels == [
        f"Cox(EF(G, P)) ({means['cox_ef_g_p']:.2f})",
        f"Cox(LF(G, D)) ({means['cox_lf_g_d']:.2f})",
        f"Oracle (true risk) ({means['oracle']:.2f})",
    ]
    greyed = [line for line in bottom.get_lines() if line.get_color() == "#b0b0b0"]
    assert len(greyed) == 3  # the three single-modality curves behind the fusion ones


def test_png_is_decodable_and_reproducible() -> None:
    curves = _curves()
    png = td_auc_figure(curves, fold="fold_5", title="Fig. 2, fold 5")
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    image = imread(io.BytesIO(png))
    assert image.ndim == 3 and image.shape[0] > 500 and image.shape[1] > 500
    assert td_auc_figure(curves, fold="fold_5", title="Fig. 2, fold 5") == png


def test_missing_columns_or_empty_fold_are_refused() -> None:
    curves = _curves()
    with pytest.raises(FigureInputError, match=r"lack columns \['mean_auc'\]"):
        td_auc_figure(curves.drop(columns="mean_auc"), fold="fold_4", title="x")
    with pytest.raises(FigureInputError, match="no finite AUC value to draw for fold_1"):
        td_auc_figure(curves, fold="fold_1", title="x")


def test_the_time_axis_names_the_outcome_origin_ct_by_default() -> None:
    curves = _curves()
    default = build_td_auc_figure(curves, fold="fold_4", title="Fig. 2")
    assert default.axes[1].get_xlabel() == time_axis_label(CohortCriteria().origin)
    assert time_axis_label("ct") == "Days after CT"
    surgery = build_td_auc_figure(
        curves, fold="fold_4", title="Fig. 2", time_label=time_axis_label("surgery")
    )
    assert surgery.axes[1].get_xlabel() == "Days after surgery"
    with pytest.raises(FigureInputError, match=r"origin must be one of .*got 'diagnosis'"):
        time_axis_label("diagnosis")  # type: ignore[arg-type]


def _oracle_lines(figure: Figure) -> list[list[str]]:
    """Per panel, the labels of the dashed black lines."""
    return [
        [
            line.get_label()
            for line in axes.get_lines()
            if line.get_linestyle() == "--" and line.get_color() == "k"
        ]
        for axes in figure.axes
    ]


def test_the_oracle_is_a_dashed_reference_on_both_panels_whatever_its_kind_column() -> None:
    curves = _curves()
    mean = curves.loc[
        (curves["model"] == "oracle") & (curves["fold"] == "fold_4"), "mean_auc"
    ].iloc[0]
    expected = [f"Oracle (true risk) ({mean:.2f})"]
    assert curve_kind("oracle") == "reference"
    figure = build_td_auc_figure(curves, fold="fold_4", title="x")
    assert _oracle_lines(figure) == [expected, expected]
    # A kind column from a caller that labelled the oracle wrongly, or not at all.
    kinds = curves["model"].map(curve_kind).where(curves["model"] != "oracle", "fusion")
    for kind in (kinds, kinds.where(curves["model"] != "oracle", None)):
        figure = build_td_auc_figure(curves.assign(kind=kind), fold="fold_4", title="x")
        assert _oracle_lines(figure) == [expected, expected]


def test_a_panel_keeps_its_family_and_the_oracle() -> None:
    curves = pd.concat([_curves(), _curves().assign(model="mlp_g")], ignore_index=True)
    assert set(curves_for_panel(curves, "coxnet")["model"]) == set(MODELS)
    assert set(curves_for_panel(curves, "net")["model"]) == {"mlp_g", "oracle"}


def test_each_protocols_curve_gets_its_own_mean_auc() -> None:
    curves = pd.DataFrame(
        {
            "model": "cox_g",
            "fold": "fold_1",
            "split": "test",
            "protocol": ["paper", "paper", "recommended", "recommended"],
            "time": [300.0, 400.0, 300.0, 400.0],
            "auc": [0.5, 0.6, 0.8, 0.9],
        }
    )
    metrics = pd.DataFrame(
        {
            "model": "cox_g",
            "fold": "fold_1",
            "split": "test",
            "protocol": ["paper", "recommended"],
            "mean_auc": [0.55, 0.85],
        }
    )
    merged = curves_with_mean_auc(curves, metrics)
    assert len(merged) == len(curves)
    assert merged.groupby("protocol")["mean_auc"].unique().map(list).to_dict() == {
        "paper": [0.55],
        "recommended": [0.85],
    }
