"""Names shared by the Dagster layer: asset groups (= DuckDB schemas), partition sets, pools,
run tags."""

from __future__ import annotations

from dagster import AssetKey

RAW = "raw"
COHORT = "cohort"
FEATURES = "features"
MODELING = "modeling"
EVALUATION = "evaluation"

PATIENTS_PARTITIONS = "patients"
#: The source's series of one patient, as an external asset partitioned like the patient assets.
SOURCE_IMAGING = AssetKey(["source", "patient_imaging"])
#: The dynamic partition set of cross-validation folds (every repeat's), see partitions.py.
CV_FOLDS_PARTITIONS = "cv_folds"
#: The folds the neural nets train on: those of the first ``net_repeats`` repeats.
NET_FOLDS_PARTITIONS = "net_folds"

# Dagster concurrency pool of the series downloads; its limit is set by instance_config.
DOWNLOAD_POOL = "source_downloads"

# Run tags of graph_runner's walks: one id per walk and the phase's title (`make profile`).
WALK_TAG = "radiogenomics/walk"
PHASE_TAG = "radiogenomics/phase"
