"""Write the GEO-style RNA-seq matrix (like ``GSE103584_R01_NSCLC_RNAseq.txt.gz``).

Format: gzip-compressed, tab-separated, a header line that starts with an empty cell followed by
one column per patient with RNA-seq (in a shuffled order, as GEO's is not sorted), then one row
per gene symbol with FPKM-like positive floats and ``NA`` for missing values.

Values: log FPKM of gene *j* in patient *i* = mu_j + sigma_j·noise + (a loading on one of three
non-prognostic co-expression factors for about 30 % of genes) + (for driver genes only) the
planted genomic score, see :mod:`radiogenomics_assets.sources.demo.signal`.

Missing values follow the real file's pattern, where NA concentrates in some genes: one gene is
NA everywhere, a few genes are NA in 25-60 % of patients, about 45 % of the other genes (mostly
lowly expressed ones) have sporadic NA (0.5-5 %), and the rest, drivers included, are complete.
About 1.5 % of all cells are NA.
"""

from __future__ import annotations

import gzip
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from radiogenomics_assets.sources.demo.config import DemoConfig
from radiogenomics_assets.sources.demo.randomness import rng
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


def _na_mask(
    config: DemoConfig, mu: np.ndarray, drivers: np.ndarray, n_patients: int
) -> tuple[np.ndarray, int, np.ndarray]:
    g = rng(config.seed, "expression", "missing")
    n_genes = mu.size
    mask = np.zeros((n_genes, n_patients), dtype=bool)
    free = np.setdiff1d(np.arange(n_genes), drivers)
    all_na = int(g.choice(free))
    mask[all_na] = True
    free = free[free != all_na]
    n_heavy = max(3, round(0.005 * n_genes))
    heavy = np.sort(g.choice(free, size=n_heavy, replace=False))
    for gene in heavy:
        k = max(1, math.ceil(g.uniform(0.25, 0.6) * n_patients))
        mask[gene, g.choice(n_patients, size=min(k, n_patients), replace=False)] = True
    free = np.setdiff1d(free, heavy)
    weights = np.exp(-mu[free])
    sporadic = g.choice(
        free, size=round(0.45 * free.size), replace=False, p=weights / weights.sum()
    )
    rates = g.uniform(0.005, 0.05, sporadic.size)
    mask[sporadic] = g.uniform(size=(sporadic.size, n_patients)) < rates[:, None]
    return mask, all_na, heavy


def write_expression_matrix(path: Path, plan: pd.DataFrame, config: DemoConfig) -> ExpressionTruth:
    """Write the matrix of the planned patients with RNA-seq to ``path``.

    Raises:
        ValueError: no planned patient has RNA-seq.
    """
    with_rna = plan[plan["has_rnaseq"]]
    if with_rna.empty:
        raise ValueError("the plan has no patient with RNA-seq; the matrix would have no column")
    order = rng(config.seed, "expression", "columns").permutation(len(with_rna))
    patients = with_rna.iloc[order]
    z_genomic = patients["z_genomic"].to_numpy()
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

    v = rng(config.seed, "expression", "values")
    factors = v.standard_normal((_N_FACTORS, n_patients))
    log_fpkm = mu[:, None] + sigma[:, None] * v.standard_normal((n_genes, n_patients))
    log_fpkm += factor_loading[:, None] * factors[factor_of]
    log_fpkm[drivers] += loadings[:, None] * z_genomic[None, :]
    fpkm = np.clip(np.exp(log_fpkm), MIN_FPKM, MAX_FPKM)

    mask, all_na, heavy = _na_mask(config, mu, drivers, n_patients)
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
        all_na_gene=genes[all_na],
        heavy_na_genes=tuple(genes[i] for i in heavy),
        na_fraction=float(mask.mean()),
    )
