"""The neural grid trained configuration by configuration and batched, side by side in one run.

For each net of the registry, the same (weight decay × initialisation) configurations are
trained twice on the same data for exactly ``--steps`` SGD steps each (early stopping disabled:
``min_steps = max_steps = steps``): once one configuration at a time (a Python loop, each a
one-configuration grid), once as one batched grid. Both use the same code path otherwise, so the
ratio is what batching alone buys. The data are synthetic with the paper's widths (500 genes,
107 radiomic, 1024 DenseNet features; 111 patients, 78 train / 11 validation), so anyone can
rerun this without a materialized store.

    .venv/bin/python benchmarks/neural_grid.py [--steps 200] [--models mlp_g,mfh_g_d]

Prints a table, then ``batched_speedup=<total sequential / total batched>`` as its last line.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import time
from functools import partial

import numpy as np
import torch

from radiogenomics_assets.survival.modules import build_net
from radiogenomics_assets.survival.protocol import NetTraining
from radiogenomics_assets.survival.registry import MODEL_REGISTRY, get_spec
from radiogenomics_assets.survival.training import GridData, train_grid

WIDTHS = {"genomics": 500, "pyradiomics": 107, "densenet": 1024}


def synthetic_fold(seed: int = 0, n: int = 111) -> GridData:
    generator = np.random.default_rng(seed)
    features = {m: generator.normal(size=(n, d)).astype(np.float32) for m, d in WIDTHS.items()}
    hazard = np.exp(features["genomics"][:, :5].mean(axis=1) + features["pyradiomics"][:, 0])
    time_ = np.ceil(1000 * generator.exponential(1 / hazard)) + 1
    censor = generator.uniform(300, 3500, size=n)
    return GridData(
        features={m: torch.from_numpy(v) for m, v in features.items()},
        event=torch.from_numpy(time_ <= censor),
        time=torch.from_numpy(np.minimum(time_, censor)),
        train_rows=torch.arange(78),
        validation_rows=torch.arange(78, 89),
    )


def fixed_steps(steps: int, device: str = "cpu") -> NetTraining:
    """The paper's protocol with early stopping off: exactly ``steps`` steps per configuration."""
    paper = NetTraining()
    return dataclasses.replace(
        paper,
        min_steps=steps,
        max_steps=steps,
        patience=steps,
        eval_every=min(paper.eval_every, steps),
        device=device,
    )


def main() -> None:
    nets = [spec.name for spec in MODEL_REGISTRY if spec.estimator == "net"]
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--models", default=",".join(nets))
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    args = parser.parse_args()

    training = fixed_steps(args.steps, args.device)
    data = synthetic_fold()
    configs = training.configs()
    print(
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"torch {torch.__version__} ({torch.get_num_threads()} threads), device {args.device}; "
        f"{len(configs)} configurations × {args.steps} steps of batch {training.batch_size}"
    )
    header = f"{'model':<10} {'sequential s':>13} {'batched s':>10} {'speedup':>8}  same val C"
    print(header)
    print("-" * len(header))
    total_sequential = total_batched = 0.0
    for name in args.models.split(","):
        spec = get_spec(name)
        dims = {m: WIDTHS[m] for m in spec.modalities}
        fold = dataclasses.replace(data, features={m: data.features[m] for m in spec.modalities})
        build = partial(build_net, spec.fusion, dims, spec.hyperparameters)
        started = time.perf_counter()
        alone = [train_grid(build, fold, training, seed=1, configs=[c]) for c in configs]
        sequential = time.perf_counter() - started
        started = time.perf_counter()
        batched = train_grid(build, fold, training, seed=1)
        batched_s = time.perf_counter() - started
        same = all(
            result.outcomes[0].best_validation_c == batched.outcomes[i].best_validation_c
            for i, result in enumerate(alone)
        )
        total_sequential += sequential
        total_batched += batched_s
        print(
            f"{name:<10} {sequential:>13.1f} {batched_s:>10.1f} {sequential / batched_s:>7.1f}×"
            f"  {'yes' if same else 'NO'}",
            flush=True,
        )
    print("-" * len(header))
    print(
        f"{'all':<10} {total_sequential:>13.1f} {total_batched:>10.1f} "
        f"{total_sequential / total_batched:>7.1f}×"
    )
    print(f"batched_speedup={total_sequential / total_batched:.2f}")


if __name__ == "__main__":
    main()
