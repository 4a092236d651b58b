"""What a planner asks for: beams, dose objectives per structure and the design settings.

Plain dataclasses that check themselves, so an objectives file, the GUI's table and a
test all build the same validated request.  Every dose here is a TOTAL dose over all
fractions (what physicists write in a prescription: "70 Gy in 35 fractions"); the
optimiser converts the per-fraction spot weights to total dose before comparing.
Messages say what was found and what was expected; readers add the file and entry.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

# min | max | uniform: squared under-, over- and deviation dose per voxel;
# mean: the structure's mean dose; dvh_min / dvh_max: D_v >= dose / V_dose <= v.
OBJECTIVE_KINDS = ("min", "max", "uniform", "mean", "dvh_min", "dvh_max")
DVH_KINDS = ("dvh_min", "dvh_max")
# kinds that ask for dose (rather than limit it): their structures are targets by default
TARGET_KINDS = ("min", "uniform", "dvh_min")


def _finite(name: str, value: object) -> float:
    """``value`` as a float if it is a real, finite number (not a bool or a string)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name} must be a number, got {value!r}")
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    return number


@dataclass
class Objective:
    """One dose objective on one structure, weighted against the others.

    ``dose_gy`` is the total reference dose; ``weight`` the penalty factor (>= 0);
    ``volume_percent`` the DVH volume v in percent, required for dvh_min (D_v >= dose)
    and dvh_max (V_dose <= v), refused for the other kinds.
    """

    structure: str
    kind: str
    dose_gy: float
    weight: float = 1.0
    volume_percent: float | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.structure, str) or not self.structure.strip():
            raise ValueError(f"structure must be a non-empty name, got {self.structure!r}")
        if self.kind not in OBJECTIVE_KINDS:
            raise ValueError(f"kind {self.kind!r} is not one of {', '.join(OBJECTIVE_KINDS)}")
        self.dose_gy = _finite("dose_gy", self.dose_gy)
        if self.dose_gy < 0:
            raise ValueError(f"dose_gy must be >= 0 Gy, got {self.dose_gy:g}")
        self.weight = _finite("weight", self.weight)
        if self.weight < 0:
            raise ValueError(f"weight must be >= 0, got {self.weight:g}")
        if self.kind in DVH_KINDS:
            if self.volume_percent is None:
                raise ValueError(f"a {self.kind} objective needs volume_percent (the v of D_v or V_dose), in %")
            self.volume_percent = _finite("volume_percent", self.volume_percent)
            if not 0 < self.volume_percent <= 100:
                raise ValueError(f"volume_percent must be in (0, 100] %, got {self.volume_percent:g}")
        elif self.volume_percent is not None:
            raise ValueError(f"volume_percent applies to dvh_min and dvh_max only, not to a {self.kind} objective")

    @property
    def label(self) -> str:
        """Short text for tables and messages, e.g. ``PTV70 dvh_min D95 >= 66.5 Gy``."""
        if self.kind == "dvh_min":
            what = f"D{self.volume_percent:g}% >= {self.dose_gy:g} Gy"
        elif self.kind == "dvh_max":
            what = f"V{self.dose_gy:g}Gy <= {self.volume_percent:g}%"
        else:
            what = f"{self.dose_gy:g} Gy"
        return f"{self.structure} {self.kind} {what}"


@dataclass
class BeamRequest:
    """A beam the planner wants; spots and energy layers come from plan design.

    ``isocenter_mm`` is in patient coordinates; None means the targets' centroid.
    ``range_shifter`` names one of the beam model's range shifters.
    """

    gantry_deg: float
    couch_deg: float = 0.0
    isocenter_mm: tuple[float, float, float] | None = None
    range_shifter: str | None = None

    def __post_init__(self) -> None:
        self.gantry_deg = _finite("gantry_deg", self.gantry_deg)
        self.couch_deg = _finite("couch_deg", self.couch_deg)
        if not 0 <= self.gantry_deg < 360:
            raise ValueError(f"gantry_deg must be in [0, 360) degrees, got {self.gantry_deg:g}")
        if not -90 <= self.couch_deg <= 90 and not 270 <= self.couch_deg < 360:
            raise ValueError(f"couch_deg must be in [-90, 90] or [270, 360) degrees, got {self.couch_deg:g}")
        if self.isocenter_mm is not None:
            values = list(self.isocenter_mm)
            if len(values) != 3:
                raise ValueError(f"isocenter_mm must be three numbers x, y, z in mm, got {self.isocenter_mm!r}")
            self.isocenter_mm = tuple(_finite("isocenter_mm", v) for v in values)  # type: ignore[assignment]
        if self.range_shifter is not None and (not isinstance(self.range_shifter, str) or not self.range_shifter):
            raise ValueError(f"range_shifter must be a name, got {self.range_shifter!r}")


def _positive_or_none(name: str, value: float | None) -> float | None:
    if value is None:
        return None
    number = _finite(name, value)
    if number <= 0:
        raise ValueError(f"{name} must be > 0, got {number:g}")
    return number


@dataclass
class Ring:
    """A structure made for optimisation: the shell from ``inner_mm`` to ``outer_mm`` around the union of the
    structures ``around`` (usually the targets), leaving those out.  A max objective on it keeps the dose
    off the tissue next to the targets, where a plan with objectives on the targets and named organs
    alone puts hot spots (the optimiser sees no other voxel there)."""

    name: str
    around: list[str]
    outer_mm: float
    inner_mm: float = 0.0

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise ValueError(f"name must be a non-empty text, got {self.name!r}")
        if (not isinstance(self.around, (list, tuple)) or not self.around
                or not all(isinstance(a, str) and a.strip() for a in self.around)):
            raise ValueError(f"around must be a list of structure names, got {self.around!r}")
        self.around = list(self.around)
        self.outer_mm = _finite("outer_mm", self.outer_mm)
        self.inner_mm = _finite("inner_mm", self.inner_mm)
        if not 0 <= self.inner_mm < self.outer_mm <= MAX_RING_MM:
            raise ValueError(f"a ring needs 0 <= inner_mm < outer_mm <= {MAX_RING_MM:g} mm, got inner_mm "
                             f"{self.inner_mm:g}, outer_mm {self.outer_mm:g}")


#: the widest ring: its voxels all enter the dose-influence matrix
MAX_RING_MM = 50.0


@dataclass
class PlanningRequest:
    """A whole planning request: prescription, beams, objectives and design settings.

    ``prescription_gy`` is the total dose to the primary target over ``fractions``.
    ``targets`` defaults to the structures that have a min, uniform or dvh_min objective.
    The design settings left None take plan design's defaults; ``min_mu_per_spot`` is in
    MU per fraction (None: no minimum).  ``goals`` are clinical-goal texts for the report (e.g.
    "PTV70 D95% >= 66.5 Gy"); ``rings`` are structures made around others, which objectives may name.
    """

    prescription_gy: float
    fractions: int
    beams: list[BeamRequest]
    objectives: list[Objective]
    targets: list[str] = field(default_factory=list)
    spot_spacing_mm: float | None = None
    layer_spacing_mm: float | None = None
    margin_mm: float | None = None
    min_mu_per_spot: float | None = None
    histories_per_spot: int | None = None
    dij_uncertainty: float | None = None  # more histories per spot until the matrix's mean spot uncertainty is this
    goals: list[str] = field(default_factory=list)
    rings: list[Ring] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.prescription_gy = _finite("prescription_gy", self.prescription_gy)
        if self.prescription_gy <= 0:
            raise ValueError(f"prescription_gy must be > 0 Gy, got {self.prescription_gy:g}")
        if isinstance(self.fractions, bool) or not isinstance(self.fractions, int) or self.fractions < 1:
            raise ValueError(f"fractions must be a whole number >= 1, got {self.fractions!r}")
        if not self.beams:
            raise ValueError("a plan needs at least one beam")
        if not self.objectives:
            raise ValueError("a plan needs at least one objective")
        if not self.targets:
            self.targets = list(dict.fromkeys(o.structure for o in self.objectives if o.kind in TARGET_KINDS))
        if not self.targets:
            raise ValueError("no target: give targets, or a min, uniform or dvh_min objective on the target")
        self.spot_spacing_mm = _positive_or_none("spot_spacing_mm", self.spot_spacing_mm)
        self.layer_spacing_mm = _positive_or_none("layer_spacing_mm", self.layer_spacing_mm)
        if self.margin_mm is not None:
            self.margin_mm = _finite("margin_mm", self.margin_mm)
            if self.margin_mm < 0:
                raise ValueError(f"margin_mm must be >= 0 mm, got {self.margin_mm:g}")
        if self.min_mu_per_spot is not None:
            self.min_mu_per_spot = _finite("min_mu_per_spot", self.min_mu_per_spot)
            if self.min_mu_per_spot < 0:
                raise ValueError(f"min_mu_per_spot must be >= 0, got {self.min_mu_per_spot:g}")
        if self.histories_per_spot is not None and (
            isinstance(self.histories_per_spot, bool) or not isinstance(self.histories_per_spot, int)
            or self.histories_per_spot < 1
        ):
            raise ValueError(f"histories_per_spot must be a whole number >= 1, got {self.histories_per_spot!r}")
        if self.dij_uncertainty is not None:
            self.dij_uncertainty = _finite("dij_uncertainty", self.dij_uncertainty)
            if not 0 < self.dij_uncertainty < 1:
                raise ValueError(f"dij_uncertainty is a fraction between 0 and 1 (0.05 for 5 %), got "
                                 f"{self.dij_uncertainty:g}")

    @property
    def dose_per_fraction_gy(self) -> float:
        return self.prescription_gy / self.fractions

    def structures(self) -> list[str]:
        """Every structure of the patient an objective, the target list or a ring names, in first-mention order
        (rings themselves are made by planning, not read)."""
        rings = {r.name for r in self.rings}
        names = [*self.targets, *(o.structure for o in self.objectives), *(a for r in self.rings for a in r.around)]
        return [n for n in dict.fromkeys(names) if n not in rings]
