"""The small demo cohort every test package shares (generated once per session)."""

from __future__ import annotations

from radiogenomics_assets.sources.demo import DemoConfig

#: Six patients in which every gap occurs once: one AMC patient (imaged), one R01 patient without
#: RNA-seq, one patient without imaging, one SEG with a lung segment, one adjuvant patient and
#: one unknown recurrence status, leaving two study patients of whom one recurs. The gaps are
#: per-patient draws, so the seed is the first from 11 up whose plan (no imaging needed) has
#: all of that; ``test_small_cohort_has_every_gap`` holds it to it.
SMALL_CONFIG = DemoConfig(
    n_patients=6,
    seed=286,
    n_genes=300,
    amc_fraction=1 / 6,
    r01_without_rnaseq_fraction=0.2,
    without_seg_fraction=1 / 6,
    adjuvant_fraction=1 / 6,
    second_segment_fraction=0.2,
    recurrence_not_collected=1,
)
