"""One model file format for every estimator family: one reader, a JSON header, clear refusals."""

from __future__ import annotations

import io
import json
import math
import pickle
import shutil
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path
from typing import Any, get_args

import joblib
import numpy as np
import pandas as pd
import pytest
import torch

from radiogenomics_assets.survival.fitted import FittedModel
from radiogenomics_assets.survival.fitting import LOADERS, fit_predict, load_predictor
from radiogenomics_assets.survival.fusion import LateFusionModel, load_model
from radiogenomics_assets.survival.model_file import (
    FORMAT,
    FORMAT_VERSION,
    HEADER_MEMBER,
    MODEL_FILE_SUFFIX,
    PAYLOAD_MEMBERS,
    ModelFileError,
    read_header,
    read_model_file,
    write_model_file,
)
from radiogenomics_assets.survival.neural import NetPredictor, load_net
from radiogenomics_assets.survival.registry import Estimator, get_spec
from radiogenomics_assets_tests.survival.synthetic import Cohort
from radiogenomics_assets_tests.survival.test_training import SMALL

FAMILIES: tuple[Estimator, ...] = ("coxnet", "net")
MODELS = {"coxnet": "cox_lf_g_p", "net": "if_g_p"}
IDENTITY = ("model", "spec_version", "fold", "seed", "fit_splits")


@pytest.fixture(scope="module")
def fitted(cohort: Cohort, fold1: pd.DataFrame) -> dict[Estimator, FittedModel]:
    def fit(family: Estimator) -> FittedModel:
        return fit_predict(
            get_spec(MODELS[family]),
            cohort.features,
            cohort.outcomes,
            fold1,
            seed=0,
            alpha_selection="paper",
            net_training=SMALL,
        )

    return {family: fit(family) for family in FAMILIES}


@pytest.fixture(scope="module")
def files(
    fitted: dict[Estimator, FittedModel], tmp_path_factory: pytest.TempPathFactory
) -> dict[Estimator, Path]:
    """One saved file per family; tests copy them before changing anything."""
    root = tmp_path_factory.mktemp("models")
    for family, model in fitted.items():
        model.save(root / f"{family}{MODEL_FILE_SUFFIX}")
    return {family: root / f"{family}{MODEL_FILE_SUFFIX}" for family in FAMILIES}


def _members(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def _zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def _with_header(source: Path, target: Path, **fields: Any) -> Path:
    """``source`` rewritten with ``fields`` changed in its header."""
    members = _members(source)
    header = {**json.loads(members[HEADER_MEMBER]), **fields}
    return _zip(target, {**members, HEADER_MEMBER: json.dumps(header).encode()})


def _header_fields(path: Path) -> dict[str, Any]:
    """A real header without the format fields, as a family passes it to the writer."""
    header = read_header(path)
    del header["format"], header["format_version"]
    return header


@pytest.mark.parametrize("family", FAMILIES)
def test_each_family_reads_back_through_the_one_reader_and_predicts_as_fitted(
    fitted: dict[Estimator, FittedModel],
    files: dict[Estimator, Path],
    cohort: Cohort,
    tmp_path: Path,
    family: Estimator,
) -> None:
    # Named like the other family's former files: the header decides, never the name.
    misnamed = tmp_path / ("fold_1.pt" if family == "coxnet" else "fold_1.joblib")
    shutil.copy(files[family], misnamed)
    model = fitted[family]
    predictor = load_predictor(misnamed)
    assert isinstance(predictor, {"coxnet": LateFusionModel, "net": NetPredictor}[family])
    blocks = {m: cohort.features[m] for m in get_spec(model.model).modalities}
    stored = model.predictions.set_index("patient_id")["risk"]
    reloaded = predictor.predict(blocks).loc[stored.index]
    # The net predicts in float32 (stored as float64); CoxNet repeats its float64 sums.
    rtol = {"coxnet": 1e-12, "net": 1e-6}[family]
    np.testing.assert_allclose(reloaded.to_numpy(), stored.to_numpy(), rtol=rtol)
    assert stored.nunique() > 1  # a constant prediction would hide a wrong reload


@pytest.mark.parametrize("family", FAMILIES)
def test_the_header_gives_the_family_and_identity_without_unpickling(
    fitted: dict[Estimator, FittedModel],
    files: dict[Estimator, Path],
    monkeypatch: pytest.MonkeyPatch,
    family: Estimator,
) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("read_header unpickled the payload")

    for module, name in ((pickle, "load"), (pickle, "loads"), (joblib, "load"), (torch, "load")):
        monkeypatch.setattr(module, name, refuse)
    header = read_header(files[family])
    model = fitted[family]
    assert header["format"] == FORMAT and header["format_version"] == FORMAT_VERSION
    assert header["estimator"] == family
    assert {field: header[field] for field in IDENTITY} == {
        "model": model.model,
        "spec_version": model.spec_version,
        "fold": "fold_1",
        "seed": 0,
        "fit_splits": list(model.fit_splits),
    }
    if family == "coxnet":
        assert header["alpha_selection"] == "paper"
        assert header["libraries"]["scikit-survival"] == version("scikit-survival")
        assert header["libraries"]["scikit-learn"] == version("scikit-learn")
    else:
        assert header["libraries"] == {"torch": str(torch.__version__)}
        assert header["spec"] == get_spec(model.model).as_dict()
        assert header["input_dims"] == {"genomics": 30, "pyradiomics": 15}
        assert header["chosen"]["best_step"] == model.grid.chosen_outcome.best_step
    # Anyone can read it: a zip member of plain JSON beside the family's payload.
    members = _members(files[family])
    assert sorted(members) == sorted([HEADER_MEMBER, PAYLOAD_MEMBERS[family]])
    assert json.loads(members[HEADER_MEMBER].decode("utf-8")) == header


def test_the_net_payload_loads_with_weights_only(files: dict[Estimator, Path]) -> None:
    payload = torch.load(io.BytesIO(_members(files["net"])["payload.pt"]), weights_only=True)
    assert set(payload) == {"state_dict", "preprocessing"}
    assert all(isinstance(v, torch.Tensor) for v in payload["state_dict"].values())


def _truncated(files: dict[Estimator, Path], path: Path) -> None:
    data = files["coxnet"].read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _truncated_net(files: dict[Estimator, Path], path: Path) -> None:
    data = files["net"].read_bytes()
    path.write_bytes(data[: len(data) - 30])


def _not_zip(files: dict[Estimator, Path], path: Path) -> None:
    path.write_bytes(b"not a model")


def _former_joblib(files: dict[Estimator, Path], path: Path) -> None:
    joblib.dump({"model": "cox_g", "estimator": None}, path)


def _without_header(files: dict[Estimator, Path], path: Path) -> None:
    members = _members(files["coxnet"])
    _zip(path, {"payload.joblib": members["payload.joblib"]})


def _former_torch(files: dict[Estimator, Path], path: Path) -> None:
    torch.save({"state_dict": {"w": torch.zeros(2)}}, path)


def _newer_version(files: dict[Estimator, Path], path: Path) -> None:
    _with_header(files["net"], path, format_version=FORMAT_VERSION + 1)


def _foreign_format(files: dict[Estimator, Path], path: Path) -> None:
    _with_header(files["coxnet"], path, format="someone.else/1")


def _unknown_family(files: dict[Estimator, Path], path: Path) -> None:
    _with_header(files["coxnet"], path, estimator="xgboost")


def _net_header_over_joblib(files: dict[Estimator, Path], path: Path) -> None:
    _with_header(files["coxnet"], path, estimator="net")


def _header_not_json(files: dict[Estimator, Path], path: Path) -> None:
    _zip(path, {**_members(files["coxnet"]), HEADER_MEMBER: b'{"format": '})


def _header_without_seed(files: dict[Estimator, Path], path: Path) -> None:
    members = _members(files["net"])
    header = json.loads(members[HEADER_MEMBER])
    del header["seed"]
    _zip(path, {**members, HEADER_MEMBER: json.dumps(header).encode()})


BROKEN: dict[str, tuple[Callable[[dict[Estimator, Path], Path], None], str]] = {
    "truncated": (_truncated, r"is not a model file \(a zip archive with header\.json\)"),
    "truncated_net": (_truncated_net, r"is not a model file"),
    "not_zip": (_not_zip, r"is not a model file"),
    "former_joblib": (_former_joblib, r"is not a model file"),
    "zip_without_header": (_without_header, r"is a zip archive without header\.json"),
    "former_torch_file": (_former_torch, r"is a zip archive without header\.json"),
    "newer_version": (_newer_version, r"format version 2; this code reads version 1"),
    "foreign_format": (_foreign_format, r"does not name the format"),
    "unknown_family": (_unknown_family, r"unknown estimator family 'xgboost'"),
    "net_header_over_joblib": (
        _net_header_over_joblib,
        r"header says net, whose payload is payload\.pt, but the archive holds "
        r"\['payload\.joblib'\]",
    ),
    "header_not_json": (_header_not_json, r"header\.json is unreadable"),
    "header_without_seed": (_header_without_seed, r"header\.json lacks \['seed'\]"),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
@pytest.mark.parametrize("reader", [read_header, load_predictor], ids=["header", "predictor"])
def test_a_broken_or_foreign_file_is_refused_naming_it(
    files: dict[Estimator, Path], tmp_path: Path, case: str, reader: Callable[[Path], Any]
) -> None:
    make, message = BROKEN[case]
    path = tmp_path / f"{case}{MODEL_FILE_SUFFIX}"
    make(files, path)
    with pytest.raises(ModelFileError, match=message) as raised:
        reader(path)
    assert str(path) in str(raised.value)


def test_a_corrupt_payload_is_refused_when_read(
    files: dict[Estimator, Path], tmp_path: Path
) -> None:
    path = tmp_path / f"corrupt{MODEL_FILE_SUFFIX}"
    data = bytearray(files["coxnet"].read_bytes())
    with zipfile.ZipFile(files["coxnet"]) as archive:
        member = archive.getinfo("payload.joblib")
    # Past the member's local header, inside its compressed bytes; the directory stays intact.
    middle = member.header_offset + 30 + len(member.filename) + member.compress_size // 2
    data[middle : middle + 8] = bytes(b ^ 0xFF for b in data[middle : middle + 8])
    path.write_bytes(bytes(data))
    assert read_header(path)["estimator"] == "coxnet"  # the header alone is fine
    with pytest.raises(ModelFileError, match=r"its payload is corrupt") as raised:
        load_predictor(path)
    assert str(path) in str(raised.value)


SPRUNG: list[str] = []


def _spring() -> str:
    SPRUNG.append("code ran")
    return "sprung"


class _Trap:
    """Unpickling it runs :func:`_spring`: what a pickled payload can do to its reader."""

    def __reduce__(self) -> tuple[Callable[[], str], tuple[()]]:
        return _spring, ()


def test_a_net_header_over_a_pickled_payload_is_refused_without_running_it(
    files: dict[Estimator, Path], tmp_path: Path
) -> None:
    path = tmp_path / f"disguised{MODEL_FILE_SUFFIX}"
    write_model_file(path, _header_fields(files["net"]), lambda s: joblib.dump(_Trap(), s))
    assert read_header(path)["estimator"] == "net"  # named consistently: only loading tells
    SPRUNG.clear()
    for load in (load_predictor, load_net):
        with pytest.raises(ModelFileError, match=r"its network payload cannot be read") as raised:
            load(path)
        assert str(path) in str(raised.value)
    assert SPRUNG == []
    # The trap works: unpickled as the CoxNet reader would, it runs.
    assert joblib.load(io.BytesIO(read_model_file(path, "net")[1])) == "sprung"
    assert SPRUNG == ["code ran"]


def test_each_family_reader_refuses_the_other_family(files: dict[Estimator, Path]) -> None:
    with pytest.raises(ModelFileError, match=r"net\.model holds a net model, not a coxnet model"):
        load_model(files["net"])
    with pytest.raises(ModelFileError, match=r"coxnet\.model holds a coxnet model, not a net"):
        load_net(files["coxnet"])


def test_the_writer_enforces_the_header_contract(
    files: dict[Estimator, Path], tmp_path: Path
) -> None:
    fields = _header_fields(files["coxnet"])
    path = tmp_path / f"x{MODEL_FILE_SUFFIX}"

    def payload(stream: Any) -> None:
        stream.write(b"payload")

    cases = {
        r"needs \['seed'\]": {k: v for k, v in fields.items() if k != "seed"},
        r"no model file format for estimator 'xgboost'": {**fields, "estimator": "xgboost"},
        r"not plain JSON": {**fields, "seed": math.nan},
        r"format fields are the writer's": {**fields, "format_version": 9},
    }
    for message, header in cases.items():
        with pytest.raises(ModelFileError, match=message):
            write_model_file(path, header, payload)
        assert not path.exists()
    write_model_file(path, fields, payload)
    assert read_model_file(path, "coxnet") == (read_header(files["coxnet"]), b"payload")


def test_a_refit_saved_later_gives_the_same_bytes(
    fitted: dict[Estimator, FittedModel], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Members carry no write time, so the file's hash follows only its content."""
    first, second = tmp_path / f"a{MODEL_FILE_SUFFIX}", tmp_path / f"b{MODEL_FILE_SUFFIX}"
    fitted["coxnet"].save(first)
    now = time.time()
    monkeypatch.setattr(time, "time", lambda: now + 86_400 * 400)
    fitted["coxnet"].save(second)
    assert first.read_bytes() == second.read_bytes()


def test_every_family_has_a_payload_member_and_a_loader() -> None:
    assert set(LOADERS) == set(PAYLOAD_MEMBERS) == set(get_args(Estimator))
    assert len(set(PAYLOAD_MEMBERS.values())) == len(PAYLOAD_MEMBERS)


def test_reading_a_coxnet_file_imports_no_torch(files: dict[Estimator, Path]) -> None:
    script = f"""
import json, sys
from radiogenomics_assets.survival.fitting import load_predictor
from radiogenomics_assets.survival.model_file import read_header
read_header({str(files["coxnet"])!r})
heavy = sorted(m for m in ("torch", "sksurv", "sklearn") if m in sys.modules)
load_predictor({str(files["coxnet"])!r})
print(json.dumps([heavy, "torch" in sys.modules, "sksurv" in sys.modules]))
"""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=300
    )
    # Reading the header imports no estimator library; loading the CoxNet imports sksurv only.
    assert json.loads(done.stdout.strip().splitlines()[-1]) == [[], False, True]
