"""Synthesize one patient's chest CT volume (in HU) and nodule mask with numpy.

The phantom is a slab of chest, head first supine: air outside, a body ellipse of soft tissue
(≈ 40 HU) under a ring of fat (≈ -100 HU), two lungs (≈ -850 HU with smooth texture and thin
vessels), a vertebra (cortical ring ≈ 700 HU around ≈ 250 HU) and one nodule. The nodule is a
rotated, lobulated ellipsoid whose equivalent diameter is the planted ``diameter_mm``; its voxels
hold ``mean_density_hu`` plus a spatially correlated texture whose SD is exactly the planted
``heterogeneity_hu`` before the CT noise (SD 12 HU inside the body) is added. It sits in the
lobe named in the clinical CSV, fully inside the lung and the slab with a margin.

Array axes are (slice, row, column). Voxel (k, r, c) lies at x = x0 + c·s, y = y0 + r·s,
z = z_top − k·t (DICOM patient coordinates, LPS): column index grows toward the patient's left,
row index toward the back, slice index toward the feet.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.ndimage import gaussian_filter

from radiogenomics_assets.sources.demo.config import (
    LUNG_SEMI_AXIS_X_FRACTION,
    LUNG_SEMI_AXIS_Y_FRACTION,
    NODULE_MARGIN_MM,
    DemoConfig,
)
from radiogenomics_assets.sources.demo.plan import LOBE_HEIGHT, LOBE_SIDE
from radiogenomics_assets.sources.demo.randomness import rng

HU_MIN = -1024
HU_MAX = 3071
AIR_HU = -1000.0
FAT_HU = -100.0
SOFT_TISSUE_HU = 40.0
LUNG_HU = -850.0
LUNG_TEXTURE_SD_HU = 25.0
VESSEL_HU = 30.0
CORTICAL_BONE_HU = 700.0
CANCELLOUS_BONE_HU = 250.0
BODY_NOISE_SD_HU = 12.0
AIR_NOISE_SD_HU = 4.0
_PLACEMENT_TRIES = 200


class PhantomError(RuntimeError):
    """A nodule could not be placed inside the lung; the message names patient and geometry."""


@dataclass(frozen=True)
class CtGeometry:
    """Where the voxels of one CT series lie."""

    rows: int
    cols: int
    n_slices: int
    pixel_spacing_mm: float
    slice_thickness_mm: float
    x0_mm: float
    y0_mm: float
    z_top_mm: float

    def slice_position(self, k: int) -> tuple[float, float, float]:
        """ImagePositionPatient of slice ``k`` (the centre of its first voxel)."""
        return (self.x0_mm, self.y0_mm, self.z_top_mm - k * self.slice_thickness_mm)

    def axes_mm(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Coordinates of the slices (z), rows (y) and columns (x)."""
        s, t = self.pixel_spacing_mm, self.slice_thickness_mm
        return (
            self.z_top_mm - t * np.arange(self.n_slices),
            self.y0_mm + s * np.arange(self.rows),
            self.x0_mm + s * np.arange(self.cols),
        )


@dataclass(frozen=True)
class Phantom:
    """One synthetic CT: HU volume, masks, geometry and what the nodule turned out to be."""

    hu: np.ndarray
    nodule_mask: np.ndarray
    lung_mask: np.ndarray
    geometry: CtGeometry
    nodule_center_mm: tuple[float, float, float]
    nodule_voxels: int
    nodule_hu_mean: float
    nodule_hu_sd: float
    equivalent_diameter_mm: float


def ct_geometry(config: DemoConfig, patient_id: str) -> CtGeometry:
    """Centred in-plane grid and a per-patient table height (z of the first slice)."""
    s = config.pixel_spacing_mm
    z_top = float(np.round(rng(config.seed, "geometry", patient_id).uniform(-150.0, -30.0), 1))
    return CtGeometry(
        rows=config.rows,
        cols=config.cols,
        n_slices=config.n_slices,
        pixel_spacing_mm=s,
        slice_thickness_mm=config.slice_thickness_mm,
        x0_mm=round(-(config.cols - 1) / 2 * s, 4),
        y0_mm=round(-(config.rows - 1) / 2 * s, 4),
        z_top_mm=z_top,
    )


def _lung_ellipses(geometry: CtGeometry) -> tuple[float, float, float, np.ndarray, np.ndarray]:
    fov_x = geometry.cols * geometry.pixel_spacing_mm
    fov_y = geometry.rows * geometry.pixel_spacing_mm
    # Lungs narrow toward the apex (slice 0 is the top of the slab).
    taper = 0.92 + 0.08 * np.linspace(0.0, 1.0, geometry.n_slices)
    semi_x = LUNG_SEMI_AXIS_X_FRACTION / 0.92 * fov_x * taper
    semi_y = LUNG_SEMI_AXIS_Y_FRACTION / 0.92 * fov_y * taper
    return 0.2 * fov_x, -0.01 * fov_y, fov_x, semi_x, semi_y


def _lung_masks(geometry: CtGeometry) -> tuple[np.ndarray, np.ndarray]:
    """Masks of the right (patient's right, x < 0) and left lungs."""
    _, y, x = geometry.axes_mm()
    offset, cy, _, semi_x, semi_y = _lung_ellipses(geometry)
    masks = []
    for side in (-1, 1):
        fx = ((x - side * offset)[None, None, :] / semi_x[:, None, None]) ** 2
        fy = ((y - cy)[None, :, None] / semi_y[:, None, None]) ** 2
        masks.append(fx + fy <= 1.0)
    return masks[0], masks[1]


def _smooth_noise(
    generator: np.random.Generator, shape: tuple[int, ...], sigma: tuple[float, ...]
) -> np.ndarray:
    field = gaussian_filter(generator.standard_normal(shape, dtype=np.float32), sigma=sigma)
    return field / max(float(field.std()), 1e-6)


def _nodule_shape(generator: np.random.Generator, radius_mm: float) -> dict[str, Any]:
    log_aspect = generator.uniform(-0.12, 0.12, 3)
    aspect = np.exp(log_aspect - log_aspect.mean())
    shape: dict[str, Any] = {
        "axes_mm": radius_mm * aspect,
        "angle": generator.uniform(0.0, math.pi),
        "lobe_amp": generator.uniform(0.0, 0.06, 3),
        "lobe_phase": generator.uniform(0.0, 2 * math.pi, 3),
        "tilt_amp": generator.uniform(0.0, 0.04),
        "tilt_phase": generator.uniform(0.0, 2 * math.pi),
    }
    shape["reach_mm"] = float(np.max(shape["axes_mm"])) * (
        1.0 + float(np.sum(shape["lobe_amp"])) + shape["tilt_amp"]
    )
    return shape


def _box(axis: np.ndarray, center: float, reach: float, step: float) -> slice:
    """Index range of ``axis`` (uniformly spaced, either direction) within center ± reach."""
    near = np.flatnonzero(np.abs(axis - center) <= reach + step)
    return slice(int(near.min()), int(near.max()) + 1) if near.size else slice(0, 0)


def _nodule_box(
    geometry: CtGeometry, center: tuple[float, float, float], shape: Mapping[str, Any]
) -> tuple[tuple[slice, slice, slice], np.ndarray]:
    """The bounding box of the nodule and its mask inside that box."""
    z, y, x = geometry.axes_mm()
    reach = shape["reach_mm"]
    box = (
        _box(z, center[2], reach, geometry.slice_thickness_mm),
        _box(y, center[1], reach, geometry.pixel_spacing_mm),
        _box(x, center[0], reach, geometry.pixel_spacing_mm),
    )
    dz = (z[box[0]] - center[2])[:, None, None]
    dy = (y[box[1]] - center[1])[None, :, None]
    dx = (x[box[2]] - center[0])[None, None, :]
    cos, sin = math.cos(shape["angle"]), math.sin(shape["angle"])
    u = (cos * dx + sin * dy) / shape["axes_mm"][0]
    v = (-sin * dx + cos * dy) / shape["axes_mm"][1]
    w = np.broadcast_to(dz / shape["axes_mm"][2], np.broadcast_shapes(u.shape, dz.shape))
    rho = np.sqrt(u**2 + v**2 + w**2)
    azimuth = np.arctan2(v, u)
    elevation = np.arcsin(np.clip(w / np.maximum(rho, 1e-9), -1.0, 1.0))
    lobulation = sum(
        amp * np.cos(m * azimuth + phase)
        for m, amp, phase in zip((2, 3, 4), shape["lobe_amp"], shape["lobe_phase"], strict=True)
    ) * np.cos(elevation) + shape["tilt_amp"] * np.sin(2 * elevation + shape["tilt_phase"])
    return box, rho <= 1.0 + lobulation


def _inside_lung(
    geometry: CtGeometry,
    box: tuple[slice, slice, slice],
    mask: np.ndarray,
    side: int,
    margin_mm: float,
) -> bool:
    """Whether every nodule voxel lies in the lung ellipse shrunk by ``margin_mm``."""
    _, y, x = geometry.axes_mm()
    offset, cy, _, semi_x, semi_y = _lung_ellipses(geometry)
    k, r, c = np.nonzero(mask)
    k = k + box[0].start
    fx = ((x[c + box[2].start] - side * offset) / (semi_x[k] - margin_mm)) ** 2
    fy = ((y[r + box[1].start] - cy) / (semi_y[k] - margin_mm)) ** 2
    return bool(np.all(fx + fy <= 1.0))


def _place_nodule(
    patient: Mapping[str, Any], geometry: CtGeometry, generator: np.random.Generator
) -> tuple[tuple[float, float, float], tuple[slice, slice, slice], np.ndarray]:
    diameter = float(patient["diameter_mm"])
    shape = _nodule_shape(generator, diameter / 2)
    reach = shape["reach_mm"]
    offset, cy, _, semi_x, semi_y = _lung_ellipses(geometry)
    side = LOBE_SIDE[patient["lobe"]]
    z_axis = geometry.axes_mm()[0]
    z_low = z_axis[-1] + reach + NODULE_MARGIN_MM
    z_high = z_axis[0] - reach - NODULE_MARGIN_MM
    inner_x = float(semi_x.min()) - reach - NODULE_MARGIN_MM
    inner_y = float(semi_y.min()) - reach - NODULE_MARGIN_MM
    if z_high < z_low or min(inner_x, inner_y) <= 0:
        raise PhantomError(
            f"patient {patient['patient_id']}: a {diameter:.1f} mm nodule (reach {reach:.1f} mm) "
            f"does not fit a {geometry.rows}x{geometry.cols}x{geometry.n_slices} CT"
        )
    margin_slices = math.ceil(NODULE_MARGIN_MM / geometry.slice_thickness_mm)
    height = LOBE_HEIGHT[patient["lobe"]]
    for _ in range(_PLACEMENT_TRIES):
        level = float(np.clip(height + generator.uniform(-0.15, 0.15), 0.0, 1.0))
        radius = math.sqrt(generator.uniform())
        angle = generator.uniform(0.0, 2 * math.pi)
        center = (
            side * offset + inner_x * radius * math.cos(angle),
            cy + inner_y * radius * math.sin(angle),
            z_low + level * (z_high - z_low),
        )
        box, mask = _nodule_box(geometry, center, shape)
        slices = np.flatnonzero(mask.any(axis=(1, 2))) + box[0].start
        if (
            slices.size
            and slices[0] >= margin_slices
            and slices[-1] < geometry.n_slices - margin_slices
            and _inside_lung(geometry, box, mask, side, NODULE_MARGIN_MM)
        ):
            return center, box, mask
    raise PhantomError(
        f"patient {patient['patient_id']}: no place for a {diameter:.1f} mm nodule in lobe "
        f"{patient['lobe']} after {_PLACEMENT_TRIES} tries"
    )


def _window(origin: float, step: float, size: int, center: float, reach: float) -> slice:
    """Indices of a uniform axis (increasing from ``origin``) within center ± reach."""
    low = max(0, math.floor((center - reach - origin) / step))
    high = min(size, math.ceil((center + reach - origin) / step) + 1)
    return slice(low, max(low, high))


def _add_vessels(
    hu: np.ndarray, lung: np.ndarray, geometry: CtGeometry, generator: np.random.Generator
) -> None:
    z, y, x = geometry.axes_mm()
    offset, cy, _, semi_x, semi_y = _lung_ellipses(geometry)
    s = geometry.pixel_spacing_mm
    for side in (-1, 1):
        for _ in range(10):
            radius = math.sqrt(generator.uniform()) * 0.8
            angle = generator.uniform(0.0, 2 * math.pi)
            start = np.array(
                [
                    side * offset + semi_x[0] * radius * math.cos(angle),
                    cy + semi_y[0] * radius * math.sin(angle),
                ]
            )
            drift = generator.normal(0.0, 0.25, 2)
            vessel_radius = generator.uniform(1.0, 2.2)
            for k in range(geometry.n_slices):
                px, py = start + drift * (z[0] - z[k])
                rows = _window(geometry.y0_mm, s, geometry.rows, py, vessel_radius)
                cols = _window(geometry.x0_mm, s, geometry.cols, px, vessel_radius)
                inside = (x[cols][None, :] - px) ** 2 + (
                    y[rows][:, None] - py
                ) ** 2 <= vessel_radius**2
                window = hu[k, rows, cols]
                window[inside & lung[k, rows, cols]] = VESSEL_HU


def synthesize_phantom(config: DemoConfig, patient: Mapping[str, Any]) -> Phantom:
    """The CT volume and masks of one planned patient (a row of the cohort plan).

    Raises:
        PhantomError: the nodule cannot be placed inside the lung with its margin.
    """
    patient_id = str(patient["patient_id"])
    geometry = ct_geometry(config, patient_id)
    generator = rng(config.seed, "phantom", patient_id)
    _, y, x = geometry.axes_mm()
    shape = (geometry.n_slices, geometry.rows, geometry.cols)
    yy, xx = np.meshgrid(y, x, indexing="ij")
    fov_x = geometry.cols * geometry.pixel_spacing_mm
    fov_y = geometry.rows * geometry.pixel_spacing_mm
    body_scale = generator.uniform(0.95, 1.05)
    body = (xx / (0.45 * fov_x * body_scale)) ** 2 + (yy / (0.32 * fov_y * body_scale)) ** 2
    hu = np.full(shape, AIR_HU, dtype=np.float32)
    hu[:, body <= 1.0] = FAT_HU
    hu[:, body <= 0.93**2] = SOFT_TISSUE_HU

    right, left = _lung_masks(geometry)
    lung = right | left
    texture = _smooth_noise(generator, shape, (0.8, 1.5, 1.5))
    hu[lung] = LUNG_HU + LUNG_TEXTURE_SD_HU * texture[lung]
    _add_vessels(hu, lung, geometry, generator)

    spine_r = 0.05 * fov_x
    spine = np.hypot(xx, yy - 0.25 * fov_y)
    hu[:, spine <= spine_r] = CORTICAL_BONE_HU
    hu[:, spine <= spine_r - 3.0] = CANCELLOUS_BONE_HU

    center, box, box_mask = _place_nodule(patient, geometry, generator)
    texture = _smooth_noise(generator, box_mask.shape, (0.7, 1.2, 1.2))[box_mask]
    texture = (texture - texture.mean()) / max(float(texture.std()), 1e-6)
    hu[box][box_mask] = (
        float(patient["mean_density_hu"]) + float(patient["heterogeneity_hu"]) * texture
    )
    nodule = np.zeros(shape, dtype=bool)
    nodule[box] = box_mask

    inside_body = np.broadcast_to(body <= 1.0, shape)
    noise = generator.standard_normal(shape, dtype=np.float32)
    hu += np.where(inside_body, BODY_NOISE_SD_HU, AIR_NOISE_SD_HU) * noise
    volume = np.clip(np.rint(hu), HU_MIN, HU_MAX).astype(np.int16)

    values = volume[nodule].astype(float)
    voxels = int(nodule.sum())
    voxel_mm3 = geometry.pixel_spacing_mm**2 * geometry.slice_thickness_mm
    return Phantom(
        hu=volume,
        nodule_mask=nodule,
        lung_mask=lung,
        geometry=geometry,
        nodule_center_mm=(float(center[0]), float(center[1]), float(center[2])),
        nodule_voxels=voxels,
        nodule_hu_mean=float(values.mean()),
        nodule_hu_sd=float(values.std()),
        equivalent_diameter_mm=float((6.0 * voxels * voxel_mm3 / math.pi) ** (1.0 / 3.0)),
    )
