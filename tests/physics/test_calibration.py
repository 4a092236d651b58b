"""What a HU becomes: density beyond the calibration's table, the notes that say so, the per-voxel arrays."""

from __future__ import annotations

import numpy as np
import pytest

from braggdesk.io.ct_calibration import read_ct_calibration
from braggdesk.model import CtCalibration
from braggdesk.physics.calibration import calibration_points, extrapolation_notes, sample_hu, voxel_media
from braggdesk.physics.library import get_material
from braggdesk.physics.material_constants import material_constants


def test_density_beyond_the_last_point_follows_the_last_segment_as_mcsquare():
    toshiba = read_ct_calibration("mcsquare_ucl_toshiba")  # last points (1046, 1.560), (1565, 1.825)
    slope = (1.825 - 1.560) / (1565 - 1046)
    assert toshiba.density(2976.0) == pytest.approx(1.825 + slope * (2976 - 1565))
    assert toshiba.density(2976.0) == pytest.approx(2.55, abs=0.005)  # MCsquare's value (issue 13)
    assert toshiba.density(1565.0) == pytest.approx(1.825)
    assert toshiba.density(-3000.0) == pytest.approx(0.001)  # first segment (-2000, -1000) is flat


def test_density_below_the_first_point_follows_the_first_segment_and_stays_positive():
    cal = CtCalibration("ramp", np.array([-900.0, 0.0, 1000.0]), np.array([0.1, 1.0, 1.5]),
                        np.array([-1000.0]), [get_material("Water")])
    assert cal.density(-950.0) == pytest.approx(0.05)
    assert cal.density(-2000.0) == 0.0
    assert cal.outside_density_table(np.array([-950.0, -2000.0, 0.0, 1200.0])) == (2, 1)
    single = CtCalibration("one", np.array([0.0]), np.array([1.0]), np.array([0.0]), [get_material("Water")])
    assert single.density(np.array([-5000.0, 5000.0])).tolist() == [1.0, 1.0]  # one point: constant


def test_schneider_keeps_topas_clamping_at_both_ends():
    schneider = read_ct_calibration("schneider")
    assert schneider.density(3071.0) == pytest.approx(4.54)  # titanium, not along the bone-to-titanium jump
    assert schneider.density(-1024.0) == pytest.approx(0.00121)


def test_notes_count_the_extrapolated_voxels():
    toshiba = read_ct_calibration("mcsquare_ucl_toshiba")
    hu = np.array([0.0, 40.0, 1600.0, 2976.0, -2500.0, -1000.0])
    above, below = extrapolation_notes(toshiba, hu)
    assert "2 voxels (33 %) have HU above 1565" in above and "2.545 g/cm3 at HU 2976" in above
    assert "1 voxel (17 %) has HU below -2000" in below and "0.001 g/cm3 at HU -2500" in below
    assert extrapolation_notes(toshiba, np.array([0.0, 1565.0])) == []
    assert voxel_media(toshiba, hu).notes == (above, below)


def test_voxel_media_is_density_times_the_material_constants():
    toshiba = read_ct_calibration("mcsquare_ucl_toshiba")
    hu = np.linspace(-1100, 3000, 500).astype(np.float32).reshape(5, 10, 10)
    media = voxel_media(toshiba, hu)
    constants = material_constants(toshiba.materials)
    assert media.rsp.dtype == np.float32 and media.rsp.shape == (500,)
    k = media.material_index
    assert np.allclose(media.rsp, media.density_g_cm3 * constants.mass_rsp[k], rtol=1e-6)
    assert np.allclose(media.inv_x0_per_mm, media.density_g_cm3 / (10 * constants.radiation_length_g_cm2[k]),
                       rtol=1e-6)
    assert media.density_g_cm3.min() >= 1e-6


def test_calibration_points_cover_boundaries_and_flag_extrapolation():
    toshiba = read_ct_calibration("mcsquare_ucl_toshiba")
    hu = sample_hu(toshiba)
    for boundary in toshiba.material_hu_min[1:]:
        assert boundary in hu and boundary - 1 in hu
    assert set(toshiba.density_hu) <= set(hu) and hu.max() == 3071.0
    points = {p.hu: p for p in calibration_points(toshiba)}
    assert points[19.0].material == "Schneider_SoftTissus" and points[18.0].material == "Schneider_AT_AG_SI5"
    assert points[3071.0].extrapolated and not points[1565.0].extrapolated
    assert points[0.0].rsp == pytest.approx(1.0171, abs=1e-4)
