"""Write the GEO-style RNA-seq matrix (like ``GSE103584_R01_NSCLC_RNAseq.txt.gz``).

Format: gzip-compressed, tab-separated, a header line that starts with an empty cell followed by
one column per patient with RNA-seq, then one row per gene symbol with FPKM-like positive floats
and ``NA`` for missing values. Columns are in arrival order, so a grown cohort's matrix holds the
smaller one's columns, byte for byte, first (GEO's real order is unsorted; the project's reader
does not rely on any order).

Values: log FPKM of gene *j* in patient *i* = mu_j + sigma_j·noise + (a loading on one of three
non-prognostic co-expression factors for about 30 % of genes) + (for driver genes only) the
planted genomic score, see :mod:`radiogenomics_assets.sources.demo.signal`. The gene-level
parameters come from config-level streams (they never depend on the number of patients); a
patient's noise, factors and sporadic NAs come from that patient's own stream.

Missing values follow the real file's pattern, where NA concentrates in some genes: one gene is
NA everywhere, a few genes are NA in 25-60 % of patients (evenly spread along the columns, so any
prefix of them has its gene's share), about 45 % of the other genes (mostly lowly expressed ones)
have sporadic NA (0.5-5 %), and the rest, drivers included, are complete. About 1.5 % of all
cells are NA.
"""

from __future__ import annotations

import gzip
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from radiogenomics_assets.sources.demo.config import DemoConfig
from radiogenomics_assets.sources.demo.randomness import patient_rng, rng
from radiogenomics_assets.sources.demo.signal import (
    DRIVER_BASELINE_FPKM,
    DRIVER_NOISE_SD,
    driver_loadings,
)

MIN_FPKM = 0.001
MAX_FPKM = 99_999.0
_N_FACTORS = 3


@dataclass(frozen=True)
class ExpressionTruth:
    """What the matrix was built from, for ``signal.json`` and the tests."""

    genes: tuple[str, ...]
    patients: tuple[str, ...]
    driver_genes: tuple[str, ...]
    driver_loadings: tuple[float, ...]
    driver_baseline_log_fpkm: tuple[float, ...]
    all_na_gene: str
    heavy_na_genes: tuple[str, ...]
    na_fraction: float


def gene_symbols(n_genes: int, generator: np.random.Generator) -> list[str]:
    """Symbol-like names in sorted order; about 2 % are antisense-style ``...-AS1`` names."""
    antisense = generator.uniform(size=n_genes) < 0.02
    return [f"DG{i:05d}-AS1" if a else f"DG{i:05d}" for i, a in enumerate(antisense, start=1)]


@dataclass(frozen=True)
class _MissingPattern:
    """Which genes are NA how often; drawn once per population."""

    all_na: int
    heavy: np.ndarray
    heavy_rate: np.ndarray
    heavy_phase: np.ndarray
    sporadic: np.ndarray
    sporadic_rate: np.ndarray


def _missing_pattern(config: DemoConfig, mu: np.ndarray, drivers: np.ndarray) -> _MissingPattern:
    g = rng(config.seed, "expression", "missing")
    n_genes = mu.size
    free = np.setdiff1d(np.arange(n_genes), drivers)
    all_na = int(g.choice(free))
    free = free[free != all_na]
    n_heavy = max(3, round(0.005 * n_genes))
    heavy = np.sort(g.choice(free, size=n_heavy, replace=False))
    heavy_rate = g.uniform(0.25, 0.6, n_heavy)
    heavy_phase = g.uniform(0.0, 1.0, n_heavy)
    free = np.setdiff1d(free, heavy)
    weights = np.exp(-mu[free])
    sporadic = g.choice(
        free, size=round(0.45 * free.size), replace=False, p=weights / weights.sum()
    )
    return _MissingPattern(
        all_na=all_na,
        heavy=heavy,
        heavy_rate=heavy_rate,
        heavy_phase=heavy_phase,
        sporadic=sporadic,
        sporadic_rate=g.uniform(0.005, 0.05, sporadic.size),
    )


def _heavy_missing(pattern: _MissingPattern, columns: np.ndarray) -> np.ndarray:
    """NA of the heavy genes in the matrix columns ``columns`` (1, 2, ...): column c is NA iff
    floor(rate·c + phase) steps there, so the first c columns hold rate·c NAs (± 1)."""
    steps = np.floor(pattern.heavy_rate[:, None] * columns[None, :] + pattern.heavy_phase[:, None])
    before = np.floor(
        pattern.heavy_rate[:, None] * (columns[None, :] - 1) + pattern.heavy_phase[:, None]
    )
    return steps > before


def write_expression_matrix(path: Path, plan: pd.DataFrame, config: DemoConfig) -> ExpressionTruth:
    """Write the matrix of the planned patients with RNA-seq to ``path``, in arrival order.

    Raises:
        ValueError: no planned patient has RNA-seq.
    """
    patients = plan[plan["has_rnaseq"]].sort_values("arrival")
    if patients.empty:
        raise ValueError("the plan has no patient with RNA-seq; the matrix would have no column")
    n_patients = len(patients)

    g = rng(config.seed, "expression", "genes")
    n_genes = config.n_genes
    genes = gene_symbols(n_genes, g)
    mu = np.clip(g.normal(1.0, 1.6, n_genes), -3.0, 7.0)
    sigma = np.clip(np.exp(g.normal(math.log(0.45), 0.35, n_genes)), 0.12, 1.2)
    factor_of = g.integers(0, _N_FACTORS, n_genes)
    factor_loading = np.where(g.uniform(size=n_genes) < 0.3, g.normal(0.0, 0.35, n_genes), 0.0)
    drivers = np.sort(g.choice(n_genes, size=config.n_driver_genes, replace=False))
    loadings = driver_loadings(config.n_driver_genes)
    driver_mu = g.uniform(
        math.log(DRIVER_BASELINE_FPKM[0]), math.log(DRIVER_BASELINE_FPKM[1]), drivers.size
    )
    mu[drivers] = driver_mu
    sigma[drivers] = DRIVER_NOISE_SD
    factor_loading[drivers] = 0.0
    pattern = _missing_pattern(config, mu, drivers)

    factors = np.empty((_N_FACTORS, n_patients))
    noise = np.empty((n_genes, n_patients))
    mask = np.zeros((n_genes, n_patients), dtype=bool)
    for column, arrival in enumerate(patients["arrival"]):
        v = patient_rng(config.seed, int(arrival), "expression")
        factors[:, column] = v.standard_normal(_N_FACTORS)
        noise[:, column] = v.standard_normal(n_genes)
        mask[pattern.sporadic, column] = v.random(pattern.sporadic.size) < pattern.sporadic_rate
    mask[pattern.all_na] = True
    mask[pattern.heavy] = _heavy_missing(pattern, np.arange(1, n_patients + 1))

    log_fpkm = mu[:, None] + sigma[:, None] * noise
    log_fpkm += factor_loading[:, None] * factors[factor_of]
    log_fpkm[drivers] += loadings[:, None] * patients["z_genomic"].to_numpy()[None, :]
    fpkm = np.clip(np.exp(log_fpkm), MIN_FPKM, MAX_FPKM)

    ids = patients["patient_id"].tolist()
    lines = ["\t".join(["", *ids])]
    for gene, values, missing in zip(genes, fpkm, mask, strict=True):
        cells = ["NA" if m else f"{x:.6g}" for x, m in zip(values, missing, strict=True)]
        lines.append("\t".join([gene, *cells]))
    payload = ("\n".join(lines) + "\n").encode("utf-8")
    with (
        open(path, "wb") as raw,
        gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=6) as handle,
    ):
        handle.write(payload)
    return ExpressionTruth(
        genes=tuple(genes),
        patients=tuple(ids),
        driver_genes=tuple(genes[i] for i in drivers),
        driver_loadings=tuple(float(x) for x in loadings),
        driver_baseline_log_fpkm=tuple(float(x) for x in driver_mu),
        all_na_gene=genes[pattern.all_na],
        heavy_na_genes=tuple(genes[i] for i in pattern.heavy),
        na_fraction=float(mask.mean()),
    )
