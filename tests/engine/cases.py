"""Small in-memory cases for engine tests: a water box and a pencil beam, no files needed."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from braggdesk.model import (Beam, BeamModel, CtCalibration, EnergyLayer, Job, Material, Plan,
                             SimulationSettings, Volume)
from braggdesk.physics.material_constants import WATER  # the reference water (ICRU 90, I = 78 eV): RSP exactly 1

AIR = Material("Air", 0.00120479, {"C": 0.000124, "N": 0.755267, "O": 0.231781, "Ar": 0.012827})


def water_calibration() -> CtCalibration:
    return CtCalibration("water-test", np.array([-1000.0, 0.0]), np.array([1.0, 1.0]), np.array([-1000.0]), [WATER])


def water_box(size_mm=(100.0, 320.0, 100.0), spacing_mm=(2.0, 2.0, 2.0), surface_y_mm=-20.0) -> Volume:
    """Water box; the beam (gantry 0) enters at y = surface_y_mm and travels along +y."""
    ni, nj, nk = (int(round(s / d)) for s, d in zip(size_mm, spacing_mm))
    hu = np.zeros((nk, nj, ni), dtype=np.float32)
    origin = (-size_mm[0] / 2 + spacing_mm[0] / 2, surface_y_mm + spacing_mm[1] / 2, -size_mm[2] / 2 + spacing_mm[2] / 2)
    return Volume(hu, spacing_mm, origin, frame_of_reference_uid="1.2.3.4")


def pencil_model(energies=(50.0, 250.0), sigma_mm=0.0, spread_mev=0.0, protons_per_mu=1e6) -> BeamModel:
    e = np.asarray(energies, float)
    z = np.zeros_like(e)
    return BeamModel("pencil", e, e.copy(), z + spread_mev, z + protons_per_mu, z + sigma_mm, z + sigma_mm,
                     z, z, z, z, reference_plane_to_isocenter_mm=500.0, virtual_source_axis_distance_mm=(1e7, 1e7))


def single_spot_plan(energy_mev: float, mu: float = 1.0, isocenter=(0.0, 0.0, 0.0), spots=((0.0, 0.0),)) -> Plan:
    xs = [s[0] for s in spots]
    ys = [s[1] for s in spots]
    layer = EnergyLayer(energy_mev, xs, ys, np.full(len(spots), mu))
    beam = Beam("pencil", 1, 0.0, 0.0, isocenter, [layer], meterset_mu=mu * len(spots),
                final_cumulative_meterset_weight=mu * len(spots))
    return Plan("pencil", [beam], frame_of_reference_uid="1.2.3.4")


def pencil_job(energy_mev: float, primaries: int, batches: int = 4, seed: int = 7, nuclear: bool = True,
               ct: Volume | None = None, model: BeamModel | None = None) -> Job:
    ct = ct or water_box()
    return Job.create(ct, single_spot_plan(energy_mev), model or pencil_model(), water_calibration(),
                      SimulationSettings(primaries=primaries, batches=batches, seed=seed, device="cpu",
                                         nuclear=nuclear))


DCPT_DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "dcpt-let-2022"


def run_dcpt_plan(folder: str, geometry: str, primaries: int, seed: int, batches: int = 4):
    """A real dcpt-let-2022 plan on the DCPT phantom in the geometry it was delivered in (2.5 mm voxels),
    DCPT beam model v2: (plan, beam model, DoseResult, isocentre)."""
    from braggdesk.compute.local import LocalRunner
    from braggdesk.io.beam_model_reader import read_beam_model
    from braggdesk.io.phantoms import make_phantom
    from braggdesk.io.rtplan import read_rt_ion_plan

    plan = read_rt_ion_plan(next((DCPT_DATA / "plans" / folder).glob("RN*.dcm")))
    iso = tuple(plan.beams[0].isocenter_mm)
    phantom = make_phantom("dcpt", geometry=geometry, isocenter_mm=iso, spacing_mm=2.5)
    model = read_beam_model(DCPT_DATA / "beam_model" / "DCPT_beam_model__v2.csv")
    job = Job.create(phantom.volume, plan, model, phantom.calibration,
                     SimulationSettings(primaries=primaries, batches=batches, seed=seed, device="cpu"),
                     ignore_frame_of_reference=True)
    runner = LocalRunner(job)
    for _ in runner.run():
        pass
    return plan, model, runner.result(), iso


def dose_in_the_plate_gy(result, iso) -> float:
    """Mean dose over the two voxels of the PMMA plate (5 mm thick, at the isocentre) and 4 x 4 cm laterally."""
    x, y, z = result.grid.axis_coordinates_mm()
    sel = np.ix_(np.abs(z - iso[2]) < 20, np.abs(y - iso[1]) < 2.5, np.abs(x - iso[0]) < 20)
    return float(result.dose_gy[sel].mean())


def check_job(primaries: int = 200) -> Job:
    """A small job that exercises every branch of the kernel: a Schneider CT with water, bone and lung
    slabs and air around, two beams (one through a range shifter), several spots, a double-Gaussian
    beam model, nuclear events on."""
    import dataclasses

    from braggdesk.io.ct_calibration import schneider_calibration
    from braggdesk.model import RangeShifter

    ct = water_box(size_mm=(40.0, 80.0, 40.0), spacing_mm=(4.0, 4.0, 4.0), surface_y_mm=-20.0)
    hu = ct.hu.copy()
    hu[:, 4:6, :] = 1200.0  # bone
    hu[:, 8:11, :] = -750.0  # lung
    hu[:, :, :2] = -1000.0  # air at one side
    ct = dataclasses.replace(ct, values=hu)
    e = np.array([50.0, 250.0])
    z = np.zeros(2)
    model = BeamModel("check", e, e.copy(), z + 0.8, z + 1e6, z + 3.0, z + 4.0, z + 0.003, z + 0.002, z + 0.2, z - 0.1,
                      reference_plane_to_isocenter_mm=400.0, virtual_source_axis_distance_mm=(2000.0, 1800.0),
                      weight2=z + 0.1, sigma_x2_mm=z + 9.0, sigma_y2_mm=z + 8.0, divergence_x2_rad=z + 0.01,
                      divergence_y2_rad=z + 0.01, correlation_x2=z, correlation_y2=z)
    model.range_shifters["RS"] = RangeShifter("RS", "Water", 20.0, 250.0, composition=WATER)
    plan = single_spot_plan(120.0, spots=((0.0, 0.0), (6.0, -4.0), (-5.0, 3.0)))
    side = dataclasses.replace(plan.beams[0], name="side", number=2, gantry_angle_deg=90.0,
                               range_shifter_ids=["RS"])
    plan.beams.append(side)
    return Job.create(ct, plan, model, schneider_calibration(),
                      SimulationSettings(primaries=primaries, batches=1, seed=3, device="cpu"))
