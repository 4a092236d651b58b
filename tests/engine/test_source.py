"""The beam source in the kernel: double-Gaussian spots sampled as the beam model gives them."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from braggdesk.engine.simulate import prepare, run_batch
from braggdesk.model import BeamModel

from cases import pencil_job, water_box


def _model(weight2: float) -> BeamModel:
    e = np.array([50.0, 250.0])
    z = np.zeros(2)
    return BeamModel("halo", e, e.copy(), z, z + 1e6, z + 3.0, z + 3.0, z, z, z, z, reference_plane_to_isocenter_mm=500.0,
                     virtual_source_axis_distance_mm=(1e7, 1e7), weight2=z + weight2, sigma_x2_mm=z + 9.0,
                     sigma_y2_mm=z + 9.0, divergence_x2_rad=z, divergence_y2_rad=z, correlation_x2=z,
                     correlation_y2=z)


@pytest.mark.parametrize("weight2", [0.0, 0.25])
def test_a_double_gaussian_spot_enters_the_water_as_its_two_components(weight2):
    # 1 mm wide columns, the first 2 mm of water: what arrives is the source's own profile (no scattering in air)
    ct = water_box(size_mm=(120.0, 2.0, 120.0), spacing_mm=(1.0, 2.0, 120.0), surface_y_mm=-1.0)
    job = pencil_job(150.0, primaries=40_000, ct=ct, model=_model(weight2), nuclear=False)
    prepared = prepare(job)
    profile = run_batch(prepared, 0, 40_000).dense().energy.reshape(ct.shape).sum(axis=(0, 1)).astype(float)
    x = (np.arange(profile.size) + 0.5) * 1.0 - 60.0
    p = profile / profile.sum()
    variance = float(np.sum(p * x * x) - np.sum(p * x) ** 2) - 1.0 / 12.0
    expected = (1 - weight2) * 3.0**2 + weight2 * 9.0**2
    assert variance == pytest.approx(expected, rel=0.05)
    tail = float(p[np.abs(x) > 9.0].sum())  # beyond 3 sigma of the core
    expected_tail = (1 - weight2) * 2 * stats.norm.sf(3.0) + weight2 * 2 * stats.norm.sf(1.0)
    assert tail == pytest.approx(expected_tail, rel=0.15, abs=0.002)
