from __future__ import annotations

import dataclasses
from functools import partial

import numpy as np
import pytest
import torch
from sksurv.metrics import concordance_index_censored

from radiogenomics_assets.survival.modules import build_net
from radiogenomics_assets.survival.protocol import GridConfig, NetTraining, TrainingError
from radiogenomics_assets.survival.registry import NET_HYPERPARAMETERS
from radiogenomics_assets.survival.training import (
    BatchSampler,
    GridData,
    NoModelError,
    concordance_pairs,
    harrell_c_grid,
    resolve_device,
    train_grid,
)

#: Small enough to run in seconds, large enough to early-stop.
SMALL = NetTraining(
    weight_decays=(0.0, 1e-2),
    initialisations=2,
    min_steps=60,
    patience=40,
    max_steps=200,
    eval_every=20,
    batch_size=16,
    device="cpu",
)


def _data(seed: int = 0, n: int = 90) -> GridData:
    """Two blocks with a planted signal in the first; 60 train and 15 validation rows."""
    generator = np.random.default_rng(seed)
    genes = generator.normal(size=(n, 30))
    radiomic = generator.normal(size=(n, 12))
    hazard = np.exp(genes[:, 0] + genes[:, 1])
    time = np.ceil(100 * generator.exponential(1 / hazard)) + 1
    censor = generator.uniform(50, 400, size=n)
    event = time <= censor
    return GridData(
        features={
            "genomics": torch.tensor(genes, dtype=torch.float32),
            "pyradiomics": torch.tensor(radiomic, dtype=torch.float32),
        },
        event=torch.from_numpy(event),
        time=torch.from_numpy(np.minimum(time, censor)),
        train_rows=torch.arange(60),
        validation_rows=torch.arange(60, 75),
    )


def _build(fusion: str = "intermediate"):
    return partial(build_net, fusion, {"genomics": 30, "pyradiomics": 12}, NET_HYPERPARAMETERS)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_grid_c_index_equals_scikit_survival(seed: int) -> None:
    generator = torch.Generator().manual_seed(seed)
    time = torch.randint(1, 12, (40,), generator=generator).double()
    event = torch.rand(40, generator=generator) < 0.5
    risk = torch.randint(0, 6, (3, 40), generator=generator).double()  # many tied risks
    grid = harrell_c_grid(risk, concordance_pairs(event, time))
    for row in range(3):
        expected = concordance_index_censored(event.numpy(), time.numpy(), risk[row].numpy())[0]
        assert float(grid[row]) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("fusion", ["intermediate", "late_joint", "block", "mfh"])
def test_batched_and_sequential_training_give_the_same_validation_c_index(fusion: str) -> None:
    data = _data()
    batched = train_grid(_build(fusion), data, SMALL, seed=3)
    # configurations leave the grid at different steps, so the grid narrows mid-run
    assert len({outcome.steps for outcome in batched.outcomes}) > 1
    history = batched.history.set_index(["config", "step"])
    for index, config in enumerate(SMALL.configs()):
        alone = train_grid(_build(fusion), data, SMALL, seed=3, configs=[config])
        assert alone.outcomes[0] == batched.outcomes[index]
        mine = history.loc[index, "validation_c"].to_numpy()
        np.testing.assert_array_equal(alone.history["validation_c"].to_numpy(), mine)
        if index == batched.chosen:  # the same weights, up to the batched matmuls' rounding
            for name, value in alone.state_dict.items():
                torch.testing.assert_close(value, batched.state_dict[name], rtol=1e-5, atol=1e-6)


def test_the_same_seed_gives_the_same_model_and_another_seed_does_not() -> None:
    data = _data()
    first, again = (train_grid(_build("late_joint"), data, SMALL, seed=5) for _ in range(2))
    assert first.outcomes == again.outcomes and first.chosen == again.chosen
    for name, value in first.state_dict.items():
        assert torch.equal(value, again.state_dict[name]), name
    other = train_grid(_build("late_joint"), data, SMALL, seed=6)
    assert not torch.equal(
        other.state_dict["head.combine.linear.weight"],
        first.state_dict["head.combine.linear.weight"],
    )


def test_the_default_policy_keeps_every_run_past_min_steps() -> None:
    result = train_grid(_build(), _data(), SMALL, seed=1)
    assert result.n_discarded == 0
    for outcome in result.outcomes:
        assert outcome.steps >= SMALL.min_steps + SMALL.patience or outcome.steps == SMALL.max_steps
        assert outcome.best_step is not None and outcome.best_step >= SMALL.min_steps
    chosen = result.chosen_outcome
    assert chosen.best_validation_c == max(o.best_validation_c for o in result.outcomes)
    assert set(result.history["step"]) <= set(range(20, 201, 20))
    # one network left: the chosen configuration, as a one-configuration state dict
    assert all(value.shape[0] == 1 for value in result.state_dict.values())


def test_the_papers_literal_rule_discards_short_runs_and_can_leave_no_model() -> None:
    literal = dataclasses.replace(SMALL, early_stopping="paper", patience=40, min_steps=140)
    result = train_grid(_build(), _data(), literal, seed=1)
    short = [o for o in result.outcomes if o.steps < literal.min_steps]
    assert short, "expected some runs to stop before min_steps"
    assert result.n_discarded == len(short)
    for outcome in short:
        assert outcome.discarded and f"< min_steps {literal.min_steps}" in str(outcome.reason)
    assert not result.chosen_outcome.discarded
    # the collision of the issue: a short patience counted from the start stops every run early
    never = dataclasses.replace(literal, patience=20, min_steps=100)
    with pytest.raises(NoModelError, match="all 4 configurations of the model were discarded"):
        train_grid(_build(), _data(), never, seed=1)


def test_a_diverging_configuration_is_discarded_alone() -> None:
    # A weight decay of 1e5 at learning rate 1e-3 multiplies the weights by about −99 a step.
    mixed = dataclasses.replace(SMALL, weight_decays=(0.0, 1e5))
    result = train_grid(_build(), _data(), mixed, seed=0)
    healthy = train_grid(
        _build(), _data(), dataclasses.replace(mixed, weight_decays=(0.0,)), seed=0
    )
    assert result.outcomes[:2] == healthy.outcomes
    for outcome in result.outcomes[2:]:
        assert outcome.discarded and outcome.steps < mixed.eval_every
        assert outcome.reason == f"diverged (non-finite loss) at step {outcome.steps}"
    assert set(result.history["config"]) == {0, 1}
    wild = dataclasses.replace(SMALL, learning_rate=1e6, weight_decays=(0.0,), initialisations=2)
    with pytest.raises(NoModelError, match=r"diverged .*lower the learning_rate"):
        train_grid(_build(), _data(), wild, seed=0)


def test_batches_are_stratified_and_always_rankable() -> None:
    event = np.array([True] * 10 + [False] * 30)
    time = np.arange(40.0)
    sampler = BatchSampler(np.arange(100, 140), event, time, 8, seed=0, where="test")
    for _ in range(50):
        rows = sampler.draw() - 100
        assert len(rows) == 8 and len(set(rows)) == 8
        assert event[rows].sum() == 2  # round(8 × 10/40)
    whole = BatchSampler(np.arange(40), event, time, 0, seed=0, where="test")
    assert whole.draw().tolist() == list(range(40))


def test_settings_are_validated_with_the_field_named() -> None:
    with pytest.raises(TrainingError, match=r"min_steps \(10\) must be in \[0, max_steps \(5\)\]"):
        NetTraining(min_steps=10, max_steps=5, eval_every=1)
    with pytest.raises(TrainingError, match="weight_decays must be non-negative"):
        NetTraining(weight_decays=(-1.0,))
    with pytest.raises(TrainingError, match="loss must be one of"):
        NetTraining(loss="hinge")  # type: ignore[arg-type]
    assert len(NetTraining().configs()) == 25
    assert NetTraining().configs()[6] == GridConfig(1e-4, 1)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_asking_for_cuda_without_a_gpu_is_an_error() -> None:
    with pytest.raises(TrainingError, match="sees no CUDA GPU; set the net device"):
        resolve_device("cuda")
    assert resolve_device("auto") == torch.device("cpu")
