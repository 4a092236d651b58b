"""DVH and metrics on masks whose answers are known by construction."""

from __future__ import annotations

import numpy as np
import pytest

from braggdesk.analysis.dvh_basic import dvh_metrics, structure_dvh
from braggdesk.analysis.resample import resample
from braggdesk.model import Roi, StructureMask, Volume


def _grid(shape=(4, 5, 100)) -> Volume:
    return Volume(np.zeros(shape, np.float32), (1.0, 1.0, 1.0), (0.0, 0.0, 0.0))


def test_ramp_dose_gives_its_percentiles():
    grid = _grid()
    dose = np.broadcast_to(np.linspace(0.01, 1.0, 100, dtype=np.float32), grid.shape).copy()  # 1 % steps along i
    mask = StructureMask(Roi(1, "ramp"), grid, np.ones(grid.shape, np.float32))
    dvh = structure_dvh(dose, mask)
    m = dvh_metrics(dvh, reference_gy=0.945 / 0.95)  # 95 % of it is 0.945 Gy, between two ramp steps
    assert m["Dmax [Gy]"] == pytest.approx(1.0) and m["Dmin [Gy]"] == pytest.approx(0.01)
    assert m["Dmean [Gy]"] == pytest.approx(0.505, abs=1e-6)
    assert m["D95 [Gy]"] == pytest.approx(0.06, abs=1e-6)  # 95 % of the voxels get at least 0.06 Gy
    assert m["D2 [Gy]"] == pytest.approx(0.99, abs=1e-6)
    assert m["V95 [%]"] == pytest.approx(6.0, abs=1e-6)  # doses 0.95 ... 1.00
    assert m["Volume [cm3]"] == pytest.approx(grid.voxel_volume_cm3 * 2000)
    assert dvh.volume_fraction[0] == pytest.approx(1.0) and dvh.volume_fraction[-1] == 0.0
    assert np.all(np.diff(dvh.volume_fraction) <= 0)


def test_fractional_voxels_count_by_their_fraction():
    grid = _grid((1, 1, 2))
    dose = np.array([[[1.0, 3.0]]], np.float32)
    mask = StructureMask(Roi(1, "half"), grid, np.array([[[1.0, 0.5]]], np.float32))
    m = dvh_metrics(structure_dvh(dose, mask), reference_gy=None)
    assert m["Dmean [Gy]"] == pytest.approx((1.0 + 0.5 * 3.0) / 1.5)
    assert m["Volume [cm3]"] == pytest.approx(1.5e-3)
    assert np.isnan(m["V95 [%]"])


def test_resample_shifts_by_whole_voxels_exactly():
    src = Volume(np.arange(60, dtype=np.float32).reshape(3, 4, 5), (2.0, 2.0, 2.0), (0.0, 0.0, 0.0))
    target = Volume(np.zeros((3, 4, 4), np.float32), (2.0, 2.0, 2.0), (2.0, 0.0, 0.0))
    out = resample(src, target)
    assert np.array_equal(out, src.hu[:, :, 1:])
    assert np.array_equal(resample(src, src), src.hu)
