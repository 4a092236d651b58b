"""The built-in demo: a spread-out Bragg peak planned on the slab phantom.

The plan is made here, not by a planning system: a 60 x 60 mm field of spots on a
6 mm grid with energy layers 6 mm of water range apart, the distal layer weighted
1 and proximal layers less, enough to show a modulated dose in heterogeneous
(bone and lung) anatomy.  It is a demonstration case, not a clinical plan.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..model import Beam, BeamModel, EnergyLayer, Plan
from .beam_model_reader import read_beam_model
from .phantoms import Phantom, make_phantom

DEMO_ENERGIES_MEV = (150.0, 145.0, 140.0, 135.0, 130.0, 125.0, 120.0)
DEMO_FIELD_MM = 60.0
DEMO_SPOT_SPACING_MM = 6.0
DEMO_DISTAL_MU = 18.0  # MU of a distal spot: about 2 Gy in the modulated region with the generic model


@dataclass
class DemoCase:
    phantom: Phantom
    plan: Plan
    beam_model: BeamModel


def demo_case(spacing_mm: float = 2.0) -> DemoCase:
    phantom = make_phantom("slab", spacing_mm=spacing_mm)
    model = read_beam_model(None)
    half = DEMO_FIELD_MM / 2
    grid = np.arange(-half, half + 1e-6, DEMO_SPOT_SPACING_MM)
    xs, ys = np.meshgrid(grid, grid, indexing="ij")
    layers = []
    n = len(DEMO_ENERGIES_MEV)
    for i, energy in enumerate(DEMO_ENERGIES_MEV):
        weight = DEMO_DISTAL_MU * (1.0 - 0.75 * i / max(n - 1, 1))
        layers.append(EnergyLayer(energy, xs.ravel(), ys.ravel(), np.full(xs.size, weight), mu_per_weight=1.0))
    total = float(sum(layer.spot_weights.sum() for layer in layers))
    beam = Beam("demo", 1, 0.0, 0.0, (0.0, 0.0, 0.0), layers, meterset_mu=total,
                final_cumulative_meterset_weight=total, treatment_machine="generic")
    plan = Plan("braggdesk demo SOBP", [beam], frame_of_reference_uid=phantom.volume.frame_of_reference_uid)
    return DemoCase(phantom, plan, model)
