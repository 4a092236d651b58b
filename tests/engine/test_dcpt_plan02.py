"""The real Eclipse plan 2_mono_2Gy on the DCPT phantom (geometry D) with the DCPT beam model v2.

The plan prescribes 2.217 Gy(RBE) = 2.0 Gy physical (RBE 1.1) at its dose reference point, the
isocentre, 22.5 mm deep, in the middle of the PMMA detector plate.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from braggdesk.compute.local import LocalRunner
from braggdesk.io.beam_model import read_beam_model
from braggdesk.io.phantoms import make_phantom
from braggdesk.io.rtplan import read_rt_ion_plan
from braggdesk.model import Job, SimulationSettings

DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "dcpt-let-2022"
PLAN = DATA / "plans" / "plan02_mono_eclipse"


@pytest.mark.slow
@pytest.mark.xfail(strict=True, reason="measured 1.90-1.91 Gy at the isocentre (-5 %), outside the 3 % goal; "
                                        "see the engine issue note (nuclear energy partition, beam model MU)")
def test_plan02_gives_2_gy_at_the_isocentre():
    plan = read_rt_ion_plan(next(PLAN.glob("RN*.dcm")))
    iso = tuple(plan.beams[0].isocenter_mm)
    phantom = make_phantom("dcpt", geometry="D", isocenter_mm=iso, spacing_mm=2.5)
    model = read_beam_model(DATA / "beam_model" / "DCPT_beam_model__v2.csv")
    job = Job.create(phantom.volume, plan, model, phantom.calibration,
                     SimulationSettings(primaries=150_000, batches=4, seed=11, device="cpu"),
                     ignore_frame_of_reference=True)
    runner = LocalRunner(job)
    for _ in runner.run():
        pass
    result = runner.result()
    x, y, z = result.grid.axis_coordinates_mm()
    sel_y = np.abs(y - iso[1]) < 2.5  # the two voxels of the PMMA plate
    sel_x, sel_z = np.abs(x - iso[0]) < 20, np.abs(z - iso[2]) < 20
    dose = result.dose_gy[np.ix_(sel_z, sel_y, sel_x)].mean()
    assert dose == pytest.approx(2.0, rel=0.03)
