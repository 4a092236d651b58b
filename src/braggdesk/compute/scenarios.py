"""Robustness scenarios as ordinary Jobs, and running them one after another or all at once on a Dask cluster.

Why Jobs: a scenario is the nominal job with the plan moved (setup error) or the calibration
scaled (range error); every runner, local, SSH or Dask, then computes it unchanged, and the
scenarios spread over a cluster like any batches.

* Setup shift: every beam's isocentre moves by ``-shift_mm``: the beams meet the patient where
  they would if the patient had moved by ``+shift_mm``, and the dose stays on the nominal CT grid,
  in the patient's frame.
* Range error: the calibration's density table is multiplied by ``range_scale``.  The engine's
  per-voxel RSP is density x the material's mass stopping power (:func:`braggdesk.physics.calibration.
  voxel_media`), so the transport sees the stopping power scaled, and with it the nuclear and
  scattering path per mm: the patient is ``range_scale`` times more water-equivalent, as MCsquare
  models a systematic range error.  Dose to water (E / (RSP V)) and dose to medium (E / (rho V))
  keep their level per unit of water-equivalent depth; only the depths move.
* Each scenario job keeps the nominal job's seed: the scenarios share their random streams
  (correlated sampling), so their differences are the scenario's, not the noise's.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

from ..model import CtCalibration, DoseResult, Job, Plan
from ..model.scenario import Scenario

#: a callback the runs call after each batch: (scenario name, Progress)
ProgressCallback = Callable[[str, object], None]


def shifted_plan(plan: Plan, shift_mm: Sequence[float]) -> Plan:
    """The plan with every beam's isocentre moved by ``-shift_mm`` (the patient moved by ``+shift_mm``)."""
    sx, sy, sz = (float(s) for s in shift_mm)
    beams = [dataclasses.replace(b, isocenter_mm=(b.isocenter_mm[0] - sx, b.isocenter_mm[1] - sy,
                                                  b.isocenter_mm[2] - sz)) for b in plan.beams]
    return dataclasses.replace(plan, beams=beams)


def scaled_calibration(calibration: CtCalibration, range_scale: float) -> CtCalibration:
    """The calibration with its densities (and so every voxel's RSP) multiplied by ``range_scale``."""
    if range_scale == 1.0:
        return calibration
    note = f"range scenario: densities and stopping powers x {range_scale:g}"
    return dataclasses.replace(calibration, name=f"{calibration.name} x {range_scale:g}",
                               density_g_cm3=calibration.density_g_cm3 * float(range_scale),
                               notes=list(calibration.notes) + [note])


def scenario_job(job: Job, scenario: Scenario) -> Job:
    """The nominal ``job`` as ``scenario`` sees it: same CT grid, beam model, settings and seed; its own job id."""
    plan = shifted_plan(job.plan, scenario.shift_mm) if any(scenario.shift_mm) else job.plan
    calibration = scaled_calibration(job.calibration, scenario.range_scale)
    return dataclasses.replace(job, plan=plan, calibration=calibration, job_id=scenario_job_id(job.job_id, scenario))


def scenario_job_id(job_id: str, scenario: Scenario) -> str:
    """A job id per scenario, readable and unique: workers cache prepared jobs by id, so "range+3.5%" and
    "range-3.5%" must never share one (the name's letters alone would); a digest of the scenario keeps them apart."""
    slug = re.sub(r"[^A-Za-z0-9]+", "_", scenario.name).strip("_") or "scenario"
    digest = hashlib.sha1(repr((scenario.shift_mm, scenario.range_scale)).encode()).hexdigest()[:8]
    return f"{job_id}-{slug}-{digest}"


def run_scenarios_locally(job: Job, scenarios: Sequence[Scenario], *, progress: ProgressCallback | None = None,
                          runner_factory: Callable[[Job], object] | None = None) -> dict[str, DoseResult]:
    """Each scenario on this machine, one after another (the engine already uses every core)."""
    from .local import LocalRunner

    make = runner_factory or LocalRunner
    out = {}
    for scenario in scenarios:
        runner = make(scenario_job(job, scenario))
        for p in runner.run():
            if progress is not None:
                progress(scenario.name, p)
        out[scenario.name] = runner.result()
    return out


def run_scenarios_on_cluster(job: Job, scenarios: Sequence[Scenario], client, *,
                             progress: ProgressCallback | None = None, identity=None) -> dict[str, DoseResult]:
    """Every scenario at once on the Dask cluster of ``client``: one :class:`DaskRunner` per scenario, each
    driven by its own thread, so all their batches are queued together and the scheduler spreads them
    over the workers.  The client stays open; the first failure is raised (the other runs are cancelled)."""
    from .dask_runner import DaskRunner

    runners = {s.name: DaskRunner(scenario_job(job, s), client=client, identity=identity) for s in scenarios}
    lock = threading.Lock()

    def drive(name: str) -> DoseResult:
        runner = runners[name]
        for p in runner.run():
            if progress is not None:
                with lock:
                    progress(name, p)
        return runner.result()

    with ThreadPoolExecutor(max_workers=len(runners), thread_name_prefix="braggdesk-scenario") as pool:
        futures = {name: pool.submit(drive, name) for name in runners}
        try:
            return {name: f.result() for name, f in futures.items()}
        except BaseException:
            for r in runners.values():
                r.cancel()
            raise
