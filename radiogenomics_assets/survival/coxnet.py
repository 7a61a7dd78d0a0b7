"""CoxNet on one or more preprocessed feature blocks, with the alpha chosen along the fitted path.

Per block, preprocessing is fitted on the rows the model is fitted on, never on held-out rows:
genomics keeps its top-``n_genes`` most variant genes (:class:`TopVarianceSelector`), every block
drops columns that are constant on those rows and is standardised. Early fusion concatenates the
preprocessed blocks into one design matrix.

``CoxnetSurvivalAnalysis`` fits a whole regularisation path (``l1_ratio`` 0.3, ``n_alphas``
alphas). Alphas are always compared on that fitted path (``predict(X, alpha=a)`` for ``a`` in
``alphas_``), never by refitting single alphas: warm starts along the path are what keep the
small-alpha fits stable, and one refit per alpha would cost a hundred fits. Three selections:

* ``paper``: the smallest alpha of the path, as the paper's code (``coxnet.predict(X)``).
  Fitted on the train split.
* ``validation``: the alpha with the best Harrell's C on the validation split. Fitted on the
  train split. With ~11 validation patients this choice is noisy.
* ``inner_cv``: the final model is fitted on train + validation rows; the alpha is the one with
  the best mean Harrell's C over a stratified inner k-fold of those rows, each inner fit
  re-running the whole preprocessing and using the final path's alphas so that C-indices at one
  alpha are comparable across inner folds. Validation predictions are then in-sample.

scikit-survival may end a path before ``n_alphas`` once the fit saturates, as glmnet does;
"smallest alpha" means the smallest one fitted, and an inner fold whose path ended early leaves
its missing alphas unscored (an alpha competes only when every inner fold scored it).

Ties go to the largest (sparsest) alpha, so when no alpha with a coefficient beats a constant
risk the choice is the null model (every coefficient zero); a note then says so and names the
best score it beat. **Numerical failures.** The coordinate descent raises
``ArithmeticError`` ("weights are too large") when small alphas let coefficients explode. The
fallback is explicit: the path is refitted with its smallest alpha raised tenfold
(``alpha_min_ratio`` × 10, or the fixed inner grid cut at that ratio) until it fits or the ratio
would exceed 0.1, where :class:`CoxnetNumericalError` is raised. Every retry is recorded in the
notes the caller reports. For inner folds whose path had to be cut, the alphas they lack are
excluded from the choice (an alpha must be scored on every inner fold). The Breslow baseline
that scikit-survival fits for every path alpha can overflow at the smallest alphas; those
overflows are not warned about here, the baseline actually used is validated instead
(:class:`SurvivalFunctionError`).

What a fit depends on, for reusing it instead of refitting, is :mod:`.fingerprint`'s.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, get_args

import numpy as np
import pandas as pd
from sklearn.feature_selection import VarianceThreshold
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sksurv.linear_model import CoxnetSurvivalAnalysis

from radiogenomics_assets.omics.selection import TopVarianceSelector
from radiogenomics_assets.survival.design import FeatureError, ModelData
from radiogenomics_assets.survival.metrics import NoComparablePairsError, harrell_c_index
from radiogenomics_assets.survival.registry import MODALITY_CODES, Modality
from radiogenomics_assets.survival.splits import Split

AlphaSelection = Literal["paper", "validation", "inner_cv"]
ALPHA_SELECTIONS: tuple[AlphaSelection, ...] = get_args(AlphaSelection)
MAX_ALPHA_MIN_RATIO = 0.1
_RATIO_STEP = 10.0


class CoxnetNumericalError(RuntimeError):
    """CoxNet failed numerically even after raising the smallest alpha to the allowed limit."""


class AlphaSelectionError(ValueError):
    """The alpha cannot be chosen: unknown mode, too few rows/events, or no comparable pairs."""


class SurvivalFunctionError(ValueError):
    """Predicted survival functions are not finite, not in [0, 1] or not non-increasing."""


def block_preprocessor(
    modality: Modality, hyperparameters: Mapping[str, Any], *, drop_constant: bool = True
) -> Pipeline:
    """The preprocessing pipeline of one block (DataFrame in, DataFrame out).

    Genomics: top-``n_genes`` variance selection, then constant-column removal and scaling;
    pyradiomics and densenet: constant-column removal and scaling. ``drop_constant=False``
    keeps constant columns (scaled to 0), for models whose input width is fixed.
    """
    steps: list[tuple[str, Any]] = []
    if modality == "genomics":
        steps.append(("select", TopVarianceSelector(n_genes=int(hyperparameters["n_genes"]))))
    if drop_constant:
        steps.append(("drop_constant", VarianceThreshold(threshold=0.0)))
    steps.append(("scale", StandardScaler()))
    return Pipeline(steps).set_output(transform="pandas")


class CoxnetBlockModel:
    """Preprocessors of one or more blocks feeding one fitted CoxNet path, plus the chosen alpha.

    Picklable; ``predict`` takes the same per-modality DataFrames the model was fitted on.
    """

    def __init__(
        self,
        modalities: tuple[Modality, ...],
        preprocessors: Mapping[Modality, Pipeline],
        coxnet: CoxnetSurvivalAnalysis,
        feature_names: tuple[str, ...],
        alpha_min_ratio: float,
    ) -> None:
        self.modalities = modalities
        self.preprocessors = dict(preprocessors)
        self.coxnet = coxnet
        self.feature_names = feature_names
        self.alpha_min_ratio = alpha_min_ratio
        self.alpha_index: int | None = None

    @property
    def alphas(self) -> np.ndarray:
        return np.asarray(self.coxnet.alphas_)

    @property
    def alpha(self) -> float:
        return float(self.alphas[self._index()])

    def _index(self) -> int:
        if self.alpha_index is None:
            raise AlphaSelectionError("no alpha has been chosen for this CoxNet path yet")
        return self.alpha_index

    def transform(self, blocks: Mapping[Modality, pd.DataFrame]) -> np.ndarray:
        """The design matrix: every block preprocessed, concatenated in modality order."""
        missing = [modality for modality in self.modalities if modality not in blocks]
        if missing:
            raise FeatureError(
                f"CoxNet model needs blocks {list(self.modalities)}; missing {missing}"
            )
        parts = [self.preprocessors[m].transform(blocks[m]).to_numpy() for m in self.modalities]
        return np.hstack(parts)

    def path_risks(self, blocks: Mapping[Modality, pd.DataFrame]) -> np.ndarray:
        """Risk of every row at every alpha of the fitted path, shape ``(n_rows, n_alphas)``."""
        design = self.transform(blocks)
        return np.column_stack([self.coxnet.predict(design, alpha=a) for a in self.alphas])

    def predict(self, blocks: Mapping[Modality, pd.DataFrame]) -> pd.Series:
        """Risk (linear predictor) at the chosen alpha, indexed like the blocks."""
        design = self.transform(blocks)
        risk = self.coxnet.predict(design, alpha=self.alpha)
        return pd.Series(risk, index=blocks[self.modalities[0]].index, name="risk")

    def coefficients(self) -> pd.Series:
        """Coefficients at the chosen alpha, indexed by (block-prefixed) feature name."""
        return pd.Series(self.coxnet.coef_[:, self._index()], index=list(self.feature_names))

    def survival_functions(self, blocks: Mapping[Modality, pd.DataFrame]) -> pd.DataFrame:
        """Survival probabilities at the chosen alpha on the baseline's time points.

        Returns:
            Index ``patient_id``, one float column per time point (days).

        Raises:
            SurvivalFunctionError: the values are not finite, outside [0, 1] or increasing.
        """
        design = self.transform(blocks)
        with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
            functions = self.coxnet.predict_survival_function(design, alpha=self.alpha)
            times = np.asarray(functions[0].x, dtype=float)
            values = np.vstack([function(times) for function in functions])
            bad = ~np.isfinite(values) | (values < -1e-12) | (values > 1 + 1e-12)
            increasing = np.diff(values, axis=1) > 1e-12
        if bad.any() or increasing.any():
            raise SurvivalFunctionError(
                f"survival functions at alpha {self.alpha:.4g} are numerically degenerate "
                f"({int(bad.sum())} values non-finite or outside [0, 1], {int(increasing.sum())} "
                "increasing steps): the Breslow baseline overflowed at this alpha"
            )
        return pd.DataFrame(values, index=blocks[self.modalities[0]].index, columns=times)


def _fit_path(
    design: np.ndarray,
    target: np.ndarray,
    hyperparameters: Mapping[str, Any],
    *,
    alphas: np.ndarray | None,
    baseline: bool,
    where: str,
) -> tuple[CoxnetSurvivalAnalysis, float, list[str]]:
    notes: list[str] = []
    ratio = float(hyperparameters["alpha_min_ratio"]) if alphas is None else alphas[-1] / alphas[0]
    grid = alphas
    while True:
        model = CoxnetSurvivalAnalysis(
            l1_ratio=float(hyperparameters["l1_ratio"]),
            n_alphas=int(hyperparameters["n_alphas"]),
            alpha_min_ratio=ratio,
            alphas=grid,
            fit_baseline_model=baseline,
        )
        try:
            # The Breslow baselines of the smallest alphas may overflow; the one used is
            # validated when survival functions are asked for.
            with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
                model.fit(design, target)
        except ArithmeticError as error:
            next_ratio = ratio * _RATIO_STEP
            if next_ratio > MAX_ALPHA_MIN_RATIO * (1 + 1e-9):
                raise CoxnetNumericalError(
                    f"CoxNet on {where} ({design.shape[0]} rows × {design.shape[1]} features) "
                    f"failed numerically down to alpha_min_ratio {ratio:.3g}: {error}"
                ) from error
            notes.append(
                f"{where}: CoxNet raised {type(error).__name__} ({error}) with smallest alpha at "
                f"ratio {ratio:.3g} of alpha_max; refitted with ratio {next_ratio:.3g}"
            )
            ratio = next_ratio
            if alphas is not None:
                grid = alphas[alphas >= alphas[0] * ratio * (1 - 1e-9)]
            continue
        return model, ratio, notes


def fit_block_model(
    modalities: Sequence[Modality],
    blocks: Mapping[Modality, pd.DataFrame],
    target: np.ndarray,
    hyperparameters: Mapping[str, Any],
    *,
    alphas: np.ndarray | None = None,
    baseline: bool = False,
    where: str = "",
) -> tuple[CoxnetBlockModel, list[str]]:
    """Fit the block preprocessors and a CoxNet path on the given rows (no alpha chosen yet).

    Args:
        modalities: blocks to use, concatenated in this order.
        blocks: per modality, the fitting rows (same patients, same order in every block).
        target: survival target of those rows.
        hyperparameters: ``l1_ratio, n_alphas, alpha_min_ratio, n_genes``.
        alphas: a fixed alpha grid (inner CV); ``None`` lets CoxNet build its path.
        baseline: fit Breslow baselines (needed for survival functions).
        where: what is being fitted, for messages.

    Returns:
        The model and the notes of any numerical fallback.

    Raises:
        FeatureError: a block has no non-constant column on the fitting rows.
        CoxnetNumericalError: see module docstring.
    """
    preprocessors: dict[Modality, Pipeline] = {}
    parts: list[np.ndarray] = []
    names: list[str] = []
    for modality in modalities:
        pipeline = block_preprocessor(modality, hyperparameters)
        try:
            transformed = pipeline.fit_transform(blocks[modality])
        except ValueError as error:
            if "variance threshold" not in str(error):
                raise
            raise FeatureError(
                f"{modality} features are constant on all {len(blocks[modality])} fitting rows "
                f"of {where}"
            ) from error
        preprocessors[modality] = pipeline
        parts.append(transformed.to_numpy())
        names.extend(f"{MODALITY_CODES[modality]}__{column}" for column in transformed.columns)
    design = np.hstack(parts)
    coxnet, ratio, notes = _fit_path(
        design, target, hyperparameters, alphas=alphas, baseline=baseline, where=where
    )
    model = CoxnetBlockModel(tuple(modalities), preprocessors, coxnet, tuple(names), ratio)
    return model, notes


def path_c_index(risks: np.ndarray, target: np.ndarray, *, where: str) -> np.ndarray:
    """Harrell's C of every column of ``risks`` (one per alpha) against ``target``.

    Raises:
        AlphaSelectionError: the rows have no comparable pair.
    """
    try:
        return np.array(
            [harrell_c_index(target, risks[:, k], where=where) for k in range(risks.shape[1])]
        )
    except NoComparablePairsError as error:
        raise AlphaSelectionError(f"cannot score alphas on {where}: {error}") from error


@dataclass(frozen=True)
class AlphaChoice:
    """How the alpha of one CoxNet path was chosen.

    Attributes:
        mode: the alpha selection that ran.
        alpha: the chosen alpha; ``alpha_index`` its position on the path (0 = largest).
        n_alphas: length of the fitted path; ``alpha_min_ratio`` the ratio it was fitted with.
        fit_splits: splits whose rows the final CoxNet was fitted on.
        curve: per path alpha, the score used to choose (``alpha, c_index``, and
            ``n_inner_folds`` for inner CV); ``None`` for ``paper``.
        notes: numerical fallbacks and other things the caller should report.
    """

    mode: AlphaSelection
    alpha: float
    alpha_index: int
    n_alphas: int
    alpha_min_ratio: float
    fit_splits: tuple[Split, ...]
    curve: pd.DataFrame | None
    notes: tuple[str, ...]


def _best_index(scores: np.ndarray) -> int:
    # np.nanargmax returns the first maximum: the largest alpha among ties.
    return int(np.nanargmax(scores))


def _null_model_note(
    model: CoxnetBlockModel, mode: AlphaSelection, curve: pd.DataFrame | None, where: str
) -> str | None:
    """Why the chosen alpha keeps no coefficient (the null model), or ``None`` when it keeps one.

    Every patient then gets the same risk (C = 0.5 on any split); the note gives the scores the
    selection weighed, so that "no signal found" can be told from a fault.
    """
    index = model._index()
    nonzero = (np.asarray(model.coxnet.coef_) != 0).any(axis=0)
    if nonzero[index]:
        return None
    alphas = model.alphas
    head = (
        f"{where}: {mode} chose alpha={alphas[index]:.4g} where every coefficient is zero (the "
        "null model: every patient gets the same risk, C = 0.500)"
    )
    if curve is None:
        return f"{head}: even the smallest alpha of the path keeps every coefficient at zero"
    scores = curve["c_index"].to_numpy(dtype=float)
    kind, place = (
        ("mean inner C", "in the inner folds")
        if mode == "inner_cv"
        else ("C", "on the validation split")
    )
    # Only alphas with a coefficient and a score competed against the null model.
    rivals = np.where(nonzero & np.isfinite(scores), scores, np.nan)
    if np.isnan(rivals).all():
        return f"{head}: no alpha with a non-zero coefficient was scored {place}"
    best = int(np.nanargmax(rivals))
    rival = f"best {kind} of an alpha with non-zero coefficients {scores[best]:.3f}"
    rival += f", at alpha={alphas[best]:.4g}"
    if abs(scores[index] - 0.5) < 1e-12:
        return f"{head}: no alpha on the path beat a constant risk {place} ({rival})"
    # Inner fits, on fewer rows, can keep coefficients at an alpha where the final fit keeps
    # none: the null model then wins on their scores, not on a constant risk's 0.5.
    return (
        f"{head}: its {kind} was the path's best, {scores[index]:.3f}, the inner fits keeping "
        f"coefficients at this alpha; no alpha with non-zero coefficients beat it ({rival})"
    )


def _inner_cv_scores(
    modalities: Sequence[Modality],
    data: ModelData,
    patients: pd.Index,
    alphas: np.ndarray,
    hyperparameters: Mapping[str, Any],
    seed: int,
    where: str,
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    n_folds = int(hyperparameters["inner_cv_folds"])
    events = data.outcomes.loc[patients, "event"].to_numpy()
    smallest_stratum = int(min(events.sum(), len(events) - events.sum()))
    if n_folds < 2 or smallest_stratum < n_folds:
        raise AlphaSelectionError(
            f"inner_cv on {where} needs 2 <= inner_cv_folds <= the smaller event stratum; got "
            f"{n_folds} folds for {int(events.sum())} events among {len(events)} patients"
        )
    splitter = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    scores = np.full((n_folds, len(alphas)), np.nan)
    notes: list[str] = []
    for k, (inner_train, inner_held) in enumerate(splitter.split(np.zeros(len(events)), events)):
        fit_ids, held_ids = patients[inner_train], patients[inner_held]
        label = f"{where}, inner fold {k + 1}/{n_folds}"
        model, fit_notes = fit_block_model(
            modalities,
            data.rows(fit_ids),
            data.target(fit_ids),
            hyperparameters,
            alphas=alphas,
            where=label,
        )
        notes.extend(fit_notes)
        risks = model.path_risks(data.rows(held_ids))
        scores[k, : risks.shape[1]] = path_c_index(risks, data.target(held_ids), where=label)
    complete = ~np.isnan(scores).any(axis=0)
    if not complete.any():
        raise AlphaSelectionError(f"inner_cv on {where}: no alpha was scored on every inner fold")
    mean = np.full(len(alphas), np.nan)
    mean[complete] = scores[:, complete].mean(axis=0)
    return mean, (~np.isnan(scores)).sum(axis=0), notes


def fit_with_alpha_selection(
    modalities: Sequence[Modality],
    data: ModelData,
    hyperparameters: Mapping[str, Any],
    *,
    alpha_selection: AlphaSelection,
    seed: int,
    baseline: bool,
    where: str,
) -> tuple[CoxnetBlockModel, AlphaChoice]:
    """Fit one CoxNet over ``modalities`` and choose its alpha (see the module docstring).

    Raises:
        AlphaSelectionError: unknown mode, too few events for inner CV, or no comparable pair.
        CoxnetNumericalError: the path cannot be fitted even with the largest fallback ratio.
        FeatureError: a block is constant on the fitting rows.
    """
    if alpha_selection not in ALPHA_SELECTIONS:
        raise AlphaSelectionError(
            f"alpha_selection must be one of {ALPHA_SELECTIONS}, got {alpha_selection!r}"
        )
    fit_splits: tuple[Split, ...] = (
        ("train", "validation") if alpha_selection == "inner_cv" else ("train",)
    )
    fit_ids = data.patients(*fit_splits)
    model, notes = fit_block_model(
        modalities,
        data.rows(fit_ids),
        data.target(fit_ids),
        hyperparameters,
        baseline=baseline,
        where=where,
    )
    alphas = model.alphas
    curve: pd.DataFrame | None = None
    if alpha_selection == "paper":
        index = len(alphas) - 1
    elif alpha_selection == "validation":
        held = data.patients("validation")
        scores = path_c_index(
            model.path_risks(data.rows(held)), data.target(held), where=f"validation of {where}"
        )
        curve = pd.DataFrame({"alpha": alphas, "c_index": scores})
        index = _best_index(scores)
    else:
        scores, n_scored, inner_notes = _inner_cv_scores(
            modalities, data, fit_ids, alphas, hyperparameters, seed, where
        )
        notes.extend(inner_notes)
        curve = pd.DataFrame({"alpha": alphas, "c_index": scores, "n_inner_folds": n_scored})
        index = _best_index(scores)
    model.alpha_index = index
    null_note = _null_model_note(model, alpha_selection, curve, where)
    if null_note is not None:
        notes.append(null_note)
    choice = AlphaChoice(
        mode=alpha_selection,
        alpha=float(alphas[index]),
        alpha_index=index,
        n_alphas=len(alphas),
        alpha_min_ratio=model.alpha_min_ratio,
        fit_splits=fit_splits,
        curve=curve,
        notes=tuple(notes),
    )
    return model, choice
