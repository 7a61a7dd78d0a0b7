from __future__ import annotations

import dataclasses
import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from radiogenomics_assets.survival.registry import (
    MODEL_REGISTRY,
    ModelSpec,
    RegistryError,
    get_spec,
    spec_frame,
    spec_version,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
PAPER_MODELS = [
    "cox_g",
    "cox_p",
    "cox_d",
    "cox_ef_g_p",
    "cox_lf_g_p",
    "cox_ef_g_d",
    "cox_lf_g_d",
    "cox_ef_g_p_d",
    "cox_lf_g_p_d",
]
#: Table 1(b) of the paper, then the two three-modality nets beyond it.
NET_MODELS = [
    "mlp_g",
    "mlp_p",
    "mlp_d",
    "if_g_p",
    "lf_g_p",
    "if_g_d",
    "lf_g_d",
    "block_g_p",
    "mfh_g_p",
    "block_g_d",
    "mfh_g_d",
    "if_g_p_d",
    "lf_g_p_d",
]
LETTERS = {"g": "genomics", "p": "pyradiomics", "d": "densenet"}
NET_FUSIONS = {
    "mlp": ("single", "MLP"),
    "if": ("intermediate", "IF"),
    "lf": ("late_joint", "LF"),
    "block": ("block", "BLOCK"),
    "mfh": ("mfh", "MFH"),
}


def test_the_paper_models_are_registered_in_order() -> None:
    assert [spec.name for spec in MODEL_REGISTRY] == PAPER_MODELS + NET_MODELS
    assert len({spec.name for spec in MODEL_REGISTRY}) == 22
    assert {spec.name: spec.paper_table for spec in MODEL_REGISTRY} == {
        **dict.fromkeys(PAPER_MODELS, "1a"),
        **dict.fromkeys(NET_MODELS, "1b"),
    }


@pytest.mark.parametrize("name", NET_MODELS)
def test_net_modalities_fusion_and_label_follow_the_name(name: str) -> None:
    kind, *codes = name.split("_")
    fusion, prefix = NET_FUSIONS[kind]
    spec = get_spec(name)
    assert (spec.estimator, spec.fusion) == ("net", fusion)
    assert spec.modalities == tuple(LETTERS[code] for code in codes)
    letters = ", ".join(code.upper() for code in codes)
    # the jointly trained late fusion says so, unlike Cox(LF(...)) whose blocks are fitted apart
    suffix = " joint" if fusion == "late_joint" else ""
    assert spec.label == f"{prefix}({letters}){suffix}"
    assert spec.hyperparameters["block_terms"] == 15
    assert spec.hyperparameters["mfh_width"] == 1200
    assert spec.hyperparameters["output_activation"] == "linear"


@pytest.mark.parametrize("name", PAPER_MODELS)
def test_modalities_and_fusion_follow_the_name(name: str) -> None:
    parts = name.split("_")[1:]
    fusion = {"ef": "early", "lf": "late"}.get(parts[0], "single")
    codes = parts[1:] if fusion != "single" else parts
    spec = get_spec(name)
    assert spec.fusion == fusion
    assert spec.modalities == tuple(LETTERS[code] for code in codes)
    assert spec.estimator == "coxnet"
    assert spec.hyperparameters["l1_ratio"] == 0.3
    assert spec.hyperparameters["n_alphas"] == 100
    letters = ", ".join(code.upper() for code in codes)
    expected = f"Cox({letters})" if fusion == "single" else f"Cox({parts[0].upper()}({letters}))"
    assert spec.label == expected


def test_get_spec_rejects_unknown_names() -> None:
    with pytest.raises(RegistryError, match=r"no model named 'cox_x'; registered: .*cox_g"):
        get_spec("cox_x")


def test_spec_version_is_content_based_and_stable_across_processes() -> None:
    spec = get_spec("cox_ef_g_p")
    assert spec_version(spec) == spec_version(dataclasses.replace(spec))
    changed = dataclasses.replace(spec, hyperparameters={**spec.hyperparameters, "l1_ratio": 0.5})
    assert spec_version(changed) != spec_version(spec)
    assert len({spec_version(s) for s in MODEL_REGISTRY}) == 22
    code = (
        "from radiogenomics_assets.survival.registry import MODEL_REGISTRY, spec_version;"
        "print(','.join(spec_version(s) for s in MODEL_REGISTRY))"
    )
    versions = set()
    for hash_seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        result = subprocess.run(
            [sys.executable, "-c", code], cwd=REPO_ROOT, env=env, capture_output=True, text=True
        )
        assert result.returncode == 0, result.stderr
        versions.add(result.stdout.strip())
    assert versions == {",".join(spec_version(s) for s in MODEL_REGISTRY)}


def test_spec_frame_round_trips_through_duckdb() -> None:
    frame = spec_frame()
    assert frame["name"].tolist() == PAPER_MODELS + NET_MODELS
    for row, spec in zip(frame.itertuples(), MODEL_REGISTRY, strict=True):
        assert json.loads(row.hyperparameters) == dict(spec.hyperparameters)
        assert row.modalities.split(",") == list(spec.modalities)
    with duckdb.connect() as connection:
        connection.register("specs", frame)
        late = connection.execute(
            "SELECT name FROM specs WHERE fusion = ? ORDER BY name", ["late"]
        ).fetchall()
    assert [name for (name,) in late] == ["cox_lf_g_d", "cox_lf_g_p", "cox_lf_g_p_d"]


def test_model_spec_validates_its_fields() -> None:
    base = {
        "name": "cox_x",
        "modalities": ("genomics",),
        "fusion": "single",
        "estimator": "coxnet",
        "hyperparameters": {},
        "label": "x",
    }
    with pytest.raises(RegistryError, match="does not fit 2 modalities"):
        ModelSpec(**{**base, "modalities": ("genomics", "densenet")})
    with pytest.raises(RegistryError, match="unknown modalities"):
        ModelSpec(**{**base, "modalities": ("histology",)})
    with pytest.raises(RegistryError, match="must be snake_case"):
        ModelSpec(**{**base, "name": "Cox G"})
    with pytest.raises(RegistryError, match="not one of the coxnet fusions"):
        ModelSpec(**{**base, "fusion": "intermediate", "modalities": ("genomics", "densenet")})
    with pytest.raises(RegistryError, match="not one of the net fusions"):
        ModelSpec(**{**base, "estimator": "net", "fusion": "early", "modalities": ("genomics",)})
    with pytest.raises(RegistryError, match="mfh fuses exactly two modalities, got 3"):
        ModelSpec(
            **{
                **base,
                "estimator": "net",
                "fusion": "mfh",
                "modalities": ("genomics", "pyradiomics", "densenet"),
            }
        )
    with pytest.raises(RegistryError, match="not JSON-serialisable"):
        ModelSpec(**{**base, "hyperparameters": {"f": object()}})
    spec = ModelSpec(**base)
    assert pickle.loads(pickle.dumps(spec)) == spec
    with pytest.raises(TypeError):
        spec.hyperparameters["l1_ratio"] = 1.0  # type: ignore[index]
