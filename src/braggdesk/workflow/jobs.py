"""Building a Job: one set of defaults for the GUI, the command line and scripts.

Why here: the run panel, ``braggdesk run``/``gui --run`` and ``bd.compute`` used to
fill in primaries, batches, the beam model and the CT calibration each in their own
way.  Now :func:`simulation_settings` holds the defaults of a run and
:func:`build_job` the defaults of its inputs (the built-in beam model; the CT
folder's calibration, else Schneider, saying so), and every caller goes through them,
so the same inputs give the same Job wherever they were typed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..errors import BraggdeskError
from ..model import BeamModel, CtCalibration, Job, Plan, SimulationSettings, Volume

DEFAULT_PRIMARIES = 1_000_000  # a run that names neither primaries nor a target uncertainty
DEFAULT_BATCHES = 10
DEFAULT_SEED = 1
DEFAULT_MAX_PRIMARIES = 1_000_000_000
#: the first batch of an interactive fixed-count run: small, so a first dose shows within seconds
FIRST_LOOK_PRIMARIES = 500


def simulation_settings(primaries: int | None = None, uncertainty: float | None = None, *,
                        batches: int = DEFAULT_BATCHES, batch_size: int | None = None,
                        max_primaries: int = DEFAULT_MAX_PRIMARIES, seed: int = DEFAULT_SEED, device: str = "auto",
                        threads: int | None = None, dose_to: str = "water", nuclear: bool = True,
                        first_look: bool = False, engine: str = "full",
                        tracks_per_energy: int | None = None) -> SimulationSettings:
    """The settings of a run from what a person gave; BraggdeskError (one line) for a bad combination.

    ``uncertainty`` (a fraction, e.g. 0.01) wins over ``primaries``; neither given means
    :data:`DEFAULT_PRIMARIES`.  ``first_look`` (the GUI's "first look" box, ``gui --run``)
    makes the first batch of a fixed-count run :data:`FIRST_LOOK_PRIMARIES` small.  ``engine``: "full" or
    "track-repeat" (stored water tracks re-traced, ``tracks_per_energy`` of them per energy).
    """
    if uncertainty is None and primaries is None:
        primaries = DEFAULT_PRIMARIES
    by_count = uncertainty is None
    try:
        return SimulationSettings(
            primaries=primaries if by_count else None, target_uncertainty=uncertainty, batches=batches,
            primaries_per_batch=batch_size, max_primaries=max_primaries, seed=seed, device=device,
            threads=threads, dose_to=dose_to, nuclear=nuclear,
            first_batch_primaries=FIRST_LOOK_PRIMARIES if first_look and by_count and batches > 1 else None,
            engine=engine, tracks_per_energy=tracks_per_energy)
    except ValueError as exc:
        raise BraggdeskError(str(exc)) from None


@dataclass
class BuiltJob:
    """A job and what was assumed to build it (for the log, the summary and the report)."""

    job: Job
    notes: list[str] = field(default_factory=list)


def beam_model_and_calibration(beam_model: BeamModel | str | Path | None = None,
                               calibration: CtCalibration | str | Path | None = None,
                               ct_folder: str | Path | None = None) -> tuple[BeamModel, CtCalibration, list[str]]:
    """The inputs' defaults: ``beam_model`` a BeamModel, a file (DCPT CSV, MCsquare BDL) or None for the built-in
    generic one; ``calibration`` a CtCalibration, a folder, file or name (``schneider``, ``water``), or None for
    the ``ct_folder``'s own ``ct_calibration.csv`` if there is one, else Schneider (said in the notes)."""
    from ..io.beam_model_reader import read_beam_model
    from ..io.ct_calibration import find_calibration_in_folder, read_ct_calibration

    notes: list[str] = []
    model = beam_model if isinstance(beam_model, BeamModel) else read_beam_model(
        None if beam_model is None else str(beam_model))
    if not isinstance(calibration, CtCalibration):
        if calibration is not None:
            calibration = read_ct_calibration(str(calibration))
        else:
            calibration = find_calibration_in_folder(Path(ct_folder)) if ct_folder else None
            if calibration is None:
                calibration = read_ct_calibration("schneider")
                notes.append("no calibration next to the CT: using the built-in Schneider HU calibration")
    return model, calibration, notes


def build_job(ct: Volume | None, plan: Plan | None, *, beam_model: BeamModel | str | Path | None = None,
              calibration: CtCalibration | str | Path | None = None, settings: SimulationSettings | None = None,
              ct_folder: str | Path | None = None, ignore_frame_of_reference: bool = False) -> BuiltJob:
    """The Job of ``plan`` on ``ct``, with the defaults of :func:`beam_model_and_calibration` for the inputs not
    given and of :func:`simulation_settings` for the settings.  Notes say what was assumed.  (Where the CT's HU
    fall outside the calibration the engine says when it builds the media, on whatever machine runs the job: a
    scan of every voxel here would run on the GUI thread at Start.)"""
    if ct is None:
        raise BraggdeskError("no CT is loaded: open a patient folder (File > Open folder) or the demo case")
    if plan is None:
        raise BraggdeskError("no RT Ion Plan is loaded: open the plan's file or a folder that holds it")
    model, calibration, notes = beam_model_and_calibration(beam_model, calibration, ct_folder)
    job = Job.create(ct, plan, model, calibration, settings or simulation_settings(),
                     ignore_frame_of_reference=ignore_frame_of_reference)
    return BuiltJob(job, notes)
