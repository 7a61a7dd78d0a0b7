"""One fold of the neural nets, trained as the product trains them: wall time and test C per net.

Every net of the registry (or ``--models``) is trained on one fold with the full paper protocol
(``NetTraining()``: the 25-configuration grid, early stopping on, up to 3000 steps), so a net's
wall is what its model partition costs, early stopping included.

With ``--store`` (a materialized ``make demo`` store, opened read-only) the inputs are the ones a
model asset reads for the fold's net partition: the feature tables of its modalities made into
blocks by the asset's own functions, the usable outcomes, the fold's splits under the nets'
protocol and the store's seed, passed to ``fit_predict``: preprocessing, training and prediction
all count. Without it the data are ``neural_grid.synthetic_fold()`` (111 patients: 78 train,
11 validation, the last 22 test), trained by ``train_grid`` directly; its test C is that of the
chosen network on the 22 test rows. Loading the store is not timed.

    .venv/bin/python benchmarks/neural_fold.py [--store PATH] [--fold fold_1] [--repeat 2]
        [--models mlp_p,mfh_g_d] [--device cpu]

Prints a table (wall s, training-loop s, the chosen configuration's steps, the longest
configuration's steps, test C), then ``fold_wall_s=<total wall of the nets>`` as its last line.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial

import duckdb
import pandas as pd
import torch
from neural_floor import cpu_model
from neural_grid import WIDTHS, synthetic_fold

from radiogenomics_assets.defs.assets.modeling import FEATURE_SOURCES
from radiogenomics_assets.defs.names import COHORT, MODELING
from radiogenomics_assets.store.database import read_table
from radiogenomics_assets.survival.fitting import fit_predict
from radiogenomics_assets.survival.metrics import harrell_c_index
from radiogenomics_assets.survival.modules import build_net
from radiogenomics_assets.survival.protocol import NetTraining
from radiogenomics_assets.survival.registry import MODEL_REGISTRY, ModelSpec, get_spec
from radiogenomics_assets.survival.splits import cv_fold_name, fold_number
from radiogenomics_assets.survival.study_protocol import (
    NET_PROTOCOL,
    complete_genes,
    study_protocol,
)
from radiogenomics_assets.survival.targets import make_target
from radiogenomics_assets.survival.training import GridResult, train_grid

#: The product's default seed (``ModelingSettings.seed``), for the synthetic fold.
SYNTHETIC_SEED = 2020
#: The synthetic fold's test patients: those after its 78 train and 11 validation rows.
SYNTHETIC_TEST = slice(89, 111)


@dataclass(frozen=True)
class StoreInputs:
    """What a net's model asset reads for one fold, read once for every net."""

    blocks: Mapping[str, pd.DataFrame]
    outcomes: pd.DataFrame
    splits: pd.DataFrame
    seed: int


@dataclass(frozen=True)
class NetRun:
    """One net trained on the fold."""

    wall: float
    grid: GridResult
    test_c: float


def fold_name(fold: str, repeat: int | None) -> str:
    """``fold`` as named in the store, moved to ``repeat`` when one is given."""
    return fold if repeat is None else cv_fold_name(repeat, fold_number(fold))


def read_store(path: str, fold: str, modalities: set[str]) -> StoreInputs:
    """The asset's inputs: feature blocks (after the nets' gene rule), usable outcomes, the
    fold's splits under the nets' protocol, and the seed the folds were drawn with."""
    with duckdb.connect(path, read_only=True) as conn:
        splits = read_table(conn, MODELING, "fold_splits")
        outcomes = read_table(conn, COHORT, "outcomes")
        seeds = read_table(conn, MODELING, "fold_assignment")["seed"].unique()
        tables = {m: read_table(conn, *FEATURE_SOURCES[m][0]) for m in modalities}
    splits = splits[(splits["fold"] == fold) & (splits["protocol"] == NET_PROTOCOL)]
    if splits.empty:
        raise SystemExit(f"{path} has no splits of {fold} under the {NET_PROTOCOL} protocol")
    if len(seeds) != 1:
        raise SystemExit(f"{path}: modeling.fold_assignment holds seeds {list(seeds)}, not one")
    if "genomics" in tables and study_protocol(NET_PROTOCOL).complete_genes_only:
        tables["genomics"] = complete_genes(tables["genomics"])
    return StoreInputs(
        blocks={m: FEATURE_SOURCES[m][1](table) for m, table in tables.items()},
        outcomes=outcomes[outcomes["outcome_problem"].isna()][["patient_id", "event", "days"]],
        splits=splits.drop(columns="protocol"),
        seed=int(seeds[0]),
    )


def run_store(spec: ModelSpec, inputs: StoreInputs, training: NetTraining) -> NetRun:
    """``fit_predict`` as the model asset calls it for a net."""
    started = time.perf_counter()
    fitted = fit_predict(
        spec,
        {m: inputs.blocks[m] for m in spec.modalities},
        inputs.outcomes,
        inputs.splits,
        seed=inputs.seed,
        net_training=training,
    )
    return NetRun(time.perf_counter() - started, fitted.grid, fitted.test_c_index)


def run_synthetic(spec: ModelSpec, training: NetTraining) -> NetRun:
    """``train_grid`` on the synthetic fold, then the chosen network's C on its test rows."""
    data = synthetic_fold()
    fold = dataclasses.replace(data, features={m: data.features[m] for m in spec.modalities})
    dims = {m: WIDTHS[m] for m in spec.modalities}
    build = partial(build_net, spec.fusion, dims, spec.hyperparameters)
    started = time.perf_counter()
    grid = train_grid(build, fold, training, seed=SYNTHETIC_SEED, where=f"{spec.name} synthetic")
    net = build(1)
    net.load_state_dict(grid.state_dict)
    with torch.no_grad():
        risk = net.eval()({m: x[SYNTHETIC_TEST] for m, x in fold.features.items()})[0]
    wall = time.perf_counter() - started
    target = make_target(data.event[SYNTHETIC_TEST].numpy(), data.time[SYNTHETIC_TEST].numpy())
    return NetRun(wall, grid, harrell_c_index(target, risk.double().numpy(), where="test"))


def row(name: str, run: NetRun) -> str:
    longest = max(outcome.steps for outcome in run.grid.outcomes)
    return (
        f"{name:<10} {run.wall:>8.1f} {run.grid.seconds:>8.1f} "
        f"{run.grid.chosen_outcome.steps:>13} {longest:>14} {run.test_c:>7.3f}"
    )


def main() -> None:
    nets = [spec.name for spec in MODEL_REGISTRY if spec.estimator == "net"]
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", help="a materialized DuckDB store (default: synthetic data)")
    parser.add_argument("--fold", default="fold_1")
    parser.add_argument("--repeat", type=int, help="--fold's number in this repeat")
    parser.add_argument("--models", default=",".join(nets))
    parser.add_argument("--device", default="cpu", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    specs = [get_spec(name) for name in args.models.split(",")]
    training = NetTraining(device=args.device)
    if args.store:
        fold = fold_name(args.fold, args.repeat)
        inputs = read_store(args.store, fold, {m for spec in specs for m in spec.modalities})
        source = f"{args.store}, {fold} ({NET_PROTOCOL}), seed {inputs.seed}"
        run = partial(run_store, inputs=inputs, training=training)
    else:
        source = "synthetic fold (78 train / 11 validation / 22 test), test C on the 22"
        run = partial(run_synthetic, training=training)
    print(
        f"{cpu_model()}, {os.cpu_count()} cores, "
        f"torch {torch.__version__} ({torch.get_num_threads()} threads), device {args.device}; "
        f"{source}"
    )
    header = f"{'model':<10} {'wall s':>8} {'train s':>8} {'chosen steps':>13} "
    header += f"{'longest steps':>14} {'test C':>7}"
    print(header)
    print("-" * len(header))
    total = 0.0
    for spec in specs:
        result = run(spec)
        total += result.wall
        print(row(spec.name, result), flush=True)
    print("-" * len(header))
    print(f"fold_wall_s={total:.1f}")


if __name__ == "__main__":
    main()
