"""A job in the track-repeating mode: the database energies its spots need, found in the cache or
recorded now, packed for the kernel, behind an executor.  The job's settings say how many tracks per
energy (``tracks_per_energy``); the notes say which database it used and what had to be recorded."""

from __future__ import annotations

from ...errors import BraggdeskError
from ...model import Job
from ...model.job import TRACK_REPEAT_NEEDS_NUCLEAR
from ..device import Device
from ..packing import KernelInputs
from ..source import SpotTable
from ..geometry import GridFrame
from ..source import build_spot_table
from .build import DEFAULT_TRACKS_PER_ENERGY, Progress, record_missing
from .database import physics_digest
from .executor import make_track_executor
from .inputs import load_packed, needed_energies_mev


def ensure_job_tracks(job: Job, progress: Progress | None = None) -> list[str]:
    """Record (or find) the database energies a job needs, with progress, before its run starts: what the
    workstation does on a first use, so that the run panel can show the recording."""
    table = build_spot_table(job.plan, job.beam_model, GridFrame.of(job.ct), job.ct.patient_position or "HFS")
    n_tracks = getattr(job.settings, "tracks_per_energy", None) or DEFAULT_TRACKS_PER_ENERGY
    return record_missing(needed_energies_mev(table), n_tracks, threads=getattr(job.settings, "threads", None),
                          progress=progress)


def track_executor(job: Job, inputs: KernelInputs, table: SpotTable, device: Device, notes: list[str]):
    if not job.settings.nuclear:  # settings changed after they were checked
        raise BraggdeskError(TRACK_REPEAT_NEEDS_NUCLEAR)
    n_tracks = getattr(job.settings, "tracks_per_energy", None) or DEFAULT_TRACKS_PER_ENERGY
    energies = needed_energies_mev(table)
    packed, built = load_packed(energies, n_tracks, table=table, threads=getattr(job.settings, "threads", None))
    notes.extend(built)
    notes.append(f"track-repeating engine: database water-{physics_digest()}, {len(energies)} energies x {n_tracks} "
                 f"tracks ({packed.nbytes / 1e6:.1f} MB)")
    return make_track_executor(inputs, packed, device)
