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

#: The cohort the whole-graph walks run on (test_full_graph, the Celery walks). They test the
#: graph's wiring and update path, not the models, so it is the smallest prefix found whose
#: study patients give every one of the five folds at least two test events and one validation
#: event: 26 patients (25 imaged, 18 in the study cohort, 13 recurrences), the first size from
#: 20 up with such a seed among seeds 0-399 (plans only, no imaging).
#: ``test_walk_cohort_gives_every_fold_events`` holds it to it.
WALK_DEMO = {"n_patients": 26, "seed": 174, "n_genes": 600}
