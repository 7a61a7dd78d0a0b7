from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from radiogenomics_assets.dicom.errors import (
    CropTooSmallError,
    EmptySegmentError,
    InconsistentGeometryError,
)
from radiogenomics_assets.features.densenet import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    INPUT_SIZE,
    densenet_features,
    load_densenet121,
    pooled_features,
    slice_batches,
)
from radiogenomics_assets_tests.dicom.synthetic import sphere

SPACING = (2.5, 0.8, 0.8)


@pytest.fixture(scope="module")
def network():  # type: ignore[no-untyped-def]
    return load_densenet121("random", device="cpu", seed=0)


def small_case() -> tuple[np.ndarray, np.ndarray]:
    shape = (8, 48, 48)
    mask = sphere(shape, SPACING, (4, 24, 24), 3.0)  # slices 3..5
    hu = np.full(shape, -800.0, dtype=np.float32)
    hu[mask] = 40.0
    return hu, mask


def test_one_input_per_slice_of_the_mask_extent_even_empty_ones() -> None:
    hu, mask = small_case()
    mask[4] = False  # a gap inside the extent still gets its slice
    batch = slice_batches(hu, mask, SPACING, margin_mm=5.0)
    assert batch.shape == (3, 3, INPUT_SIZE, INPUT_SIZE)
    assert batch.dtype == torch.float32


@pytest.mark.parametrize(("value", "expected"), [(-600.0, 0.5), (-2000.0, 0.0), (500.0, 1.0)])
def test_window_and_imagenet_normalisation(value: float, expected: float) -> None:
    hu = np.full((3, 40, 40), value, dtype=np.float32)
    mask = np.zeros(hu.shape, dtype=bool)
    mask[1, 18:22, 18:22] = True
    batch = slice_batches(hu, mask, (1.0, 1.0, 1.0), margin_mm=4.0, window=(-600.0, 1500.0))
    for channel in range(3):
        want = (expected - IMAGENET_MEAN[channel]) / IMAGENET_STD[channel]
        torch.testing.assert_close(batch[0, channel], torch.full((224, 224), want))


def test_crop_keeps_orientation() -> None:
    hu = np.full((1, 40, 40), -1000.0, dtype=np.float32)
    hu[0, :, :20] = 0.0  # left half bright (window -600/1500 -> 0.4 vs 0)
    mask = np.zeros(hu.shape, dtype=bool)
    mask[0, 15:25, 15:25] = True
    batch = slice_batches(hu, mask, (1.0, 1.0, 1.0), margin_mm=5.0)
    assert batch[0, 0, :, :100].mean() > batch[0, 0, :, 124:].mean() + 1.0


def test_pooled_feature_is_what_torchvisions_classifier_sees(network) -> None:  # type: ignore[no-untyped-def]
    x = torch.randn(1, 3, INPUT_SIZE, INPUT_SIZE, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        pooled = pooled_features(network.model, x)
        torch.testing.assert_close(network.model.classifier(pooled), network.model(x))
    assert pooled.shape == (1, 1024)


def test_feature_is_the_max_over_slices_and_independent_of_batching(network) -> None:  # type: ignore[no-untyped-def]
    hu, mask = small_case()
    one_by_one = densenet_features(hu, mask, SPACING, network, batch_size=1, margin_mm=5.0)
    together = densenet_features(hu, mask, SPACING, network, batch_size=3, margin_mm=5.0)
    assert one_by_one.shape == (1024,) and one_by_one.dtype == np.float32
    np.testing.assert_allclose(one_by_one, together, rtol=1e-4, atol=1e-5)
    inputs = slice_batches(hu, mask, SPACING, margin_mm=5.0)
    with torch.inference_mode():
        per_slice = torch.stack([pooled_features(network.model, s[None])[0] for s in inputs])
    np.testing.assert_allclose(one_by_one, per_slice.amax(0).numpy(), rtol=1e-4, atol=1e-5)
    assert (one_by_one >= 0).all()  # ReLU before pooling


def test_bad_inputs_name_the_patient(network) -> None:  # type: ignore[no-untyped-def]
    hu, mask = small_case()
    with pytest.raises(CropTooSmallError, match=r"patient R01-001: a .* mm crop .*48x48"):
        densenet_features(hu, mask, SPACING, network, margin_mm=30.0, patient_id="R01-001")
    with pytest.raises(EmptySegmentError, match="patient R01-001"):
        densenet_features(hu, np.zeros_like(mask), SPACING, network, patient_id="R01-001")
    with pytest.raises(InconsistentGeometryError, match=r"patient R01-001: CT of shape"):
        densenet_features(hu, mask[:-1], SPACING, network, patient_id="R01-001")
    with pytest.raises(ValueError, match="window must be"):
        slice_batches(hu, mask, SPACING, window=(-600.0, 0.0))
    with pytest.raises(ValueError, match="batch_size must be >= 1, got 0"):
        densenet_features(hu, mask, SPACING, network, batch_size=0)
    with pytest.raises(ValueError, match="num_threads must be >= 1"):
        densenet_features(hu, mask, SPACING, network, num_threads=0)


def test_features_do_not_depend_on_the_process_torch_threads(network) -> None:  # type: ignore[no-untyped-def]
    """A Celery worker runs torch on every core, make demo's workers on one: same features."""
    hu, mask = small_case()
    before = torch.get_num_threads()
    vectors = []
    try:
        for threads in (1, 2):
            torch.set_num_threads(threads)
            vectors.append(densenet_features(hu, mask, SPACING, network, margin_mm=5.0))
    finally:
        torch.set_num_threads(before)
    np.testing.assert_array_equal(vectors[0], vectors[1])


def test_num_threads_is_restored(network) -> None:  # type: ignore[no-untyped-def]
    hu, mask = small_case()
    mask[3:5] = False
    mask[5, 24, 24] = True
    before = torch.get_num_threads()
    densenet_features(hu, mask, SPACING, network, num_threads=1, margin_mm=5.0)
    assert torch.get_num_threads() == before


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_matches_cpu(tmp_path: Path) -> None:
    hu, mask = small_case()
    cpu = densenet_features(hu, mask, SPACING, load_densenet121("random", device="cpu"))
    gpu = densenet_features(hu, mask, SPACING, load_densenet121("random", device="cuda"))
    np.testing.assert_allclose(gpu, cpu, rtol=1e-3, atol=1e-3)
