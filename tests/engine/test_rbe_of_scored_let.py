"""The RBE models on the engine's own LETd: the RBE-weighted Bragg peak ends beyond the physical one."""

from __future__ import annotations

import numpy as np

from braggdesk.analysis.rbe import rbe, rbe_weighted_dose
from braggdesk.compute.local import LocalRunner

from cases import pencil_job, water_box


def _r80_mm(depth_mm, dose):
    imax = int(np.argmax(dose))
    d80 = 0.8 * dose[imax]
    j = imax + int(np.argmax(dose[imax:] < d80))
    return depth_mm[j - 1] + (depth_mm[j] - depth_mm[j - 1]) * (dose[j - 1] - d80) / (dose[j - 1] - dose[j])


def test_rbe_weighted_r80_lies_beyond_the_physical_r80_more_so_for_low_alpha_beta():
    ct = water_box(size_mm=(24.0, 190.0, 24.0), spacing_mm=(8.0, 0.5, 8.0), surface_y_mm=-20.0)
    runner = LocalRunner(pencil_job(150.0, primaries=20000, batches=4, ct=ct))
    for _ in runner.run():
        pass
    result = runner.result()
    dose = result.dose_gy.astype(float) / float(result.dose_gy.max()) * 2.0  # 2 Gy per fraction at the peak
    let = result.let_kev_um.astype(float)
    depth = (np.arange(ct.shape[1]) + 0.5) * 0.5
    axis = let[1, :, 1]
    r80 = _r80_mm(depth, dose.sum(axis=(0, 2)))
    assert axis[int(0.2 * r80 / 0.5)] < 1.5 < 4.0 < axis[int(r80 / 0.5)]  # LETd low in the plateau, high at the end
    shifts = {}
    for ab in (2.0, 10.0):
        weighted = rbe_weighted_dose(dose, let, ab, model="mcnamara")
        shifts[ab] = _r80_mm(depth, weighted.sum(axis=(0, 2))) - r80
    assert 0.1 < shifts[10.0] < shifts[2.0] < 3.0, shifts
    # in the entrance plateau (LETd ~0.85 keV/um, 2 Gy) the McNamara RBE for a/b = 10 Gy is a little under 1.1:
    # RBEmax = 0.99064 + 0.0356 * 0.85 = 1.021, RBEmin = 1.1012 - 0.0122 * 0.85 = 1.091, RBE(2 Gy) = 1.04
    plateau = (slice(1, 2), slice(int(0.2 * r80 / 0.5), int(0.4 * r80 / 0.5)), slice(1, 2))
    value = rbe("mcnamara", np.full(let[plateau].shape, 2.0), let[plateau], 10.0)
    assert np.all((value > 1.02) & (value < 1.07))
