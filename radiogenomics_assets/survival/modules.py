"""The paper's neural survival models as grids of independent networks (torch modules).

Every parameter carries a leading *configuration* axis of length ``C``: one module holds ``C``
networks of the same architecture, each with its own weights, and a forward pass evaluates all
of them on the same patients. Activations have shape ``(C, B, width)``; a risk output is
``(C, B)``. A single network is the same module with ``C = 1``; its ``state_dict`` is what a
model file stores. Inputs may be ``(B, d)``, shared by every configuration, or ``(C, B, d)``.

Notation of the paper (Section 4.1), ``F^{a:b}`` = fully connected ``a → b`` then ReLU:

* streams: ``f'_g = F^{256:64}(F^{500:256}(f_g))``, ``f'_d = F^{256:64}(F^{1024:256}(f_d))``,
  ``f'_p = F^{107:64}(f_p)`` (:class:`Stream`), dropout after every hidden ReLU;
* MLP: a stream, then the risk layer ``64 → 1`` (:class:`SingleHead`);
* IF: ``F^{64:1}(F^{128:64}([f'_x, f'_y]))`` (:class:`IntermediateHead`);
* LF: a risk ``64 → 1`` per stream, then a ``2 → 1`` (``3 → 1``) layer, trained jointly
  (:class:`LateJointHead`);
* BLOCK and MFH replace IF's concatenation and its ``F^{128:64}`` by a 64-d bilinear fusion
  (:class:`BlockFusion`, :class:`MFHFusion`), then the risk layer.

**Risk layer.** The paper's ``F^{64:1}`` ends in a ReLU. A ReLU on the risk output dies easily
(negative pre-activation on every patient): the risk is then constant, every pair is tied and the
C-index is exactly 0.50, as in several rows of the paper's Table 1(b). The default here is a
linear risk layer (``output_activation="linear"``); ``"relu"`` keeps the paper's. In LF the
per-stream risks use the same choice as the final layer.

Dropout comes from a :class:`DropoutNoise` passed to ``forward`` (``None`` = evaluation), so the
mask a configuration sees does not depend on which other configurations share the grid.
"""

from __future__ import annotations

import hashlib
import itertools
import math
from collections.abc import Mapping, Sequence
from typing import Literal, get_args

import torch
from torch import nn

OutputActivation = Literal["linear", "relu"]
OUTPUT_ACTIVATIONS: tuple[OutputActivation, ...] = get_args(OutputActivation)


class ArchitectureError(ValueError):
    """A network cannot be built from the given sizes or options."""


def derived_seed(*parts: object) -> int:
    """A 60-bit seed from ``parts`` (sha256), so each use of a run seed draws its own stream."""
    return int(hashlib.sha256(":".join(map(str, parts)).encode()).hexdigest()[:15], 16)


class DropoutNoise:
    """Dropout masks for a grid, drawn per initialisation stream (common random numbers).

    Configurations that share an initialisation index share its generator, so they see the same
    masks whatever else is in the grid, and a configuration trained alone sees exactly the masks
    it would see in the grid. Masks are drawn in forward order, one uniform tensor per stream.

    Args:
        p: drop probability.
        streams: the initialisation index of every configuration, length ``C``.
        seed: seeds the generators (one per stream, see :func:`derived_seed`).
        device: where masks are drawn.
    """

    def __init__(
        self, p: float, streams: Sequence[int], seed: int, device: torch.device | str = "cpu"
    ) -> None:
        if not 0.0 <= p < 1.0:
            raise ArchitectureError(f"dropout probability must be in [0, 1), got {p}")
        self.p = p
        self.device = torch.device(device)
        unique = sorted(set(streams))
        self._generators = [
            torch.Generator(device=self.device).manual_seed(derived_seed(seed, "dropout", stream))
            for stream in unique
        ]
        self._index = torch.tensor([unique.index(s) for s in streams], device=self.device)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` (``(C, B, width)``) with dropped units zeroed and the rest scaled by 1/(1−p)."""
        if self.p == 0.0:
            return x
        shape = x.shape[1:]
        uniform = torch.stack(
            [torch.rand(shape, generator=g, device=self.device) for g in self._generators]
        )
        keep = uniform.index_select(0, self._index) >= self.p
        return x * keep.to(x.dtype) / (1.0 - self.p)

    def keep(self, rows: torch.Tensor) -> None:
        """Go on with the configurations ``rows`` only; each keeps the masks it would have seen.

        Streams no configuration uses any more are no longer drawn: every stream has its own
        generator, so the others' masks do not depend on them.
        """
        streams = self._index.index_select(0, rows.to(self.device)).tolist()
        used = sorted(set(streams))
        self._generators = [self._generators[stream] for stream in used]
        self._index = torch.tensor([used.index(s) for s in streams], device=self.device)


def dropout(x: torch.Tensor, noise: DropoutNoise | None) -> torch.Tensor:
    return x if noise is None else noise(x)


class StackedLinear(nn.Module):
    """``C`` independent affine maps: ``(B, d_in)`` or ``(C, B, d_in)`` → ``(C, B, d_out)``.

    ``weight`` is ``(C, d_in, d_out)`` (input-major, so a batch is one batched matmul) and
    ``bias`` ``(C, 1, d_out)``. :func:`initialise` fills them as ``nn.Linear`` would
    (uniform in ±1/√d_in).
    """

    def __init__(self, n_configs: int, d_in: int, d_out: int) -> None:
        super().__init__()
        if min(n_configs, d_in, d_out) < 1:
            raise ArchitectureError(
                f"a layer needs positive sizes, got {n_configs} configs, {d_in} → {d_out}"
            )
        self.weight = nn.Parameter(torch.zeros(n_configs, d_in, d_out))
        self.bias = nn.Parameter(torch.zeros(n_configs, 1, d_out))
        self.weight.fan_in = self.bias.fan_in = d_in  # type: ignore[attr-defined]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim == 3:
            return torch.baddbmm(self.bias, x, self.weight)
        return torch.matmul(x, self.weight) + self.bias


class Stream(nn.Module):
    """One modality's encoder: fully connected layers, each followed by ReLU and dropout."""

    def __init__(self, n_configs: int, d_in: int, widths: Sequence[int]) -> None:
        super().__init__()
        if not widths:
            raise ArchitectureError("a stream needs at least one layer")
        sizes = [d_in, *widths]
        self.layers = nn.ModuleList(
            StackedLinear(n_configs, a, b) for a, b in itertools.pairwise(sizes)
        )
        self.width = sizes[-1]

    def forward(self, x: torch.Tensor, noise: DropoutNoise | None) -> torch.Tensor:
        for layer in self.layers:
            x = dropout(torch.relu(layer(x)), noise)
        return x


class RiskLayer(nn.Module):
    """``d → 1``, linear or ReLU (module docstring); returns ``(C, B)``."""

    def __init__(self, n_configs: int, d_in: int, activation: OutputActivation) -> None:
        super().__init__()
        if activation not in OUTPUT_ACTIVATIONS:
            raise ArchitectureError(
                f"output_activation must be one of {OUTPUT_ACTIVATIONS}, got {activation!r}"
            )
        self.linear = StackedLinear(n_configs, d_in, 1)
        self.activation = activation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        risk = self.linear(x).squeeze(-1)
        return torch.relu(risk) if self.activation == "relu" else risk


class SingleHead(nn.Module):
    """MLP(x): the risk layer on one stream."""

    def __init__(self, n_configs: int, widths: Sequence[int], activation: OutputActivation):
        super().__init__()
        if len(widths) != 1:
            raise ArchitectureError(f"a single-modality head takes one stream, got {len(widths)}")
        self.risk = RiskLayer(n_configs, widths[0], activation)

    def forward(self, parts: Sequence[torch.Tensor], noise: DropoutNoise | None) -> torch.Tensor:
        return self.risk(parts[0])


class IntermediateHead(nn.Module):
    """IF: concatenated streams → ``F^{Σ:64}`` → dropout → risk layer."""

    def __init__(
        self, n_configs: int, widths: Sequence[int], width: int, activation: OutputActivation
    ) -> None:
        super().__init__()
        self.hidden = StackedLinear(n_configs, sum(widths), width)
        self.risk = RiskLayer(n_configs, width, activation)

    def forward(self, parts: Sequence[torch.Tensor], noise: DropoutNoise | None) -> torch.Tensor:
        hidden = dropout(torch.relu(self.hidden(torch.cat(list(parts), dim=-1))), noise)
        return self.risk(hidden)


class LateJointHead(nn.Module):
    """LF: one risk per stream, combined by a trained ``k → 1`` layer; all trained together."""

    def __init__(self, n_configs: int, widths: Sequence[int], activation: OutputActivation):
        super().__init__()
        self.stream_risks = nn.ModuleList(RiskLayer(n_configs, w, activation) for w in widths)
        self.combine = RiskLayer(n_configs, len(widths), activation)

    def forward(self, parts: Sequence[torch.Tensor], noise: DropoutNoise | None) -> torch.Tensor:
        risks = [layer(part) for layer, part in zip(self.stream_risks, parts, strict=True)]
        return self.combine(torch.stack(risks, dim=-1))


class BlockFusion(nn.Module):
    """BLOCK (Ben-Younes et al., AAAI 2019): a block-superdiagonal bilinear fusion of two vectors.

    The paper's ``BLOCK(f_x, f_y) = ReLU((Σ_{r=1}^{R} D_r ×1 X_r ×2 Y_r ×3 T_r) ×1 f'_x ×2 f'_y)``
    is a bilinear map whose 3-way tensor is a sum of ``R`` block terms. Here: ``X = [X_1 … X_R]``
    projects ``f'_x`` to ``R`` chunks of size ``L`` (``x_proj``), ``Y`` projects ``f'_y`` to ``R``
    chunks of size ``M`` (``y_proj``), each core ``D_r`` (``L × M × N``, ``core``) combines its
    chunk pair into ``N`` values, and ``T = [T_1 … T_R]`` (``out``) maps the ``R·N`` block outputs
    to the fusion width, followed by the ReLU. ``R = terms`` (15, as the paper), ``L = M = N =
    size``. The projections and ``T`` carry biases, as in Ben-Younes et al.'s implementation; the
    cores are full tensors (no further rank constraint) and no power or L2 normalisation is
    applied, as the paper's equation has none.
    """

    def __init__(
        self, n_configs: int, d_x: int, d_y: int, d_out: int, *, terms: int, size: int
    ) -> None:
        super().__init__()
        if terms < 1 or size < 1:
            raise ArchitectureError(f"BLOCK needs terms ≥ 1 and size ≥ 1, got {terms}, {size}")
        self.terms, self.size = terms, size
        self.x_proj = StackedLinear(n_configs, d_x, terms * size)
        self.y_proj = StackedLinear(n_configs, d_y, terms * size)
        self.core = nn.Parameter(torch.zeros(n_configs, terms, size * size, size))
        self.core.fan_in = size * size  # type: ignore[attr-defined]
        self.out = StackedLinear(n_configs, terms * size, d_out)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        n_configs, batch = x.shape[0], x.shape[1]
        r, s = self.terms, self.size
        # Term-major chunks (C, R, B, s), made contiguous while they are small, so that the
        # large outer products below are laid out as the core's matmul reads them.
        xr = self.x_proj(x).view(n_configs, batch, r, s).transpose(1, 2).contiguous()
        yr = self.y_proj(y).view(n_configs, batch, r, s).transpose(1, 2).contiguous()
        # outer[c, r, b, l·m] = x̃_r[l] ỹ_r[m]: each block's bilinear form is then one matmul.
        outer = (xr[..., :, None] * yr[..., None, :]).view(n_configs, r, batch, s * s)
        blocks = torch.matmul(outer, self.core)  # (C, R, B, N)
        fused = blocks.transpose(1, 2).reshape(n_configs, batch, r * s)
        return torch.relu(self.out(fused))


class MFHFusion(nn.Module):
    """MFH (Yu et al., IEEE TNNLS 2018): multi-modal factorised high-order pooling, order 2.

    The paper's ``MFH(f_x, f_y) = F_0^{2l:64}([z_0, z_0 ∘ z_1])`` with
    ``z_0 = F_1^{64:l}(f'_x) ∘ F_2^{64:l}(f'_y)`` and ``z_1 = F_3^{64:l}(f'_x) ∘ F_4^{64:l}(f'_y)``
    (``∘`` elementwise; the paper prints ``F_2^{256:l}`` and ``F_0^{l:64}``, but ``f'_y`` is 64-d
    and ``[z_0, z_0 ∘ z_1]`` is ``2l``-d). In Yu et al.'s terms ``z_0`` is the first MFB block's
    expanded vector, ``z_0 ∘ z_1`` the second's (the cascade that makes the pooling high-order,
    ``p = 2``), with factor ``k = 1`` (no sum pooling) and without their power and L2
    normalisation, as the paper's equation. ``F_1 … F_4`` are ``first_x, first_y, second_x,
    second_y``; ``F_0`` is ``out``; ``l = width`` (1200).
    """

    def __init__(self, n_configs: int, d_x: int, d_y: int, d_out: int, *, width: int) -> None:
        super().__init__()
        self.first_x = StackedLinear(n_configs, d_x, width)
        self.first_y = StackedLinear(n_configs, d_y, width)
        self.second_x = StackedLinear(n_configs, d_x, width)
        self.second_y = StackedLinear(n_configs, d_y, width)
        self.out = StackedLinear(n_configs, 2 * width, d_out)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        z0 = torch.relu(self.first_x(x)) * torch.relu(self.first_y(y))
        z1 = torch.relu(self.second_x(x)) * torch.relu(self.second_y(y))
        return torch.relu(self.out(torch.cat([z0, z0 * z1], dim=-1)))


class BilinearHead(nn.Module):
    """BLOCK or MFH fusion of two streams → dropout → risk layer."""

    def __init__(self, fusion: BlockFusion | MFHFusion, width: int, activation: OutputActivation):
        super().__init__()
        self.fusion = fusion
        self.risk = RiskLayer(fusion.out.weight.shape[0], width, activation)

    def forward(self, parts: Sequence[torch.Tensor], noise: DropoutNoise | None) -> torch.Tensor:
        if len(parts) != 2:
            raise ArchitectureError(f"BLOCK and MFH fuse exactly two streams, got {len(parts)}")
        return self.risk(dropout(self.fusion(parts[0], parts[1]), noise))


class SurvivalNet(nn.Module):
    """Streams (one per modality, in order) feeding a head; ``forward`` returns ``(C, B)`` risks."""

    def __init__(self, streams: Mapping[str, Stream], head: nn.Module) -> None:
        super().__init__()
        self.modalities = tuple(streams)
        self.streams = nn.ModuleDict(dict(streams))
        self.head = head

    def forward(
        self, inputs: Mapping[str, torch.Tensor], noise: DropoutNoise | None = None
    ) -> torch.Tensor:
        parts = [self.streams[m](inputs[m], noise) for m in self.modalities]
        return self.head(parts, noise)


def build_net(
    fusion: str,
    input_dims: Mapping[str, int],
    hyperparameters: Mapping[str, object],
    n_configs: int = 1,
) -> SurvivalNet:
    """The network of a registry spec, with ``n_configs`` configurations (weights all zero).

    Args:
        fusion: ``single``, ``intermediate``, ``late_joint``, ``block`` or ``mfh``.
        input_dims: per modality (in the spec's order), the input width.
        hyperparameters: ``stream_widths`` (per modality), ``fusion_width``,
            ``output_activation``, ``block_terms``, ``block_size``, ``mfh_width``.
        n_configs: configurations in the grid.

    Raises:
        ArchitectureError: the fusion is unknown or does not fit the number of modalities.
    """
    stream_widths = hyperparameters["stream_widths"]
    if not isinstance(stream_widths, Mapping):
        raise ArchitectureError(f"stream_widths must map modality → widths, got {stream_widths!r}")
    missing = [m for m in input_dims if m not in stream_widths]
    if missing:
        raise ArchitectureError(f"no stream widths for {missing}")
    streams = {
        m: Stream(n_configs, d, [int(w) for w in stream_widths[m]]) for m, d in input_dims.items()
    }
    widths = [stream.width for stream in streams.values()]
    activation = str(hyperparameters["output_activation"])
    fusion_width = int(hyperparameters["fusion_width"])  # type: ignore[call-overload]
    head: nn.Module
    if fusion == "single":
        head = SingleHead(n_configs, widths, activation)  # type: ignore[arg-type]
    elif fusion == "intermediate":
        head = IntermediateHead(n_configs, widths, fusion_width, activation)  # type: ignore[arg-type]
    elif fusion == "late_joint":
        head = LateJointHead(n_configs, widths, activation)  # type: ignore[arg-type]
    elif fusion in ("block", "mfh"):
        if len(widths) != 2:
            raise ArchitectureError(f"{fusion} fuses exactly two modalities, got {len(widths)}")
        bilinear: BlockFusion | MFHFusion
        if fusion == "block":
            bilinear = BlockFusion(
                n_configs,
                *widths,
                fusion_width,
                terms=int(hyperparameters["block_terms"]),  # type: ignore[call-overload]
                size=int(hyperparameters["block_size"]),  # type: ignore[call-overload]
            )
        else:
            bilinear = MFHFusion(
                n_configs,
                *widths,
                fusion_width,
                width=int(hyperparameters["mfh_width"]),  # type: ignore[call-overload]
            )
        head = BilinearHead(bilinear, fusion_width, activation)  # type: ignore[arg-type]
    else:
        raise ArchitectureError(f"no network for fusion {fusion!r}")
    return SurvivalNet(streams, head)


def initialise(net: nn.Module, streams: Sequence[int], seed: int) -> None:
    """Fill every parameter as ``nn.Linear`` would: uniform in ±1/√fan_in.

    Configurations with the same initialisation index get the same values, drawn on the CPU
    from a generator seeded by ``(seed, index)`` in parameter order, so an initialisation is the
    same whatever grid it is part of and whatever device trains it.
    """
    index = torch.tensor(list(streams))
    if len(index) != next(iter(net.parameters())).shape[0]:
        raise ArchitectureError(
            f"{len(index)} initialisation indices for a grid of "
            f"{next(iter(net.parameters())).shape[0]} configurations"
        )
    with torch.no_grad():
        for stream in sorted(set(streams)):
            generator = torch.Generator().manual_seed(derived_seed(seed, "init", stream))
            rows = (index == stream).nonzero().flatten()
            for parameter in net.parameters():
                bound = 1.0 / math.sqrt(parameter.fan_in)  # type: ignore[attr-defined]
                values = torch.empty(parameter.shape[1:]).uniform_(
                    -bound, bound, generator=generator
                )
                parameter[rows.to(parameter.device)] = values.to(parameter.device, parameter.dtype)


def parameter_count(net: nn.Module) -> int:
    """Trainable parameters of one configuration."""
    return sum(p[0].numel() for p in net.parameters())
