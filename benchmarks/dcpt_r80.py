"""R80 of the real Eclipse plan02 (160 MeV) on the DCPT phantom, against five reference Monte Carlo codes.

    PYTHONPATH=src python benchmarks/dcpt_r80.py [PRIMARIES] [SEED]

Geometry D (dcpt-let-2022 docs/geometry.md: Solid Water HE -2.25..-0.25 cm, PMMA plate, Solid Water to
+18.25 cm behind the isocentre), DCPT beam model v2, 0.5 mm voxels along the beam and 2.5 mm laterally
(160 x 160 mm), dose to water averaged over the central 4 x 4 cm; R80 is the distal 80 % point of that
depth dose, in mm behind the isocentre.  The reference R80 values were read off the depth-dose files of
GitHub APTG/2022_DCPT_LET (HEAD 62db608, CC BY 4.0), ``data/<code>/results/plan02_field01_geoD_mono/``
(``depth_Z.DOSE.all.mat`` for FLUKA and MCNP, ``NB_Z_narrow_dose_p1.dat`` for the others), with the same
linear interpolation of the 80 % crossing on their 1 mm bins.
"""

from __future__ import annotations

import statistics
import sys
from pathlib import Path

import numpy as np

from braggdesk.compute.local import LocalRunner
from braggdesk.io.beam_model_reader import read_beam_model
from braggdesk.io.phantoms import make_phantom
from braggdesk.io.rtplan import read_rt_ion_plan
from braggdesk.model import Job, SimulationSettings

DCPT = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "dcpt-let-2022"
REFERENCE_R80_MM = {"FLUKA": 151.06, "MCNP": 151.21, "OpenSHIELD-HIT": 151.40, "SHIELD-HIT12A": 150.99,
                    "TOPAS (Solid Water 1.039 g/cm3)": 149.35}


def r80_mm(depth_mm: np.ndarray, dose: np.ndarray) -> float:
    i = int(np.argmax(dose))
    d80 = 0.8 * dose[i]
    j = i + int(np.argmax(dose[i:] < d80))
    return float(depth_mm[j - 1] + (depth_mm[j] - depth_mm[j - 1]) * (dose[j - 1] - d80) / (dose[j - 1] - dose[j]))


def main(primaries: int = 150_000, seed: int = 11) -> None:
    plan = read_rt_ion_plan(next((DCPT / "plans" / "plan02_mono_eclipse").glob("RN*.dcm")))
    iso = tuple(plan.beams[0].isocenter_mm)
    phantom = make_phantom("dcpt", geometry="D", isocenter_mm=iso, spacing_mm=(2.5, 0.5, 2.5),
                           lateral_mm=(160.0, 160.0))
    model = read_beam_model(DCPT / "beam_model" / "DCPT_beam_model__v2.csv")
    job = Job.create(phantom.volume, plan, model, phantom.calibration,
                     SimulationSettings(primaries=primaries, batches=4, seed=seed, device="cpu"),
                     ignore_frame_of_reference=True)
    runner = LocalRunner(job)
    for _ in runner.run():
        pass
    result = runner.result()
    x, y, z = result.grid.axis_coordinates_mm()
    central = np.ix_(np.abs(z - iso[2]) < 20, np.ones(y.size, bool), np.abs(x - iso[0]) < 20)
    depth_dose = result.dose_gy[central].mean(axis=(0, 2))
    depth = y - iso[1]
    r80 = r80_mm(depth, depth_dose)
    median = statistics.median(REFERENCE_R80_MM.values())
    print(f"R80 {r80:.2f} mm behind the isocentre; reference median {median:.2f} mm ({r80 - median:+.2f} mm); "
          f"plate dose {float(depth_dose[np.abs(depth) < 2.5].mean()):.4f} Gy")


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:3]))
