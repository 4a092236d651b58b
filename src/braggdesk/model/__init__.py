"""Plain data: volumes, plans, beam models, materials, jobs, snapshots and doses.

No I/O and no Qt here; every other layer builds on these dataclasses.
"""

from .beam_model import BeamModel, RangeShifter, SpotOptics
from .dose import DoseResult, DoseScale
from .job import Job, SimulationSettings
from .material import CtCalibration, Material
from .plan import Beam, EnergyLayer, Plan
from .snapshot import Accumulator, Snapshot
from .structures import Roi, StructureMask, StructureSet
from .volume import Volume

__all__ = [
    "Accumulator", "Beam", "BeamModel", "CtCalibration", "DoseResult", "DoseScale", "EnergyLayer",
    "Job", "Material", "Plan", "RangeShifter", "Roi", "SimulationSettings", "Snapshot", "SpotOptics",
    "StructureMask", "StructureSet", "Volume",
]
