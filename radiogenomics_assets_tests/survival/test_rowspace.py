from __future__ import annotations

import torch

from radiogenomics_assets.survival.grid_sgd import _sgd_step
from radiogenomics_assets.survival.modules import StackedLinear, initialise
from radiogenomics_assets.survival.rowspace import RowSpaceLinear

N_ALL, N_TRAIN, D, WIDTH, CONFIGS = 30, 12, 40, 6, 3


def _train(layer, inputs_of, features: torch.Tensor, steps: int = 40) -> None:
    """SGD with momentum and a different weight decay per configuration, on random batches."""
    generator = torch.Generator().manual_seed(5)
    targets = torch.randn(CONFIGS, N_ALL, WIDTH, generator=generator, dtype=torch.float64)
    parameters = list(layer.parameters())
    buffers = [torch.zeros_like(p) for p in parameters]
    decay = torch.tensor([0.0, 0.05, 0.5], dtype=torch.float64)
    shapes = [(-1,) + (1,) * (p.ndim - 1) for p in parameters]
    for _ in range(steps):
        rows = torch.randperm(N_TRAIN, generator=generator)[:5]
        output = layer(inputs_of(rows))
        loss = (torch.tanh(output) * targets[:, rows]).sum()
        for parameter in parameters:
            parameter.grad = None
        loss.backward()
        with torch.no_grad():
            _sgd_step(
                parameters,
                buffers,
                [decay.view(s) for s in shapes],
                learning_rate=0.05,
                momentum=0.9,
            )


def _layers(features: torch.Tensor) -> tuple[StackedLinear, RowSpaceLinear]:
    plain = StackedLinear(CONFIGS, D, WIDTH).double()
    initialise(plain, [0, 1, 2], seed=3)
    reparametrised = StackedLinear(CONFIGS, D, WIDTH).double()
    reparametrised.load_state_dict(plain.state_dict())
    return plain, RowSpaceLinear(reparametrised, features, torch.arange(N_TRAIN))


def test_row_space_training_follows_the_plain_trajectory() -> None:
    features = torch.randn(N_ALL, D, dtype=torch.float64)
    plain, row_space = _layers(features)
    assert row_space.rank == N_TRAIN  # 12 rows in 40 dimensions span 12
    _train(plain, lambda rows: features[rows], features)
    _train(row_space, lambda rows: rows, features)
    materialised = row_space.materialise()
    torch.testing.assert_close(materialised.weight, plain.weight, rtol=1e-8, atol=1e-10)
    torch.testing.assert_close(materialised.bias, plain.bias, rtol=1e-8, atol=1e-10)
    every_row = torch.arange(N_ALL)
    torch.testing.assert_close(row_space(every_row), plain(features), rtol=1e-8, atol=1e-10)
    # weight decay shrank the initial weight of the decayed configurations only
    assert row_space.scale[0].item() == 1.0 and row_space.scale[2].item() < 0.5


def test_rows_outside_the_training_set_do_not_touch_training() -> None:
    features = torch.randn(N_ALL, D, dtype=torch.float64)
    poisoned = features.clone()
    poisoned[N_TRAIN:] = 1e6 * torch.randn(N_ALL - N_TRAIN, D, dtype=torch.float64)
    trained = []
    for data in (features, poisoned):
        _, row_space = _layers(data)
        _train(row_space, lambda rows: rows, data)
        trained.append(row_space)
    assert torch.equal(trained[0].coef, trained[1].coef)
    assert torch.equal(trained[0].scale, trained[1].scale)
    assert torch.equal(trained[0].bias, trained[1].bias)
