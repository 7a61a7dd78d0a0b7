from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from sksurv.linear_model.coxph import CoxPHOptimizer

from radiogenomics_assets.survival.losses import (
    LossInputError,
    cox_partial_likelihood_loss,
    pairwise_ranking_loss,
)
from radiogenomics_assets.survival.metrics import NoComparablePairsError


def _random(seed: int, n: int = 23, models: int = 3):
    """Risks of several models, with tied times, tied risks and censored rows."""
    generator = torch.Generator().manual_seed(seed)
    risk = torch.randn(models, n, generator=generator, dtype=torch.float64)
    risk[:, 1] = risk[:, 0]  # a tie in risk
    time = torch.randint(1, 9, (n,), generator=generator).double()  # many ties in time
    event = torch.rand(n, generator=generator) < 0.5
    event[0] = True
    time[0] = 1.0
    return risk, event, time


def _pairwise_by_loops(risk: np.ndarray, event: np.ndarray, time: np.ndarray) -> float:
    total, pairs = 0.0, 0
    for i in range(len(time)):
        if not event[i]:
            continue
        for j in range(len(time)):
            if time[j] > time[i]:
                total += math.log1p(math.exp(risk[j] - risk[i]))
                pairs += 1
    return total / pairs


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_pairwise_loss_equals_the_double_loop_of_the_paper(seed: int) -> None:
    risk, event, time = _random(seed)
    loss = pairwise_ranking_loss(risk, event, time)
    assert loss.shape == (3,)
    for row in range(3):
        expected = _pairwise_by_loops(risk[row].numpy(), event.numpy(), time.numpy())
        assert float(loss[row]) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_cox_loss_equals_scikit_survivals_breslow_likelihood(seed: int) -> None:
    risk, event, time = _random(seed)
    loss = cox_partial_likelihood_loss(risk, event, time)
    n, n_events = len(time), int(event.sum())
    for row in range(3):
        # scikit-survival's optimizer scores X @ w; one column holding the risk and w = 1 makes
        # its linear predictor our risk. It averages over all rows, ours over events.
        optimizer = CoxPHOptimizer(
            risk[row].numpy()[:, None], event.numpy(), time.numpy(), np.zeros(1), "breslow"
        )
        expected = optimizer.nlog_likelihood(np.ones(1)) * n / n_events
        assert float(loss[row]) == pytest.approx(expected, rel=1e-10)


@pytest.mark.parametrize("loss_of", [pairwise_ranking_loss, cox_partial_likelihood_loss])
def test_gradients_are_finite_even_for_extreme_risks(loss_of) -> None:
    risk, event, time = _random(4)
    risk = (risk * 1e3).float().requires_grad_()
    loss_of(risk, event, time).sum().backward()
    assert torch.isfinite(risk.grad).all()
    assert risk.grad.abs().sum() > 0


@pytest.mark.parametrize("loss_of", [pairwise_ranking_loss, cox_partial_likelihood_loss])
def test_a_batch_without_comparable_pairs_raises(loss_of) -> None:
    risk = torch.zeros(4)
    time = torch.tensor([1.0, 2.0, 3.0, 4.0])
    with pytest.raises(NoComparablePairsError, match="0 events"):
        loss_of(risk, torch.zeros(4, dtype=torch.bool), time)
    # the only event is the last follow-up time: nobody is known to outlive it
    only_last = torch.tensor([False, False, False, True])
    with pytest.raises(NoComparablePairsError, match="1 events"):
        loss_of(risk, only_last, time)


def test_pairwise_loss_ignores_censored_and_tied_pairs() -> None:
    time = torch.tensor([5.0, 5.0, 9.0])
    event = torch.tensor([True, True, False])
    risk = torch.tensor([0.0, 100.0, 3.0])
    # pairs (0, 2) and (1, 2) only: the tie in time between the two events is not ordered
    expected = (math.log1p(math.exp(3.0)) + math.log1p(math.exp(-97.0))) / 2
    assert float(pairwise_ranking_loss(risk, event, time)) == pytest.approx(expected)


def test_inputs_must_line_up() -> None:
    with pytest.raises(LossInputError, match="event has shape \\(3,\\)"):
        pairwise_ranking_loss(torch.zeros(2, 4), torch.ones(3, dtype=torch.bool), torch.ones(4))
    with pytest.raises(LossInputError, match="event must be a bool tensor"):
        cox_partial_likelihood_loss(torch.zeros(4), torch.ones(4), torch.ones(4))
