"""The small demo cohort every test package shares (generated once per session)."""

from __future__ import annotations

from radiogenomics_assets.sources.demo import DemoConfig

#: Six patients chosen so that every gap occurs once: one AMC patient, one R01 patient without
#: RNA-seq, one patient without imaging, one SEG with a lung segment, one adjuvant patient and
#: one unknown recurrence status.
SMALL_CONFIG = DemoConfig(
    n_patients=6,
    seed=11,
    n_genes=300,
    amc_fraction=1 / 6,
    r01_without_rnaseq_fraction=0.2,
    without_seg_fraction=1 / 6,
    adjuvant_fraction=1 / 6,
    second_segment_fraction=0.2,
    recurrence_not_collected=1,
)
