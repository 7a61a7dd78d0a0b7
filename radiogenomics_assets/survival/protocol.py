"""The neural models' training protocol as settings: the paper's values where it states them.

A plain, validated dataclass (no torch), read by the Dagster settings resource and by
:func:`~radiogenomics_assets.survival.training.train_grid`, whose docstring explains the policy
behind each field.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

EarlyStopping = Literal["after_min_steps", "paper"]
EARLY_STOPPING: tuple[EarlyStopping, ...] = get_args(EarlyStopping)
Device = Literal["auto", "cpu", "cuda"]
DEVICES: tuple[Device, ...] = get_args(Device)
LossName = Literal["pairwise", "cox"]
LOSS_NAMES: tuple[LossName, ...] = get_args(LossName)


class TrainingError(ValueError):
    """Training settings or inputs are unusable (named in the message)."""


@dataclass(frozen=True)
class GridConfig:
    """One configuration of the grid: an L2 weight decay and an initialisation index."""

    weight_decay: float
    initialisation: int


@dataclass(frozen=True)
class NetTraining:
    """The training protocol (defaults = the paper where it says; see the module docstring).

    Attributes:
        learning_rate: SGD step size (paper: 1e-3).
        momentum: SGD momentum; not stated in the paper, 0.9 as in the authors' released
            Keras code for their classification networks.
        dropout: drop probability after every hidden ReLU (paper: 0.25).
        weight_decays: the L2 weight-decay grid.
        initialisations: initialisations per weight decay.
        min_steps: checkpoints before this step are not eligible; runs that stop earlier are
            discarded (paper: 1000).
        patience: steps without improvement of the validation C-index before stopping (not
            stated by the paper; 250 = ten checks).
        max_steps: the step budget.
        eval_every: steps between validation checks.
        batch_size: patients per step (0 = the whole training split).
        early_stopping: ``after_min_steps`` (default) or ``paper`` (module docstring).
        loss: ``pairwise`` (the paper's ranking loss) or ``cox`` (partial likelihood).
        device: ``auto`` (CUDA when present), ``cpu`` or ``cuda``.
    """

    learning_rate: float = 1e-3
    momentum: float = 0.9
    dropout: float = 0.25
    weight_decays: tuple[float, ...] = (0.0, 1e-4, 1e-3, 1e-2, 1e-1)
    initialisations: int = 5
    min_steps: int = 1000
    patience: int = 250
    max_steps: int = 3000
    eval_every: int = 25
    batch_size: int = 16
    early_stopping: EarlyStopping = "after_min_steps"
    loss: LossName = "pairwise"
    device: Device = "auto"

    def __post_init__(self) -> None:
        object.__setattr__(self, "weight_decays", tuple(float(w) for w in self.weight_decays))
        problems = []
        if not self.learning_rate > 0:
            problems.append(f"learning_rate must be > 0, got {self.learning_rate}")
        if not 0 <= self.momentum < 1:
            problems.append(f"momentum must be in [0, 1), got {self.momentum}")
        if not 0 <= self.dropout < 1:
            problems.append(f"dropout must be in [0, 1), got {self.dropout}")
        if not self.weight_decays or min(self.weight_decays) < 0:
            problems.append(f"weight_decays must be non-negative values, got {self.weight_decays}")
        if len(set(self.weight_decays)) != len(self.weight_decays):
            problems.append(f"weight_decays repeat a value: {self.weight_decays}")
        if self.initialisations < 1:
            problems.append(f"initialisations must be ≥ 1, got {self.initialisations}")
        if not 1 <= self.eval_every <= self.max_steps:
            problems.append(f"eval_every must be in [1, max_steps], got {self.eval_every}")
        if not 0 <= self.min_steps <= self.max_steps:
            problems.append(
                f"min_steps ({self.min_steps}) must be in [0, max_steps ({self.max_steps})]: "
                "otherwise every configuration is discarded"
            )
        if self.patience < 1:
            problems.append(f"patience must be ≥ 1 step, got {self.patience}")
        if self.batch_size < 0:
            problems.append(f"batch_size must be ≥ 0 (0 = whole split), got {self.batch_size}")
        if self.early_stopping not in EARLY_STOPPING:
            problems.append(f"early_stopping must be one of {EARLY_STOPPING}")
        if self.loss not in LOSS_NAMES:
            problems.append(f"loss must be one of {LOSS_NAMES}, got {self.loss!r}")
        if self.device not in DEVICES:
            problems.append(f"device must be one of {DEVICES}, got {self.device!r}")
        if problems:
            raise TrainingError("invalid net training settings: " + "; ".join(problems))

    def configs(self) -> tuple[GridConfig, ...]:
        """The whole grid, weight decay major: ``(wd_0, init 0), (wd_0, init 1), …``."""
        return tuple(
            GridConfig(decay, init)
            for decay in self.weight_decays
            for init in range(self.initialisations)
        )
