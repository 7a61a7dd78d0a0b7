"""``benchmarks/consort.py`` on the real files: the flow of every rule and its test folds."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import get_args

import pytest

from radiogenomics_assets.cohort.criteria import CohortCriteria, TherapyRule
from radiogenomics_assets_tests.cohort.real_files import RealInputs, load_real_inputs

_SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "consort.py"
_spec = importlib.util.spec_from_file_location("benchmarks_consort", _SCRIPT)
consort = importlib.util.module_from_spec(_spec)
# Registered before it runs: dataclasses look their module up to resolve annotations.
sys.modules[_spec.name] = consort
_spec.loader.exec_module(consort)


@pytest.fixture(scope="module")
def real(shared_data: Path) -> RealInputs:
    return load_real_inputs(shared_data)


def test_the_default_data_folder_is_shared_data_beside_the_checkout() -> None:
    checkout = _SCRIPT.parents[1]
    assert consort.DEFAULT_DATA.relative_to(checkout.parent) == Path("shared", "data")


@pytest.mark.parametrize("require_seg", [True, False])
@pytest.mark.parametrize("rule", get_args(TherapyRule))
def test_the_folds_split_each_rules_cohort_stratified_by_event(
    real: RealInputs, rule: TherapyRule, require_seg: bool
) -> None:
    criteria = CohortCriteria(require_seg=require_seg, therapy_rule=rule)
    result = consort.variant(real, criteria, seed=2020)
    assert sum(result.patients_per_fold) == result.flow["patients_remaining"].iloc[-1]
    assert sum(result.events_per_fold) == result.n_events
    assert max(result.events_per_fold) - min(result.events_per_fold) <= 1
    assert max(result.patients_per_fold) - min(result.patients_per_fold) <= 1


def test_the_report_prints_both_tables_with_the_documented_paper_counts(
    shared_data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    consort.main(["--data", str(shared_data), "--seed", "2020"])
    lines = capsys.readouterr().out.splitlines()
    therapy = [line for line in lines if line.startswith("| 6 therapy rule")]
    therapy += [line for line in lines if line.startswith("| 5 therapy rule")]
    # The paper rule's column is first: README's 88 with the SEG requirement, 93 without.
    assert [line.split(" | ")[1] for line in therapy] == ["88 (−29)", "93 (−37)"]
    header = next(line for line in lines if line.startswith("| step |"))
    assert header.count("`") == 2 * len(get_args(TherapyRule))
    assert sum(line.startswith("| events per test fold |") for line in lines) == 2


def test_a_wrong_data_folder_is_named(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=str(tmp_path)):
        consort.main(["--data", str(tmp_path)])
