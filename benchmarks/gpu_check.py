"""The GPU path, proven: every net and DenseNet-121 on CUDA and on CPU, side by side.

``settings.net.device=cuda`` and DenseNet extraction on CUDA are code paths the 2-core CI
machine never runs, so this one short script runs them on a rented GPU machine, offline, and
prints what a reviewer needs to believe them:

1. Neural grid: one fold of each of the 13 registered nets, the paper's protocol
   (``NetTraining(device=...)``, early stopping on), on ``neural_grid.synthetic_fold()``'s
   111 synthetic patients with the paper's widths: 78 train, 11 validation and its 22 unused
   rows as the test split. Per net and device: wall seconds of ``train_grid``, steps of the
   chosen configuration, its validation C and its test C (Harrell's, the chosen network
   predicting the test rows on the CPU, as ``fit_net`` does). The devices' C may differ a
   little: rounding changes the SGD trajectory, so nothing asserts equality.
2. DenseNet-121: ``densenet_features`` (the asset's function) on the first demo patients'
   synthetic CT and nodule mask, made in-process by the demo source's own phantom generator.
   Per device: wall seconds, slices/s, and the largest CPU-vs-CUDA difference of the feature
   rows, with torch's default cuDNN TF32 convolutions (what the asset runs) and without.
   No download is attempted: the weights are ImageNet's only if their checkpoint is already in
   torch's hub cache, else random (the demo's offline fallback), as the output says.

    .venv/bin/python benchmarks/gpu_check.py [--devices cpu,cuda] [--patients 20] [--steps N]

``--steps N`` caps the protocol at N steps (min_steps and patience capped too) for a quick
run. Exits 2 when cuda is asked for and torch sees no GPU, 1 when a net or an extraction fails.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import sys
import time
import traceback
import warnings
from collections.abc import Callable, Sequence
from functools import partial

import numpy as np
import torch
from neural_grid import WIDTHS, synthetic_fold

from radiogenomics_assets.features.densenet import densenet_features
from radiogenomics_assets.features.densenet_weights import (
    LoadedDenseNet,
    RandomWeightsWarning,
    imagenet_cache_path,
    load_densenet121,
)
from radiogenomics_assets.sources.demo import DEFAULT_CONFIG
from radiogenomics_assets.sources.demo.phantom import synthesize_phantom
from radiogenomics_assets.sources.demo.plan import plan_cohort
from radiogenomics_assets.survival.metrics import harrell_c_index
from radiogenomics_assets.survival.modules import SurvivalNet, build_net
from radiogenomics_assets.survival.protocol import NetTraining, TrainingError
from radiogenomics_assets.survival.registry import MODEL_REGISTRY, ModelSpec
from radiogenomics_assets.survival.targets import make_target
from radiogenomics_assets.survival.training import (
    GridData,
    GridResult,
    resolve_device,
    train_grid,
)

SEED = 1
#: CPU and CUDA DenseNet rows this close (relative to the largest value) count as the same.
RELATIVE_TOLERANCE = 1e-3
NETS = tuple(spec for spec in MODEL_REGISTRY if spec.estimator == "net")


@dataclasses.dataclass(frozen=True)
class NetRun:
    """One net trained on one device: what the table shows."""

    wall_s: float
    steps: int
    best_step: int | None
    validation_c: float
    test_c: float


@dataclasses.dataclass(frozen=True)
class Patient:
    """A demo patient's CT (HU) and nodule mask, as ``densenet_features`` takes them."""

    patient_id: str
    hu: np.ndarray
    mask: np.ndarray
    spacing: tuple[float, float, float]

    @property
    def slices(self) -> int:
        return int(self.mask.any(axis=(1, 2)).sum())


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", help="cpu, cuda or cpu,cuda (default: every one torch sees)")
    parser.add_argument("--patients", type=int, default=20, help="demo patients for DenseNet")
    parser.add_argument("--steps", type=int, help="cap the protocol's steps (a quick run)")
    args = parser.parse_args()
    if args.steps is not None and args.steps < 1:
        parser.error("--steps must be >= 1")
    if args.patients < 1:
        parser.error("--patients must be >= 1")
    return args


def chosen_devices(requested: str | None) -> list[str]:
    """The devices to compare; exits 2 (the product's own message) if cuda is not there."""
    if requested is None:
        if torch.cuda.is_available():
            return ["cpu", "cuda"]
        print("no CUDA GPU visible: CPU only", flush=True)
        return ["cpu"]
    devices = [d.strip() for d in requested.split(",") if d.strip()]
    unknown = sorted(set(devices) - {"cpu", "cuda"})
    if unknown or not devices:
        sys.exit(f"gpu_check: --devices takes cpu and/or cuda, got {requested!r}")
    if "cuda" in devices:
        try:
            resolve_device("cuda")
        except TrainingError as error:
            print(
                f"gpu_check: --devices {requested} asks for CUDA, which is not available: "
                f"{error}. This torch is built for CUDA {torch.version.cuda}; nvidia-smi (above, "
                "when run through gpu_check.sh) shows whether a GPU and a recent enough driver "
                "are there.",
                file=sys.stderr,
            )
            sys.exit(2)
    return list(dict.fromkeys(devices))


def protocol(device: str, steps: int | None) -> NetTraining:
    """The paper's protocol on ``device``, capped at ``steps`` when asked (min_steps too)."""
    paper = NetTraining(device=device)  # type: ignore[arg-type]
    if steps is None or steps >= paper.max_steps:
        return paper
    return dataclasses.replace(
        paper,
        max_steps=steps,
        min_steps=min(paper.min_steps, steps),
        patience=min(paper.patience, steps),
        eval_every=min(paper.eval_every, steps),
    )


def print_machine(devices: Sequence[str]) -> None:
    """What the timings depend on: torch build, CPUs and threads, the GPU and its TF32 flags."""
    cuda = torch.version.cuda or "none"
    print(f"torch {torch.__version__} (built for CUDA {cuda}), python {platform.python_version()}")
    print(
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"{torch.get_num_threads()} torch threads; devices: {', '.join(devices)}"
    )
    if torch.cuda.is_available():
        print(f"gpu: {torch.cuda.get_device_name(0)} ({torch.cuda.device_count()} visible)")
        print(
            f"TF32: matmul {torch.backends.cuda.matmul.allow_tf32}, "
            f"cuDNN {torch.backends.cudnn.allow_tf32} (torch defaults, as the product runs)"
        )
    print(flush=True)


def test_rows(data: GridData) -> torch.Tensor:
    """Rows neither trained nor validated on: synthetic_fold leaves 22 of its 111 unused."""
    used = torch.cat([data.train_rows, data.validation_rows])
    unused = torch.ones(len(data.event), dtype=torch.bool)
    unused[used] = False
    return unused.nonzero().flatten()


def spec_fold(spec: ModelSpec, data: GridData) -> GridData:
    """The fold with the spec's modalities only: train_grid reparametrises every stream given."""
    return dataclasses.replace(data, features={m: data.features[m] for m in spec.modalities})


def chosen_test_c(spec: ModelSpec, result: GridResult, data: GridData, rows: torch.Tensor) -> float:
    """Harrell's C on ``rows`` of the chosen network, rebuilt and run on the CPU (as fit_net)."""
    net = builder(spec)(1)
    net.load_state_dict(result.state_dict)
    net.eval()
    with torch.no_grad():
        risk = net({m: data.features[m][rows] for m in spec.modalities})[0]
    target = make_target(data.event[rows].numpy(), data.time[rows].numpy())
    return harrell_c_index(target, risk.double().numpy(), where=f"test rows of {spec.name}")


def builder(spec: ModelSpec) -> Callable[[int], SurvivalNet]:
    """What train_grid calls to make the spec's net with n configurations."""
    return partial(
        build_net, spec.fusion, {m: WIDTHS[m] for m in spec.modalities}, spec.hyperparameters
    )


def train_one(spec: ModelSpec, data: GridData, training: NetTraining) -> NetRun:
    """Train the spec's whole grid once; time it; score the chosen configuration."""
    fold = spec_fold(spec, data)
    started = time.perf_counter()
    where = f"{spec.name} ({training.device})"
    result = train_grid(builder(spec), fold, training, seed=SEED, where=where)
    wall = time.perf_counter() - started
    chosen = result.chosen_outcome
    return NetRun(
        wall_s=wall,
        steps=chosen.steps,
        best_step=chosen.best_step,
        validation_c=chosen.best_validation_c,
        test_c=chosen_test_c(spec, result, data, test_rows(data)),
    )


def warm_up(device: str, data: GridData) -> None:
    """One short grid first, so that CUDA's context, cuBLAS and cuSOLVER start untimed."""
    training = dataclasses.replace(protocol(device, 25), weight_decays=(0.0,), initialisations=1)
    train_grid(builder(NETS[0]), spec_fold(NETS[0], data), training, seed=SEED)


def run_grid(devices: Sequence[str], steps: int | None) -> tuple[dict, list[str]]:
    """Part 1: every net on every device; failures are reported, not raised."""
    data = synthetic_fold()
    trainings = {device: protocol(device, steps) for device in devices}
    paper = trainings[devices[0]]
    print(
        f"== Part 1: neural grid, one fold of {len(NETS)} nets "
        f"({len(data.train_rows)} train / {len(data.validation_rows)} validation / "
        f"{len(test_rows(data))} test synthetic patients, widths {WIDTHS})"
    )
    print(
        f"protocol: {len(paper.configs())} configurations, SGD lr {paper.learning_rate}, "
        f"batch {paper.batch_size}, min_steps {paper.min_steps}, patience {paper.patience}, "
        f"max_steps {paper.max_steps}, eval every {paper.eval_every}, "
        f"early stopping {paper.early_stopping}" + (" (capped by --steps)" if steps else ""),
        flush=True,
    )
    runs: dict[tuple[str, str], NetRun] = {}
    failures: list[str] = []
    for device in devices:
        try:
            warm_up(device, data)
        except Exception:
            failures.append(f"warm-up on {device}")
            print(f"FAILED: warm-up on {device}", file=sys.stderr)
            traceback.print_exc()
    for spec in NETS:
        for device in devices:
            try:
                run = train_one(spec, data, trainings[device])
            except Exception:
                failures.append(f"{spec.name} on {device}")
                print(f"FAILED: {spec.name} on {device}", file=sys.stderr)
                traceback.print_exc()
                continue
            runs[spec.name, device] = run
            print(
                f"  {spec.name:<9} {device:<4} {run.wall_s:7.1f} s  steps {run.steps:>4} "
                f"(best {run.best_step})  val C {run.validation_c:.3f}  test C {run.test_c:.3f}",
                flush=True,
            )
    return runs, failures


def _cell(runs: dict, name: str, device: str, field: str, spec: str) -> str:
    run = runs.get((name, device))
    return "failed" if run is None else format(getattr(run, field), spec)


def print_grid_table(runs: dict, devices: Sequence[str]) -> None:
    """net | wall s | speedup | steps | val C | test C per device; totals over complete rows."""
    columns = [f"{d} wall s" for d in devices]
    columns += ["speedup"] if "cuda" in devices and "cpu" in devices else []
    columns += [f"{d} {what}" for what in ("steps", "val C", "test C") for d in devices]
    header = f"{'net':<10}" + "".join(f"{c:>12}" for c in columns)
    print("\n" + header + "\n" + "-" * len(header))
    for spec in NETS:
        cells = [_cell(runs, spec.name, d, "wall_s", ".1f") for d in devices]
        if "speedup" in columns:
            cells.append(_speedup(runs.get((spec.name, "cpu")), runs.get((spec.name, "cuda"))))
        for field, format_ in (("steps", "d"), ("validation_c", ".3f"), ("test_c", ".3f")):
            cells += [_cell(runs, spec.name, d, field, format_) for d in devices]
        print(f"{spec.name:<10}" + "".join(f"{c:>12}" for c in cells))
    print("-" * len(header))
    complete = [s.name for s in NETS if all((s.name, d) in runs for d in devices)]
    totals = {d: sum(runs[name, d].wall_s for name in complete) for d in devices}
    line = f"{'all':<10}" + "".join(f"{totals[d]:>12.1f}" for d in devices)
    if "speedup" in columns and totals["cuda"]:
        line += f"{totals['cpu'] / totals['cuda']:>11.1f}x"
    if len(complete) < len(NETS):
        line += f"   (totals over the {len(complete)} nets that ran on every device)"
    print(line, flush=True)


def _speedup(cpu: NetRun | None, cuda: NetRun | None) -> str:
    return f"{cpu.wall_s / cuda.wall_s:.1f}x" if cpu and cuda else "-"


def demo_patients(n: int) -> list[Patient]:
    """The first ``n`` demo patients with a nodule, from the demo's own phantom generator."""
    plan = plan_cohort(DEFAULT_CONFIG)
    imaged = plan[plan["has_seg"]]
    if n > len(imaged):
        sys.exit(f"gpu_check: the demo cohort has {len(imaged)} patients with imaging, not {n}")
    spacing = (DEFAULT_CONFIG.slice_thickness_mm,) + (DEFAULT_CONFIG.pixel_spacing_mm,) * 2
    patients = []
    for _, row in imaged.head(n).iterrows():
        phantom = synthesize_phantom(DEFAULT_CONFIG, row)
        patients.append(Patient(str(row["patient_id"]), phantom.hu, phantom.nodule_mask, spacing))
    return patients


def load_network(device: str) -> LoadedDenseNet:
    """The demo's weights choice, offline: ImageNet if cached, else random; never a download."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RandomWeightsWarning)
        return load_densenet121("auto", allow_download=False, device=device)


def describe_weights(network: LoadedDenseNet) -> str:
    """Say plainly which weights made the features: random ones are not the paper's."""
    if network.fell_back or network.weights_used.startswith("random"):
        return (
            f"{network.weights_used}: RANDOM weights (offline; no ImageNet checkpoint at "
            f"{imagenet_cache_path()}, no download attempted). Timings are real; the features "
            "are not ImageNet features."
        )
    return f"{network.weights_used} (ImageNet, from torch's hub cache)"


def extract(network: LoadedDenseNet, patients: Sequence[Patient]) -> tuple[np.ndarray, float]:
    """Every patient's feature row through the product's function, and the wall seconds."""
    first = patients[0]
    densenet_features(first.hu, first.mask, first.spacing, network)  # warm-up, untimed
    started = time.perf_counter()
    rows = [
        densenet_features(p.hu, p.mask, p.spacing, network, patient_id=p.patient_id)
        for p in patients
    ]
    return np.stack(rows), time.perf_counter() - started


def run_densenet(devices: Sequence[str], n_patients: int) -> list[str]:
    """Part 2: DenseNet rows per device (CUDA also without TF32), and their differences."""
    started = time.perf_counter()
    patients = demo_patients(n_patients)
    slices = sum(p.slices for p in patients)
    print(
        f"\n== Part 2: DenseNet-121 features of {len(patients)} demo patients ({slices} slices; "
        f"phantoms made in {time.perf_counter() - started:.1f} s by the demo generator)"
    )
    variants = [(d, True) for d in devices] + ([("cuda", False)] if "cuda" in devices else [])
    rows: dict[str, np.ndarray] = {}
    seconds_of: dict[str, float] = {}
    failures: list[str] = []
    for device, tf32 in variants:
        label = device if tf32 else "cuda, TF32 off"
        try:
            network = load_network(device)
            if label == devices[0]:
                print(f"weights: {describe_weights(network)}")
            rows[label], seconds = _extract_with(network, patients, tf32)
        except Exception:
            failures.append(f"DenseNet on {label}")
            print(f"FAILED: DenseNet on {label}", file=sys.stderr)
            traceback.print_exc()
            continue
        seconds_of[label] = seconds
        if device == "cpu":
            note = " (1 torch thread: the product's INFERENCE_THREADS)"
        else:
            note = f" ({seconds_of['cpu'] / seconds:.1f}x the cpu)" if "cpu" in seconds_of else ""
        print(f"  {label:<15} {seconds:7.2f} s  {slices / seconds:8.1f} slices/s{note}", flush=True)
    _print_differences(rows)
    return failures


def _extract_with(
    network: LoadedDenseNet, patients: Sequence[Patient], tf32: bool
) -> tuple[np.ndarray, float]:
    before = torch.backends.cudnn.allow_tf32
    torch.backends.cudnn.allow_tf32 = tf32 and before
    try:
        return extract(network, patients)
    finally:
        torch.backends.cudnn.allow_tf32 = before


def _print_differences(rows: dict[str, np.ndarray]) -> None:
    """Printed, not asserted: TF32 convolutions are expected to differ more than float32."""
    if "cpu" not in rows:
        return
    scale = float(np.abs(rows["cpu"]).max())
    for label, values in rows.items():
        if label == "cpu":
            continue
        relative = float(np.abs(values - rows["cpu"]).max()) / scale
        verdict = "small" if relative < RELATIVE_TOLERANCE else "LARGE"
        print(
            f"  max |{label} - cpu| = {relative * scale:.3g} over {rows['cpu'].size} values, "
            f"{relative:.2g} of max |cpu| {scale:.3g}: {verdict} (< {RELATIVE_TOLERANCE:g})"
        )


def main() -> None:
    started = time.perf_counter()
    args = parse_args()
    devices = chosen_devices(args.devices)
    print_machine(devices)
    runs, failures = run_grid(devices, args.steps)
    print_grid_table(runs, devices)
    failures += run_densenet(devices, args.patients)
    print(f"\ntotal wall time {time.perf_counter() - started:.1f} s")
    if failures:
        print(f"FAILED: {', '.join(failures)}", file=sys.stderr)
        sys.exit(1)
    print("gpu_check: OK")


if __name__ == "__main__":
    main()
