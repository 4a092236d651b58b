"""A small planning case without files: a water box, a cubic target and an organ beside it."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "engine"))

from cases import water_box, water_calibration  # noqa: E402

from braggdesk.io.beam_model_reader import read_beam_model  # noqa: E402
from braggdesk.model import Roi, StructureSet  # noqa: E402
from braggdesk.model.objectives import BeamRequest, Objective, PlanningRequest  # noqa: E402
from braggdesk.workflow.planning import PlanningInputs  # noqa: E402

DCPT_MODEL = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "dcpt-let-2022" / "beam_model" / \
    "DCPT_beam_model__v2.csv"


def box_roi(number: int, name: str, lo_mm, hi_mm, z_centres, roi_type: str = "PTV") -> Roi:
    contours = []
    for z in z_centres:
        if lo_mm[2] <= z <= hi_mm[2]:
            contours.append(np.array([[lo_mm[0], lo_mm[1], z], [hi_mm[0], lo_mm[1], z], [hi_mm[0], hi_mm[1], z],
                                      [lo_mm[0], hi_mm[1], z]]))
    return Roi(number, name, roi_type=roi_type, contours=contours)


def cube_case(objectives=None, *, histories_per_spot: int = 300, spot_spacing_mm: float = 6.0,
              layer_spacing_mm: float | None = 6.0, fractions: int = 1, goals=(), spacing_mm: float = 3.0
              ) -> PlanningInputs:
    """A 30 mm target 50-80 mm deep in water (beam along +y, gantry 0) and an organ beside it."""
    ct = water_box(size_mm=(90.0, 150.0, 60.0), spacing_mm=(spacing_mm,) * 3)
    _, _, z = ct.axis_coordinates_mm()
    target = box_roi(1, "PTV", (-15.0, 30.0, -15.0), (15.0, 60.0, 15.0), z)
    organ = box_roi(2, "Organ", (25.0, 30.0, -15.0), (40.0, 60.0, 15.0), z, "ORGAN")
    structures = StructureSet([target, organ], frame_of_reference_uid=ct.frame_of_reference_uid)
    objectives = objectives or [Objective("PTV", "uniform", 2.0 * fractions, 100.0),
                                Objective("Organ", "max", 0.5 * fractions, 10.0)]
    request = PlanningRequest(prescription_gy=2.0 * fractions, fractions=fractions, beams=[BeamRequest(0.0)],
                              objectives=list(objectives), spot_spacing_mm=spot_spacing_mm,
                              layer_spacing_mm=layer_spacing_mm, margin_mm=3.0,
                              histories_per_spot=histories_per_spot, goals=list(goals))
    return PlanningInputs(ct, structures, read_beam_model(DCPT_MODEL), water_calibration(), request, "cube.toml",
                          "1.2.3.4.5")
