"""Physics of the transport against reference data, at statistical tolerances."""

from __future__ import annotations

import numpy as np
import pytest

from braggdesk.physics import water as water_physics
from braggdesk.physics.elastic import pp_elastic_macroscopic_per_cm
from braggdesk.physics.nuclear import surviving_fraction
from braggdesk.engine.packing import air_rsp
from braggdesk.engine.simulate import prepare, run_batch
from braggdesk.model import Accumulator

from cases import WATER, pencil_job, water_box

X0_WATER_MM = 360.8


def _run(job, batches=None):
    prep = prepare(job)
    acc = Accumulator()
    sizes = batches or [job.settings.primaries]
    for b, n in enumerate(sizes):
        acc.add(run_batch(prep, b, n))
    return prep, acc.total


def _r80_mm(depth_mm, dose):
    imax = int(np.argmax(dose))
    d80 = 0.8 * dose[imax]
    j = imax + int(np.argmax(dose[imax:] < d80))
    return depth_mm[j - 1] + (depth_mm[j] - depth_mm[j - 1]) * (dose[j - 1] - d80) / (dose[j - 1] - dose[j])


@pytest.mark.parametrize("energy_mev", [100.0, 150.0, 200.0])
def test_r80_of_a_pencil_beam_matches_the_pstar_csda_range(energy_mev):
    csda_mm = 10 * float(water_physics.water_table().range_g_cm2(np.array([energy_mev]))[0])
    depth_mm = csda_mm + 30
    ct = water_box(size_mm=(40.0, depth_mm, 40.0), spacing_mm=(4.0, 0.5, 4.0), surface_y_mm=-20.0)
    job = pencil_job(energy_mev, primaries=8000, ct=ct)
    _, total = _run(job)
    dd = total.energy_mev().reshape(ct.shape).sum(axis=(0, 2))
    depth = (np.arange(dd.size) + 0.5) * 0.5
    r80 = _r80_mm(depth, dd)
    # the source plane is 500 mm upstream of the isocentre, 480 mm of air before the water surface
    air_mm = 480.0 * air_rsp()
    assert 0.4 < air_mm < 0.6
    assert abs(r80 - (csda_mm - air_mm)) < 0.4, f"R80 {r80:.2f} mm vs CSDA {csda_mm:.2f} - air {air_mm:.2f} mm"


def _fermi_eyges_sigma_mm(energy_mev, depths_mm):
    """sigma_x(z)^2 = sum over slices of (z - z')^2 dtheta0^2, Highland integrated along the path."""
    wt = water_physics.water_table()
    r0 = 10 * float(wt.range_g_cm2(np.array([energy_mev]))[0])
    dz = 0.05
    z = np.arange(0, max(depths_mm), dz)
    e = wt.energy_mev((r0 - (z + dz / 2)) / 10)
    k = 13.6 / water_physics.p_beta_mev(e)
    t0, t1 = z / X0_WATER_MM, (z + dz) / X0_WATER_MM
    dth2 = k**2 * (water_physics.highland_f(t1) - water_physics.highland_f(t0))
    zc = z + dz / 2
    return np.array([np.sqrt(np.sum(dth2[zc < d] * (d - zc[zc < d]) ** 2)) for d in depths_mm])


def test_lateral_spread_follows_highland_fermi_eyges():
    energy = 150.0
    csda_mm = 10 * float(water_physics.water_table().range_g_cm2(np.array([energy]))[0])
    ct = water_box(size_mm=(60.0, 180.0, 8.0), spacing_mm=(0.5, 4.0, 8.0), surface_y_mm=-20.0)
    job = pencil_job(energy, primaries=20000, nuclear=False, ct=ct)
    _, total = _run(job)
    e = total.energy_mev().reshape(ct.shape).sum(axis=0)  # (depth j, x i)
    x = (np.arange(ct.shape[2]) + 0.5) * 0.5
    depth_centres = (np.arange(ct.shape[1]) + 0.5) * 4.0
    # from a quarter of the range (sigma > 2 bins of 0.5 mm, so the grid resolves it) to 80 %
    keep = (depth_centres > 0.25 * csda_mm) & (depth_centres < 0.8 * csda_mm)
    measured = []
    for row in e[keep]:
        m = np.sum(row * x) / row.sum()
        measured.append(np.sqrt(np.sum(row * (x - m) ** 2) / row.sum() - 0.5**2 / 12))
    predicted = _fermi_eyges_sigma_mm(energy, depth_centres[keep])
    ratio = np.array(measured) / predicted
    assert np.all(np.abs(ratio - 1) < 0.05), f"sigma ratios {np.round(ratio, 3)}"


def test_nonelastic_removal_matches_the_cross_sections():
    energy = 150.0
    n = 20000
    ct = water_box(size_mm=(40.0, 200.0, 40.0), spacing_mm=(4.0, 4.0, 4.0))
    _, total = _run(pencil_job(energy, primaries=n, ct=ct))
    removed = total.counters["nonelastic_primary"] / n
    expected = 1 - surviving_fraction(WATER, 1.0, energy)
    sigma = np.sqrt(expected * (1 - expected) / n)
    assert abs(removed - expected) < 4 * sigma + 0.005, f"removed {removed:.4f}, cross sections say {expected:.4f}"


def test_same_seed_same_sums_however_batches_are_spread():
    job = pencil_job(120.0, primaries=3000, batches=3, ct=water_box(size_mm=(40.0, 140.0, 40.0)))
    prep = prepare(job)
    forward = run_batch(prep, 0, 1000) + run_batch(prep, 1, 1000) + run_batch(prep, 2, 1000)
    backward = run_batch(prep, 2, 1000) + (run_batch(prep, 1, 1000) + run_batch(prep, 0, 1000))
    assert np.array_equal(forward.energy, backward.energy)
    assert np.array_equal(forward.energy_sq, backward.energy_sq)
    assert np.array_equal(forward.let_numerator, backward.let_numerator)
    other = run_batch(prepare(pencil_job(120.0, 3000, seed=99, ct=job.ct)), 0, 1000)
    assert not np.array_equal(other.dense().energy, run_batch(prep, 0, 1000).dense().energy)


def test_uncertainty_falls_as_one_over_sqrt_n():
    ct = water_box(size_mm=(40.0, 140.0, 40.0), spacing_mm=(4.0, 4.0, 4.0))
    job = pencil_job(120.0, primaries=16000, ct=ct)
    prep = prepare(job)
    snaps = [run_batch(prep, b, 2000) for b in range(8)]
    small = snaps[0] + snaps[1]
    large = small
    for s in snaps[2:]:
        large = large + s
    w = prep.scale.per_voxel("water")
    ratio = small.mean_relative_uncertainty(w) / large.mean_relative_uncertainty(w)
    assert ratio == pytest.approx(2.0, rel=0.12)
    # the batch method estimates the same uncertainty as the history-by-history one
    hist = large.relative_uncertainty()
    batch = large.batch_relative_uncertainty()
    e = large.energy
    sel = e > 0.5 * e.max()
    assert np.median(batch[sel] / hist[sel]) == pytest.approx(1.0, rel=0.3)


def test_dose_to_water_equals_dose_to_medium_in_water():
    from braggdesk.model import DoseResult

    ct = water_box(size_mm=(40.0, 140.0, 40.0), spacing_mm=(4.0, 4.0, 4.0))
    prep, total = _run(pencil_job(120.0, primaries=2000, ct=ct))
    dw = DoseResult.from_snapshot(total, prep.scale, ct, "water").dose_gy
    dm = DoseResult.from_snapshot(total, prep.scale, ct, "medium").dose_gy
    assert np.allclose(dw, dm, rtol=1e-3)
    assert dw.max() > 0


def test_letd_rises_towards_the_bragg_peak():
    ct = water_box(size_mm=(40.0, 140.0, 40.0), spacing_mm=(4.0, 2.0, 4.0))
    _, total = _run(pencil_job(120.0, primaries=4000, ct=ct))
    num = total.let_numerator.reshape(ct.shape).sum(axis=(0, 2)).astype(float)
    den = total.let_energy.reshape(ct.shape).sum(axis=(0, 2)).astype(float)
    let = 1e-6 * num / np.maximum(den * 1e-6, 1e-30)  # dose-averaged over each depth slab
    dd = total.energy_mev().reshape(ct.shape).sum(axis=(0, 2))
    peak = int(np.argmax(dd))
    # primaries alone: ~0.5 keV/um at 115 MeV; slow secondary protons and deuterons raise the LETd
    # (SHIELD-HIT12A for the DCPT 160 MeV plan at 2.25 cm: 0.55 primaries, 0.90 all protons)
    assert 0.45 < let[2] < 1.0
    assert let[peak] > 3 * let[2]


def test_range_shifter_pulls_the_range_back_by_its_water_equivalent_thickness():
    from braggdesk.model import RangeShifter

    ct = water_box(size_mm=(40.0, 200.0, 40.0), spacing_mm=(4.0, 0.5, 4.0), surface_y_mm=-20.0)
    depth = (np.arange(ct.shape[1]) + 0.5) * 0.5
    r80 = []
    for with_rs in (False, True):
        job = pencil_job(150.0, primaries=6000, ct=ct)
        if with_rs:
            job.beam_model.range_shifters["RS_30"] = RangeShifter("RS_30", "Water", 30.0, 200.0, composition=WATER)
            job.plan.beams[0].range_shifter_ids = ["RS_30"]
        _, total = _run(job)
        r80.append(_r80_mm(depth, total.energy_mev().reshape(ct.shape).sum(axis=(0, 2))))
    assert r80[0] - r80[1] == pytest.approx(30.0, abs=0.5)


def test_pp_elastic_events_match_the_cross_section_along_the_path():
    """Expected events per primary: the integral of P_survive * Sigma_pp / S from 10 MeV to E0 along
    the CSDA path, P_survive the share of primaries no nonelastic event has removed yet."""
    energy, n = 150.0, 20000
    ct = water_box(size_mm=(40.0, 200.0, 40.0), spacing_mm=(4.0, 4.0, 4.0))
    _, total = _run(pencil_job(energy, primaries=n, ct=ct))
    e = np.linspace(10.0, energy, 2000)
    s_per_cm = water_physics.water_table().stopping_power(e)
    surviving = surviving_fraction(WATER, 1.0, energy, e)
    expected = float(np.trapezoid(surviving * pp_elastic_macroscopic_per_cm(WATER, 1.0, e) / s_per_cm, e))
    per_primary = total.counters["pp_elastic"] / n
    noise = 4 * np.sqrt(expected / n)
    # secondaries scatter too (short paths: a few per cent more events)
    assert expected - noise <= per_primary < 1.1 * expected + noise, (per_primary, expected)
