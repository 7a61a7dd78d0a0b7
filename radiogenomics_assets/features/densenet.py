"""The paper's 1024-d DenseNet-121 feature: slice features max-pooled over the nodule.

Every axial slice from the first to the last that holds nodule voxels is cropped to one square
(in mm) around the nodule's in-plane bounding box over all those slices, widened by
``margin_mm`` (default :data:`DEFAULT_CROP_MARGIN_MM` = 10 mm, enough parenchyma around a
small nodule for the network's receptive field to see its border), windowed (default
:data:`LUNG_WINDOW`, level -600 HU / width 1500 HU, which shows solid and ground-glass nodule
parts and the lung around them), scaled to [0, 1], resized to 224x224, copied to 3 channels
and normalised with the ImageNet mean/std. Each slice's feature is DenseNet's globally
pooled ``features`` output (ReLU, then average over the 7x7 map), the vector torchvision's
classifier sees; the patient's feature is the element-wise maximum over slices.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING

import numpy as np

from radiogenomics_assets.dicom.errors import InconsistentGeometryError
from radiogenomics_assets.features.densenet_weights import (
    DenseNetWeights,
    LoadedDenseNet,
    load_densenet121,
)
from radiogenomics_assets.features.roi import bounding_box, square_crop

# torch is imported inside the functions that use it: the code location imports this
# module, and loading it must not cost seconds.

if TYPE_CHECKING:
    import torch
    from torch import nn

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "DEFAULT_CROP_MARGIN_MM",
    "FEATURE_DIM",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "INPUT_SIZE",
    "LUNG_WINDOW",
    "DenseNetWeights",
    "LoadedDenseNet",
    "densenet_features",
    "load_densenet121",
    "pooled_features",
    "slice_batches",
]

DEFAULT_CROP_MARGIN_MM = 10.0
#: (level, width) in HU
LUNG_WINDOW: tuple[float, float] = (-600.0, 1500.0)
INPUT_SIZE = 224
FEATURE_DIM = 1024
DEFAULT_BATCH_SIZE = 16
#: Torch threads for the inference. Fixed: the features' last bits depend on the thread count
#: (1 and 2 differ), and a model at the paper's smallest alpha can turn those bits into another
#: C-index; with a fixed count every process of a machine kind gives the same features.
INFERENCE_THREADS = 1
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def slice_batches(
    ct_hu: np.ndarray,
    mask: np.ndarray,
    spacing: Sequence[float],
    *,
    margin_mm: float = DEFAULT_CROP_MARGIN_MM,
    window: tuple[float, float] = LUNG_WINDOW,
    where: str = "DenseNet input",
) -> torch.Tensor:
    """The network input for every slice in the mask's z extent: (n, 3, 224, 224) float32.

    Args:
        ct_hu: (z, y, x) CT in HU.
        mask: (z, y, x) nodule mask on the same grid.
        spacing: (z, y, x) voxel size in mm.
        margin_mm: crop margin around the nodule's in-plane bounding box.
        window: (level, width) in HU mapped to [0, 1].
        where: patient description for messages.

    Raises:
        InconsistentGeometryError: CT and mask shapes differ or are not 3D.
        EmptySegmentError: the mask is empty.
        CropTooSmallError: the slice is smaller than the crop.
        ValueError: a non-positive window width, or a bad margin or spacing.
    """
    import torch
    import torch.nn.functional as F

    if ct_hu.ndim != 3 or ct_hu.shape != mask.shape:
        raise InconsistentGeometryError(
            f"{where}: CT of shape {ct_hu.shape} and mask of shape {mask.shape} must be equal 3D"
        )
    level, width = (float(v) for v in window)
    if not (math.isfinite(level) and math.isfinite(width) and width > 0):
        raise ValueError(f"window must be (level, width > 0) in HU, got {window!r}")
    box = bounding_box(np.asarray(mask, dtype=bool), where=where)
    rows, columns = square_crop(box, spacing, margin_mm, ct_hu.shape, where=where)
    crop = np.asarray(ct_hu[box[0], rows, columns], dtype=np.float32)
    scaled = np.clip((crop - (level - width / 2)) / width, 0.0, 1.0)
    tensor = torch.from_numpy(np.ascontiguousarray(scaled)).unsqueeze(1)
    tensor = F.interpolate(
        tensor, size=(INPUT_SIZE, INPUT_SIZE), mode="bilinear", align_corners=False, antialias=True
    )
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    return ((tensor.expand(-1, 3, -1, -1) - mean) / std).contiguous()


def pooled_features(model: nn.Module, batch: torch.Tensor) -> torch.Tensor:
    """(n, 1024): ReLU and global average pooling of DenseNet's ``features`` output."""
    import torch.nn.functional as F

    maps = model.features(batch)  # type: ignore[operator]
    return F.adaptive_avg_pool2d(F.relu(maps), 1).flatten(1)


def densenet_features(
    ct_hu: np.ndarray,
    mask: np.ndarray,
    spacing: Sequence[float],
    network: LoadedDenseNet,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    margin_mm: float = DEFAULT_CROP_MARGIN_MM,
    window: tuple[float, float] = LUNG_WINDOW,
    num_threads: int | None = INFERENCE_THREADS,
    patient_id: str | None = None,
) -> np.ndarray:
    """One patient's 1024-d feature: slice features, max-pooled over slices.

    Args:
        ct_hu, mask, spacing, margin_mm, window: as for :func:`slice_batches`.
        network: from :func:`load_densenet121`; its device runs the inference.
        batch_size: slices per forward pass.
        num_threads: torch intra-op threads for this call (restored after); ``None`` leaves
            torch's setting alone, at the price of features that depend on it.
        patient_id: named in error messages.

    Returns:
        float32 array of shape (1024,).

    Raises:
        ValueError: ``batch_size`` or ``num_threads`` below 1, and everything
            :func:`slice_batches` raises.
    """
    import torch

    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    where = f"patient {patient_id}" if patient_id else "DenseNet input"
    inputs = slice_batches(ct_hu, mask, spacing, margin_mm=margin_mm, window=window, where=where)
    model = network.model
    if model.training:
        model.eval()
    maxima = []
    with _threads(num_threads), torch.inference_mode():
        for start in range(0, inputs.shape[0], batch_size):
            batch = inputs[start : start + batch_size].to(network.device, non_blocking=True)
            maxima.append(pooled_features(model, batch).amax(dim=0))
        pooled = torch.stack(maxima).amax(dim=0)
    return pooled.float().cpu().numpy()


@contextmanager
def _threads(count: int | None) -> Iterator[None]:
    import torch

    if count is None:
        yield
        return
    if count < 1:
        raise ValueError(f"num_threads must be >= 1, got {count}")
    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)
