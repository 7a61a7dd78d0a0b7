"""A model's inputs for one fold: feature blocks aligned on the patients that have all of them.

A model uses the patients that have every modality it reads (the intersection); a whole
modality is never imputed. The patients left out are counted per split so the caller can report
them. Every check here fails loudly with the modality, patient and column at fault.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from radiogenomics_assets.ids import validate_patient_id
from radiogenomics_assets.survival.metrics import harrell_c_index
from radiogenomics_assets.survival.registry import Modality
from radiogenomics_assets.survival.splits import (
    SPLITS,
    FoldAssignmentError,
    Split,
    require_events,
    split_event_counts,
)
from radiogenomics_assets.survival.targets import target_for, validate_outcomes

_MAX_NAMED = 10


class FeatureError(ValueError):
    """A feature block is missing, malformed, or holds non-finite values in rows a model uses."""


@dataclass(frozen=True)
class ModelData:
    """Aligned inputs of one model in one fold.

    Attributes:
        blocks: per modality, the used patients' rows (index ``patient_id``, sorted).
        outcomes: validated outcomes of the used patients (index ``patient_id``).
        split_of: the split of every used patient (index ``patient_id``, sorted).
        dropped: per split, the patients of the fold left out for lack of a modality.
        fold: the fold name when ``splits`` carried one, else ``None``.
    """

    blocks: Mapping[Modality, pd.DataFrame]
    outcomes: pd.DataFrame
    split_of: pd.Series
    dropped: Mapping[Split, tuple[str, ...]]
    fold: str | None

    def patients(self, *splits: Split) -> pd.Index:
        """Used patients in any of ``splits``, sorted by id."""
        return self.split_of.index[self.split_of.isin(splits)]

    def rows(self, patients: pd.Index) -> dict[Modality, pd.DataFrame]:
        """Every block restricted to ``patients`` (in that order)."""
        return {modality: block.loc[patients] for modality, block in self.blocks.items()}

    def target(self, patients: pd.Index) -> np.ndarray:
        """The survival target of ``patients`` (in that order)."""
        return target_for(self.outcomes, patients)

    def score(self, risk: pd.Series, where: str) -> tuple[pd.DataFrame, dict[Split, float]]:
        """A fitted model's predictions table (``patient_id, split, risk``, every used patient)
        and Harrell's C per split, from its risk indexed by patient.

        Raises:
            NoComparablePairsError: a split has no comparable pair.
        """
        used = self.split_of.index
        predictions = pd.DataFrame(
            {"patient_id": used, "split": self.split_of.to_numpy(), "risk": risk.loc[used]}
        ).reset_index(drop=True)
        c_index = {
            split: harrell_c_index(
                self.target(self.patients(split)),
                risk.loc[self.patients(split)].to_numpy(),
                where=f"{split} of {where}",
            )
            for split in SPLITS
        }
        return predictions, c_index


def _check_block(modality: str, block: pd.DataFrame) -> None:
    if not isinstance(block, pd.DataFrame):
        raise FeatureError(f"{modality} features must be a DataFrame, got {type(block).__name__}")
    if block.shape[1] == 0:
        raise FeatureError(f"{modality} features have no columns")
    repeated = block.index[block.index.duplicated()]
    if len(repeated):
        raise FeatureError(f"{modality} features repeat patients {list(repeated[:_MAX_NAMED])}")
    for patient_id in block.index:
        validate_patient_id(patient_id, where=f"{modality} features")
    non_numeric = [
        column for column in block.columns if not pd.api.types.is_numeric_dtype(block[column])
    ]
    if non_numeric:
        raise FeatureError(f"{modality} features have non-numeric columns {non_numeric[:10]}")
    repeated_columns = block.columns[block.columns.duplicated()]
    if len(repeated_columns):
        raise FeatureError(f"{modality} features repeat columns {list(repeated_columns[:10])}")


def _check_finite(modality: str, block: pd.DataFrame) -> None:
    values = block.to_numpy(dtype=float)
    bad = ~np.isfinite(values)
    if bad.any():
        rows, columns = np.nonzero(bad)
        examples = [
            f"{block.index[r]}/{block.columns[c]}"
            for r, c in zip(rows[:_MAX_NAMED], columns[:_MAX_NAMED], strict=True)
        ]
        raise FeatureError(
            f"{modality} features hold {int(bad.sum())} missing or non-finite values in rows "
            f"the model uses (patient/column: {examples}); clean or drop them upstream"
        )


def prepare_model_data(
    modalities: Sequence[Modality],
    features: Mapping[Modality, pd.DataFrame],
    outcomes: pd.DataFrame,
    splits: pd.DataFrame,
) -> ModelData:
    """Align the blocks a model reads with one fold's splits and the outcomes.

    Args:
        modalities: the blocks the model reads.
        features: per modality, a DataFrame indexed by ``patient_id`` (extra modalities ignored).
        outcomes: ``patient_id, event, days``.
        splits: one fold's ``patient_id, split`` rows (``fold`` optional).

    Raises:
        FeatureError: a needed block is absent or malformed, or holds NaN/inf in used rows.
        FoldAssignmentError: ``splits`` is malformed or spans several folds.
        SurvivalTargetError: outcomes are malformed or miss a used patient.
        NoEventInSplitError: after dropping patients, a split has no event.
    """
    missing = [modality for modality in modalities if modality not in features]
    if missing:
        raise FeatureError(
            f"the model reads {list(modalities)} but no features were given for {missing}"
        )
    for column in ("patient_id", "split"):
        if column not in splits.columns:
            raise FoldAssignmentError(f"splits lack column {column!r}; got {list(splits.columns)}")
    fold: str | None = None
    if "fold" in splits.columns:
        folds = splits["fold"].unique()
        if len(folds) != 1:
            raise FoldAssignmentError(f"splits must hold one fold, got {sorted(folds)}")
        fold = str(folds[0])
    unknown = sorted(set(splits["split"]) - set(SPLITS))
    if unknown:
        raise FoldAssignmentError(f"unknown split names {unknown}; expected {SPLITS}")
    if splits["patient_id"].duplicated().any():
        repeated = splits.loc[splits["patient_id"].duplicated(), "patient_id"]
        raise FoldAssignmentError(f"splits repeat patients {repeated.tolist()[:_MAX_NAMED]}")

    validated = validate_outcomes(outcomes)
    split_of = splits.set_index("patient_id")["split"].sort_index()
    available = split_of.index
    for modality in modalities:
        _check_block(modality, features[modality])
        available = available.intersection(features[modality].index)
    available = available.sort_values()
    dropped = {
        split: tuple(sorted(split_of.index[(split_of == split) & ~split_of.index.isin(available)]))
        for split in SPLITS
    }
    used_split = split_of.loc[available]
    target_for(validated, available)
    blocks: dict[Modality, pd.DataFrame] = {}
    for modality in modalities:
        block = features[modality].loc[available].astype(float)
        block.columns = block.columns.astype(str)
        _check_finite(modality, block)
        blocks[modality] = block

    counts = split_event_counts(
        pd.DataFrame(
            {
                "patient_id": used_split.index,
                "fold": fold or "unnamed fold",
                "split": used_split.to_numpy(),
                "event": validated.loc[available, "event"].to_numpy(),
            }
        )
    )
    require_events(counts)
    return ModelData(
        blocks=blocks,
        outcomes=validated.loc[available],
        split_of=used_split,
        dropped=dropped,
        fold=fold,
    )
