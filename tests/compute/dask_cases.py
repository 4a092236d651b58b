"""Small jobs for the Dask runner tests: a pencil beam in a coarse water box, no files needed."""

from __future__ import annotations

import numpy as np

from braggdesk.io.ct_calibration import water_calibration
from braggdesk.model import Beam, BeamModel, EnergyLayer, Job, Plan, SimulationSettings, Volume


def small_job(primaries: int | None = 2400, batches: int = 8, seed: int = 11, target: float | None = None,
              batch_size: int | None = None) -> Job:
    """120 MeV pencil beam (2 mm spot) into a 40 x 140 x 40 mm water box of 4 mm voxels (3500 voxels)."""
    hu = np.zeros((10, 35, 10), dtype=np.float32)
    ct = Volume(hu, (4.0, 4.0, 4.0), (-18.0, -18.0, -18.0), frame_of_reference_uid="1.2.3.4")
    e = np.array([50.0, 250.0])
    z = np.zeros(2)
    model = BeamModel("pencil", e, e.copy(), z, z + 1e6, z + 2.0, z + 2.0, z, z, z, z, 500.0, (1e7, 1e7))
    plan = Plan("pencil", [Beam("pencil", 1, 0.0, 0.0, (0.0, 0.0, 0.0), [EnergyLayer(120.0, [0.0], [0.0], [1.0])],
                                1.0, 1.0)], frame_of_reference_uid="1.2.3.4")
    settings = SimulationSettings(primaries=None if target else primaries, target_uncertainty=target,
                                  batches=batches, primaries_per_batch=batch_size, seed=seed, device="cpu")
    return Job.create(ct, plan, model, water_calibration(), settings)
