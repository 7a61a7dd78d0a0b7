from __future__ import annotations

import pytest
import torch

from radiogenomics_assets.survival.modules import (
    ArchitectureError,
    DropoutNoise,
    build_net,
    initialise,
    parameter_count,
)
from radiogenomics_assets.survival.registry import NET_HYPERPARAMETERS, get_spec

PAPER_DIMS = {"genomics": 500, "pyradiomics": 107, "densenet": 1024}


def linear(d_in: int, d_out: int) -> int:
    return d_in * d_out + d_out


# Parameter counts from the paper's equations (Section 4.1): streams, then each head.
STREAM = {
    "genomics": linear(500, 256) + linear(256, 64),
    "densenet": linear(1024, 256) + linear(256, 64),
    "pyradiomics": linear(107, 64),
}
RISK = linear(64, 1)
BLOCK = 2 * linear(64, 15 * 16) + 15 * 16 * 16 * 16 + linear(15 * 16, 64)
MFH = 4 * linear(64, 1200) + linear(2 * 1200, 64)
EXPECTED_PARAMETERS = {
    "mlp_g": STREAM["genomics"] + RISK,
    "mlp_p": STREAM["pyradiomics"] + RISK,
    "mlp_d": STREAM["densenet"] + RISK,
    "if_g_p": STREAM["genomics"] + STREAM["pyradiomics"] + linear(128, 64) + RISK,
    "lf_g_p": STREAM["genomics"] + STREAM["pyradiomics"] + 2 * RISK + linear(2, 1),
    "if_g_d": STREAM["genomics"] + STREAM["densenet"] + linear(128, 64) + RISK,
    "lf_g_d": STREAM["genomics"] + STREAM["densenet"] + 2 * RISK + linear(2, 1),
    "block_g_p": STREAM["genomics"] + STREAM["pyradiomics"] + BLOCK + RISK,
    "mfh_g_p": STREAM["genomics"] + STREAM["pyradiomics"] + MFH + RISK,
    "block_g_d": STREAM["genomics"] + STREAM["densenet"] + BLOCK + RISK,
    "mfh_g_d": STREAM["genomics"] + STREAM["densenet"] + MFH + RISK,
    "if_g_p_d": sum(STREAM.values()) + linear(192, 64) + RISK,
    "lf_g_p_d": sum(STREAM.values()) + 3 * RISK + linear(3, 1),
}


def _net(name: str, n_configs: int, hyperparameters=NET_HYPERPARAMETERS):
    spec = get_spec(name)
    dims = {m: PAPER_DIMS[m] for m in spec.modalities}
    return build_net(spec.fusion, dims, hyperparameters, n_configs), dims


@pytest.mark.parametrize("name", sorted(EXPECTED_PARAMETERS))
def test_paper_sizes_give_the_expected_shapes_and_parameter_counts(name: str) -> None:
    net, dims = _net(name, n_configs=3)
    initialise(net, [0, 1, 2], seed=0)
    assert parameter_count(net) == EXPECTED_PARAMETERS[name]
    inputs = {m: torch.randn(5, d) for m, d in dims.items()}
    assert net(inputs).shape == (3, 5)
    noise = DropoutNoise(0.25, [0, 1, 2], seed=0)
    assert net(inputs, noise).shape == (3, 5)


def test_configurations_are_independent_networks() -> None:
    net, dims = _net("if_g_p", n_configs=3)
    initialise(net, [0, 1, 2], seed=4)
    inputs = {m: torch.randn(6, d) for m, d in dims.items()}
    before = net(inputs).detach()
    with torch.no_grad():
        for parameter in net.parameters():
            parameter[1].mul_(-3.0)
    after = net(inputs).detach()
    assert torch.equal(before[0], after[0]) and torch.equal(before[2], after[2])
    assert not torch.equal(before[1], after[1])


def test_an_initialisation_is_the_same_in_any_grid() -> None:
    grid, _ = _net("mlp_p", n_configs=4)
    initialise(grid, [0, 1, 0, 1], seed=9)
    alone, _ = _net("mlp_p", n_configs=1)
    initialise(alone, [1], seed=9)
    for (name, in_grid), single in zip(grid.named_parameters(), alone.parameters(), strict=True):
        assert torch.equal(in_grid[0], in_grid[2]), name
        assert torch.equal(in_grid[1], single[0]), name
        assert not torch.equal(in_grid[0], in_grid[1]), name


def test_dropout_masks_follow_the_initialisation_not_the_grid() -> None:
    ones = torch.ones(3, 7, 50)
    grid = DropoutNoise(0.25, [0, 1, 1], seed=2)
    first, second = grid(ones), grid(ones)
    alone = DropoutNoise(0.25, [1], seed=2)
    assert torch.equal(first[1], first[2])
    assert torch.equal(first[1], alone(ones[:1])[0])
    assert torch.equal(second[1], alone(ones[:1])[0])
    assert not torch.equal(first[0], first[1]) and not torch.equal(first[1], second[1])
    # kept units are scaled so the expectation is unchanged
    assert first.unique().tolist() == pytest.approx([0.0, 1 / 0.75])
    assert 0.15 < (first == 0).float().mean() < 0.35


def test_the_paper_relu_risk_layer_can_die_and_predict_a_constant() -> None:
    hyperparameters = {**NET_HYPERPARAMETERS, "output_activation": "relu"}
    net, dims = _net("mlp_p", n_configs=2, hyperparameters=hyperparameters)
    initialise(net, [0, 1], seed=0)
    with torch.no_grad():
        net.head.risk.linear.bias[0].fill_(-1e3)  # a dead output unit
        net.head.risk.linear.bias[1].fill_(1e3)  # a live one
    risk = net({m: torch.randn(8, d) for m, d in dims.items()}).detach()
    assert (risk[0] == 0).all() and risk[1].unique().numel() > 1


def test_sizes_and_fusions_are_checked() -> None:
    with pytest.raises(ArchitectureError, match="block fuses exactly two modalities, got 3"):
        build_net("block", PAPER_DIMS, NET_HYPERPARAMETERS)
    with pytest.raises(ArchitectureError, match="no network for fusion 'early'"):
        build_net("early", {"genomics": 500}, NET_HYPERPARAMETERS)
    with pytest.raises(ArchitectureError, match="output_activation must be one of"):
        build_net(
            "single", {"genomics": 5}, {**NET_HYPERPARAMETERS, "output_activation": "sigmoid"}
        )
    with pytest.raises(ArchitectureError, match="dropout probability"):
        DropoutNoise(1.0, [0], seed=0)
