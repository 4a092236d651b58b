"""Energy layers for a range of water-equivalent depths, from the energies a beam model has.

* **Range of a layer**: the CSDA range in water (:func:`braggdesk.physics.water.water_table`, the
  table the engine transports with) of the model's *mean* energy at that nominal energy (the energy
  the engine starts protons with), less the water-equivalent thickness of the range shifter if the
  beam has one.  The CSDA range is where the distal 80 % dose point (R80) of a pristine peak lies, to
  within a few tenths of a millimetre.
* **Layer spacing**: a fixed WET, or by default 0.9 x the 80 %-80 % width of the layer's pristine
  Bragg peak (:func:`bragg_peak_width_80_mm`): about 2.6 mm at 70 MeV, 4.1 mm at 150 MeV and 6.4 mm at
  230 MeV for the DCPT model, so neighbouring peaks overlap at about 80 % and a spread-out peak has
  no ripple worth an optimiser's effort.
* **Choice** (:func:`choose_layers`): the deepest layer is the model energy whose range is nearest
  to the deepest WET the target (with its margin) needs; each next layer is the model energy whose
  range is nearest to the previous range less the spacing, until a layer's range lies within half a
  spacing of the shallowest WET needed.  Layers come out deepest first, as machines deliver them.
"""

from __future__ import annotations

import warnings

from dataclasses import dataclass

import numpy as np

from ..errors import BraggdeskWarning, PlanError
from ..model import BeamModel
from ..physics import water as water_physics

LAYER_SPACING_PEAK_FRACTION = 0.9
_STRAGGLING_COEFFICIENT = 0.012  # Bortfeld 1997: sigma_R = 0.012 R^0.935 (cm)
_STRAGGLING_EXPONENT = 0.935


@dataclass(frozen=True)
class LayerChoice:
    nominal_energy_mev: float
    range_mm: float  # water-equivalent range in the patient (CSDA of the mean energy, less the shifter's WET)
    spacing_mm: float  # WET to the next shallower layer


def model_ranges_mm(model: BeamModel, shifter_wet_mm: float = 0.0) -> np.ndarray:
    """Water-equivalent range in the patient of every nominal energy of the model (mm)."""
    table = water_physics.water_table()
    return 10.0 * table.range_g_cm2(np.asarray(model.mean_energy_mev, float)) - shifter_wet_mm


def bragg_peak_width_80_mm(mean_energy_mev: float, energy_spread_mev: float, step_mm: float = 0.02) -> float:
    """80 %-80 % width of a pristine Bragg peak in water (mm).

    The CSDA depth-dose (stopping power at the residual range) convolved with a Gaussian range
    spread: range straggling (Bortfeld 1997, sigma = 0.012 R^0.935 in cm) and the beam's energy
    spread (sigma_E / S).  Nuclear losses are left out; they lower the plateau a little and would
    narrow the width by a few per cent.
    """
    table = water_physics.water_table()
    e = float(mean_energy_mev)
    range_mm = 10.0 * float(table.range_g_cm2(np.array([e]))[0])
    straggling = 10.0 * _STRAGGLING_COEFFICIENT * (range_mm / 10.0) ** _STRAGGLING_EXPONENT
    mm_per_mev = 1.0 / (0.1 * float(table.stopping_power(np.array([e]))[0]))
    sigma = float(np.hypot(straggling, mm_per_mev * energy_spread_mev))
    z = np.arange(0.0, range_mm + 6.0 * sigma, step_mm)
    residual = range_mm - z
    csda = np.where(residual > 0, table.stopping_power(table.energy_mev(np.maximum(residual, 1e-4) / 10.0)), 0.0)
    kernel_z = np.arange(-6.0 * sigma, 6.0 * sigma + step_mm, step_mm)
    kernel = np.exp(-0.5 * (kernel_z / sigma) ** 2)
    dose = np.convolve(csda, kernel / kernel.sum(), mode="same")
    peak = int(np.argmax(dose))
    below = dose < 0.8 * dose[peak]
    proximal = np.nonzero(below[:peak])[0]
    distal = np.nonzero(below[peak:])[0]
    z_prox = z[proximal[-1]] if proximal.size else 0.0
    z_dist = z[peak + distal[0]] if distal.size else z[-1]
    return float(z_dist - z_prox)


def choose_layers(model: BeamModel, wet_min_mm: float, wet_max_mm: float, *, beam_name: str,
                  layer_spacing_mm: float | None = None, shifter_wet_mm: float = 0.0,
                  shifter_id: str | None = None, notes: list[str] | None = None) -> list[LayerChoice]:
    """Layers covering [wet_min_mm, wet_max_mm] of water-equivalent depth (see the module docstring).

    Raises PlanError naming the beam when the model's energies cannot reach those depths.  What is
    accepted but worth saying (a target part shallower than the lowest energy stops) goes to ``notes``
    when a list is given (a worker thread's caller: warnings filters are process-wide state), else it is
    warned as a BraggdeskWarning.
    """
    ranges = model_ranges_mm(model, shifter_wet_mm)
    energies = np.asarray(model.nominal_energy_mev, float)

    def spacing_at(i: int) -> float:
        if layer_spacing_mm is not None:
            return float(layer_spacing_mm)
        width = bragg_peak_width_80_mm(model.mean_energy_mev[i], model.energy_spread_mev[i])
        return LAYER_SPACING_PEAK_FRACTION * width

    _check_reachable(model, ranges, wet_min_mm, wet_max_mm, beam_name, spacing_at, shifter_id, shifter_wet_mm, notes)
    current = int(np.argmin(np.abs(ranges - wet_max_mm)))
    layers = []
    while True:
        spacing = spacing_at(current)
        layers.append(LayerChoice(float(energies[current]), float(ranges[current]), spacing))
        if ranges[current] - wet_min_mm <= 0.5 * spacing or current == 0:
            return layers
        shallower = ranges[:current]
        current = int(np.argmin(np.abs(shallower - (ranges[current] - spacing))))


def _check_reachable(model, ranges, wet_min_mm, wet_max_mm, beam_name, spacing_at, shifter_id, shifter_wet_mm, notes):
    lo, hi = float(ranges[0]), float(ranges[-1])
    what = f"beam model '{model.name}'" + (f" with range shifter {shifter_id!r} ({shifter_wet_mm:.1f} mm WET)"
                                            if shifter_id else "")
    reach = (f"its energies {model.nominal_energy_mev[0]:g}-{model.nominal_energy_mev[-1]:g} MeV reach "
             f"{lo:.1f}-{hi:.1f} mm water-equivalent depth")
    if wet_max_mm > hi + 0.5 * spacing_at(len(ranges) - 1):
        raise PlanError(f"beam {beam_name!r} cannot reach the target: it needs a water-equivalent depth of "
                        f"{wet_max_mm:.1f} mm (distal edge plus margin), the {what} reaches at most {hi:.1f} mm "
                        f"({reach}); choose another beam direction")
    if wet_min_mm < lo - 0.5 * spacing_at(0):
        advice = ("use a thicker range shifter" if shifter_id else
                  f"use a range shifter (the model defines: {', '.join(sorted(model.range_shifters)) or 'none'})")
        if wet_max_mm < lo - 0.5 * spacing_at(0):
            raise PlanError(f"beam {beam_name!r} cannot reach the target: all of it lies shallower (water-equivalent "
                            f"depth {wet_min_mm:.1f}-{wet_max_mm:.1f} mm with the margin) than the {what} stops "
                            f"({reach}); {advice}")
        # A superficial part of a deeper target (a head-and-neck PTV that reaches the skin): the deeper layers'
        # entrance dose covers it, as clinics accept; said, not refused.
        note = (
            f"beam {beam_name!r}: the target's shallowest part (water-equivalent depth {wet_min_mm:.1f} mm with the "
            f"margin) lies shallower than the {what} stops ({lo:.1f} mm); it gets only the entrance dose of deeper "
            f"layers there; to place Bragg peaks in it, {advice}")
        if notes is None:
            warnings.warn(BraggdeskWarning(note), stacklevel=4)
        else:
            notes.append(note)
