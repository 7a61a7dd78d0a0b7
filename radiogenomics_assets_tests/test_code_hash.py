"""Derived code versions change exactly when code an asset runs changes."""

from __future__ import annotations

import dataclasses

import pytest

from radiogenomics_assets import code_hash
from radiogenomics_assets.defs.assets import all_assets
from radiogenomics_assets.defs.assets.modeling import build_model_asset
from radiogenomics_assets.survival.registry import MODEL_REGISTRY, get_spec


def _versions() -> dict[str, str]:
    return {
        key.to_user_string(): spec.code_version
        for a in all_assets
        for key, spec in zip(a.keys, a.specs, strict=True)
    }


def _digests() -> dict[str, str]:
    return {
        key.to_user_string(): code_hash.code_digest(
            a.op.compute_fn.decorated_fn,
            exclude_modules=["radiogenomics_assets.survival.registry"]
            if key.path[1] in {s.name for s in MODEL_REGISTRY}
            else (),
        )
        for a in all_assets
        for key in a.keys
    }


def _changed_when(monkeypatch: pytest.MonkeyPatch, module: str) -> set[str]:
    """Asset keys whose digest changes when ``module``'s source changes."""
    before = _digests()
    real = code_hash.module_digest
    monkeypatch.setattr(
        code_hash, "module_digest", lambda name: real(name) + ("x" if name == module else "")
    )
    after = _digests()
    return {key for key in before if before[key] != after[key]}


def test_every_asset_has_a_derived_code_version() -> None:
    versions = _versions()
    assert all(versions.values()), [k for k, v in versions.items() if not v]
    assert len(set(versions.values())) > len(versions) / 2  # not one version for everything


def test_comments_docstrings_and_layout_do_not_change_a_version() -> None:
    plain = "def f(x):\n    return x + 1\n"
    decorated = 'def f(x):\n    """Add one."""\n    # why: the next index\n    return (x +\n  1)\n'
    assert code_hash._normalized(plain) == code_hash._normalized(decorated)
    assert code_hash._normalized(plain) != code_hash._normalized(plain.replace("1", "2"))


def test_a_library_change_reaches_exactly_the_assets_that_run_it(monkeypatch) -> None:
    changed = _changed_when(monkeypatch, "radiogenomics_assets.survival.splits")
    assert {"modeling/fold_assignment", "modeling/fold_splits", "modeling/cox_g"} <= changed
    assert not {k for k in changed if k.startswith(("raw/", "cohort/", "features/"))}


def test_the_radiomics_extractor_reaches_features_and_not_models(monkeypatch) -> None:
    changed = _changed_when(monkeypatch, "radiogenomics_assets.features.radiomics")
    assert "features/radiomic_features" in changed
    assert not {k for k in changed if k.startswith(("modeling/", "cohort/", "evaluation/"))}


def test_the_registry_reaches_models_only_through_their_own_spec(monkeypatch) -> None:
    changed = _changed_when(monkeypatch, "radiogenomics_assets.survival.registry")
    assert "modeling/model_registry" in changed
    assert "evaluation/results_table" in changed
    assert not {k for k in changed if k.split("/")[1] in {s.name for s in MODEL_REGISTRY}}


def test_one_changed_spec_changes_only_that_models_version() -> None:
    spec = get_spec("cox_g")
    other = get_spec("cox_p")
    changed = dataclasses.replace(spec, hyperparameters={**spec.hyperparameters, "l1_ratio": 0.5})
    old, new = (build_model_asset(s).specs_by_key for s in (spec, changed))
    (old_version,) = [s.code_version for s in old.values()]
    (new_version,) = [s.code_version for s in new.values()]
    assert old_version != new_version
    assert old_version.split(".")[0] == new_version.split(".")[0]  # same code, another spec
    (other_version,) = [s.code_version for s in build_model_asset(other).specs_by_key.values()]
    assert other_version.split(".")[0] == old_version.split(".")[0]


def _imports_neural_when_run() -> object:
    from radiogenomics_assets.survival.neural import fit_net

    return fit_net


def test_a_module_imported_inside_the_function_counts(monkeypatch) -> None:
    before = code_hash.code_digest(_imports_neural_when_run)
    real = code_hash.module_digest
    monkeypatch.setattr(
        code_hash,
        "module_digest",
        lambda name: real(name) + ("x" if name == "radiogenomics_assets.survival.neural" else ""),
    )
    assert code_hash.code_digest(_imports_neural_when_run) != before


def test_modules_imported_inside_library_functions_count() -> None:
    imported = code_hash.imported_modules("radiogenomics_assets.survival.fitting")
    assert {
        "radiogenomics_assets.survival.neural",
        "radiogenomics_assets.survival.fusion",
    } <= imported
    assert "radiogenomics_assets.survival.neural.fit_net" not in imported  # a name, not a module


# Run in a fresh interpreter: in this one, other tests have imported the lazily imported
# modules already, which would hide a hash that only follows what ``sys.modules`` holds.
FRESH_LOAD = """
import json
import sys
from radiogenomics_assets import code_hash
from radiogenomics_assets.defs.assets.modeling import build_model_asset
from radiogenomics_assets.survival.registry import get_spec

neural = "radiogenomics_assets.survival.neural"
assert neural not in sys.modules, "survival.neural is imported at load: nothing to test"
before = build_model_asset(get_spec("mlp_g")).specs_by_key
real = code_hash.module_digest
code_hash.module_digest = lambda name: real(name) + ("x" if name == neural else "")
after = build_model_asset(get_spec("mlp_g")).specs_by_key
versions = {s.code_version for s in before.values()} ^ {s.code_version for s in after.values()}
print(json.dumps(sorted(versions)))
"""


def test_a_net_models_version_follows_the_lazily_imported_neural_code() -> None:
    import json
    import subprocess
    import sys

    completed = subprocess.run(
        [sys.executable, "-c", FRESH_LOAD], capture_output=True, text=True, check=False
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    changed = json.loads(completed.stdout)
    assert len(changed) == 2, changed  # the version before and the one after


def test_a_module_importing_its_own_package_back_does_not_reach_the_whole_package() -> None:
    # provenance reads the asset list of the package that imports it: a cycle, not code it runs.
    imported = code_hash.imported_modules("radiogenomics_assets.defs.assets.provenance")
    assert "radiogenomics_assets.defs.assets" not in imported
    assert "radiogenomics_assets.defs.assets.outputs" in imported
