"""The paper's Fig. 2 regenerated: time-dependent AUC curves of one fold, as a PNG.

Top panel: single-modality models. Bottom panel: fusion models, with the single-modality curves
drawn in grey behind them for comparison. Each legend entry carries the model's mean AUC.
The demo cohort's ``oracle`` (and any model outside the registry) is drawn dashed in black on
both panels as a reference, whatever ``kind`` the curves table gives it. The x axis says where
follow-up time starts: the outcome origin (:data:`~radiogenomics_assets.cohort.outcomes.Origin`)
is the CT date by default, the surgery date on request, and :func:`time_axis_label` names it.
Figures are drawn on a bare :class:`~matplotlib.figure.Figure` with the Agg canvas: no pyplot,
no global backend switch, no display.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Literal, get_args

import numpy as np
import pandas as pd

from radiogenomics_assets.cohort.outcomes import Origin
from radiogenomics_assets.survival.registry import RegistryError, get_spec
from radiogenomics_assets.survival.results import ORACLE_MODEL, model_label

# matplotlib is imported inside the functions that use it: the code location imports this
# module, and loading it must not cost seconds.

if TYPE_CHECKING:
    from matplotlib.figure import Figure

CurveKind = Literal["single", "fusion", "reference"]
CURVE_COLUMNS: tuple[str, ...] = ("model", "time", "auc", "mean_auc")
_GREY = "#b0b0b0"
#: The x-axis text of each outcome origin (``days`` of the outcomes table counts from it).
TIME_AXIS_LABELS: dict[Origin, str] = {"ct": "Days after CT", "surgery": "Days after surgery"}


class FigureInputError(ValueError):
    """The curves table lacks columns or rows needed for the figure."""


def time_axis_label(origin: Origin) -> str:
    """The x-axis text of a time axis whose days count from ``origin`` (``"ct"``, ``"surgery"``).

    Raises:
        FigureInputError: ``origin`` is neither ``"ct"`` nor ``"surgery"``.
    """
    if origin not in TIME_AXIS_LABELS:
        raise FigureInputError(f"origin must be one of {get_args(Origin)}, got {origin!r}")
    return TIME_AXIS_LABELS[origin]


def curve_kind(model: str) -> CurveKind:
    """``single`` or ``fusion`` from the registry; ``reference`` for the oracle and the rest."""
    if model == ORACLE_MODEL:
        return "reference"
    try:
        spec = get_spec(model)
    except RegistryError:
        return "reference"
    return "single" if spec.fusion == "single" else "fusion"


def curves_with_mean_auc(curves: pd.DataFrame, fold_metrics: pd.DataFrame) -> pd.DataFrame:
    """Attach each (model, fold, split)'s ``mean_auc`` from the fold metrics to its curve rows,
    per ``protocol`` when both carry one."""
    keys = ["model", "fold", "split"]
    if "protocol" in curves.columns and "protocol" in fold_metrics.columns:
        keys.append("protocol")
    means = fold_metrics[[*keys, "mean_auc"]]
    return curves.drop(columns=["mean_auc"], errors="ignore").merge(means, on=keys, how="left")


def curves_for_panel(curves: pd.DataFrame, estimator: str) -> pd.DataFrame:
    """The curve rows of the models fitted by ``estimator`` (a registry family), and the
    reference rows (the oracle, unregistered models), which every panel draws."""

    def belongs(model: str) -> bool:
        if curve_kind(model) == "reference":
            return True
        return get_spec(model).estimator == estimator

    keep = {model: belongs(str(model)) for model in curves["model"].unique()}
    return curves[curves["model"].map(keep).astype(bool)]


def _kinds(rows: pd.DataFrame) -> dict[str, CurveKind]:
    given = (
        rows.groupby("model")["kind"].first() if "kind" in rows.columns else pd.Series(dtype=object)
    )
    kinds: dict[str, CurveKind] = {}
    for model in rows["model"].unique():
        kind = given.get(model)
        # The oracle is a reference whatever a caller's kind column says, and a missing or
        # unknown kind falls back to the registry rather than hiding the curve.
        if model == ORACLE_MODEL or kind not in get_args(CurveKind):
            kind = curve_kind(str(model))
        kinds[str(model)] = kind
    return kinds


def build_td_auc_figure(
    curves: pd.DataFrame,
    *,
    fold: str,
    title: str,
    time_label: str = TIME_AXIS_LABELS["ct"],
) -> Figure:
    """The Fig. 2 panel pair of one fold (see the module docstring).

    Args:
        curves: ``model, time, auc, mean_auc`` rows (``fold`` and ``split`` optional: when
            present, only ``fold`` and the test split are drawn); ``kind`` optional.
        fold: the fold drawn (used to filter and in the panel titles).
        title: figure title.
        time_label: x-axis text, :func:`time_axis_label` of the outcomes' origin; the default
            is that of the project's default origin, the CT date.

    Raises:
        FigureInputError: columns are missing or no curve is left to draw.
    """
    from matplotlib.figure import Figure

    missing = [column for column in CURVE_COLUMNS if column not in curves.columns]
    if missing:
        raise FigureInputError(f"curves lack columns {missing}; got {list(curves.columns)}")
    rows = curves
    if "fold" in rows.columns:
        rows = rows[rows["fold"] == fold]
    if "split" in rows.columns:
        rows = rows[rows["split"] == "test"]
    rows = rows[np.isfinite(rows["auc"].to_numpy(dtype=float))]
    if rows.empty:
        raise FigureInputError(f"no finite AUC value to draw for {fold}")
    kinds = _kinds(rows)

    figure = Figure(figsize=(6.4, 7.2), layout="constrained")
    top, bottom = figure.subplots(2, 1, sharex=True, sharey=True)
    colours = iter(_palette())
    for model, curve in rows.groupby("model", sort=False):
        curve = curve.sort_values("time")
        label = f"{model_label(str(model))} ({curve['mean_auc'].iloc[0]:.2f})"
        kind = kinds[str(model)]
        if kind == "reference":
            for axes in (top, bottom):
                axes.plot(curve["time"], curve["auc"], "k--", linewidth=1.2, label=label)
        elif kind == "single":
            top.plot(curve["time"], curve["auc"], color=next(colours), label=label)
            bottom.plot(curve["time"], curve["auc"], color=_GREY, linewidth=1.0, zorder=1)
        else:
            bottom.plot(curve["time"], curve["auc"], color=next(colours), label=label)
    for axes, name in ((top, "single modality"), (bottom, "fusion")):
        axes.set_title(f"{fold}: {name}")
        axes.set_ylabel("time-dependent AUC")
        axes.axhline(0.5, color="#808080", linestyle=":", linewidth=0.8)
        axes.set_ylim(0.0, 1.0)
        if axes.get_legend_handles_labels()[0]:
            axes.legend(fontsize="small", loc="lower right")
    bottom.set_xlabel(time_label)
    figure.suptitle(title)
    return figure


def _palette() -> list[tuple[float, ...]]:
    # tab20 without its greys (14, 15, reserved for the greyed single-modality curves): the
    # nine dark hues, then their light shades, so a panel of Table 1(b) (13 curves) never
    # repeats a colour.
    from matplotlib import colormaps

    colours = colormaps["tab20"].colors
    order = [*range(0, 20, 2), *range(1, 20, 2)]
    return [colours[index] for index in order if index not in (14, 15)] * 2


def td_auc_figure(
    curves: pd.DataFrame,
    *,
    fold: str,
    title: str,
    time_label: str = TIME_AXIS_LABELS["ct"],
) -> bytes:
    """:func:`build_td_auc_figure` rendered as PNG bytes (reproducible: no software stamp).

    Raises:
        FigureInputError: see :func:`build_td_auc_figure`.
    """
    figure = build_td_auc_figure(curves, fold=fold, title=title, time_label=time_label)
    return figure_png(figure, dpi=120)


def training_curve_figure(
    history: pd.DataFrame, *, chosen: int, min_steps: int, title: str
) -> bytes:
    """Loss and validation C-index per step of every grid configuration, as PNG bytes.

    Every configuration is a thin grey line; the chosen one is drawn in colour with its
    checkpoint marked; a dotted line marks ``min_steps``, before which no checkpoint is eligible.

    Args:
        history: ``step, config, train_loss, validation_c`` rows (``GridResult.history``).
        chosen: the chosen configuration's index.
        min_steps: the first eligible step.
        title: figure title.

    Raises:
        FigureInputError: columns are missing or the history is empty.
    """
    from matplotlib.figure import Figure

    needed = ["step", "config", "train_loss", "validation_c"]
    missing = [column for column in needed if column not in history.columns]
    if missing or history.empty:
        raise FigureInputError(f"training history lacks rows or columns {missing}")
    figure = Figure(figsize=(6.4, 6.0), layout="constrained")
    loss_axes, c_axes = figure.subplots(2, 1, sharex=True)
    for config, curve in history.groupby("config"):
        if config == chosen:
            continue
        loss_axes.plot(curve["step"], curve["train_loss"], color=_GREY, linewidth=0.6)
        c_axes.plot(curve["step"], curve["validation_c"], color=_GREY, linewidth=0.6)
    best = history[history["config"] == chosen]
    loss_axes.plot(best["step"], best["train_loss"], color="C0", label="chosen configuration")
    c_axes.plot(best["step"], best["validation_c"], color="C0", label="chosen configuration")
    eligible = best[best["step"] >= min_steps]
    if not eligible.empty:
        top = eligible.loc[eligible["validation_c"].idxmax()]
        c_axes.plot([top["step"]], [top["validation_c"]], "o", color="C3", label="checkpoint")
    for axes in (loss_axes, c_axes):
        axes.axvline(min_steps, color="#808080", linestyle=":", linewidth=0.8)
        axes.legend(fontsize="small", loc="best")
    loss_axes.set_ylabel("training loss (mean since last check)")
    c_axes.set_ylabel("validation C-index")
    c_axes.set_xlabel("SGD step")
    figure.suptitle(title)
    return figure_png(figure)


def figure_png(figure: Figure, dpi: int = 100) -> bytes:
    """``figure`` saved as PNG bytes on the Agg canvas, without a software stamp (so the same
    figure gives the same bytes)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(figure)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi, metadata={"Software": None})
    return buffer.getvalue()
