"""The real Eclipse plan 2_mono_2Gy on the DCPT phantom (geometry D) with the DCPT beam model v2.

The plan prescribes 2.217 Gy(RBE) = 2.0 Gy physical (RBE 1.1) at its dose reference point, the
isocentre, 22.5 mm deep, in the middle of the PMMA detector plate.

Two checks on one run.  The first is the issue's: 2 Gy within 3 % (we reach 2.01 Gy).  The
second splits that dose into its parts.  The primaries' own electronic dose at the isocentre,
fluence x stopping power with the fluence straight from the metersets and protons per MU, is
1.846 Gy.  On top of it, at 2.25 cm depth (in g/cm2 about 2.3):

* nonelastic events remove about 2 % of the primaries by then (Sigma ~ 0.01 /cm);
* their heavy recoils and alphas (8 % of the event's energy in ICRU 63 for oxygen at 150 MeV)
  deposit on the spot: + Sigma * 0.08 * E / S = about +2 %;
* their deuterons (10 %, ranges up to a few cm) and secondary protons (two per event, 48 % of
  the energy) and the p-p elastic recoils (Sigma_pp ~ 0.0017 /cm, half the energy) are still
  building up: several per cent more.

So the total must lie 6-13 % above the primaries' electronic dose (we get 9 %).  The previous nuclear model
(one fast secondary proton, only the recoils local) gave 3.7 % and 1.91 Gy.
"""

from __future__ import annotations

import numpy as np
import pytest

from braggdesk.physics.library import get_material
from braggdesk.physics.material_constants import material_physics
from braggdesk.physics.water import water_table

from cases import dose_in_the_plate_gy, run_dcpt_plan

MEV_PER_G_TO_GY = 1.602176634e-10


@pytest.fixture(scope="module")
def plan02_run():
    plan, model, result, iso = run_dcpt_plan("plan02_mono_eclipse", "D", primaries=150_000, seed=11)
    return plan, model, dose_in_the_plate_gy(result, iso)


def primary_electronic_dose_gy(plan, model) -> float:
    """Fluence of the central spots (MU x protons/MU over the spot cell) x S(E at the isocentre)."""
    layer = plan.beams[0].layers[0]
    x, y = layer.spot_x_mm, layer.spot_y_mm
    central = (np.abs(x) < 10) & (np.abs(y) < 10)
    mu = float(np.mean(layer.spot_weights[central] * layer.mu_per_weight))
    cell_cm2 = np.diff(np.unique(x)).mean() * np.diff(np.unique(y)).mean() / 100.0
    protons = mu * float(np.interp(layer.nominal_energy_mev, model.nominal_energy_mev, model.protons_per_mu))
    table = water_table()
    e0 = float(np.interp(layer.nominal_energy_mev, model.nominal_energy_mev, model.mean_energy_mev))
    # water-equivalent depth of the isocentre: 20 mm solid water + 2.5 mm PMMA
    rsp = {name: material_physics(get_material(name)).relative_stopping_power for name in ("Solid_Water_HE", "PMMA")}
    wet_cm = (20.0 * rsp["Solid_Water_HE"] + 2.5 * rsp["PMMA"]) / 10.0
    e_iso = float(table.energy_mev(float(table.range_g_cm2(e0)) - wet_cm))
    s = float(table.electronic_stopping_power(e_iso))
    return protons / cell_cm2 * s * MEV_PER_G_TO_GY


@pytest.mark.slow
def test_plan02_dose_is_the_primary_fluence_dose_plus_secondaries(plan02_run):
    plan, model, dose = plan02_run
    primary = primary_electronic_dose_gy(plan, model)
    assert primary == pytest.approx(1.846, rel=0.01)
    assert 1.06 <= dose / primary <= 1.13


@pytest.mark.slow
def test_plan02_gives_2_gy_at_the_isocentre(plan02_run):
    _, _, dose = plan02_run
    assert dose == pytest.approx(2.0, rel=0.03)
