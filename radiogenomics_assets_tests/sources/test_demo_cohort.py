"""Generation is deterministic, atomic, idempotent and never deletes foreign folders."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pandas as pd
import pytest

from radiogenomics_assets.defs.resources.modeling import ModelingSettings
from radiogenomics_assets.sources.demo import (
    DemoCohort,
    DemoCohortError,
    DemoConfig,
    consort_counts,
    generate_demo_cohort,
    verify_demo_cohort,
)
from radiogenomics_assets.sources.demo import cohort as cohort_module
from radiogenomics_assets.sources.demo.cohort import incomplete_reason
from radiogenomics_assets.sources.demo.plan import plan_cohort
from radiogenomics_assets.store.files import sha256_file
from radiogenomics_assets.survival.splits import FOLD_NAMES, assign_test_folds, split_fold
from radiogenomics_assets_tests.demo_fixtures import SMALL_CONFIG, WALK_DEMO

TINY = DemoConfig(n_patients=3, seed=5, n_genes=120)


def _digests(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): sha256_file(p) for p in root.rglob("*") if p.is_file()}


def test_same_config_gives_identical_bytes_even_with_workers(
    small_cohort: DemoCohort, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Force the process pool for six patients so that the parallel path is compared too.
    monkeypatch.setattr(cohort_module, "_MIN_PATIENTS_PER_WORKER", 1)
    again = generate_demo_cohort(tmp_path / "again", SMALL_CONFIG, workers=2)
    first = _digests(small_cohort.root)
    assert len(first) > 3 * SMALL_CONFIG.n_slices
    assert _digests(again.root) == first


def test_another_seed_changes_every_file(tmp_path: Path) -> None:
    one = _digests(generate_demo_cohort(tmp_path / "one", TINY).root)
    other_config = DemoConfig(n_patients=3, seed=6, n_genes=120)
    other = _digests(generate_demo_cohort(tmp_path / "other", other_config).root)
    shared = set(one) & set(other)
    assert all(one[name] != other[name] for name in shared)
    assert not any(name.startswith("dicom/") for name in shared)


def test_cohort_json_describes_the_cohort(
    small_cohort: DemoCohort, small_ground_truth: pd.DataFrame
) -> None:
    document = json.loads(small_cohort.cohort_json.read_text())
    assert DemoConfig.from_dict(document["config"]) == SMALL_CONFIG
    assert document["counts"] == consort_counts(small_ground_truth)
    assert incomplete_reason(small_cohort.root, SMALL_CONFIG) is None
    verify_demo_cohort(small_cohort)


def test_small_cohort_has_every_gap(small_ground_truth: pd.DataFrame) -> None:
    truth = small_ground_truth
    assert (truth["site"] == "AMC").sum() == 1
    assert ((truth["site"] == "R01") & ~truth["has_rnaseq"]).sum() == 1
    assert (~truth["has_seg"]).sum() == 1
    assert (~truth["recurrence_collected"]).sum() == 1
    assert truth["adjuvant"].sum() == 1
    assert truth["has_second_segment"].sum() == 1
    expected = (
        truth["has_rnaseq"] & truth["has_seg"] & truth["recurrence_collected"] & ~truth["adjuvant"]
    )
    assert (truth["in_study_cohort"] == expected).all()
    assert truth.loc[truth["site"] == "AMC", "has_seg"].all()
    assert expected.sum() == 2
    assert truth.loc[expected, "event"].any()


def test_walk_cohort_gives_every_fold_events() -> None:
    """The whole-graph walks' cohort: every fold has two test events and a validation event."""
    plan = plan_cohort(DemoConfig(**WALK_DEMO))
    study = plan.loc[plan["in_study_cohort"], ["patient_id", "event"]].astype({"event": int})
    seed = ModelingSettings().seed  # the walks draw their folds with the default seed
    assignment = assign_test_folds(study, seed=seed)
    for fold in FOLD_NAMES:
        splits = split_fold(assignment, fold, seed=seed).drop(columns="event", errors="ignore")
        events = splits.merge(study, on="patient_id").groupby("split")["event"].sum()
        assert events.get("test", 0) >= 2 and events.get("validation", 0) >= 1, (fold, events)


def test_a_complete_cohort_is_reused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    generate_demo_cohort(tmp_path / "c", TINY)

    def refuse(*_args: object) -> None:
        raise AssertionError("the cohort was rebuilt")

    monkeypatch.setattr(cohort_module, "_build", refuse)
    messages: list[str] = []
    cohort = generate_demo_cohort(tmp_path / "c", TINY, log=messages.append)
    assert cohort.root == (tmp_path / "c").absolute()
    assert any("reusing" in m for m in messages)


def test_an_incomplete_or_other_cohort_is_replaced(tmp_path: Path) -> None:
    root = tmp_path / "c"
    cohort = generate_demo_cohort(root, TINY)
    victim = sorted(cohort.dicom_root.rglob("*.dcm"))[0]
    victim.unlink()
    messages: list[str] = []
    generate_demo_cohort(root, TINY, log=messages.append)
    assert victim.is_file()
    assert any("is missing" in m for m in messages)

    other = DemoConfig(n_patients=2, seed=9, n_genes=120)
    generate_demo_cohort(root, other)
    assert DemoConfig.from_dict(json.loads((root / "cohort.json").read_text())["config"]) == other
    assert not list(tmp_path.glob(".retired-*")) and not list(tmp_path.glob(".partial-*"))


def test_tampering_is_caught_by_verification(tmp_path: Path) -> None:
    cohort = generate_demo_cohort(tmp_path / "c", TINY)
    target = sorted(cohort.dicom_root.rglob("*.dcm"))[-1]
    data = bytearray(target.read_bytes())
    data[-1] ^= 0xFF
    target.write_bytes(bytes(data))
    assert incomplete_reason(cohort.root, TINY) is None
    with pytest.raises(DemoCohortError, match=rf"{target.name}: sha256 differs"):
        verify_demo_cohort(cohort)


def test_a_foreign_folder_is_never_replaced(tmp_path: Path) -> None:
    root = tmp_path / "mine"
    root.mkdir()
    (root / "thesis.txt").write_text("precious")
    with pytest.raises(DemoCohortError, match="not empty and holds no demo cohort"):
        generate_demo_cohort(root, TINY)
    assert (root / "thesis.txt").read_text() == "precious"


def test_a_failed_build_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(cohort_module, "write_seg", broken)
    with pytest.raises(RuntimeError, match="disk on fire"):
        generate_demo_cohort(tmp_path / "c", TINY)
    assert not (tmp_path / "c").exists()
    assert not list(tmp_path.glob(".partial-*"))


def test_concurrent_callers_build_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    builds: list[int] = []
    real_build = cohort_module._build

    def counting(*args: object) -> dict[str, int]:
        builds.append(1)
        return real_build(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(cohort_module, "_build", counting)
    results: list[DemoCohort] = []
    errors: list[BaseException] = []

    def call() -> None:
        try:
            results.append(generate_demo_cohort(tmp_path / "c", TINY))
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=call) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert len(results) == 3
    assert len(builds) == 1
    verify_demo_cohort(results[0])


def test_rejects_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="config must be a DemoConfig, got dict"):
        generate_demo_cohort(tmp_path / "c", {"seed": 1})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="workers must be a positive integer, got 0"):
        generate_demo_cohort(tmp_path / "c", TINY, workers=0)
