from __future__ import annotations

import pytest
import torch

from radiogenomics_assets.survival import grid_sgd
from radiogenomics_assets.survival.grid_sgd import GridSgd

#: Per-configuration shapes: two that the fused kernel updates, two left to the three passes.
SHAPES = [(7, 48), (1, 32), (3, 1), (1, 1)]
DECAY = torch.tensor([0.0, 0.0, 1e-2, 1e-2, 1e-2, 0.5])
STEPS, RATE, MOMENTUM = 30, 1e-2, 0.9
ALL, LAST = slice(None), slice(-1, None)


def _parameters(rows: slice) -> list[torch.Tensor]:
    """The grid's initial parameters (or some of its configurations)."""
    generator = torch.Generator().manual_seed(0)
    return [
        torch.randn((len(DECAY), *shape), generator=generator)[rows].clone().requires_grad_()
        for shape in SHAPES
    ]


def _gradients() -> list[torch.Tensor]:
    """Every step's gradient of every configuration, ``(steps, configurations, …)``."""
    generator = torch.Generator().manual_seed(1)
    return [torch.randn((STEPS, len(DECAY), *shape), generator=generator) for shape in SHAPES]


def _trained(rows: slice) -> list[torch.Tensor]:
    parameters = _parameters(rows)
    optimiser = GridSgd(parameters, DECAY[rows], learning_rate=RATE, momentum=MOMENTUM)
    gradients = _gradients()
    with torch.no_grad():
        for step in range(STEPS):
            for parameter, gradient in zip(parameters, gradients, strict=True):
                parameter.grad = gradient[step, rows].clone()
            optimiser.step()
    return parameters


@pytest.fixture(autouse=True)
def _small_grids_fuse(monkeypatch: pytest.MonkeyPatch) -> None:
    """These grids are tiny: let them take the fused kernel, as a large grid does."""
    monkeypatch.setattr(grid_sgd, "_FUSED_FROM", 0)


@pytest.mark.skipif(grid_sgd._FUSED is None, reason="this torch has no fused SGD kernel")
def test_large_parameters_take_the_fused_kernel_and_small_ones_the_three_passes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    optimiser = GridSgd(_parameters(ALL), DECAY, learning_rate=RATE, momentum=MOMENTUM)
    assert [tuple(p.shape[1:]) for p in optimiser.fused] == [(7, 48), (1, 32)]
    assert [tuple(p.shape[1:]) for p in optimiser.rest] == [(3, 1), (1, 1)]
    assert optimiser.runs == [(0, 2, 0.0), (2, 5, pytest.approx(1e-2)), (5, 6, 0.5)]
    # a grid whose state fits in a cache takes the three passes only
    monkeypatch.setattr(grid_sgd, "_FUSED_FROM", 2**21)
    small = GridSgd(_parameters(ALL), DECAY, learning_rate=RATE, momentum=MOMENTUM)
    assert not small.fused and len(small.rest) == len(SHAPES)


def test_a_configuration_updated_alone_equals_its_row_in_the_grid() -> None:
    for grid, alone in zip(_trained(ALL), _trained(LAST), strict=True):
        assert torch.equal(grid[LAST], alone)


def test_the_update_is_sgd_with_momentum_and_coupled_weight_decay(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fused = _trained(ALL)
    monkeypatch.setattr(grid_sgd, "_FUSED", None)
    three_passes = _trained(ALL)
    gradients = _gradients()
    for row, decay in enumerate(DECAY.tolist()):
        reference = [p[row].detach().clone().requires_grad_() for p in _parameters(ALL)]
        sgd = torch.optim.SGD(reference, lr=RATE, momentum=MOMENTUM, weight_decay=decay)
        for step in range(STEPS):
            for parameter, gradient in zip(reference, gradients, strict=True):
                parameter.grad = gradient[step, row].clone()
            sgd.step()
        for mine, plain, theirs in zip(fused, three_passes, reference, strict=True):
            torch.testing.assert_close(mine[row], theirs, rtol=1e-5, atol=1e-6)
            torch.testing.assert_close(plain[row], theirs, rtol=1e-5, atol=1e-6)
