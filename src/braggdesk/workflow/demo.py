"""The built-in demo case as an open session, with the target of its SOBP as an ROI (so DVHs have a target).

The demo plan (:mod:`braggdesk.io.demo_case`) is not optimised for a target;
its target is the region its spread-out Bragg peak is built to cover: laterally
the spot field at the isocentre plane, in depth from where the lowest energy
stops to where the highest does.  Depths come from the water CSDA range
(PSTAR) of those energies, turned into geometric depth through the phantom's
slabs with each material's stopping power ratio to water at 100 MeV (it varies
by about 1 % between 70 and 150 MeV), as a planning system's water-equivalent
depth would.
"""

from __future__ import annotations

import numpy as np

from ..physics.material_constants import REFERENCE_ENERGY_MEV, stopping_power_ratio
from ..physics.water import water_table
from ..io.demo_case import DEMO_ENERGIES_MEV, DEMO_FIELD_MM, DemoCase, demo_case
from ..io.phantoms import phantom_structures
from ..model import Roi
from .session import Session


def geometric_depth_mm(case: DemoCase, water_equivalent_mm: float) -> float:
    """Depth along +y relative to the isocentre where the water-equivalent depth from the entrance is reached."""
    phantom = case.phantom
    materials = {m.name: m for m in phantom.calibration.materials}
    remaining = water_equivalent_mm
    for slab in phantom.slabs:
        rsp = float(stopping_power_ratio(materials[slab.material], REFERENCE_ENERGY_MEV))
        thickness = slab.depth_end_mm - slab.depth_start_mm
        if remaining <= rsp * thickness:
            return slab.depth_start_mm + remaining / rsp
        remaining -= rsp * thickness
    raise ValueError(f"a water-equivalent depth of {water_equivalent_mm:g} mm lies beyond the phantom")


def demo_target_roi(case: DemoCase, number: int = 100) -> Roi:
    """The SOBP target: a box over the spot field, from the lowest to the highest energy's CSDA range.

    Contours lie on the CT's slice planes within the field, so the ROI holds
    whole slices of the CT grid.
    """
    table = water_table()
    ranges_mm = 10.0 * table.range_g_cm2(np.array([min(DEMO_ENERGIES_MEV), max(DEMO_ENERGIES_MEV)]))
    iso = np.asarray(case.plan.beams[0].isocenter_mm, dtype=float)
    y_near = iso[1] + geometric_depth_mm(case, float(ranges_mm[0]))
    y_far = iso[1] + geometric_depth_mm(case, float(ranges_mm[1]))
    half = DEMO_FIELD_MM / 2
    volume = case.phantom.volume
    _, _, z_centres = volume.axis_coordinates_mm()
    dz = volume.spacing_mm[2]
    contours = []
    for z in z_centres:
        if abs(z - iso[2]) + dz / 2 <= half + 1e-6:
            x0, x1 = iso[0] - half, iso[0] + half
            contours.append(np.array([[x0, y_near, z], [x1, y_near, z], [x1, y_far, z], [x0, y_far, z]]))
    return Roi(number=number, name="Target (demo SOBP)", color_rgb=(255, 0, 0), roi_type="PTV", contours=contours)


def demo_session(spacing_mm: float = 2.0) -> tuple[Session, DemoCase]:
    """The demo case opened: its phantom CT, calibration, beam model and plan, and the structures its phantom
    writes (outline, slabs) plus the SOBP's target (not yet rasterized: :func:`~.session.prepare_loaded`)."""
    case = demo_case(spacing_mm=spacing_mm)
    structures = phantom_structures(case.phantom)
    structures.rois.append(demo_target_roi(case))
    session = Session(ct=case.phantom.volume, ct_source="built-in demo phantom", calibration=case.phantom.calibration,
                      beam_model=case.beam_model, plans=[case.plan], structure_sets=[structures])
    return session, case
