"""Failures of feature extraction itself (bad inputs to it are ``dicom.errors`` types)."""

from __future__ import annotations


class FeatureExtractionError(RuntimeError):
    """Base class: a feature extractor could not produce its documented output."""


class UnexpectedFeatureSetError(FeatureExtractionError):
    """pyradiomics returned other features than the 107 documented ones."""


class RadiomicsExtractionError(FeatureExtractionError):
    """pyradiomics refused the image/ROI pair (too small, degenerate); names the patient."""


class WeightsUnavailableError(FeatureExtractionError):
    """DenseNet weights that were explicitly asked for could not be loaded."""


class RandomFallbackRefusedError(WeightsUnavailableError):
    """``auto`` found no ImageNet weights on a source where random ones must be asked for."""
