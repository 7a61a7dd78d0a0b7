"""A cohort grows and shrinks in place: old patients keep their bytes and their files."""

from __future__ import annotations

import dataclasses
import gzip
import json
import math
import os
import shutil
from pathlib import Path

import pandas as pd
import pytest

from radiogenomics_assets.sources.demo import DemoConfig, generate_demo_cohort, verify_demo_cohort
from radiogenomics_assets.sources.demo import cohort as cohort_module
from radiogenomics_assets.sources.demo import integrity as integrity_module
from radiogenomics_assets.sources.demo.config import count_of
from radiogenomics_assets.sources.demo.plan import mean_adjuvant_weight, plan_cohort
from radiogenomics_assets.store.files import sha256_file

#: Small images so that a dozen patients take a second or two.
SMALL = DemoConfig(
    n_patients=12, seed=7, n_genes=150, rows=96, cols=96, pixel_spacing_mm=3.2, n_slices=32
)
GROWN = dataclasses.replace(SMALL, n_patients=17)
#: A timestamp no write during a test can produce.
OLD_NS = 1_000_000_000 * 10**9


def _digests(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): sha256_file(p) for p in root.rglob("*") if p.is_file()}


def _age_files(root: Path) -> dict[str, tuple[int, int]]:
    """Backdate every file so that a rewrite shows in mtime, and return inode and mtime."""
    stamps = {}
    for path in root.rglob("*"):
        if path.is_file():
            os.utime(path, ns=(OLD_NS, OLD_NS))
            stamps[path.relative_to(root).as_posix()] = (path.stat().st_ino, OLD_NS)
    return stamps


def _stamps(root: Path) -> dict[str, tuple[int, int]]:
    return {
        p.relative_to(root).as_posix(): (p.stat().st_ino, p.stat().st_mtime_ns)
        for p in root.rglob("*")
        if p.is_file()
    }


def _dicom(names: dict[str, object]) -> set[str]:
    return {name for name in names if name.startswith("dicom/")}


def _lines(path: Path) -> list[str]:
    if path.suffix == ".gz":
        with gzip.open(path, "rt", encoding="utf-8") as handle:
            return handle.read().splitlines()
    return path.read_text(encoding="utf-8").splitlines()


@pytest.fixture(scope="module")
def fresh_grown(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Every file's digest in a cohort of GROWN built from nothing."""
    root = tmp_path_factory.mktemp("fresh") / "c"
    generate_demo_cohort(root, GROWN)
    return _digests(root)


@pytest.mark.parametrize(("n", "k"), [(2, 1), (5, 7), (13, 20), (40, 3), (150, 50)])
def test_a_plan_is_the_prefix_of_every_larger_plan(n: int, k: int) -> None:
    config = DemoConfig(n_patients=n, seed=7, n_genes=120)
    smaller = plan_cohort(config)
    larger = plan_cohort(dataclasses.replace(config, n_patients=n + k))
    pd.testing.assert_frame_equal(smaller, larger.iloc[:n])


def test_the_amc_share_is_exact_after_every_prefix() -> None:
    config = DemoConfig(n_patients=211, seed=7, n_genes=120, amc_fraction=49 / 211)
    plan = plan_cohort(config)
    amc = (plan["site"] == "AMC").cumsum().to_numpy()
    assert [int(a) for a in amc] == [count_of(config.amc_fraction, i) for i in range(1, 212)]
    assert plan["patient_id"].is_unique
    for site in ("AMC", "R01"):
        numbers = plan.loc[plan["site"] == site, "patient_id"].str[4:].astype(int)
        assert numbers.tolist() == list(range(1, len(numbers) + 1))


def test_gap_shares_match_the_config_within_binomial_noise() -> None:
    config = DemoConfig(n_patients=1900, seed=8, n_genes=120, amc_fraction=0.5)
    plan = plan_cohort(config)
    r01 = plan[plan["site"] == "R01"]
    seg = plan[plan["has_seg"]]

    def near(observed: pd.Series, p: float) -> bool:
        return abs(observed.mean() - p) <= 4 * math.sqrt(p * (1 - p) / len(observed))

    assert near(~r01["has_rnaseq"], config.r01_without_rnaseq_fraction)
    assert near(~plan["has_seg"], config.without_seg_fraction)
    assert near(seg["has_second_segment"], config.second_segment_fraction)
    assert near(plan["adjuvant"], config.adjuvant_fraction)
    assert not plan.loc[plan["site"] == "AMC", "has_rnaseq"].any()
    # Adjuvant therapy favours node-positive patients by the configured weights.
    n2 = plan.loc[plan["n_stage"] == "N2", "adjuvant"]
    expected_n2 = config.adjuvant_fraction * 4.0 / mean_adjuvant_weight(config)
    assert near(n2, expected_n2)
    assert (~plan["recurrence_collected"]).sum() == 1
    unknown = plan.loc[~plan["recurrence_collected"]].iloc[0]
    assert unknown["has_rnaseq"] and unknown["has_seg"] and not unknown["adjuvant"]


def test_growing_writes_only_the_new_patients(tmp_path: Path, fresh_grown: dict[str, str]) -> None:
    root = tmp_path / "c"
    small = generate_demo_cohort(root, SMALL)
    before_digests = _digests(root)
    before_stamps = _age_files(root)
    before_lines = {
        name: _lines(path)
        for name, path in [
            ("clinical", small.clinical_csv),
            ("matrix", small.rnaseq_matrix),
            ("truth", small.ground_truth_csv),
        ]
    }

    messages: list[str] = []
    grown = generate_demo_cohort(root, GROWN, log=messages.append)

    after_stamps = _stamps(root)
    old_dicom = _dicom(before_stamps)
    assert old_dicom
    # The old patients' files are the same files, neither rewritten nor replaced.
    assert {name: after_stamps[name] for name in old_dicom} == {
        name: before_stamps[name] for name in old_dicom
    }
    after_digests = _digests(root)
    assert {name: after_digests[name] for name in old_dicom} == {
        name: before_digests[name] for name in old_dicom
    }
    # The grown folder is exactly a cohort of GROWN built from nothing.
    assert after_digests == fresh_grown
    verify_demo_cohort(grown)

    plan = plan_cohort(GROWN)
    new_imaged = set(plan.iloc[SMALL.n_patients :].query("has_seg")["patient_id"])
    new_folders = {p.name for p in grown.dicom_root.iterdir()} - {
        name.split("/")[1] for name in old_dicom
    }
    assert new_folders == new_imaged
    added = plan["patient_id"].iloc[SMALL.n_patients :].tolist()
    assert any(f"added {len(added)} ({', '.join(added)})" in m for m in messages), messages

    clinical = _lines(grown.clinical_csv)
    assert clinical[: 1 + SMALL.n_patients] == before_lines["clinical"]
    assert len(clinical) == 1 + GROWN.n_patients
    truth = _lines(grown.ground_truth_csv)
    assert truth[: 1 + SMALL.n_patients] == before_lines["truth"]
    assert len(truth) == 1 + GROWN.n_patients
    matrix = [line.split("\t") for line in _lines(grown.rnaseq_matrix)]
    old_matrix = [line.split("\t") for line in before_lines["matrix"]]
    width = len(old_matrix[0])
    assert [row[:width] for row in matrix] == old_matrix
    assert len(matrix[0]) == 1 + int(plan["has_rnaseq"].sum())


def test_shrinking_removes_the_extra_patients(tmp_path: Path) -> None:
    reference = tmp_path / "reference"
    generate_demo_cohort(reference, SMALL)
    root = tmp_path / "c"
    generate_demo_cohort(root, GROWN)
    stamps = _age_files(root)

    messages: list[str] = []
    shrunk = generate_demo_cohort(root, SMALL, log=messages.append)

    assert _digests(root) == _digests(reference)
    extra = plan_cohort(GROWN)["patient_id"].iloc[SMALL.n_patients :].tolist()
    assert not any((shrunk.dicom_root / pid).exists() for pid in extra)
    assert any(f"removed {len(extra)}" in m for m in messages), messages
    kept = {name for name in _dicom(stamps) if name.split("/")[1] not in extra}
    assert {name: _stamps(root)[name] for name in kept} == {name: stamps[name] for name in kept}
    assert not [p for p in shrunk.dicom_root.iterdir() if p.name.startswith(".")]
    document = json.loads(shrunk.cohort_json.read_text())
    assert document["config"]["n_patients"] == SMALL.n_patients


def test_an_interrupted_growth_is_finished_by_the_next_call(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh_grown: dict[str, str]
) -> None:
    root = tmp_path / "c"
    generate_demo_cohort(root, SMALL)
    stamps = _age_files(root)
    real_write_seg = cohort_module.write_seg
    calls: list[int] = []

    def crash_on_the_second(*args: object, **kwargs: object) -> object:
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt("power cut")
        return real_write_seg(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(cohort_module, "write_seg", crash_on_the_second)
    with pytest.raises(KeyboardInterrupt, match="power cut"):
        generate_demo_cohort(root, GROWN)
    monkeypatch.setattr(cohort_module, "write_seg", real_write_seg)
    assert json.loads((root / "cohort.json").read_text())["state"] == "updating"
    # The patient cut off has no folder at all, only (at most) a hidden partial one.
    written = {p.name for p in (root / "dicom").iterdir() if not p.name.startswith(".")}
    assert len(written - {name.split("/")[1] for name in _dicom(stamps)}) == 1

    messages: list[str] = []
    generate_demo_cohort(root, GROWN, log=messages.append)
    assert any("an earlier update did not finish" in m for m in messages), messages
    assert _digests(root) == fresh_grown
    old = _dicom(stamps)
    assert {name: _stamps(root)[name] for name in old} == {name: stamps[name] for name in old}


def test_a_missing_patient_folder_is_rewritten_alone(tmp_path: Path) -> None:
    root = tmp_path / "c"
    cohort = generate_demo_cohort(root, SMALL)
    digests = _digests(root)
    stamps = _age_files(root)
    victim = sorted(p.name for p in cohort.dicom_root.iterdir())[1]
    shutil.rmtree(cohort.dicom_root / victim)

    messages: list[str] = []
    generate_demo_cohort(root, SMALL, log=messages.append)
    assert any("is missing" in m for m in messages), messages
    assert _digests(root) == digests
    others = {name for name in _dicom(stamps) if name.split("/")[1] != victim}
    assert {name: _stamps(root)[name] for name in others} == {name: stamps[name] for name in others}
    assert any("wrote 1 CT+SEG studies" in m for m in messages), messages


def test_reuse_reads_no_file_contents(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "c"
    generate_demo_cohort(root, SMALL)

    def refuse(path: Path) -> str:
        raise AssertionError(f"{path} was hashed on reuse")

    monkeypatch.setattr(integrity_module, "sha256_file", refuse)
    monkeypatch.setattr(cohort_module, "sha256_file", refuse)
    messages: list[str] = []
    generate_demo_cohort(root, SMALL, log=messages.append)
    assert any("reusing" in m for m in messages)
