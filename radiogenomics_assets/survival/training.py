"""Train a grid of (weight decay × initialisation) configurations of one network at once.

The paper's protocol (Section 4.2): SGD at learning rate 1e-3, dropout 0.25, early stopping,
the L2 weight decay chosen by a search, several initialisations per setting, the best
(weight decay, initialisation) chosen on the validation C-index, and initialisations that stop
before 1000 back-propagation steps discarded. Here all configurations of one model on one fold
are the configurations of one :class:`~radiogenomics_assets.survival.modules.SurvivalNet`
grid: one forward and one backward pass per step train all of them, and a configuration that
stops early leaves the grid at that validation check, so later steps cost only the
configurations still training. The update is :mod:`~radiogenomics_assets.survival.grid_sgd`'s.

**What a step is.** One SGD step on a mini-batch of ``batch_size`` training patients, stratified
by event and drawn from a seeded generator shared by every configuration. The paper states no
batch size; 16 (about five batches per epoch of ~80 training patients) trained as well as 32 on
the demo cohort in half the time; ``0`` means the whole training split. Weight decay is coupled
L2 (added to the gradient before momentum, as ``torch.optim.SGD``). Configurations with the same
initialisation index share their initial weights and dropout masks, so weight decays are
compared on common random numbers; a configuration trained alone follows exactly the trajectory
it follows inside the grid (up to floating-point rounding of the batched matmuls).

**Early stopping and the 1000-step rule.** The validation C-index (Harrell's, the same pairs as
scikit-survival) is computed every ``eval_every`` steps. A checkpoint is eligible to be the model
only at ``min_steps`` or later (the paper's 1000), and a configuration that stops before
``min_steps`` is discarded. With ~11 validation patients the validation C-index often peaks in
the first few hundred steps, so the paper's rules collide: counting patience from the start
stops and discards nearly every initialisation. The default policy, ``after_min_steps``, counts
patience from ``min_steps``: a configuration stops ``patience`` steps after its last eligible
improvement (or after ``min_steps`` if none), so only a run that diverges (non-finite loss)
before ``min_steps`` is discarded, and every kept model has at least ``min_steps`` steps of
learning, which is the paper's intent. ``paper`` counts patience from the best check at any
step, as written, and discards what stops early. If every configuration is discarded, training
fails with :class:`NoModelError` naming the settings to change.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch
from torch import nn

from radiogenomics_assets.survival.grid_sgd import GridSgd
from radiogenomics_assets.survival.losses import LOSSES
from radiogenomics_assets.survival.metrics import NoComparablePairsError
from radiogenomics_assets.survival.modules import (
    DropoutNoise,
    SurvivalNet,
    derived_seed,
    initialise,
)
from radiogenomics_assets.survival.protocol import (
    Device,
    GridConfig,
    NetTraining,
    TrainingError,
)
from radiogenomics_assets.survival.rowspace import RowSpaceLinear

#: Risks closer than this are tied, as in scikit-survival's concordance index.
_TIED_TOL = 1e-8
_MAX_REDRAWS = 100


class NoModelError(RuntimeError):
    """Every configuration of the grid was discarded, so the fold has no model."""


@dataclass(frozen=True)
class GridData:
    """The preprocessed inputs of one fold, as tensors on the CPU.

    Attributes:
        features: per modality, every used patient's row (``(n, d)``, float32).
        event, time: per patient (``(n,)`` bool and float).
        train_rows, validation_rows: indices of the training and validation patients.
    """

    features: dict[str, torch.Tensor]
    event: torch.Tensor
    time: torch.Tensor
    train_rows: torch.Tensor
    validation_rows: torch.Tensor


@dataclass(frozen=True)
class ConfigOutcome:
    """How one configuration ended.

    Attributes:
        config: its weight decay and initialisation.
        steps: steps trained when it stopped (``max_steps`` if it never did).
        best_step: step of its chosen checkpoint (``None``: no eligible checkpoint).
        best_validation_c: validation C-index at that checkpoint (NaN if none).
        discarded: it cannot be the model; ``reason`` says why.
    """

    config: GridConfig
    steps: int
    best_step: int | None
    best_validation_c: float
    discarded: bool
    reason: str | None


@dataclass(frozen=True)
class GridResult:
    """A trained grid: every configuration's outcome and the chosen one's weights.

    Attributes:
        outcomes: one per configuration, in grid order.
        chosen: index of the chosen configuration (best validation C among those kept; ties go
            to the first in grid order).
        state_dict: the chosen configuration as a one-configuration network, on the CPU.
        history: per validation check and configuration still training: ``step, config,
            weight_decay, initialisation, train_loss`` (mean mini-batch loss since the previous
            check) and ``validation_c``.
        device: where it trained.
        seconds: wall time of the training loop.
    """

    outcomes: tuple[ConfigOutcome, ...]
    chosen: int
    state_dict: dict[str, torch.Tensor]
    history: pd.DataFrame
    device: str
    seconds: float = field(compare=False)

    @property
    def chosen_outcome(self) -> ConfigOutcome:
        return self.outcomes[self.chosen]

    @property
    def n_discarded(self) -> int:
        return sum(outcome.discarded for outcome in self.outcomes)


def resolve_device(choice: Device) -> torch.device:
    """``auto`` → CUDA when torch sees a GPU, else CPU.

    Raises:
        TrainingError: ``cuda`` was asked for and torch sees no GPU.
    """
    if choice == "cuda" and not torch.cuda.is_available():
        raise TrainingError(
            f"net device 'cuda' was asked for but torch {torch.__version__} sees no CUDA GPU; "
            "set the net device to 'auto' or 'cpu'"
        )
    if choice == "cpu" or not torch.cuda.is_available():
        return torch.device("cpu")
    return torch.device("cuda")


def concordance_pairs(event: torch.Tensor, time: torch.Tensor) -> torch.Tensor:
    """scikit-survival's comparable pairs: ``[i, j]`` when ``i`` is an event and ``j`` was
    followed longer, or as long without the event."""
    later = time[None, :] > time[:, None]
    tied_censored = (time[None, :] == time[:, None]) & ~event[None, :]
    return event[:, None] & (later | tied_censored)


def harrell_c_grid(risk: torch.Tensor, pairs: torch.Tensor) -> torch.Tensor:
    """Harrell's C of every row of ``risk`` (``(C, n)``) on the comparable ``pairs``.

    Equals scikit-survival's ``concordance_index_censored`` (ties in risk count one half).
    """
    risk = risk.double()
    difference = risk[:, :, None] - risk[:, None, :]
    score = (difference > _TIED_TOL).double() + 0.5 * (difference.abs() <= _TIED_TOL).double()
    weight = pairs.double()
    return (score * weight).sum(dim=(1, 2)) / weight.sum()


class BatchSampler:
    """Mini-batches of training rows for every step, stratified by event, from one generator.

    Each batch holds ``round(batch_size · event rate)`` events (at least one) and is redrawn
    until it holds a comparable pair, so the loss is always defined.
    """

    def __init__(
        self,
        rows: np.ndarray,
        event: np.ndarray,
        time: np.ndarray,
        batch_size: int,
        seed: int,
        where: str,
    ) -> None:
        self.rows, self.event, self.time = rows, event, time
        self.where = where
        if not _has_pair(event, time):
            raise NoComparablePairsError(
                f"the training split of {where} has no comparable pair ({len(rows)} patients, "
                f"{int(event.sum())} events): nothing to rank"
            )
        self.full = batch_size == 0 or batch_size >= len(rows)
        self.events = np.flatnonzero(event)
        self.others = np.flatnonzero(~event)
        if not self.full:
            share = round(batch_size * len(self.events) / len(rows))
            self.n_events = int(min(max(share, 1), len(self.events), batch_size))
            self.n_others = batch_size - self.n_events
            if self.n_others > len(self.others):
                self.n_others = len(self.others)
                self.n_events = batch_size - self.n_others
        self.rng = np.random.default_rng(derived_seed(seed, "batches"))

    def draw_all(self, steps: int, device: torch.device) -> torch.Tensor:
        """The batches of ``steps`` steps, ``(steps, batch)``, moved to ``device`` at once."""
        return torch.from_numpy(np.stack([self.draw() for _ in range(steps)])).to(device)

    def draw(self) -> np.ndarray:
        """Row indices of the next step's batch."""
        if self.full:
            return self.rows
        for _ in range(_MAX_REDRAWS):
            picked = np.concatenate(
                [
                    self.rng.choice(self.events, self.n_events, replace=False),
                    self.rng.choice(self.others, self.n_others, replace=False),
                ]
            )
            if _has_pair(self.event[picked], self.time[picked]):
                return self.rows[np.sort(picked)]
        raise TrainingError(
            f"{_MAX_REDRAWS} mini-batches in a row from the training split of {self.where} held "
            "no comparable pair; raise the net batch_size (0 = whole split)"
        )


def _has_pair(event: np.ndarray, time: np.ndarray) -> bool:
    return bool(event.any()) and bool((time[event].min() < time).any())


def _reparametrise(net: SurvivalNet, data: GridData, device: torch.device) -> None:
    train_rows = data.train_rows.to(device)
    for modality, stream in net.streams.items():
        features = data.features[modality].to(device)
        stream.layers[0] = RowSpaceLinear(stream.layers[0], features, train_rows)


def _materialise(net: SurvivalNet) -> None:
    for stream in net.streams.values():
        first = stream.layers[0]
        if isinstance(first, RowSpaceLinear):
            stream.layers[0] = first.materialise()


def train_grid(
    build: Callable[[int], SurvivalNet],
    data: GridData,
    training: NetTraining,
    *,
    seed: int,
    configs: Sequence[GridConfig] | None = None,
    where: str = "the model",
) -> GridResult:
    """Train ``configs`` (default: the whole grid of ``training``) batched; choose the model.

    Configurations that stop leave the grid at the validation check that stops them, so the
    steps after it cost only what is still training. Nothing is read back from the device
    between validation checks.

    Args:
        build: makes the network with a given number of configurations.
        data: the fold's inputs.
        training: the protocol.
        seed: seeds initialisations, dropout and mini-batches.
        configs: the configurations to train (e.g. one, to train it alone).
        where: names the model and fold in messages.

    Raises:
        TrainingError: settings or device unusable, or batches without comparable pairs.
        NoComparablePairsError: the training or validation split cannot be ranked.
        NoModelError: every configuration was discarded.
    """
    configs = tuple(configs or training.configs())
    device = resolve_device(training.device)
    net = build(len(configs))
    initialise(net, [c.initialisation for c in configs], seed)
    net.to(device)
    _reparametrise(net, data, device)
    grid = _LiveGrid(net, configs, training, device)

    event, time_ = data.event.to(device), data.time.to(device)
    validation_rows = data.validation_rows.to(device)
    validation_pairs = concordance_pairs(event[validation_rows], time_[validation_rows])
    if not bool(validation_pairs.any()):
        raise NoComparablePairsError(
            f"the validation split of {where} has no comparable pair: configurations cannot be "
            "compared"
        )
    train_rows = data.train_rows.numpy()
    sampler = BatchSampler(
        train_rows,
        data.event.numpy()[train_rows],
        data.time.numpy()[train_rows],
        training.batch_size,
        seed,
        where,
    )
    batches = sampler.draw_all(training.max_steps, device)
    noise = DropoutNoise(training.dropout, [c.initialisation for c in configs], seed, device)
    loss_of = LOSSES[training.loss]

    tracker = _Tracker(configs, training, device)
    modalities = net.modalities
    started = time.perf_counter()
    for step in range(1, training.max_steps + 1):
        rows = batches[step - 1]
        loss = loss_of(net({m: rows for m in modalities}, noise), event[rows], time_[rows])
        for parameter in grid.parameters:
            parameter.grad = None
        loss.sum().backward()
        with torch.no_grad():
            tracker.record_loss(loss)
            grid.step()
            if step % training.eval_every and step != training.max_steps:
                continue
            validation_c = harrell_c_grid(
                net({m: validation_rows for m in modalities}), validation_pairs
            )
            improved, stopped = tracker.check(step, validation_c)
            grid.snapshot(improved)
            if stopped.all():
                break
            if stopped.any():
                kept = torch.from_numpy(np.flatnonzero(~stopped)).to(device)
                grid.keep(kept)
                noise.keep(kept)
                tracker.keep(kept)
    seconds = time.perf_counter() - started

    outcomes = tracker.outcomes()
    chosen = _choose(outcomes, where, training)
    grid.restore(chosen)
    _materialise(net)
    single = build(1)
    single.load_state_dict({name: value.cpu() for name, value in net.state_dict().items()})
    return GridResult(
        outcomes=outcomes,
        chosen=chosen,
        state_dict=single.state_dict(),
        history=pd.DataFrame(tracker.history),
        device=str(device),
        seconds=seconds,
    )


class _LiveGrid:
    """The network's configurations still training, their optimiser state and checkpoints.

    Every parameter and buffer of the network has the configuration axis first; ``keep``
    narrows all of them (and the momentum) to the configurations still training, so later steps
    neither compute nor update the stopped ones. Checkpoints stay full size, indexed by the
    configuration's place in the grid.
    """

    def __init__(
        self,
        net: SurvivalNet,
        configs: Sequence[GridConfig],
        training: NetTraining,
        device: torch.device,
    ):
        self.net = net
        self.parameters = list(net.parameters())
        self.best = [p.detach().clone() for p in self.parameters]
        self.buffers = {name: b.detach() for name, b in net.named_buffers()}
        self.live = torch.arange(len(configs), device=device)
        decay = torch.tensor([c.weight_decay for c in configs], device=device)
        self.optimiser = GridSgd(self.parameters, decay, training.learning_rate, training.momentum)

    def step(self) -> None:
        self.optimiser.step()

    def snapshot(self, improved: np.ndarray) -> None:
        """Copy the ``improved`` live configurations into their checkpoints."""
        if not improved.any():
            return
        rows = torch.from_numpy(np.flatnonzero(improved)).to(self.live.device)
        places = self.live.index_select(0, rows)
        for parameter, kept in zip(self.parameters, self.best, strict=True):
            kept.index_copy_(0, places, parameter.index_select(0, rows))

    def keep(self, rows: torch.Tensor) -> None:
        """Go on with the live configurations ``rows`` only."""
        self._replace(lambda _, tensor: tensor.index_select(0, rows))
        self.optimiser.keep(self.parameters, rows)
        self.live = self.live.index_select(0, rows)

    def restore(self, chosen: int) -> None:
        """The network becomes configuration ``chosen`` alone, at its checkpoint (so it is
        materialised as a one-configuration network, exactly as if it had trained alone)."""
        best = dict(zip(map(id, self.parameters), self.best, strict=True))
        self._replace(
            lambda name, tensor: best.get(id(tensor), self.buffers.get(name))[chosen : chosen + 1]
        )

    def _replace(self, new: Callable[[str, torch.Tensor], torch.Tensor]) -> None:
        """Swap every parameter and buffer for ``new(qualified name, tensor)``.

        Parameters are swapped for new ones: autograd remembers a parameter's shape.
        """
        for prefix, module in self.net.named_modules():
            qualified = f"{prefix}.".lstrip(".")
            for name, parameter in list(module.named_parameters(recurse=False)):
                replaced = new(qualified + name, parameter).detach()
                setattr(module, name, nn.Parameter(replaced, parameter.requires_grad))
            for name, buffer in list(module.named_buffers(recurse=False)):
                setattr(module, name, new(qualified + name, buffer))
        self.parameters = list(self.net.parameters())


class _Tracker:
    """Per-configuration state of a grid run: which still train, their checkpoints, history.

    The losses of the live configurations are kept on the device every step; ``check``
    reads them back once per validation check, applies the early-stopping policy of the module
    docstring and returns, over the live configurations, which improved their checkpoint and
    which stopped (and leave the grid). A configuration whose loss turned non-finite stops at
    the check after, recorded at the step it diverged; its checkpoint predates that step.
    """

    def __init__(
        self, configs: Sequence[GridConfig], training: NetTraining, device: torch.device
    ) -> None:
        n = len(configs)
        self.configs, self.training = configs, training
        self.live = np.arange(n)
        self.stopped_at = np.full(n, training.max_steps)
        self.reasons: list[str | None] = [None] * n
        self.best_c = np.full(n, -np.inf)
        self.best_step = np.full(n, -1)
        self.best_any = np.full(n, -np.inf)
        self.best_any_step = np.zeros(n, dtype=int)
        # The live configurations' losses of every step since the last check.
        self.window = torch.empty(training.eval_every, n, dtype=torch.float64, device=device)
        self.window_steps = 0
        self.history: list[dict[str, object]] = []

    def record_loss(self, loss: torch.Tensor) -> None:
        """Keep the step's losses (one copy on the device, nothing read back)."""
        self.window[self.window_steps].copy_(loss)
        self.window_steps += 1

    def check(self, step: int, validation_c: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        window = self.window[: self.window_steps]
        finite = torch.isfinite(window)
        first_bad = torch.argmin(finite.int(), dim=0)  # the first non-finite step's row, if any
        diverged_at = torch.where(finite.all(0), 0, step - self.window_steps + 1 + first_bad)
        window_loss = torch.where(finite, window, 0.0).sum(0)
        figures = torch.stack([validation_c.double(), window_loss, diverged_at.double()])
        c, window_loss, diverged_at = figures.cpu().numpy()
        diverged = diverged_at > 0
        for place, at in zip(self.live[diverged], diverged_at[diverged].astype(int), strict=True):
            self.stopped_at[place] = at
            self.reasons[place] = f"diverged (non-finite loss) at step {at}"
        training = ~diverged
        for row in np.flatnonzero(training):
            place = int(self.live[row])
            self.history.append(
                {
                    "step": step,
                    "config": place,
                    "weight_decay": self.configs[place].weight_decay,
                    "initialisation": self.configs[place].initialisation,
                    "train_loss": float(window_loss[row]) / self.window_steps,
                    "validation_c": float(c[row]),
                }
            )
        self.window_steps = 0
        live = self.live
        improved = training & (c > self.best_c[live]) & (step >= self.training.min_steps)
        self.best_c[live[improved]] = c[improved]
        self.best_step[live[improved]] = step
        better_any = training & (c > self.best_any[live])
        self.best_any[live[better_any]] = c[better_any]
        self.best_any_step[live[better_any]] = step
        stop = training & self._stop_mask(step)
        self.stopped_at[live[stop]] = step
        return improved, diverged | stop

    def keep(self, rows: torch.Tensor) -> None:
        self.live = self.live[rows.cpu().numpy()]
        self.window = self.window[:, : len(rows)]

    def _stop_mask(self, step: int) -> np.ndarray:
        """Over the live configurations: which the policy stops at this check."""
        if self.training.early_stopping == "paper":
            since = step - self.best_any_step[self.live]
        elif step < self.training.min_steps:
            return np.zeros(len(self.live), dtype=bool)
        else:
            since = step - np.maximum(self.best_step[self.live], self.training.min_steps)
        return since >= self.training.patience

    def outcomes(self) -> tuple[ConfigOutcome, ...]:
        outcomes = []
        for index, config in enumerate(self.configs):
            steps = int(self.stopped_at[index])
            reason = self.reasons[index]
            if steps < self.training.min_steps:
                reason = reason or f"stopped at step {steps} < min_steps {self.training.min_steps}"
            elif self.best_step[index] < 0:
                reason = reason or "no eligible checkpoint"
            else:
                reason = None
            has_checkpoint = self.best_step[index] >= 0
            outcomes.append(
                ConfigOutcome(
                    config=config,
                    steps=steps,
                    best_step=int(self.best_step[index]) if has_checkpoint else None,
                    best_validation_c=float(self.best_c[index]) if has_checkpoint else float("nan"),
                    discarded=reason is not None,
                    reason=reason,
                )
            )
        return tuple(outcomes)


def _choose(outcomes: Sequence[ConfigOutcome], where: str, training: NetTraining) -> int:
    kept = [i for i, outcome in enumerate(outcomes) if not outcome.discarded]
    if not kept:
        reasons = sorted({str(outcome.reason) for outcome in outcomes})
        raise NoModelError(
            f"all {len(outcomes)} configurations of {where} were discarded ({'; '.join(reasons)}"
            f"). With early_stopping={training.early_stopping!r}, min_steps={training.min_steps}, "
            f"patience={training.patience}, max_steps={training.max_steps}: set the net "
            "early_stopping to 'after_min_steps' (patience counted from min_steps), lower "
            "min_steps, or lower the learning_rate if the loss diverged"
        )
    return max(kept, key=lambda i: (outcomes[i].best_validation_c, -i))
