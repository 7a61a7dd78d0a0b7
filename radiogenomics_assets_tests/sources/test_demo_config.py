from __future__ import annotations

import dataclasses

import pytest

from radiogenomics_assets.sources.demo.config import DemoConfig, DemoConfigError, count_of


def test_defaults_are_valid_and_digest_is_stable() -> None:
    assert DemoConfig().digest() == DemoConfig().digest()
    assert len(DemoConfig().short_digest()) == 12


def test_digest_changes_with_any_field() -> None:
    base = DemoConfig()
    for field, value in [("seed", base.seed + 1), ("n_genes", base.n_genes + 1)]:
        assert dataclasses.replace(base, **{field: value}).digest() != base.digest()


def test_round_trip_through_dict() -> None:
    config = DemoConfig(n_patients=12, seed=3)
    assert DemoConfig.from_dict(config.to_dict()) == config


def test_from_dict_names_unknown_fields() -> None:
    values = {**DemoConfig().to_dict(), "colour": "red"}
    with pytest.raises(DemoConfigError, match=r"unknown \['colour'\]"):
        DemoConfig.from_dict(values)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"n_patients": 1}, r"n_patients must be an integer in \[2, 1998\], got 1"),
        ({"n_patients": 2.5}, r"n_patients must be an integer"),
        ({"seed": -1}, r"seed must be an integer"),
        ({"amc_fraction": 1.5}, r"amc_fraction must be in \[0.0, 1.0\], got 1.5"),
        ({"pixel_spacing_mm": float("nan")}, r"pixel_spacing_mm must be in"),
        ({"n_slices": 10}, r"10 slices of 2.5 mm cover 25 mm, too short"),
        ({"rows": 64, "cols": 64}, r"lungs of semi-axes .* too small"),
        ({"amc_fraction": 1.0}, r"leaves no patient with RNA-seq"),
        ({"n_patients": 1500, "amc_fraction": 0.1}, r"at most 999 per site"),
    ],
)
def test_invalid_values_are_named(changes: dict[str, object], message: str) -> None:
    with pytest.raises(DemoConfigError, match=message):
        DemoConfig(**changes)  # type: ignore[arg-type]


def test_accepts_the_real_cohort_size() -> None:
    config = DemoConfig(n_patients=211, amc_fraction=49 / 211)
    assert config.n_amc == 49


@pytest.mark.parametrize(("fraction", "total"), [(0.5, 3), (1 / 6, 6), (0.08, 140), (0.0, 9)])
def test_count_of_rounds_half_up(fraction: float, total: int) -> None:
    exact = fraction * total
    expected = int(exact) + (1 if exact - int(exact) >= 0.5 - 1e-12 else 0)
    assert count_of(fraction, total) == expected
