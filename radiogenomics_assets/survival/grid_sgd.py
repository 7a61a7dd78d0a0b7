"""SGD with momentum and coupled weight decay for a grid of configurations, in one pass.

Every parameter of a grid carries the configuration axis first, and each configuration has its
own weight decay. The update of one element is ``v ← μ v + g + λ p; p ← p − η v``: it reads
the parameter, gradient and momentum and writes the parameter and momentum, five numbers of
memory traffic, which is what the update of a large network costs. Three elementwise passes
(``_sgd_step``) move nine. torch's fused SGD kernel moves five, but takes one weight decay: the
grid is ordered weight decay first, so the configurations that share a decay are a contiguous
run of rows and one fused call updates each run.

**Exactness.** A configuration's update must not depend on where its row lies in the grid, so
that trained alone it follows its grid trajectory (up to the batched matmuls' rounding). The
fused CPU kernel computes whole SIMD vectors (with fused multiply-adds) and a scalar tail
(without them), splitting work at cache-line multiples, so an element's rounding would depend
on where it lies when a tensor's length is not a multiple of the vector width. A parameter is
therefore updated by the fused kernel only when one configuration's slice is a multiple of 16
elements (one 64-byte line of float32, a whole number of vectors on every CPU torch supports):
then every element, in any run of rows, is computed by the vector path. The few small
parameters left (risk biases, late-fusion weights, the row-space scale) take the three passes,
which have no fused multiply-adds and round the same everywhere.

**When.** The fused kernel pays only where the grid's state outgrows the cache (``_FUSED_FROM``),
so small grids, and a configuration trained alone, take the three passes everywhere; a large
grid and the same configuration alone then differ by the rounding of a fused multiply-add, as
they already do by that of the batched matmuls. Without the fused kernel (another torch build)
everything takes the three passes.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import groupby

import torch

#: Elements per configuration that make a parameter's every run of rows whole SIMD vectors.
_WHOLE_VECTORS = 16
#: Grid elements (of the parameters the fused kernel may update) from which it is used: a
#: smaller grid's parameters, gradients and momentum (3 × 4 bytes each) fit in a last-level
#: cache, where the three passes are cheap and the fused calls' fixed cost wins. On 2 cores
#: (AMD EPYC, 32 MiB L3) the MFH and BLOCK grids (4–14 M elements) gain 30–40 % of their update,
#: the MLP, IF and LF grids (0.1–2 M) lose up to 3 × of theirs.
_FUSED_FROM = 2**21
_FUSED = getattr(torch, "_fused_sgd_", None)


def _sgd_step(
    parameters: Sequence[torch.Tensor],
    buffers: Sequence[torch.Tensor],
    decays: Sequence[torch.Tensor],
    learning_rate: float,
    momentum: float,
) -> None:
    """The update in three elementwise passes per tensor, in place.

    ``decays`` are per-configuration factors shaped to broadcast over each parameter. A
    parameter without a gradient (the row-space scale) is decayed only.
    """
    for parameter, buffer, decay in zip(parameters, buffers, decays, strict=True):
        if parameter.grad is None:
            buffer.mul_(momentum).addcmul_(parameter, decay)
        else:
            gradient = parameter.grad.addcmul_(parameter, decay)
            torch.add(gradient, buffer, alpha=momentum, out=buffer)
        parameter.add_(buffer, alpha=-learning_rate)


def _fusable(parameter: torch.Tensor) -> bool:
    return parameter.requires_grad and parameter[0].numel() % _WHOLE_VECTORS == 0


def _broadcast(decay: torch.Tensor, parameter: torch.Tensor) -> torch.Tensor:
    return decay.view((-1,) + (1,) * (parameter.ndim - 1))


class GridSgd:
    """The optimiser state of a grid's live configurations (module docstring).

    Args:
        parameters: the grid's parameters, configuration axis first.
        decay: the weight decay of every configuration, in grid order.
        learning_rate, momentum: shared by every configuration.
    """

    def __init__(
        self,
        parameters: Sequence[torch.Tensor],
        decay: torch.Tensor,
        learning_rate: float,
        momentum: float,
    ) -> None:
        self.learning_rate, self.momentum = learning_rate, momentum
        self.decay = decay
        self.buffers = [torch.zeros_like(p) for p in parameters]
        fusable = sum(p.numel() for p in parameters if _fusable(p))
        # Decided once for the run: a grid narrowed by early stopping keeps its kernel.
        self.use_fused = _FUSED is not None and fusable >= _FUSED_FROM
        self._arrange(parameters)

    def keep(self, parameters: Sequence[torch.Tensor], rows: torch.Tensor) -> None:
        """Go on with the configurations ``rows`` only; ``parameters`` are already narrowed."""
        self.decay = self.decay.index_select(0, rows)
        self.buffers = [buffer.index_select(0, rows) for buffer in self.buffers]
        self._arrange(parameters)

    def _arrange(self, parameters: Sequence[torch.Tensor]) -> None:
        pairs = list(zip(parameters, self.buffers, strict=True))
        fused = [(p, b) for p, b in pairs if self.use_fused and _fusable(p)]
        self.fused = [p for p, _ in fused]
        self.fused_buffers = [b for _, b in fused]
        rest = [(p, b) for p, b in pairs if not (self.use_fused and _fusable(p))]
        self.rest = [p for p, _ in rest]
        self.rest_buffers = [b for _, b in rest]
        self.rest_decays = [_broadcast(self.decay, p) for p in self.rest]
        # Runs of consecutive rows with one weight decay: (start, stop, decay).
        self.runs: list[tuple[int, int, float]] = []
        start = 0
        for decay, run in groupby(self.decay.tolist()):
            stop = start + len(list(run))
            self.runs.append((start, stop, decay))
            start = stop

    def step(self) -> None:
        """One update of every live configuration from the parameters' ``.grad``."""
        if self.fused:
            gradients = [p.grad for p in self.fused]
            for start, stop, decay in self.runs:
                _FUSED(
                    [p[start:stop] for p in self.fused],
                    [g[start:stop] for g in gradients],
                    [b[start:stop] for b in self.fused_buffers],
                    weight_decay=decay,
                    momentum=self.momentum,
                    lr=self.learning_rate,
                    dampening=0.0,
                    nesterov=False,
                    maximize=False,
                    is_first_step=False,
                )
        _sgd_step(self.rest, self.rest_buffers, self.rest_decays, self.learning_rate, self.momentum)
