"""The cohort setting is given once, as a resource, and a change of it is a change Dagster sees.

Its values are part of the code version of exactly the cohort assets that read them: changing
the outcome origin plans ``cohort/outcomes`` and everything reading the filter again, changing
a filter criterion leaves ``cohort/outcomes`` alone. The cohort tables come from the real
clinical CSV and RNA-seq matrix (no SEG there: the imaging criteria are off).
"""

from __future__ import annotations

import pytest
from dagster import AssetKey, DagsterInstance, materialize

from radiogenomics_assets.cli.walk_plan import WalkPlanner
from radiogenomics_assets.definitions import build_definitions
from radiogenomics_assets.defs.assets.cohort import cohort_assets
from radiogenomics_assets.defs.assets.raw import (
    clinical_labels,
    imaging_manifest,
    rnaseq_expression,
)
from radiogenomics_assets.defs.assets.settings_versions import with_settings_versions
from radiogenomics_assets.defs.resources.cohort import CohortResource
from radiogenomics_assets.defs.resources.source import LocalSourceResource
from radiogenomics_assets_tests.dagster_layer.conftest import resources_for
from radiogenomics_assets_tests.dagster_layer.test_cohort_real_files import CLINICAL, CT, ZSCORE

BASE = CohortResource(require_ct=False, require_seg=False)
SURGERY = CohortResource(require_ct=False, require_seg=False, origin="surgery")
COHORT_KEYS = {
    AssetKey(["cohort", name]) for name in ("outcomes", "patients", "study_cohort", "consort_flow")
}
#: The figures whose time axis names the origin.
ORIGIN_FIGURES = {AssetKey(["evaluation", name]) for name in ("td_auc_figures", "km_figures")}
#: The study report shows every setting.
REPORT = AssetKey(["evaluation", "study_report"])


def _code_versions(cohort: CohortResource) -> dict[AssetKey, str | None]:
    graph = build_definitions(cohort=cohort).resolve_asset_graph()
    return {key: graph.get(key).code_version for key in graph.get_all_asset_keys()}


def test_a_setting_changes_the_code_version_of_exactly_the_assets_reading_it() -> None:
    base = _code_versions(BASE)
    surgery = _code_versions(SURGERY)
    therapy = _code_versions(
        CohortResource(require_ct=False, require_seg=False, exclude_unknown_therapy=False)
    )
    assert {k for k in base if base[k] != surgery[k]} == COHORT_KEYS | ORIGIN_FIGURES | {REPORT}
    assert {k for k in base if base[k] != therapy[k]} == COHORT_KEYS - {
        AssetKey(["cohort", "outcomes"])
    } | {REPORT}
    assert base == _code_versions(CohortResource(require_ct=False, require_seg=False))


def test_the_therapy_rule_is_in_the_versions_of_the_assets_that_filter() -> None:
    base = _code_versions(BASE)
    rule = _code_versions(
        CohortResource(require_ct=False, require_seg=False, therapy_rule="keep_chemoradiation")
    )
    assert {k for k in base if base[k] != rule[k]} == COHORT_KEYS - {
        AssetKey(["cohort", "outcomes"])
    } | {REPORT}


def test_the_therapy_rule_reaches_the_criteria_and_is_validated() -> None:
    from pydantic import ValidationError

    from radiogenomics_assets.cohort.criteria import CohortCriteria

    resource = CohortResource(therapy_rule="keep_chemotherapy")
    assert resource.criteria() == CohortCriteria(therapy_rule="keep_chemotherapy")
    with pytest.raises(ValidationError, match="therapy_rule"):
        CohortResource(therapy_rule="chemotherapy")
    with pytest.raises(ValueError, match="therapy_flags narrows the 'paper' rule only"):
        CohortResource(therapy_rule="keep_any", therapy_flags=["adjuvant"]).criteria()


def test_the_default_setting_is_the_papers_filter() -> None:
    from radiogenomics_assets.cohort.criteria import CohortCriteria

    assert CohortResource().criteria() == CohortCriteria()


@pytest.fixture
def materialized(shared_data, store):
    """The cohort assets materialized under BASE, in an instance the test inspects."""
    source = LocalSourceResource(
        dicom_root=str(shared_data / CT),
        clinical_csv=str(shared_data / CLINICAL),
        rnaseq_matrix=str(shared_data / ZSCORE),
    )
    instance = DagsterInstance.ephemeral()
    raw = [clinical_labels, rnaseq_expression, imaging_manifest]
    result = materialize(
        [*raw, *with_settings_versions(cohort_assets, {"cohort": BASE})],
        resources=resources_for(store, source, BASE),
        instance=instance,
    )
    assert result.success
    yield store, source, instance, raw
    instance.dispose()


def _cohort_plan(store, source, instance, cohort: CohortResource):
    """A walk's plan of the cohort assets under ``cohort``, and its reasons by asset."""
    planner = WalkPlanner(build_definitions(store, source, cohort=cohort), instance)
    plan = planner.plan("cohort", sorted(COHORT_KEYS), [None])
    return plan, {item.key: item.reason for _, items in plan.steps for item in items}


def test_changing_the_origin_plans_the_cohort_assets_again(materialized) -> None:
    store, source, instance, _ = materialized
    first, planned = _cohort_plan(store, source, instance, BASE)
    assert planned == {}
    first.commit(instance)
    assert _cohort_plan(store, source, instance, BASE)[1] == {}

    _, changed = _cohort_plan(store, source, instance, SURGERY)
    assert set(changed) == COHORT_KEYS
    assert changed[AssetKey(["cohort", "outcomes"])] == "its code version changed"


def test_a_run_with_settings_other_than_the_code_locations_fails(materialized) -> None:
    store, source, instance, raw = materialized
    result = materialize(
        [*raw, *with_settings_versions(cohort_assets, {"cohort": BASE})],
        selection=[AssetKey(["cohort", "outcomes"])],
        resources=resources_for(store, source, SURGERY),
        instance=instance,
        raise_on_error=False,
    )
    assert not result.success
    [failure] = [e for e in result.all_events if e.is_step_failure]
    assert "differ from the code location's" in str(failure.step_failure_data.error)
