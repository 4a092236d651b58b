"""What a planner asks of plan design: beam directions and the spot and layer settings.

Plain data, checked on construction so that a bad value is refused where it is typed (the GUI's
field, the objectives file's line), not deep inside the ray tracing.  ``None`` for a spacing means
"derive it from the beam model" (see :mod:`braggdesk.planning.design` for the rules).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

LATTICES = ("square", "hexagonal")


@dataclass(frozen=True)
class DesignSettings:
    """Spot lattice and energy-layer settings of a designed beam.

    * ``spot_spacing_mm``: distance between neighbouring spots at the isocentre plane; ``None``:
      1.2 x the spot sigma in air at the isocentre at the beam model's middle energy (5.0 mm for
      the DCPT model), dense enough that a uniform spot grid is flat to well under 0.1 %.
    * ``layer_spacing_mm``: water-equivalent distance between the ranges of neighbouring energy
      layers; ``None``: 0.9 x the 80 %-80 % width of each layer's pristine Bragg peak (about 2.6 mm
      at 70 MeV, 4 mm at 150 MeV, 6.4 mm at 230 MeV).
    * ``margin_mm``: geometric margin around the target, laterally (spots) and in depth (layers).
    * ``lattice``: ``"square"`` (rows along BEV x, the clinical default) or ``"hexagonal"`` (rows
      along BEV x, every other row shifted by half a spacing, rows sqrt(3)/2 spacing apart).  At one
      spacing s the hexagonal lattice is 15 % denser; its largest gap (s / sqrt(3) against s / sqrt(2))
      is what counts, so a hexagonal lattice at sqrt(3/2) s covers like a square one at s with about
      23 % fewer spots.
    """

    spot_spacing_mm: float | None = None
    layer_spacing_mm: float | None = None
    margin_mm: float = 5.0
    lattice: str = "square"

    def __post_init__(self) -> None:
        for name in ("spot_spacing_mm", "layer_spacing_mm"):
            value = getattr(self, name)
            if value is not None and not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise ValueError(f"plan design: {name} must be a positive number of mm (or None for the "
                                 f"beam model's default), got {value!r}")
        if not (isinstance(self.margin_mm, (int, float)) and math.isfinite(self.margin_mm) and self.margin_mm >= 0):
            raise ValueError(f"plan design: margin_mm must be a number of mm >= 0, got {self.margin_mm!r}")
        if self.lattice not in LATTICES:
            raise ValueError(f"plan design: lattice must be one of {', '.join(LATTICES)}, got {self.lattice!r}")


@dataclass(frozen=True)
class BeamSpec:
    """One beam a planner asks for: IEC 61217 gantry and couch angles, an optional range shifter
    (an identifier the beam model defines) and a name (default from the angles, e.g. "G60")."""

    gantry_deg: float
    couch_deg: float = 0.0
    range_shifter_id: str | None = None
    name: str = ""

    def __post_init__(self) -> None:
        for name in ("gantry_deg", "couch_deg"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value)):
                raise ValueError(f"beam {self.name or '?'}: {name} must be a finite number of degrees, got {value!r}")

    @property
    def label(self) -> str:
        if self.name:
            return self.name
        couch = f" T{self.couch_deg:g}" if self.couch_deg else ""
        return f"G{self.gantry_deg:g}{couch}"
