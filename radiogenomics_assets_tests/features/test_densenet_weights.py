"""Weights for DenseNet-121: every mode, without touching the network."""

from __future__ import annotations

import hashlib
import io
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from torchvision.models import DenseNet121_Weights, densenet121

from radiogenomics_assets.features import densenet_weights
from radiogenomics_assets.features.densenet_weights import (
    CachedWeightsHashWarning,
    RandomWeightsWarning,
    clear_model_cache,
    imagenet_cache_path,
    load_densenet121,
    refuse_random_fallback,
    resolve_device,
)
from radiogenomics_assets.features.errors import RandomFallbackRefusedError, WeightsUnavailableError
from radiogenomics_assets_tests.features.offline_torch import offline_torch_home


@pytest.fixture(autouse=True)
def isolated_torch_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An empty torch hub per test, a fresh model cache, and no way to reach the network."""
    with offline_torch_home(tmp_path, monkeypatch) as home:
        yield home


def old_style(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Keys as torchvision's published checkpoint spells them: 'norm.1', and no
    'num_batches_tracked' (the file predates it)."""
    pattern = re.compile(r"^(.*denselayer\d+\.(?:norm|relu|conv))([12]\..*)$")
    return {
        pattern.sub(r"\1.\2", key): value
        for key, value in state.items()
        if not key.endswith("num_batches_tracked")
    }


def same_parameters(a: torch.nn.Module, b: dict[str, torch.Tensor]) -> bool:
    mine = a.state_dict()
    return mine.keys() == b.keys() and all(torch.equal(mine[k], b[k]) for k in mine)


def reference_state(seed: int) -> dict[str, torch.Tensor]:
    torch.manual_seed(seed)
    return densenet121(weights=None).state_dict()


def test_random_is_seeded_recorded_and_cached() -> None:
    first = load_densenet121("random", device="cpu", seed=3)
    assert first.weights_used == "random:seed=3"
    assert not first.fell_back and not first.model.training
    assert load_densenet121("random", device="cpu", seed=3) is first
    clear_model_cache()
    again = load_densenet121("random", device="cpu", seed=3)
    assert again is not first
    assert same_parameters(again.model, first.model.state_dict())
    other = load_densenet121("random", device="cpu", seed=4)
    assert not same_parameters(other.model, first.model.state_dict())


def test_random_init_leaves_the_global_rng_alone() -> None:
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    load_densenet121("random", device="cpu", seed=9)
    assert torch.equal(torch.rand(3), expected)


def test_path_loads_a_local_state_dict(tmp_path: Path) -> None:
    state = reference_state(7)
    path = tmp_path / "weights.pt"
    torch.save(state, path)
    loaded = load_densenet121("path", path, device="cpu")
    assert same_parameters(loaded.model, state)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert loaded.weights_used == f"path:sha256={digest[:12]}"


def test_path_refuses_what_is_not_a_densenet(tmp_path: Path) -> None:
    path = tmp_path / "small.pt"
    torch.save({"weight": torch.zeros(2)}, path)
    with pytest.raises(WeightsUnavailableError, match=r"small\.pt is not a DenseNet-121 state"):
        load_densenet121("path", path, device="cpu")
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a torch file")
    with pytest.raises(WeightsUnavailableError, match=r"junk\.pt is not a readable state dict"):
        load_densenet121("path", junk, device="cpu")
    with pytest.raises(ValueError, match="weights='path' needs weights_path"):
        load_densenet121("path", device="cpu")


def test_imagenet_reads_torchvisions_cache(isolated_torch_home: Path) -> None:
    state = reference_state(11)
    cache = isolated_torch_home / "hub" / "checkpoints" / "densenet121-a639ec97.pth"
    cache.parent.mkdir(parents=True)
    torch.save(old_style(state), cache)
    assert imagenet_cache_path() == cache
    # torchvision itself finds the file there (it would try to download otherwise).
    assert set(DenseNet121_Weights.IMAGENET1K_V1.get_state_dict(progress=False)) == set(
        old_style(state)
    )
    with pytest.warns(CachedWeightsHashWarning, match="not the published prefix a639ec97"):
        loaded = load_densenet121("imagenet", device="cpu", allow_download=False)
    assert same_parameters(loaded.model, state)
    digest = hashlib.sha256(cache.read_bytes()).hexdigest()
    assert loaded.weights_used == f"imagenet:DenseNet121_Weights.IMAGENET1K_V1:sha256={digest[:8]}"
    assert not loaded.fell_back
    clear_model_cache()
    with pytest.warns(CachedWeightsHashWarning):
        auto = load_densenet121("auto", device="cpu")
    assert auto.weights_used == loaded.weights_used


def test_imagenet_without_cache_or_download_fails() -> None:
    with pytest.raises(WeightsUnavailableError, match="not cached and downloading is disabled"):
        load_densenet121("imagenet", device="cpu", allow_download=False)
    with pytest.raises(WeightsUnavailableError, match=r"could not download.*network disabled"):
        load_densenet121("imagenet", device="cpu")


def test_auto_falls_back_to_random_loudly() -> None:
    with pytest.warns(RandomWeightsWarning, match="using RANDOM weights"):
        loaded = load_densenet121("auto", device="cpu")
    assert loaded.weights_used == "random:seed=0"
    assert loaded.fell_back
    assert "network disabled" in loaded.fallback_reason


class FakeResponse:
    def __init__(self, payload: bytes) -> None:
        self.raw = io.BytesIO(payload)

    def __enter__(self) -> FakeResponse:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def raise_for_status(self) -> None:
        return None

    def iter_content(self, chunk_size: int) -> Iterator[bytes]:
        yield from iter(lambda: self.raw.read(chunk_size), b"")


def test_download_is_hash_checked_and_atomic(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, isolated_torch_home: Path
) -> None:
    state = reference_state(5)
    buffer = io.BytesIO()
    torch.save(old_style(state), buffer)
    payload = buffer.getvalue()
    prefix = hashlib.sha256(payload).hexdigest()[:8]
    monkeypatch.setattr(densenet_weights, "IMAGENET_URL", f"https://x.invalid/dn-{prefix}.pth")
    monkeypatch.setattr(densenet_weights.requests, "get", lambda *a, **k: FakeResponse(payload))
    loaded = load_densenet121("imagenet", device="cpu")
    assert same_parameters(loaded.model, state)
    assert loaded.weights_used.endswith(f"sha256={prefix}")
    assert imagenet_cache_path().read_bytes() == payload
    assert [p.name for p in imagenet_cache_path().parent.iterdir()] == [f"dn-{prefix}.pth"]

    clear_model_cache()
    monkeypatch.setattr(densenet_weights, "IMAGENET_URL", "https://x.invalid/dn-00000000.pth")
    with pytest.raises(WeightsUnavailableError, match="expected prefix 00000000"):
        load_densenet121("imagenet", device="cpu")
    assert not list(imagenet_cache_path().parent.glob("*00000000*"))


def test_bad_options() -> None:
    with pytest.raises(ValueError, match="weights must be auto, imagenet, path or random"):
        load_densenet121("resnet", device="cpu")  # type: ignore[arg-type]
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            resolve_device("cuda")
    assert resolve_device("cpu") == torch.device("cpu")


def test_the_written_out_imagenet_names_are_torchvisions() -> None:
    published = DenseNet121_Weights.IMAGENET1K_V1
    assert (
        str(published),
        published.url,
    ) == (densenet_weights.IMAGENET_WEIGHTS, densenet_weights.IMAGENET_URL)


def test_auto_falling_back_off_the_demo_fails_naming_the_cache_and_the_setting(
    isolated_torch_home: Path,
) -> None:
    with pytest.warns(RandomWeightsWarning):
        loaded = load_densenet121("auto", device="cpu")
    for source in ("local", "tcia", "idc"):
        with pytest.raises(RandomFallbackRefusedError) as refused:
            refuse_random_fallback(loaded, source=source)
        message = str(refused.value)
        assert "weights='auto': the ImageNet weights could not be loaded" in message
        assert "network disabled" in message  # why ImageNet failed
        assert str(isolated_torch_home / "hub" / "checkpoints" / "densenet121-a639ec97.pth") in (
            message
        )
        assert f"On the {source!r} source 'auto' does not fall back to random weights" in message
        assert "weights='random'" in message
    assert isinstance(refused.value, WeightsUnavailableError)


def test_the_demo_may_fall_back_and_random_asked_for_is_allowed_anywhere() -> None:
    with pytest.warns(RandomWeightsWarning, match="using RANDOM weights"):
        fell_back = load_densenet121("auto", device="cpu")
    refuse_random_fallback(fell_back, source="demo")
    explicit = load_densenet121("random", device="cpu")
    assert explicit.weights_used == fell_back.weights_used and not explicit.fell_back
    for source in ("demo", "local", "tcia", "idc"):
        refuse_random_fallback(explicit, source=source)
