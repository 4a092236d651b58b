"""Dose profiles and depth doses along any line, and dose difference maps.

A line is given in patient coordinates (mm), so it can cross a grid at any angle;
values come from trilinear interpolation (:func:`braggdesk.analysis.resample.trilinear`).
Range figures (R80, R90, distal fall-off) are read off a depth dose by linear
interpolation between samples, on the distal side of the maximum.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from braggdesk.model import Volume

from .resample import resample, trilinear


@dataclass
class Profile:
    """Values sampled along a line: distance from the start (mm), positions (n, 3) mm, values."""

    distance_mm: np.ndarray
    positions_mm: np.ndarray
    values: np.ndarray  # NaN outside the grid

    def distal_depth_mm(self, percent: float) -> float:
        """Depth beyond the maximum where the values fall to ``percent`` % of it (R80: 80)."""
        v = np.nan_to_num(self.values, nan=0.0)
        if v.size == 0 or v.max() <= 0:
            return float("nan")
        peak = int(np.argmax(v))
        level = v[peak] * percent / 100.0
        below = np.nonzero(v[peak:] < level)[0]
        if below.size == 0:
            return float("nan")
        n = peak + int(below[0])
        d0, d1, v0, v1 = self.distance_mm[n - 1], self.distance_mm[n], v[n - 1], v[n]
        return float(d0 + (v0 - level) / (v0 - v1) * (d1 - d0))

    def distal_falloff_mm(self, high_percent: float = 80.0, low_percent: float = 20.0) -> float:
        """Distance between the distal high and low levels (80-20 % by default)."""
        return self.distal_depth_mm(low_percent) - self.distal_depth_mm(high_percent)


def line_profile(volume: Volume, start_mm: Sequence[float], end_mm: Sequence[float], *,
                 step_mm: float | None = None) -> Profile:
    """Values of ``volume.values`` from ``start_mm`` to ``end_mm`` (x, y, z), both included.

    ``step_mm`` defaults to a quarter of the smallest voxel spacing.
    """
    a, b = np.asarray(start_mm, float).reshape(3), np.asarray(end_mm, float).reshape(3)
    length = float(np.linalg.norm(b - a))
    step = step_mm or min(abs(s) for s in volume.spacing_mm) / 4.0
    if step <= 0:
        raise ValueError(f"step_mm must be positive, got {step}")
    n = max(2, int(np.ceil(length / step)) + 1)
    t = np.linspace(0.0, 1.0, n)
    points = a[None, :] + t[:, None] * (b - a)[None, :]
    return Profile(distance_mm=t * length, positions_mm=points, values=sample_points(volume, points))


def depth_dose(volume: Volume, entry_mm: Sequence[float], direction: Sequence[float], depth_mm: float, *,
               step_mm: float | None = None) -> Profile:
    """A depth dose: the profile from ``entry_mm`` along ``direction`` (normalised here) for ``depth_mm``."""
    d = np.asarray(direction, float).reshape(3)
    norm = float(np.linalg.norm(d))
    if norm == 0:
        raise ValueError("direction must not be the zero vector")
    start = np.asarray(entry_mm, float).reshape(3)
    return line_profile(volume, start, start + d / norm * depth_mm, step_mm=step_mm)


def sample_points(volume: Volume, points_mm: np.ndarray) -> np.ndarray:
    """Trilinear values at patient positions (n, 3) in mm; NaN outside the grid."""
    p = np.asarray(points_mm, float).reshape(-1, 3)
    idx = volume.patient_to_index() @ np.c_[p, np.ones(len(p))].T
    return trilinear(np, np.asarray(volume.values, dtype=np.float64), idx[2], idx[1], idx[0], np.nan)


def dose_difference(reference: Volume, evaluated: Volume, *, relative_to: str = "max",
                    normalisation_gy: float | None = None) -> np.ndarray:
    """evaluated - reference on the reference grid: in Gy, or in % ("max" or "local").

    ``relative_to``: ``"gy"`` for the plain difference; ``"max"`` for percent of
    ``normalisation_gy`` (the reference maximum by default); ``"local"`` for percent of
    the reference dose in each voxel (NaN where it is 0).  NaN where the evaluated
    dose does not reach.
    """
    ref = np.asarray(reference.values, dtype=np.float64)
    ev = resample(evaluated, reference, outside="nan", dtype=np.float64)
    diff = ev - ref
    if relative_to == "gy":
        return diff
    if relative_to == "max":
        norm = normalisation_gy if normalisation_gy is not None else float(np.nanmax(ref))
        return 100.0 * diff / norm if norm > 0 else np.full(diff.shape, np.nan)
    if relative_to == "local":
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(ref > 0, 100.0 * diff / ref, np.nan)
    raise ValueError(f"relative_to must be 'gy', 'max' or 'local', got {relative_to!r}")
