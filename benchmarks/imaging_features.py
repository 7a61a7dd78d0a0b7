"""How fast are the imaging feature extractors on this machine?

Prints one table:

- radiomics: seconds per patient (107 features, default settings, 3 mm margin) on a synthetic
  chest-CT-sized volume with a 20 mm nodule, run one patient at a time, and the speed-up of
  two worker processes (two Dagster partitions at once) over one;
- DenseNet-121: slices per second through ``densenet_features``' forward pass, the float32
  matmul GFLOP/s measured here, and the fraction of that roofline the network reaches. FLOPs
  per 224x224 slice are counted with ``torch.utils.flop_counter`` (2 FLOPs per multiply-add:
  about 5.7 GFLOP; the "2.9 GFLOP" often quoted for DenseNet-121, and torchvision's
  ``_ops`` of 2.83, count multiply-adds);
- the same DenseNet rows on CUDA when a GPU is available.

Every figure is the best of several runs, since other load on a shared machine only slows a
run down; the load average is printed at the start and the end to show how quiet it was.

Run from the repository root: ``python benchmarks/imaging_features.py [--patients 4]``.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from radiogenomics_assets.dicom.series import CtVolume
from radiogenomics_assets.features.densenet import (
    INPUT_SIZE,
    load_densenet121,
    pooled_features,
    slice_batches,
)
from radiogenomics_assets.features.radiomics import extract_radiomic_features

SHAPE = (96, 512, 512)
SPACING = (1.25, 0.7, 0.7)
NODULE_RADIUS_MM = 10.0


def synthetic_patient(seed: int) -> tuple[CtVolume, np.ndarray]:
    """A chest-CT-sized volume: noisy lung at -800 HU, a lobulated 20 mm nodule at +30 HU."""
    rng = np.random.default_rng(seed)
    # Tiled noise: cheap to make, so the timed partitions are dominated by extraction.
    block = rng.normal(-800.0, 60.0, size=(16, 64, 64)).astype(np.float32)
    reps = [-(-n // b) for n, b in zip(SHAPE, block.shape, strict=True)]
    hu = np.tile(block, reps)[: SHAPE[0], : SHAPE[1], : SHAPE[2]].copy()
    centre = np.array([s / 2 for s in SHAPE]) + rng.uniform(-5, 5, size=3)
    box = [
        slice(int(c - NODULE_RADIUS_MM * 1.5 / s), int(c + NODULE_RADIUS_MM * 1.5 / s) + 1)
        for c, s in zip(centre, SPACING, strict=True)
    ]
    grids = np.meshgrid(*(np.arange(b.start, b.stop) for b in box), indexing="ij")
    distance = np.sqrt(
        sum(((g - c) * s) ** 2 for g, c, s in zip(grids, centre, SPACING, strict=True))
    )
    lobes = 1 + 0.15 * np.sin(3 * np.arctan2(grids[1] - centre[1], grids[2] - centre[2]))
    inside = distance <= NODULE_RADIUS_MM * lobes
    mask = np.zeros(SHAPE, dtype=bool)
    mask[tuple(box)] = inside
    hu[mask] = rng.normal(30.0, 40.0, size=int(mask.sum())).astype(np.float32)
    ct = CtVolume(
        hu=hu,
        spacing=SPACING,
        origin=(-180.0, -180.0, -200.0),
        direction=np.eye(3),
        series_uid="1.2.3",
        frame_of_reference_uid="1.2.3.4",
        sop_instance_uids=tuple(str(i) for i in range(SHAPE[0])),
        patient_id=f"BENCH-{seed}",
    )
    return ct, mask


def radiomics_seconds(seed: int) -> float:
    """Wall seconds of one patient's radiomics (volume generation excluded)."""
    ct, mask = synthetic_patient(seed)
    start = time.perf_counter()
    extract_radiomic_features(ct.to_sitk(), ct.image_like(mask.astype(np.uint8)))
    return time.perf_counter() - start


def _warm(_: int) -> None:
    import radiomics  # noqa: F401


def _busy(_: int) -> float:
    """A fixed amount of pure-Python work: what two processes can get from this machine now."""
    start = time.perf_counter()
    total = 0
    for i in range(3_000_000):
        total += i % 7
    return time.perf_counter() - start


def radiomics_rows(patients: int, repeats: int) -> list[tuple[str, str]]:
    radiomics_seconds(1000)  # imports and first-call costs
    per_patient: list[float] = []
    serial, parallel, busy_serial, busy_parallel = [], [], [], []
    context = multiprocessing.get_context("spawn")
    with context.Pool(2) as pool:
        pool.map(_warm, range(2))
        # Interleaved, best of ``repeats``: other load on the machine only ever slows a run.
        for _ in range(repeats):
            start = time.perf_counter()
            per_patient += [radiomics_seconds(seed) for seed in range(patients)]
            serial.append(time.perf_counter() - start)
            start = time.perf_counter()
            pool.map(radiomics_seconds, range(patients), chunksize=1)
            parallel.append(time.perf_counter() - start)
            start = time.perf_counter()
            [_busy(i) for i in range(4)]
            busy_serial.append(time.perf_counter() - start)
            start = time.perf_counter()
            pool.map(_busy, range(4), chunksize=1)
            busy_parallel.append(time.perf_counter() - start)
    return [
        ("radiomics s/patient (1 process, best)", f"{min(per_patient):.2f}"),
        (f"radiomics {patients} patients, 1 process (s, best)", f"{min(serial):.2f}"),
        (f"radiomics {patients} patients, 2 processes (s, best)", f"{min(parallel):.2f}"),
        ("radiomics speed-up, 2 partitions over 1", f"{min(serial) / min(parallel):.2f}x"),
        (
            "same for a pure-Python loop (what the CPUs allow now)",
            f"{min(busy_serial) / min(busy_parallel):.2f}x",
        ),
    ]


def matmul_gflops(device: torch.device, size: int, repeats: int) -> float:
    """Best of ``repeats`` float32 matmuls of ``size`` x ``size``, in GFLOP/s."""
    a = torch.randn(size, size, device=device)
    b = torch.randn(size, size, device=device)
    torch.matmul(a, b)
    _sync(device)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        torch.matmul(a, b)
        _sync(device)
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best / 1e9


def densenet_flops_per_slice() -> float:
    from torch.utils.flop_counter import FlopCounterMode

    model = load_densenet121("random", device="cpu").model
    with FlopCounterMode(display=False) as counter, torch.inference_mode():
        pooled_features(model, torch.zeros(1, 3, INPUT_SIZE, INPUT_SIZE))
    return counter.get_total_flops() / 1e9


def densenet_slices_per_second(device: torch.device, batch_size: int, batches: int) -> float:
    """Slices/s of the fastest of ``batches`` timed forward passes (after one warm-up)."""
    ct, mask = synthetic_patient(0)
    inputs = slice_batches(ct.hu, mask, ct.spacing)
    network = load_densenet121("random", device=str(device))
    reps = -(-batch_size // inputs.shape[0])
    batch = inputs.repeat(reps, 1, 1, 1)[:batch_size].to(device)
    best = float("inf")
    with torch.inference_mode():
        pooled_features(network.model, batch)
        _sync(device)
        for _ in range(batches):
            start = time.perf_counter()
            pooled_features(network.model, batch)
            _sync(device)
            best = min(best, time.perf_counter() - start)
    return batch_size / best


def densenet_rows(device: torch.device, gflop: float, quick: bool) -> list[tuple[str, str]]:
    on_gpu = device.type == "cuda"
    peak = matmul_gflops(device, 8192 if on_gpu else 2048, 20 if on_gpu else 10)
    rows = [(f"{device.type}: float32 matmul GFLOP/s", f"{peak:.1f}")]
    for batch_size in (1, 16) if quick else (1, 8, 16, 64 if on_gpu else 32):
        batches = 20 if on_gpu else (2 if quick else 4)
        rate = densenet_slices_per_second(device, batch_size, batches)
        achieved = rate * gflop
        rows.append(
            (
                f"{device.type}: DenseNet slices/s (batch {batch_size})",
                f"{rate:.1f} = {achieved:.1f} GFLOP/s = {achieved / peak:.0%} of matmul",
            )
        )
    return rows


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=4, help="patients per radiomics run")
    parser.add_argument("--repeats", type=int, default=3, help="radiomics runs (best kept)")
    parser.add_argument("--quick", action="store_true", help="fewer DenseNet batch sizes")
    args = parser.parse_args()
    if torch.cuda.is_available():
        # The float32 roofline is the honest comparison for float32 inference.
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
    gflop = densenet_flops_per_slice()
    rows = [
        ("machine", f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs"),
        ("torch threads", str(torch.get_num_threads())),
        ("load average (1 min) at the start", f"{os.getloadavg()[0]:.2f}"),
        ("synthetic CT / nodule", f"{SHAPE} voxels of {SPACING} mm, {NODULE_RADIUS_MM * 2:.0f} mm"),
        ("DenseNet-121 GFLOP per 224x224 slice", f"{gflop:.2f} (multiply-adds: {gflop / 2:.2f})"),
    ]
    rows += radiomics_rows(args.patients, args.repeats)
    rows += densenet_rows(torch.device("cpu"), gflop, args.quick)
    if torch.cuda.is_available():
        rows.append(("gpu", torch.cuda.get_device_name(0)))
        rows += densenet_rows(torch.device("cuda"), gflop, args.quick)
    rows.append(("load average (1 min) at the end", f"{os.getloadavg()[0]:.2f}"))
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")


if __name__ == "__main__":
    main()
