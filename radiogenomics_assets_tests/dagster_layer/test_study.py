"""The study file: one schema, clear refusals, the shipped studies, and a graph scoped by it."""

from __future__ import annotations

from pathlib import Path

import pytest
from dagster import AssetKey

from radiogenomics_assets.definitions import build_definitions
from radiogenomics_assets.defs.assets import all_assets
from radiogenomics_assets.defs.resources.modeling import CV_REPEATS_ENV
from radiogenomics_assets.defs.scope import ScopeError, scoped_assets
from radiogenomics_assets.defs.study import StudyError, build_study, load_study
from radiogenomics_assets.survival.registry import MODEL_REGISTRY
from radiogenomics_assets_tests.conftest import REPO_ROOT

STUDIES = REPO_ROOT / "studies"
GENOMICS_ONLY = {"modalities": ["genomics"], "cohort": {"require_ct": False, "require_seg": False}}


@pytest.fixture(autouse=True)
def _no_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("RADIOGENOMICS_SOURCE", CV_REPEATS_ENV, "RADIOGENOMICS_DEMO_PATIENTS"):
        monkeypatch.delenv(name, raising=False)


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "study.yaml"
    path.write_text(text)
    return path


def test_the_shipped_demo_study_is_the_default() -> None:
    shipped = load_study(STUDIES / "demo.yaml").describe()
    default = build_study({}, None).describe()
    assert {k: v for k, v in shipped.items() if k != "file"} == {
        k: v for k, v in default.items() if k != "file"
    }


@pytest.mark.parametrize("path", sorted(STUDIES.glob("*.yaml")), ids=lambda p: p.name)
def test_every_shipped_study_loads_and_says_what_it_is(path: Path) -> None:
    study = load_study(path)
    assert study.name == path.stem
    assert study.description
    assert path.read_text().startswith("#")  # its comments say what it reproduces


def test_the_papers_107_genomics_study() -> None:
    study = load_study(STUDIES / "paper_107_genomics.yaml")
    assert study.models == ("cox_g", "mlp_g")
    assert study.cohort.therapy_rule == "keep_chemoradiation"
    assert not study.cohort.require_ct and not study.cohort.require_seg
    assert study.source.dicom_root is None  # no imaging: no DICOM root asked for


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("cohorts: {}", ["unknown key 'cohorts'", "allowed: name"]),
        ("cohort: {therapy: paper}", ["cohort.therapy", "allowed: require_rnaseq"]),
        (
            "cohort: {therapy_rule: chemo}",
            ["cohort.therapy_rule", "'keep_chemoradiation'", "chemo"],
        ),
        ("modeling: {net: {max_steps: many}}", ["modeling.net.max_steps", "integer"]),
        ("modalities: [genomics, ct]", ["modalities", "'ct'", "pyradiomics"]),
        ("modalities: [genomics]\nmodels: [cox_p]", ["cox_p reads pyradiomics"]),
        ("models: [cox_x]", ["'cox_x'", "coxnet, net"]),
        ("source: {kind: demo, clinical_csv: a.csv}", ["source.clinical_csv", "demo source"]),
        ("source: {kind: pacs}", ["source.kind", "'local'"]),
        ("genomics: {transform: log2}", ["genomics.transform", "'auto'"]),
        ("cohort: [1, 2]", ["cohort must be a mapping"]),
        ("name: [unclosed", ["is not YAML"]),
    ],
)
def test_a_refused_study_names_the_file_the_key_and_what_is_allowed(
    tmp_path: Path, text: str, names: list[str]
) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(StudyError) as raised:
        load_study(path)
    message = str(raised.value)
    assert str(path) in message
    for name in names:
        assert name in message


def test_a_family_keeps_the_models_the_modalities_allow() -> None:
    study = build_study({"modalities": ["genomics", "pyradiomics"], "models": ["coxnet"]}, None)
    assert study.models == ("cox_g", "cox_p", "cox_ef_g_p", "cox_lf_g_p")


def test_an_environment_variable_overrides_the_file(monkeypatch, tmp_path: Path) -> None:
    path = _write(tmp_path, "modeling: {cv_repeats: 7, seed: 11}")
    assert load_study(path).modeling.cv_repeats == 7
    monkeypatch.setenv(CV_REPEATS_ENV, "2")
    study = load_study(path)
    assert (study.modeling.cv_repeats, study.modeling.seed) == (2, 11)


def test_local_paths_are_read_from_the_study_folder(tmp_path: Path) -> None:
    path = _write(tmp_path, "source: {kind: local, clinical_csv: data/labels.csv}")
    source = load_study(path).source
    assert source.clinical_csv == str(tmp_path / "data" / "labels.csv")


def _keys(study) -> set[str]:
    graph = build_definitions(study=study).resolve_asset_graph()
    return {key.to_user_string() for key in graph.get_all_asset_keys()}


def test_a_genomics_only_study_has_no_imaging_and_no_imaging_model() -> None:
    full, genomics = _keys(build_study({}, None)), _keys(build_study(GENOMICS_ONLY, None))
    left_out = full - genomics
    assert {"raw/ct_series", "features/nodule_volume", "features/densenet_table"} <= left_out
    assert {"modeling/cox_p", "modeling/block_g_d", "modeling/lf_g_p_d"} <= left_out
    assert {"modeling/cox_g", "modeling/mlp_g", "evaluation/results_table"} <= genomics
    assert not {k for k in genomics if k.startswith("modeling/")} - {
        "modeling/cox_g",
        "modeling/mlp_g",
        "modeling/fold_assignment",
        "modeling/fold_splits",
        "modeling/model_registry",
    }
    defs = build_definitions(study=build_study(GENOMICS_ONLY, None))
    graph = defs.resolve_asset_graph()
    # Evaluation depends on the study's models only, so it is never waiting on a left-out one.
    parents = graph.get(AssetKey(["evaluation", "results_table"])).parent_keys
    assert {k.to_user_string() for k in parents if k.path[0] == "modeling"} == {
        "modeling/cox_g",
        "modeling/mlp_g",
    }
    assert not defs.resolve_job_def("patient_assets_job").asset_layer.selected_asset_keys


def _family(estimator: str) -> frozenset[str]:
    return frozenset(f"modeling/{s.name}" for s in MODEL_REGISTRY if s.estimator == estimator)


def _versions(content: dict) -> dict[str, str | None]:
    graph = build_definitions(study=build_study(content, None)).resolve_asset_graph()
    return {k.to_user_string(): graph.get(k).code_version for k in graph.get_all_asset_keys()}


@pytest.mark.parametrize(
    ("change", "stale"),
    [
        ({"genomics": {"transform": "none"}}, {"features/gene_expression"}),
        ({"densenet": {"batch_size": 4}}, {"features/densenet_features"}),
        ({"radiomics": {"bin_width": 10}}, {"features/radiomic_features"}),
        ({"modeling": {"net": {"max_steps": 100}}}, {_family("net")}),
        ({"modeling": {"alpha_selection": "validation"}}, {_family("coxnet")}),
    ],
)
def test_a_setting_changes_the_code_version_of_exactly_the_assets_reading_it(
    change: dict, stale: set[str]
) -> None:
    stale = set().union(*(s if isinstance(s, frozenset) else {s} for s in stale))
    stale.add("evaluation/study_report")  # it shows every setting of the study
    base, changed = _versions({}), _versions(change)
    assert {k for k in base if base[k] != changed[k]} == stale


def test_a_kept_asset_that_reads_a_left_out_one_is_refused() -> None:
    with pytest.raises(ScopeError, match="reads features/gene_expression, left out of the study"):
        scoped_assets(all_assets, {AssetKey(["features", "gene_expression"])})
