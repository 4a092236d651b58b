"""The Python API: ``import braggdesk as bd``.

A physicist's script does what the workstation does, through the same code
(the workflow layer the GUI and the command line call)::

    import braggdesk as bd

    case = bd.demo_case(spacing_mm=6.0)                    # or: patient = bd.open_folder("RTexport/")
    job = bd.make_job(case.ct, case.plan, primaries=20_000, batches=4, calibration=case.calibration)
    run = bd.calculate(job, on="local")                    # local, local:N, ssh://node, dask://host:8786 ...
    for progress in run:                                   # one step per merged batch
        print(progress.line())
    dose = run.result()                                    # dose, uncertainty and LETd on the CT grid
    for row in bd.dose_statistics(dose, case.structures, case.ct):
        print(row.name, row.metrics["D95 [Gy]"])

Every function here is a thin, documented door into one module of the workflow layer;
the module docs say why each rule is the way it is.  (The dose call is ``calculate``:
``braggdesk.compute`` is the package of the runners.)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from ..analysis.dvh import Dvh, DvhMetrics, dvh_of_mask, metrics_of
from ..analysis.gamma import GammaCriteria, GammaResult, gamma_index
from ..compute.progress import Progress
from ..compute.runner import Runner
from ..errors import BraggdeskError, InputError
from ..model import BeamModel, CtCalibration, DoseResult, Job, Plan, StructureMask, StructureSet, Volume
from . import exports
from .jobs import build_job, simulation_settings
from .structure_stats import StructureAnalysis, analyse
from .targets import RunnerOptions, make_runner
from .workspace import Workspace

__all__ = [
    "BraggdeskError", "InputError", "Case", "Computation", "DoseResult", "Job", "Workspace", "calculate", "demo_case", "dose_statistics", "dvh",
    "export_dvh_csv", "export_map", "export_metrics_csv", "export_result", "export_rtdose", "gamma", "make_job",
    "metrics", "open_folder", "rbe_weighted", "structure_masks",
]


@dataclass
class Case:
    """A CT with its plan, structures, calibration and beam model: what a job and a review need."""

    ct: Volume
    plan: Plan
    structures: list[StructureSet]
    calibration: CtCalibration | None = None
    beam_model: BeamModel | None = None


def open_folder(path: str | Path) -> Workspace:
    """A patient folder (or one DICOM file), its headers indexed once.

    ``ws.inventory`` lists what is there, ``ws.problems`` what is wrong with each file;
    ``ws.plan()``, ``ws.ct(referenced_by=plan)``, ``ws.structure_sets()``, ``ws.doses()`` read items.
    """
    return Workspace.open(path)


def demo_case(spacing_mm: float = 3.0) -> Case:
    """The built-in case (a spread-out Bragg peak on a water phantom with bone and lung slabs), no files needed."""
    from .demo import demo_session

    session, case = demo_session(spacing_mm)
    return Case(session.ct, case.plan, session.structure_sets, session.calibration, session.beam_model)


def make_job(ct: Volume, plan: Plan, *, primaries: int | None = None, uncertainty: float | None = None,
             batches: int = 10, seed: int = 1, device: str = "auto", threads: int | None = None,
             dose_to: str = "water", beam_model: BeamModel | str | Path | None = None,
             calibration: CtCalibration | str | Path | None = None, ct_folder: str | Path | None = None,
             **settings) -> Job:
    """A Job with the defaults the GUI and ``braggdesk run`` use (neither primaries nor uncertainty: 1e6
    primaries; no beam model: the built-in one; no calibration: the CT folder's, else Schneider).
    Other keywords (``batch_size``, ``max_primaries``, ``nuclear``) go to the run's settings."""
    run_settings = simulation_settings(primaries, uncertainty, batches=batches, seed=seed, device=device,
                                       threads=threads, dose_to=dose_to, **settings)
    return build_job(ct, plan, beam_model=beam_model, calibration=calibration, settings=run_settings,
                     ct_folder=ct_folder).job


class Computation:
    """A job running on a runner: iterate it for one :class:`~braggdesk.compute.progress.Progress` per merged
    batch (``progress.latest`` is the batch's Snapshot, ``progress.total`` the sums so far); :meth:`result`
    gives the DoseResult (partial if cancelled); :meth:`cancel` stops between batches."""

    def __init__(self, runner: Runner):
        self.runner = runner

    def __iter__(self) -> Iterator[Progress]:
        return self.runner.run()

    def run(self) -> DoseResult:
        """Run to the end without looking at the batches; the result."""
        for _ in self:
            pass
        return self.result()

    def cancel(self) -> None:
        self.runner.cancel()

    def result(self) -> DoseResult:
        return self.runner.result()

    @property
    def device(self) -> str:
        return self.runner.device


def calculate(job: Job, on: str = "local", options: RunnerOptions | None = None) -> Computation:
    """Ready to run ``job`` on a target of the shared syntax: ``local``, ``local:N``, ``process``,
    ``ssh://[user@]host[:port]``, ``dask://host:8786``, ``dask://local:N``, or a saved profile's name.
    Nothing runs until the Computation is iterated (or :meth:`Computation.run` is called)."""
    return Computation(make_runner(job, on, options))


def structure_masks(structures: list[StructureSet] | StructureSet, ct: Volume) -> list[StructureMask]:
    """The structures rasterized on the CT grid (fractional voxel occupancy)."""
    from ..analysis.rasterize import rasterize_structure_set

    sets = [structures] if isinstance(structures, StructureSet) else structures
    return [m for ss in sets for m in rasterize_structure_set(ss, ct)]


def dose_statistics(dose: DoseResult | np.ndarray, structures: list[StructureSet] | list[StructureMask],
                    ct: Volume, reference_gy: float | None = None) -> list[StructureAnalysis]:
    """DVH and the statistics table's metrics for each structure, as the workstation shows them.
    ``reference_gy``: the dose V95 refers to (default: the plan's prescription is unknown here, so the maximum)."""
    dose_gy = dose.dose_gy if isinstance(dose, DoseResult) else np.asarray(dose)
    masks = [s for s in structures if isinstance(s, StructureMask)] or structure_masks(list(structures), ct)
    ref = reference_gy if reference_gy is not None else (float(dose_gy.max()) if dose_gy.size else None)
    return analyse(dose_gy, masks, ref)


def dvh(dose: DoseResult | np.ndarray, mask: StructureMask) -> Dvh:
    """The DVH of one structure (cumulative and differential; D and V read exactly from the voxels)."""
    return dvh_of_mask(dose.dose_gy if isinstance(dose, DoseResult) else np.asarray(dose), mask)


def metrics(dvh_: Dvh) -> DvhMetrics:
    """Volume, Dmean, Dmin, Dmax, D98, D95, D50 and D2 of a DVH."""
    return metrics_of(dvh_)


def gamma(reference: Volume | DoseResult, evaluated: Volume | DoseResult, *, dose_percent: float = 2.0,
          dta_mm: float = 2.0, cutoff_percent: float = 10.0, local: bool = False) -> GammaResult:
    """3D gamma of ``evaluated`` against ``reference`` (dose Volumes in Gy or DoseResults, any grids)."""
    def grid(d):
        return d.grid if isinstance(d, DoseResult) else d

    return gamma_index(grid(reference), grid(evaluated),
                       GammaCriteria(dose_percent=dose_percent, dta_mm=dta_mm, cutoff_percent=cutoff_percent,
                                     local=local))


def export_map(path: str | Path, dose: DoseResult, quantity: str = "dose") -> Path:
    """``dose``, ``uncertainty`` or ``let`` of a result as NRRD or MHD (by the suffix), on the CT grid."""
    values = {"dose": dose.dose_gy, "uncertainty": dose.uncertainty, "let": dose.let_kev_um}[quantity]
    return exports.write_map(path, values, dose.grid, quantity)


def export_dvh_csv(path: str | Path, statistics: list[StructureAnalysis]) -> Path:
    """The DVH curves of :func:`dose_statistics` as CSV (structure, dose_gy, volume_cm3, volume_percent)."""
    return exports.write_dvh_csv(path, statistics)


def export_metrics_csv(path: str | Path, statistics: list[StructureAnalysis]) -> Path:
    """The metrics of :func:`dose_statistics` as CSV, one row per structure."""
    return exports.write_metrics_csv(path, statistics)


def rbe_weighted(dose: DoseResult, *, model: str = "mcnamara", alpha_beta: float = 10.0,
                 alpha_beta_by_structure: dict[str, float] | None = None, structures: list[StructureMask] = (),
                 fractions: int = 1) -> np.ndarray:
    """The RBE-weighted dose in Gy(RBE) per voxel (model ``constant`` (1.1), ``mcnamara`` or ``wedenberg``), as the
    workstation shows it and ``braggdesk run --rbe`` writes it.  ``alpha_beta``: Gy, for voxels in no structure of
    ``alpha_beta_by_structure`` (those are looked up in ``structures``, from :func:`structure_masks`);
    ``fractions``: how many fractions ``dose`` stands for (1: one fraction, what a DICOM plan's run gives)."""
    from .rbe_dose import RbeSettings, rbe_weighted_result

    settings = RbeSettings(model, alpha_beta, tuple((alpha_beta_by_structure or {}).items()), fractions)
    return rbe_weighted_result(dose, settings, list(structures))


def export_rtdose(path: str | Path, dose: DoseResult, ct: Volume, plan: Plan | None = None,
                  rbe_weighted_gy: np.ndarray | None = None) -> Path:
    """The dose as a DICOM RT Dose on the CT's study and frame of reference (de-identified); given
    ``rbe_weighted_gy`` (from :func:`rbe_weighted`), that dose instead, as DoseType EFFECTIVE."""
    from ..io.rtdose import computed_summation, write_rtdose

    summation = computed_summation(plan)  # a Monte Carlo dose of a plan is one fraction's
    comment = f"braggdesk MC dose to {dose.dose_to}" + (" (PARTIAL)" if dose.partial else "")
    if rbe_weighted_gy is not None:
        return write_rtdose(rbe_weighted_gy, dose.grid, path, plan=plan, ct=ct, dose_type="EFFECTIVE",
                            summation=summation,
                            comment="braggdesk RBE-weighted dose" + (" (PARTIAL)" if dose.partial else ""))
    return write_rtdose(dose.dose_gy, dose.grid, path, plan=plan, ct=ct, summation=summation, comment=comment)


def export_result(folder: str | Path, dose: DoseResult, statistics: list[StructureAnalysis] | None = None,
                  suffix: str = ".nrrd") -> list[Path]:
    """Dose, uncertainty and LETd maps, and (given statistics) DVH and metrics CSVs, into ``folder``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = [export_map(folder / f"{q}{suffix}", dose, q) for q in ("dose", "uncertainty", "let")]
    if statistics:
        written += [export_dvh_csv(folder / "dvh.csv", statistics),
                    export_metrics_csv(folder / "metrics.csv", statistics)]
    return written
