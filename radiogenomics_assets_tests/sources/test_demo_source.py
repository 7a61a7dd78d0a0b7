"""DemoSource: generated on first use, then exactly a LocalSource over the cohort."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from radiogenomics_assets.sources.base import DataSource
from radiogenomics_assets.sources.demo import DemoCohort, DemoConfig, DemoSource
from radiogenomics_assets.sources.demo import cohort as cohort_module
from radiogenomics_assets.sources.demo import source as source_module
from radiogenomics_assets.sources.local import LocalSource
from radiogenomics_assets_tests.demo_fixtures import SMALL_CONFIG


def test_is_an_offline_data_source(demo_cache: Path) -> None:
    source = DemoSource(demo_cache, SMALL_CONFIG)
    assert isinstance(source, DataSource)
    assert (source.name, source.offline) == ("demo", True)


def test_describe_adds_seed_size_and_ground_truth(demo_cache: Path) -> None:
    described = DemoSource(demo_cache, SMALL_CONFIG).describe()
    assert described["source"] == "demo"
    assert described["seed"] == str(SMALL_CONFIG.seed)
    assert described["n_patients"] == str(SMALL_CONFIG.n_patients)
    assert described["config_digest"] == SMALL_CONFIG.short_digest()
    expected = demo_cache / SMALL_CONFIG.short_population_digest() / "ground_truth.csv"
    assert described["ground_truth"] == str(expected)


def test_every_size_of_a_population_shares_one_folder(tmp_path: Path) -> None:
    small = DemoSource(tmp_path, DemoConfig(n_patients=4, seed=3, n_genes=120))
    large = DemoSource(tmp_path, DemoConfig(n_patients=9, seed=3, n_genes=120))
    other = DemoSource(tmp_path, DemoConfig(n_patients=4, seed=4, n_genes=120))
    assert small.cohort_root == large.cohort_root != other.cohort_root
    assert small.describe()["config_digest"] != large.describe()["config_digest"]


def test_serves_the_same_manifest_as_a_local_source(
    demo_cache: Path, small_cohort: DemoCohort
) -> None:
    demo = DemoSource(demo_cache, SMALL_CONFIG).imaging_manifest(lambda _m: None).frame
    local = (
        LocalSource(small_cohort.dicom_root, small_cohort.clinical_csv, small_cohort.rnaseq_matrix)
        .imaging_manifest(lambda _m: None)
        .frame
    )
    pd.testing.assert_frame_equal(demo, local)


def test_fetches_files(
    demo_cache: Path, small_cohort: DemoCohort, small_ground_truth: pd.DataFrame, tmp_path: Path
) -> None:
    source = DemoSource(demo_cache, SMALL_CONFIG)
    source.fetch_clinical_labels(tmp_path / "labels.csv", lambda _m: None)
    assert (tmp_path / "labels.csv").read_bytes() == small_cohort.clinical_csv.read_bytes()
    source.fetch_rnaseq_matrix(tmp_path / "matrix.txt.gz", lambda _m: None)
    assert (tmp_path / "matrix.txt.gz").read_bytes() == small_cohort.rnaseq_matrix.read_bytes()
    patient = small_ground_truth.loc[small_ground_truth["has_seg"]].iloc[0]
    dest = tmp_path / "ct"
    dest.mkdir()
    source.fetch_series(patient["patient_id"], patient["ct_series_uid"], dest, lambda _m: None)
    assert len(list(dest.glob("*.dcm"))) == SMALL_CONFIG.n_slices


def test_ground_truth_is_typed(small_ground_truth: pd.DataFrame, small_cohort: DemoCohort) -> None:
    raw = pd.read_csv(small_cohort.ground_truth_csv)
    assert len(small_ground_truth) == len(raw) == SMALL_CONFIG.n_patients
    assert small_ground_truth["has_seg"].dtype == bool
    assert str(small_ground_truth["nodule_voxels"].dtype) == "Int64"
    imaged = small_ground_truth["has_seg"]
    assert small_ground_truth.loc[imaged, "nodule_voxels"].gt(0).all()
    assert small_ground_truth.loc[~imaged, "nodule_voxels"].isna().all()
    assert small_ground_truth["patient_id"].tolist() == raw["patient_id"].tolist()


def test_generates_once_on_first_use(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = DemoConfig(n_patients=2, seed=3, n_genes=120)
    messages: list[str] = []
    first = DemoSource(tmp_path, config)
    assert not first.cohort_root.exists()
    manifest = first.imaging_manifest(messages.append).frame
    assert first.cohort_root == tmp_path / config.short_population_digest()
    assert (first.cohort_root / "cohort.json").is_file()
    assert any("generated 2 patients" in m for m in messages)

    def refuse(*_args: object) -> None:
        raise AssertionError("the cohort was rebuilt")

    monkeypatch.setattr(cohort_module, "_build", refuse)
    again = DemoSource(tmp_path, config).imaging_manifest(lambda _m: None).frame
    pd.testing.assert_frame_equal(again, manifest)


def test_rejects_a_config_of_the_wrong_type(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="config must be a DemoConfig, got int"):
        DemoSource(tmp_path, 7)  # type: ignore[arg-type]


def test_series_are_hard_linked_from_the_cohort_and_local_trees_are_copied(
    demo_cache: Path, small_cohort: DemoCohort, small_ground_truth: pd.DataFrame, tmp_path: Path
) -> None:
    patient = small_ground_truth.loc[small_ground_truth["has_seg"]].iloc[0]
    fetched = {}
    for name, source in {
        "demo": DemoSource(demo_cache, SMALL_CONFIG),
        "local": LocalSource(
            small_cohort.dicom_root, small_cohort.clinical_csv, small_cohort.rnaseq_matrix
        ),
    }.items():
        dest = tmp_path / name
        dest.mkdir()
        source.fetch_series(patient["patient_id"], patient["ct_series_uid"], dest, lambda _m: None)
        fetched[name] = sorted(dest.glob("*.dcm"))
    generated = {p.stat().st_ino for p in small_cohort.dicom_root.rglob("*.dcm")}
    assert len(fetched["demo"]) == len(fetched["local"]) == SMALL_CONFIG.n_slices
    assert all(p.stat().st_ino in generated for p in fetched["demo"])
    assert not any(p.stat().st_ino in generated for p in fetched["local"])
    for linked, copied in zip(fetched["demo"], fetched["local"], strict=True):
        assert linked.read_bytes() == copied.read_bytes()


def test_a_complete_cohort_is_checked_once_per_process_until_it_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = DemoConfig(n_patients=2, seed=5, n_genes=120)
    checks: list[Path] = []

    def counted(root: Path, *args: object, **kwargs: object) -> DemoCohort:
        checks.append(root)
        return cohort_module.generate_demo_cohort(root, *args, **kwargs)

    monkeypatch.setattr(source_module, "generate_demo_cohort", counted)
    for _ in range(3):
        DemoSource(tmp_path, config).imaging_manifest(lambda _m: None)
    assert len(checks) == 1
    description = tmp_path / config.short_population_digest() / "cohort.json"
    description.write_text(description.read_text())  # as a regeneration would rewrite it
    DemoSource(tmp_path, config).imaging_manifest(lambda _m: None)
    assert len(checks) == 2
