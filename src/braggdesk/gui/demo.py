"""The built-in demo case as the window shows it: phantom, plan, beam model and structures.

The demo phantom has no RTSTRUCT; its structures (body, bone slab, lung slab) are
made here from the phantom's own geometry, so DVHs and contours have something true
to show.
"""

from __future__ import annotations

import numpy as np

from ..io.demo_case import DemoCase, demo_case
from ..model import Roi, StructureMask

BODY_HU = -900.0  # below lung (about -740 HU), above air
SLAB_COLORS = {"bone": (240, 240, 120), "lung": (120, 200, 255)}


def demo_structures(case: DemoCase) -> list[StructureMask]:
    vol = case.phantom.volume
    iso_y = case.plan.beams[0].isocenter_mm[1]
    body = (vol.hu > BODY_HU).astype(np.float32)
    masks = [StructureMask(Roi(1, "BODY", (0, 200, 0), "EXTERNAL"), vol, body)]
    _, y, _ = vol.axis_coordinates_mm()
    depth = (y - iso_y)[None, :, None]
    for n, slab in enumerate(case.phantom.slabs):
        key = next((k for k in SLAB_COLORS if k in slab.material.lower()), None)
        if key is None:
            continue
        inside = (depth >= slab.depth_start_mm) & (depth < slab.depth_end_mm)
        fraction = (body * inside).astype(np.float32)
        masks.append(StructureMask(Roi(10 + n, f"{key.upper()} slab", SLAB_COLORS[key], "ORGAN"), vol, fraction))
    return masks


def load_demo(spacing_mm: float = 2.0) -> tuple[DemoCase, list[StructureMask]]:
    case = demo_case(spacing_mm=spacing_mm)
    return case, demo_structures(case)
