"""The least time one training step of each net's grid can take on this machine, beside its time.

For each net of the registry, one SGD step of its 25-configuration grid (the paper's protocol,
as ``train_grid`` trains it) does two kinds of work that this machine can only do so fast:

* matmul work: the step's matrix-product FLOPs (forward and backward, with the validation
  checks amortised per step), counted by torch's ``FlopCounterMode`` over two run lengths so
  that one-time setup (row-space SVD, anchors, materialising the chosen net) cancels, at the
  peak float32 GFLOP/s of a large square ``torch.matmul``;
* the SGD update: every parameter element of the grid is read as parameter, gradient and
  momentum and written as parameter and momentum (5 × 4 bytes), at the bandwidth of a streaming
  add over arrays far larger than any cache (3 arrays counted, as STREAM does).

Their sum is the floor; the measured step time (``train_grid``'s loop wall / steps, best of two)
is reported as a ratio to it, so later figures can say how far from the limit they are. The
floor is a DRAM and peak-FLOP bound only: the per-op dispatch overhead that dominates small nets,
element-wise work (ReLU, dropout, the loss), batch sampling and cache effects are not in it, so
a small net can sit far above its floor without any waste a faster kernel could remove. Both
machine figures are the best of several repeats, since a shared machine only slows a run down.

    .venv/bin/python benchmarks/neural_floor.py [--steps 200] [--models mlp_g,mfh_g_d]

Prints the machine figures and a table, then ``worst_ratio_to_floor=<ratio>`` as its last line
(the largest measured/floor ratio over the nets run).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import time
from collections.abc import Callable
from functools import partial

import torch
from neural_grid import WIDTHS, fixed_steps, synthetic_fold
from torch.utils.flop_counter import FlopCounterMode

from radiogenomics_assets.survival.modules import SurvivalNet, build_net, initialise
from radiogenomics_assets.survival.protocol import NetTraining
from radiogenomics_assets.survival.registry import MODEL_REGISTRY, get_spec
from radiogenomics_assets.survival.training import GridData, _reparametrise, train_grid

SEED = 1
#: Run lengths whose FLOP difference is the per-step work (setup cancels, checks amortise).
FLOP_STEPS = (50, 100)
#: Bytes per parameter element per SGD step: read parameter, gradient, momentum; write
#: parameter, momentum (float32).
UPDATE_BYTES = 5 * 4
Build = Callable[[int], SurvivalNet]


def cpu_model() -> str:
    """The CPU's marketing name (``platform.processor()`` is empty on most Linux systems)."""
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def best_seconds(work: Callable[[], object], repeats: int) -> float:
    """Shortest of ``repeats`` timed calls, after one untimed warm-up call."""
    work()
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - started)
    return best


def peak_gflops(size: int = 2048, repeats: int = 5) -> float:
    """Float32 GFLOP/s of a ``size``² matmul at torch's default threads (2·n³ FLOPs)."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    out = torch.empty(size, size)
    seconds = best_seconds(lambda: torch.matmul(a, b, out=out), repeats)
    return 2 * size**3 / seconds / 1e9


def bandwidth_gbs(megabytes: int = 256, repeats: int = 5) -> float:
    """GB/s of ``a = b + 0.5 c`` over three float32 arrays of ``megabytes`` each (2 reads and
    1 write counted, no write-allocate traffic, as the update bytes are counted)."""
    n = megabytes * 2**20 // 4
    # Filled, not empty: the pages are faulted in before anything is timed.
    a, b, c = torch.zeros(n), torch.ones(n), torch.full((n,), 2.0)
    seconds = best_seconds(lambda: torch.add(b, c, alpha=0.5, out=a), repeats)
    return 3 * 4 * n / seconds / 1e9


def flops_per_step(build: Build, fold: GridData) -> float:
    """Matmul FLOPs of one training step: the difference of two run lengths, per step."""
    totals = []
    for steps in FLOP_STEPS:
        with FlopCounterMode(display=False) as counter:
            train_grid(build, fold, fixed_steps(steps), seed=SEED)
        totals.append(counter.get_total_flops())
    return (totals[1] - totals[0]) / (FLOP_STEPS[1] - FLOP_STEPS[0])


def grid_elements(build: Build, fold: GridData) -> int:
    """Parameter elements of the whole grid as ``train_grid`` updates them (first layers
    reparametrised on the training rows, so fewer than the plain network's)."""
    configs = NetTraining().configs()
    net = build(len(configs))
    initialise(net, [c.initialisation for c in configs], SEED)
    _reparametrise(net, fold, torch.device("cpu"))
    return sum(p.numel() for p in net.parameters())


def step_ms(build: Build, fold: GridData, steps: int, repeats: int = 2) -> float:
    """Measured milliseconds per step: the training loop's wall / steps, best of ``repeats``."""
    training = fixed_steps(steps)
    seconds = min(train_grid(build, fold, training, seed=SEED).seconds for _ in range(repeats))
    return 1e3 * seconds / steps


def machine_line(gflops: float, gbs: float) -> str:
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return (
        f"{cpu_model()}, {os.cpu_count()} cores, torch {torch.__version__} "
        f"({torch.get_num_threads()} threads); peak {gflops:.1f} GFLOP/s (float32 matmul), "
        f"bandwidth {gbs:.1f} GB/s (streaming add); load average {load}"
    )


def main() -> None:
    nets = [spec.name for spec in MODEL_REGISTRY if spec.estimator == "net"]
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--models", default=",".join(nets))
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    gflops, gbs = peak_gflops(), bandwidth_gbs()
    print(machine_line(gflops, gbs))
    print(f"{len(NetTraining().configs())} configurations, batch {NetTraining().batch_size}")
    header = (
        f"{'model':<10} {'params M':>9} {'GFLOP/step':>11} {'matmul ms':>10} {'update ms':>10} "
        f"{'floor ms':>9} {'measured ms':>12} {'ratio':>7}"
    )
    print(header)
    print("-" * len(header))
    data = synthetic_fold()
    worst = 0.0
    for name in args.models.split(","):
        spec = get_spec(name)
        fold = dataclasses.replace(data, features={m: data.features[m] for m in spec.modalities})
        build = partial(
            build_net, spec.fusion, {m: WIDTHS[m] for m in spec.modalities}, spec.hyperparameters
        )
        flops = flops_per_step(build, fold)
        elements = grid_elements(build, fold)
        matmul_ms = 1e3 * flops / (gflops * 1e9)
        update_ms = 1e3 * UPDATE_BYTES * elements / (gbs * 1e9)
        floor_ms = matmul_ms + update_ms
        measured = step_ms(build, fold, args.steps)
        worst = max(worst, measured / floor_ms)
        print(
            f"{name:<10} {elements / 1e6:>9.2f} {flops / 1e9:>11.3f} {matmul_ms:>10.3f} "
            f"{update_ms:>10.3f} {floor_ms:>9.3f} {measured:>12.2f} {measured / floor_ms:>6.1f}×",
            flush=True,
        )
    print("-" * len(header))
    print("load average at the end: " + " ".join(f"{x:.2f}" for x in os.getloadavg()))
    print(f"worst_ratio_to_floor={worst:.2f}")


if __name__ == "__main__":
    main()
