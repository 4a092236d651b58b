"""Robustness scenarios as data: a setup shift of the patient and a range error, each an ordinary Job later.

Why data: a scenario list is reviewed, stored with the result and sent to workers; the standard
set (nominal, +/- shift along x, y and z, range +/-) is what clinics report (e.g. 3 mm / 3.5 %).

Conventions, stated once:

* ``shift_mm`` is the displacement of the patient in DICOM patient coordinates (mm): the anatomy
  sits ``shift_mm`` away from where the plan assumed, so in the patient's own frame the beams
  arrive ``-shift_mm`` from where they should.  Doses of every scenario are on the nominal CT grid,
  in the patient frame, so structures, DVHs and voxel-wise envelopes compare voxel by voxel.
* ``range_scale`` multiplies the stopping power (RSP) of every voxel: 1.035 is tissue that stops
  protons 3.5 % more than the calibration says, water-equivalent depths 3.5 % larger, ranges in the
  patient 1 / 1.035 of nominal (an undershoot); 0.965 an overshoot.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from braggdesk.errors import BraggdeskError


class ScenarioError(BraggdeskError, ValueError):
    """A scenario (or a scenario set's parameters) that cannot be used; the message names it."""


@dataclass(frozen=True)
class Scenario:
    name: str
    shift_mm: tuple[float, float, float] = (0.0, 0.0, 0.0)
    range_scale: float = 1.0

    def __post_init__(self) -> None:
        try:
            shift = tuple(float(s) for s in self.shift_mm)
        except (TypeError, ValueError):
            raise ScenarioError(f"scenario {self.name!r}: shift_mm must be three numbers (x, y, z), "
                                f"got {self.shift_mm!r}") from None
        if len(shift) != 3 or not all(math.isfinite(s) for s in shift):
            raise ScenarioError(f"scenario {self.name!r}: shift_mm must be three finite numbers (x, y, z), "
                                f"got {self.shift_mm!r}")
        object.__setattr__(self, "shift_mm", shift)
        if not (isinstance(self.range_scale, (int, float)) and math.isfinite(self.range_scale)
                and 0.5 <= self.range_scale <= 1.5):
            raise ScenarioError(f"scenario {self.name!r}: range_scale is a factor on the stopping power near 1 "
                                f"(0.5 to 1.5), got {self.range_scale!r}")

    @property
    def is_nominal(self) -> bool:
        return self.shift_mm == (0.0, 0.0, 0.0) and self.range_scale == 1.0

    def describe(self) -> str:
        parts = []
        if any(self.shift_mm):
            parts.append("patient shifted by ({:+g}, {:+g}, {:+g}) mm".format(*self.shift_mm))
        if self.range_scale != 1.0:
            parts.append(f"stopping power x {self.range_scale:g} ({100 * (self.range_scale - 1):+.3g} %)")
        return "; ".join(parts) or "nominal"


def default_scenarios(shift_mm: float = 3.0, range_percent: float = 3.5) -> list[Scenario]:
    """Nominal, the patient shifted by +/- ``shift_mm`` along x, y and z, and the stopping power scaled by
    1 +/- ``range_percent`` / 100: 9 scenarios (fewer where a parameter is 0)."""
    if not (isinstance(shift_mm, (int, float)) and math.isfinite(shift_mm) and shift_mm >= 0):
        raise ScenarioError(f"the setup shift must be a distance of 0 mm or more, got {shift_mm!r}")
    if not (isinstance(range_percent, (int, float)) and math.isfinite(range_percent) and 0 <= range_percent <= 20):
        raise ScenarioError(f"the range error must be a percentage from 0 to 20, got {range_percent!r}")
    out = [Scenario("nominal")]
    if shift_mm > 0:
        for axis, name in enumerate("xyz"):
            for sign in (+1, -1):
                shift = [0.0, 0.0, 0.0]
                shift[axis] = sign * float(shift_mm)
                out.append(Scenario(f"{name}{'+' if sign > 0 else '-'}{shift_mm:g}mm", tuple(shift)))
    if range_percent > 0:
        for sign in (+1, -1):
            out.append(Scenario(f"range{'+' if sign > 0 else '-'}{range_percent:g}%",
                                range_scale=1.0 + sign * range_percent / 100.0))
    return out


def combined_scenarios(shift_mm: float = 3.0, range_percent: float = 3.5) -> list[Scenario]:
    """The 6 shifts each with each range error (12 scenarios): a setup error and a range error together, as
    both happen in a fraction.  Added to :func:`default_scenarios` by ``braggdesk robust --combined``."""
    shifts = [s for s in default_scenarios(shift_mm, 0.0) if not s.is_nominal]
    ranges = [s for s in default_scenarios(0.0, range_percent) if not s.is_nominal]
    return [Scenario(f"{s.name} {r.name}", s.shift_mm, r.range_scale) for s in shifts for r in ranges]


def sampled_scenarios(n: int, sigma_mm: float, seed: int = 0, range_percent: float = 0.0,
                      combined: bool = False) -> list[Scenario]:
    """Nominal and ``n`` setup errors drawn from a Gaussian of ``sigma_mm`` per axis (random, not systematic:
    a population of patients' setups), reproducible from ``seed``; with a range error, its two scenarios, and
    with ``combined`` each sampled shift with each range error too."""
    import numpy as np

    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ScenarioError(f"the number of sampled shifts must be a whole number of 1 or more, got {n!r}")
    if not (isinstance(sigma_mm, (int, float)) and math.isfinite(sigma_mm) and sigma_mm > 0):
        raise ScenarioError(f"sampled shifts need a standard deviation above 0 mm (--shift-mm), got {sigma_mm!r}")
    ranges = [s for s in default_scenarios(0.0, range_percent) if not s.is_nominal]  # checks the percentage
    draws = np.random.default_rng(seed).normal(0.0, float(sigma_mm), size=(n, 3))
    shifts = [Scenario(f"sample{i + 1}", tuple(round(float(v), 3) for v in d)) for i, d in enumerate(draws)]
    out = [Scenario("nominal"), *shifts, *ranges]
    if combined:
        out += [Scenario(f"{s.name} {r.name}", s.shift_mm, r.range_scale) for s in shifts for r in ranges]
    return out
