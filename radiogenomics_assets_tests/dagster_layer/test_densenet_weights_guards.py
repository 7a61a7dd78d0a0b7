"""Guards on DenseNet weights through Dagster, over a DuckDB store under ``tmp_path``.

* Models never read vectors of two networks: a DenseNet model refuses a mixed table, and its
  blocking check ``same_densenet_weights`` stops what follows it in the run.
* Off the demo, ``weights=auto`` does not slip random features in when ImageNet is missing.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from dagster import (
    AssetCheckSeverity,
    AssetKey,
    DagsterInstance,
    asset,
    materialize,
)

from radiogenomics_assets.definitions import build_definitions
from radiogenomics_assets.defs.assets import all_assets
from radiogenomics_assets.defs.checks.densenet import (
    WEIGHTS_CHECK,
    build_densenet_weights_checks,
    densenet_checks,
    densenet_model_keys,
)
from radiogenomics_assets.defs.names import (
    CV_FOLDS_PARTITIONS,
    FEATURES,
    MODELING,
    PATIENTS_PARTITIONS,
)
from radiogenomics_assets.defs.partitions import fold_partition_key, study_partitions
from radiogenomics_assets.defs.resources.features import DenseNetSettings
from radiogenomics_assets.defs.resources.source import (
    DemoSourceResource,
    LocalSourceResource,
    SourceResource,
    TciaSourceResource,
)
from radiogenomics_assets.defs.resources.store import StoreResource
from radiogenomics_assets.dicom.nifti import store_nodule_volume
from radiogenomics_assets.dicom.seg import decode_segmentation
from radiogenomics_assets.dicom.series import read_ct_series
from radiogenomics_assets.features.blocks import DENSENET_COLUMN, DENSENET_WEIGHTS_COLUMN
from radiogenomics_assets.store.database import replace_partition, replace_table
from radiogenomics_assets.survival.registry import MODEL_REGISTRY, get_spec
from radiogenomics_assets.survival.splits import all_fold_splits, assign_test_folds
from radiogenomics_assets_tests.dagster_layer.conftest import resources_for
from radiogenomics_assets_tests.dicom.synthetic import build_seg, save, write_ct_series
from radiogenomics_assets_tests.features.offline_torch import offline_torch_home
from radiogenomics_assets_tests.survival.synthetic import planted_cohort

FOLD = fold_partition_key("fold_1", "recommended")
COX_D = AssetKey([MODELING, "cox_d"])
IMAGENET = "imagenet:DenseNet121_Weights.IMAGENET1K_V1:sha256=a639ec97"
RANDOM = "random:seed=0"


def _write_densenet(store: StoreResource, patients: list[str], weights: list[str]) -> None:
    deep = planted_cohort().features["densenet"]
    frame = pd.DataFrame(
        {
            "patient_id": patients,
            DENSENET_COLUMN: [list(deep.loc[p]) for p in patients],
            DENSENET_WEIGHTS_COLUMN: weights,
        }
    )
    with store.get_connection() as conn:
        replace_partition(
            conn,
            FEATURES,
            "densenet_features",
            frame,
            partition_column="patient_id",
            partition_keys=patients,
        )
        # What the models and their check read: the study-level table of those rows.
        replace_table(conn, FEATURES, "densenet_table", frame)


def _model_store(tmp_path: Path, weights: list[str]) -> tuple[StoreResource, list[str]]:
    """Outcomes, the first fold's splits and DenseNet rows of the planted cohort."""
    cohort = planted_cohort()
    store = StoreResource(database=str(tmp_path / "radiogenomics.duckdb"))
    patients = cohort.outcomes["patient_id"].tolist()
    assignment = assign_test_folds(cohort.outcomes[["patient_id", "event"]], seed=1)
    splits = all_fold_splits(assignment, seed=1)
    with store.get_connection() as conn:
        replace_table(
            conn,
            "cohort",
            "outcomes",
            cohort.outcomes.assign(outcome_problem=None),
            column_types={"outcome_problem": "VARCHAR"},
        )
        replace_partition(
            conn,
            MODELING,
            "fold_splits",
            splits[splits["fold"] == "fold_1"].assign(protocol="recommended"),
            partition_column=["fold", "protocol"],
            partition_keys=[str(FOLD)],
        )
    _write_densenet(store, patients, weights + [IMAGENET] * (len(patients) - len(weights)))
    return store, patients


def _instance(patients: list[str]) -> DagsterInstance:
    instance = DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(PATIENTS_PARTITIONS, patients)
    instance.add_dynamic_partitions(CV_FOLDS_PARTITIONS, ["fold_1"])
    return instance


def _failure(result) -> str:
    [failure] = [e for e in result.all_events if e.is_step_failure]
    return str(failure.step_failure_data.error)


def test_every_densenet_model_and_only_those_carry_the_blocking_check() -> None:
    graph = build_definitions(source=DemoSourceResource()).resolve_asset_graph()
    check_keys = [k for k in graph.asset_check_keys if k.name == WEIGHTS_CHECK]
    expected = {AssetKey([MODELING, s.name]) for s in MODEL_REGISTRY if "densenet" in s.modalities}
    assert {k.asset_key for k in check_keys} == expected == set(densenet_model_keys())
    assert len(expected) >= 3  # cox_d, mlp_d and the fusions: the walk found models at all
    assert all(graph.get(k).blocking for k in check_keys)


def _fit_cox_d(store: StoreResource, patients: list[str]):
    """One fold of the real cox_d, with the weights checks, on ``store``."""
    with _instance(patients) as instance:
        return materialize(
            [*all_assets, *densenet_checks],
            selection=[COX_D],
            partition_key=FOLD,
            instance=instance,
            resources=resources_for(store, DemoSourceResource()),
            raise_on_error=False,
        )


def test_a_densenet_model_refuses_features_of_two_weights(tmp_path: Path) -> None:
    store, patients = _model_store(tmp_path, [RANDOM, RANDOM])
    result = _fit_cox_d(store, patients)
    assert not result.success
    message = _failure(result)
    assert "MixedDenseNetWeightsError" in message
    assert f"'{RANDOM}' (2 patients: {', '.join(sorted(patients[:2]))})" in message
    assert f"'{IMAGENET}' ({len(patients) - 2} patients: " in message
    assert not result.asset_materializations_for_node("modeling__cox_d")


def test_a_model_on_one_weights_fits_and_its_check_records_them(tmp_path: Path) -> None:
    store, patients = _model_store(tmp_path, [])
    result = _fit_cox_d(store, patients)
    assert result.success
    checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
    weights = checks[WEIGHTS_CHECK]
    assert weights.passed and weights.asset_key == COX_D
    assert weights.metadata["densenet_weights"].value == [IMAGENET]
    assert weights.metadata["n_offending"].value == 0
    assert weights.description.startswith("cox_d: features.densenet_features: every row made")


@asset(key=COX_D, partitions_def=study_partitions)
def stand_in_cox_d() -> None:
    """Fits nothing: the table can change after a model fitted, and the check must see it."""


@asset(key=["evaluation", "after_cox_d"], partitions_def=study_partitions, deps=[COX_D])
def after_cox_d() -> None:
    """Stands for the fold metrics that follow a model in a fold run."""


@pytest.mark.parametrize("mixed", [True, False])
def test_the_blocking_check_stops_what_follows_a_model(tmp_path: Path, mixed: bool) -> None:
    store = StoreResource(database=str(tmp_path / "radiogenomics.duckdb"))
    store_patients = sorted(planted_cohort().features["densenet"].index[:4])
    weights = [IMAGENET, IMAGENET, RANDOM, IMAGENET] if mixed else [IMAGENET] * 4
    _write_densenet(store, store_patients, weights)
    with _instance(store_patients) as instance:
        result = materialize(
            [stand_in_cox_d, after_cox_d, *build_densenet_weights_checks([get_spec("cox_d")])],
            partition_key=FOLD,
            instance=instance,
            resources={"store": store},
            raise_on_error=False,
        )
    [check] = result.get_asset_check_evaluations()
    assert check.asset_key == COX_D and check.check_name == WEIGHTS_CHECK
    assert check.severity == AssetCheckSeverity.ERROR
    followed = result.asset_materializations_for_node("evaluation__after_cox_d")
    if mixed:
        assert not result.success and not check.passed and not followed
        assert check.metadata["offending_ids"].value == [store_patients[2]]
        assert check.metadata["n_patients_per_weights"].value == {IMAGENET: 3, RANDOM: 1}
        assert f"'{RANDOM}' (1 patient: {store_patients[2]})" in check.description
    else:
        assert result.success and check.passed and len(followed) == 1


# --- weights=auto off the demo ---------------------------------------------------------------


@pytest.fixture
def offline_torch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An empty torch hub, no network, a fresh model cache: ImageNet cannot be had."""
    with offline_torch_home(tmp_path, monkeypatch) as home:
        yield home


@pytest.fixture
def nodule_store(tmp_path: Path) -> tuple[StoreResource, str]:
    """One synthetic patient's stored nodule volume (two slices: a fast DenseNet)."""
    store = StoreResource(database=str(tmp_path / "home" / "radiogenomics.duckdb"))
    synthetic = write_ct_series(tmp_path / "ct", radius_mm=2.5)
    seg = save(build_seg(synthetic), tmp_path / "seg.dcm")
    ct = read_ct_series(synthetic.paths, patient_id=synthetic.patient_id)
    record = store_nodule_volume(
        store.files, synthetic.patient_id, ct, decode_segmentation(seg, ct)
    )
    with store.get_connection() as conn:
        replace_partition(
            conn,
            FEATURES,
            "nodule_volume",
            pd.DataFrame([record.row]),
            partition_column="patient_id",
            partition_keys=[synthetic.patient_id],
        )
    return store, synthetic.patient_id


LOCAL = LocalSourceResource(dicom_root="unused", clinical_csv="unused", rnaseq_matrix="unused")


def _extract(nodule_store, source: SourceResource, weights: str):
    store, patient = nodule_store
    with _instance([patient]) as instance:
        result = materialize(
            all_assets,
            selection=[AssetKey([FEATURES, "densenet_features"])],
            partition_key=patient,
            instance=instance,
            resources=resources_for(
                store, source, densenet=DenseNetSettings(weights=weights, device="cpu")
            ),
            raise_on_error=False,
        )
        logs = [
            record.user_message
            for record in instance.all_logs(result.run_id)
            if record.level >= 30  # WARNING and above
        ]
    return result, logs


@pytest.mark.parametrize("source", [LOCAL, TciaSourceResource()], ids=["local", "tcia"])
def test_auto_without_imagenet_fails_off_the_demo(offline_torch, nodule_store, source) -> None:
    result, _ = _extract(nodule_store, source, "auto")
    assert not result.success
    message = _failure(result)
    assert "RandomFallbackRefusedError" in message
    assert "weights='auto': the ImageNet weights could not be loaded" in message
    assert str(offline_torch / "hub" / "checkpoints" / "densenet121-a639ec97.pth") in message
    assert "weights='random'" in message
    assert not result.asset_materializations_for_node("features__densenet_features")


@pytest.mark.slow
def test_random_asked_for_off_the_demo_is_extracted(offline_torch, nodule_store) -> None:
    result, logs = _extract(nodule_store, LOCAL, "random")
    assert result.success
    [event] = result.asset_materializations_for_node("features__densenet_features")
    assert event.metadata["densenet_weights"].value == RANDOM
    assert event.metadata["weights_fallback"].value is False
    assert not [line for line in logs if "RANDOM weights" in line]


@pytest.mark.slow
def test_auto_on_the_demo_falls_back_with_its_warning(offline_torch, nodule_store) -> None:
    result, logs = _extract(nodule_store, DemoSourceResource(), "auto")
    assert result.success
    [event] = result.asset_materializations_for_node("features__densenet_features")
    assert event.metadata["densenet_weights"].value == RANDOM
    assert event.metadata["weights_fallback"].value is True
    assert [line for line in logs if "uses RANDOM weights" in line and "network disabled" in line]
