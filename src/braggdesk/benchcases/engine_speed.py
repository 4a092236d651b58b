"""``braggdesk bench``: the figures benchmarks/README.md records.

0. The kernel's load time: compiled on the first run on a machine, loaded from the disk cache after.
1. Primaries per second for a 150 MeV pencil beam in a water box with 2 mm voxels (nuclear physics on),
   over the whole run (set-up, transport, snapshots), and over the kernel's own time.
2. Time to 1 % mean uncertainty for the DCPT SOBP plan (plan01_sobp_eclipse) on the
   DCPT phantom with the DCPT beam model: a fixed number of primaries is run, the
   uncertainty u reached is measured, and the time to 1 % is extrapolated as
   t * (u / 0.01)^2 (uncertainty falls as 1/sqrt(N)); both numbers are reported.
"""

from __future__ import annotations

import os
import platform
import time
from pathlib import Path
from typing import Callable

import numpy as np

from .._version import __version__
from ..engine.device import Device, select_device
from ..io.ct_calibration import water_calibration
from ..compute.local import LocalRunner
from ..model import Beam, BeamModel, EnergyLayer, Job, Plan, SimulationSettings, Volume

#: the DCPT SOBP case, inside the project's shared test data (found by :func:`shared_data_folder`)
SOBP_PLAN_FOLDER = Path("dcpt-let-2022/plans/plan01_sobp_eclipse")
SOBP_BEAM_MODEL = Path("dcpt-let-2022/beam_model/DCPT_beam_model__v2.csv")


def shared_data_folder() -> Path | None:
    """The project's shared test data: $BRAGGDESK_SHARED_DATA, else ``../shared/data`` beside the source
    checkout this module runs from, else beside the working directory; None when none exists (an installed
    copy without the data skips the SOBP figure)."""
    checkout = Path(__file__).resolve().parents[3]  # src/braggdesk/benchcases/engine_speed.py -> the checkout
    candidates = [Path(os.environ["BRAGGDESK_SHARED_DATA"])] if os.environ.get("BRAGGDESK_SHARED_DATA") else []
    candidates += [checkout.parent / "shared" / "data", Path.cwd().parent / "shared" / "data"]
    return next((c for c in candidates if c.is_dir()), None)


def pencil_beam_job(primaries: int, device: str, energy_mev: float = 150.0, batches: int = 8) -> Job:
    """150 MeV pencil beam (no spread, 3 mm spot) into a 100 x 300 x 100 mm water box, 2 mm voxels."""
    hu = np.zeros((50, 150, 50), dtype=np.float32)
    ct = Volume(hu, (2.0, 2.0, 2.0), (-49.0, -19.0, -49.0), frame_of_reference_uid="bench")
    e = np.array([70.0, 250.0])
    z = np.zeros(2)
    model = BeamModel("bench pencil", e, e.copy(), z, z + 1e6, z + 3.0, z + 3.0, z, z, z, z, 500.0, (1e7, 1e7))
    layer = EnergyLayer(energy_mev, [0.0], [0.0], [1.0])
    plan = Plan("bench", [Beam("pencil", 1, 0.0, 0.0, (0.0, 0.0, 0.0), [layer], 1.0, 1.0)],
                frame_of_reference_uid="bench")
    return Job.create(ct, plan, model, water_calibration(), SimulationSettings(primaries=primaries, batches=batches,
                                                                               seed=1, device=device))


def _time_run(job: Job, device: Device) -> tuple[float, float, float]:
    """Seconds to run the job on ``device``, the kernel's share of them, and the mean relative uncertainty."""
    runner = LocalRunner(job, device=device)
    t0 = time.perf_counter()
    last = None
    for last in runner.run():
        pass
    seconds = time.perf_counter() - t0
    kernel = runner.total.compute_seconds if runner.total is not None else float("nan")
    return seconds, kernel, (last.mean_uncertainty if last else float("nan"))


def kernel_load_seconds(device: Device) -> float:
    """Seconds until the kernel first runs (a 10-history batch): its compile time on a machine's first
    run, the disk cache's load time after that."""
    t0 = time.perf_counter()
    _time_run(pencil_beam_job(10, "gpu" if device.is_gpu else "cpu", batches=1), device)
    return time.perf_counter() - t0


#: primaries for the pencil-beam case when none are given: a GPU needs millions to be busy
DEFAULT_PRIMARIES = {"cpu": 200_000, "cuda": 20_000_000}


def run_benchmarks(device: str = "auto", primaries: int | None = None, sobp_plan: Path | None = None,
                   sobp_primaries: int = 200_000, threads: int | None = None,
                   log: Callable[[str], None] = print) -> dict:
    import numba  # noqa: PLC0415

    chosen = select_device(device, threads)
    primaries = primaries or DEFAULT_PRIMARIES[chosen.kind]
    figures: dict = {"braggdesk_version": __version__, "device": chosen.name, "threads": chosen.threads,
                     "python": platform.python_version(), "numpy": np.__version__, "numba": numba.__version__}
    log(f"bench: loading the kernel on {chosen.name}")
    figures["kernel_load_seconds"] = round(kernel_load_seconds(chosen), 2)
    log(f"bench: 150 MeV pencil beam in water, {primaries:,} primaries on {chosen.name}")
    seconds, kernel, _ = _time_run(pencil_beam_job(primaries, device), chosen)
    figures["pencil150_water_2mm_primaries"] = primaries
    figures["pencil150_water_2mm_seconds"] = round(seconds, 2)
    figures["pencil150_water_2mm_primaries_per_second"] = round(primaries / seconds, 1)
    figures["pencil150_water_2mm_kernel_primaries_per_second"] = round(primaries / kernel, 1)
    data = shared_data_folder()
    plan_path = sobp_plan or (_first(data / SOBP_PLAN_FOLDER, "RN*.dcm") if data is not None else None)
    model_path = data / SOBP_BEAM_MODEL if data is not None else None
    if plan_path is None or model_path is None or not model_path.exists():
        log("bench: DCPT SOBP plan or beam model not found (set BRAGGDESK_SHARED_DATA to the shared data "
            "folder); skipping the time-to-1 % figure")
        return figures
    from ..io.beam_model_reader import read_beam_model
    from ..io.phantoms import make_phantom
    from ..io.rtplan import read_rt_ion_plan

    plan = read_rt_ion_plan(plan_path)
    phantom = make_phantom("dcpt", geometry="A", isocenter_mm=tuple(plan.beams[0].isocenter_mm), spacing_mm=2.0)
    model = read_beam_model(model_path)
    job = Job.create(phantom.volume, plan, model, phantom.calibration,
                     SimulationSettings(primaries=sobp_primaries, batches=8, seed=1, device=device),
                     ignore_frame_of_reference=True)
    log(f"bench: DCPT SOBP plan ({plan.n_spots} spots) on the DCPT phantom, {sobp_primaries:,} primaries")
    seconds, _, unc = _time_run(job, chosen)
    figures["sobp_primaries"] = sobp_primaries
    figures["sobp_seconds"] = round(seconds, 2)
    figures["sobp_primaries_per_second"] = round(sobp_primaries / seconds, 1)
    figures["sobp_mean_relative_uncertainty"] = round(unc, 5)
    figures["sobp_time_to_1pct_seconds_extrapolated"] = round(seconds * (unc / 0.01) ** 2, 1)
    return figures


def _first(folder: Path, pattern: str) -> Path | None:
    hits = sorted(folder.glob(pattern)) if folder.exists() else []
    return hits[0] if hits else None
