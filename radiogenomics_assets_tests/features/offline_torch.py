"""A torch hub with no weights in it and no network: ImageNet cannot be had."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests
import torch

from radiogenomics_assets.features import densenet_weights
from radiogenomics_assets.features.densenet_weights import clear_model_cache


@contextmanager
def offline_torch_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An empty ``$TORCH_HOME`` under ``tmp_path``, every download refused, a fresh model
    cache on entry and exit."""
    home = tmp_path / "torch_home"
    monkeypatch.setenv("TORCH_HOME", str(home))

    def no_network(*args: object, **kwargs: object) -> None:
        raise requests.ConnectionError("network disabled in tests")

    monkeypatch.setattr(densenet_weights.requests, "get", no_network)
    monkeypatch.setattr(torch.hub, "download_url_to_file", no_network)
    clear_model_cache()
    try:
        yield home
    finally:
        clear_model_cache()
