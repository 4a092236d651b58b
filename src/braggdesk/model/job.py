"""A job: everything the engine needs, and nothing that identifies a patient.

A Job can be pickled, sent over SSH or to a Dask worker as it is.  The CT is
kept as a :class:`Volume` whose identity fields are cleared by :meth:`Job.create`.
"""

from __future__ import annotations

import dataclasses
import uuid
from dataclasses import dataclass, field

from .beam_model import BeamModel
from .material import CtCalibration
from .plan import Plan
from .volume import Volume

DEVICES = ("auto", "cpu", "gpu")
DOSE_TO = ("water", "medium")
ENGINES = ("full", "track-repeat")
TRACK_REPEAT_NEEDS_NUCLEAR = ("the track-repeating engine re-traces proton tracks recorded with nuclear interactions; "
                              "switching them off (--no-nuclear) needs the full engine (--engine full)")


@dataclass
class SimulationSettings:
    """How much to simulate and how.

    Give ``primaries`` (total, split into ``batches``) or ``target_uncertainty``
    (mean relative uncertainty over voxels above 50 % of the maximum dose, e.g.
    0.01); with a target, batches of ``primaries_per_batch`` run until it is met
    or ``max_primaries`` is reached.  ``threads`` limits the CPU cores the kernel uses
    where the job runs (None: all of them).  ``first_batch_primaries`` makes the first
    batch of a fixed-count job this small (the rest split over the other batches)
    so that an interactive run shows a first dose early; like every batch split it
    is part of the job, so the result is the same wherever the batches run.
    ``engine`` chooses the transport: the full condensed-history engine or the track-repeating fast
    mode; being part of the job, the choice travels with it to every runner (local, SSH, Dask).
    """

    primaries: int | None = 100_000
    target_uncertainty: float | None = None
    batches: int = 10
    primaries_per_batch: int | None = None
    first_batch_primaries: int | None = None
    max_primaries: int = 1_000_000_000
    seed: int = 1
    device: str = "auto"
    threads: int | None = None  # CPU threads of the kernel; None: every core of the machine that runs it
    dose_to: str = "water"
    score_let: bool = True
    nuclear: bool = True
    engine: str = "full"  # "track-repeat": stored water tracks re-traced through the CT (Yepes et al. 2010)
    tracks_per_energy: int | None = None  # track-repeat: stored histories per energy (None: the engine's default)

    def __post_init__(self) -> None:
        if self.device not in DEVICES:
            raise ValueError(f"device must be one of {DEVICES}, got {self.device!r}")
        if self.engine not in ENGINES:
            raise ValueError(f"engine must be one of {ENGINES}, got {self.engine!r}")
        if self.tracks_per_energy is not None and (isinstance(self.tracks_per_energy, bool)
                                                   or not isinstance(self.tracks_per_energy, int)
                                                   or self.tracks_per_energy < 1):
            raise ValueError(f"tracks_per_energy must be a positive whole number, got {self.tracks_per_energy!r}")
        if self.engine == "track-repeat" and not self.nuclear:
            raise ValueError(TRACK_REPEAT_NEEDS_NUCLEAR)
        if self.dose_to not in DOSE_TO:
            raise ValueError(f"dose_to must be one of {DOSE_TO}, got {self.dose_to!r}")
        if self.primaries is None and self.target_uncertainty is None:
            raise ValueError("give a number of primaries or a target uncertainty")
        if self.primaries is not None and self.primaries < 1:
            raise ValueError(f"primaries must be positive, got {self.primaries}")
        if self.target_uncertainty is not None and not 0 < self.target_uncertainty < 1:
            raise ValueError(f"target uncertainty is a fraction between 0 and 1, got {self.target_uncertainty}")
        if self.batches < 1:
            raise ValueError(f"batches must be at least 1, got {self.batches}")
        if self.threads is not None and (isinstance(self.threads, bool) or not isinstance(self.threads, int)
                                         or self.threads < 1):
            raise ValueError(f"threads must be a positive whole number, got {self.threads!r}")
        if self.first_batch_primaries is not None and self.first_batch_primaries < 1:
            raise ValueError(f"first_batch_primaries must be positive, got {self.first_batch_primaries}")


@dataclass
class Job:
    ct: Volume
    plan: Plan
    beam_model: BeamModel
    calibration: CtCalibration
    settings: SimulationSettings = field(default_factory=SimulationSettings)
    job_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    ignore_frame_of_reference: bool = False

    @classmethod
    def create(cls, ct: Volume, plan: Plan, beam_model: BeamModel, calibration: CtCalibration,
               settings: SimulationSettings | None = None, ignore_frame_of_reference: bool = False) -> "Job":
        """A job with identity-bearing fields removed from its inputs."""
        anon_ct = dataclasses.replace(ct, description="", study_instance_uid="")
        anon_plan = dataclasses.replace(plan, source_path="")
        anon_model = dataclasses.replace(beam_model, source_path="")
        anon_cal = dataclasses.replace(calibration, source_path="")
        return cls(anon_ct, anon_plan, anon_model, anon_cal, settings or SimulationSettings(),
                   ignore_frame_of_reference=ignore_frame_of_reference)
