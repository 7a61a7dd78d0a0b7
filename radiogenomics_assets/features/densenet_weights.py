"""Load torchvision's DenseNet-121 with explicit, recorded weights.

``weights``:

- ``imagenet``: torchvision's ``DenseNet121_Weights.IMAGENET1K_V1``, from torch's hub cache
  (``$TORCH_HOME/hub/checkpoints/densenet121-a639ec97.pth``) or downloaded there (hash-checked,
  atomic). Fails with :class:`WeightsUnavailableError` if neither works.
- ``path``: a local state dict (torchvision's key names, old or new style).
- ``random``: torchvision's initialisation under a fixed seed. Only when asked for.
- ``auto`` (default): ``imagenet`` if it can be had, else ``random`` with a loud
  :class:`RandomWeightsWarning` and ``fell_back=True`` on the result.

The fallback is for the offline demo: :func:`refuse_random_fallback` turns it into an error on
any other source, where random features must be asked for (``random``), never slipped in.

``LoadedDenseNet.weights_used`` records what was loaded: ``imagenet:<enum>:sha256=<8 hex>``,
``path:sha256=<12 hex>`` or ``random:seed=<n>``. Store it beside every feature vector.
Loaded models are cached per process, since building and loading take seconds.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import re
import uuid
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import requests

from radiogenomics_assets.features.errors import (
    RandomFallbackRefusedError,
    WeightsUnavailableError,
)
from radiogenomics_assets.store.files import sha256_file

# torch and torchvision is imported inside the functions that use it: the code location imports this
# module, and loading it must not cost seconds.

if TYPE_CHECKING:
    import torch
    from torch import nn

DenseNetWeights = Literal["auto", "imagenet", "path", "random"]
#: torchvision's names for the ImageNet weights, written out so that importing this module does
#: not import torchvision (a test checks them against torchvision's).
IMAGENET_WEIGHTS = "DenseNet121_Weights.IMAGENET1K_V1"
#: Where the ImageNet state dict is fetched from; its name carries a sha256 prefix.
IMAGENET_URL = "https://download.pytorch.org/models/densenet121-a639ec97.pth"
DEFAULT_SEED = 0
#: The sources on which ``auto`` may fall back to random weights: the demo, offline by design.
RANDOM_FALLBACK_SOURCES = frozenset({"demo"})
DEFAULT_DOWNLOAD_TIMEOUT_S = 60.0
_HASH_IN_NAME = re.compile(r"-([a-f0-9]{6,})\.")
# Checkpoints from before torchvision renamed the dense layers hold keys like
# "denselayer1.norm.1.weight" where the module is now "denselayer1.norm1".
_OLD_LAYER_KEY = re.compile(
    r"^(.*denselayer\d+\.(?:norm|relu|conv))\."
    r"([12]\.(?:weight|bias|running_mean|running_var|num_batches_tracked))$"
)


class RandomWeightsWarning(UserWarning):
    """``auto`` could not get ImageNet weights and is using random ones."""


class CachedWeightsHashWarning(UserWarning):
    """A cached ImageNet checkpoint's sha256 does not start with the published prefix."""


@dataclass(frozen=True, eq=False)
class LoadedDenseNet:
    """A DenseNet-121 in eval mode on ``device`` and the record of its weights."""

    model: nn.Module
    weights_used: str
    device: torch.device
    #: True when ``auto`` fell back to random weights; log it loudly.
    fell_back: bool = False
    fallback_reason: str = ""


_CACHE: dict[tuple[object, ...], LoadedDenseNet] = {}


def clear_model_cache() -> None:
    """Forget every model loaded in this process."""
    _CACHE.clear()


def imagenet_cache_path() -> Path:
    """Where torchvision keeps the ImageNet checkpoint (follows ``TORCH_HOME``)."""
    import torch

    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(IMAGENET_URL)


def resolve_device(device: str = "auto") -> torch.device:
    """``auto`` is ``cuda`` when available, else ``cpu``.

    Raises:
        ValueError: ``cuda`` was asked for and is not available.
    """
    import torch

    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    resolved = torch.device(device)
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} requested but CUDA is not available")
    return resolved


def load_densenet121(
    weights: DenseNetWeights = "auto",
    weights_path: Path | str | None = None,
    *,
    device: str = "auto",
    seed: int = DEFAULT_SEED,
    allow_download: bool = True,
    download_timeout_s: float = DEFAULT_DOWNLOAD_TIMEOUT_S,
) -> LoadedDenseNet:
    """A DenseNet-121 with the requested weights, cached per process.

    Args:
        weights: ``auto``, ``imagenet``, ``path`` or ``random`` (see the module docstring).
        weights_path: the state dict for ``path``.
        device: ``auto``, ``cpu``, ``cuda`` or ``cuda:<n>``.
        seed: initialisation seed for ``random`` (and the ``auto`` fallback).
        allow_download: whether ``imagenet``/``auto`` may download a missing checkpoint.
        download_timeout_s: connect/read timeout of that download.

    Raises:
        ValueError: an unknown ``weights``, ``path`` without ``weights_path``, or an
            unavailable device.
        WeightsUnavailableError: ``imagenet`` could not be read or fetched, or the ``path``
            file is not a DenseNet-121 state dict.

    Warns:
        RandomWeightsWarning: ``auto`` fell back to random weights.
        CachedWeightsHashWarning: the cached ImageNet file is not the published one.
    """
    if weights not in ("auto", "imagenet", "path", "random"):
        raise ValueError(f"weights must be auto, imagenet, path or random, got {weights!r}")
    if weights == "path" and weights_path is None:
        raise ValueError("weights='path' needs weights_path")
    target = resolve_device(device)
    key = _cache_key(weights, weights_path, target, seed, allow_download)
    if key in _CACHE:
        return _CACHE[key]
    if weights == "random":
        loaded = LoadedDenseNet(_random_model(seed), f"random:seed={seed}", target)
    elif weights == "path":
        path = Path(weights_path)  # type: ignore[arg-type]
        model = _random_model(seed)
        _load_into(model, _read_state_dict(path), path)
        loaded = LoadedDenseNet(model, f"path:sha256={sha256_file(path)[:12]}", target)
    else:
        try:
            model, record = _imagenet_model(seed, allow_download, download_timeout_s)
            loaded = LoadedDenseNet(model, record, target)
        except WeightsUnavailableError as error:
            if weights == "imagenet":
                raise
            reason = str(error)
            warnings.warn(
                f"DenseNet-121: ImageNet weights unavailable ({reason}); using RANDOM "
                f"weights (seed {seed}). Features will not be ImageNet features.",
                RandomWeightsWarning,
                stacklevel=2,
            )
            loaded = LoadedDenseNet(
                _random_model(seed), f"random:seed={seed}", target, True, reason
            )
    loaded.model.to(target).eval()
    _CACHE[key] = loaded
    return loaded


def refuse_random_fallback(loaded: LoadedDenseNet, *, source: str) -> None:
    """Fail when ``auto`` fell back to random weights on a source other than the demo.

    Args:
        loaded: what :func:`load_densenet121` returned.
        source: the configured source's name (``demo``, ``local``, ``tcia``, ``idc``).

    Raises:
        RandomFallbackRefusedError: ``loaded`` fell back and ``source`` is not in
            :data:`RANDOM_FALLBACK_SOURCES`; the message says why ImageNet failed, where its
            checkpoint is looked for, and that ``weights='random'`` must be asked for.
    """
    if not loaded.fell_back or source in RANDOM_FALLBACK_SOURCES:
        return
    raise RandomFallbackRefusedError(
        f"DenseNet-121 weights='auto': the ImageNet weights could not be loaded "
        f"({loaded.fallback_reason}). They are looked for in torch's hub cache, "
        f"{imagenet_cache_path()} (under $TORCH_HOME), and downloaded there from {IMAGENET_URL} "
        f"when the network allows. On the {source!r} source 'auto' does not fall back to random "
        "weights: put the checkpoint there, or ask for random features explicitly with "
        "weights='random' (they are not ImageNet features)."
    )


def _cache_key(
    weights: str,
    weights_path: Path | str | None,
    device: torch.device,
    seed: int,
    allow_download: bool,
) -> tuple[object, ...]:
    if weights == "path":
        path = Path(weights_path).resolve()  # type: ignore[arg-type]
        stat = path.stat() if path.exists() else None
        source: tuple[object, ...] = (str(path), stat and stat.st_mtime_ns, stat and stat.st_size)
    elif weights == "random":
        source = ()
    else:
        cached = imagenet_cache_path()
        stat = cached.stat() if cached.exists() else None
        source = (str(cached), stat and stat.st_mtime_ns, allow_download)
    return (weights, *source, str(device), seed)


def _random_model(seed: int) -> nn.Module:
    import torch
    from torchvision.models import densenet121

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return densenet121(weights=None)


def _imagenet_model(seed: int, allow_download: bool, timeout_s: float) -> tuple[nn.Module, str]:
    path = imagenet_cache_path()
    expected_prefix = _hash_prefix(path.name)
    if not path.exists():
        if not allow_download:
            raise WeightsUnavailableError(f"{path} is not cached and downloading is disabled")
        _download(IMAGENET_URL, path, expected_prefix, timeout_s)
    digest = sha256_file(path)
    if expected_prefix and not digest.startswith(expected_prefix):
        warnings.warn(
            f"cached ImageNet checkpoint {path} has sha256 {digest[:12]}..., not the published "
            f"prefix {expected_prefix}; it is used and recorded as such",
            CachedWeightsHashWarning,
            stacklevel=3,
        )
    model = _random_model(seed)
    _load_into(model, _read_state_dict(path), path)
    return model, f"imagenet:{IMAGENET_WEIGHTS}:sha256={digest[:8]}"


def _hash_prefix(name: str) -> str:
    match = _HASH_IN_NAME.search(name)
    return match.group(1) if match else ""


def _download(url: str, path: Path, expected_prefix: str, timeout_s: float) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.parent / f".tmp-{uuid.uuid4().hex}-{path.name}"
    digest = hashlib.sha256()
    try:
        with requests.get(url, stream=True, timeout=timeout_s) as response:
            response.raise_for_status()
            with open(temp, "wb") as handle:
                for chunk in response.iter_content(chunk_size=1 << 20):
                    digest.update(chunk)
                    handle.write(chunk)
        if expected_prefix and not digest.hexdigest().startswith(expected_prefix):
            raise WeightsUnavailableError(
                f"download of {url} has sha256 {digest.hexdigest()[:12]}..., expected prefix "
                f"{expected_prefix}"
            )
        os.replace(temp, path)
    except (requests.RequestException, OSError) as error:
        raise WeightsUnavailableError(f"could not download {url}: {error}") from error
    finally:
        temp.unlink(missing_ok=True)


def _read_state_dict(path: Path) -> Mapping[str, torch.Tensor]:
    import torch

    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, EOFError, ValueError, pickle.UnpicklingError) as error:
        raise WeightsUnavailableError(f"{path} is not a readable state dict: {error}") from error
    if not isinstance(state, Mapping) or not all(isinstance(k, str) for k in state):
        raise WeightsUnavailableError(f"{path} does not hold a state dict (got {type(state)})")
    return state


def _load_into(model: nn.Module, state: Mapping[str, torch.Tensor], path: Path) -> None:
    renamed = {}
    for key, value in state.items():
        match = _OLD_LAYER_KEY.match(key)
        renamed[match.group(1) + match.group(2) if match else key] = value
    try:
        model.load_state_dict(renamed, strict=True)
    except RuntimeError as error:
        raise WeightsUnavailableError(
            f"{path} is not a DenseNet-121 state dict: {str(error)[:500]}"
        ) from error
