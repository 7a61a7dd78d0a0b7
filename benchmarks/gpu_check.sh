#!/usr/bin/env bash
# The GPU check (benchmarks/gpu_check.py): one fold of all 13 nets and DenseNet-121 on 20 demo
# patients, on CUDA and on CPU. Prints the GPU (nvidia-smi), torch's version, a table of wall
# seconds, speed-up, steps, validation and test C-index per net and device, DenseNet slices/s
# and the CPU-vs-CUDA feature difference, and the total wall time.
# Installs nothing and downloads nothing: it needs the .venv made by `make setup`.
#   bash benchmarks/gpu_check.sh [--devices cpu,cuda] [--patients 20] [--steps N]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if command -v nvidia-smi >/dev/null 2>&1; then
    nvidia-smi || true
fi
exec .venv/bin/python benchmarks/gpu_check.py "$@"
